import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { buildImage, discoverImages } from '../../src/build/index.js';
import { copyImage, digestOf, MediaType, OciLayout, withName, type Descriptor } from '../../src/oci/index.js';
import { parseAnyLocation } from '../../src/registry/index.js';
import { tool } from '../helpers/cli.js';
import { randomImage } from '../helpers/images.js';
import { startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/temp.js';
import { writeTree } from '../helpers/build.js';

test('charts are rendered with helm template when helm is there (a strict stand-in checks the call)', async (t) => {
  const dir = await tempDir(t);
  const ctx = join(dir, 'ctx');
  await writeTree(ctx, {
    'charts/app/Chart.yaml': 'apiVersion: v2\nname: app\nversion: 0.1.0\n',
    'charts/app/templates/d.yaml': 'image: {{ .Values.image }}\n',
    'charts/app.values.yaml': 'image: from/values:1\n',
    'charts/other/Chart.yaml': 'apiVersion: v2\nname: other\nversion: 0.1.0\n',
  });
  // helm stand-in: accepts exactly `version --short` and `template dryrun CHART [-f charts/NAME.values.yaml]`.
  const helm = join(dir, 'helm');
  await writeFile(
    helm,
    `#!/bin/sh
set -e
[ "$1" = version ] && [ "$2" = --short ] && [ $# -eq 2 ] && { echo v3.14.0; exit 0; }
[ "$1" = template ] && [ "$2" = dryrun ] || { echo "bad args: $*" >&2; exit 2; }
case "$3" in
  ${ctx}/charts/app) [ "$4" = -f ] && [ "$5" = ${ctx}/charts/app.values.yaml ] && [ $# -eq 5 ] || { echo "bad values: $*" >&2; exit 2; }
     printf -- '---\\nspec:\\n  containers:\\n  - image: "from/values:1"\\n' ;;
  ${ctx}/charts/other) [ $# -eq 3 ] || exit 2; printf 'image: registry.k8s.io/pause:3.9\\n' ;;
  *) echo "unknown chart $3" >&2; exit 2 ;;
esac
`,
  );
  await chmod(helm, 0o755);
  const found = await discoverImages({ contextDir: ctx, helm });
  t.deepEqual(
    found.map((f) => [f.ref, f.source]),
    [
      ['docker.io/from/values:1', 'charts/app (helm template):4'],
      ['registry.k8s.io/pause:3.9', 'charts/other (helm template):1'],
    ],
  );
});

test('a tagged multi-platform image is captured for the build platform; a pinned index is kept whole', async (t) => {
  const reg = await startRegistry(t);
  const dir = await tempDir(t);
  const lctx = { storeRoot: join(dir, 'unused') };
  const layoutDir = join(dir, 'multi');
  const amd = await randomImage(layoutDir, { layers: 1, layerBytes: 32 << 10, architecture: 'amd64' });
  const arm = await randomImage(layoutDir, { layers: 1, layerBytes: 32 << 10, architecture: 'arm64' });
  const withPlatform = (d: Descriptor, architecture: string): Descriptor => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, platform: { os: 'linux', architecture } });
  const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [withPlatform(amd.manifest, 'amd64'), withPlatform(arm.manifest, 'arm64')] }));
  const layout = new OciLayout(layoutDir);
  const indexDesc: Descriptor = { mediaType: MediaType.OciIndex, digest: digestOf(indexBytes), size: indexBytes.byteLength };
  await layout.putBlob(indexDesc, indexBytes);
  await layout.writeIndex(withName({ schemaVersion: 2, manifests: [] }, 'multi', indexDesc));
  await copyImage(await parseAnyLocation(`oci:${layoutDir}:multi`, lctx).openSource(), await parseAnyLocation(`docker://${reg.host}/lib/multi:1`, lctx).openDestination(), { platforms: 'all' });

  const ctx = join(dir, 'ctx');
  await writeTree(ctx, {
    Kubefile: 'FROM scratch\nCOPY registry /registry\n',
    'images/shim/list': `${reg.host}/lib/multi:1\n${reg.host}/lib/multi@${indexDesc.digest}\n`,
  });
  const built = await buildImage({ contextDir: ctx, tags: ['cap:1'], storeRoot: join(dir, 'store'), platform: { os: 'linux', architecture: 'arm64' } });
  t.deepEqual(
    built.capture!.images.map((i) => [i.stored, i.digest]),
    [
      ['lib/multi:1', arm.manifest.digest],
      [`lib/multi@${indexDesc.digest}`, indexDesc.digest],
    ],
  );
  const served = await startRegistry(t, { storage: join(ctx, 'registry') });
  const raw = (ref: string) => tool('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${served.host}/${ref}`]);
  t.is(digestOf(Buffer.from(await raw('lib/multi:1'))), arm.manifest.digest);
  t.is(digestOf(Buffer.from(await raw(`lib/multi@${indexDesc.digest}`))), indexDesc.digest);
  // Both platforms' images are whole behind the pinned index.
  await tool('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${served.host}/lib/multi@${indexDesc.digest}`, `oci:${join(dir, 'all')}:x`]);
  t.regex(await readFile(join(ctx, 'registry', 'images.txt'), 'utf8'), /lib\/multi:1\tsha256:/);
});

test('archives listed in images/skopeo/tar.txt are imported into registry/ under their names', async (t) => {
  const dir = await tempDir(t);
  const lctx = { storeRoot: join(dir, 'unused') };
  const ctx = join(dir, 'ctx');
  await writeTree(ctx, {
    Kubefile: 'FROM scratch\nCOPY . .\n',
    'images/skopeo/tar.txt': '# archives\ndocker-archive:images/app.tar@library/fromtar:v1\noci-archive:images/app-oci.tar@apps/ocitar:v2\n',
  });
  const img = await randomImage(join(dir, 'img'), { layers: 2, layerBytes: 16 << 10, name: 'x' });
  await copyImage(await parseAnyLocation(`oci:${join(dir, 'img')}:x`, lctx).openSource(), await parseAnyLocation(`docker-archive:${join(ctx, 'images', 'app.tar')}:app:v1`, lctx).openDestination());
  await copyImage(await parseAnyLocation(`oci:${join(dir, 'img')}:x`, lctx).openSource(), await parseAnyLocation(`oci-archive:${join(ctx, 'images', 'app-oci.tar')}:app:v1`, lctx).openDestination());
  const built = await buildImage({ contextDir: ctx, tags: ['tars:1'], storeRoot: join(dir, 'store') });
  t.deepEqual(built.capture!.images.map((i) => i.stored).sort(), ['apps/ocitar:v2', 'library/fromtar:v1']);
  const served = await startRegistry(t, { storage: join(ctx, 'registry') });
  for (const ref of ['library/fromtar:v1', 'apps/ocitar:v2']) {
    const out = JSON.parse(await tool('skopeo', ['inspect', '--tls-verify=false', `docker://${served.host}/${ref}`])) as { Layers: string[] };
    t.is(out.Layers.length, 2, ref);
  }
  const oci = JSON.parse(await tool('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${served.host}/apps/ocitar:v2`])) as { config: { digest: string } };
  t.is(oci.config.digest, img.config.digest);
  await writeFile(join(ctx, 'images', 'skopeo', 'tar.txt'), 'docker-archive:no-name.tar\n');
  await t.throwsAsync(buildImage({ contextDir: ctx, tags: ['tars:2'], storeRoot: join(dir, 'store') }), { message: /images\/skopeo\/tar\.txt:1: expected docker-archive:PATH@NAME:TAG/ });
});
