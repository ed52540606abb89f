/** Helpers for build tests: buildah in an isolated root, unpacking with umoci, comparable file trees. */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, writeFile, chmod, symlink, link } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { tempDir } from './temp.js';
import { tool } from './cli.js';

/** Runs `buildah bud` (vfs, private root) on a context and pushes the result to `oci:<out>:<name>`. */
export async function buildahBuild(t: ExecutionContext, context: string, out: string, name: string, extra: readonly string[] = []): Promise<void> {
  const root = await tempDir(t, 'sealos-buildah-');
  const g = ['--storage-driver', 'vfs', '--root', join(root, 'root'), '--runroot', join(root, 'run')];
  await tool('buildah', [...g, 'bud', '--layers', '-f', join(context, 'Kubefile'), ...extra, '-t', name, context]);
  await tool('buildah', [...g, 'push', name, `oci:${out}:${name}`]);
}

/** `umoci unpack` of `oci:<layout>:<ref>` into a fresh directory; returns its rootfs. */
export async function umociUnpack(t: ExecutionContext, layout: string, ref: string): Promise<string> {
  const dir = join(await tempDir(t, 'sealos-unpack-'), 'bundle');
  await tool('umoci', ['unpack', '--image', `${layout}:${ref}`, dir]);
  return join(dir, 'rootfs');
}

/** Every path under `dir` with type, mode, owner and content digest (or link target), sorted. */
export async function treeOf(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const p = join(dir, r);
      const st = await lstat(p);
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      if (st.isSymbolicLink()) out.push(`l ${mode} ${st.uid}:${st.gid} ${r} -> ${await readlink(p)}`);
      else if (st.isDirectory()) {
        out.push(`d ${mode} ${st.uid}:${st.gid} ${r}`);
        await walk(r);
      } else out.push(`f ${mode} ${st.uid}:${st.gid} ${r} ${createHash('sha256').update(await readFile(p)).digest('hex').slice(0, 16)} nlink=${st.nlink}`);
    }
  };
  await walk('');
  return out;
}

/** The image config (not the runtime bundle config) of `oci:<layout>:<ref>`, via skopeo. */
export async function imageConfigOf(layout: string, ref: string): Promise<{ config?: Record<string, unknown>; [k: string]: unknown }> {
  return JSON.parse(await tool('skopeo', ['inspect', '--config', `oci:${layout}:${ref}`])) as { config?: Record<string, unknown> };
}

/** Writes files described as `path: content` (a string) or `{content, mode}`, `{symlink}`, `{hardlink}`, `{dir, mode}`. */
export type FileSpec = string | { content: string | Buffer; mode?: number } | { symlink: string } | { hardlink: string } | { dir: true; mode?: number };

export async function writeTree(root: string, files: Readonly<Record<string, FileSpec>>): Promise<void> {
  const dirModes: Array<[string, number]> = [];
  for (const [rel, spec] of Object.entries(files)) {
    const p = join(root, rel);
    await mkdir(dirname(p), { recursive: true });
    if (typeof spec === 'string') await writeFile(p, spec);
    else if ('symlink' in spec) await symlink(spec.symlink, p);
    else if ('hardlink' in spec) await link(join(root, spec.hardlink), p);
    else if ('dir' in spec) {
      await mkdir(p, { recursive: true });
      if (spec.mode !== undefined) dirModes.push([p, spec.mode]);
    } else {
      await writeFile(p, spec.content);
      if (spec.mode !== undefined) await chmod(p, spec.mode);
    }
  }
  for (const [p, m] of dirModes) await chmod(p, m);
}
