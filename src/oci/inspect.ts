/** What `sealos inspect` shows of an image: its manifest, config and the sealos labels, from any source. */
import { OciError } from './errors.js';
import type { ImageSource } from './location.js';
import { choosePlatform, hostPlatform } from './platform.js';
import { digestOf } from './digest.js';
import { isIndex, MAX_MANIFEST_BYTES, parseImageConfig, parseIndex, parseManifest, sniffManifestType, type ImageConfig, type Index, type Manifest, type Platform } from './spec.js';
import { readAll, verified } from './verify.js';

/** Labels sealos reads from cluster images at deploy time. */
export const SEALOS_LABELS = ['sealos.io.type', 'sealos.io.version', 'check', 'init', 'clean', 'clean-registry', 'init-registry', 'image', 'version', 'auth'] as const;

export interface ImageInspection {
  readonly Name: string;
  readonly Digest: string;
  readonly MediaType: string;
  /** The index, when the image is multi-platform. */
  readonly Index?: Index;
  /** The manifest of the chosen platform. */
  readonly Manifest: Manifest;
  readonly ManifestDigest: string;
  readonly Config: ImageConfig;
  /** The labels sealos acts on, when present. */
  readonly SealosLabels: Readonly<Record<string, string>>;
}

/** Reads manifest and config (verified) from `src`; for an index, the manifest of `platform` (default: the host's). */
export async function inspectImage(src: ImageSource, platform: Platform = hostPlatform()): Promise<ImageInspection> {
  try {
    const top = await src.manifest();
    const mediaType = top.mediaType || sniffManifestType(top.bytes);
    let manifestBytes = top.bytes;
    let index: Index | undefined;
    if (isIndex(mediaType)) {
      index = parseIndex(top.bytes, `${src.name}: index`);
      const chosen = choosePlatform(index, platform, src.name);
      manifestBytes = (await src.manifest(chosen.digest)).bytes;
      if (digestOf(manifestBytes) !== chosen.digest) throw new OciError('DIGEST_MISMATCH', `${src.name}: manifest ${chosen.digest} does not match its digest`);
    }
    const manifest = parseManifest(manifestBytes, `${src.name}: manifest`);
    const configBytes = await readAll(verified(await src.blob(manifest.config), manifest.config), MAX_MANIFEST_BYTES, `${src.name}: config`);
    const config = parseImageConfig(configBytes, `${src.name}: config`);
    const labels = config.config?.Labels ?? {};
    const sealos = Object.fromEntries(Object.entries(labels).filter(([k]) => (SEALOS_LABELS as readonly string[]).includes(k)));
    return {
      Name: src.name,
      Digest: digestOf(top.bytes),
      MediaType: mediaType,
      ...(index !== undefined ? { Index: index } : {}),
      Manifest: manifest,
      ManifestDigest: digestOf(manifestBytes),
      Config: config,
      SealosLabels: sealos,
    };
  } finally {
    await src.close();
  }
}
