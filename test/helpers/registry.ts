/**
 * A real docker-distribution registry (Debian's `docker-registry`) on a random loopback port, with its own
 * config file (Debian's default config enables an htpasswd path that is a directory and answers 400 to all).
 * Started by the test, killed by PID in teardown. Optionally with htpasswd Basic auth (bcrypt via python3).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';

/** What the helper needs of a test: ava's ExecutionContext fits, and so does a benchmark's cleanup list. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface RegistryAuth {
  readonly username: string;
  readonly password: string;
}

export interface StartRegistryOptions {
  /** Require these credentials (htpasswd, bcrypt). */
  readonly auth?: RegistryAuth;
  /** Serve this storage root instead of a fresh temp dir (e.g. a registry directory we wrote). */
  readonly storage?: string;
  /** TLS certificate and key files (PEM); plain HTTP when absent. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`, as image references name it. */
  readonly host: string;
  /** `http://127.0.0.1:PORT` (or https). */
  readonly url: string;
  /** The filesystem driver's root directory. */
  readonly storage: string;
  /** The registry's stdout and stderr (access log included). */
  readonly logPath: string;
  readonly pid: () => number | undefined;
  /** Kills the registry (SIGKILL, like a crash) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port and storage. */
  restart(): Promise<void>;
  /** Access-log lines so far (`"METHOD /path HTTP/1.1" status`). */
  accessLog(): Promise<string[]>;
}

const execFileP = promisify(execFile);

/** A free loopback TCP port (bound then released; the registry binds it right after). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

async function htpasswdLine(a: RegistryAuth): Promise<string> {
  const script =
    'import crypt,sys,warnings\nwarnings.simplefilter("ignore")\n' +
    'u,p=sys.stdin.read().split("\\n",1)\nprint(u+":"+crypt.crypt(p,crypt.mksalt(crypt.METHOD_BLOWFISH,rounds=16)))';
  const child = execFileP('python3', ['-c', script]);
  child.child.stdin?.end(`${a.username}\n${a.password}`);
  return (await child).stdout.trim();
}

export async function startRegistry(t: Teardown, o: StartRegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'sealos-registry-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const storage = o.storage ?? join(dir, 'storage');
  await mkdir(storage, { recursive: true });
  const logPath = join(dir, 'registry.log');
  let port = await freePort();
  const configPath = join(dir, 'config.yml');
  const writeConfig = async (): Promise<void> => {
    const lines = [
      'version: 0.1',
      'log:',
      '  level: info',
      '  formatter: text',
      '  accesslog: {disabled: false}',
      'storage:',
      `  filesystem: {rootdirectory: "${storage}"}`,
      '  delete: {enabled: true}',
      '  maintenance: {uploadpurging: {enabled: false}}',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      `  secret: ${randomBytes(12).toString('hex')}`,
    ];
    if (o.tls !== undefined) lines.push('  tls:', `    certificate: "${o.tls.cert}"`, `    key: "${o.tls.key}"`);
    if (o.auth !== undefined) {
      const htpasswd = join(dir, 'htpasswd');
      await writeFile(htpasswd, `${await htpasswdLine(o.auth)}\n`, { mode: 0o600 });
      lines.push('auth:', '  htpasswd:', '    realm: sealos-test', `    path: "${htpasswd}"`);
    }
    await writeFile(configPath, `${lines.join('\n')}\n`);
  };
  await writeConfig();
  const scheme = o.tls !== undefined ? 'https' : 'http';
  let child: ChildProcess | undefined;

  const waitReady = async (c: ChildProcess): Promise<boolean> => {
    for (let i = 0; i < 200; i++) {
      if (c.exitCode !== null || c.signalCode !== null) return false;
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.on('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (ok) return true;
      await sleep(25);
    }
    return false;
  };

  const start = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const out = createWriteStream(logPath, { flags: 'a' });
      await new Promise((r) => out.on('open', r));
      const c = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', out, out] });
      child = c;
      if (await waitReady(c)) return;
      c.kill('SIGKILL');
      if (attempt >= 3) throw new Error(`docker-registry did not start: ${await readFile(logPath, 'utf8').catch(() => '')}`);
      port = await freePort();
      await writeConfig();
    }
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    await exited;
  };

  await start();
  t.teardown(stop);
  return {
    get host() {
      return `127.0.0.1:${port}`;
    },
    get url() {
      return `${scheme}://127.0.0.1:${port}`;
    },
    storage,
    logPath,
    pid: () => child?.pid,
    stop,
    restart: start,
    async accessLog() {
      const text = await readFile(logPath, 'utf8').catch(() => '');
      return text.split('\n').filter((l) => /"(GET|HEAD|PUT|POST|PATCH|DELETE) \//.test(l));
    },
  };
}
