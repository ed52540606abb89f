/** The state one Kubefile execution carries across its stages and instructions, and the lookups on it. */
import type { Digest, History, Platform } from '../oci/index.js';
import type { Reporter } from '../report.js';
import type { LayerCache } from './cache.js';
import type { MetaTable } from './extract.js';
import { readTree, type ImageAccess, type LayerRef } from './images.js';
import type { Instruction, Kubefile } from './parse.js';
import type { IgnoreRules } from './patterns.js';
import type { PlannedEntry } from './sources.js';
import type { StagePlan } from './stage-plan.js';

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

export interface ConfigState {
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

/** What every stage of one execution shares; `reused` and `layerSeq` count up as layers are made. */
export interface BuildRun {
  readonly o: ExecuteOptions;
  readonly reporter: Reporter;
  readonly esc: string;
  /** Seconds since the epoch for entries the build creates (parent directories). */
  readonly createdMtime: number;
  /** The ISO time in the config and every history entry. */
  readonly created: string;
  readonly plan: StagePlan;
  /** Stage results by stage index; a stage that did not run (yet) has none. */
  readonly results: StageResult[];
  /** Every layer this build wrote into staging (all stages), with their cache keys. */
  readonly built: Array<{ key: string | undefined; layer: LayerRef }>;
  reused: number;
  layerSeq: number;
}

/** The stage being run: its result so far, its platform, and the ARGs it declared. */
export interface StageRun {
  readonly run: BuildRun;
  readonly s: StageResult;
  readonly platform: Platform;
  readonly stageArgs: Map<string, string>;
}

/** The stage a FROM or COPY --from names, by index or `AS` name, if it ran. */
export function stageByRef(run: BuildRun, ref: string): StageResult | undefined {
  if (/^\d+$/.test(ref)) return run.results[Number(ref)];
  const i = run.plan.names.findIndex((n) => n !== undefined && n === ref.toLowerCase());
  return i >= 0 ? run.results[i] : undefined;
}

/** Loads what the stage's base layers hold, once, for parent-directory decisions. */
export async function ensureTree(st: StageResult): Promise<void> {
  if (st.treeLoaded) return;
  const own = new Map(st.tree);
  st.tree.clear();
  await readTree(st.layers.slice(0, st.baseLayers), st.tree);
  for (const [k, v] of own) st.tree.set(k, v);
  st.treeLoaded = true;
}

/** The variables an instruction expands: the stage's ARGs, overridden by its ENV. */
export function stageVars(sr: StageRun): Map<string, string> {
  const m = new Map(sr.stageArgs);
  for (const [k, v] of sr.s.config.env) m.set(k, v);
  return m;
}

export function recordHistory(sr: StageRun, ins: Instruction, emptyLayer: boolean): void {
  sr.s.history.push({ created: sr.run.created, created_by: `/bin/sh -c #(nop) ${ins.original}`, ...(emptyLayer ? { empty_layer: true } : {}) });
}

/** The stage's layers so far, as part of a cache key. */
export function chainKey(sr: StageRun): string {
  return sr.s.layers.map((l) => l.diffId).join(',');
}
