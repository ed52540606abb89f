/**
 * One SSH connection to one host, reused for many commands. Channels are bounded per connection
 * (sshd's MaxSessions defaults to 10), commands are built with ./command.ts, and root access is
 * chosen once per host (plain root, `sudo -n`, or `sudo -S` with the password on stdin).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pLimit, { type LimitFunction } from 'p-limit';
import ssh2, { type Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { Reporter } from '../report.js';
import { asRoot, cmd, type Shell, type SudoMode } from './command.js';
import { SshError } from './errors.js';
import { formatHost, type HostAddress } from './host-list.js';
import { keyTypeOf, type HostKeyVerdict, type KnownHosts } from './known-hosts.js';

/** How to log in. At least one of password, privateKey or agentSocket. */
export interface SshAuth {
  /** Login user; root needs no sudo. */
  readonly user: string;
  /** Login password; also answers sudo's prompt unless sudoPassword is set. Never logged. */
  readonly password?: string;
  /** An OpenSSH or PEM private key (the file's content). */
  readonly privateKey?: string | Buffer;
  /** Passphrase of privateKey. */
  readonly passphrase?: string;
  /** Path of an ssh-agent socket (SSH_AUTH_SOCK). */
  readonly agentSocket?: string;
  /** Password for sudo when it differs from the login password. */
  readonly sudoPassword?: string;
}

/** Pinned host keys, or 'skip' to accept any key (an explicit, insecure choice). */
export type HostKeyPolicy = KnownHosts | 'skip';

export interface ConnectOptions {
  readonly auth: SshAuth;
  readonly hostKeys: HostKeyPolicy;
  readonly reporter: Reporter;
  /** TCP connect plus handshake plus auth, per attempt. */
  readonly connectTimeoutMs?: number;
  /** Further attempts after a failed connect (not after an auth or host key failure). */
  readonly retries?: number;
  /** First delay between attempts; doubles after each. */
  readonly retryDelayMs?: number;
  /** Default limit for one command; 0 means none. */
  readonly commandTimeoutMs?: number;
  /** Channels open at once on this connection; below sshd's MaxSessions (default 10). */
  readonly channelsPerConnection?: number;
  /** A connected jump host: the connection is tunnelled through it (direct-tcpip). */
  readonly via?: SshSession;
}

/** sealos's hard-coded connect timeout. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** sealos retries a connect 5 times, 100 ms doubling. */
export const DEFAULT_RETRIES = 5;
export const DEFAULT_RETRY_DELAY_MS = 100;
/** 8 leaves 2 of sshd's default MaxSessions 10 for anything else. */
export const DEFAULT_CHANNELS_PER_CONNECTION = 8;

export interface RunOptions {
  /** Bytes for the command's stdin; a stream is piped and then closed. Without it stdin is closed at once. */
  readonly stdin?: string | Buffer | Readable | AsyncIterable<Uint8Array>;
  /** Run through sudo unless the login user is root. */
  readonly root?: boolean;
  /** Overrides ConnectOptions.commandTimeoutMs; 0 means none. */
  readonly timeoutMs?: number;
  /** Resolve with a non-zero exit code instead of throwing SSH_EXIT. */
  readonly allowFailure?: boolean;
  /** Called with each stdout chunk as it arrives; stdout is then not collected. */
  readonly onStdout?: (chunk: Buffer) => void;
  /** Called with each stderr chunk as it arrives; stderr is still collected. */
  readonly onStderr?: (chunk: Buffer) => void;
  /** What the command does, for messages (defaults to the command's first 60 characters). */
  readonly label?: string;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** stderr kept in a message; the full text stays on the error. */
const MESSAGE_STDERR_CHARS = 200;

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Host key algorithms ssh2 may ask for, per key type stored in known_hosts. */
const ALGORITHMS_BY_KEY_TYPE: Readonly<Record<string, readonly string[]>> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
};

export class SshSession {
  /** `ip` or `ip:port`: the prefix of every message about this host. */
  readonly name: string;
  readonly address: HostAddress;
  readonly auth: SshAuth;
  /** The host key this connection was made with (wire format). */
  readonly hostKey: Buffer;
  readonly #client: Client;
  readonly #limit: LimitFunction;
  readonly #opts: ConnectOptions;
  #sudo: Promise<SudoMode> | undefined;
  #closed = false;
  #lostReason: string | undefined;

  private constructor(address: HostAddress, client: Client, hostKey: Buffer, opts: ConnectOptions) {
    this.address = address;
    this.name = formatHost(address);
    this.auth = opts.auth;
    this.hostKey = hostKey;
    this.#client = client;
    this.#opts = opts;
    this.#limit = pLimit(opts.channelsPerConnection ?? DEFAULT_CHANNELS_PER_CONNECTION);
    client.on('close', () => {
      this.#lostReason ??= 'connection closed';
      this.#closed = true;
    });
    client.on('error', (err) => {
      this.#lostReason = err.message;
    });
  }

  /** Connects with retries and exponential backoff; auth and host key failures are not retried. */
  static async connect(address: HostAddress, opts: ConnectOptions): Promise<SshSession> {
    const name = formatHost(address);
    const retries = opts.retries ?? DEFAULT_RETRIES;
    let wait = opts.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return await SshSession.#attempt(address, opts);
      } catch (err) {
        const final = err instanceof SshError && (err.code === 'SSH_AUTH' || err.code === 'SSH_HOSTKEY');
        if (final || attempt >= retries) throw err;
        opts.reporter.emit({
          kind: 'log',
          level: 'debug',
          host: name,
          msg: `connect attempt ${attempt + 1} failed (${(err as Error).message}); retrying in ${wait} ms`,
        });
        await delay(wait);
        wait *= 2;
      }
    }
  }

  static async #attempt(address: HostAddress, opts: ConnectOptions): Promise<SshSession> {
    const name = formatHost(address);
    const { auth, hostKeys } = opts;
    let presented: Buffer | undefined;
    const seen: { verdict: HostKeyVerdict | 'skip' } = { verdict: 'skip' };
    const config: ConnectConfig = {
      host: address.host,
      port: address.port,
      username: auth.user,
      readyTimeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      hostVerifier: (key: Buffer): boolean => {
        presented = Buffer.from(key);
        if (hostKeys === 'skip') return true;
        seen.verdict = hostKeys.verdict(address.host, address.port, presented);
        return seen.verdict === 'known' || seen.verdict === 'unknown';
      },
    };
    if (auth.password !== undefined) config.password = auth.password;
    if (auth.privateKey !== undefined) config.privateKey = auth.privateKey;
    if (auth.passphrase !== undefined) config.passphrase = auth.passphrase;
    if (auth.agentSocket !== undefined) config.agent = auth.agentSocket;
    if (hostKeys !== 'skip') {
      const pinnedTypes = [...new Set(hostKeys.keysFor(address.host, address.port).map((k) => k.type))];
      const algorithms = pinnedTypes.flatMap((t) => ALGORITHMS_BY_KEY_TYPE[t] ?? [t]);
      if (algorithms.length > 0) config.algorithms = { serverHostKey: algorithms as never };
    }
    if (opts.via !== undefined) config.sock = await opts.via.forwardOut(address);

    const client = new ssh2.Client();
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('ready', () => resolve());
        client.once('error', reject);
        client.once('close', () => reject(new Error('connection closed during handshake')));
        client.connect(config);
      });
    } catch (err) {
      client.end();
      const e = err as Error & { level?: string; code?: string };
      const { verdict } = seen;
      if (verdict === 'changed' || verdict === 'revoked') {
        const file = (hostKeys as KnownHosts).file;
        throw new SshError('SSH_HOSTKEY', name, `host key ${verdict}: the ${keyTypeOf(presented!)} key it presented is not the one pinned in ${file}`, {
          hint: `if ${name} was really reinstalled, delete its line from ${file} and connect again; otherwise someone may be intercepting the connection`,
          cause: err,
        });
      }
      if (e.level === 'client-authentication' || /privateKey|passphrase/i.test(e.message)) {
        throw new SshError('SSH_AUTH', name, `${auth.user} could not log in (${describeAuth(auth)})`, {
          hint: 'check the user, password (-p), private key (-i) and its passphrase (--pk-passwd)',
          cause: err,
        });
      }
      if (e.level === 'client-timeout') {
        throw new SshError('SSH_TIMEOUT', name, `no SSH handshake within ${config.readyTimeout} ms`, { cause: err });
      }
      throw new SshError('SSH_CONNECT', name, `cannot connect: ${e.message}`, {
        hint: `check that ${name} is up and sshd listens on port ${address.port}`,
        cause: err,
      });
    }
    if (hostKeys !== 'skip' && seen.verdict === 'unknown' && presented !== undefined) {
      await hostKeys.add(address.host, address.port, presented);
      opts.reporter.emit({ kind: 'log', level: 'info', host: name, msg: `pinned new ${keyTypeOf(presented)} host key in ${hostKeys.file}` });
    }
    return new SshSession(address, client, presented ?? Buffer.alloc(0), opts);
  }

  /** Whether the connection is still usable. */
  get isConnected(): boolean {
    return !this.#closed;
  }

  /** A TCP stream to `target` opened from this host (to reach hosts behind a bastion). */
  forwardOut(target: HostAddress): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.#client.forwardOut('127.0.0.1', 0, target.host, target.port, (err, stream) => {
        if (err) reject(new SshError('SSH_CONNECT', this.name, `cannot open a tunnel to ${formatHost(target)}: ${err.message}`, { cause: err }));
        else resolve(stream);
      });
    });
  }

  /**
   * How this host runs commands as root, probed once: the root user needs nothing; `sudo -n true`
   * succeeding means passwordless sudo; otherwise sudo with the (login or sudo) password on stdin.
   */
  sudoMode(): Promise<SudoMode> {
    this.#sudo ??= (async (): Promise<SudoMode> => {
      if (this.auth.user === 'root') return 'none';
      const probe = await this.#exec(cmd('sudo', '-n', 'true'), { allowFailure: true, label: 'sudo -n true' });
      if (probe.code === 0) return 'nopasswd';
      const password = this.auth.sudoPassword ?? this.auth.password;
      if (password === undefined) {
        throw new SshError('SSH_SUDO', this.name, `${this.auth.user} needs a password for sudo and none was given`, {
          hint: 'pass the password with -p, or allow passwordless sudo for this user',
        });
      }
      const check = await this.#exec(asRoot(cmd('true'), 'password'), { stdin: `${password}\n`, allowFailure: true, label: 'sudo -S true' });
      if (check.code !== 0) {
        throw new SshError('SSH_SUDO', this.name, `sudo refused ${this.auth.user}: ${check.stderr.trim().slice(0, MESSAGE_STDERR_CHARS)}`, {
          hint: `check that ${this.auth.user} may use sudo and that the password is right`,
        });
      }
      return 'password';
    })();
    this.#sudo.catch(() => {
      this.#sudo = undefined;
    });
    return this.#sudo;
  }

  /** Runs a command; throws SSH_EXIT on a non-zero exit unless allowFailure. */
  async run(command: Shell, opts: RunOptions = {}): Promise<RunResult> {
    if (opts.root !== true) return this.#exec(command, opts);
    const mode = await this.sudoMode();
    if (mode !== 'password') return this.#exec(asRoot(command, mode), opts);
    const password = Buffer.from(`${this.auth.sudoPassword ?? this.auth.password ?? ''}\n`);
    return this.#exec(asRoot(command, mode), { ...opts, stdin: prefixed(password, opts.stdin) });
  }

  #exec(command: Shell, opts: RunOptions): Promise<RunResult> {
    return this.#limit(() => this.#execNow(command, opts));
  }

  #execNow(command: Shell, opts: RunOptions): Promise<RunResult> {
    const label = opts.label ?? (command.length > 60 ? `${command.slice(0, 57)}...` : command);
    if (this.#closed) {
      return Promise.reject(new SshError('SSH_CONNECT', this.name, `cannot run ${label}: ${this.#lostReason ?? 'connection closed'}`));
    }
    const timeoutMs = opts.timeoutMs ?? this.#opts.commandTimeoutMs ?? 0;
    return new Promise<RunResult>((resolve, reject) => {
      this.#client.exec(command, (err, channel) => {
        if (err) {
          reject(new SshError('SSH_CONNECT', this.name, `cannot open a channel for ${label}: ${err.message}`, { cause: err }));
          return;
        }
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let code: number | undefined;
        let signal: string | undefined;
        let timedOut = false;
        let stdinError: Error | undefined;
        const timer =
          timeoutMs > 0
            ? setTimeout(() => {
                timedOut = true;
                channel.signal('KILL');
                channel.close();
              }, timeoutMs)
            : undefined;
        channel.on('data', (b: Buffer) => (opts.onStdout ? opts.onStdout(b) : out.push(b)));
        channel.stderr.on('data', (b: Buffer) => {
          errOut.push(b);
          opts.onStderr?.(b);
        });
        channel.on('exit', (c: number | null, sig?: string) => {
          if (c !== null) code = c;
          signal = sig;
        });
        channel.on('close', () => {
          if (timer) clearTimeout(timer);
          const stdout = Buffer.concat(out).toString('utf8');
          const stderr = Buffer.concat(errOut).toString('utf8');
          if (timedOut) {
            reject(new SshError('SSH_TIMEOUT', this.name, `${label}: no result within ${timeoutMs} ms`, { stderr }));
          } else if (code === undefined) {
            const why = signal !== undefined ? `killed by signal ${signal}` : `connection lost (${this.#lostReason ?? 'channel closed'})`;
            reject(new SshError('SSH_CONNECT', this.name, `${label}: ${why}`, { stderr, cause: stdinError }));
          } else if (code !== 0 && opts.allowFailure !== true) {
            const first = stderr.trim().slice(0, MESSAGE_STDERR_CHARS);
            reject(new SshError('SSH_EXIT', this.name, `${label}: exit code ${code}${first ? `: ${first}` : ''}`, { exitCode: code, stderr }));
          } else {
            resolve({ code, stdout, stderr });
          }
        });
        feedStdin(channel, opts.stdin).catch((e: Error) => {
          stdinError = e;
          channel.close();
        });
      });
    });
  }

  /** Closes the connection (and its channels). */
  close(): void {
    this.#closed = true;
    this.#client.end();
  }
}

async function feedStdin(channel: ClientChannel, stdin: RunOptions['stdin']): Promise<void> {
  if (stdin === undefined) {
    channel.end();
    return;
  }
  if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) {
    channel.end(stdin);
    return;
  }
  // The remote side may exit before reading everything (a failed command); that is its result to report.
  await pipeline(stdin, channel).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ERR_STREAM_PREMATURE_CLOSE' || err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
    throw err;
  });
}

function prefixed(first: Buffer, rest: RunOptions['stdin']): RunOptions['stdin'] {
  if (rest === undefined) return first;
  if (typeof rest === 'string' || Buffer.isBuffer(rest)) return Buffer.concat([first, Buffer.from(rest)]);
  const source = rest;
  return Readable.from(
    (async function* () {
      yield first;
      for await (const chunk of source) yield chunk;
    })(),
    { objectMode: false },
  );
}

const describeAuth = (a: SshAuth): string =>
  [a.password !== undefined ? 'password' : '', a.privateKey !== undefined ? 'private key' : '', a.agentSocket !== undefined ? 'agent' : '']
    .filter(Boolean)
    .join(', ') || 'no credentials';
