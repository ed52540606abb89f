/**
 * Many hosts: one cached session per host, an optional shared bastion, and bounded concurrency across
 * hosts. Work on each host succeeds or fails on its own; failures are collected per host.
 */
import pLimit from 'p-limit';
import { SshError } from './errors.js';
import { formatHost, type HostAddress } from './host-list.js';
import { SshSession, type ConnectOptions, type SshAuth } from './session.js';

/** Hosts worked on at once; each holds one connection. */
export const DEFAULT_HOST_JOBS = 16;

export interface FleetOptions extends Omit<ConnectOptions, 'via'> {
  /** A jump host every connection goes through, with its own credentials (default: the hosts'). */
  readonly bastion?: { readonly address: HostAddress; readonly auth?: SshAuth };
  /** Hosts worked on at once. */
  readonly jobs?: number;
}

/** The outcome of one host's work. */
export type HostOutcome<T> =
  | { readonly host: string; readonly address: HostAddress; readonly ok: true; readonly value: T; readonly ms: number }
  | { readonly host: string; readonly address: HostAddress; readonly ok: false; readonly error: Error; readonly ms: number };

export class SshFleet {
  readonly options: FleetOptions;
  readonly #sessions = new Map<string, Promise<SshSession>>();
  #bastion: Promise<SshSession> | undefined;

  constructor(options: FleetOptions) {
    this.options = options;
  }

  /** The session to a host, connecting on first use; a failed connect is not cached. */
  session(address: HostAddress): Promise<SshSession> {
    const key = formatHost(address);
    const cached = this.#sessions.get(key);
    if (cached !== undefined) {
      return cached.then((s) => {
        if (s.isConnected) return s;
        this.#sessions.delete(key);
        return this.session(address);
      });
    }
    const p = (async () => {
      const via = await this.#bastionSession();
      return SshSession.connect(address, { ...this.options, ...(via ? { via } : {}) });
    })();
    this.#sessions.set(key, p);
    p.catch(() => {
      if (this.#sessions.get(key) === p) this.#sessions.delete(key);
    });
    return p;
  }

  #bastionSession(): Promise<SshSession | undefined> {
    const b = this.options.bastion;
    if (b === undefined) return Promise.resolve(undefined);
    if (this.#bastion === undefined) {
      const p = SshSession.connect(b.address, { ...this.options, auth: b.auth ?? this.options.auth });
      this.#bastion = p;
      p.catch(() => {
        if (this.#bastion === p) this.#bastion = undefined;
      });
    }
    return this.#bastion.then((s) => {
      if (s.isConnected) return s;
      this.#bastion = undefined;
      return this.#bastionSession();
    });
  }

  /** Drops a host's cached session (e.g. after its connection broke), closing it. */
  async forget(address: HostAddress): Promise<void> {
    const key = formatHost(address);
    const p = this.#sessions.get(key);
    this.#sessions.delete(key);
    if (p) (await p.catch(() => undefined))?.close();
  }

  /**
   * Runs `work` on every host, at most `jobs` at once, each with its session. Emits a phase start and
   * done/failed per host when `phase` is given. Never throws: look at each outcome.
   */
  async forEach<T>(
    hosts: readonly HostAddress[],
    work: (s: SshSession) => Promise<T>,
    opts: { readonly phase?: string; readonly jobs?: number } = {},
  ): Promise<HostOutcome<T>[]> {
    const limit = pLimit(opts.jobs ?? this.options.jobs ?? DEFAULT_HOST_JOBS);
    const { reporter } = this.options;
    return Promise.all(
      hosts.map((address) =>
        limit(async (): Promise<HostOutcome<T>> => {
          const host = formatHost(address);
          const started = Date.now();
          if (opts.phase) reporter.emit({ kind: 'phase', name: opts.phase, host, state: 'start' });
          try {
            const value = await work(await this.session(address));
            const ms = Date.now() - started;
            if (opts.phase) reporter.emit({ kind: 'phase', name: opts.phase, host, state: 'done', ms });
            return { host, address, ok: true, value, ms };
          } catch (err) {
            const ms = Date.now() - started;
            if (opts.phase) reporter.emit({ kind: 'phase', name: opts.phase, host, state: 'failed', ms });
            const error = err instanceof Error ? err : new Error(String(err));
            return { host, address, ok: false, error, ms };
          }
        }),
      ),
    );
  }

  /** Closes every connection, the bastion last. */
  async close(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    for (const p of sessions) (await p.catch(() => undefined))?.close();
    const b = this.#bastion;
    this.#bastion = undefined;
    if (b) (await b.catch(() => undefined))?.close();
  }
}

/** Throws one SSH_FAILED_HOSTS error naming every failed host, or returns the values in host order. */
export function valuesOrThrow<T>(outcomes: readonly HostOutcome<T>[], what: string): T[] {
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length === 0) return outcomes.map((o) => (o as { value: T }).value);
  const names = failed.map((o) => o.host).join(', ');
  throw new SshError('SSH_FAILED_HOSTS', names, `${what} failed on ${failed.length} of ${outcomes.length} hosts`, {
    cause: failed.length === 1 ? (failed[0] as { error: Error }).error : new AggregateError(failed.map((o) => (o as { error: Error }).error)),
  });
}
