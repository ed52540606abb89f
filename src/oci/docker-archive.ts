/**
 * `docker-archive:FILE[:REF]`: the `docker save` format (manifest.json, `<id>.json` configs,
 * uncompressed `<diff_id>.tar` layers), several images per file. Reading serves a Docker v2 schema 2
 * manifest generated as containers/image does; writing decompresses gzip layers as the format requires.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeStreamTo } from './atomic-file.js';
import { gunzip, isGzip, peek } from './gzip.js';
import { digestOf, hexOf } from './digest.js';
import { OciError } from './errors.js';
import type { DestinationCaps, ImageDestination, ImageSource } from './location.js';
import { formatImageRef, parseImageRef } from './reference.js';
import {
  MAX_MANIFEST_BYTES,
  MediaType,
  parseDigest,
  parseImageConfig,
  parseManifest,
  type Descriptor,
  type Digest,
  type RawManifest,
} from './spec.js';
import { TarFile } from './tar-file.js';
import { TarWriter } from './tar-writer.js';

/** One element of manifest.json. */
export interface DockerArchiveItem {
  readonly Config: string;
  readonly RepoTags: readonly string[] | null;
  readonly Layers: readonly string[];
}

function parseArchiveManifest(bytes: Buffer, path: string): DockerArchiveItem[] {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new OciError('BAD_ARCHIVE', `${path}: manifest.json is not valid JSON`, { cause: err });
  }
  const ok =
    Array.isArray(v) &&
    v.every(
      (i) =>
        typeof i === 'object' && i !== null && typeof i.Config === 'string' && Array.isArray(i.Layers) &&
        i.Layers.every((l: unknown) => typeof l === 'string') &&
        (i.RepoTags === null || i.RepoTags === undefined || (Array.isArray(i.RepoTags) && i.RepoTags.every((t: unknown) => typeof t === 'string'))),
    );
  if (!ok) throw new OciError('BAD_ARCHIVE', `${path}: manifest.json is not a docker-archive manifest`);
  return v as DockerArchiveItem[];
}

/** The v2s2 manifest bytes for a config and layers, field for field as containers/image marshals them. */
export function dockerManifestBytes(config: Descriptor, layers: readonly Descriptor[]): Buffer {
  const d = (x: Descriptor) => ({ mediaType: x.mediaType, size: x.size, digest: x.digest });
  return Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config: d(config), layers: layers.map(d) }),
  );
}

async function isGzipEntry(tar: TarFile, name: string): Promise<boolean> {
  for await (const chunk of tar.stream(name)) return isGzip(chunk);
  return false;
}

/** Yields `src` unchanged while feeding `hash`. */
async function* tee(src: AsyncIterable<Uint8Array>, hash: ReturnType<typeof createHash>): AsyncGenerator<Uint8Array> {
  for await (const chunk of src) {
    hash.update(chunk);
    yield chunk;
  }
}

async function sha256Of(body: AsyncIterable<Uint8Array>): Promise<Digest> {
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk);
  return parseDigest(`sha256:${hash.digest('hex')}`);
}

export class DockerArchiveReader {
  private constructor(
    readonly tar: TarFile,
    readonly items: readonly DockerArchiveItem[],
  ) {}

  static async open(path: string): Promise<DockerArchiveReader> {
    const tar = await TarFile.open(path);
    if (!tar.has('manifest.json')) throw new OciError('BAD_ARCHIVE', `${path}: not a docker-archive (no manifest.json)`);
    return new DockerArchiveReader(tar, parseArchiveManifest(await tar.read('manifest.json', MAX_MANIFEST_BYTES), path));
  }

  /** The item named `ref` (normalized match against RepoTags), `@N` for the N-th, or the only one. */
  find(ref: string | undefined): DockerArchiveItem {
    const where = `docker-archive:${this.tar.path}`;
    if (ref === undefined) {
      if (this.items.length === 1) return this.items[0]!;
      throw new OciError('IMAGE_UNKNOWN', `${where}: holds ${this.items.length} images; name one`);
    }
    if (/^@\d+$/.test(ref)) {
      const item = this.items[Number(ref.slice(1))];
      if (item === undefined) throw new OciError('IMAGE_UNKNOWN', `${where}: no image ${ref}`);
      return item;
    }
    const want = formatImageRef(parseImageRef(ref));
    const item = this.items.find((i) => (i.RepoTags ?? []).some((t) => formatImageRef(parseImageRef(t)) === want));
    if (item === undefined) throw new OciError('IMAGE_UNKNOWN', `${where}: no image named ${ref}`);
    return item;
  }

  source(ref: string | undefined): Promise<ImageSource> {
    return this.sourceOf(this.find(ref), `docker-archive:${this.tar.path}${ref !== undefined ? `:${ref}` : ''}`);
  }

  async sourceOf(item: DockerArchiveItem, name: string): Promise<ImageSource> {
    const tar = this.tar;
    const configBytes = await tar.read(item.Config, MAX_MANIFEST_BYTES);
    const config = parseImageConfig(configBytes, `${tar.path}: ${item.Config}`);
    if (config.rootfs.diff_ids.length !== item.Layers.length)
      throw new OciError('BAD_ARCHIVE', `${tar.path}: ${item.Config} lists ${config.rootfs.diff_ids.length} layers, manifest.json ${item.Layers.length}`);
    const configDesc: Descriptor = { mediaType: MediaType.DockerConfig, size: configBytes.byteLength, digest: digestOf(configBytes) };
    const entryOf = new Map<Digest, string>([[configDesc.digest, item.Config]]);
    const layers: Descriptor[] = [];
    for (const [i, file] of item.Layers.entries()) {
      // An uncompressed layer's digest is its diff_id; a compressed one (rare) must be hashed.
      const digest = (await isGzipEntry(tar, file)) ? await sha256Of(tar.stream(file)) : config.rootfs.diff_ids[i]!;
      layers.push({ mediaType: MediaType.DockerLayer, size: tar.entry(file).size, digest });
      entryOf.set(digest, file);
    }
    const manifest = dockerManifestBytes(configDesc, layers);
    return {
      name,
      async manifest(digest?: Digest): Promise<RawManifest> {
        if (digest !== undefined && digest !== digestOf(manifest))
          throw new OciError('IMAGE_UNKNOWN', `${name}: has no manifest ${digest}`);
        return { bytes: manifest, mediaType: MediaType.DockerManifest };
      },
      async blob(desc: Descriptor) {
        const file = entryOf.get(desc.digest);
        if (file === undefined) throw new OciError('BLOB_UNKNOWN', `${name}: no blob ${desc.digest}`);
        return tar.stream(file);
      },
      async close() {},
    };
  }
}

const isConfigType = (m: string): boolean => m === MediaType.DockerConfig || m === MediaType.OciConfig;

/** Writes several images into one docker-archive; `finish` writes manifest.json and renames the file into place. */
export class DockerArchiveWriter {
  /** Blob digest (as the source knows it) -> file name in the archive. */
  private readonly fileOf = new Map<Digest, string>();
  private readonly items: DockerArchiveItem[] = [];

  private constructor(
    private readonly path: string,
    private readonly tar: TarWriter,
  ) {}

  static async create(path: string): Promise<DockerArchiveWriter> {
    return new DockerArchiveWriter(path, await TarWriter.create(path));
  }

  /** Writes a layer uncompressed: gzip input goes through a temp file to learn its size and diff_id. */
  private async putLayer(desc: Descriptor, body: AsyncIterable<Uint8Array>): Promise<void> {
    const { head, rest } = await peek(body);
    if (!isGzip(head)) {
      const file = `${hexOf(desc.digest)}.tar`;
      await this.tar.addFile(file, desc.size, rest);
      this.fileOf.set(desc.digest, file);
      return;
    }
    const tmp = join(dirname(this.path), `.${randomUUID()}.sealos-layer`);
    try {
      const hash = createHash('sha256');
      const fh = await open(tmp, 'wx', 0o600);
      let size: number;
      try {
        size = await writeStreamTo(fh, tee(gunzip(rest), hash));
      } finally {
        await fh.close();
      }
      const file = `${hash.digest('hex')}.tar`;
      await this.tar.addFile(file, size, createReadStream(tmp, { highWaterMark: 1 << 20 }));
      this.fileOf.set(desc.digest, file);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** A destination for one single-platform image, tagged `name` (a full reference) in manifest.json. */
  destination(name: string | undefined): ImageDestination {
    const w = this;
    let item: DockerArchiveItem | undefined;
    const caps: DestinationCaps = { concurrentPuts: false, acceptsIndex: false };
    return {
      name: `docker-archive:${this.path}${name !== undefined ? `:${name}` : ''}`,
      caps,
      async hasBlob(desc) {
        return w.fileOf.has(desc.digest);
      },
      async putBlob(desc, body) {
        if (isConfigType(desc.mediaType)) {
          const file = `${hexOf(desc.digest)}.json`;
          await w.tar.addFile(file, desc.size, body);
          w.fileOf.set(desc.digest, file);
        } else if (desc.mediaType.includes('zstd')) {
          throw new OciError('BAD_ARCHIVE', `${this.name}: zstd layers cannot go into a docker-archive`, { hint: 'use --format oci-archive' });
        } else {
          await w.putLayer(desc, body);
        }
      },
      async putManifest(raw, instance) {
        if (instance !== undefined) throw new OciError('BAD_MANIFEST', `${this.name}: a docker-archive holds no index`);
        const m = parseManifest(raw.bytes, `${this.name}: manifest`);
        const file = (d: Descriptor) => {
          const f = w.fileOf.get(d.digest);
          if (f === undefined) throw new OciError('BLOB_UNKNOWN', `${this.name}: blob ${d.digest} was not written`);
          return f;
        };
        item = { Config: file(m.config), RepoTags: name !== undefined ? [name] : [], Layers: m.layers.map(file) };
      },
      async commit() {
        if (item === undefined) throw new OciError('BAD_MANIFEST', `${this.name}: commit before the manifest was written`);
        w.items.push(item);
      },
      async close() {},
    };
  }

  async finish(): Promise<void> {
    const bytes = Buffer.from(JSON.stringify(this.items));
    await this.tar.addFile('manifest.json', bytes.byteLength, bytes);
    await this.tar.finish();
  }

  abort(): Promise<void> {
    return this.tar.abort();
  }
}
