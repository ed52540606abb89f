/** Multi-platform indexes: kept whole where the destination can hold them, one platform picked where not. */
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestOf, MediaType, OciLayout, Store, withName, type Descriptor } from '../../src/oci/index.js';
import { sealos, tool } from '../helpers/cli.js';
import { randomImage } from '../helpers/images.js';
import { tempDir } from '../helpers/temp.js';

const NAME = 'docker.io/library/multi:1';

test('an index round-trips through the store and an oci-archive; docker-archive takes the host platform', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  const amd = await randomImage(src, { layers: 1, architecture: 'amd64' });
  const arm = await randomImage(src, { layers: 2, architecture: 'arm64' });
  const layout = new OciLayout(src);
  const manifests: Descriptor[] = [
    { ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
    { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ];
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
  const index: Descriptor = { mediaType: MediaType.OciIndex, digest: digestOf(bytes), size: bytes.length };
  await writeFile(layout.blobPath(index.digest), bytes);
  await layout.writeIndex(withName({ schemaVersion: 2, manifests: [] }, NAME, index));
  const tar = join(dir, 'multi.tar');
  await tool('skopeo', ['copy', '-q', '--all', `oci:${src}:${NAME}`, `oci-archive:${tar}:${NAME}`]);
  const root = join(dir, 'store');
  t.is((await sealos(root, ['load', '-q', '-i', tar])).code, 0);
  const store = await Store.open(root);
  t.is((await store.get(NAME)).descriptor.digest, index.digest);
  const out = join(dir, 'out.tar');
  t.is((await sealos(root, ['save', '-q', '-o', out, NAME])).code, 0);
  const raw = await tool('skopeo', ['inspect', '--raw', `oci-archive:${out}:${NAME}`]);
  t.is(digestOf(Buffer.from(raw)), index.digest);
  const arm64 = JSON.parse(await tool('skopeo', ['--override-arch', 'arm64', 'inspect', `oci-archive:${out}:${NAME}`]));
  t.is(arm64.Layers.length, 2);
  const inspect = JSON.parse((await sealos(root, ['inspect', '--platform', 'linux/arm64', NAME])).stdout);
  t.is(inspect.ManifestDigest, arm.manifest.digest);
  const d = join(dir, 'd.tar');
  const r = await sealos(root, ['save', '-q', '--format', 'docker-archive', '-o', d, NAME]);
  t.is(r.code, 0, r.stderr);
  t.is(JSON.parse(await tool('skopeo', ['inspect', `docker-archive:${d}`])).Layers.length, 1, 'the amd64 image');
});
