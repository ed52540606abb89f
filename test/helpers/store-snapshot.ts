/** A store's visible state (index.json and every file under blobs/), to assert that a failure changed nothing. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function snapshotStore(root: string): Promise<{ index: string; blobs: string[]; tmp: string[] }> {
  const index = await readFile(join(root, 'index.json'), 'utf8').catch(() => '');
  const blobs = (await readdir(join(root, 'blobs', 'sha256')).catch(() => [])).sort();
  const tmp = (await readdir(join(root, 'tmp')).catch(() => [])).sort();
  return { index, blobs, tmp };
}
