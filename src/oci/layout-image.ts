/** Source and destination for one image in an OCI layout (the store, or an `oci:DIR[:REF]` location). */
import { digestOf } from './digest.js';
import { OciError } from './errors.js';
import { REF_NAME, type OciLayout } from './layout.js';
import type { DestinationCaps, ImageDestination, ImageSource } from './location.js';
import { sniffManifestType, type Descriptor, type Digest, type Index, type RawManifest } from './spec.js';

/** Finds the index entry named `ref` (exact match), or the only entry when `ref` is undefined. */
export function findNamed(index: Index, ref: string | undefined, where: string): Descriptor {
  if (ref === undefined) {
    if (index.manifests.length === 1) return index.manifests[0]!;
    throw new OciError('IMAGE_UNKNOWN', `${where}: holds ${index.manifests.length} images; name one`, {
      hint: `add :NAME after the path; names: ${namesOf(index).join(', ') || 'none'}`,
    });
  }
  const found = index.manifests.find((m) => m.annotations?.[REF_NAME] === ref);
  if (found === undefined) throw new OciError('IMAGE_UNKNOWN', `${where}: no image named ${ref}`);
  return found;
}

export const namesOf = (index: Index): string[] =>
  index.manifests.flatMap((m) => (m.annotations?.[REF_NAME] !== undefined ? [m.annotations[REF_NAME]] : []));

/** Reads an image whose top-level descriptor is known. */
export class LayoutImageSource implements ImageSource {
  constructor(
    readonly name: string,
    private readonly layout: OciLayout,
    private readonly top: Descriptor,
  ) {}

  async manifest(digest?: Digest): Promise<RawManifest> {
    const bytes = await this.layout.readManifestBlob(digest ?? this.top.digest);
    return { bytes, mediaType: digest === undefined ? this.top.mediaType : sniffManifestType(bytes) };
  }

  blob(desc: Descriptor): Promise<AsyncIterable<Uint8Array>> {
    return this.layout.blob(desc);
  }

  async close(): Promise<void> {}
}

/** What the owner of a layout does when a destination in it writes, commits and closes. */
export interface LayoutHooks {
  /** Names the top-level descriptor (under whatever lock the owner of the layout holds). */
  readonly onCommit: (top: Descriptor) => Promise<void>;
  readonly onClose?: () => Promise<void>;
  /** Told of every blob this destination added, so an aborted operation can remove them. */
  readonly onWrite?: (digest: Digest) => void;
}

/** Writes blobs and manifests into a layout; `commit` hands the top-level descriptor to the owner. */
export class LayoutImageDestination implements ImageDestination {
  readonly caps: DestinationCaps = { concurrentPuts: true, acceptsIndex: true };
  private top: Descriptor | undefined;

  constructor(
    readonly name: string,
    private readonly layout: OciLayout,
    private readonly hooks: LayoutHooks,
  ) {}

  hasBlob(desc: Descriptor): Promise<boolean> {
    return this.layout.hasBlob(desc);
  }

  async putBlob(desc: Descriptor, body: AsyncIterable<Uint8Array>): Promise<void> {
    await this.layout.putBlob(desc, body);
    this.hooks.onWrite?.(desc.digest);
  }

  async putManifest(raw: RawManifest, instance?: Digest): Promise<void> {
    const digest = digestOf(raw.bytes);
    if (instance !== undefined && instance !== digest)
      throw new OciError('DIGEST_MISMATCH', `${this.name}: manifest ${instance} has digest ${digest}`);
    const desc: Descriptor = { mediaType: raw.mediaType, digest, size: raw.bytes.byteLength };
    if (!(await this.layout.hasBlob(desc))) {
      await this.layout.putBlob(desc, raw.bytes);
      this.hooks.onWrite?.(digest);
    }
    if (instance === undefined) this.top = desc;
  }

  async commit(): Promise<void> {
    if (this.top === undefined) throw new OciError('BAD_MANIFEST', `${this.name}: commit before the manifest was written`);
    await this.hooks.onCommit(this.top);
  }

  async close(): Promise<void> {
    await this.hooks.onClose?.();
  }
}

/** The index with `top` named `name`, replacing whatever held that name before. */
export function withName(index: Index, name: string, top: Descriptor): Index {
  const others = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== name);
  const entry: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.size, annotations: { [REF_NAME]: name } };
  return { ...index, manifests: [...others, entry] };
}
