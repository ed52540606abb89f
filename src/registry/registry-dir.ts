/**
 * A registry directory: docker-distribution's filesystem storage layout, as sealos keeps it in a cluster
 * image's `registry/` dir and serves it with `registry serve`. Written and read directly, without a registry
 * process. Repository names have their registry host stripped, as sealos does
 * (`registry.k8s.io/kube-apiserver:v1.25.0` -> `kube-apiserver`, `nginx` -> `library/nginx`).
 *
 *   docker/registry/v2/blobs/sha256/<hex[0:2]>/<hex>/data
 *   docker/registry/v2/repositories/<name>/_layers/sha256/<hex>/link                  (configs, layers)
 *   docker/registry/v2/repositories/<name>/_manifests/revisions/sha256/<hex>/link     (every manifest, index children too)
 *   docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
 *   docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/index/sha256/<hex>/link
 *
 * A link file holds `sha256:<hex>` with no newline. Every file is written to a temp name beside it and
 * renamed, so a crash leaves no half blob or link; blobs are shared by every repository of the directory.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  digestOf,
  formatImageRef,
  hexOf,
  MAX_MANIFEST_BYTES,
  OciError,
  parseDigest,
  parseImageRef,
  sniffManifestType,
  writeAtomic,
  type Descriptor,
  type DestinationCaps,
  type Digest,
  type ImageDestination,
  type ImageLocation,
  type ImageRef,
  type ImageSource,
  type RawManifest,
} from '../oci/index.js';
import { RegistryError } from './errors.js';

/**
 * A registry directory is build output (a failed build writes it again), so its files are renamed into
 * place whole but not fsynced: one fsync per blob and per link file made capturing 20 images about 15% slower.
 */
const NOT_DURABLE = { sync: false } as const;

/** The repository name sealos stores an image under: the reference's path without its registry host. */
export const registryDirName = (ref: ImageRef): string => ref.path;

/** One tagged image found in a registry directory. */
export interface RegistryDirImage {
  /** Repository name inside the directory (`library/nginx`). */
  readonly name: string;
  readonly tag: string;
  readonly digest: Digest;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function listDir(path: string): Promise<string[]> {
  try {
    return (await readdir(path, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export class RegistryDir {
  /** `root` is the storage root directory (the `rootdirectory` a registry's filesystem driver is given). */
  constructor(readonly root: string) {}

  get v2(): string {
    return join(this.root, 'docker', 'registry', 'v2');
  }

  blobData(d: Digest): string {
    const hex = hexOf(d);
    return join(this.v2, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
  }

  private repoDir(name: string): string {
    return join(this.v2, 'repositories', ...name.split('/'));
  }

  layerLink(name: string, d: Digest): string {
    return join(this.repoDir(name), '_layers', 'sha256', hexOf(d), 'link');
  }

  revisionLink(name: string, d: Digest): string {
    return join(this.repoDir(name), '_manifests', 'revisions', 'sha256', hexOf(d), 'link');
  }

  private tagDir(name: string, tag: string): string {
    return join(this.repoDir(name), '_manifests', 'tags', tag);
  }

  /** True when the blob's data file is present with the descriptor's size. */
  async hasBlobData(desc: Pick<Descriptor, 'digest' | 'size'>): Promise<boolean> {
    try {
      return (await stat(this.blobData(desc.digest))).size === desc.size;
    } catch {
      return false;
    }
  }

  async putBlobData(digest: Digest, body: AsyncIterable<Uint8Array> | Uint8Array): Promise<void> {
    await writeAtomic(this.blobData(digest), body, NOT_DURABLE);
  }

  /** Writes a link file unless it already holds `digest`. */
  async link(path: string, digest: Digest): Promise<void> {
    if ((await readFile(path, 'utf8').catch(() => '')) === digest) return;
    await writeAtomic(path, digest, NOT_DURABLE);
  }

  /** The digest a link file holds, or undefined when there is none. */
  async readLink(path: string): Promise<Digest | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      return undefined;
    }
    try {
      return parseDigest(text.trim());
    } catch {
      throw new RegistryError('REGISTRY_DIR', `${path}: not a digest link`);
    }
  }

  async hasRepository(name: string): Promise<boolean> {
    return exists(join(this.repoDir(name), '_manifests'));
  }

  /** The digest a tag points at. */
  tagDigest(name: string, tag: string): Promise<Digest | undefined> {
    return this.readLink(join(this.tagDir(name, tag), 'current', 'link'));
  }

  /** Points `tag` at `digest` (the index entry first, so `current` never names an unindexed revision). */
  async tag(name: string, tag: string, digest: Digest): Promise<void> {
    await this.link(join(this.tagDir(name, tag), 'index', 'sha256', hexOf(digest), 'link'), digest);
    await this.link(join(this.tagDir(name, tag), 'current', 'link'), digest);
  }

  /** Every repository name (directories holding `_manifests`), sorted. */
  async repositories(): Promise<string[]> {
    const found: string[] = [];
    const walk = async (dir: string, prefix: string[]): Promise<void> => {
      const entries = await listDir(dir);
      if (entries.includes('_manifests')) found.push(prefix.join('/'));
      for (const e of entries) if (!e.startsWith('_')) await walk(join(dir, e), [...prefix, e]);
    };
    await walk(join(this.v2, 'repositories'), []);
    return found.sort();
  }

  async tags(name: string): Promise<string[]> {
    return (await listDir(join(this.repoDir(name), '_manifests', 'tags'))).sort();
  }

  /** Every tagged image in the directory. */
  async list(): Promise<RegistryDirImage[]> {
    const out: RegistryDirImage[] = [];
    for (const name of await this.repositories())
      for (const tag of await this.tags(name)) {
        const digest = await this.tagDigest(name, tag);
        if (digest !== undefined) out.push({ name, tag, digest });
      }
    return out;
  }

  /** A manifest's bytes, checked against its digest. */
  async readManifest(digest: Digest, where: string): Promise<Buffer> {
    const path = this.blobData(digest);
    let bytes: Buffer;
    try {
      const s = await stat(path);
      if (s.size > MAX_MANIFEST_BYTES) throw new OciError('MANIFEST_TOO_BIG', `${where}: manifest ${digest} larger than ${MAX_MANIFEST_BYTES} bytes`);
      bytes = await readFile(path);
    } catch (err) {
      if (err instanceof OciError) throw err;
      throw new RegistryError('REGISTRY_BLOB_UNKNOWN', `${where}: manifest ${digest} is missing (${path})`, { cause: err });
    }
    if (digestOf(bytes) !== digest) throw new OciError('DIGEST_MISMATCH', `${where}: manifest ${digest} has digest ${digestOf(bytes)}`);
    return bytes;
  }
}

/** Lists the tagged images of the registry directory at `root`. */
export function listRegistryDir(root: string): Promise<RegistryDirImage[]> {
  return new RegistryDir(root).list();
}

class RegistryDirSource implements ImageSource {
  constructor(
    readonly name: string,
    private readonly dir: RegistryDir,
    private readonly repo: string,
    private readonly top: Digest,
  ) {}

  async manifest(digest?: Digest): Promise<RawManifest> {
    const d = digest ?? this.top;
    if (digest !== undefined && (await this.dir.readLink(this.dir.revisionLink(this.repo, d))) === undefined)
      throw new RegistryError('REGISTRY_IMAGE_UNKNOWN', `${this.name}: no manifest ${d} in repository ${this.repo}`);
    const bytes = await this.dir.readManifest(d, this.name);
    return { bytes, mediaType: sniffManifestType(bytes) };
  }

  async blob(desc: Descriptor): Promise<AsyncIterable<Uint8Array>> {
    const path = this.dir.blobData(desc.digest);
    await stat(path).catch((err: unknown) => {
      throw new RegistryError('REGISTRY_BLOB_UNKNOWN', `${this.name}: blob ${desc.digest} is missing`, { cause: err });
    });
    return createReadStream(path, { highWaterMark: 1 << 20 });
  }

  async close(): Promise<void> {}
}

class RegistryDirDestination implements ImageDestination {
  readonly caps: DestinationCaps = { concurrentPuts: true, acceptsIndex: true };
  private top: Digest | undefined;

  constructor(
    readonly name: string,
    private readonly dir: RegistryDir,
    private readonly repo: string,
    private readonly ref: ImageRef,
  ) {}

  async hasBlob(desc: Descriptor): Promise<boolean> {
    if (!(await this.dir.hasBlobData(desc))) return false;
    await this.dir.link(this.dir.layerLink(this.repo, desc.digest), desc.digest);
    return true;
  }

  async putBlob(desc: Descriptor, body: AsyncIterable<Uint8Array>): Promise<void> {
    await this.dir.putBlobData(desc.digest, body);
    await this.dir.link(this.dir.layerLink(this.repo, desc.digest), desc.digest);
  }

  async putManifest(raw: RawManifest, instance?: Digest): Promise<void> {
    const digest = digestOf(raw.bytes);
    if (instance !== undefined && instance !== digest)
      throw new OciError('DIGEST_MISMATCH', `${this.name}: manifest ${instance} has digest ${digest}`);
    if (!(await this.dir.hasBlobData({ digest, size: raw.bytes.byteLength }))) await this.dir.putBlobData(digest, raw.bytes);
    await this.dir.link(this.dir.revisionLink(this.repo, digest), digest);
    if (instance === undefined) this.top = digest;
  }

  async commit(): Promise<void> {
    if (this.top === undefined) throw new OciError('BAD_MANIFEST', `${this.name}: commit before the manifest was written`);
    if (this.ref.digest !== undefined && this.ref.digest !== this.top)
      throw new OciError('DIGEST_MISMATCH', `${this.name}: the image has digest ${this.top}, not the one the reference names`);
    if (this.ref.tag !== undefined) await this.dir.tag(this.repo, this.ref.tag, this.top);
  }

  async close(): Promise<void> {}
}

/**
 * A parsed `registry-dir:DIR[:REF]`. As a destination REF is required and names the repository and tag
 * (host stripped). As a source REF may be a full reference or a stored name (`kube-apiserver:v1.25.0`);
 * without REF the directory must hold exactly one tagged image.
 */
export class RegistryDirLocation implements ImageLocation {
  readonly transport = 'registry-dir';
  readonly ref: ImageRef | undefined;

  constructor(
    readonly dir: string,
    readonly rawRef: string | undefined,
  ) {
    this.ref = rawRef === undefined ? undefined : parseImageRef(rawRef);
  }

  toString(): string {
    return `registry-dir:${this.dir}${this.rawRef !== undefined ? `:${this.rawRef}` : ''}`;
  }

  async openSource(): Promise<ImageSource> {
    const dir = new RegistryDir(resolve(this.dir));
    const here = String(this);
    if (this.ref === undefined) {
      const all = await dir.list();
      if (all.length !== 1)
        throw new RegistryError('REGISTRY_IMAGE_UNKNOWN', `${here}: holds ${all.length} images; name one`, {
          hint: `add :NAME:TAG after the directory; images: ${all.map((i) => `${i.name}:${i.tag}`).join(', ') || 'none'}`,
        });
      const only = all[0]!;
      return new RegistryDirSource(here, dir, only.name, only.digest);
    }
    const ref = this.ref;
    const names = [registryDirName(ref)];
    // A stored name typed bare (`kube-apiserver:v1`) parses as docker.io/library/...: try it as written too.
    if (ref.domain === 'docker.io' && ref.path.startsWith('library/') && !/(^|\/)library\//.test(ref.raw)) names.push(ref.path.slice('library/'.length));
    for (const name of names) {
      if (!(await dir.hasRepository(name))) continue;
      let digest: Digest | undefined;
      if (ref.digest !== undefined) {
        digest = (await dir.readLink(dir.revisionLink(name, ref.digest))) !== undefined ? ref.digest : undefined;
      } else digest = await dir.tagDigest(name, ref.tag ?? 'latest');
      if (digest !== undefined) return new RegistryDirSource(here, dir, name, digest);
    }
    throw new RegistryError('REGISTRY_IMAGE_UNKNOWN', `${here}: no image ${formatImageRef(ref)} (looked for ${names.map((n) => `${n}:${ref.tag ?? ref.digest}`).join(', ')})`);
  }

  async openDestination(): Promise<ImageDestination> {
    if (this.ref === undefined)
      throw new OciError('BAD_LOCATION', `${String(this)}: a registry directory destination needs a name`, {
        hint: 'write registry-dir:DIR:NAME:TAG, e.g. registry-dir:registry:registry.k8s.io/pause:3.9',
      });
    return new RegistryDirDestination(String(this), new RegistryDir(resolve(this.dir)), registryDirName(this.ref), this.ref);
  }
}
