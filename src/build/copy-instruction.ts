/** Plans a COPY or ADD: its flags, its source root (context, stage, image or unpacked archive) and its destination. */
import { mkdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { tempName } from '../oci/index.js';
import { at, BuildError } from './errors.js';
import { decompressed, extractTar, isTarArchive, sniffArchive, type MetaTable } from './extract.js';
import { resolveImage, unpackLayers, type LayerRef } from './images.js';
import { expand, normalizeOrFail, parseChown, words } from './instruction-args.js';
import { flagValue, type Instruction } from './parse.js';
import { IgnoreRules } from './patterns.js';
import { ensureTree, stageByRef, stageVars, type BuildRun, type StageResult, type StageRun } from './run-state.js';
import { planCopy, resolveSources, type CopyRoot, type PlannedEntry, type SourceGroup } from './sources.js';

/** The unpacked rootfs of a stage (or image) for COPY --from. */
async function rootfsOf(run: BuildRun, layers: readonly LayerRef[], label: string, holder?: StageResult): Promise<CopyRoot> {
  if (holder?.rootfs !== undefined) return { dir: holder.rootfs.dir, meta: holder.rootfs.meta, label, ignore: IgnoreRules.none };
  const dir = tempName(run.o.workDir, 'rootfs');
  await mkdir(dir, { recursive: true });
  const meta: MetaTable = new Map();
  await unpackLayers(layers, dir, meta, label);
  if (holder !== undefined) holder.rootfs = { dir, meta };
  return { dir, meta, label, ignore: IgnoreRules.none };
}

/** The entries a COPY or ADD puts into the stage's next layer. */
export async function planCopyInstruction(sr: StageRun, ins: Instruction): Promise<PlannedEntry[]> {
  const { run, s } = sr;
  const { o, esc, createdMtime } = run;
  const w = at(ins.pos);
  const v = stageVars(sr);
  const args = ins.json ?? words(ins, v, esc);
  if (args.length < 2) throw new BuildError('BUILD_SYNTAX', `${w}: ${ins.cmd} needs at least one source and a destination`);
  const sources = args.slice(0, -1);
  let dest = args[args.length - 1]!;
  for (const src of sources)
    if (/^(https?|git|ssh):\/\//i.test(src) || /^git@/.test(src))
      throw new BuildError('BUILD_UNSUPPORTED', `${w}: ${ins.cmd} ${src}: sealos build works offline and fetches nothing from the network`, {
        hint: 'download the file into the build context first, then COPY it',
      });
  if (flagValue(ins, 'checksum') !== undefined) throw new BuildError('BUILD_UNSUPPORTED', `${w}: ADD --checksum is only for URLs, which sealos build does not fetch`);
  const chownFlag = flagValue(ins, 'chown');
  const chmodFlag = flagValue(ins, 'chmod');
  const chown = chownFlag !== undefined ? parseChown(expand(ins, chownFlag, v, esc), ins.pos) : undefined;
  let chmod: number | undefined;
  if (chmodFlag !== undefined) {
    const c = expand(ins, chmodFlag, v, esc);
    if (!/^[0-7]{3,4}$/.test(c)) throw new BuildError('BUILD_SYNTAX', `${w}: --chmod=${c}: give an octal mode such as 0755`);
    chmod = Number.parseInt(c, 8);
  }
  const excludes = ins.flags.filter((f) => f.name === 'exclude').map((f) => expand(ins, f.value ?? '', v, esc));
  if (!dest.startsWith('/')) dest = posix.join(s.config.workdir || '/', dest) + (dest.endsWith('/') || dest === '.' ? '/' : '');
  let root: CopyRoot;
  const fromFlag = flagValue(ins, 'from');
  if (fromFlag !== undefined) {
    const from = expand(ins, fromFlag, v, esc);
    const stageSrc = stageByRef(run, from);
    if (stageSrc !== undefined) root = await rootfsOf(run, stageSrc.layers, `stage ${from}`, stageSrc);
    else {
      const img = await resolveImage(normalizeOrFail(from, w), o.platform, o.access, w);
      root = await rootfsOf(run, img.layers, `image ${img.name}`);
    }
  } else root = { dir: o.contextDir, label: 'build context', ignore: o.ignore, meta: undefined };
  if (excludes.length > 0) root = { ...root, ignore: IgnoreRules.parse(excludes.join('\n')).or(root.ignore) };
  const resolved = await resolveSources(root, sources, `${w}: ${ins.cmd}`);
  const groups: SourceGroup[] = [];
  if (ins.cmd === 'ADD' && fromFlag === undefined) {
    const plain = [];
    for (const r of resolved) {
      let kind = r.stat.isFile() ? await sniffArchive(r.abs) : undefined;
      if (kind !== undefined && kind !== 'none' && !(await isTarArchive(r.abs, kind))) kind = undefined;
      if (kind === undefined) {
        plain.push(r);
        continue;
      }
      const dir = tempName(o.workDir, 'add');
      await mkdir(dir, { recursive: true });
      const meta: MetaTable = new Map();
      await extractTar(decompressed(r.abs, kind), dir, meta, { whiteouts: false, what: `${w}: ADD ${r.rel}` });
      const aroot: CopyRoot = { dir, label: `archive ${r.rel}`, ignore: IgnoreRules.none, meta };
      groups.push({ root: aroot, resolved: [{ rel: '', abs: dir, stat: await stat(dir) }] });
    }
    if (plain.length > 0) groups.unshift({ root, resolved: plain });
    if (groups.length > 1 && !dest.endsWith('/')) dest += '/';
  } else groups.push({ root, resolved });
  await ensureTree(s);
  // A destination through a symlink the image holds (e.g. /bin -> usr/bin) lands at its target.
  const destRel = dest.replace(/^\/+/, '').replace(/\/+$/, '');
  const resolvedDest = resolveInTree(s.tree, dest.endsWith('/') ? `${destRel}/.` : destRel);
  dest = resolvedDest === '' ? '/' : `/${resolvedDest}${dest.endsWith('/') ? '/' : ''}`;
  const plan = await planCopy(
    groups,
    {
      dest,
      ...(chown !== undefined ? { chown } : {}),
      ...(chmod !== undefined ? { chmod } : {}),
      isDir: (p) => p === '' || s.tree.get(p)?.type === 'directory',
      existingDir: (p) => (s.tree.get(p)?.type === 'directory' ? s.tree.get(p) : undefined),
      createdMtime,
    },
    `${w}: ${ins.cmd}`,
  );
  if (o.timestamp !== undefined) return plan.map((e) => ({ ...e, mtime: o.timestamp! }));
  return plan;
}

/**
 * `rel` with every symlink among its parents (as the image's tree records them) replaced by its
 * target, kept inside the image root; the last component is left alone, as COPY replaces it.
 */
export function resolveInTree(tree: ReadonlyMap<string, PlannedEntry>, rel: string): string {
  const parts = rel === '' ? [] : rel.split('/');
  const out: string[] = [];
  let hops = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      out.pop();
      continue;
    }
    const here = [...out, part].join('/');
    const e = tree.get(here);
    if (parts.length > 0 && e?.type === 'symlink' && e.linkname !== undefined && hops++ < 40) {
      const target = e.linkname;
      if (target.startsWith('/')) out.length = 0;
      parts.unshift(...target.split('/'));
      continue;
    }
    out.push(part);
  }
  return out.join('/');
}
