/**
 * Fan-out benchmark: a 500 MB tree (one large file plus 5,000 small ones) sent to 1 and to 8 lab hosts,
 * and `scp -r` to each of the 8 in turn, with every link capped at the same rate (the operator's own
 * egress included: the cap sits on the lab bridge's device too). Prints the two ratios in one run:
 *   ours to 8 / ours to 1       (goal: at most 2)
 *   ours to 8 / scp -r to each  (goal: at most 0.3)
 * Run as root: node dist/bench/ssh-fanout.js   (env: BENCH_RATE=400mbit BENCH_HOSTS=8 BENCH_SMALL=5000 BENCH_MB=500)
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SshFleet, uploadTree, type HostOutcome, type UploadResult } from '../src/ssh/index.js';
import type { ReportEvent } from '../src/report.js';
import { startLab, type Lab } from '../test/helpers/lab.js';
import { writeBigFile } from '../test/helpers/ssh-tree.js';

const execFileP = promisify(execFile);
const rate = process.env.BENCH_RATE ?? '400mbit';
const hostCount = Number(process.env.BENCH_HOSTS ?? 8);
const smallCount = Number(process.env.BENCH_SMALL ?? 5000);
const totalBytes = Number(process.env.BENCH_MB ?? 500) * 1e6;
const smallBytes = 20 * 1024;

const log = (msg: string): void => void process.stderr.write(`${msg}\n`);

async function makeBenchTree(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
  for (let i = 0; i < smallCount; i++) {
    const dir = join(root, 'small', `d${i % 50}`);
    if (i < 50) await mkdir(dir, { recursive: true });
    const buf = Buffer.alloc(smallBytes, i % 251);
    buf.writeUInt32BE(i, 0);
    await writeFile(join(dir, `f${i}`), buf);
  }
  await writeBigFile(join(root, 'big.bin'), totalBytes - smallCount * smallBytes);
}

async function timed<T>(what: string, f: () => Promise<T>): Promise<[T, number]> {
  const t0 = process.hrtime.bigint();
  const v = await f();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  log(`${what}: ${s.toFixed(2)} s`);
  return [v, s];
}

function mustAllSucceed(out: readonly HostOutcome<UploadResult>[]): void {
  const bad = out.filter((o) => !o.ok);
  if (bad.length > 0) throw new Error(`upload failed: ${bad.map((o) => (o.ok ? '' : o.error.message)).join('; ')}`);
}

async function main(): Promise<void> {
  const tree = '/dev/shm/sealos-bench-tree';
  let lab: Lab | undefined;
  try {
    log(`making the tree: ${smallCount} x ${smallBytes} B plus one file, ${(totalBytes / 1e6).toFixed(0)} MB in all`);
    await makeBenchTree(tree);
    lab = await startLab({ name: 'bfan', hosts: hostCount, net: '198.18.0.128/27', tmpfs: '10g', rate });
    const l = lab;
    log(`lab up: ${hostCount} hosts, every link and the operator's egress capped at ${rate}`);
    const hosts = l.hosts.map((h) => h.address);
    const events: ReportEvent[] = [];
    const reporter = { emit: (e: ReportEvent) => void events.push(e), result: () => {} };
    const fleet = new SshFleet({ auth: { user: 'root', privateKey: l.key }, hostKeys: 'skip', reporter });
    await Promise.all(hosts.map((h) => fleet.session(h))); // connection setup is not what is measured
    const clear = async (dir: string) => Promise.all(l.hosts.map((h) => rm(l.pathIn(h, dir), { recursive: true, force: true })));

    const [one, t1] = await timed('ours to 1 host', () => uploadTree(fleet, hosts.slice(0, 1), tree, '/opt/bench', { reporter }));
    mustAllSucceed(one);
    await clear('/opt/bench');
    const [many, t8] = await timed(`ours to ${hostCount} hosts`, () => uploadTree(fleet, hosts, tree, '/opt/bench', { reporter }));
    mustAllSucceed(many);
    log(`  via: ${many.map((o) => (o.ok ? o.value.via : '-')).join(', ')}`);
    for (const e of events) if (e.kind === 'log' && e.msg.startsWith('relay to')) log(`  ${e.msg}`);
    await clear('/opt/bench');
    await fleet.close();

    const [, tScp] = await timed(`scp -r to each of ${hostCount} hosts in turn`, async () => {
      for (const h of l.hosts) {
        await execFileP('scp', ['-r', '-q', '-i', l.keyFile, '-o', `UserKnownHostsFile=${l.knownHostsFile}`, '-o', 'BatchMode=yes', tree, `root@${h.ip}:/opt/scp`]);
      }
    });
    await clear('/opt/scp');

    const r1 = t8 / t1;
    const r2 = t8 / tScp;
    process.stdout.write(
      [
        `rate ${rate}, ${hostCount} hosts, ${(totalBytes / 1e6).toFixed(0)} MB (1 large file + ${smallCount} small files)`,
        `ours to 1 host:            ${t1.toFixed(2)} s`,
        `ours to ${hostCount} hosts:           ${t8.toFixed(2)} s`,
        `scp -r to each in turn:    ${tScp.toFixed(2)} s`,
        `ours(${hostCount}) / ours(1):        ${r1.toFixed(2)}x (goal <= 2)   ${r1 <= 2 ? 'ok' : 'MISSED'}`,
        `ours(${hostCount}) / scp -r each:    ${r2.toFixed(2)}x (goal <= 0.3) ${r2 <= 0.3 ? 'ok' : 'MISSED'}`,
        '',
      ].join('\n'),
    );
  } finally {
    await lab?.down();
    await rm(tree, { recursive: true, force: true });
  }
}

await main();
