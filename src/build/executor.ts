/**
 * Runs the stages of a parsed Kubefile: each COPY/ADD becomes one layer (or a cached one), every
 * other instruction edits the image config. Nothing here touches the store's names: layers are
 * written into the staging area and the caller commits the result.
 */
import type { ImageConfig, Platform } from '../oci/index.js';
import { silentReporter } from '../report.js';
import { imageConfig, setEnv } from './image-config.js';
import type { LayerRef } from './images.js';
import { runInstruction } from './instructions.js';
import type { BuildRun, ExecuteOptions, StageResult, StageRun } from './run-state.js';
import { openStage } from './stage-base.js';
import { planStages } from './stage-plan.js';

export interface ExecuteResult {
  readonly final: StageResult;
  /** Every layer this build wrote into staging (all stages), with their cache keys. */
  readonly built: ReadonlyArray<{ key: string | undefined; layer: LayerRef }>;
  readonly reused: number;
  readonly config: ImageConfig;
}

export async function executeKubefile(o: ExecuteOptions): Promise<ExecuteResult> {
  const reporter = o.reporter ?? silentReporter;
  const kf = o.kubefile;
  const createdMtime = o.timestamp ?? Math.floor(o.now().getTime() / 1000);
  const created = new Date((o.timestamp ?? o.now().getTime() / 1000) * 1000).toISOString();
  const plan = planStages(kf, o.platform, o.buildArgs, o.target);
  const run: BuildRun = { o, reporter, esc: kf.escape, createdMtime, created, plan, results: [], built: [], reused: 0, layerSeq: 0 };

  for (const [si, stage] of plan.stages.entries()) {
    if (!plan.need.has(si)) continue;
    const { s, platform } = await openStage(run, si);
    reporter.emit({ kind: 'log', level: 'info', msg: `[${si + 1}/${plan.stages.length}] ${stage[0]!.original}` });
    const sr: StageRun = { run, s, platform, stageArgs: new Map<string, string>() };
    for (const ins of stage.slice(1)) await runInstruction(sr, ins);
    run.results[si] = s;
  }

  for (const k of o.buildArgs.keys())
    if (!plan.usedArgs.has(k)) reporter.emit({ kind: 'log', level: 'warn', msg: `--build-arg ${k} was not consumed by any ARG in ${kf.file}` });

  const final = run.results[plan.targetIndex]!;
  return { final, built: run.built, reused: run.reused, config: imageConfig(final, o.platform, created) };
}

/** Applies `--env` and `--label` given on the command line to the final stage. */
export function applyOverrides(r: ExecuteResult, env: ReadonlyArray<[string, string]>, labels: ReadonlyArray<[string, string]>, platform: Platform, created: string): ExecuteResult {
  for (const [k, v] of env) setEnv(r.final.config.env, k, v);
  for (const [k, v] of labels) r.final.config.labels.set(k, v);
  return { ...r, config: imageConfig(r.final, platform, created) };
}
