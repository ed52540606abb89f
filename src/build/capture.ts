/**
 * Image capture: every image the context names is copied from its registry into
 * `<context>/registry/` in docker-distribution's storage layout (the `registry-dir:` location, host
 * stripped as sealos does), for the build platform, several at once. Blobs are shared across images.
 * A digest-pinned reference keeps that exact manifest (a pinned index is copied whole, so the
 * digest still resolves). Archives listed in `images/skopeo/tar.txt` are imported under their given
 * names. What was captured is listed in `<context>/registry/images.txt`.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { copyImage, parseImageRef, writeAtomic, type Digest, type Platform } from '../oci/index.js';
import { parseAnyLocation, RegistryDirLocation, registryDirName, type RegistryLocationContext } from '../registry/index.js';
import { errorChain } from '../errors.js';
import { silentReporter, type Reporter } from '../report.js';
import { discoverArchives, discoverImages, type FoundImage } from './discover.js';
import { BuildError } from './errors.js';

/** Images pulled at once (`--max-pull-procs`), as sealos's default. */
export const DEFAULT_MAX_PULL_PROCS = 5;
/** Blob copies in flight per image. */
const BLOBS_PER_IMAGE = 4;
/** The list of captured images, beside `docker/` in the registry directory. */
export const CAPTURE_LIST = 'images.txt';

export interface CaptureOptions {
  readonly contextDir: string;
  readonly platform: Platform;
  readonly maxPullProcs?: number;
  readonly registry: RegistryLocationContext;
  readonly reporter?: Reporter;
  /** The helm program for charts (tests); `helm` on PATH by default. */
  readonly helm?: string;
}

export interface CapturedImage {
  /** The reference as found, normalized. */
  readonly ref: string;
  /** Where the served registry has it: `library/nginx:1.25` or `library/nginx@sha256:…`. */
  readonly stored: string;
  /** The manifest digest kept (the platform's image, or the pinned one). */
  readonly digest: Digest;
  readonly source: string;
}

export interface CaptureResult {
  readonly images: readonly CapturedImage[];
  /** The registry directory (`<context>/registry`). */
  readonly dir: string;
  /** The list file, or undefined when the context names no image. */
  readonly listPath: string | undefined;
}

export async function captureImages(o: CaptureOptions): Promise<CaptureResult> {
  const reporter = o.reporter ?? silentReporter;
  const dir = join(o.contextDir, 'registry');
  const named: FoundImage[] = await discoverImages({ contextDir: o.contextDir, reporter, ...(o.helm !== undefined ? { helm: o.helm } : {}) });
  const archives = await discoverArchives(o.contextDir);
  // An image an archive provides is taken from the archive, even where a manifest names it too: that is offline.
  const found: FoundImage[] = [
    ...named.filter((f) => !archives.some((a) => a.ref === f.ref)),
    ...archives.map((a) => ({ ref: a.ref, source: a.source, from: a.location })),
  ];
  if (found.length === 0) return { images: [], dir, listPath: undefined };
  await mkdir(dir, { recursive: true });
  reporter.emit({ kind: 'log', level: 'info', msg: `capturing ${found.length} image(s) into ${dir}` });
  const limit = pLimit(Math.max(1, o.maxPullProcs ?? DEFAULT_MAX_PULL_PROCS));
  const failures: Array<{ image: FoundImage; err: unknown }> = [];
  const captured: Array<CapturedImage | undefined> = await Promise.all(
    found.map((image) =>
      limit(async () => {
        try {
          return await captureOne(image, dir, o, reporter);
        } catch (err) {
          failures.push({ image, err });
          return undefined;
        }
      }),
    ),
  );
  if (failures.length > 0) {
    const lines = failures.map((f) => `${f.image.ref} (${f.image.source}): ${errorChain(f.err)}`);
    throw new BuildError('BUILD_CAPTURE', `cannot capture ${failures.length} of ${found.length} image(s): ${lines.join('; ')}`, {
      cause: failures[0]!.err,
      hint: 'check the names and `sealos login` to their registries, or build with --save-image=false',
    });
  }
  const images = captured.filter((c): c is CapturedImage => c !== undefined);
  const listPath = join(dir, CAPTURE_LIST);
  const text = images.map((i) => `${i.ref}\t${i.stored}\t${i.digest}\t${i.source}`).join('\n');
  const list = `# reference\tstored as\tdigest\tfound in\n${text}\n`;
  // Rewritten only when it changes, so an unchanged context keeps its layer cache.
  if ((await readFile(listPath, 'utf8').catch(() => '')) !== list) await writeAtomic(listPath, list);
  return { images, dir, listPath };
}

async function captureOne(image: FoundImage, dir: string, o: CaptureOptions, reporter: Reporter): Promise<CapturedImage> {
  const ref = parseImageRef(image.ref);
  const src = await parseAnyLocation(image.from ?? `docker://${image.ref}`, o.registry).openSource();
  const dst = await new RegistryDirLocation(dir, image.ref).openDestination();
  const res = await copyImage(src, dst, {
    reporter,
    jobs: BLOBS_PER_IMAGE,
    platforms: ref.digest !== undefined ? 'all' : o.platform,
  });
  const name = registryDirName(ref);
  const stored = ref.tag !== undefined && ref.digest === undefined ? `${name}:${ref.tag}` : `${name}@${res.digest}`;
  reporter.emit({ kind: 'log', level: 'info', msg: `captured ${image.ref} as ${stored}` });
  return { ref: image.ref, stored, digest: res.digest, source: image.source };
}
