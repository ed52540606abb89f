/** Test fixtures for registry tests: multi-platform indexes built from random images, and skopeo helpers. */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { MediaType, OciLayout, withName, type Descriptor, type Digest } from '../../src/oci/index.js';
import { randomImage, type RandomImage } from './images.js';
import { tool } from './cli.js';

export interface RandomIndex {
  readonly index: Descriptor;
  readonly images: readonly RandomImage[];
}

/**
 * Writes an OCI index with one random image per architecture (linux/amd64, linux/arm64 by default) into the
 * layout at `dir`, named `name`. The children share their first layer when `shareLayer` (a real multi-arch
 * image rarely does, but it exercises blob de-duplication).
 */
export async function randomIndex(
  dir: string,
  o: { name: string; architectures?: readonly string[]; layers?: number; layerBytes?: number },
): Promise<RandomIndex> {
  const layout = new OciLayout(dir);
  await layout.init();
  const before = await layout.readIndex();
  const images: RandomImage[] = [];
  for (const arch of o.architectures ?? ['amd64', 'arm64'])
    images.push(await randomImage(dir, { architecture: arch, layers: o.layers ?? 2, layerBytes: o.layerBytes ?? 32 << 10 }));
  const archs = o.architectures ?? ['amd64', 'arm64'];
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: images.map((img, i) => ({ ...img.manifest, platform: { os: 'linux', architecture: archs[i] } })),
    }),
  );
  const index: Descriptor = {
    mediaType: MediaType.OciIndex,
    digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` as Digest,
    size: bytes.length,
  };
  await writeFile(layout.blobPath(index.digest), bytes);
  await layout.writeIndex(withName(before, o.name, index));
  return { index, images };
}

/** The digest skopeo reports for an image (`skopeo inspect --raw` hashed, so an index keeps its own digest). */
export async function skopeoDigest(location: string, extra: readonly string[] = []): Promise<Digest> {
  const raw = await tool('skopeo', ['inspect', '--raw', ...extra, location]);
  return `sha256:${createHash('sha256').update(raw).digest('hex')}` as Digest;
}
