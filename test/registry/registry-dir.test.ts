import test from 'ava';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { copyImage, hostPlatform, parseImageRef } from '../../src/oci/index.js';
import { listRegistryDir, parseAnyLocation, registryDirName, type RegistryLocationContext } from '../../src/registry/index.js';
import { tool } from '../helpers/cli.js';
import { randomImage } from '../helpers/images.js';
import { randomIndex, skopeoDigest } from '../helpers/registry-images.js';
import { recordingReporter } from '../helpers/recording-reporter.js';
import { startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/temp.js';

const NO_TLS = ['--tls-verify=false'];

async function copier(t: Parameters<typeof tempDir>[0]) {
  const reporter = recordingReporter();
  const ctx: RegistryLocationContext = { storeRoot: join(await tempDir(t), 'store'), reporter, retryBaseMs: 20 };
  return async (from: string, to: string, platforms: 'all' | undefined = undefined) =>
    copyImage(await parseAnyLocation(from, ctx).openSource(), await parseAnyLocation(to, ctx).openDestination(), {
      reporter,
      platforms: platforms ?? hostPlatform(),
    });
}

/** Every file under `root`, relative, except upload state and our temp files. */
async function files(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== '_uploads') await walk(p);
      } else if (!e.name.startsWith('.tmp')) out.push(relative(root, p));
    }
  };
  await walk(root);
  return out.sort();
}

test('the host is stripped from repository names the way sealos does', (t) => {
  const name = (s: string) => registryDirName(parseImageRef(s));
  t.is(name('registry.k8s.io/kube-apiserver:v1.25.0'), 'kube-apiserver');
  t.is(name('nginx'), 'library/nginx');
  t.is(name('docker.io/labring/x:1'), 'labring/x');
  t.is(name('docker.io/calico/cni:v3.24'), 'calico/cni');
  t.is(name('ghcr.io/labring/lvscare:v4.3.7'), 'labring/lvscare');
  t.is(name('localhost:5000/a/b:1'), 'a/b');
});

test('a registry directory we write has the same files as one docker-registry wrote, and is served by it', async (t) => {
  const src = await tempDir(t);
  const single = await randomImage(src, { name: 'single', layers: 2, layerBytes: 50 << 10 });
  const multi = await randomIndex(src, { name: 'multi' });
  const copy = await copier(t);
  const dir = join(await tempDir(t), 'registry');
  await copy(`oci:${src}:single`, `registry-dir:${dir}:registry.k8s.io/kube-apiserver:v1.25.0`);
  await copy(`oci:${src}:single`, `registry-dir:${dir}:nginx:1.25`);
  await copy(`oci:${src}:multi`, `registry-dir:${dir}:docker.io/labring/multi:1`, 'all');

  t.deepEqual(
    (await listRegistryDir(dir)).map((i) => `${i.name}:${i.tag}@${i.digest}`),
    [
      `kube-apiserver:v1.25.0@${single.manifest.digest}`,
      `labring/multi:1@${multi.index.digest}`,
      `library/nginx:1.25@${single.manifest.digest}`,
    ],
  );
  const link = await readFile(join(dir, 'docker/registry/v2/repositories/kube-apiserver/_manifests/tags/v1.25.0/current/link'), 'utf8');
  t.is(link, single.manifest.digest);
  // The blobs are stored once though two repositories hold them.
  t.is((await stat(join(dir, 'docker/registry/v2/blobs/sha256', single.layers[0]!.digest.slice(7, 9), single.layers[0]!.digest.slice(7), 'data'))).size, single.layers[0]!.size);

  // The same images pushed by skopeo into a real registry leave the same files.
  const real = await startRegistry(t);
  await tool('skopeo', ['copy', '--dest-tls-verify=false', `oci:${src}:single`, `docker://${real.host}/kube-apiserver:v1.25.0`]);
  await tool('skopeo', ['copy', '--dest-tls-verify=false', `oci:${src}:single`, `docker://${real.host}/library/nginx:1.25`]);
  await tool('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${src}:multi`, `docker://${real.host}/labring/multi:1`]);
  t.deepEqual(await files(dir), await files(real.storage));

  // docker-registry serves what we wrote; skopeo sees every image with its digest.
  const served = await startRegistry(t, { storage: dir });
  t.is(await skopeoDigest(`docker://${served.host}/kube-apiserver:v1.25.0`, NO_TLS), single.manifest.digest);
  t.is(await skopeoDigest(`docker://${served.host}/library/nginx:1.25`, NO_TLS), single.manifest.digest);
  t.is(await skopeoDigest(`docker://${served.host}/labring/multi:1`, NO_TLS), multi.index.digest);
  const out = await tempDir(t);
  await tool('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${served.host}/labring/multi:1`, `oci:${out}:m`]);
  await tool('skopeo', ['copy', '--src-tls-verify=false', `docker://${served.host}/kube-apiserver:v1.25.0`, `oci:${out}:k`]);
  const catalog = JSON.parse(await tool('curl', ['-sf', `${served.url}/v2/_catalog`])) as { repositories: string[] };
  t.deepEqual(catalog.repositories, ['kube-apiserver', 'labring/multi', 'library/nginx']);
});

test('a registry directory reads back as a source with every digest', async (t) => {
  const src = await tempDir(t);
  const single = await randomImage(src, { name: 'single', layers: 2, layerBytes: 20 << 10 });
  const multi = await randomIndex(src, { name: 'multi' });
  const copy = await copier(t);
  const dir = join(await tempDir(t), 'registry');
  await copy(`oci:${src}:single`, `registry-dir:${dir}:registry.k8s.io/pause:3.9`);
  await copy(`oci:${src}:multi`, `registry-dir:${dir}:labring/multi:1`, 'all');
  t.is((await copy(`registry-dir:${dir}:registry.k8s.io/pause:3.9`, 'store:a:1')).digest, single.manifest.digest);
  t.is((await copy(`registry-dir:${dir}:pause:3.9`, 'store:a:2')).digest, single.manifest.digest);
  t.is((await copy(`registry-dir:${dir}:labring/multi:1`, 'store:m:1', 'all')).digest, multi.index.digest);
  const out = await tempDir(t);
  t.is((await copy(`registry-dir:${dir}:labring/multi:1`, `oci:${out}:m`, 'all')).digest, multi.index.digest);
  const err = await t.throwsAsync(copy(`registry-dir:${dir}:nope:1`, 'store:n:1'));
  t.regex(err!.message, /no image docker\.io\/library\/nope:1/);
  const noName = await t.throwsAsync(copy(`registry-dir:${dir}`, 'store:n:1'));
  t.regex(noName!.message, /holds 2 images; name one/);
});

test('re-writing an image into a registry directory skips the blobs it holds', async (t) => {
  const src = await tempDir(t);
  await randomImage(src, { name: 'a', layers: 3, layerBytes: 20 << 10 });
  const copy = await copier(t);
  const dir = join(await tempDir(t), 'registry');
  const first = await copy(`oci:${src}:a`, `registry-dir:${dir}:x/a:1`);
  t.is(first.blobsCopied, 4);
  const second = await copy(`oci:${src}:a`, `registry-dir:${dir}:y/a:2`);
  t.is(second.blobsSkipped, 4);
  const served = await startRegistry(t, { storage: dir });
  t.is(await skopeoDigest(`docker://${served.host}/y/a:2`, NO_TLS), first.digest);
  await tool('skopeo', ['copy', '--src-tls-verify=false', `docker://${served.host}/y/a:2`, `oci:${await tempDir(t)}:a`]);
});
