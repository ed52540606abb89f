/** A stage's next layer: its cache key, then a cache hit or a new layer written into the staging area. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { MediaType } from '../oci/index.js';
import { at, BuildError } from './errors.js';
import type { LayerRef } from './images.js';
import { LayerWriter } from './layer-writer.js';
import type { Instruction } from './parse.js';
import { recordHistory, type StageRun } from './run-state.js';
import type { PlannedEntry } from './sources.js';

/** Files read at once while hashing sources for the cache key. */
const HASH_JOBS = 8;
/** Files up to this size are read whole (and ahead) rather than streamed. */
const SMALL_FILE_BYTES = 1 << 20;

/**
 * Appends the layer holding `plan` to the stage: the cached one for `key` if the cache has it, else one
 * written into the work directory (and listed in `run.built`).
 */
export async function addLayer(sr: StageRun, ins: Instruction, plan: PlannedEntry[], key: string | undefined): Promise<void> {
  const { run, s } = sr;
  const { o, reporter } = run;
  let layer: LayerRef | undefined;
  if (key !== undefined && o.cache !== undefined) {
    const hit = await o.cache.lookup(key);
    if (hit !== undefined) {
      layer = {
        desc: { mediaType: hit.mediaType, digest: hit.digest, size: hit.size },
        diffId: hit.diffId,
        path: o.access.store.layout.blobPath(hit.digest),
        staged: false,
      };
      run.reused++;
      o.cache.remember(key, { digest: hit.digest, diffId: hit.diffId, size: hit.size, mediaType: hit.mediaType });
      reporter.emit({ kind: 'log', level: 'info', msg: `  using cache ${hit.digest.slice(7, 19)}` });
    }
  }
  if (layer === undefined) {
    const phase = `${at(ins.pos)} ${ins.cmd}`;
    const started = Date.now();
    reporter.emit({ kind: 'phase', name: phase, host: 'build', state: 'start' });
    let blob;
    try {
      blob = await writeLayer(plan, join(o.workDir, `layer-${run.layerSeq++}.tar.gz`), o.timestamp, ins);
    } catch (err) {
      reporter.emit({ kind: 'phase', name: phase, host: 'build', state: 'failed', ms: Date.now() - started });
      throw err;
    }
    reporter.emit({ kind: 'phase', name: phase, host: 'build', state: 'done', ms: Date.now() - started });
    layer = {
      desc: { mediaType: MediaType.OciLayerGzip, digest: blob.digest, size: blob.size },
      diffId: blob.diffId,
      path: blob.path,
      staged: true,
    };
    run.built.push({ key, layer });
    reporter.emit({ kind: 'log', level: 'info', msg: `  layer ${blob.digest.slice(7, 19)} (${plan.length} entries, ${mib(blob.size)})` });
  }
  s.layers.push(layer);
  for (const e of plan) s.tree.set(e.path, e);
  recordHistory(sr, ins, false);
}

export const hashKey = (parts: readonly string[]): string => createHash('sha256').update(JSON.stringify(parts)).digest('hex');

/**
 * The cache key of a COPY/ADD: parent layers, the instruction, and every entry's metadata. File
 * content is identified as git's index and BuildKit's context cache do, by device, inode, size,
 * mtime and ctime (any write changes mtime and ctime), so an unchanged rebuild reads no file twice.
 * Files that are not the build context's (an archive ADD unpacks, a stage's rootfs) are hashed.
 */
export async function copyKey(ins: Instruction, chain: string, plan: readonly PlannedEntry[], timestamp: number | undefined, contextDir: string): Promise<string> {
  const limit = pLimit(HASH_JOBS);
  const inContext = (p: string): boolean => p.startsWith(`${contextDir}/`);
  const contents = await Promise.all(
    plan.map((e) =>
      e.type === 'file' && e.abs !== undefined ? (inContext(e.abs) ? Promise.resolve(e.stamp ?? '') : limit(() => hashFile(e.abs!))) : Promise.resolve(''),
    ),
  );
  const h = createHash('sha256');
  h.update(JSON.stringify(['COPY/1', chain, ins.cmd, ins.original, timestamp ?? '']));
  for (const [i, e] of plan.entries())
    h.update(`${JSON.stringify([e.path, e.type, e.mode, e.uid, e.gid, e.created === true ? 0 : e.mtime, e.size, e.linkname ?? '', contents[i]])}\n`);
  return h.digest('hex');
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  const st = await stat(path);
  if (st.size <= SMALL_FILE_BYTES) h.update(await readFile(path));
  else for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Writes the planned entries as one layer; small files are read ahead while earlier data compresses. */
async function writeLayer(plan: readonly PlannedEntry[], path: string, timestamp: number | undefined, ins: Instruction) {
  const w = await LayerWriter.create(path);
  const ahead = new Map<number, Promise<Buffer>>();
  const READ_AHEAD = 16;
  let next = 0;
  const prefetch = (upTo: number): void => {
    for (; next < plan.length && next <= upTo; next++) {
      const e = plan[next]!;
      if (e.type === 'file' && e.abs !== undefined && e.size <= SMALL_FILE_BYTES) {
        const p = readFile(e.abs);
        p.catch(() => {});
        ahead.set(next, p);
      }
    }
  };
  try {
    for (const [i, e] of plan.entries()) {
      prefetch(i + READ_AHEAD);
      const header = {
        name: e.path,
        type: e.type,
        size: e.type === 'file' ? e.size : 0,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: timestamp ?? e.mtime,
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      };
      if (e.type !== 'file') await w.add(header);
      else if (e.abs === undefined) await w.add(header, Buffer.alloc(0));
      else {
        const small = ahead.get(i);
        ahead.delete(i);
        await w.add(header, small !== undefined ? await small : createReadStream(e.abs, { highWaterMark: 1 << 20 }));
      }
    }
    return await w.finish();
  } catch (err) {
    await w.abort();
    if (err instanceof BuildError) throw err;
    throw new BuildError('BUILD_SOURCE', `${at(ins.pos)}: ${ins.cmd}: ${(err as Error).message}`, { cause: err });
  }
}

const mib = (n: number): string => `${(n / (1 << 20)).toFixed(1)} MiB`;
