import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorChain } from '../../src/errors.js';
import { copyImage, hostPlatform, parseIndex, Store } from '../../src/oci/index.js';
import { parseAnyLocation, Registries, type RegistryLocationContext } from '../../src/registry/index.js';
import { tool } from '../helpers/cli.js';
import { randomImage } from '../helpers/images.js';
import { randomIndex, skopeoDigest } from '../helpers/registry-images.js';
import { recordingReporter } from '../helpers/recording-reporter.js';
import { startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/temp.js';

const NO_TLS = ['--tls-verify=false'];

async function context(t: Parameters<typeof tempDir>[0], extra: Partial<RegistryLocationContext> = {}) {
  const storeRoot = join(await tempDir(t), 'store');
  const reporter = recordingReporter();
  const registries = new Registries({ retryBaseMs: 20, ...extra });
  t.teardown(() => registries.close());
  const ctx: RegistryLocationContext = { storeRoot, reporter, registries, ...extra };
  const copy = async (from: string, to: string, o: { platforms?: 'all' } = {}) =>
    copyImage(await parseAnyLocation(from, ctx).openSource(), await parseAnyLocation(to, ctx).openDestination(), {
      reporter,
      jobs: 4,
      platforms: o.platforms ?? hostPlatform(),
    });
  return { ctx, reporter, copy, storeRoot };
}

test('push from the store: skopeo pulls it with identical digests', async (t) => {
  const reg = await startRegistry(t);
  const { copy, storeRoot } = await context(t);
  const src = await tempDir(t);
  const img = await randomImage(src, { name: 'x', layers: 3, layerBytes: 200 << 10 });
  await copy(`oci:${src}:x`, 'store:test/x:1');
  const pushed = await copy('store:test/x:1', `docker://${reg.host}/test/x:1`);
  t.is(pushed.digest, img.manifest.digest);
  t.is(await skopeoDigest(`docker://${reg.host}/test/x:1`, NO_TLS), img.manifest.digest);
  const out = await tempDir(t);
  await tool('skopeo', ['copy', ...['--src-tls-verify=false'], `docker://${reg.host}/test/x:1`, `oci:${out}:x`]);
  const index = parseIndex(await readFile(join(out, 'index.json')));
  t.is(index.manifests[0]?.digest, img.manifest.digest);
  for (const l of img.layers) t.truthy(await readFile(join(out, 'blobs', 'sha256', l.digest.slice(7))));
  const store = await Store.open(storeRoot);
  t.deepEqual((await store.list()).map((i) => i.name), ['docker.io/test/x:1']);
});

test('pull what skopeo pushed: identical digests, and a second pull skips every blob', async (t) => {
  const reg = await startRegistry(t);
  const src = await tempDir(t);
  const img = await randomImage(src, { name: 'y', layers: 2, layerBytes: 100 << 10 });
  await tool('skopeo', ['copy', '--dest-tls-verify=false', `oci:${src}:y`, `docker://${reg.host}/other/y:2`]);
  const { copy, reporter } = await context(t);
  const r = await copy(`docker://${reg.host}/other/y:2`, `store:${reg.host}/other/y:2`);
  t.is(r.digest, img.manifest.digest);
  t.is(r.blobsCopied, 3);
  const again = await copy(`docker://${reg.host}/other/y:2`, `store:${reg.host}/other/y:2`);
  t.is(again.blobsSkipped, 3);
  t.is(reporter.blobs('skipped').length, 3);
});

test('a 2-platform index round-trips: we push it, skopeo sees the index; skopeo pushes it, we pull it whole', async (t) => {
  const reg = await startRegistry(t);
  const src = await tempDir(t);
  const fixture = await randomIndex(src, { name: 'multi' });
  const { copy } = await context(t);
  await copy(`oci:${src}:multi`, `docker://${reg.host}/multi/app:v1`, { platforms: 'all' });
  t.is(await skopeoDigest(`docker://${reg.host}/multi/app:v1`, NO_TLS), fixture.index.digest);
  for (const child of fixture.images)
    t.is(await skopeoDigest(`docker://${reg.host}/multi/app@${child.manifest.digest}`, NO_TLS), child.manifest.digest);
  const out = await tempDir(t);
  await tool('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${reg.host}/multi/app:v1`, `oci:${out}:m`]);
  t.is(parseIndex(await readFile(join(out, 'index.json'))).manifests[0]?.digest, fixture.index.digest);

  await tool('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${src}:multi`, `docker://${reg.host}/multi/other:v2`]);
  const { copy: copy2, storeRoot } = await context(t);
  const all = await copy2(`docker://${reg.host}/multi/other:v2`, 'store:multi/other:v2', { platforms: 'all' });
  t.is(all.digest, fixture.index.digest);
  const one = await copy2(`docker://${reg.host}/multi/other:v2`, 'store:multi/other:host');
  t.is(one.digest, fixture.images[hostPlatform().architecture === 'arm64' ? 1 : 0]!.manifest.digest);
  const store = await Store.open(storeRoot);
  t.deepEqual((await store.list()).map((i) => i.name).sort(), ['docker.io/multi/other:host', 'docker.io/multi/other:v2']);
});

test('push to another repository of the same registry mounts the blobs instead of uploading', async (t) => {
  const reg = await startRegistry(t);
  const src = await tempDir(t);
  await randomImage(src, { name: 'z', layers: 2, layerBytes: 64 << 10 });
  const { copy, reporter } = await context(t);
  await copy(`oci:${src}:z`, `docker://${reg.host}/a/z:1`);
  const before = (await reg.accessLog()).length;
  const r = await copy(`docker://${reg.host}/a/z:1`, `docker://${reg.host}/b/z:1`);
  t.is(r.blobsSkipped, 3);
  t.is(reporter.blobs('skipped').length, 3);
  const log = (await reg.accessLog()).slice(before);
  t.is(log.filter((l) => /"POST \/v2\/b\/z\/blobs\/uploads\/\?mount=/.test(l)).length, 3);
  t.false(log.some((l) => /"(PATCH|PUT) \/v2\/b\/z\/blobs\/uploads/.test(l)));
  t.is(await skopeoDigest(`docker://${reg.host}/b/z:1`, NO_TLS), r.digest);
});

test('large blobs go up in PATCH chunks and skopeo reads them back', async (t) => {
  const reg = await startRegistry(t);
  const src = await tempDir(t);
  const img = await randomImage(src, { name: 'big', layers: 2, layerBytes: 300 << 10 });
  const { copy } = await context(t, { chunkBytes: 64 << 10 });
  await copy(`oci:${src}:big`, `docker://${reg.host}/big/x:1`);
  const patches = (await reg.accessLog()).filter((l) => /"PATCH \/v2\/big\/x\/blobs\/uploads\//.test(l));
  t.true(patches.length >= 8, `${patches.length} PATCH requests`);
  const out = await tempDir(t);
  await tool('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.host}/big/x:1`, `oci:${out}:x`]);
  t.is(parseIndex(await readFile(join(out, 'index.json'))).manifests[0]?.digest, img.manifest.digest);
});

test('a pull of an image that does not exist names it', async (t) => {
  const reg = await startRegistry(t);
  const { copy, storeRoot } = await context(t);
  const err = await t.throwsAsync(copy(`docker://${reg.host}/no/such:1`, 'store:no/such:1'));
  t.regex(err!.message, /no\/such:1/);
  t.regex(errorChain(err), /404 (MANIFEST_UNKNOWN|NAME_UNKNOWN)/);
  t.is((err as { code?: string }).code, 'REGISTRY_IMAGE_UNKNOWN');
  t.deepEqual(await (await Store.open(storeRoot)).list(), []);
});
