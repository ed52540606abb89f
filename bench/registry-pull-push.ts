/**
 * Pull and push of a 1 GiB, 8-layer image (random, incompressible layers) against a loopback docker-registry,
 * timed against `skopeo copy` doing the same in the same run: docker:// -> oci:DIR for pull, oci:DIR ->
 * docker:// (a new repository each time) for push. Ours runs as the CLI in a child process; its peak RSS is
 * read from /usr/bin/time. Goal: at most 0.8x skopeo's time, peak RSS under 150 MB.
 *
 *   node dist/bench/registry-pull-push.js [--runs 3] [--layers 8] [--layer-mib 128] [--jobs N]
 *
 * Each push goes to a fresh registry (skopeo's blob-info cache would mount blobs it saw before); `sync` runs
 * before every timed command.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyImage, hostPlatform, ociTransports, parseLocation } from '../src/oci/index.js';
import { randomImage } from '../test/helpers/images.js';
import { measure, type Measurement } from './measure.js';
import { startRegistry } from '../test/helpers/registry.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

/** `measure` after `sync`, so one run's dirty pages are not written back during the next. */
async function timed(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Measurement> {
  await new Promise((r) => spawn('sync').on('close', r));
  return measure(cmd, args, { ...process.env, ...env });
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const runs = arg('--runs', 3);
  const layers = arg('--layers', 8);
  const layerMib = arg('--layer-mib', 128);
  const jobs = arg('--jobs', 0);
  const cleanups: Array<() => unknown> = [];
  const t = { teardown: (fn: () => unknown) => void cleanups.push(fn) };
  const work = await mkdtemp(join(tmpdir(), 'sealos-bench-'));
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  try {
    const layoutDir = join(work, 'src');
    process.stderr.write(`generating ${layers} x ${layerMib} MiB random layers...\n`);
    const img = await randomImage(layoutDir, { name: 'bench', layers, layerBytes: layerMib << 20, gzipLevel: 0 });
    const totalMib = img.layers.reduce((n, l) => n + l.size, 0) / (1 << 20);
    const reg = await startRegistry(t);
    const storeRoot = join(work, 'store');
    const ctx = { storeRoot };
    await copyImage(
      await parseLocation(`oci:${layoutDir}:bench`, ctx, ociTransports).openSource(),
      await parseLocation('store:bench/img:1', ctx, ociTransports).openDestination(),
      { platforms: hostPlatform() },
    );
    const seed = `${reg.host}/seed/img:1`;
    await timed('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layoutDir}:bench`, `docker://${seed}`]);
    const jobArgs = jobs > 0 ? ['--jobs', String(jobs)] : [];

    const res = { skopeoPull: [] as Measurement[], oursPull: [] as Measurement[], skopeoPush: [] as Measurement[], oursPush: [] as Measurement[] };
    for (let i = 0; i < runs; i++) {
      const oci = join(work, `pull-skopeo-${i}`);
      res.skopeoPull.push(await timed('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${seed}`, `oci:${oci}:img`]));
      await rm(oci, { recursive: true, force: true });
      const store = join(work, `pull-ours-${i}`);
      res.oursPull.push(await timed(process.execPath, [CLI, 'pull', '-q', ...jobArgs, seed], { SEALOS_STORE: store }));
      await rm(store, { recursive: true, force: true });
      // Each push goes to a fresh registry: skopeo's blob-info cache would otherwise mount the blobs it saw.
      const regS = await startRegistry(t);
      res.skopeoPush.push(await timed('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layoutDir}:bench`, `docker://${regS.host}/skopeo-push-${i}/img:1`]));
      await regS.stop();
      await rm(regS.storage, { recursive: true, force: true });
      const regO = await startRegistry(t);
      res.oursPush.push(await timed(process.execPath, [CLI, 'push', '-q', ...jobArgs, 'bench/img:1', `docker://${regO.host}/ours-push-${i}/img:1`], { SEALOS_STORE: storeRoot }));
      await regO.stop();
      await rm(regO.storage, { recursive: true, force: true });
      process.stderr.write(`run ${i + 1}/${runs} done\n`);
    }
    const line = (name: string, ours: Measurement[], theirs: Measurement[]) => {
      const o = median(ours.map((r) => r.seconds));
      const s = median(theirs.map((r) => r.seconds));
      const rss = Math.max(...ours.map((r) => r.maxRssMiB));
      const srss = Math.max(...theirs.map((r) => r.maxRssMiB));
      return `${name}: ours ${o.toFixed(2)}s (${(totalMib / o).toFixed(0)} MiB/s, peak RSS ${rss.toFixed(0)} MiB) | skopeo ${s.toFixed(2)}s (peak RSS ${srss.toFixed(0)} MiB) | ratio ${(o / s).toFixed(2)}x`;
    };
    process.stdout.write(
      [
        `image: ${layers} layers, ${totalMib.toFixed(0)} MiB; ${runs} runs each, medians; loopback docker-registry`,
        line('pull', res.oursPull, res.skopeoPull),
        line('push', res.oursPush, res.skopeoPush),
        `all runs (ms): ${JSON.stringify(Object.fromEntries(Object.entries(res).map(([k, v]) => [k, v.map((r) => Math.round(r.seconds * 1000))])))}`,
      ].join('\n') + '\n',
    );
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

await main();
