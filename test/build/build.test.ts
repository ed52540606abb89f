import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { buildImage } from '../../src/build/index.js';
import { Store, copyImage, parseLocation, ociTransports, type ImageConfig } from '../../src/oci/index.js';
import { buildahBuild, imageConfigOf, treeOf, umociUnpack, writeTree } from '../helpers/build.js';
import { sealos, tool } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const KUBEFILE = `# a cluster image, buildah-comparable
FROM scratch
ENV criData=/var/lib/containerd registryDomain=sealos.hub \\
    registryPort=5000
ENV legacy value with spaces
LABEL sealos.io.type=rootfs sealos.io.version=v1beta1 \\
      init="init-cri.sh \\$registryDomain \\$registryPort && bash init.sh" \\
      port=$registryPort
WORKDIR /opt/app
COPY . .
COPY bin /usr/bin/
COPY ["scripts/init.sh", "etc/a.conf", "/cfg/"]
COPY scripts/*.sh /glob/
WORKDIR sub/dir
COPY etc/a.conf renamed.conf
CMD ["bash init.sh"]
ENTRYPOINT /bin/echo hello
`;

async function sampleContext(dir: string): Promise<void> {
  await writeTree(dir, {
    Kubefile: KUBEFILE,
    'bin/kubeadm': { content: Buffer.alloc(70_000, 7), mode: 0o755 },
    'bin/kubectl': { hardlink: 'bin/kubeadm' },
    'bin/kc': { symlink: 'kubectl' },
    'scripts/init.sh': { content: '#!/bin/bash\necho init\n', mode: 0o750 },
    'scripts/clean.sh': { content: '#!/bin/bash\necho clean\n', mode: 0o700 },
    'etc/a.conf': { content: 'a=1\n', mode: 0o600 },
    'etc/private': { dir: true, mode: 0o700 },
    'etc/private/key': { content: 'k', mode: 0o400 },
    'manifests/x.yaml': 'kind: Pod\n',
    [`long/${'n'.repeat(120)}/file-with-a-long-path.txt`]: 'long\n',
  });
}

const pick = (c: ImageConfig | Record<string, unknown>) => {
  const cfg = ((c as { config?: Record<string, unknown> }).config ?? {}) as Record<string, unknown>;
  const labels = { ...((cfg.Labels as Record<string, string>) ?? {}) };
  delete labels['io.buildah.version'];
  return { Env: cfg.Env, Labels: labels, Cmd: cfg.Cmd, Entrypoint: cfg.Entrypoint, WorkingDir: cfg.WorkingDir };
};

test('a COPY/ENV/LABEL/CMD/ENTRYPOINT/WORKDIR image matches what buildah bud makes', async (t) => {
  const dir = await tempDir(t);
  const ctx = join(dir, 'ctx');
  await sampleContext(ctx);
  const storeRoot = join(dir, 'store');
  const built = await buildImage({ contextDir: ctx, tags: ['example.com/demo/kube:v1', 'demo:latest'], storeRoot, saveImages: false });
  t.deepEqual([...built.names], ['example.com/demo/kube:v1', 'docker.io/library/demo:latest']);

  const ref = 'example.com/demo/kube:v1';
  const inspect = JSON.parse(await tool('skopeo', ['inspect', `oci:${storeRoot}:${ref}`])) as { Digest: string; Layers: string[] };
  t.is(inspect.Digest, built.digest);
  t.is(inspect.Layers.length, 7, 'one layer per COPY, plus one per WORKDIR that creates a directory');

  // Copied out of the store with the copy engine, then unpacked by umoci.
  const out = join(dir, 'out');
  const lctx = { storeRoot };
  await copyImage(await parseLocation(`store:${ref}`, lctx, ociTransports).openSource(), await parseLocation(`oci:${out}:ours`, lctx, ociTransports).openDestination());
  const ours = await umociUnpack(t, out, 'ours');

  const theirsLayout = join(dir, 'buildah');
  await buildahBuild(t, ctx, theirsLayout, 'theirs');
  const theirs = await umociUnpack(t, theirsLayout, 'theirs');

  t.deepEqual(await treeOf(ours), await treeOf(theirs));
  t.deepEqual(pick(await imageConfigOf(out, 'ours')), pick(await imageConfigOf(theirsLayout, 'theirs')));
  const cfg = pick(await imageConfigOf(out, 'ours'));
  t.is((cfg.Labels as Record<string, string>).init, 'init-cri.sh $registryDomain $registryPort && bash init.sh');
  t.is((cfg.Labels as Record<string, string>).port, '5000');
});

test('--timestamp rebuilds are byte-identical; an unchanged rebuild reuses every layer', async (t) => {
  const dir = await tempDir(t);
  const ctx = join(dir, 'ctx');
  await sampleContext(ctx);
  const a = await buildImage({ contextDir: ctx, tags: ['a:1'], storeRoot: join(dir, 's1'), saveImages: false, timestamp: 1_700_000_000 });
  const b = await buildImage({ contextDir: ctx, tags: ['a:1'], storeRoot: join(dir, 's2'), saveImages: false, timestamp: 1_700_000_000, noCache: true });
  t.is(a.digest, b.digest);
  const warm = await buildImage({ contextDir: ctx, tags: ['a:2'], storeRoot: join(dir, 's1'), saveImages: false });
  t.true(warm.layersBuilt > 0, 'no --timestamp: a different cache key');
  const again = await buildImage({ contextDir: ctx, tags: ['a:2'], storeRoot: join(dir, 's1'), saveImages: false });
  t.is(again.layersBuilt, 0);
  const cold = await buildImage({ contextDir: ctx, tags: ['a:3'], storeRoot: join(dir, 's1'), saveImages: false, noCache: true });
  t.true(cold.layersBuilt >= 5);
  // A changed file rebuilds its layer and the ones after it only.
  await writeFile(join(ctx, 'etc/a.conf'), 'a=2\n');
  const changed = await buildImage({ contextDir: ctx, tags: ['a:4'], storeRoot: join(dir, 's1'), saveImages: false });
  t.true(changed.layersReused >= 1);
  t.true(changed.layersBuilt >= 1);
  // The cache names layers the store holds.
  const cache = JSON.parse(await readFile(join(dir, 's1', 'cache', 'build-layers.json'), 'utf8')) as { layers: Record<string, { digest: string }> };
  const blobs = new Set(await readdir(join(dir, 's1', 'blobs', 'sha256')));
  for (const e of Object.values(cache.layers)) t.true(blobs.has(e.digest.slice(7)));
});

test('.dockerignore, ADD of a local tar, multi-stage COPY --from, ARG and --build-arg, --label/--env', async (t) => {
  const dir = await tempDir(t);
  const ctx = join(dir, 'ctx');
  await writeTree(ctx, {
    '.dockerignore': '*.log\n!keep.log\nsecret/\n',
    'a.log': 'no',
    'keep.log': 'yes',
    'secret/pw': 'no',
    'data/x': 'x',
    Kubefile: [
      'ARG BASE=scratch',
      'FROM ${BASE} AS builder',
      'COPY data /data/',
      'COPY --chmod=0640 --chown=1000:1001 data/x /owned',
      'FROM scratch',
      'ARG VERSION=v0',
      'ARG TARGETARCH',
      'LABEL version=$VERSION arch=${TARGETARCH}',
      'COPY --from=builder /data/x /opt/from-stage',
      'COPY --from=builder /owned /opt/owned',
      'ADD rootfs.tar.gz /unpacked/',
      'ADD notatar.gz /kept/',
      'COPY . /ctx/',
      'USER 1000',
      'EXPOSE 80 53/udp',
      'VOLUME /var/lib/x',
    ].join('\n'),
  });
  // A small gzip tar made by GNU tar.
  await writeTree(join(dir, 'tarsrc'), { 'etc/hosts': '127.0.0.1 x\n', 'bin/tool': { content: 'bin', mode: 0o755 } });
  await tool('tar', ['-czf', join(ctx, 'rootfs.tar.gz'), '--owner=0', '--group=0', '-C', join(dir, 'tarsrc'), '.']);
  await writeFile(join(ctx, 'notatar.gz'), gzipSync('just text\n'));
  const storeRoot = join(dir, 'store');
  await buildImage({
    contextDir: ctx,
    tags: ['multi:1'],
    storeRoot,
    saveImages: false,
    buildArgs: new Map([['VERSION', 'v9']]),
    labels: [['extra', 'yes']],
    env: [['defaultVIP', '10.103.97.2']],
  });
  const rootfs = await umociUnpack(t, storeRoot, 'docker.io/library/multi:1');
  const tree = await treeOf(rootfs);
  const has = (re: RegExp) => t.true(tree.some((l) => re.test(l)), `${re} in\n${tree.join('\n')}`);
  const hasNot = (re: RegExp) => t.false(tree.some((l) => re.test(l)), `${re} not in tree`);
  has(/^f 0644 0:0 opt\/from-stage /);
  has(/^f 0640 1000:1001 opt\/owned /);
  has(/^f 0755 0:0 unpacked\/bin\/tool /);
  has(/^f 0644 0:0 unpacked\/etc\/hosts /);
  has(/ ctx\/keep\.log /);
  has(/^f 0644 0:0 kept\/notatar\.gz /);
  has(/ ctx\/rootfs\.tar\.gz /);
  hasNot(/ ctx\/a\.log/);
  hasNot(/ ctx\/secret/);
  const cfg = (await imageConfigOf(storeRoot, 'docker.io/library/multi:1')).config as Record<string, unknown>;
  t.like(cfg.Labels as object, { version: 'v9', arch: 'amd64', extra: 'yes' });
  t.true((cfg.Env as string[]).includes('defaultVIP=10.103.97.2'));
  t.is(cfg.User, '1000');
  t.deepEqual(cfg.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  t.deepEqual(cfg.Volumes, { '/var/lib/x': {} });
});

test('sealos build CLI: -t twice, -q prints the ID, default Kubefile lookup order', async (t) => {
  const dir = await tempDir(t);
  const ctx = join(dir, 'ctx');
  await writeTree(ctx, { Sealfile: 'FROM scratch\nCOPY a /a\n', Dockerfile: 'FROM scratch\nCOPY b /b\n', a: 'a', b: 'b' });
  const store = join(dir, 'store');
  const r = await sealos(store, ['build', '-q', '-t', 'x:1', '-t', 'x:2', '--save-image=false', ctx]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout.trim(), /^[0-9a-f]{64}$/);
  const rootfs = await umociUnpack(t, store, 'docker.io/library/x:2');
  t.deepEqual(await readdir(rootfs), ['a']);
  const s = await Store.open(store);
  t.deepEqual((await s.list()).map((i) => i.name).sort(), ['docker.io/library/x:1', 'docker.io/library/x:2']);
  const f = await sealos(store, ['build', '-q', '-f', join(ctx, 'Dockerfile'), '-t', 'y', '--save-image=false', ctx]);
  t.is(f.code, 0, f.stderr);
  t.deepEqual(await readdir(await umociUnpack(t, store, 'docker.io/library/y:latest')), ['b']);
  await mkdir(join(dir, 'empty'));
  const none = await sealos(store, ['build', '-t', 'z', join(dir, 'empty')]);
  t.not(none.code, 0);
  t.regex(none.stderr, /no Kubefile, Sealfile, Dockerfile, Containerfile/);
});

test('a destination through a symlink in the image lands at its target', async (t) => {
  const dir = await tempDir(t);
  const ctx = join(dir, 'ctx');
  await writeTree(ctx, {
    'links/bin': { symlink: 'usr/bin' },
    'links/usr/bin/.keep': '',
    tool: { content: 'x', mode: 0o755 },
    Kubefile: 'FROM scratch\nCOPY links /\nCOPY tool /bin/\nCOPY tool /bin/tool2\n',
  });
  const storeRoot = join(dir, 'store');
  await buildImage({ contextDir: ctx, tags: ['links:1'], storeRoot, saveImages: false });
  const tree = await treeOf(await umociUnpack(t, storeRoot, 'docker.io/library/links:1'));
  t.true(tree.includes('l 0777 0:0 bin -> usr/bin'), tree.join('\n'));
  t.true(tree.some((l) => l.startsWith('f 0755 0:0 usr/bin/tool ')));
  t.true(tree.some((l) => l.startsWith('f 0755 0:0 usr/bin/tool2 ')));
});
