/**
 * COPY/ADD planning: which files of a root (the build context, or the unpacked rootfs of a stage
 * or image) go where in the image, with which metadata. The plan is sorted by path, so layers
 * come out byte-identical for the same input; parents precede children; hard links within one
 * plan point at the first path of their inode.
 */
import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join, posix, sep } from 'node:path';
import type { TarEntryType } from '../oci/index.js';
import { BuildError } from './errors.js';
import type { MetaTable } from './extract.js';
import { compilePattern, hasGlob, IgnoreRules } from './patterns.js';

/** Where COPY sources are read from. */
export interface CopyRoot {
  /** Absolute directory. */
  readonly dir: string;
  /** For messages: `build context`, `stage builder`, `image x`. */
  readonly label: string;
  readonly ignore: IgnoreRules;
  /** Ownership and modes recorded at extraction; undefined for the build context (files become root's). */
  readonly meta: MetaTable | undefined;
}

/** One tar entry to write. `path` is relative to the image root, without a leading `/`. */
export interface PlannedEntry {
  readonly path: string;
  readonly type: TarEntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime: number;
  readonly size: number;
  readonly linkname?: string;
  /** The file whose bytes are the entry's data. */
  readonly abs?: string;
  /** `dev:ino` of a regular file with several links. */
  readonly inode?: string;
  /** A directory the copy creates (its mtime is the build's, and not part of the cache key). */
  readonly created?: boolean;
  /** For the cache key: what identifies the file's content without reading it (`dev:ino:size:mtimeNs:ctimeNs`). */
  readonly stamp?: string;
}

export interface CopySpec {
  /** Absolute destination in the image (may end with `/`). */
  readonly dest: string;
  readonly chown?: { uid: number; gid: number };
  readonly chmod?: number;
  /** What the image already holds at a path: to know whether dest is a directory. */
  readonly isDir: (path: string) => boolean;
  /** What is known about an existing directory (its metadata is kept for parents). */
  readonly existingDir: (path: string) => PlannedEntry | undefined;
  /** mtime of directories the copy creates. */
  readonly createdMtime: number;
}

/** A source after glob expansion: its path relative to the root. */
export interface ResolvedSource {
  readonly rel: string;
  readonly abs: string;
  readonly stat: Stats;
}

/** Resolves COPY sources in a root: cleans, checks containment, expands globs, applies .dockerignore. */
export async function resolveSources(root: CopyRoot, sources: readonly string[], where: string): Promise<ResolvedSource[]> {
  const out: ResolvedSource[] = [];
  const rootReal = await realpath(root.dir);
  for (const src of sources) {
    const clean = posix.normalize(`${src.replace(/^\/+/, '')}`).replace(/\/+$/, '');
    if (clean === '..' || clean.startsWith('../'))
      throw new BuildError('BUILD_SOURCE', `${where}: "${src}" is outside the ${root.label}`, {
        hint: 'COPY reads only files inside the build context; move the file into it',
      });
    const rel = clean === '.' ? '' : clean;
    if (hasGlob(rel)) {
      const re = compilePattern(rel);
      const matches: ResolvedSource[] = [];
      await walk(root, '', async (r, abs, st) => {
        if (re.test(r)) matches.push({ rel: r, abs, stat: st });
        return !re.test(r);
      });
      if (matches.length === 0) throw new BuildError('BUILD_SOURCE', `${where}: no files in the ${root.label} match "${src}"`);
      out.push(...matches);
      continue;
    }
    let abs = rel === '' ? root.dir : join(root.dir, rel);
    let st = await lstat(abs).catch(() => undefined);
    if (st?.isSymbolicLink()) {
      // A named symlink is followed, as buildah and BuildKit do; its target must stay inside the root.
      const real = await realpath(abs).catch(() => undefined);
      if (real === undefined || (real !== rootReal && !real.startsWith(rootReal + sep)))
        throw new BuildError('BUILD_SOURCE', `${where}: "${src}" is a symlink that leads outside the ${root.label} or nowhere`);
      abs = real;
      st = await lstat(real);
    }
    if (st === undefined || (rel !== '' && root.ignore.excludes(rel)))
      throw new BuildError('BUILD_SOURCE', `${where}: "${src}" not found in the ${root.label}${st !== undefined ? ' (excluded by .dockerignore)' : ''}`);
    const parentReal = await realpath(join(abs, '..')).catch(() => rootReal);
    if (rel !== '' && parentReal !== rootReal && !parentReal.startsWith(rootReal + sep))
      throw new BuildError('BUILD_SOURCE', `${where}: "${src}" is outside the ${root.label} (through a symlink)`);
    out.push({ rel, abs, stat: st });
  }
  return out;
}

/** Walks a directory depth-first in sorted order; `visit` returns whether to enter a directory. */
async function walk(
  root: CopyRoot,
  relDir: string,
  visit: (rel: string, abs: string, st: Stats) => Promise<boolean>,
): Promise<void> {
  const absDir = relDir === '' ? root.dir : join(root.dir, relDir);
  const names = (await readdir(absDir)).sort();
  for (const name of names) {
    const rel = relDir === '' ? name : `${relDir}/${name}`;
    const excluded = root.ignore.excludes(rel);
    const abs = join(absDir, name);
    const st = await lstat(abs);
    if (excluded && !(st.isDirectory() && root.ignore.mayHaveExceptionsUnder(rel))) continue;
    const enter = excluded ? true : await visit(rel, abs, st);
    if (st.isDirectory() && enter) await walk(root, rel, excluded ? async (r, a, s) => (root.ignore.excludes(r) ? true : visit(r, a, s)) : visit);
  }
}

/** Sources of one root, as resolveSources found them. */
export interface SourceGroup {
  readonly root: CopyRoot;
  readonly resolved: readonly ResolvedSource[];
}

/** Plans the entries of one COPY/ADD of already resolved sources. Returns entries sorted by path. */
export async function planCopy(groups: readonly SourceGroup[], spec: CopySpec, where: string): Promise<PlannedEntry[]> {
  const resolved = groups.flatMap((g) => g.resolved.map((r) => ({ ...r, root: g.root })));
  const destIsDir = spec.dest.endsWith('/') || resolved.length > 1 || spec.isDir(trimSlash(spec.dest));
  if (resolved.length > 1 && !spec.dest.endsWith('/') && !spec.isDir(trimSlash(spec.dest)))
    throw new BuildError('BUILD_SYNTAX', `${where}: with several sources the destination must be a directory ending in "/"`);
  const dest = trimSlash(spec.dest);
  const byPath = new Map<string, PlannedEntry>();
  const created = (path: string): PlannedEntry => ({ path, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: spec.createdMtime, size: 0, created: true });
  const add = (e: PlannedEntry): void => {
    byPath.set(e.path, e);
  };
  const entryFor = async (root: CopyRoot, rel: string, abs: string, st: Stats, target: string): Promise<PlannedEntry | undefined> => {
    const recorded = root.meta?.get(rel);
    const uid = spec.chown?.uid ?? recorded?.uid ?? 0;
    const gid = spec.chown?.gid ?? recorded?.gid ?? 0;
    const baseMode = recorded?.mode ?? st.mode & 0o7777;
    const mtime = Math.floor(st.mtimeMs / 1000);
    const mode = spec.chmod ?? baseMode;
    if (st.isSymbolicLink()) return { path: target, type: 'symlink', mode: baseMode, uid, gid, mtime, size: 0, linkname: await readlink(abs) };
    if (st.isDirectory()) return { path: target, type: 'directory', mode, uid, gid, mtime, size: 0 };
    if (st.isFile()) {
      const stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      return { path: target, type: 'file', mode, uid, gid, mtime, size: st.size, abs, stamp, ...(st.nlink > 1 ? { inode: `${st.dev}:${st.ino}` } : {}) };
    }
    return undefined;
  };
  for (const src of resolved) {
    if (src.stat.isDirectory()) {
      // A directory's contents are copied, not the directory; dest is kept as it is, or made 0755.
      if (dest !== '') add(spec.existingDir(dest) ?? created(dest));
      const prefix = src.rel;
      await walk(src.root, prefix, async (rel, abs, st) => {
        const inner = prefix === '' ? rel : rel.slice(prefix.length + 1);
        const e = await entryFor(src.root, rel, abs, st, posix.join(dest, inner));
        if (e !== undefined) add(e);
        return true;
      });
    } else {
      const target = destIsDir ? posix.join(dest, posix.basename(src.rel || src.abs)) : dest;
      if (target === '') throw new BuildError('BUILD_SYNTAX', `${where}: cannot copy a file onto "/"`);
      const e = await entryFor(src.root, src.rel, src.abs, src.stat, target);
      if (e === undefined) throw new BuildError('BUILD_SOURCE', `${where}: "${src.rel}" is not a file, directory or symlink`);
      add(e);
    }
  }
  // Parents the copy needs: kept as the image has them, else created root-owned 0755.
  for (const path of [...byPath.keys()]) {
    for (let p = posix.dirname(path); p !== '.' && p !== '' && p !== '/'; p = posix.dirname(p)) {
      if (byPath.has(p)) continue;
      add(spec.existingDir(p) ?? created(p));
    }
  }
  const sorted = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const firstOfInode = new Map<string, string>();
  return sorted.map((e) => {
    if (e.inode === undefined) return e;
    const first = firstOfInode.get(e.inode);
    if (first === undefined) {
      firstOfInode.set(e.inode, e.path);
      return e;
    }
    return { path: e.path, type: 'hardlink', mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, size: 0, linkname: first };
  });
}

const trimSlash = (p: string): string => p.replace(/^\/+/, '').replace(/\/+$/, '');
