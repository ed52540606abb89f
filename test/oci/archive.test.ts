/** save and load judged by skopeo, umoci and buildah. */
import test from 'ava';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { digestOf, Store } from '../../src/oci/index.js';
import { sealos, tool } from '../helpers/cli.js';
import { randomImage } from '../helpers/images.js';
import { tempDir } from '../helpers/temp.js';

const A = 'docker.io/library/alpha:1';
const B = 'localhost:5000/team/beta:2';

/** A store holding two images that share their first layer's bytes? No: two independent images. */
async function storeWithTwo(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  await randomImage(src, { layers: 3, layerBytes: 200_000, name: A, labels: { 'sealos.io.type': 'rootfs', init: 'init.sh $registryDomain' } });
  await randomImage(src, { layers: 2, layerBytes: 100_000, name: B });
  const store = join(dir, 'store');
  const tar = join(dir, 'two.tar');
  await tool('skopeo', ['copy', '-q', `oci:${src}:${A}`, `oci-archive:${tar}:${A}`]);
  t.is((await sealos(store, ['load', '-q', '-i', tar])).code, 0);
  const b = join(dir, 'b.tar');
  await tool('skopeo', ['copy', '-q', `oci:${src}:${B}`, `oci-archive:${b}:${B}`]);
  t.is((await sealos(store, ['load', '-q', '-i', b])).code, 0);
  return { dir, src, store };
}

const rawDigest = async (loc: string) => digestOf(Buffer.from(await tool('skopeo', ['inspect', '--raw', loc])));

test('save writes oci-archives that skopeo reads, one image or several sharing blobs', async (t) => {
  const { dir, src, store } = await storeWithTwo(t);
  const one = join(dir, 'one.tar');
  const r1 = await sealos(store, ['save', '-q', '-o', one, 'alpha:1']);
  t.is(r1.code, 0, r1.stderr);
  t.is(await rawDigest(`oci-archive:${one}:${A}`), await rawDigest(`oci:${src}:${A}`));
  const many = join(dir, 'many.tar');
  t.is((await sealos(store, ['save', '-q', '-o', many, 'alpha:1', B])).code, 0);
  t.is(await rawDigest(`oci-archive:${many}:${B}`), await rawDigest(`oci:${src}:${B}`));
  const copied = join(dir, 'copied');
  await tool('skopeo', ['copy', '-q', `oci-archive:${many}:${A}`, `oci:${copied}:x`]);
  t.is(await rawDigest(`oci:${copied}:x`), await rawDigest(`oci:${src}:${A}`));
  const inspected = JSON.parse(await tool('skopeo', ['inspect', `oci-archive:${many}:${A}`]));
  t.is(inspected.Labels.init, 'init.sh $registryDomain');
  const entries = (await tool('tar', ['-tf', many])).split('\n').filter((n) => n.startsWith('blobs/sha256/') && n.length > 14);
  t.is(new Set(entries).size, entries.length, 'each blob once');
});

test('save writes docker-archives that skopeo reads, several images in one file', async (t) => {
  const { dir, store } = await storeWithTwo(t);
  const file = join(dir, 'd.tar');
  const r = await sealos(store, ['save', '-q', '--format', 'docker-archive', '-o', file, A, B]);
  t.is(r.code, 0, r.stderr);
  const a = JSON.parse(await tool('skopeo', ['inspect', `docker-archive:${file}:${A}`]));
  t.is(a.Layers.length, 3);
  const b = JSON.parse(await tool('skopeo', ['inspect', `docker-archive:${file}:${B}`]));
  t.is(b.Layers.length, 2);
  const out = join(dir, 'out');
  await tool('skopeo', ['copy', '-q', `docker-archive:${file}:${B}`, `oci:${out}:b`]);
  // Loading our docker-archive gives the manifest skopeo derives from it, digest for digest.
  const store2 = join(dir, 'store2');
  t.is((await sealos(store2, ['load', '-q', '-i', file])).code, 0);
  const s2 = await Store.open(store2);
  t.is((await s2.get(B)).descriptor.digest, await rawDigest(`docker-archive:${file}:${B}`));
});

test('umoci unpacks an image from our oci-dir output', async (t) => {
  const { dir, store } = await storeWithTwo(t);
  const out = join(dir, 'layout');
  const r = await sealos(store, ['save', '-q', '--format', 'oci-dir', '-o', out, 'alpha:1']);
  t.is(r.code, 0, r.stderr);
  const bundle = join(dir, 'bundle');
  await tool('umoci', ['unpack', '--rootless', '--image', `${out}:${A}`, bundle]);
  const files = await readdir(join(bundle, 'rootfs', 'data'));
  t.is(files.length, 3);
  t.is((await stat(join(bundle, 'rootfs', 'data', files[0]!))).size, 200_000);
});

test('load reads what skopeo writes, both formats, gzipped too, with identical digests', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  await randomImage(src, { layers: 2, layerBytes: 150_000, name: A });
  const oci = join(dir, 'sk-oci.tar');
  const docker = join(dir, 'sk-docker.tar');
  await tool('skopeo', ['copy', '-q', `oci:${src}:${A}`, `oci-archive:${oci}:${A}`]);
  await tool('skopeo', ['copy', '-q', `oci:${src}:${A}`, `docker-archive:${docker}:${B}`]);
  const gz = join(dir, 'sk-oci.tar.gz');
  await pipeline(createReadStream(oci), createGzip(), createWriteStream(gz));
  for (const [file, name, want] of [
    [oci, A, await rawDigest(`oci-archive:${oci}:${A}`)],
    [gz, A, await rawDigest(`oci-archive:${oci}:${A}`)],
    [docker, B, await rawDigest(`docker-archive:${docker}`)],
  ] as const) {
    const store = join(dir, `store-${file.split('/').pop()}`);
    const r = await sealos(store, ['load', '-i', file]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`Loaded image: ${name.replaceAll('.', '\\.')}`));
    const s = await Store.open(store);
    t.is((await s.get(name)).descriptor.digest, want, file);
  }
  // From standard input.
  const store = join(dir, 'store-stdin');
  const r = await sealos(store, ['load', '-q'], { stdin: await readFile(gz) });
  t.is(r.code, 0, r.stderr);
  t.is((await (await Store.open(store)).get(A)).descriptor.digest, await rawDigest(`oci-archive:${oci}:${A}`));
});

test('load reads oci-archives and docker-archives that buildah writes', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'buildah');
  const common = ['--root', join(root, 'root'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs'];
  const ctr = (await tool('buildah', [...common, 'from', 'scratch'])).trim();
  await tool('buildah', [...common, 'copy', ctr, '/etc/os-release', '/etc/os-release']);
  await tool('buildah', [...common, 'config', '--label', 'sealos.io.type=rootfs', '--cmd', 'echo hi', ctr]);
  await tool('buildah', [...common, 'commit', '-q', ctr, 'localhost/bb:1']);
  const oci = join(dir, 'bh-oci.tar');
  const docker = join(dir, 'bh-docker.tar');
  await tool('buildah', [...common, 'push', '-q', 'localhost/bb:1', `oci-archive:${oci}:localhost/bb:1`]);
  await tool('buildah', [...common, 'push', '-q', 'localhost/bb:1', `docker-archive:${docker}:localhost/bb:1`]);
  for (const [file, loc] of [[oci, `oci-archive:${oci}`], [docker, `docker-archive:${docker}`]] as const) {
    const store = join(dir, `store-${file.split('/').pop()}`);
    const r = await sealos(store, ['load', '-q', '-i', file]);
    t.is(r.code, 0, r.stderr);
    const s = await Store.open(store);
    const img = await s.get('localhost/bb:1');
    t.is(img.descriptor.digest, await rawDigest(loc), file);
    const inspect = JSON.parse((await sealos(store, ['inspect', 'localhost/bb:1'])).stdout);
    t.is(inspect.SealosLabels['sealos.io.type'], 'rootfs');
    const layers = JSON.parse(await tool('skopeo', ['inspect', loc])).Layers;
    t.deepEqual(inspect.Manifest.layers.map((l: { digest: string }) => l.digest), layers);
  }
});

test('inspect reads archives and layouts directly', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  const img = await randomImage(src, { layers: 1, name: A, labels: { 'sealos.io.version': 'v1beta1' } });
  const tar = join(dir, 'a.tar');
  await tool('skopeo', ['copy', '-q', `oci:${src}:${A}`, `docker-archive:${tar}:${A}`]);
  const store = join(dir, 'empty-store');
  for (const loc of [`oci:${src}:${A}`, `oci-archive:${join(dir, 'x.tar')}`, `docker-archive:${tar}`]) {
    if (loc.startsWith('oci-archive:')) await tool('skopeo', ['copy', '-q', `oci:${src}:${A}`, `${loc}:${A}`]);
    const r = await sealos(store, ['inspect', loc]);
    t.is(r.code, 0, `${loc}: ${r.stderr}`);
    const out = JSON.parse(r.stdout);
    t.is(out.SealosLabels['sealos.io.version'], 'v1beta1');
    t.is(out.Config.rootfs.diff_ids.length, 1);
  }
  t.is(JSON.parse((await sealos(store, ['inspect', `oci:${src}:${A}`])).stdout).Digest, img.manifest.digest);
});
