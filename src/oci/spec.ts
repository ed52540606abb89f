/**
 * OCI image-spec and Docker v2 schema 2 types, with the JSON field names exactly,
 * and one parser per wire type: wire data never becomes a typed value by a bare cast.
 */
import { OciError } from './errors.js';

export type Digest = `sha256:${string}` & { readonly __brand: 'Digest' };

/** Checks the algorithm and the hex length. */
export function parseDigest(s: string): Digest {
  if (!/^sha256:[0-9a-f]{64}$/.test(s)) throw new OciError('BAD_DIGEST', `"${s}" is not a sha256 digest`);
  return s as Digest;
}

export const MediaType = {
  OciLayout: 'application/vnd.oci.layout.header.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export const isIndex = (m: string | undefined): boolean => m === MediaType.OciIndex || m === MediaType.DockerList;
export const isManifest = (m: string | undefined): boolean =>
  m === MediaType.OciManifest || m === MediaType.DockerManifest;

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
  readonly variant?: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
  readonly artifactType?: string;
}

/** An image manifest: OCI or Docker v2 schema 2 (same shape). */
export interface Manifest {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** An image index or Docker manifest list. */
export interface Index {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageConfigBody {
  readonly User?: string;
  readonly ExposedPorts?: Readonly<Record<string, object>>;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[] | null;
  readonly Cmd?: readonly string[] | null;
  readonly Volumes?: Readonly<Record<string, object>>;
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>>;
  readonly StopSignal?: string;
  readonly Shell?: readonly string[];
}

export interface History {
  readonly created?: string;
  readonly created_by?: string;
  readonly author?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

/** The image config blob (OCI image config, compatible with Docker's). */
export interface ImageConfig {
  readonly created?: string;
  readonly author?: string;
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
  readonly config?: ImageConfigBody;
  readonly rootfs: { readonly type: 'layers'; readonly diff_ids: readonly Digest[] };
  readonly history?: readonly History[];
}

/** A manifest or index as bytes, with the media type it travels under. The bytes are what digests cover. */
export interface RawManifest {
  readonly bytes: Uint8Array;
  readonly mediaType: string;
}

/** Manifests, configs and index.json are read with this cap, as containers/image does. */
export const MAX_MANIFEST_BYTES = 4 << 20;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJson(bytes: Uint8Array | string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new OciError('BAD_MANIFEST', `${what}: not valid JSON`, { cause: err });
  }
  if (!isObject(v)) throw new OciError('BAD_MANIFEST', `${what}: not a JSON object`);
  return v;
}

function parsePlatform(v: unknown, what: string): Platform {
  if (!isObject(v) || typeof v.architecture !== 'string' || typeof v.os !== 'string')
    throw new OciError('BAD_MANIFEST', `${what}: platform needs "architecture" and "os"`);
  return v as unknown as Platform;
}

export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw new OciError('BAD_MANIFEST', `${what}: not an object`);
  if (typeof v.mediaType !== 'string') throw new OciError('BAD_MANIFEST', `${what}: "mediaType" missing`);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0)
    throw new OciError('BAD_MANIFEST', `${what}: "size" must be a non-negative integer`);
  if (typeof v.digest !== 'string') throw new OciError('BAD_MANIFEST', `${what}: "digest" missing`);
  parseDigest(v.digest);
  if (v.platform !== undefined) parsePlatform(v.platform, what);
  if (v.annotations !== undefined && !isObject(v.annotations))
    throw new OciError('BAD_MANIFEST', `${what}: "annotations" must be an object`);
  return v as unknown as Descriptor;
}

/** The media type a manifest declares, or one inferred from its shape (OCI allows it to be absent). */
export function sniffManifestType(bytes: Uint8Array): string {
  const v = parseJson(bytes, 'manifest');
  if (typeof v.mediaType === 'string') return v.mediaType;
  if (Array.isArray(v.manifests)) return MediaType.OciIndex;
  if (isObject(v.config)) return MediaType.OciManifest;
  throw new OciError('BAD_MANIFEST', 'manifest: neither an image manifest nor an index');
}

export function parseManifest(bytes: Uint8Array | string, what = 'manifest'): Manifest {
  const v = parseJson(bytes, what);
  if (v.schemaVersion !== 2) throw new OciError('BAD_MANIFEST', `${what}: schemaVersion must be 2`);
  if (v.mediaType !== undefined && !isManifest(v.mediaType as string))
    throw new OciError('BAD_MANIFEST', `${what}: media type ${String(v.mediaType)} is not an image manifest`);
  parseDescriptor(v.config, `${what}: config`);
  if (!Array.isArray(v.layers)) throw new OciError('BAD_MANIFEST', `${what}: "layers" must be an array`);
  v.layers.forEach((l, i) => parseDescriptor(l, `${what}: layers[${i}]`));
  return v as unknown as Manifest;
}

export function parseIndex(bytes: Uint8Array | string, what = 'index'): Index {
  const v = parseJson(bytes, what);
  if (v.schemaVersion !== 2) throw new OciError('BAD_MANIFEST', `${what}: schemaVersion must be 2`);
  if (v.mediaType !== undefined && !isIndex(v.mediaType as string))
    throw new OciError('BAD_MANIFEST', `${what}: media type ${String(v.mediaType)} is not an index`);
  if (!Array.isArray(v.manifests)) throw new OciError('BAD_MANIFEST', `${what}: "manifests" must be an array`);
  v.manifests.forEach((m, i) => parseDescriptor(m, `${what}: manifests[${i}]`));
  return v as unknown as Index;
}

export function parseImageConfig(bytes: Uint8Array | string, what = 'image config'): ImageConfig {
  const v = parseJson(bytes, what);
  if (typeof v.architecture !== 'string' || typeof v.os !== 'string')
    throw new OciError('BAD_MANIFEST', `${what}: "architecture" and "os" are required`);
  if (!isObject(v.rootfs) || !Array.isArray(v.rootfs.diff_ids))
    throw new OciError('BAD_MANIFEST', `${what}: "rootfs.diff_ids" is required`);
  v.rootfs.diff_ids.forEach((d) => parseDigest(String(d)));
  if (v.config !== undefined && v.config !== null && !isObject(v.config))
    throw new OciError('BAD_MANIFEST', `${what}: "config" must be an object`);
  return v as unknown as ImageConfig;
}

/** The layer media types whose content is a (possibly compressed) tar; Docker and OCI alike. */
export function isLayer(mediaType: string): boolean {
  return mediaType.includes('.layer.') || mediaType.includes('rootfs.diff.tar');
}
