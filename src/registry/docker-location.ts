/** The `docker://REF` location: an image in a registry, as source and as destination of the copy engine. */
import {
  digestOf,
  formatImageRef,
  OciError,
  parseImageRef,
  parseIndex,
  parseManifest,
  isIndex,
  sniffManifestType,
  type Descriptor,
  type DestinationCaps,
  type Digest,
  type ImageDestination,
  type ImageLocation,
  type ImageRef,
  type ImageSource,
  type RawManifest,
} from '../oci/index.js';
import type { RegistryClient, UploadSession } from './client.js';
import { RegistryError } from './errors.js';

export class DockerImageSource implements ImageSource {
  readonly name: string;
  constructor(
    private readonly client: RegistryClient,
    readonly ref: ImageRef,
  ) {
    this.name = `docker://${formatImageRef(ref)}`;
  }

  async manifest(digest?: Digest): Promise<RawManifest> {
    const reference = digest ?? this.ref.digest ?? this.ref.tag ?? 'latest';
    const what = `pulling ${formatImageRef(this.ref)}`;
    const m = await this.client.getManifest(this.ref.path, reference, what);
    const want = digest ?? this.ref.digest;
    if (want !== undefined && m.digest !== want)
      throw new OciError('DIGEST_MISMATCH', `${this.name}: manifest ${want} has digest ${m.digest}`);
    const mediaType = m.mediaType !== '' && m.mediaType !== 'application/json' ? m.mediaType : sniffManifestType(m.bytes);
    this.rememberBlobs(m.bytes, mediaType);
    return { bytes: m.bytes, mediaType };
  }

  /** Notes every blob a manifest names as held by this repository, so a push to the same registry can mount it. */
  private rememberBlobs(bytes: Uint8Array, mediaType: string): void {
    try {
      if (isIndex(mediaType)) return;
      const m = parseManifest(bytes);
      for (const d of [m.config, ...m.layers]) this.client.remember(this.ref.path, d.digest);
    } catch {
      // The engine parses it again and reports what is wrong.
    }
  }

  async blob(desc: Descriptor): Promise<AsyncIterable<Uint8Array>> {
    return this.client.blob(this.ref.path, desc);
  }

  async close(): Promise<void> {}
}

export class DockerImageDestination implements ImageDestination {
  readonly name: string;
  readonly caps: DestinationCaps = { concurrentPuts: true, acceptsIndex: true };
  /** Upload sessions a failed mount started, used by the following putBlob. */
  private readonly sessions = new Map<Digest, UploadSession>();
  private pushedTop = false;

  constructor(
    private readonly client: RegistryClient,
    readonly ref: ImageRef,
  ) {
    this.name = `docker://${formatImageRef(ref)}`;
  }

  private get repo(): string {
    return this.ref.path;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    if (await this.client.hasBlob(this.repo, desc, true)) return true;
    for (const from of this.client.holders(desc.digest, this.repo)) {
      const r = await this.client.mount(this.repo, desc.digest, from).catch(() => undefined);
      if (r === true) return true;
      if (r !== undefined) {
        // The registry started an upload instead of mounting: keep it for putBlob, drop any earlier one.
        const old = this.sessions.get(desc.digest);
        if (old !== undefined) await this.client.cancelUpload(this.repo, old);
        this.sessions.set(desc.digest, r);
      }
    }
    return false;
  }

  async putBlob(desc: Descriptor, body: AsyncIterable<Uint8Array>): Promise<void> {
    const session = this.sessions.get(desc.digest);
    this.sessions.delete(desc.digest);
    await this.client.putBlob(this.repo, desc, body, session);
  }

  async putManifest(raw: RawManifest, instance?: Digest): Promise<void> {
    const digest = digestOf(raw.bytes);
    if (instance !== undefined && instance !== digest)
      throw new OciError('DIGEST_MISMATCH', `${this.name}: manifest ${instance} has digest ${digest}`);
    const what = `pushing ${formatImageRef(this.ref)}`;
    if (isIndex(raw.mediaType)) parseIndex(raw.bytes, `${this.name}: index`);
    if (instance !== undefined) {
      await this.client.putManifest(this.repo, digest, raw, what);
      return;
    }
    if (this.ref.digest !== undefined && this.ref.digest !== digest)
      throw new OciError('DIGEST_MISMATCH', `${this.name}: the image has digest ${digest}, not the one the reference names`);
    await this.client.putManifest(this.repo, this.ref.tag ?? digest, raw, what);
    this.pushedTop = true;
  }

  async commit(): Promise<void> {
    if (!this.pushedTop) throw new RegistryError('REGISTRY_PROTOCOL', `${this.name}: commit before the manifest was pushed`);
  }

  async close(): Promise<void> {
    const left = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(left.map((s) => this.client.cancelUpload(this.repo, s)));
  }
}

/** Parses what follows `docker:` (`//host/repo:tag`) into an ImageRef. */
export function parseDockerRest(rest: string): ImageRef {
  if (!rest.startsWith('//'))
    throw new OciError('BAD_LOCATION', `docker:${rest}: expected docker://REGISTRY/REPOSITORY[:TAG|@DIGEST]`);
  return parseImageRef(rest.slice(2));
}

/** A parsed `docker://REF`. */
export class DockerLocation implements ImageLocation {
  readonly transport = 'docker';
  constructor(
    readonly ref: ImageRef,
    private readonly client: () => Promise<RegistryClient>,
  ) {}
  toString(): string {
    return `docker://${formatImageRef(this.ref)}`;
  }
  async openSource(): Promise<ImageSource> {
    return new DockerImageSource(await this.client(), this.ref);
  }
  async openDestination(): Promise<ImageDestination> {
    return new DockerImageDestination(await this.client(), this.ref);
  }
}
