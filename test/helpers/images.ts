/** Generated test images: random, incompressible gzip layers written into an OCI layout directory. */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants } from 'node:zlib';
import { encodeTarHeader, END_OF_ARCHIVE, MediaType, OciLayout, paddingFor, REF_NAME, withName, type Descriptor, type Digest } from '../../src/oci/index.js';

export interface RandomImageOptions {
  readonly layers?: number;
  readonly layerBytes?: number;
  /** ref.name annotation in index.json; none when undefined. */
  readonly name?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly architecture?: string;
  /** gzip level; 0 stores (fast, for big benchmark images). */
  readonly gzipLevel?: number;
}

export interface RandomImage {
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

const sha = (h: ReturnType<typeof createHash>) => `sha256:${h.digest('hex')}` as Digest;

async function* randomLayerTar(bytes: number, fileName: string): AsyncGenerator<Buffer> {
  yield encodeTarHeader({ name: fileName, type: 'file', size: bytes, mode: 0o644, mtime: 1_700_000_000 });
  const chunk = Buffer.alloc(1 << 20);
  for (let left = bytes; left > 0; left -= chunk.length) {
    const n = Math.min(left, chunk.length);
    randomFillSync(chunk, 0, n);
    yield Buffer.from(chunk.subarray(0, n));
  }
  yield Buffer.alloc(paddingFor(bytes));
  yield END_OF_ARCHIVE;
}

/** Writes one random image into the OCI layout at `dir` (created if needed) and names it. */
export async function randomImage(dir: string, o: RandomImageOptions = {}): Promise<RandomImage> {
  const layout = new OciLayout(dir);
  await layout.init();
  const layers: Descriptor[] = [];
  const diffIds: Digest[] = [];
  for (let i = 0; i < (o.layers ?? 2); i++) {
    const tmp = join(dir, `layer-${process.pid}-${i}.tmp`);
    const diff = createHash('sha256');
    const comp = createHash('sha256');
    let size = 0;
    await pipeline(
      randomLayerTar(o.layerBytes ?? 64 * 1024, `data/${randomBytes(6).toString('hex')}-${i}.bin`),
      async function* (src: AsyncIterable<Buffer>) {
        for await (const c of src) {
          diff.update(c);
          yield c;
        }
      },
      createGzip({ level: o.gzipLevel ?? constants.Z_BEST_SPEED }),
      async function* (src: AsyncIterable<Buffer>) {
        for await (const c of src) {
          comp.update(c);
          size += c.length;
          yield c;
        }
      },
      createWriteStream(tmp),
    );
    const desc: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: sha(comp), size };
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await rename(tmp, layout.blobPath(desc.digest));
    layers.push(desc);
    diffIds.push(sha(diff));
  }
  const configBytes = Buffer.from(
    JSON.stringify({
      created: '2026-01-02T03:04:05Z',
      architecture: o.architecture ?? 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'], Labels: o.labels ?? {} },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: diffIds.map(() => ({ created: '2026-01-02T03:04:05Z', created_by: 'test' })),
    }),
  );
  const config: Descriptor = { mediaType: MediaType.OciConfig, digest: sha(createHash('sha256').update(configBytes)), size: configBytes.length };
  await writeFile(layout.blobPath(config.digest), configBytes);
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers }));
  const manifest: Descriptor = { mediaType: MediaType.OciManifest, digest: sha(createHash('sha256').update(manifestBytes)), size: manifestBytes.length };
  await writeFile(layout.blobPath(manifest.digest), manifestBytes);
  const index = await layout.readIndex();
  await layout.writeIndex(o.name !== undefined ? withName(index, o.name, manifest) : { ...index, manifests: [...index.manifests, manifest] });
  return { manifest, config, layers };
}

export { REF_NAME };
