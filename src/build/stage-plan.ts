/** Splits a Kubefile into its global ARGs and stages, and picks the stages a target needs. */
import { formatPlatform, type Platform } from '../oci/index.js';
import { at, BuildError } from './errors.js';
import { argDecls } from './instruction-args.js';
import { flagValue, type Instruction, type Kubefile } from './parse.js';
import { rawWords } from './words.js';

/** The stages of a Kubefile and the ARGs declared before its first FROM. */
export interface StagePlan {
  /** Predefined platform ARGs plus the global ARGs that have a value. */
  readonly globalArgs: Map<string, string>;
  /** Global ARGs as declared, with their values (undefined: declared without one). */
  readonly declaredGlobal: Map<string, string | undefined>;
  /** `--build-arg` names some ARG consumed; stages add to it as they run. */
  readonly usedArgs: Set<string>;
  /** Each stage's instructions, its FROM first. */
  readonly stages: Instruction[][];
  /** Each stage's lower-cased `AS` name, if it has one. */
  readonly names: Array<string | undefined>;
  readonly targetIndex: number;
  /** Indexes of the stages the target needs. */
  readonly need: Set<number>;
}

/** Platform values BuildKit predefines as ARGs. */
export function platformArgs(p: Platform): Map<string, string> {
  const m = new Map<string, string>();
  for (const prefix of ['TARGET', 'BUILD']) {
    m.set(`${prefix}PLATFORM`, formatPlatform(p));
    m.set(`${prefix}OS`, p.os);
    m.set(`${prefix}ARCH`, p.architecture);
    m.set(`${prefix}VARIANT`, p.variant ?? '');
  }
  return m;
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

/** The stage plan of `kf` for `target` (default: the last stage), with `buildArgs` overriding ARG defaults. */
export function planStages(kf: Kubefile, platform: Platform, buildArgs: ReadonlyMap<string, string>, target: string | undefined): StagePlan {
  const esc = kf.escape;
  const globalArgs = new Map<string, string>(platformArgs(platform));
  const declaredGlobal = new Map<string, string | undefined>();
  const usedArgs = new Set<string>();
  const stages: Instruction[][] = [];
  for (const ins of kf.instructions) {
    if (ins.cmd === 'FROM') stages.push([ins]);
    else if (stages.length === 0) {
      for (const [k, v] of argDecls(ins, globalArgs, esc)) {
        const value = buildArgs.get(k) ?? v;
        if (buildArgs.has(k)) usedArgs.add(k);
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
  if (target !== undefined) {
    targetIndex = names.indexOf(target.toLowerCase());
    if (targetIndex < 0) throw new BuildError('BUILD_USAGE', `--target ${target}: no stage has that name in ${kf.file}`);
  }
  const need = neededStages(kf, stages, names, targetIndex);
  return { globalArgs, declaredGlobal, usedArgs, stages, names, targetIndex, need };
}
