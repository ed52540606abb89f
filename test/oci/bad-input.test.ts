/** Bad archives and arguments: a one-line error naming the problem, a non-zero exit, the store exactly as before. */
import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeTarHeader, END_OF_ARCHIVE, paddingFor, TarFile } from '../../src/oci/index.js';
import { sealos, tool } from '../helpers/cli.js';
import { randomImage } from '../helpers/images.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { tempDir } from '../helpers/temp.js';

const A = 'docker.io/library/alpha:1';
const B = 'docker.io/library/beta:1';

/** A store that already holds one image, and a source layout with two more. */
async function fixture(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  await randomImage(src, { layers: 2, layerBytes: 50_000, name: A });
  await randomImage(src, { layers: 2, layerBytes: 50_000, name: B });
  const store = join(dir, 'store');
  const pre = join(dir, 'pre');
  await randomImage(pre, { layers: 1, name: 'docker.io/library/existing:1' });
  const preTar = join(dir, 'pre.tar');
  await tool('skopeo', ['copy', '-q', `oci:${pre}:docker.io/library/existing:1`, `oci-archive:${preTar}:docker.io/library/existing:1`]);
  const loaded = await sealos(store, ['load', '-q', '-i', preTar]);
  t.is(loaded.code, 0, loaded.stderr);
  return { dir, src, store };
}

function tarOf(entries: ReadonlyArray<readonly [string, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, data] of entries) parts.push(encodeTarHeader({ name, type: 'file', size: data.length, mode: 0o644 }), data, Buffer.alloc(paddingFor(data.length)));
  return Buffer.concat([...parts, END_OF_ARCHIVE]);
}

async function expectRefused(t: Parameters<typeof tempDir>[0], store: string, args: string[], why: RegExp) {
  const before = await snapshotStore(store);
  const r = await sealos(store, args);
  t.not(r.code, 0);
  t.is(r.stdout, '');
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
  t.is(errors.length, 1, r.stderr);
  t.regex(errors[0] ?? '', why);
  t.notRegex(r.stderr, /\n\s+at /, 'no stack trace without --debug');
  t.deepEqual(await snapshotStore(store), before, 'store unchanged');
}

test('a truncated archive', async (t) => {
  const { dir, src, store } = await fixture(t);
  const tar = join(dir, 'a.tar');
  await tool('skopeo', ['copy', '-q', `oci:${src}:${A}`, `oci-archive:${tar}:${A}`]);
  const whole = await readFile(tar);
  await writeFile(tar, whole.subarray(0, Math.floor(whole.length / 2)));
  await expectRefused(t, store, ['load', '-i', tar], /a\.tar: truncated/);
});

test('a blob whose content does not match its digest, in the second of two images', async (t) => {
  const { dir, src, store } = await fixture(t);
  const a = join(dir, 'a.tar');
  await tool('skopeo', ['copy', '-q', `oci:${src}:${A}`, `oci-archive:${a}:${A}`]);
  // Build one archive holding A whole and B with one layer byte flipped.
  const ta = await TarFile.open(a);
  const bDir = join(dir, 'b.tar');
  await tool('skopeo', ['copy', '-q', `oci:${src}:${B}`, `oci-archive:${bDir}:${B}`]);
  const tb = await TarFile.open(bDir);
  const files = new Map<string, Buffer>();
  for (const tf of [ta, tb]) for (const n of tf.names()) if (tf.has(n)) files.set(n, await tf.read(n, 1 << 24));
  const indexA = JSON.parse(files.get('index.json')!.toString());
  const indexB = JSON.parse((await tb.read('index.json', 1 << 20)).toString());
  files.set('index.json', Buffer.from(JSON.stringify({ ...indexA, manifests: [...indexA.manifests, ...indexB.manifests] })));
  const manifestB = JSON.parse(files.get(`blobs/sha256/${indexB.manifests[0].digest.slice(7)}`)!.toString());
  const layer = files.get(`blobs/sha256/${manifestB.layers[1].digest.slice(7)}`)!;
  layer[layer.length - 100]! ^= 0xff;
  const tar = join(dir, 'corrupt.tar');
  await writeFile(tar, tarOf([...files.entries()]));
  await expectRefused(t, store, ['load', '-i', tar], new RegExp(`${manifestB.layers[1].digest}: content has digest`));
});

test('entries with ../ or an absolute path', async (t) => {
  const { dir, store } = await fixture(t);
  for (const name of ['../evil', '/etc/evil', 'blobs/../../evil']) {
    const tar = join(dir, 'evil.tar');
    await writeFile(tar, tarOf([['oci-layout', Buffer.from('{}')], [name, Buffer.from('x')]]));
    await expectRefused(t, store, ['load', '-i', tar], /evil\.tar: entry .* points outside the archive/);
  }
});

test('an unknown format', async (t) => {
  const { dir, store } = await fixture(t);
  const tar = join(dir, 'other.tar');
  await writeFile(tar, tarOf([['hello.txt', Buffer.from('hi')]]));
  await expectRefused(t, store, ['load', '-i', tar], /other\.tar: unknown archive format/);
  const junk = join(dir, 'junk.bin');
  await writeFile(junk, Buffer.alloc(3000, 0x41));
  await expectRefused(t, store, ['load', '-i', junk], /junk\.bin: not a tar archive/);
  await expectRefused(t, store, ['load', '-i', join(dir, 'missing.tar')], /missing\.tar: cannot open/);
});

test('a missing image name', async (t) => {
  const { dir, src, store } = await fixture(t);
  const tar = join(dir, 'noname.tar');
  await tool('skopeo', ['copy', '-q', `oci:${src}:${A}`, `oci-archive:${tar}`]);
  await expectRefused(t, store, ['load', '-i', tar], /noname\.tar: image 1 of 1 has no name/);
  await expectRefused(t, store, ['save', '-o', join(dir, 'x.tar')], /missing required argument 'images'/);
  await expectRefused(t, store, ['save', '-o', join(dir, 'x.tar'), 'nothere:1'], /image nothere:1 is not in the local store/);
  await expectRefused(t, store, ['tag', 'Bad Name', 'x:1'], /invalid image reference "Bad Name"/);
  await expectRefused(t, store, ['rmi'], /name at least one image/);
});

test('a failed save leaves no file behind', async (t) => {
  const { dir, store } = await fixture(t);
  const out = join(dir, 'out.tar');
  const r = await sealos(store, ['save', '-o', out, 'existing:1', 'nothere:2']);
  t.not(r.code, 0);
  await t.throwsAsync(readFile(out));
  t.deepEqual((await tool('ls', ['-A', dir])).split('\n').filter((n) => n.includes('sealos-tmp')), []);
});
