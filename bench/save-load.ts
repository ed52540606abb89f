/**
 * save and load of a 1 GiB, 8-layer image: ours against `skopeo copy` doing the same moves, in the same run.
 * load: oci-archive -> local store (skopeo: oci-archive -> oci: directory).
 * save: local store -> oci-archive (skopeo: oci: directory -> oci-archive).
 * Usage: node dist/bench/save-load.js [totalMiB] [runs]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants } from 'node:zlib';
import { randomImage } from '../test/helpers/images.js';
import { best, fmt, measure } from './measure.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const NAME = 'docker.io/bench/big:1';
const totalMiB = Number(process.argv[2] ?? 1024);
const runs = Number(process.argv[3] ?? 2);

const work = await mkdtemp(join(tmpdir(), 'bench-save-load-'));
try {
  const src = join(work, 'src');
  process.stderr.write(`generating a ${totalMiB} MiB, 8-layer image...\n`);
  await randomImage(src, { layers: 8, layerBytes: Math.floor((totalMiB << 20) / 8), name: NAME, gzipLevel: constants.Z_NO_COMPRESSION });
  const archive = join(work, 'in.tar');
  await measure('skopeo', ['copy', '-q', `oci:${src}:${NAME}`, `oci-archive:${archive}:${NAME}`]);
  const store = join(work, 'store');
  const skDir = join(work, 'skopeo-dir');
  const env = { ...process.env, SEALOS_STORE: store };
  const clean = (...paths: string[]) => async () => {
    for (const p of paths) await rm(p, { recursive: true, force: true });
  };

  const oursLoad = await best(runs, clean(store), () => measure(process.execPath, [CLI, 'load', '-q', '-i', archive], env));
  const skLoad = await best(runs, clean(skDir), () => measure('skopeo', ['copy', '-q', `oci-archive:${archive}:${NAME}`, `oci:${skDir}:${NAME}`]));
  const outOurs = join(work, 'ours.tar');
  const outSk = join(work, 'skopeo.tar');
  const oursSave = await best(runs, clean(outOurs), () => measure(process.execPath, [CLI, 'save', '-q', '-o', outOurs, NAME], env));
  const skSave = await best(runs, clean(outSk), () => measure('skopeo', ['copy', '-q', `oci:${skDir}:${NAME}`, `oci-archive:${outSk}:${NAME}`]));

  const lines = [
    `image: ${totalMiB} MiB in 8 layers; best of ${runs} runs each`,
    `load  ours   ${fmt(oursLoad)}`,
    `load  skopeo ${fmt(skLoad)}`,
    `save  ours   ${fmt(oursSave)}`,
    `save  skopeo ${fmt(skSave)}`,
    `ratio load ours/skopeo: ${(oursLoad.seconds / skLoad.seconds).toFixed(2)}x (goal <= 0.5x)`,
    `ratio save ours/skopeo: ${(oursSave.seconds / skSave.seconds).toFixed(2)}x (goal <= 0.5x)`,
    `ratio save+load ours/skopeo: ${((oursLoad.seconds + oursSave.seconds) / (skLoad.seconds + skSave.seconds)).toFixed(2)}x`,
    `peak RSS ours: ${Math.max(oursLoad.maxRssMiB, oursSave.maxRssMiB).toFixed(0)} MiB (goal < 150 MiB)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}
