/**
 * `oci-archive:FILE[:REF]`: an OCI image layout in one tar, as skopeo and buildah write it.
 * Reading indexes the tar and streams blobs by offset; writing streams blobs straight into the tar,
 * each once, and writes index.json last. One archive may hold many images.
 */
import { digestOf, hexOf } from './digest.js';
import { OciError } from './errors.js';
import { EMPTY_INDEX, REF_NAME } from './layout.js';
import { findNamed } from './layout-image.js';
import type { DestinationCaps, ImageDestination, ImageSource } from './location.js';
import { MAX_MANIFEST_BYTES, parseIndex, sniffManifestType, type Descriptor, type Digest, type Index, type RawManifest } from './spec.js';
import { TarFile } from './tar-file.js';
import { TarWriter } from './tar-writer.js';

/** The name another tool's index entry gives an image: ref.name, or containerd's full name (docker save 25+). */
const CONTAINERD_NAME = 'io.containerd.image.name';
export const nameInIndex = (d: Descriptor): string | undefined => d.annotations?.[CONTAINERD_NAME] ?? d.annotations?.[REF_NAME];

const blobEntry = (d: Digest): string => `blobs/sha256/${hexOf(d)}`;

/** An opened oci-archive (or any tar holding an OCI layout). */
export class OciArchiveReader {
  private constructor(
    readonly tar: TarFile,
    readonly index: Index,
  ) {}

  static async open(path: string): Promise<OciArchiveReader> {
    const tar = await TarFile.open(path);
    if (!tar.has('index.json') || !tar.has('oci-layout'))
      throw new OciError('BAD_ARCHIVE', `${path}: not an oci-archive (no oci-layout and index.json)`);
    return new OciArchiveReader(tar, parseIndex(await tar.read('index.json', MAX_MANIFEST_BYTES), `${path}: index.json`));
  }

  /** The image `ref` names (exact ref.name match), or the only image when `ref` is undefined. */
  source(ref: string | undefined): ImageSource {
    const top = findNamed(this.index, ref, `oci-archive:${this.tar.path}`);
    return this.sourceOf(top, `oci-archive:${this.tar.path}${ref !== undefined ? `:${ref}` : ''}`);
  }

  sourceOf(top: Descriptor, name: string): ImageSource {
    const tar = this.tar;
    return {
      name,
      async manifest(digest?: Digest): Promise<RawManifest> {
        const bytes = await tar.read(blobEntry(digest ?? top.digest), MAX_MANIFEST_BYTES);
        return { bytes, mediaType: digest === undefined ? top.mediaType : sniffManifestType(bytes) };
      },
      async blob(desc: Descriptor) {
        return tar.stream(blobEntry(desc.digest));
      },
      async close() {},
    };
  }
}

/** Writes several images into one oci-archive, sharing blobs. `finish` writes index.json and renames the file into place. */
export class OciArchiveWriter {
  private readonly written = new Set<Digest>();
  private readonly manifests: Descriptor[] = [];

  private constructor(private readonly tar: TarWriter) {}

  static async create(path: string): Promise<OciArchiveWriter> {
    const tar = await TarWriter.create(path);
    const w = new OciArchiveWriter(tar);
    try {
      await tar.addFile('oci-layout', 30, Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
      await tar.addDirectory('blobs');
      await tar.addDirectory('blobs/sha256');
    } catch (err) {
      await tar.abort();
      throw err;
    }
    return w;
  }

  /** A destination for one image, named `name` (a full reference) in index.json. */
  destination(name: string | undefined): ImageDestination {
    const w = this;
    let top: Descriptor | undefined;
    const caps: DestinationCaps = { concurrentPuts: false, acceptsIndex: true };
    return {
      name: `oci-archive:${this.tar.path}${name !== undefined ? `:${name}` : ''}`,
      caps,
      async hasBlob(desc) {
        return w.written.has(desc.digest);
      },
      async putBlob(desc, body) {
        await w.tar.addFile(blobEntry(desc.digest), desc.size, body);
        w.written.add(desc.digest);
      },
      async putManifest(raw, instance) {
        const digest = digestOf(raw.bytes);
        if (!w.written.has(digest)) {
          await w.tar.addFile(blobEntry(digest), raw.bytes.byteLength, raw.bytes);
          w.written.add(digest);
        }
        if (instance === undefined) top = { mediaType: raw.mediaType, digest, size: raw.bytes.byteLength };
      },
      async commit() {
        if (top === undefined) throw new OciError('BAD_MANIFEST', `${this.name}: commit before the manifest was written`);
        w.manifests.push(name === undefined ? top : { ...top, annotations: { [REF_NAME]: name } });
      },
      async close() {},
    };
  }

  async finish(): Promise<void> {
    const index: Index = { ...EMPTY_INDEX, manifests: this.manifests };
    const bytes = Buffer.from(JSON.stringify(index));
    await this.tar.addFile('index.json', bytes.byteLength, bytes);
    await this.tar.finish();
  }

  abort(): Promise<void> {
    return this.tar.abort();
  }
}
