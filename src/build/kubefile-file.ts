/** Finding and reading the instruction file of a build context. */
import { readFile, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { BuildError } from './errors.js';
import { parseKubefile, type Kubefile } from './parse.js';

/** The names `sealos build` looks for, in this order, when `-f` is not given. */
export const KUBEFILE_NAMES = ['Kubefile', 'Sealfile', 'Dockerfile', 'Containerfile'] as const;

/** The instruction file: `file` (relative to the working directory, as buildah takes `-f`) or the first known name in the context. */
export async function locateKubefile(contextDir: string, file?: string): Promise<string> {
  if (file !== undefined) {
    // Relative to the working directory, as buildah takes it; else relative to the context.
    let p = isAbsolute(file) ? file : resolve(file);
    let st = await stat(p).catch(() => undefined);
    if (st?.isFile() !== true && !isAbsolute(file)) {
      p = join(contextDir, file);
      st = await stat(p).catch(() => undefined);
    }
    if (st?.isFile() !== true)
      throw new BuildError('BUILD_NO_FILE', `${file}: no such file`, { hint: 'give the Kubefile with -f PATH (relative to the current directory)' });
    return p;
  }
  for (const name of KUBEFILE_NAMES) {
    const p = join(contextDir, name);
    if ((await stat(p).catch(() => undefined))?.isFile() === true) return p;
  }
  throw new BuildError('BUILD_NO_FILE', `${contextDir}: no ${KUBEFILE_NAMES.join(', ')} in the build context`, {
    hint: 'add a Kubefile, or name one with -f',
  });
}

/** Reads and parses the file; messages name it relative to the context when it lies inside. */
export async function readKubefile(path: string, contextDir: string): Promise<Kubefile> {
  const rel = relative(contextDir, path);
  const label = rel.startsWith('..') || isAbsolute(rel) ? basename(path) : rel;
  return parseKubefile(await readFile(path, 'utf8'), label);
}
