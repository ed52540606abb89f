/**
 * `save` and `load`: many images into one archive, and every image of an archive into the store,
 * all or nothing. Both are copyImage() between the store and an archive.
 */
import { silentReporter, type Reporter } from '../report.js';
import { createArchiveWriter, materializeArchive, readArchive, type ArchiveFormat } from './archives.js';
import { copyImage } from './copy.js';
import { OciError } from './errors.js';
import { hostPlatform } from './platform.js';
import { formatImageRef, parseImageRef } from './reference.js';
import type { Store } from './store.js';

export interface SaveLoadOptions {
  readonly reporter?: Reporter;
  readonly jobs?: number;
}

/** Writes `refs` from the store into one archive at `path`; nothing is left at `path` on failure. */
export async function saveImages(
  store: Store,
  refs: readonly string[],
  format: ArchiveFormat,
  path: string,
  opts: SaveLoadOptions = {},
): Promise<string[]> {
  if (refs.length === 0) throw new OciError('BAD_REFERENCE', 'no image to save', { hint: 'name at least one image' });
  const images = await Promise.all(refs.map((r) => store.get(r)));
  const writer = await createArchiveWriter(format, path);
  try {
    for (const img of images) {
      await copyImage(await store.source(img.name), writer.destination(img.name), {
        reporter: opts.reporter,
        jobs: opts.jobs,
        platforms: format === 'docker-archive' ? hostPlatform() : 'all',
      });
    }
    await writer.finish();
  } finally {
    await writer.abort();
  }
  return images.map((i) => i.name);
}

/**
 * Loads every image of an archive (oci-archive or docker-archive, gzip or not, from a file or a
 * stream) into the store under the names the archive gives. Checks every name first; any failure
 * leaves the store exactly as it was.
 */
export async function loadArchive(store: Store, input: string | AsyncIterable<Uint8Array>, opts: SaveLoadOptions = {}): Promise<string[]> {
  const reporter = opts.reporter ?? silentReporter;
  const what = typeof input === 'string' ? input : 'standard input';
  const file = await materializeArchive(input, store.layout.tmpDir);
  try {
    const { format, images } = await readArchive(file.path);
    if (images.length === 0) throw new OciError('BAD_ARCHIVE', `${what}: the archive holds no image`);
    const named = images.map((img, i) => {
      if (img.name === undefined)
        throw new OciError('BAD_REFERENCE', `${what}: image ${i + 1} of ${images.length} has no name`, {
          hint: 'name images when writing the archive (e.g. oci-archive:FILE:NAME); nothing was loaded',
        });
      try {
        return { ...img, name: formatImageRef(parseImageRef(img.name)) };
      } catch (err) {
        throw new OciError('BAD_REFERENCE', `${what}: image ${i + 1} has an invalid name`, { cause: err });
      }
    });
    reporter.emit({ kind: 'log', level: 'debug', msg: `${what}: ${format} with ${named.length} image(s)` });
    const tx = await store.transaction();
    try {
      for (const img of named)
        await copyImage(await img.openSource(), tx.destination(img.name), { reporter, jobs: opts.jobs, platforms: 'all' });
      await tx.commit();
    } finally {
      await tx.rollback();
    }
    return named.map((i) => i.name);
  } finally {
    await file.cleanup();
  }
}
