/**
 * The one copy engine: every image move (save, load, pull, push, capture, registry sync) is
 * copyImage(src, dst). Blobs before manifests, children before their index, commit last,
 * both ends closed in finally. The engine is the only place that verifies blob bytes.
 */
import pLimit from 'p-limit';
import { silentReporter, withProgress, type Reporter } from '../report.js';
import { digestOf } from './digest.js';
import { OciError } from './errors.js';
import type { ImageDestination, ImageSource } from './location.js';
import { choosePlatform } from './platform.js';
import {
  isIndex,
  MAX_MANIFEST_BYTES,
  parseIndex,
  parseManifest,
  sniffManifestType,
  type Descriptor,
  type Digest,
  type Platform,
  type RawManifest,
} from './spec.js';
import { verified } from './verify.js';

/** Parallel blob copies per image; 6, as browsers and containers/image use. */
export const DEFAULT_JOBS = 6;

export interface CopyOptions {
  readonly reporter?: Reporter;
  /** Blob copies in flight when the destination allows concurrent puts. */
  readonly jobs?: number;
  /** 'all' keeps a whole index (if the destination accepts one); a platform picks one image of an index. */
  readonly platforms?: 'all' | Platform;
}

export interface CopyResult {
  /** Digest of the top-level manifest written to the destination. */
  readonly digest: Digest;
  readonly mediaType: string;
  readonly blobsCopied: number;
  readonly blobsSkipped: number;
  readonly bytesCopied: number;
}

/** Reads a manifest from the source and checks its size cap and (when the caller knows it) its digest. */
async function readManifest(src: ImageSource, digest?: Digest): Promise<RawManifest> {
  const raw = await src.manifest(digest);
  if (raw.bytes.byteLength > MAX_MANIFEST_BYTES)
    throw new OciError('MANIFEST_TOO_BIG', `${src.name}: manifest larger than ${MAX_MANIFEST_BYTES} bytes`);
  if (digest !== undefined && digestOf(raw.bytes) !== digest)
    throw new OciError('DIGEST_MISMATCH', `${src.name}: manifest ${digest} has digest ${digestOf(raw.bytes)}`);
  return raw;
}

/** Copies one image (or a whole index) from src to dst, then closes both. */
export async function copyImage(src: ImageSource, dst: ImageDestination, opts: CopyOptions = {}): Promise<CopyResult> {
  const reporter = opts.reporter ?? silentReporter;
  const limit = pLimit(dst.caps.concurrentPuts ? Math.max(1, opts.jobs ?? DEFAULT_JOBS) : 1);
  const stats = { blobsCopied: 0, blobsSkipped: 0, bytesCopied: 0 };
  const seen = new Map<Digest, Promise<void>>();
  /** The first blob failure: blob copies still queued then are not started (a failed pull stops downloading). */
  let failure: { readonly error: unknown } | undefined;

  const copyBlob = (desc: Descriptor): Promise<void> => {
    let job = seen.get(desc.digest);
    if (job === undefined) {
      job = limit(async () => {
        if (failure !== undefined) throw failure.error;
        try {
          if (await dst.hasBlob(desc)) {
            stats.blobsSkipped++;
            reporter.emit({ kind: 'blob', digest: desc.digest, state: 'skipped', bytes: 0, total: desc.size });
            return;
          }
          const body = await src.blob(desc);
          await dst.putBlob(desc, withProgress(verified(body, desc), desc, reporter));
          stats.blobsCopied++;
          stats.bytesCopied += desc.size;
        } catch (error) {
          // Recorded before the pool starts the next job, so nothing queued behind a failure begins.
          failure ??= { error };
          throw error;
        }
      });
      seen.set(desc.digest, job);
    }
    return job;
  };

  const copyManifest = async (raw: RawManifest, instance?: Digest): Promise<void> => {
    const m = parseManifest(raw.bytes, `${src.name}: manifest`);
    const results = await Promise.allSettled([m.config, ...m.layers].map(copyBlob));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    await dst.putManifest(raw, instance);
  };

  try {
    let top = await readManifest(src);
    let mediaType = top.mediaType || sniffManifestType(top.bytes);
    if (isIndex(mediaType)) {
      const index = parseIndex(top.bytes, `${src.name}: index`);
      if (opts.platforms === 'all' && dst.caps.acceptsIndex) {
        for (const child of index.manifests) await copyManifest(await readManifest(src, child.digest), child.digest);
        await dst.putManifest({ bytes: top.bytes, mediaType });
      } else {
        const want = opts.platforms === undefined || opts.platforms === 'all' ? undefined : opts.platforms;
        if (want === undefined)
          throw new OciError('NO_PLATFORM', `${src.name}: is a multi-platform index and ${dst.name} holds one image`, {
            hint: 'pick one with --platform os/arch[/variant]',
          });
        const chosen = choosePlatform(index, want, src.name);
        top = await readManifest(src, chosen.digest);
        mediaType = top.mediaType || chosen.mediaType;
        await copyManifest({ bytes: top.bytes, mediaType });
      }
    } else {
      await copyManifest({ bytes: top.bytes, mediaType });
    }
    await dst.commit();
    return { digest: digestOf(top.bytes), mediaType, ...stats };
  } finally {
    await Promise.allSettled([src.close(), dst.close()]);
  }
}
