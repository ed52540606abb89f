/** Runs the built `sealos` CLI as a child process, the way users run it. */
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export const execFileP = promisify(execFile);

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `sealos ARGS` with SEALOS_STORE set; never throws on a non-zero exit. */
export function sealos(store: string, args: readonly string[], opts: { stdin?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, SEALOS_STORE: store, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.stdin);
  });
}

/** Runs an outside tool (skopeo, umoci, buildah); throws with its stderr on failure. */
export async function tool(cmd: string, args: readonly string[]): Promise<string> {
  try {
    return (await execFileP(cmd, args, { maxBuffer: 64 << 20 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr ?? e.message}`);
  }
}
