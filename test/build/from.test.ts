import { join } from 'node:path';
import test from 'ava';
import { buildImage } from '../../src/build/index.js';
import { copyImage, Store } from '../../src/oci/index.js';
import { parseAnyLocation } from '../../src/registry/index.js';
import { tool } from '../helpers/cli.js';
import { randomImage } from '../helpers/images.js';
import { startRegistry } from '../helpers/registry.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { tempDir } from '../helpers/temp.js';
import { treeOf, umociUnpack, writeTree } from '../helpers/build.js';

test('FROM an image in a registry, then FROM an image in the store; COPY --from an image', async (t) => {
  const reg = await startRegistry(t);
  const dir = await tempDir(t);
  const lctx = { storeRoot: join(dir, 'unused') };
  await randomImage(join(dir, 'base'), { layers: 2, layerBytes: 64 << 10, name: 'x', labels: { from: 'base' } });
  const baseRef = `${reg.host}/lib/base:1`;
  await copyImage(await parseAnyLocation(`oci:${join(dir, 'base')}:x`, lctx).openSource(), await parseAnyLocation(`docker://${baseRef}`, lctx).openDestination());

  const storeRoot = join(dir, 'store');
  const ctx = join(dir, 'ctx');
  await writeTree(ctx, { Kubefile: `FROM ${baseRef}\nWORKDIR /app\nCOPY f .\nCMD ["run"]\n`, f: 'f' });
  const before = await snapshotStore(join(dir, 'empty-store'));
  const a = await buildImage({ contextDir: ctx, tags: ['child:1'], storeRoot, saveImages: false });
  t.is(a.layersBuilt, 2);
  const inspect = JSON.parse(await tool('skopeo', ['inspect', `oci:${storeRoot}:docker.io/library/child:1`])) as { Layers: string[]; Labels: Record<string, string> };
  t.is(inspect.Layers.length, 4);
  t.is(inspect.Labels.from, 'base');
  const cfg = JSON.parse(await tool('skopeo', ['inspect', '--config', `oci:${storeRoot}:docker.io/library/child:1`])) as { config: { Cmd: string[]; Env: string[] }; history: unknown[] };
  t.deepEqual(cfg.config.Cmd, ['run'], 'CMD replaces the base one');
  t.deepEqual(cfg.config.Env, ['PATH=/usr/bin:/bin'], 'the base PATH is kept');
  t.is(cfg.history.length, 2 + 3);
  const rootfs = await umociUnpack(t, storeRoot, 'docker.io/library/child:1');
  const tree = await treeOf(rootfs);
  t.true(tree.some((l) => / app\/f /.test(l)));
  t.true(tree.some((l) => / data\/[0-9a-f]+-0\.bin /.test(l)), 'base files are there');

  // FROM the image just built, found in the store (the registry is gone), with COPY --from the registry-less store image.
  await reg.stop();
  await writeTree(ctx, { Kubefile: 'FROM child:1 AS parent\nCOPY f /g\nFROM scratch\nCOPY --from=child:1 /app/f /copied\n' });
  const b = await buildImage({ contextDir: ctx, tags: ['grandchild:1'], storeRoot, saveImages: false, target: 'parent' });
  t.is(b.layersBuilt, 1);
  const c = await buildImage({ contextDir: ctx, tags: ['copied:1'], storeRoot, saveImages: false });
  const copied = await treeOf(await umociUnpack(t, storeRoot, 'docker.io/library/copied:1'));
  t.deepEqual(copied.map((l) => l.split(' ').slice(0, 4).join(' ')), ['f 0644 0:0 copied']);
  t.truthy(c.digest);
  t.deepEqual(before.index, '');
  const names = (await (await Store.open(storeRoot)).list()).map((i) => i.name).sort();
  t.deepEqual(names, ['docker.io/library/child:1', 'docker.io/library/copied:1', 'docker.io/library/grandchild:1']);
});
