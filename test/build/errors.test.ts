import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { sealos } from '../helpers/cli.js';
import { startRegistry } from '../helpers/registry.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { tempDir } from '../helpers/temp.js';
import { writeTree } from '../helpers/build.js';
import { randomImage } from '../helpers/images.js';
import { copyImage } from '../../src/oci/index.js';
import { parseAnyLocation } from '../../src/registry/index.js';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';

test('bad input fails with file:line or the image name, a non-zero exit, and an unchanged store', async (t) => {
  const reg = await startRegistry(t);
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const ctx = join(dir, 'ctx');
  await writeTree(ctx, { a: 'a', 'sub/b': 'b', Kubefile: 'FROM scratch\nCOPY a /a\n' });
  await writeTree(dir, { outside: 'o' });
  // A base image in the registry: a build that pulls it and then fails must not keep its blobs.
  const lctx = { storeRoot: join(dir, 'unused') };
  await randomImage(join(dir, 'base'), { layers: 2, layerBytes: 32 << 10, name: 'x' });
  await copyImage(await parseAnyLocation(`oci:${join(dir, 'base')}:x`, lctx).openSource(), await parseAnyLocation(`docker://${reg.host}/lib/base:1`, lctx).openDestination());
  const ok = await sealos(store, ['build', '-t', 'base:1', '--save-image=false', ctx]);
  t.is(ok.code, 0, ok.stderr);
  const before = await snapshotStore(store);

  const cases: Array<{ kubefile: string; files?: Record<string, string>; want: RegExp; args?: string[] }> = [
    { kubefile: 'FROM scratch\nCOPY a /a\n\nCOPPY a /b\n', want: /Kubefile:4: unknown instruction "COPPY"/ },
    { kubefile: 'FROM scratch\nLABEL a="unterminated\n', want: /Kubefile:2: LABEL: unterminated double quote/ },
    { kubefile: 'FROM scratch\nCOPY a /a\nCMD ["a", "b"\n', want: /Kubefile:3: CMD: invalid JSON array/ },
    { kubefile: 'FROM scratch\nCOPY a /a\nCOPY missing /m\n', want: /Kubefile:3: COPY: "missing" not found in the build context/ },
    { kubefile: 'FROM scratch\nCOPY ../outside /o\n', want: /Kubefile:2: COPY: "\.\.\/outside" is outside the build context/ },
    { kubefile: 'FROM scratch\nCOPY a /a\nRUN echo hi\n', want: /Kubefile:3: RUN needs a container runtime/ },
    { kubefile: 'FROM scratch\nADD https://example.com/x.tgz /x\n', want: /Kubefile:2: ADD https:\/\/example.com\/x.tgz: sealos build works offline/ },
    { kubefile: `FROM ${reg.host}/lib/base:1\nCOPY a /a\nCOPY nope /nope\n`, want: /Kubefile:3: COPY: "nope" not found/ },
    { kubefile: `FROM ${reg.host}/no/such:image\nCOPY a /a\n`, want: new RegExp(`Kubefile:1: image ${reg.host.replace(/\./g, '\\.')}/no/such:image is not in the local store and pulling it failed`) },
    {
      kubefile: 'FROM scratch\nCOPY . /\n',
      files: { 'manifests/app.yaml': `spec:\n  containers:\n  - image: ${reg.host}/missing/app:v1\n` },
      args: ['--save-image=true'],
      want: new RegExp(`cannot capture 1 of 1 image\\(s\\): ${reg.host.replace(/\./g, '\\.')}/missing/app:v1 \\(manifests/app.yaml:3\\)`),
    },
  ];
  for (const c of cases) {
    const cdir = join(dir, `case-${cases.indexOf(c)}`);
    await writeTree(cdir, { a: 'a', Kubefile: c.kubefile, ...(c.files ?? {}) });
    const r = await sealos(store, ['build', '-t', 'bad:1', ...(c.args ?? ['--save-image=false']), cdir]);
    t.not(r.code, 0, c.kubefile);
    t.regex(r.stderr, c.want);
    t.notRegex(r.stderr, /this is a bug/);
    t.deepEqual(await snapshotStore(store), before, `store changed by: ${c.kubefile}`);
  }
  // A missing -f file.
  const nf = await sealos(store, ['build', '-f', join(dir, 'Nope'), '-t', 'x', ctx]);
  t.not(nf.code, 0);
  t.regex(nf.stderr, /Nope: no such file/);
});

test('a crashed build leaves a staging directory that the next build removes', async (t) => {
  const dir = await tempDir(t);
  const store = join(dir, 'store');
  const ctx = join(dir, 'ctx');
  await writeTree(ctx, { a: 'a', Kubefile: 'FROM scratch\nCOPY a /a\n' });
  const first = await sealos(store, ['build', '-q', '-t', 'one', '--save-image=false', ctx]);
  t.is(first.code, 0, first.stderr);
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const orphan = join(store, 'tmp', `build-${dead}-00000000-0000-4000-8000-000000000000.d`);
  await mkdir(join(orphan, 'layout'), { recursive: true });
  await writeFile(join(orphan, 'layer-0.tar.gz'), 'half a layer');
  const second = await sealos(store, ['build', '-q', '-t', 'two', '--save-image=false', ctx]);
  t.is(second.code, 0, second.stderr);
  t.deepEqual((await readdir(join(store, 'tmp'))).filter((n) => n.startsWith('build-')), []);
});
