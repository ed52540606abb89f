/**
 * Build benchmark, in one run on one machine:
 *  1. a 1 GiB context (a few large random binaries plus 5,000 small files) built and saved:
 *     `buildah bud` + `buildah push oci-archive:` versus our `build` + `save -o X.tar`;
 *  2. image capture of 20 images from a local registry: our parallel capture versus a serial
 *     `skopeo copy` loop into a registry serving a directory (what sealos v4 effectively does).
 * Goals: build+save <= 0.7x buildah, capture <= 0.4x the serial loop, peak RSS < 200 MB.
 * Usage: node dist/bench/build.js [--gib 1] [--images 20] [--keep]
 */
import { mkdir, mkdtemp, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { copyImage } from '../src/oci/index.js';
import { parseAnyLocation } from '../src/registry/index.js';
import { best, measure, fmt, type Measurement } from './measure.js';
import { randomImage } from '../test/helpers/images.js';
import { writeBigFile } from '../test/helpers/ssh-tree.js';
import { startRegistry } from '../test/helpers/registry.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const CAPTURE = fileURLToPath(new URL('./build-capture.js', import.meta.url));

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const GIB = arg('gib', 1);
const IMAGES = arg('images', 20);
const KEEP = process.argv.includes('--keep');
const ONLY_CAPTURE = process.argv.includes('--only-capture');

/** Test helpers want an ava context only for teardown; the benchmark collects the callbacks. */
const teardowns: Array<() => Promise<void> | void> = [];
const fakeT = { teardown: (fn: () => Promise<void> | void) => teardowns.push(fn) } as unknown as ExecutionContext;

/** A context of about `gib` GiB: 4 random binaries and 5,000 small text-like files in 50 dirs. */
async function makeContext(dir: string, gib: number): Promise<number> {
  const total = Math.floor(gib * (1 << 30));
  const smallFiles = 5000;
  const smallBytes = 16 << 10;
  const big = Math.floor((total - smallFiles * smallBytes) / 4);
  await mkdir(join(dir, 'bin'), { recursive: true });
  for (let i = 0; i < 4; i++) await writeBigFile(join(dir, 'bin', `binary-${i}`), big);
  const words = ['kube', 'apiserver', 'etcd', 'registry', 'sealos', 'container', 'image', 'layer', 'node', 'pod'];
  for (let d = 0; d < 50; d++) {
    await mkdir(join(dir, 'etc', `d${d}`), { recursive: true });
    for (let f = 0; f < smallFiles / 50; f++) {
      let s = '';
      while (s.length < smallBytes) s += `${words[(d * 7 + f + s.length) % words.length]}=${Math.random().toString(36).slice(2)}\n`;
      await writeFile(join(dir, 'etc', `d${d}`, `f${f}.conf`), s.slice(0, smallBytes));
    }
  }
  await writeFile(join(dir, 'Kubefile'), 'FROM scratch\nLABEL sealos.io.type=rootfs\nENV registryDomain=sealos.hub\nCOPY . .\nCMD ["bash init.sh"]\n');
  return 4 * big + smallFiles * smallBytes;
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'sealos-bench-build-'));
  try {
    if (!ONLY_CAPTURE) await benchBuild(root);
    await benchCapture(root);
  } finally {
    for (const fn of teardowns.reverse()) await fn();
    if (!KEEP) await rm(root, { recursive: true, force: true });
    else console.log(`kept ${root}`);
  }
}

async function benchBuild(root: string): Promise<void> {
  {
    const ctx = join(root, 'ctx');
    const bytes = await makeContext(ctx, GIB);
    console.log(`context: ${(bytes / (1 << 30)).toFixed(2)} GiB (4 random binaries, 5000 small files)`);

    // buildah bud + push oci-archive (vfs, private root), as root.
    const bRoot = join(root, 'buildah');
    const g = ['--storage-driver', 'vfs', '--root', join(bRoot, 'root'), '--runroot', join(bRoot, 'run')];
    const bBuild = await measure('buildah', [...g, 'bud', '--layers', '-f', join(ctx, 'Kubefile'), '-t', 'bench', ctx]);
    const bPush = await measure('buildah', [...g, 'push', 'bench', `oci-archive:${join(root, 'buildah.tar')}:bench`]);
    await rm(bRoot, { recursive: true, force: true });
    await rm(join(root, 'buildah.tar'), { force: true });

    // Ours: build + save, each a fresh CLI process.
    const env = { ...process.env, SEALOS_STORE: join(root, 'store') };
    const oBuild = await measure(process.execPath, [CLI, 'build', '-q', '--save-image=false', '-t', 'bench', ctx], env);
    const oSave = await measure(process.execPath, [CLI, 'save', '-q', '-o', join(root, 'ours.tar'), 'bench'], env);
    const archive = (await stat(join(root, 'ours.tar'))).size;
    const oRebuild = await measure(process.execPath, [CLI, 'build', '-q', '--save-image=false', '-t', 'bench2', ctx], env);
    await rm(join(root, 'store'), { recursive: true, force: true });
    await rm(join(root, 'ours.tar'), { force: true });
    await rm(ctx, { recursive: true, force: true });

    const sum = (a: Measurement, b: Measurement): Measurement => ({ seconds: a.seconds + b.seconds, maxRssMiB: Math.max(a.maxRssMiB, b.maxRssMiB) });
    const buildah = sum(bBuild, bPush);
    const ours = sum(oBuild, oSave);
    console.log(`buildah bud:                ${fmt(bBuild)}`);
    console.log(`buildah push oci-archive:   ${fmt(bPush)}`);
    console.log(`sealos build:               ${fmt(oBuild)}`);
    console.log(`sealos save:                ${fmt(oSave)} (${(archive / (1 << 20)).toFixed(0)} MiB archive)`);
    console.log(`sealos build, unchanged:    ${fmt(oRebuild)} (layer cache)`);
    console.log(`build+save ratio: ${(ours.seconds / buildah.seconds).toFixed(2)}x buildah (goal <= 0.70), peak RSS ${ours.maxRssMiB.toFixed(0)} MiB (goal < 200)`);

  }
}

async function benchCapture(root: string): Promise<void> {
  {
    // Capture: IMAGES images of 3 x 4 MiB random layers in a local registry.
    const src = await startRegistry(fakeT);
    const lctx = { storeRoot: join(root, 'unused') };
    const refs: string[] = [];
    for (let i = 0; i < IMAGES; i++) {
      const layout = join(root, `img-${i}`);
      await randomImage(layout, { layers: 3, layerBytes: 4 << 20, name: 'x', gzipLevel: 0 });
      const ref = `${src.host}/bench/app-${i}:v${i}`;
      await copyImage(await parseAnyLocation(`oci:${layout}:x`, lctx).openSource(), await parseAnyLocation(`docker://${ref}`, lctx).openDestination());
      await rm(layout, { recursive: true, force: true });
      refs.push(ref);
    }
    const capCtx = join(root, 'capctx');
    await mkdir(join(capCtx, 'images', 'shim'), { recursive: true });
    await writeFile(join(capCtx, 'images', 'shim', 'list'), `${refs.join('\n')}\n`);

    // Best of 3 each: the machine is shared, and one slow fsync or scheduling hiccup skews a run.
    let run = 0;
    const serialScript = join(root, 'serial.sh');
    const serial = await best(
      3,
      async () => {
        // A fresh registry each run: skopeo's blob-info cache would otherwise mount blobs from an earlier run.
        run++;
        const dst = await startRegistry(fakeT, { storage: join(root, `serial-registry-${run}`) });
        await writeFile(
          serialScript,
          `set -e\nfor r in ${refs.map((r) => r.slice(src.host.length + 1)).join(' ')}; do skopeo copy -q --src-tls-verify=false --dest-tls-verify=false docker://${src.host}/$r docker://${dst.host}/$r; done\n`,
        );
      },
      () => measure('bash', [serialScript]),
    );
    const capture = await best(
      3,
      () => rm(join(capCtx, 'registry'), { recursive: true, force: true }),
      () => measure(process.execPath, [...(process.env.BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROF}`] : []), CAPTURE, capCtx, '5']),
    );
    console.log(`serial skopeo copy x${IMAGES} (best of 3):     ${fmt(serial)}`);
    console.log(`sealos capture x${IMAGES}, 5 procs (best of 3): ${fmt(capture)}`);
    console.log(`capture ratio: ${(capture.seconds / serial.seconds).toFixed(2)}x the serial loop (goal <= 0.40), peak RSS ${capture.maxRssMiB.toFixed(0)} MiB`);
  }
}

await main();
