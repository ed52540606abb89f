import test from 'ava';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { copyImage, hostPlatform, Store } from '../../src/oci/index.js';
import { parseAnyLocation, Registries, RegistryError, type RegistryLocationContext } from '../../src/registry/index.js';
import type { Reporter } from '../../src/report.js';
import { tool } from '../helpers/cli.js';
import { randomImage } from '../helpers/images.js';
import { skopeoDigest } from '../helpers/registry-images.js';
import { startProxy } from '../helpers/registry-proxy.js';
import { recordingReporter } from '../helpers/recording-reporter.js';
import { startRegistry } from '../helpers/registry.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { tempDir } from '../helpers/temp.js';

type T = Parameters<typeof tempDir>[0];

async function context(t: T, opts: Partial<RegistryLocationContext> = {}) {
  const storeRoot = join(await tempDir(t), 'store');
  const registries = new Registries({ retryBaseMs: 10, ...opts });
  t.teardown(() => registries.close());
  const ctx: RegistryLocationContext = { storeRoot, registries, ...opts };
  const copy = async (from: string, to: string, reporter: Reporter, jobs = 4) =>
    copyImage(await parseAnyLocation(from, ctx).openSource(), await parseAnyLocation(to, ctx).openDestination(), {
      reporter,
      jobs,
      platforms: hostPlatform(),
    });
  return { storeRoot, copy };
}

/** Kills the registry when the `n`th blob starts: with one job, the blobs before it are finished. */
function killAtBlob(n: number, kill: () => void): ReturnType<typeof recordingReporter> {
  const r = recordingReporter();
  let starts = 0;
  return {
    ...r,
    emit(e) {
      r.emit(e);
      if (e.kind === 'blob' && e.state === 'start' && ++starts === n) kill();
    },
  };
}

/** Every blob file in a store is intact (its content hashes to its name). */
async function assertBlobsIntact(t: T, storeRoot: string): Promise<void> {
  const dir = join(storeRoot, 'blobs', 'sha256');
  for (const name of await readdir(dir)) t.is(createHash('sha256').update(await readFile(join(dir, name))).digest('hex'), name);
}

test('registry killed in the middle of a push: clear error; the re-run does not send finished blobs again', async (t) => {
  const reg = await startRegistry(t);
  const src = await tempDir(t);
  const img = await randomImage(src, { name: 'p', layers: 4, layerBytes: 256 << 10 });
  const { copy } = await context(t);
  const first = killAtBlob(3, () => process.kill(reg.pid()!, 'SIGKILL'));
  const err = await t.throwsAsync(copy(`oci:${src}:p`, `docker://${reg.host}/crash/p:1`, first, 1));
  t.true(err instanceof RegistryError);
  t.is((err as RegistryError).code, 'REGISTRY_UNREACHABLE');
  t.regex(err!.message, /connection (refused|reset)/);
  const finished = first.blobs('done').slice(0, 2);
  t.is(finished.length, 2);

  await reg.stop();
  await reg.restart();
  const before = (await reg.accessLog()).length;
  const second = recordingReporter();
  const r = await copy(`oci:${src}:p`, `docker://${reg.host}/crash/p:1`, second, 1);
  t.is(r.digest, img.manifest.digest);
  t.deepEqual(second.blobs('skipped'), finished);
  for (const d of finished) t.false(second.blobs('start').includes(d));
  const log = (await reg.accessLog()).slice(before);
  for (const d of finished) t.false(log.some((l) => l.includes(`digest=${d.replace(':', '%3A')}`) || l.includes(`digest=${d}`)), d);
  t.is(await skopeoDigest(`docker://${reg.host}/crash/p:1`, ['--tls-verify=false']), img.manifest.digest);
});

test('registry killed in the middle of a pull: clear error, no name added; the re-run completes without fetching finished blobs', async (t) => {
  const reg = await startRegistry(t);
  const src = await tempDir(t);
  const img = await randomImage(src, { name: 'q', layers: 4, layerBytes: 256 << 10 });
  await tool('skopeo', ['copy', '--dest-tls-verify=false', `oci:${src}:q`, `docker://${reg.host}/crash/q:1`]);
  const { copy, storeRoot } = await context(t);
  const first = killAtBlob(3, () => process.kill(reg.pid()!, 'SIGKILL'));
  const err = await t.throwsAsync(copy(`docker://${reg.host}/crash/q:1`, 'store:crash/q:1', first, 1));
  t.regex(err!.message, /blob sha256:[0-9a-f]{64}.*connection (refused|reset)/);
  t.regex((err as RegistryError).hint ?? '', /running and reachable/);
  const store = await Store.open(storeRoot);
  t.deepEqual(await store.list(), []);
  // Verified blobs stay (unnamed) so the re-run resumes; no temp file or half blob stays.
  const finished = first.blobs('done');
  t.is(finished.length, 2);
  const after = await snapshotStore(storeRoot);
  t.deepEqual(after.blobs, finished.map((d) => d.slice(7)).sort());
  t.deepEqual(after.tmp, []);
  await assertBlobsIntact(t, storeRoot);

  await reg.restart();
  const second = recordingReporter();
  const r = await copy(`docker://${reg.host}/crash/q:1`, 'store:crash/q:1', second, 1);
  t.is(r.digest, img.manifest.digest);
  t.deepEqual(second.blobs('skipped').sort(), [...finished].sort());
  for (const d of finished) t.false(second.blobs('start').includes(d));
  t.deepEqual((await store.list()).map((i) => i.name), ['docker.io/crash/q:1']);
  await assertBlobsIntact(t, storeRoot);
});

test('a proxy that flips a byte of a blob: digest error, and nothing lands in the store', async (t) => {
  const reg = await startRegistry(t);
  const src = await tempDir(t);
  const img = await randomImage(src, { name: 'c', layers: 2, layerBytes: 128 << 10 });
  await tool('skopeo', ['copy', '--dest-tls-verify=false', `oci:${src}:c`, `docker://${reg.host}/bad/c:1`]);
  const proxy = await startProxy(t, reg.host, { corruptBlob: img.config.digest });
  const { copy, storeRoot } = await context(t);
  await Store.open(storeRoot);
  const before = await snapshotStore(storeRoot);
  // One job: the config (the first blob) fails and no other blob is started.
  const err = await t.throwsAsync(copy(`docker://${proxy.host}/bad/c:1`, 'store:bad/c:1', recordingReporter(), 1));
  t.is((err as { code?: string }).code, 'DIGEST_MISMATCH');
  t.regex(err!.message, new RegExp(img.config.digest));
  t.deepEqual(await snapshotStore(storeRoot), before);
  t.deepEqual(await (await Store.open(storeRoot)).list(), []);

  // With parallel jobs the good blobs fetched alongside stay, verified and unnamed; the corrupt one never lands.
  proxy.faults.corruptBlob = img.layers[1]!.digest;
  const err2 = await t.throwsAsync(copy(`docker://${proxy.host}/bad/c:1`, 'store:bad/c:1', recordingReporter(), 4));
  t.is((err2 as { code?: string }).code, 'DIGEST_MISMATCH');
  const after = await snapshotStore(storeRoot);
  t.is(after.index, before.index);
  t.deepEqual(after.tmp, []);
  t.false(after.blobs.includes(img.layers[1]!.digest.slice(7)));
  await assertBlobsIntact(t, storeRoot);
});

test('a blob download cut midway resumes with a Range request', async (t) => {
  const reg = await startRegistry(t);
  const src = await tempDir(t);
  const img = await randomImage(src, { name: 'r', layers: 1, layerBytes: 1 << 20 });
  await tool('skopeo', ['copy', '--dest-tls-verify=false', `oci:${src}:r`, `docker://${reg.host}/cut/r:1`]);
  const layer = img.layers[0]!;
  const proxy = await startProxy(t, reg.host, { cutBlob: { digest: layer.digest, afterBytes: 300_000, times: 2 } });
  const { copy } = await context(t);
  const r = await copy(`docker://${proxy.host}/cut/r:1`, 'store:cut/r:1', recordingReporter());
  t.is(r.digest, img.manifest.digest);
  const gets = proxy.log.filter((e) => e.method === 'GET' && e.path.endsWith(layer.digest));
  t.is(gets.length, 3, JSON.stringify(gets));
  t.is(gets[0]!.range, undefined);
  const from = (i: number) => Number(/^bytes=(\d+)-$/.exec(gets[i]!.range ?? '')?.[1] ?? -1);
  // The proxy cut after 300000 bytes; whatever arrived before the cut is not asked for again.
  t.true(from(1) > 0 && from(1) <= 300_000, `first resume at ${from(1)}`);
  t.true(from(2) >= from(1), `second resume at ${from(2)}`);
});

test('500 then 200: manifests and uploads are retried; without retries the error is temporary and names the request', async (t) => {
  const reg = await startRegistry(t);
  const src = await tempDir(t);
  const img = await randomImage(src, { name: 'f', layers: 2, layerBytes: 64 << 10 });
  const proxy = await startProxy(t, reg.host, { fail500: { match: /^(PUT .*\/blobs\/uploads\/|PUT .*\/manifests\/)/, times: 2 } });
  const { copy } = await context(t);
  const r = await copy(`oci:${src}:f`, `docker://${proxy.host}/retry/f:1`, recordingReporter());
  t.is(r.digest, img.manifest.digest);
  t.is(proxy.log.filter((e) => e.status === 500).length, 2);

  proxy.faults.fail500 = { match: /^GET .*\/manifests\//, times: 1 };
  const { copy: noRetry } = await context(t, { retries: 0 });
  const err = await t.throwsAsync(noRetry(`docker://${proxy.host}/retry/f:1`, 'store:f:1', recordingReporter()));
  t.true((err as RegistryError).temporary);
  t.is((err as RegistryError).status, 500);
  t.deepEqual((err as RegistryError).specCodes, ['UNKNOWN']);
  t.regex(err!.message, /GET http:\/\/127\.0\.0\.1:\d+\/v2\/retry\/f\/manifests\/1: 500 UNKNOWN: injected failure/);
});

test('Bearer token auth: anonymous pull, credentialed push with scopes, mount asks for the source scope, bad password is a 401', async (t) => {
  const reg = await startRegistry(t);
  const src = await tempDir(t);
  const img = await randomImage(src, { name: 'b', layers: 2, layerBytes: 32 << 10 });
  const proxy = await startProxy(t, reg.host, { bearer: { username: 'bob', password: 'hunter2-secret' } });
  const home = await tempDir(t);
  const authFile = join(home, 'auth.json');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(authFile, JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from('bob:hunter2-secret').toString('base64') } } }));

  const anon = await context(t);
  const denied = await t.throwsAsync(anon.copy(`oci:${src}:b`, `docker://${proxy.host}/tok/b:1`, recordingReporter()));
  t.is((denied as RegistryError).code, 'AUTH_REQUIRED');

  const authed = await context(t, { authFiles: [authFile] });
  const pushed = await authed.copy(`oci:${src}:b`, `docker://${proxy.host}/tok/b:1`, recordingReporter());
  t.is(pushed.digest, img.manifest.digest);
  t.true(proxy.tokenRequests.some((r) => r === 'bob repository:tok/b:pull,push'));
  const mounted = await authed.copy(`docker://${proxy.host}/tok/b:1`, `docker://${proxy.host}/tok/copy:1`, recordingReporter());
  t.is(mounted.blobsSkipped, 3);
  t.true(proxy.tokenRequests.some((r) => r.startsWith('bob') && r.includes('repository:tok/copy:pull,push') && r.includes('repository:tok/b:pull')));

  const pulled = await anon.copy(`docker://${proxy.host}/tok/b:1`, 'store:tok/b:1', recordingReporter());
  t.is(pulled.digest, img.manifest.digest);

  await writeFile(authFile, JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from('bob:wrong-one').toString('base64') } } }));
  const wrong = await context(t, { authFiles: [authFile] });
  const err = await t.throwsAsync(wrong.copy(`docker://${proxy.host}/tok/b:1`, 'store:x:1', recordingReporter()));
  t.is((err as RegistryError).code, 'AUTH_FAILED');
  t.regex(err!.message, /401 the registry rejected the credentials/);
  t.notRegex(`${err!.message} ${String((err as RegistryError).hint)} ${err!.stack}`, /wrong-one|hunter2/);
});
