/** The capture step alone, as its own process for the build benchmark: node build-capture.js CONTEXT [PROCS]. */
import { captureImages } from '../src/build/index.js';
import { hostPlatform } from '../src/oci/index.js';
import { Registries } from '../src/registry/index.js';

const [contextDir, procs] = process.argv.slice(2);
if (contextDir === undefined) throw new Error('usage: build-capture.js CONTEXT [PROCS]');
const registries = new Registries({});
try {
  const r = await captureImages({
    contextDir,
    platform: hostPlatform(),
    maxPullProcs: Number(procs ?? 5),
    registry: { storeRoot: '/nonexistent', registries },
  });
  process.stderr.write(`captured ${r.images.length} images\n`);
} finally {
  await registries.close();
}
