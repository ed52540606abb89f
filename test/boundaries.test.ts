/** Imports point one way: cli -> apply -> (cluster, kube, ssh, rootfs, lvscare) -> build -> registry -> oci. */
import test from 'ava';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url)).replace('/dist/src/', '/src/');
const layers = [['oci'], ['registry'], ['build'], ['cluster', 'kube', 'ssh', 'rootfs', 'lvscare'], ['apply'], ['cli']];
const rank = (dir: string) => layers.findIndex((l) => l.includes(dir));

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) yield* tsFiles(join(dir, e.name));
    else if (e.name.endsWith('.ts')) yield join(dir, e.name);
  }
}

test('each module imports only its own layer, lower layers and the two leaves', async (t) => {
  let checked = 0;
  for (const dir of layers.flat()) {
    for await (const file of tsFiles(join(SRC, dir))) {
      const text = await readFile(file, 'utf8');
      for (const m of text.matchAll(/from '\.\.\/([a-z]+)\/[^']*'/g)) {
        checked++;
        t.true(rank(m[1]!) >= 0 && rank(m[1]!) <= rank(dir), `${file.slice(SRC.length)} must not import src/${m[1]}`);
      }
      for (const m of text.matchAll(/from '\.\.\/([a-z]+)\/(?!index\.js)([^']+)'/g))
        t.fail(`${file.slice(SRC.length)} imports ../${m[1]}/${m[2]}: use the module's index.js`);
    }
  }
  t.true(checked > 0);
});

test('library code writes nothing to the terminal and reads no environment', async (t) => {
  for (const dir of layers.flat().filter((d) => d !== 'cli')) {
    for await (const file of tsFiles(join(SRC, dir))) {
      const text = await readFile(file, 'utf8');
      t.notRegex(text, /process\.(stdout|stderr)\.write|console\.(log|error|warn)|process\.env/, file.slice(SRC.length));
    }
  }
});
