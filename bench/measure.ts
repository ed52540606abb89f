/** Runs a command under GNU time and returns its wall time and peak resident memory. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface Measurement {
  readonly seconds: number;
  readonly maxRssMiB: number;
}

export async function measure(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Measurement> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-'));
  const out = join(dir, 'time');
  try {
    const started = process.hrtime.bigint();
    await execFileP('/usr/bin/time', ['-o', out, '-f', '%M', cmd, ...args], { env, maxBuffer: 64 << 20 }).catch((err: { stderr?: string }) => {
      throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr ?? String(err)}`);
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const kib = Number.parseInt((await readFile(out, 'utf8')).trim().split('\n').pop() ?? '0', 10);
    return { seconds, maxRssMiB: kib / 1024 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The better of `runs` measurements (least wall time), after `prepare` before each. */
export async function best(runs: number, prepare: () => Promise<void>, run: () => Promise<Measurement>): Promise<Measurement> {
  let winner: Measurement | undefined;
  for (let i = 0; i < runs; i++) {
    await prepare();
    const m = await run();
    if (winner === undefined || m.seconds < winner.seconds) winner = { seconds: m.seconds, maxRssMiB: Math.max(m.maxRssMiB, winner?.maxRssMiB ?? 0) };
  }
  return winner!;
}

export const fmt = (m: Measurement): string => `${m.seconds.toFixed(2)} s, peak RSS ${m.maxRssMiB.toFixed(0)} MiB`;
