/**
 * Runs the stages of a parsed Kubefile: each COPY/ADD becomes one layer (or a cached one), every
 * other instruction edits the image config. Nothing here touches the store's names: layers are
 * written into the staging area and the caller commits the result.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import pLimit from 'p-limit';
import {
  formatPlatform,
  MediaType,
  normalizeRef,
  tempName,
  type Digest,
  type History,
  type ImageConfig,
  type Platform,
} from '../oci/index.js';
import { silentReporter, type Reporter } from '../report.js';
import type { LayerCache } from './cache.js';
import { at, BuildError, type SourcePos } from './errors.js';
import { decompressed, extractTar, isTarArchive, sniffArchive, type MetaTable } from './extract.js';
import { readTree, resolveImage, unpackLayers, type ImageAccess, type LayerRef } from './images.js';
import { LayerWriter } from './layer-writer.js';
import { flagValue, type Instruction, type Kubefile } from './parse.js';
import { IgnoreRules } from './patterns.js';
import { planCopy, resolveSources, type CopyRoot, type PlannedEntry, type SourceGroup } from './sources.js';
import { expandWord, expandWords, rawWords, WordError, type Vars } from './words.js';

/** The PATH BuildKit and buildah give a Linux image that has none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Files read at once while hashing sources for the cache key. */
const HASH_JOBS = 8;
/** Files up to this size are read whole (and ahead) rather than streamed. */
const SMALL_FILE_BYTES = 1 << 20;

export interface ExecuteOptions {
  readonly kubefile: Kubefile;
  readonly contextDir: string;
  readonly ignore: IgnoreRules;
  readonly platform: Platform;
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly target?: string;
  /** Seconds since the epoch for every mtime and `created`; undefined keeps source mtimes and uses now. */
  readonly timestamp?: number;
  readonly cache: LayerCache | undefined;
  readonly access: ImageAccess;
  /** A private directory for temp files of this build, on the store's filesystem. */
  readonly workDir: string;
  readonly reporter?: Reporter;
  readonly now: () => Date;
}

interface ConfigState {
  env: Array<[string, string]>;
  labels: Map<string, string>;
  cmd: string[] | undefined;
  entrypoint: string[] | undefined;
  cmdFromBase: boolean;
  workdir: string;
  user: string | undefined;
  exposed: string[];
  volumes: string[];
  stopSignal: string | undefined;
  shell: string[];
  author: string | undefined;
}

/** One stage after it ran: what a later FROM or COPY --from needs, and what the final image holds. */
export interface StageResult {
  readonly name: string | undefined;
  readonly index: number;
  readonly layers: LayerRef[];
  readonly config: ConfigState;
  readonly history: History[];
  readonly tree: Map<string, PlannedEntry>;
  treeLoaded: boolean;
  readonly baseLayers: number;
  readonly base: { name: string; digest: Digest } | undefined;
  rootfs: { dir: string; meta: MetaTable } | undefined;
}

export interface ExecuteResult {
  readonly final: StageResult;
  /** Every layer this build wrote into staging (all stages), with their cache keys. */
  readonly built: ReadonlyArray<{ key: string | undefined; layer: LayerRef }>;
  readonly reused: number;
  readonly config: ImageConfig;
}

/** Platform values BuildKit predefines as ARGs. */
function platformArgs(p: Platform): Map<string, string> {
  const m = new Map<string, string>();
  for (const prefix of ['TARGET', 'BUILD']) {
    m.set(`${prefix}PLATFORM`, formatPlatform(p));
    m.set(`${prefix}OS`, p.os);
    m.set(`${prefix}ARCH`, p.architecture);
    m.set(`${prefix}VARIANT`, p.variant ?? '');
  }
  return m;
}

const wordErr = (ins: Instruction, err: unknown): never => {
  if (err instanceof WordError) throw new BuildError('BUILD_SYNTAX', `${at(ins.pos)}: ${ins.cmd}: ${err.message}`);
  throw err;
};

/** `key=value` pairs (or the legacy `key value` form) as ENV and LABEL take them. */
function keyValues(ins: Instruction, vars: Vars, escape: string): Array<[string, string]> {
  try {
    const words = rawWords(ins.rest, escape);
    if (words.length === 0) throw new BuildError('BUILD_SYNTAX', `${at(ins.pos)}: ${ins.cmd} needs at least one argument`);
    if (!words[0]!.includes('=')) {
      if (words.length < 2) throw new BuildError('BUILD_SYNTAX', `${at(ins.pos)}: ${ins.cmd} ${words[0]} needs a value (use ${words[0]}=VALUE)`);
      const key = words[0]!;
      const value = ins.rest.slice(ins.rest.indexOf(key) + key.length).trim();
      return [[expandWord(key, vars, escape), expandWord(value, vars, escape)]];
    }
    return words.map((w) => {
      const eq = w.indexOf('=');
      if (eq <= 0) throw new BuildError('BUILD_SYNTAX', `${at(ins.pos)}: ${ins.cmd}: "${w}" is not KEY=VALUE`);
      return [expandWord(w.slice(0, eq), vars, escape), expandWord(w.slice(eq + 1), vars, escape)];
    });
  } catch (err) {
    return wordErr(ins, err);
  }
}

/** Stages a target needs: itself and whatever it reads by FROM or COPY --from, transitively. */
function neededStages(kf: Kubefile, stages: Instruction[][], names: Array<string | undefined>, targetIndex: number): Set<number> {
  const need = new Set<number>();
  const visit = (i: number): void => {
    if (need.has(i)) return;
    need.add(i);
    const refs: string[] = [];
    const from = stages[i]![0]!;
    refs.push(rawWords(from.rest, kf.escape)[0] ?? '');
    for (const ins of stages[i]!) {
      const f = flagValue(ins, 'from');
      if ((ins.cmd === 'COPY' || ins.cmd === 'ADD') && f !== undefined) refs.push(f);
    }
    for (const r of refs) {
      const j = /^\d+$/.test(r) ? Number(r) : names.findIndex((n) => n !== undefined && n === r.toLowerCase());
      if (j >= 0 && j < i) visit(j);
    }
  };
  visit(targetIndex);
  return need;
}

export async function executeKubefile(o: ExecuteOptions): Promise<ExecuteResult> {
  const reporter = o.reporter ?? silentReporter;
  const kf = o.kubefile;
  const esc = kf.escape;
  const createdMtime = o.timestamp ?? Math.floor(o.now().getTime() / 1000);
  const created = new Date((o.timestamp ?? o.now().getTime() / 1000) * 1000).toISOString();

  // Split into global ARGs and stages.
  const globalArgs = new Map<string, string>(platformArgs(o.platform));
  const declaredGlobal = new Map<string, string | undefined>();
  const usedArgs = new Set<string>();
  const stages: Instruction[][] = [];
  for (const ins of kf.instructions) {
    if (ins.cmd === 'FROM') stages.push([ins]);
    else if (stages.length === 0) {
      for (const [k, v] of argDecls(ins, globalArgs, esc)) {
        const value = o.buildArgs.get(k) ?? v;
        if (o.buildArgs.has(k)) usedArgs.add(k);
        declaredGlobal.set(k, value);
        if (value !== undefined) globalArgs.set(k, value);
      }
    } else stages[stages.length - 1]!.push(ins);
  }
  const names = stages.map((s) => {
    const words = rawWords(s[0]!.rest, esc);
    if (words.length === 3 && words[1]!.toUpperCase() === 'AS') return words[2]!.toLowerCase();
    if (words.length !== 1) throw new BuildError('BUILD_SYNTAX', `${at(s[0]!.pos)}: FROM takes IMAGE [AS NAME]`);
    return undefined;
  });
  let targetIndex = stages.length - 1;
  if (o.target !== undefined) {
    targetIndex = names.indexOf(o.target.toLowerCase());
    if (targetIndex < 0) throw new BuildError('BUILD_USAGE', `--target ${o.target}: no stage has that name in ${kf.file}`);
  }
  const need = neededStages(kf, stages, names, targetIndex);

  const results: StageResult[] = [];
  const built: Array<{ key: string | undefined; layer: LayerRef }> = [];
  let reused = 0;
  let layerSeq = 0;

  const stageByRef = (ref: string): StageResult | undefined => {
    if (/^\d+$/.test(ref)) return results[Number(ref)];
    const i = names.findIndex((n) => n !== undefined && n === ref.toLowerCase());
    return i >= 0 ? results[i] : undefined;
  };

  /** Loads what the stage's base layers hold, once, for parent-directory decisions. */
  const ensureTree = async (st: StageResult): Promise<void> => {
    if (st.treeLoaded) return;
    const own = new Map(st.tree);
    st.tree.clear();
    await readTree(st.layers.slice(0, st.baseLayers), st.tree);
    for (const [k, v] of own) st.tree.set(k, v);
    st.treeLoaded = true;
  };

  /** The unpacked rootfs of a stage (or image) for COPY --from. */
  const rootfsOf = async (layers: readonly LayerRef[], label: string, holder?: StageResult): Promise<CopyRoot> => {
    if (holder?.rootfs !== undefined) return { dir: holder.rootfs.dir, meta: holder.rootfs.meta, label, ignore: IgnoreRules.none };
    const dir = tempName(o.workDir, 'rootfs');
    await mkdir(dir, { recursive: true });
    const meta: MetaTable = new Map();
    await unpackLayers(layers, dir, meta, label);
    if (holder !== undefined) holder.rootfs = { dir, meta };
    return { dir, meta, label, ignore: IgnoreRules.none };
  };

  for (const [si, stage] of stages.entries()) {
    if (!need.has(si)) continue;
    const fromIns = stage[0]!;
    const where = at(fromIns.pos);
    const platformFlag = flagValue(fromIns, 'platform');
    let platform = o.platform;
    if (platformFlag !== undefined) {
      const p = expand(fromIns, platformFlag, globalArgs, esc);
      const [os, architecture, variant] = p.split('/');
      if (!os || !architecture) throw new BuildError('BUILD_SYNTAX', `${where}: --platform=${p}: expected os/arch[/variant]`);
      platform = variant ? { os, architecture, variant } : { os, architecture };
    }
    const baseName = expand(fromIns, rawWords(fromIns.rest, esc)[0]!, globalArgs, esc);
    const st: StageResult = {
      name: names[si],
      index: si,
      layers: [],
      config: emptyConfig(),
      history: [],
      tree: new Map(),
      treeLoaded: true,
      baseLayers: 0,
      base: undefined,
      rootfs: undefined,
    };
    let stageResult: StageResult = st;
    const prior = stageByRef(baseName);
    if (baseName.toLowerCase() === 'scratch') {
      st.config.env.push(['PATH', DEFAULT_PATH]);
    } else if (prior !== undefined && prior.index < si) {
      stageResult = {
        ...st,
        layers: [...prior.layers],
        config: cloneConfig(prior.config),
        history: [...prior.history],
        tree: new Map(prior.tree),
        treeLoaded: prior.treeLoaded,
        baseLayers: prior.baseLayers,
        base: prior.base,
        rootfs: undefined,
      };
    } else {
      if (/^[a-z0-9]/.test(baseName) === false) throw new BuildError('BUILD_SYNTAX', `${where}: FROM "${baseName}" is not an image name`);
      const img = await resolveImage(normalizeOrFail(baseName, where), platform, o.access, where);
      const c = img.config.config ?? {};
      stageResult = {
        ...st,
        layers: [...img.layers],
        config: configFromImage(c, img.config.author),
        history: [...(img.config.history ?? [])],
        treeLoaded: img.layers.length === 0,
        baseLayers: img.layers.length,
        base: { name: img.name, digest: img.digest },
      };
      if (!stageResult.config.env.some(([k]) => k === 'PATH')) stageResult.config.env.unshift(['PATH', DEFAULT_PATH]);
    }
    const s = stageResult;
    const stageArgs = new Map<string, string>();
    const vars = (): Map<string, string> => {
      const m = new Map(stageArgs);
      for (const [k, v] of s.config.env) m.set(k, v);
      return m;
    };
    const history = (ins: Instruction, emptyLayer: boolean): void => {
      s.history.push({ created, created_by: `/bin/sh -c #(nop) ${ins.original}`, ...(emptyLayer ? { empty_layer: true } : {}) });
    };
    reporter.emit({ kind: 'log', level: 'info', msg: `[${si + 1}/${stages.length}] ${fromIns.original}` });

    const addLayer = async (ins: Instruction, plan: PlannedEntry[], key: string | undefined): Promise<void> => {
      let layer: LayerRef | undefined;
      if (key !== undefined && o.cache !== undefined) {
        const hit = await o.cache.lookup(key);
        if (hit !== undefined) {
          layer = {
            desc: { mediaType: hit.mediaType, digest: hit.digest, size: hit.size },
            diffId: hit.diffId,
            path: o.access.store.layout.blobPath(hit.digest),
            staged: false,
          };
          reused++;
          o.cache.remember(key, { digest: hit.digest, diffId: hit.diffId, size: hit.size, mediaType: hit.mediaType });
          reporter.emit({ kind: 'log', level: 'info', msg: `  using cache ${hit.digest.slice(7, 19)}` });
        }
      }
      if (layer === undefined) {
        const phase = `${at(ins.pos)} ${ins.cmd}`;
        const started = Date.now();
        reporter.emit({ kind: 'phase', name: phase, host: 'build', state: 'start' });
        let blob;
        try {
          blob = await writeLayer(plan, join(o.workDir, `layer-${layerSeq++}.tar.gz`), o.timestamp, ins);
        } catch (err) {
          reporter.emit({ kind: 'phase', name: phase, host: 'build', state: 'failed', ms: Date.now() - started });
          throw err;
        }
        reporter.emit({ kind: 'phase', name: phase, host: 'build', state: 'done', ms: Date.now() - started });
        layer = {
          desc: { mediaType: MediaType.OciLayerGzip, digest: blob.digest, size: blob.size },
          diffId: blob.diffId,
          path: blob.path,
          staged: true,
        };
        built.push({ key, layer });
        reporter.emit({ kind: 'log', level: 'info', msg: `  layer ${blob.digest.slice(7, 19)} (${plan.length} entries, ${mib(blob.size)})` });
      }
      s.layers.push(layer);
      for (const e of plan) s.tree.set(e.path, e);
      history(ins, false);
    };

    const chainKey = (): string => s.layers.map((l) => l.diffId).join(',');

    for (const ins of stage.slice(1)) {
      const w = at(ins.pos);
      reporter.emit({ kind: 'log', level: 'debug', msg: `${w}: ${ins.original}` });
      switch (ins.cmd) {
        case 'ARG':
          for (const [k, v] of argDecls(ins, vars(), esc)) {
            if (o.buildArgs.has(k)) usedArgs.add(k);
            const value = o.buildArgs.get(k) ?? v ?? (declaredGlobal.has(k) ? declaredGlobal.get(k) : platformArgs(platform).get(k));
            if (value !== undefined) stageArgs.set(k, value);
            else stageArgs.delete(k);
          }
          history(ins, true);
          break;
        case 'ENV':
          for (const [k, v] of keyValues(ins, vars(), esc)) setEnv(s.config.env, k, v);
          history(ins, true);
          break;
        case 'LABEL':
          for (const [k, v] of keyValues(ins, vars(), esc)) s.config.labels.set(k, v);
          history(ins, true);
          break;
        case 'MAINTAINER':
          s.config.author = expand(ins, ins.rest, vars(), esc);
          history(ins, true);
          break;
        case 'WORKDIR': {
          const dir = expand(ins, ins.rest, vars(), esc);
          if (dir === '') throw new BuildError('BUILD_SYNTAX', `${w}: WORKDIR needs a path`);
          s.config.workdir = posix.resolve(s.config.workdir || '/', dir);
          const rel = s.config.workdir.slice(1);
          if (rel !== '') {
            await ensureTree(s);
            if (s.tree.get(rel)?.type !== 'directory') {
              const plan: PlannedEntry[] = [];
              for (let p = rel; p !== '.' && p !== ''; p = posix.dirname(p)) {
                const have = s.tree.get(p);
                if (have?.type === 'directory') continue;
                plan.unshift({ path: p, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: createdMtime, size: 0, created: true });
              }
              await addLayer(ins, plan, hashKey(['WORKDIR', chainKey(), rel, String(o.timestamp ?? '')]));
              break;
            }
          }
          history(ins, true);
          break;
        }
        case 'USER':
          s.config.user = expand(ins, ins.rest, vars(), esc);
          history(ins, true);
          break;
        case 'EXPOSE':
          for (const p of words(ins, vars(), esc)) {
            const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
            if (m === null) throw new BuildError('BUILD_SYNTAX', `${w}: EXPOSE: "${p}" is not PORT[-PORT][/tcp|udp|sctp]`);
            const from = Number(m[1]);
            const to = m[2] !== undefined ? Number(m[2]) : from;
            for (let port = from; port <= to; port++) pushUnique(s.config.exposed, `${port}/${(m[3] ?? 'tcp').toLowerCase()}`);
          }
          history(ins, true);
          break;
        case 'VOLUME':
          for (const v of ins.json ?? words(ins, vars(), esc)) {
            if (v.trim() === '') throw new BuildError('BUILD_SYNTAX', `${w}: VOLUME: empty path`);
            pushUnique(s.config.volumes, v);
          }
          history(ins, true);
          break;
        case 'STOPSIGNAL':
          s.config.stopSignal = expand(ins, ins.rest, vars(), esc);
          history(ins, true);
          break;
        case 'SHELL':
          if (ins.json!.length === 0) throw new BuildError('BUILD_SYNTAX', `${w}: SHELL needs at least one element`);
          s.config.shell = [...ins.json!];
          history(ins, true);
          break;
        case 'CMD':
          s.config.cmd = ins.json !== undefined ? [...ins.json] : [...s.config.shell, ins.rest];
          s.config.cmdFromBase = false;
          history(ins, true);
          break;
        case 'ENTRYPOINT':
          s.config.entrypoint = ins.json !== undefined ? [...ins.json] : [...s.config.shell, ins.rest];
          // Docker: an ENTRYPOINT resets a CMD inherited from the base image.
          if (s.config.cmdFromBase) s.config.cmd = undefined;
          history(ins, true);
          break;
        case 'RUN':
          throw new BuildError('BUILD_UNSUPPORTED', `${w}: RUN needs a container runtime, and sealos build runs no containers`, {
            hint: 'cluster images are built from files: prepare them in the build context before the build (a script, a Makefile), then COPY them',
          });
        case 'HEALTHCHECK':
        case 'ONBUILD':
          reporter.emit({ kind: 'log', level: 'warn', msg: `${w}: ${ins.cmd} is not kept in cluster images; ignored` });
          history(ins, true);
          break;
        case 'COPY':
        case 'ADD': {
          const plan = await planCopyInstruction(ins, s);
          const key = o.cache === undefined ? undefined : await copyKey(ins, chainKey(), plan, o.timestamp, o.contextDir);
          await addLayer(ins, plan, key);
          break;
        }
        default:
          throw new BuildError('BUILD_SYNTAX', `${w}: ${ins.cmd} is not allowed here`);
      }
    }

    async function planCopyInstruction(ins: Instruction, s: StageResult): Promise<PlannedEntry[]> {
      const w = at(ins.pos);
      const v = vars();
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
        const stageSrc = stageByRef(from);
        if (stageSrc !== undefined) root = await rootfsOf(stageSrc.layers, `stage ${from}`, stageSrc);
        else {
          const img = await resolveImage(normalizeOrFail(from, w), o.platform, o.access, w);
          root = await rootfsOf(img.layers, `image ${img.name}`);
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

    results[si] = s;
  }

  for (const k of o.buildArgs.keys())
    if (!usedArgs.has(k)) reporter.emit({ kind: 'log', level: 'warn', msg: `--build-arg ${k} was not consumed by any ARG in ${kf.file}` });

  const final = results[targetIndex]!;
  return { final, built, reused, config: imageConfig(final, o.platform, created) };
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

function expand(ins: Instruction, text: string, vars: Vars, esc: string): string {
  try {
    return expandWord(text, vars, esc);
  } catch (err) {
    return wordErr(ins, err);
  }
}

function words(ins: Instruction, vars: Vars, esc: string): string[] {
  try {
    return expandWords(ins.rest, vars, esc);
  } catch (err) {
    return wordErr(ins, err);
  }
}

/** `ARG a`, `ARG a=b c=d`: names with optional defaults (expanded). */
function argDecls(ins: Instruction, vars: Vars, esc: string): Array<[string, string | undefined]> {
  if (ins.cmd !== 'ARG') throw new BuildError('BUILD_SYNTAX', `${at(ins.pos)}: only ARG may come before FROM`);
  let ws: string[];
  try {
    ws = rawWords(ins.rest, esc);
  } catch (err) {
    return wordErr(ins, err);
  }
  if (ws.length === 0) throw new BuildError('BUILD_SYNTAX', `${at(ins.pos)}: ARG needs a name`);
  return ws.map((w) => {
    const eq = w.indexOf('=');
    const name = eq < 0 ? w : w.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new BuildError('BUILD_SYNTAX', `${at(ins.pos)}: ARG: "${name}" is not a valid name`);
    return [name, eq < 0 ? undefined : expand(ins, w.slice(eq + 1), vars, esc)];
  });
}

function normalizeOrFail(name: string, where: string): string {
  try {
    return normalizeRef(name);
  } catch (err) {
    throw new BuildError('BUILD_SYNTAX', `${where}: "${name}" is not a valid image reference`, { cause: err });
  }
}

function parseChown(s: string, pos: SourcePos): { uid: number; gid: number } {
  const [u, g] = s.split(':');
  const id = (x: string | undefined, fallback: number): number => {
    if (x === undefined || x === '') return fallback;
    if (x === 'root') return 0;
    if (/^\d+$/.test(x)) return Number(x);
    throw new BuildError('BUILD_UNSUPPORTED', `${at(pos)}: --chown=${s}: user and group names need the image's /etc/passwd; give numeric ids`);
  };
  const uid = id(u, 0);
  return { uid, gid: id(g, uid) };
}

function emptyConfig(): ConfigState {
  return {
    env: [],
    labels: new Map(),
    cmd: undefined,
    entrypoint: undefined,
    cmdFromBase: false,
    workdir: '',
    user: undefined,
    exposed: [],
    volumes: [],
    stopSignal: undefined,
    shell: ['/bin/sh', '-c'],
    author: undefined,
  };
}

function cloneConfig(c: ConfigState): ConfigState {
  return {
    ...c,
    env: c.env.map(([k, v]) => [k, v]),
    labels: new Map(c.labels),
    cmd: c.cmd && [...c.cmd],
    entrypoint: c.entrypoint && [...c.entrypoint],
    exposed: [...c.exposed],
    volumes: [...c.volumes],
    shell: [...c.shell],
    cmdFromBase: c.cmd !== undefined,
  };
}

function configFromImage(c: NonNullable<ImageConfig['config']>, author: string | undefined): ConfigState {
  const cfg = emptyConfig();
  for (const e of c.Env ?? []) {
    const eq = e.indexOf('=');
    setEnv(cfg.env, eq < 0 ? e : e.slice(0, eq), eq < 0 ? '' : e.slice(eq + 1));
  }
  for (const [k, v] of Object.entries(c.Labels ?? {})) cfg.labels.set(k, v);
  if (c.Cmd) cfg.cmd = [...c.Cmd];
  if (c.Entrypoint) cfg.entrypoint = [...c.Entrypoint];
  cfg.cmdFromBase = cfg.cmd !== undefined;
  cfg.workdir = c.WorkingDir ?? '';
  cfg.user = c.User;
  cfg.exposed = Object.keys(c.ExposedPorts ?? {});
  cfg.volumes = Object.keys(c.Volumes ?? {});
  cfg.stopSignal = c.StopSignal;
  if (c.Shell) cfg.shell = [...c.Shell];
  cfg.author = author;
  return cfg;
}

function setEnv(env: Array<[string, string]>, k: string, v: string): void {
  const i = env.findIndex(([key]) => key === k);
  if (i >= 0) env[i] = [k, v];
  else env.push([k, v]);
}

function pushUnique(list: string[], v: string): void {
  if (!list.includes(v)) list.push(v);
}

/** Applies `--env` and `--label` given on the command line to the final stage. */
export function applyOverrides(r: ExecuteResult, env: ReadonlyArray<[string, string]>, labels: ReadonlyArray<[string, string]>, platform: Platform, created: string): ExecuteResult {
  for (const [k, v] of env) setEnv(r.final.config.env, k, v);
  for (const [k, v] of labels) r.final.config.labels.set(k, v);
  return { ...r, config: imageConfig(r.final, platform, created) };
}

function imageConfig(s: StageResult, platform: Platform, created: string): ImageConfig {
  const c = s.config;
  const body: Record<string, unknown> = {};
  if (c.user) body.User = c.user;
  if (c.exposed.length > 0) body.ExposedPorts = Object.fromEntries(c.exposed.map((p) => [p, {}]));
  body.Env = c.env.map(([k, v]) => `${k}=${v}`);
  if (c.entrypoint !== undefined) body.Entrypoint = c.entrypoint;
  if (c.cmd !== undefined) body.Cmd = c.cmd;
  if (c.volumes.length > 0) body.Volumes = Object.fromEntries(c.volumes.map((p) => [p, {}]));
  if (c.workdir) body.WorkingDir = c.workdir;
  if (c.labels.size > 0) body.Labels = Object.fromEntries([...c.labels.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  if (c.stopSignal) body.StopSignal = c.stopSignal;
  if (c.shell.join('\0') !== '/bin/sh\0-c') body.Shell = c.shell;
  return {
    created,
    ...(c.author ? { author: c.author } : {}),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: body,
    rootfs: { type: 'layers', diff_ids: s.layers.map((l) => l.diffId) },
    history: s.history,
  } as ImageConfig;
}

const hashKey = (parts: readonly string[]): string => createHash('sha256').update(JSON.stringify(parts)).digest('hex');

/**
 * The cache key of a COPY/ADD: parent layers, the instruction, and every entry's metadata. File
 * content is identified as git's index and BuildKit's context cache do, by device, inode, size,
 * mtime and ctime (any write changes mtime and ctime), so an unchanged rebuild reads no file twice.
 * Files that are not the build context's (an archive ADD unpacks, a stage's rootfs) are hashed.
 */
async function copyKey(ins: Instruction, chain: string, plan: readonly PlannedEntry[], timestamp: number | undefined, contextDir: string): Promise<string> {
  const limit = pLimit(HASH_JOBS);
  const inContext = (p: string): boolean => p.startsWith(`${contextDir}/`);
  const contents = await Promise.all(
    plan.map((e) =>
      e.type === 'file' && e.abs !== undefined ? (inContext(e.abs) ? Promise.resolve(e.stamp ?? '') : limit(() => hashFile(e.abs!))) : Promise.resolve(''),
    ),
  );
  const h = createHash('sha256');
  h.update(JSON.stringify(['COPY/1', chain, ins.cmd, ins.original, timestamp ?? '']));
  for (const [i, e] of plan.entries())
    h.update(`${JSON.stringify([e.path, e.type, e.mode, e.uid, e.gid, e.created === true ? 0 : e.mtime, e.size, e.linkname ?? '', contents[i]])}\n`);
  return h.digest('hex');
}

async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  const st = await stat(path);
  if (st.size <= SMALL_FILE_BYTES) h.update(await readFile(path));
  else for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Writes the planned entries as one layer; small files are read ahead while earlier data compresses. */
async function writeLayer(plan: readonly PlannedEntry[], path: string, timestamp: number | undefined, ins: Instruction) {
  const w = await LayerWriter.create(path);
  const ahead = new Map<number, Promise<Buffer>>();
  const READ_AHEAD = 16;
  let next = 0;
  const prefetch = (upTo: number): void => {
    for (; next < plan.length && next <= upTo; next++) {
      const e = plan[next]!;
      if (e.type === 'file' && e.abs !== undefined && e.size <= SMALL_FILE_BYTES) {
        const p = readFile(e.abs);
        p.catch(() => {});
        ahead.set(next, p);
      }
    }
  };
  try {
    for (const [i, e] of plan.entries()) {
      prefetch(i + READ_AHEAD);
      const header = {
        name: e.path,
        type: e.type,
        size: e.type === 'file' ? e.size : 0,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: timestamp ?? e.mtime,
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      };
      if (e.type !== 'file') await w.add(header);
      else if (e.abs === undefined) await w.add(header, Buffer.alloc(0));
      else {
        const small = ahead.get(i);
        ahead.delete(i);
        await w.add(header, small !== undefined ? await small : createReadStream(e.abs, { highWaterMark: 1 << 20 }));
      }
    }
    return await w.finish();
  } catch (err) {
    await w.abort();
    if (err instanceof BuildError) throw err;
    throw new BuildError('BUILD_SOURCE', `${at(ins.pos)}: ${ins.cmd}: ${(err as Error).message}`, { cause: err });
  }
}

const mib = (n: number): string => `${(n / (1 << 20)).toFixed(1)} MiB`;
