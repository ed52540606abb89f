/**
 * Test helpers for the local SSH lab (scripts/lab.sh): each test file brings up its own lab on its own
 * bridge and /28 inside 198.18.0.0/24, so files can run at once, and tears it down by PID afterwards.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { HostAddress } from '../../src/ssh/index.js';

const execFileP = promisify(execFile);

/** The repository root (tests run from dist/test/...). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const labScript = join(repoRoot, 'scripts', 'lab.sh');

export interface LabHost {
  readonly name: string;
  readonly ip: string;
  readonly address: HostAddress;
}

export interface Lab {
  readonly dir: string;
  readonly hosts: readonly LabHost[];
  /** The lab's root private key (ed25519), authorised on every host. */
  readonly key: Buffer;
  readonly keyFile: string;
  /** A known_hosts file with every host's key, for OpenSSH clients. */
  readonly knownHostsFile: string;
  /** A path inside a host's root filesystem, as seen from this machine. */
  pathIn(host: LabHost, path: string): string;
  /** Runs a command inside a host without SSH (nsenter). */
  exec(host: LabHost, ...argv: string[]): Promise<{ stdout: string; stderr: string }>;
  /** Kills a host's sshd and everything in the host; its files stay. */
  stop(host: LabHost): Promise<void>;
  /** Starts a stopped host again. */
  start(host: LabHost): Promise<void>;
  /** Caps every link (e.g. '400mbit') or removes the caps ('off'). */
  rate(rate: string): Promise<void>;
  down(): Promise<void>;
}

export interface LabOptions {
  /** Short and unique per test file: names the netns, bridge, cgroups, nft table and state dir. */
  readonly name: string;
  readonly hosts: number;
  /** A /28 (or larger) inside 198.18.0.0/24, not overlapping any other lab running at the same time. */
  readonly net: string;
  /** Per-host state on a tmpfs of this size (e.g. '2g'). */
  readonly tmpfs?: string;
  readonly rate?: string;
}

/** Brings a lab up (after clearing leftovers of a crashed run with the same name). */
export async function startLab(o: LabOptions): Promise<Lab> {
  const dir = `/tmp/sealos-lab-${o.name}`;
  const env = {
    ...process.env,
    LAB_DIR: dir,
    LAB_PREFIX: o.name,
    LAB_BRIDGE: `${o.name}br`,
    LAB_NET: o.net,
    LAB_HOSTS: String(o.hosts),
    LAB_REGISTRY: '0',
    LAB_TMPFS_SIZE: o.tmpfs ?? '',
    LAB_RATE: o.rate ?? '',
  };
  const lab = (...args: string[]) => execFileP('bash', [labScript, ...args], { env, maxBuffer: 1 << 24 });
  await lab('down');
  try {
    await lab('up');
  } catch (err) {
    await lab('down').catch(() => {});
    throw err;
  }
  const list = await readFile(join(dir, 'hosts.txt'), 'utf8');
  const hosts = list
    .trim()
    .split('\n')
    .map((l) => {
      const [name, ip] = l.split(' ') as [string, string];
      return { name, ip, address: { host: ip, port: 22 } };
    });
  const keyFile = join(dir, 'ssh', 'id_ed25519');
  return {
    dir,
    hosts,
    key: await readFile(keyFile),
    keyFile,
    knownHostsFile: join(dir, 'ssh', 'known_hosts'),
    pathIn: (h, p) => join(dir, 'hosts', h.name, 'root', p),
    exec: (h, ...argv) => lab('exec', h.name, ...argv),
    stop: async (h) => {
      await lab('stop', h.name);
    },
    start: async (h) => {
      await lab('start', h.name);
    },
    rate: async (r) => {
      await lab('rate', r);
    },
    down: async () => {
      await lab('down');
      await assertNothingLeft(o.name, dir);
    },
  };
}

/** After `down`: no netns, link, nft table, mount or process of the lab may remain. */
async function assertNothingLeft(name: string, dir: string): Promise<void> {
  const left: string[] = [];
  const netns = (await execFileP('ip', ['netns', 'list'])).stdout;
  if (netns.split('\n').some((l) => l.startsWith(`${name}-h`))) left.push('netns');
  const links = (await execFileP('ip', ['-o', 'link', 'show'])).stdout;
  if (links.includes(`${name}br`)) left.push('links');
  const tables = (await execFileP('nft', ['list', 'tables'])).stdout;
  if (tables.includes(`${name}_guard`)) left.push('nft table');
  if ((await readFile('/proc/self/mounts', 'utf8')).includes(`${dir}/hosts`)) left.push('mounts');
  const ps = (await execFileP('ps', ['-eo', 'stat=,args='])).stdout;
  if (ps.split('\n').some((l) => !l.startsWith('Z') && l.includes(`${dir}/hosts/`))) left.push('processes');
  if (left.length > 0) throw new Error(`lab ${name}: left behind after down: ${left.join(', ')}`);
}
