/**
 * Archives as locations and as multi-image containers: the `oci-archive:` and `docker-archive:`
 * transports, one writer face for both formats, and format detection for `load`.
 */
import { open, rm } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { DockerArchiveReader, DockerArchiveWriter } from './docker-archive.js';
import { OciError } from './errors.js';
import { splitPathRef, type ImageDestination, type ImageLocation, type ImageSource, type Transport } from './location.js';
import { nameInIndex, OciArchiveReader, OciArchiveWriter } from './oci-archive.js';
import { tempName, writeStreamTo } from './atomic-file.js';
import { gunzipIfNeeded, isGzip } from './gzip.js';
import { TarFile } from './tar-file.js';

export type ArchiveFormat = 'oci-archive' | 'docker-archive';

/** Writes several images into one archive, sharing blobs; nothing appears at the path until `finish`. */
export interface ArchiveWriter {
  destination(name: string | undefined): ImageDestination;
  finish(): Promise<void>;
  abort(): Promise<void>;
}

export async function createArchiveWriter(format: ArchiveFormat, path: string): Promise<ArchiveWriter> {
  return format === 'oci-archive' ? OciArchiveWriter.create(path) : DockerArchiveWriter.create(path);
}

/** One image found in an archive. */
export interface ArchivedImage {
  /** The name the archive gives it, as written there; undefined when it has none. */
  readonly name: string | undefined;
  readonly openSource: () => Promise<ImageSource>;
}

/** Lists the images of an uncompressed archive of either format, telling them apart by content. */
export async function readArchive(path: string): Promise<{ format: ArchiveFormat; images: ArchivedImage[] }> {
  const tar = await TarFile.open(path);
  if (tar.has('index.json') && tar.has('oci-layout')) {
    const reader = await OciArchiveReader.open(path);
    return {
      format: 'oci-archive',
      images: reader.index.manifests.map((d, i) => ({
        name: nameInIndex(d),
        openSource: async () => reader.sourceOf(d, `oci-archive:${path}:@${i}`),
      })),
    };
  }
  if (tar.has('manifest.json')) {
    const reader = await DockerArchiveReader.open(path);
    return {
      format: 'docker-archive',
      images: reader.items.flatMap((item, i): ArchivedImage[] => {
        const tags = item.RepoTags ?? [];
        const open = () => reader.sourceOf(item, `docker-archive:${path}:@${i}`);
        return tags.length === 0 ? [{ name: undefined, openSource: open }] : tags.map((name) => ({ name, openSource: open }));
      }),
    };
  }
  throw new OciError('BAD_ARCHIVE', `${path}: unknown archive format (neither an OCI layout nor a docker save archive)`);
}

/**
 * Makes `input` (a file, or a stream such as stdin) an uncompressed tar file on disk: gzip is
 * decompressed and streams are spooled into `tmpDir`. `cleanup` removes whatever was created.
 */
export async function materializeArchive(
  input: string | AsyncIterable<Uint8Array>,
  tmpDir: string,
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const head = Buffer.alloc(2);
  let bytesRead = 0;
  if (typeof input === 'string') {
    const fh = await open(input, 'r').catch((err) => {
      throw new OciError('BAD_ARCHIVE', `${input}: cannot open`, { cause: err });
    });
    try {
      ({ bytesRead } = await fh.read(head, 0, 2, 0));
    } finally {
      await fh.close();
    }
    if (bytesRead === 0) throw new OciError('BAD_ARCHIVE', `${input}: empty file`);
    if (!isGzip(head)) return { path: input, cleanup: async () => {} };
  }
  const tmp = tempName(tmpDir, 'load');
  const cleanup = () => rm(tmp, { force: true });
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      const src = typeof input === 'string' ? createReadStream(input, { highWaterMark: 1 << 20 }) : input;
      await writeStreamTo(fh, gunzipIfNeeded(src));
    } finally {
      await fh.close();
    }
  } catch (err) {
    await cleanup();
    throw new OciError('BAD_ARCHIVE', `${typeof input === 'string' ? input : 'standard input'}: cannot read the archive`, { cause: err });
  }
  return { path: tmp, cleanup };
}

class ArchiveLocation implements ImageLocation {
  constructor(
    readonly transport: ArchiveFormat,
    readonly path: string,
    readonly ref: string | undefined,
  ) {}
  toString(): string {
    return `${this.transport}:${this.path}${this.ref !== undefined ? `:${this.ref}` : ''}`;
  }
  async openSource(): Promise<ImageSource> {
    if (this.transport === 'oci-archive') return (await OciArchiveReader.open(this.path)).source(this.ref);
    return (await DockerArchiveReader.open(this.path)).source(this.ref);
  }
  /** A one-image archive: committing the image finishes the file; closing without commit leaves nothing. */
  async openDestination(): Promise<ImageDestination> {
    const writer = await createArchiveWriter(this.transport, this.path);
    const inner = writer.destination(this.ref);
    return {
      name: inner.name,
      caps: inner.caps,
      hasBlob: (d) => inner.hasBlob(d),
      putBlob: (d, b) => inner.putBlob(d, b),
      putManifest: (r, i) => inner.putManifest(r, i),
      commit: async () => {
        await inner.commit();
        await writer.finish();
      },
      close: () => writer.abort(),
    };
  }
}

const archiveTransport = (name: ArchiveFormat): Transport => ({
  name,
  parse: (rest) => {
    const { path, ref } = splitPathRef(rest, name);
    return new ArchiveLocation(name, path, ref);
  },
});

export const ociArchiveTransport = archiveTransport('oci-archive');
export const dockerArchiveTransport = archiveTransport('docker-archive');
