/**
 * Images a build reads: FROM bases and `COPY --from=IMAGE` sources. Looked up in the local store
 * first, then pulled from their registry into the build's staging area (so a failed build leaves the
 * store as it was). Blobs the store already holds are not fetched again.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import {
  choosePlatform,
  copyImage,
  formatPlatform,
  isIndex,
  LayoutImageDestination,
  MediaType,
  OciLayout,
  parseImageConfig,
  parseIndex,
  parseManifest,
  type Descriptor,
  type Digest,
  type ImageConfig,
  type ImageDestination,
  type Platform,
  type Store,
} from '../oci/index.js';
import { parseAnyLocation, type RegistryLocationContext } from '../registry/index.js';
import { silentReporter, type Reporter } from '../report.js';
import { BuildError } from './errors.js';
import { decompressed, extractTar, forEachTarEntry, safeName, type MetaTable } from './extract.js';
import type { PlannedEntry } from './sources.js';

/** A layer of an image being built: where its compressed bytes are now. */
export interface LayerRef {
  readonly desc: Descriptor;
  readonly diffId: Digest;
  /** A store blob, or a file in the staging area (moved into the store on commit). */
  readonly path: string;
  readonly staged: boolean;
}

export interface ResolvedImage {
  /** The full reference. */
  readonly name: string;
  /** Digest of the image manifest used (the platform's child for an index). */
  readonly digest: Digest;
  readonly config: ImageConfig;
  readonly layers: readonly LayerRef[];
}

/** What the build shares: the store, a private staging layout, the registry connections. */
export interface ImageAccess {
  readonly store: Store;
  readonly staging: OciLayout;
  readonly registry: RegistryLocationContext;
  readonly reporter?: Reporter;
  readonly jobs?: number;
}

/** Finds `name` for `platform` in the store, else pulls it into staging. */
export async function resolveImage(name: string, platform: Platform, access: ImageAccess, where: string): Promise<ResolvedImage> {
  const found = await access.store.find(name).catch(() => []);
  if (found.length > 0) return readImage(found[0]!.name, found[0]!.descriptor, platform, access, where);
  const reporter = access.reporter ?? silentReporter;
  reporter.emit({ kind: 'log', level: 'info', msg: `pulling ${name} (${formatPlatform(platform)})` });
  let top: Descriptor | undefined;
  const layoutDst = new LayoutImageDestination(`build staging:${name}`, access.staging, {
    onCommit: async (d) => {
      top = d;
    },
  });
  const store = access.store;
  // Blobs the store holds are skipped; the build reads them from there.
  const dst: ImageDestination = {
    name: layoutDst.name,
    caps: layoutDst.caps,
    hasBlob: async (d) => (await store.layout.hasBlob(d)) || (await layoutDst.hasBlob(d)),
    putBlob: (d, body) => layoutDst.putBlob(d, body),
    putManifest: (raw, instance) => layoutDst.putManifest(raw, instance),
    commit: () => layoutDst.commit(),
    close: () => layoutDst.close(),
  };
  try {
    const src = await parseAnyLocation(`docker://${name}`, access.registry).openSource();
    await copyImage(src, dst, { reporter, jobs: access.jobs, platforms: platform });
  } catch (err) {
    throw new BuildError('BUILD_BASE', `${where}: image ${name} is not in the local store and pulling it failed`, {
      cause: err,
      hint: 'check the name, `sealos login` to its registry, or `sealos load` it first',
    });
  }
  return readImage(name, top!, platform, access, where);
}

async function readImage(name: string, top: Descriptor, platform: Platform, access: ImageAccess, where: string): Promise<ResolvedImage> {
  const { store, staging } = access;
  const pathOf = async (d: Pick<Descriptor, 'digest' | 'size'>): Promise<{ path: string; staged: boolean }> =>
    (await store.layout.hasBlob(d)) ? { path: store.layout.blobPath(d.digest), staged: false } : { path: staging.blobPath(d.digest), staged: true };
  const layoutOf = async (d: Pick<Descriptor, 'digest' | 'size'>): Promise<OciLayout> => ((await pathOf(d)).staged ? staging : store.layout);
  let desc = top;
  let bytes = await (await layoutOf(desc)).readManifestBlob(desc.digest);
  if (isIndex(desc.mediaType) || isIndex(parseMaybeType(bytes))) {
    desc = choosePlatform(parseIndex(bytes), platform, `${where}: ${name}`);
    bytes = await (await layoutOf(desc)).readManifestBlob(desc.digest);
  }
  const m = parseManifest(bytes, `${name}: manifest`);
  const config = parseImageConfig(await (await layoutOf(m.config)).readSmallBlob(m.config), `${name}: config`);
  if (config.rootfs.diff_ids.length !== m.layers.length)
    throw new BuildError('BUILD_BASE', `${where}: ${name}: the config lists ${config.rootfs.diff_ids.length} layers, the manifest ${m.layers.length}`);
  const layers: LayerRef[] = [];
  for (const [i, l] of m.layers.entries()) {
    const at = await pathOf(l);
    const mediaType = l.mediaType === MediaType.DockerLayer ? MediaType.OciLayerGzip : l.mediaType;
    layers.push({ desc: { mediaType, digest: l.digest, size: l.size }, diffId: config.rootfs.diff_ids[i]!, ...at });
  }
  return { name, digest: desc.digest, config, layers };
}

function parseMaybeType(bytes: Uint8Array): string | undefined {
  try {
    const v = JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof v.mediaType === 'string') return v.mediaType;
    return Array.isArray(v.manifests) ? MediaType.OciIndex : undefined;
  } catch {
    return undefined;
  }
}

/** The uncompressed tar stream of a layer. */
export function layerTar(layer: LayerRef): Readable {
  const mt = layer.desc.mediaType;
  if (mt.endsWith('+zstd')) return decompressed(layer.path, 'zstd');
  if (mt.endsWith('+gzip') || mt.endsWith('.gzip')) return createReadStream(layer.path, { highWaterMark: 1 << 20 }).pipe(createGunzip());
  return createReadStream(layer.path, { highWaterMark: 1 << 20 });
}

/** Unpacks layers in order (whiteouts applied) into `dir`: the rootfs `COPY --from` reads. */
export async function unpackLayers(layers: readonly LayerRef[], dir: string, meta: MetaTable, what: string): Promise<void> {
  for (const l of layers) await extractTar(layerTar(l), dir, meta, { whiteouts: true, what: `${what}: layer ${l.desc.digest}` });
}

/** What the layers hold, path by path (headers only; whiteouts applied). */
export async function readTree(layers: readonly LayerRef[], into: Map<string, PlannedEntry>): Promise<void> {
  for (const l of layers) {
    await forEachTarEntry(layerTar(l), async (h) => {
      const rel = safeName(h.name);
      if (rel === undefined || rel === '') return;
      const base = rel.split('/').pop()!;
      if (base === '.wh..wh..opq') {
        const dir = rel.slice(0, -base.length - 1);
        for (const k of [...into.keys()]) if (k.startsWith(`${dir}/`)) into.delete(k);
        return;
      }
      if (base.startsWith('.wh.')) {
        const gone = join(rel.slice(0, -base.length), base.slice(4)).replace(/^\.\//, '');
        into.delete(gone);
        for (const k of [...into.keys()]) if (k.startsWith(`${gone}/`)) into.delete(k);
        return;
      }
      const type = h.type === 'directory' ? 'directory' : h.type === 'symlink' ? 'symlink' : h.type === 'link' ? 'hardlink' : 'file';
      into.set(rel, {
        path: rel,
        type,
        mode: (h.mode ?? 0) & 0o7777,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000),
        size: 0,
        ...(h.linkname ? { linkname: h.linkname } : {}),
      });
    });
  }
}
