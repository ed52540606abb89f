/**
 * Registry credentials in containers-style `auth.json` files (`{"auths": {"host": {"auth": base64(user:pass)}}}`)
 * and Docker's `config.json` (same shape). Files are read in order and the first match wins; login writes
 * one file, mode 0600, replaced atomically so a crash never leaves half a file.
 */
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RegistryError } from './errors.js';

/** A user name and password (or token) for one registry. Never logged. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

interface AuthEntry {
  readonly auth?: string;
  readonly username?: string;
  readonly password?: string;
}

interface AuthDocument {
  auths?: Record<string, AuthEntry>;
  [key: string]: unknown;
}

/**
 * The key credentials are stored under: a host (`registry.example.com:5000`) or host plus repository
 * namespace. Docker Hub's aliases (`index.docker.io`, `registry-1.docker.io`, `https://index.docker.io/v1/`)
 * all become `docker.io`.
 */
export function normalizeAuthKey(key: string): string {
  let k = key.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
  k = k.replace(/\/v[12]$/, '');
  const slash = k.indexOf('/');
  const host = (slash < 0 ? k : k.slice(0, slash)).toLowerCase();
  const rest = slash < 0 ? '' : k.slice(slash);
  const h = host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
  return `${h}${rest}`;
}

async function readDocument(path: string): Promise<AuthDocument | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RegistryError('AUTH_FILE', `reading ${path}`, { cause: err });
  }
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    // The parser's message may quote the file's content, which holds secrets: say only where.
    throw new RegistryError('AUTH_FILE', `${path}: not valid JSON`, { hint: 'fix or remove the file, then log in again' });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RegistryError('AUTH_FILE', `${path}: not a JSON object`);
  const doc = v as AuthDocument;
  if (doc.auths !== undefined && (typeof doc.auths !== 'object' || doc.auths === null || Array.isArray(doc.auths)))
    throw new RegistryError('AUTH_FILE', `${path}: "auths" must be an object`);
  return doc;
}

function decodeEntry(entry: AuthEntry, path: string, key: string): Credentials | undefined {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon <= 0) throw new RegistryError('AUTH_FILE', `${path}: the entry for ${key} is not base64 of user:password`);
    return { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string')
    return { username: entry.username, password: entry.password };
  return undefined;
}

/**
 * The credentials for `registry` (a host) and, if given, `repository` (path inside it): the most specific
 * key wins within a file (`host/ns/repo` before `host/ns` before `host`); files are tried in order.
 */
export async function findCredentials(
  files: readonly string[],
  registry: string,
  repository?: string,
): Promise<Credentials | undefined> {
  const host = normalizeAuthKey(registry);
  const wanted: string[] = [];
  if (repository !== undefined) {
    const parts = repository.split('/');
    for (let i = parts.length; i > 0; i--) wanted.push(`${host}/${parts.slice(0, i).join('/')}`);
  }
  wanted.push(host);
  for (const path of files) {
    const doc = await readDocument(path);
    if (doc?.auths === undefined) continue;
    const byKey = new Map<string, [string, AuthEntry]>();
    for (const [k, e] of Object.entries(doc.auths)) {
      const nk = normalizeAuthKey(k);
      if (!byKey.has(nk) && typeof e === 'object' && e !== null) byKey.set(nk, [k, e]);
    }
    for (const w of wanted) {
      const hit = byKey.get(w);
      if (hit === undefined) continue;
      const creds = decodeEntry(hit[1], path, hit[0]);
      if (creds !== undefined) return creds;
    }
  }
  return undefined;
}

async function writeDocument(path: string, doc: AuthDocument): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = join(dirname(path), `.auth-${process.pid}-${randomUUID()}.tmp`);
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(doc, null, '\t')}\n`);
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
    await chmod(path, 0o600);
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw new RegistryError('AUTH_FILE', `writing ${path}`, { cause: err });
  }
}

/** Stores credentials for `registry` in `path` (created 0600), keeping every other entry and key of the file. */
export async function saveCredentials(path: string, registry: string, creds: Credentials): Promise<void> {
  const doc = (await readDocument(path)) ?? {};
  const key = normalizeAuthKey(registry);
  const auths: Record<string, AuthEntry> = {};
  for (const [k, e] of Object.entries(doc.auths ?? {})) if (normalizeAuthKey(k) !== key) auths[k] = e;
  auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64') };
  await writeDocument(path, { ...doc, auths });
}

/** Removes the entries for `registry` (every alias of its key) from `path`; false when there was none. */
export async function removeCredentials(path: string, registry: string): Promise<boolean> {
  const doc = await readDocument(path);
  if (doc?.auths === undefined) return false;
  const key = normalizeAuthKey(registry);
  const kept = Object.entries(doc.auths).filter(([k]) => normalizeAuthKey(k) !== key);
  if (kept.length === Object.keys(doc.auths).length) return false;
  await writeDocument(path, { ...doc, auths: Object.fromEntries(kept) });
  return true;
}

/** Removes every entry from `path`; the registries whose credentials were removed. */
export async function removeAllCredentials(path: string): Promise<string[]> {
  const doc = await readDocument(path);
  if (doc?.auths === undefined || Object.keys(doc.auths).length === 0) return [];
  await writeDocument(path, { ...doc, auths: {} });
  return Object.keys(doc.auths);
}

/** Whether `path` holds an entry for `registry` (used to tell the user where credentials come from). */
export async function hasCredentials(path: string, registry: string): Promise<boolean> {
  return (await findCredentials([path], registry)) !== undefined;
}
