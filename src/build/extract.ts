/**
 * Unpacks tar streams into a private directory for ADD's archive extraction and for the rootfs of a
 * stage or image that `COPY --from` reads. Entries may not leave the directory: `..`, absolute
 * names and writes through a symlink are refused. OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`) are
 * applied when asked. Ownership is recorded in a side table, so extraction works without root.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, link, lstat, mkdir, open, readdir, rm, symlink, utimes } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { BuildError } from './errors.js';

/** Owner and mode of extracted paths (relative, no leading `/`), as the archive said. */
export interface ExtractedMeta {
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
  readonly mtime: number;
}

export type MetaTable = Map<string, ExtractedMeta>;

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** Sniffs the compression of a file from its magic bytes; undefined when it is not an archive. */
export async function sniffArchive(path: string): Promise<Compression | undefined> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await fh.read(head, 0, 512, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
    if (bytesRead >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
    if (bytesRead >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (bytesRead >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    if (bytesRead === 512 && head.toString('latin1', 257, 262) === 'ustar') return 'none';
    return undefined;
  } finally {
    await fh.close();
  }
}

/**
 * Whether the (decompressed) file starts with a tar header, as Docker checks before ADD unpacks:
 * a `.gz` that is not a tarball is copied as a file.
 */
export async function isTarArchive(path: string, c: Compression): Promise<boolean> {
  const stream = decompressed(path, c);
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      n += chunk.byteLength;
      if (n >= 512) break;
    }
  } catch {
    return false;
  } finally {
    stream.destroy();
  }
  const head = Buffer.concat(chunks);
  if (head.byteLength < 512) return false;
  if (head.toString('latin1', 257, 262) === 'ustar') return true;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : head[i]!;
  return sum === Number.parseInt(head.toString('latin1', 148, 156).replace(/\0.*$/, '').trim() || '-1', 8);
}

/** The decompressed bytes of a file, through zlib or an external decompressor. */
export function decompressed(path: string, c: Compression): Readable {
  if (c === 'none') return createReadStream(path, { highWaterMark: 1 << 20 });
  if (c === 'gzip') return createReadStream(path, { highWaterMark: 1 << 20 }).pipe(createGunzip());
  const tool = { bzip2: 'bzip2', xz: 'xz', zstd: 'zstd' }[c];
  const child = spawn(tool, ['-dc', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const out = child.stdout;
  child.on('error', (err) =>
    out.destroy(new BuildError('BUILD_UNSUPPORTED', `${path}: ${c} archives need the ${tool} program`, { cause: err, hint: `install ${tool}` })),
  );
  child.on('close', (code) => {
    if (code !== 0) out.destroy(new BuildError('BUILD_SOURCE', `${path}: ${tool} -dc failed: ${stderr.trim().slice(0, 200)}`));
  });
  return out;
}

/** A relative, normalized entry name, or undefined when it would leave the directory. */
export function safeName(name: string): string | undefined {
  const n = posix.normalize(`/${name}`).slice(1).replace(/\/+$/, '');
  if (n === '' ) return '';
  if (n.split('/').includes('..')) return undefined;
  return n;
}

/**
 * Calls `onEntry` for each entry of a tar stream, one at a time; the entry's data is drained after
 * it returns. (tar-stream's async iterator can miss the end of the archive when an entry is consumed
 * after an await, so the callback API is used.)
 */
export async function forEachTarEntry(
  input: Readable | AsyncIterable<Uint8Array>,
  onEntry: (h: tar.Header, data: AsyncIterable<Uint8Array>) => Promise<void>,
): Promise<void> {
  const ex = tar.extract();
  let failed: unknown;
  ex.on('entry', (h, data, next) => {
    // `next` once the handler is done and the data has ended (the handler may have read it all).
    let ended = false;
    let handled = false;
    data.on('end', () => {
      ended = true;
      if (handled) next();
    });
    onEntry(h, data as unknown as AsyncIterable<Uint8Array>).then(
      () => {
        handled = true;
        // streamx does not emit 'end' again for data a pipeline already read to the end.
        const state = (data as unknown as { _readableState?: { ended?: boolean } })._readableState;
        if (ended || state?.ended === true || data.destroyed) next();
        else data.resume();
      },
      (err: unknown) => {
        failed = err;
        ex.destroy(err as Error);
      },
    );
  });
  try {
    await pipeline(input instanceof Readable ? input : Readable.from(input), ex);
  } catch (err) {
    throw failed ?? err;
  }
  if (failed !== undefined) throw failed;
}

/** Unpacks one tar stream into `dir`, recording metadata in `meta`. */
export async function extractTar(
  input: Readable | AsyncIterable<Uint8Array>,
  dir: string,
  meta: MetaTable,
  opts: { whiteouts: boolean; what: string },
): Promise<void> {
  const dirTimes: Array<[string, number]> = [];
  try {
    await forEachTarEntry(input, async (h, entry) => {
      const rel = safeName(h.name);
      if (rel === undefined) throw new BuildError('BUILD_SOURCE', `${opts.what}: entry "${h.name}" leaves the archive root`);
      if (rel === '') return;
      if (!(await isInside(dir, rel))) throw new BuildError('BUILD_SOURCE', `${opts.what}: entry "${h.name}" would be written through a symlink`);
      const base = posix.basename(rel);
      const parent = posix.dirname(rel) === '.' ? '' : posix.dirname(rel);
      const target = join(dir, rel);
      if (opts.whiteouts && base.startsWith('.wh.')) {
        if (base === '.wh..wh..opq') {
          const d = join(dir, parent);
          for (const name of await readdir(d).catch(() => [] as string[])) await removeTree(join(d, name), meta, posix.join(parent, name));
        } else await removeTree(join(dir, parent, base.slice(4)), meta, posix.join(parent, base.slice(4)));
        return;
      }
      await mkdir(dirname(target), { recursive: true });
      const mode = (h.mode ?? 0o644) & 0o7777;
      const mtime = Math.floor((h.mtime?.getTime() ?? 0) / 1000);
      if (h.type !== 'directory') await rm(target, { recursive: true, force: true }).catch(() => {});
      switch (h.type) {
        case 'directory':
          await mkdir(target, { recursive: true });
          await chmod(target, 0o700 | mode);
          dirTimes.push([target, mtime]);
          break;
        case 'symlink':
          await symlink(h.linkname ?? '', target);
          break;
        case 'link': {
          const other = safeName(h.linkname ?? '');
          if (other === undefined || other === '') throw new BuildError('BUILD_SOURCE', `${opts.what}: hard link "${h.name}" leaves the archive root`);
          await link(join(dir, other), target);
          break;
        }
        case 'file':
        case 'contiguous-file':
        case undefined:
        case null: {
          // A path-based stream: a FileHandle's stream never lets close() finish after a streamx source.
          await pipeline(entry, createWriteStream(target, { mode: 0o600 }));
          await chmod(target, mode | 0o600);
          await utimes(target, mtime, mtime);
          break;
        }
        default:
          // Devices and fifos have no place in a cluster image's rootfs.
          return;
      }
      meta.set(rel, { uid: h.uid ?? 0, gid: h.gid ?? 0, mode, mtime });
    });
  } catch (err) {
    if (err instanceof BuildError) throw err;
    throw new BuildError('BUILD_SOURCE', `${opts.what}: cannot unpack: ${(err as Error).message}`, { cause: err });
  }
  for (const [d, t] of dirTimes.reverse()) await utimes(d, t, t).catch(() => {});
}

/** Whether no existing component of `rel`'s parents under `dir` is a symlink. */
async function isInside(dir: string, rel: string): Promise<boolean> {
  const parts = rel.split('/');
  let p = dir;
  for (let i = 0; i < parts.length - 1; i++) {
    p = join(p, parts[i]!);
    const st = await lstat(p).catch(() => undefined);
    if (st === undefined) return true;
    if (st.isSymbolicLink()) return false;
  }
  return true;
}

async function removeTree(path: string, meta: MetaTable, rel: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
  meta.delete(rel);
  for (const k of [...meta.keys()]) if (k.startsWith(`${rel}/`)) meta.delete(k);
}

