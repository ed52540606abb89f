/**
 * Host keys pinned per cluster in an OpenSSH-format known_hosts file: trusted on first use, refused
 * when they change. Reads plain and hashed (`|1|salt|hash`) entries; writes plain ones.
 */
import { createHmac } from 'node:crypto';
import { appendFile, chmod, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** One key for a host, in the wire format that known_hosts stores as base64. */
export interface HostKey {
  readonly type: string;
  readonly blob: Buffer;
}

interface Entry {
  readonly patterns: readonly string[];
  readonly hashed: { readonly salt: Buffer; readonly hash: Buffer } | undefined;
  readonly revoked: boolean;
  readonly key: HostKey;
}

/** The key type named inside a wire-format public key (its first SSH string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** The name known_hosts uses for a host: `ip` on port 22, else `[ip]:port`. */
export const knownHostsName = (host: string, port: number): string => (port === 22 ? host : `[${host}]:${port}`);

const globToRegExp = (glob: string): RegExp =>
  new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`, 'i');

function matches(e: Entry, name: string): boolean {
  if (e.hashed !== undefined) {
    return createHmac('sha1', e.hashed.salt).update(name).digest().equals(e.hashed.hash);
  }
  let hit = false;
  for (const p of e.patterns) {
    const negated = p.startsWith('!');
    if (globToRegExp(negated ? p.slice(1) : p).test(name)) {
      if (negated) return false;
      hit = true;
    }
  }
  return hit;
}

function parseLine(line: string): Entry | undefined {
  const fields = line.trim().split(/\s+/);
  if (fields.length < 3 || fields[0]!.startsWith('#')) return undefined;
  let revoked = false;
  if (fields[0]!.startsWith('@')) {
    if (fields[0] === '@cert-authority') return undefined;
    revoked = fields[0] === '@revoked';
    fields.shift();
  }
  const [hosts, type, b64] = fields as [string, string, string];
  if (b64 === undefined) return undefined;
  const blob = Buffer.from(b64, 'base64');
  let hashed: Entry['hashed'];
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|');
    hashed = { salt: Buffer.from(salt ?? '', 'base64'), hash: Buffer.from(hash ?? '', 'base64') };
  }
  return { patterns: hosts.split(','), hashed, revoked, key: { type, blob } };
}

/** What a presented key is, relative to the pinned ones. */
export type HostKeyVerdict = 'known' | 'unknown' | 'changed' | 'revoked';

export class KnownHosts {
  readonly file: string;
  readonly #entries: Entry[];

  private constructor(file: string, entries: Entry[]) {
    this.file = file;
    this.#entries = entries;
  }

  /** Loads `file`; a missing file is an empty set of pins. */
  static async open(file: string): Promise<KnownHosts> {
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const entries = text.split('\n').map(parseLine).filter((e): e is Entry => e !== undefined);
    return new KnownHosts(file, entries);
  }

  /** The keys pinned for `host:port`. */
  keysFor(host: string, port: number): HostKey[] {
    const name = knownHostsName(host, port);
    return this.#entries.filter((e) => !e.revoked && matches(e, name)).map((e) => e.key);
  }

  /**
   * `known` if the key is pinned for the host; `changed` if the host has pins and none is this key;
   * `unknown` if the host has no pins (trust on first use).
   */
  verdict(host: string, port: number, blob: Buffer): HostKeyVerdict {
    const name = knownHostsName(host, port);
    const mine = this.#entries.filter((e) => matches(e, name));
    if (mine.some((e) => e.revoked && e.key.blob.equals(blob))) return 'revoked';
    const pinned = mine.filter((e) => !e.revoked);
    if (pinned.some((e) => e.key.blob.equals(blob))) return 'known';
    return pinned.length === 0 ? 'unknown' : 'changed';
  }

  /** Pins a key: appends one line (the file is created 0600, its directory 0700). */
  async add(host: string, port: number, blob: Buffer): Promise<void> {
    if (this.verdict(host, port, blob) === 'known') return;
    const name = knownHostsName(host, port);
    const key = { type: keyTypeOf(blob), blob };
    this.#entries.push({ patterns: [name], hashed: undefined, revoked: false, key });
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    await appendFile(this.file, `${name} ${key.type} ${blob.toString('base64')}\n`, { mode: 0o600 });
    await chmod(this.file, 0o600);
  }
}

/** One known_hosts line for a key (for files written on hosts, e.g. by the relay). */
export const knownHostsLine = (host: string, port: number, blob: Buffer): string =>
  `${knownHostsName(host, port)} ${keyTypeOf(blob)} ${blob.toString('base64')}`;
