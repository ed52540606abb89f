/** The local side of an upload: every entry of a tree with its type, mode, size and sha256. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';

export interface TreeEntry {
  /** Relative POSIX path; '' is the root itself. */
  readonly path: string;
  readonly type: 'dir' | 'file' | 'symlink';
  /** Permission bits (0o7777). */
  readonly mode: number;
  /** Bytes, for files; 0 otherwise. */
  readonly size: number;
  readonly mtimeMs: number;
  /** Hex sha256, for files: set once the manifest's `hashed` has resolved. */
  sha256?: string;
  /** Link target, for symlinks. */
  readonly target?: string;
}

export interface TreeManifest {
  /** Absolute local path of the root (a directory, or a single file). */
  readonly root: string;
  /** Parents before children; the root first. */
  readonly entries: readonly TreeEntry[];
  /** Sum of file sizes. */
  readonly bytes: number;
  /**
   * sha256 over every entry's path, type, mode, size, mtime and link target: names this version of the
   * tree (stage names, resume). Content is checked by the per-file sums, not by this.
   */
  readonly id: string;
  /**
   * Resolves when every file's sha256 is set. Hashing runs in the background so that probing and
   * sending start at once; await this before reading `sha256`.
   */
  readonly hashed: Promise<void>;
}

/** Files up to this size are hashed from one read. */
const SMALL_READ_BYTES = 1 << 20;

/** Files hashed at once while scanning. */
const HASH_JOBS = 4;

/** Hex sha256 of a file, or of its bytes [start, end) when a range is given. */
export async function hashFile(file: string, range?: { readonly start: number; readonly end: number }): Promise<string> {
  const hash = createHash('sha256');
  if (range === undefined) {
    const st = await stat(file);
    // small files: one read beats a stream's setup
    if (st.size <= SMALL_READ_BYTES) return hash.update(await readFile(file)).digest('hex');
  }
  const stream = range ? createReadStream(file, { start: range.start, end: range.end - 1 }) : createReadStream(file);
  if (range && range.end <= range.start) return hash.digest('hex');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Walks `root` (following it if it is a symlink, but no link inside) and starts hashing every file in
 * the background (see `hashed`). Sockets, fifos and devices are refused.
 */
export async function scanTree(root: string): Promise<TreeManifest> {
  const entries: TreeEntry[] = [];
  const visit = async (rel: string): Promise<void> => {
    const abs = rel === '' ? root : join(root, rel);
    const st = rel === '' ? await stat(abs) : await lstat(abs); // the root itself may be a link
    const mode = st.mode & 0o7777;
    const base = { path: rel, mode, mtimeMs: Math.trunc(st.mtimeMs) };
    if (st.isDirectory()) {
      entries.push({ ...base, type: 'dir', size: 0 });
      const names = (await readdir(abs)).sort();
      for (const n of names) await visit(rel === '' ? n : `${rel}/${n}`);
    } else if (st.isFile()) {
      entries.push({ ...base, type: 'file', size: st.size });
    } else if (st.isSymbolicLink()) {
      entries.push({ ...base, type: 'symlink', size: 0, target: await readlink(abs) });
    } else {
      throw new Error(`${abs}: only directories, files and symlinks can be uploaded`);
    }
  };
  await visit('');
  const id = createHash('sha256');
  let bytes = 0;
  for (const e of entries) {
    bytes += e.size;
    id.update(`${e.type}\0${e.path}\0${e.mode}\0${e.size}\0${e.mtimeMs}\0${e.target ?? ''}\0`);
  }
  const limit = pLimit(HASH_JOBS);
  const hashed = Promise.all(
    entries
      .filter((e) => e.type === 'file')
      .map((e) =>
        limit(async () => {
          e.sha256 = await hashFile(e.path === '' ? root : join(root, e.path));
        }),
      ),
  ).then(() => undefined);
  hashed.catch(() => {}); // awaited by whoever needs the sums; never an unhandled rejection
  return { root, entries, bytes, id: id.digest('hex'), hashed };
}
