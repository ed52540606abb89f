import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { buildImage } from '../../src/build/index.js';
import { copyImage, type Digest } from '../../src/oci/index.js';
import { parseAnyLocation } from '../../src/registry/index.js';
import type { ReportEvent } from '../../src/report.js';
import { tool } from '../helpers/cli.js';
import { randomImage } from '../helpers/images.js';
import { startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/temp.js';
import { umociUnpack, writeTree } from '../helpers/build.js';

test('images named by manifests, shim lists and charts are captured into registry/ and served from the built image', async (t) => {
  const src = await startRegistry(t);
  const dir = await tempDir(t);
  const h = src.host;
  const lctx = { storeRoot: join(dir, 'unused-store') };

  // Four source images; two names share one image, so blobs are shared in registry/.
  const names = [`${h}/library/busybox:1.36`, `${h}/calico/cni:v3.26`, `${h}/kube-apiserver:v1.25.0`, `${h}/pinned/app:v1`, `${h}/library/busybox:same`];
  const digests = new Map<string, Digest>();
  for (const [i, name] of names.entries()) {
    const layout = join(dir, `img-${i}`);
    await randomImage(layout, { layers: 2, layerBytes: 128 << 10, name: 'x' });
    const from = i === 4 ? join(dir, 'img-0') : layout;
    const res = await copyImage(await parseAnyLocation(`oci:${from}:x`, lctx).openSource(), await parseAnyLocation(`docker://${name}`, lctx).openDestination());
    digests.set(name, res.digest);
  }
  const pinned = `${h}/pinned/app@${digests.get(`${h}/pinned/app:v1`)}`;

  const ctx = join(dir, 'ctx');
  await writeTree(ctx, {
    Kubefile: 'FROM scratch\nLABEL sealos.io.type=application\nCOPY . .\nCMD ["kubectl apply -f manifests/"]\n',
    'manifests/deploy.yaml': `apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: "${h}/library/busybox:1.36"\n        imagePullPolicy: IfNotPresent\n      # image: ${h}/commented/out:1\n`,
    'manifests/sub/pinned.yaml.tmpl': `containers:\n- image: '${pinned}'\n- image: {{ .Values.notAnImage }}\n`,
    'manifests/readme.txt': `image: ${h}/not/scanned:1\n`,
    'images/shim/DefaultImageList': `# kubeadm images\n${h}/kube-apiserver:v1.25.0\n\n${h}/library/busybox:same\n`,
    'charts/cni/Chart.yaml': 'apiVersion: v2\nname: cni\nversion: 0.1.0\n',
    'charts/cni/values.yaml': `image:\n  repository: ${h}/calico/cni\n  tag: v3.26\n`,
    'charts/cni/templates/ds.yaml': 'spec:\n  containers:\n  - image: {{ .Values.image.repository }}:{{ .Values.image.tag }}\n',
  });

  const events: ReportEvent[] = [];
  const reporter = { emit: (e: ReportEvent) => events.push(e), result: () => {} };
  const storeRoot = join(dir, 'store');
  const built = await buildImage({ contextDir: ctx, tags: ['apps/demo:v1'], storeRoot, reporter, maxPullProcs: 3, platform: { os: 'linux', architecture: 'amd64' } });
  const cap = built.capture!;
  const again = await buildImage({ contextDir: ctx, tags: ['apps/demo:v2'], storeRoot, platform: { os: 'linux', architecture: 'amd64' } });
  t.is(again.layersBuilt, 0, 'capturing the same images again keeps the layer cache');
  t.deepEqual(cap.images.map((i) => i.stored).sort(), [
    'calico/cni:v3.26',
    'kube-apiserver:v1.25.0',
    'library/busybox:1.36',
    'library/busybox:same',
    `pinned/app@${digests.get(`${h}/pinned/app:v1`)}`,
  ]);
  t.true(events.some((e) => e.kind === 'log' && e.level === 'warn' && /helm is not installed/.test(e.msg)));
  const list = await readFile(join(ctx, 'registry', 'images.txt'), 'utf8');
  t.regex(list, /calico\/cni:v3\.26\tsha256:[0-9a-f]{64}\tcharts\/cni\/values\.yaml:2/);
  // One blob store: the shared image's blobs are stored once.
  const blobDirs = await tool('find', [join(ctx, 'registry', 'docker', 'registry', 'v2', 'blobs'), '-name', 'data']);
  t.is(blobDirs.trim().split('\n').length, 4 * 4, '4 distinct images x (manifest + config + 2 layers)');

  // The registry/ inside the built image, served by a real registry.
  const rootfs = await umociUnpack(t, storeRoot, 'docker.io/apps/demo:v1');
  const served = await startRegistry(t, { storage: join(rootfs, 'registry') });
  const check = async (ref: string, want: Digest) => {
    // A digest-only repository has no tags to list.
    const out = JSON.parse(await tool('skopeo', ['inspect', '--no-tags', '--tls-verify=false', `docker://${served.host}/${ref}`])) as { Digest: string };
    t.is(out.Digest, want, ref);
  };
  await check('library/busybox:1.36', digests.get(`${h}/library/busybox:1.36`)!);
  await check('library/busybox:same', digests.get(`${h}/library/busybox:1.36`)!);
  await check('calico/cni:v3.26', digests.get(`${h}/calico/cni:v3.26`)!);
  await check('kube-apiserver:v1.25.0', digests.get(`${h}/kube-apiserver:v1.25.0`)!);
  await check(`pinned/app@${digests.get(`${h}/pinned/app:v1`)}`, digests.get(`${h}/pinned/app:v1`)!);
  // And skopeo can copy every layer out of it (the blobs are whole).
  await tool('skopeo', ['copy', '--src-tls-verify=false', `docker://${served.host}/calico/cni:v3.26`, `oci:${join(dir, 'check')}:x`]);
});

test('an image that images/skopeo/tar.txt provides is taken from the archive, even where a manifest names it (offline)', async (t) => {
  const dir = await tempDir(t);
  const layout = join(dir, 'src');
  const img = await randomImage(layout, { layers: 1, name: 'x' });
  const ctx = join(dir, 'ctx');
  await writeTree(ctx, {
    Kubefile: 'FROM scratch\nCOPY . .\n',
    // registry.invalid cannot be reached: only the archive can provide this image.
    'manifests/app.yaml': 'containers:\n- image: registry.invalid/team/offline:1\n',
    'images/skopeo/tar.txt': 'docker-archive:images/offline.tar@registry.invalid/team/offline:1\n',
  });
  await tool('skopeo', ['copy', '-q', `oci:${layout}:x`, `docker-archive:${join(ctx, 'images', 'offline.tar')}:registry.invalid/team/offline:1`]);
  const built = await buildImage({ contextDir: ctx, tags: ['apps/offline:v1'], storeRoot: join(dir, 'store'), platform: { os: 'linux', architecture: 'amd64' } });
  t.deepEqual(built.capture!.images.map((i) => [i.stored, i.source]), [['team/offline:1', 'images/skopeo/tar.txt:1']]);
  const layers = JSON.parse(await tool('skopeo', ['inspect', `docker-archive:${join(ctx, 'images', 'offline.tar')}`])).Layers as string[];
  const dirLayers = await copyImage(
    await parseAnyLocation(`registry-dir:${join(ctx, 'registry')}:team/offline:1`, { storeRoot: join(dir, 'unused') }).openSource(),
    await parseAnyLocation(`oci:${join(dir, 'out')}:y`, { storeRoot: join(dir, 'unused') }).openDestination(),
  );
  t.is(dirLayers.blobsCopied, 1 + layers.length);
  t.is(img.layers.length, layers.length);
});
