import test from 'ava';
import { spawn } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { copyImage, LayoutImageSource, OciLayout, Store, findNamed } from '../../src/oci/index.js';
import { sealos, tool } from '../helpers/cli.js';
import { randomImage } from '../helpers/images.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { tempDir } from '../helpers/temp.js';

async function intoStore(store: Store, dir: string, name: string, layers = 2) {
  const src = join(dir, `src-${name.replace(/[/:]/g, '_')}`);
  await randomImage(src, { layers, layerBytes: 30_000, name });
  const layout = new OciLayout(src);
  const top = findNamed(await layout.readIndex(), name, src);
  await copyImage(new LayoutImageSource(src, layout, top), await store.destination(name));
}

test('the store is an OCI layout that skopeo reads, named by full references', async (t) => {
  const dir = await tempDir(t);
  const store = await Store.open(join(dir, 'store'));
  await intoStore(store, dir, 'docker.io/library/one:1');
  t.deepEqual((await store.list()).map((i) => i.name), ['docker.io/library/one:1']);
  const out = JSON.parse(await tool('skopeo', ['inspect', `oci:${store.root}:docker.io/library/one:1`]));
  t.is(out.Layers.length, 2);
  t.is((await store.get('one:1')).name, 'docker.io/library/one:1');
});

test('tag adds names; rmi removes a name and only the blobs nothing else uses', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'store');
  const store = await Store.open(root);
  await intoStore(store, dir, 'docker.io/library/one:1', 2);
  await intoStore(store, dir, 'docker.io/library/two:1', 3);
  const all = (await snapshotStore(root)).blobs.length;
  t.is(all, 2 + 2 + 3 + 2, 'manifests, configs and layers, each once');
  t.is((await sealos(root, ['tag', 'one:1', 'one:2', 'localhost:5000/x/one:3'])).code, 0);
  t.is((await snapshotStore(root)).blobs.length, all, 'tags add no blobs');
  t.is((await sealos(root, ['rmi', 'one:1'])).code, 0);
  t.is((await snapshotStore(root)).blobs.length, all, 'other names still hold the blobs');
  const id = (await store.get('one:2')).descriptor.digest.slice(7, 19);
  const refused = await sealos(root, ['rmi', id]);
  t.is(refused.code, 3);
  t.regex(refused.stderr, /has 2 names/);
  const r = await sealos(root, ['rmi', '-f', id]);
  t.is(r.code, 0, r.stderr);
  t.is((await snapshotStore(root)).blobs.length, 5, 'only two:1 remains');
  t.is((await sealos(root, ['images', '-q'])).stdout.trim(), (await store.get('two:1')).descriptor.digest.slice(7, 19));
  t.is((await sealos(root, ['rmi', '-a'])).code, 0);
  t.deepEqual((await snapshotStore(root)).blobs, []);
});

test('images prints a table, --digests and --json', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'store');
  const store = await Store.open(root);
  await intoStore(store, dir, 'registry.k8s.io/pause:3.9');
  const table = (await sealos(root, ['images'])).stdout.split('\n');
  t.regex(table[0]!, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
  t.regex(table[1]!, /^registry\.k8s\.io\/pause\s+3\.9\s+[0-9a-f]{12}\s+\S.*ago\s+\d/);
  t.regex((await sealos(root, ['images', '--digests'])).stdout, /sha256:[0-9a-f]{64}/);
  const json = JSON.parse((await sealos(root, ['images', '--json'])).stdout);
  t.is(json[0].names[0], 'registry.k8s.io/pause:3.9');
  t.true(json[0].size > 60_000);
});

test('concurrent sealos processes do not corrupt the store', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'store');
  const names = ['docker.io/library/c1:1', 'docker.io/library/c2:1', 'docker.io/library/c3:1', 'docker.io/library/c4:1'];
  const tars: string[] = [];
  for (const name of names) {
    const src = join(dir, name.replace(/[/:]/g, '_'));
    await randomImage(src, { layers: 3, layerBytes: 300_000, name });
    const tar = `${src}.tar`;
    await tool('skopeo', ['copy', '-q', `oci:${src}:${name}`, `oci-archive:${tar}:${name}`]);
    tars.push(tar);
  }
  const results = await Promise.all(tars.map((tar) => sealos(root, ['load', '-q', '-i', tar])));
  for (const r of results) t.is(r.code, 0, r.stderr);
  const store = await Store.open(root);
  t.deepEqual((await store.list()).map((i) => i.name).sort(), names);
  for (const name of names) await tool('skopeo', ['inspect', `oci:${root}:${name}`]);
  t.deepEqual((await snapshotStore(root)).tmp, []);
});

test('a lock left by a crashed process is taken over; a live one is waited for', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'store');
  const store = await Store.open(root, { lockWaitMs: 300 });
  const dead = spawn('true');
  await new Promise((r) => dead.on('close', r));
  await writeFile(join(root, 'lock'), `${dead.pid}\n`);
  await intoStore(store, dir, 'docker.io/library/after-crash:1');
  t.is((await store.list()).length, 1);
  await writeFile(join(root, 'lock'), `${process.ppid}\n`);
  const err = await t.throwsAsync(store.tag('after-crash:1', ['x:1']));
  t.regex(err?.message ?? '', /held by process/);
});

test('gc removes temp files of dead processes and keeps live ones', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'store');
  const store = await Store.open(root);
  const deadTmp = join(root, 'tmp', '.tmp-999999999-00000000-0000-0000-0000-000000000000');
  const liveTmp = join(root, 'tmp', `.tmp-${process.ppid}-00000000-0000-0000-0000-000000000000`);
  await writeFile(deadTmp, 'half a blob');
  await writeFile(liveTmp, 'in progress');
  await store.collectGarbage();
  t.deepEqual(await readdir(join(root, 'tmp')), [liveTmp.split('/').pop()]);
});
