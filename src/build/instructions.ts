/** Runs one instruction of a stage after its FROM: a config edit, a new layer (COPY, ADD, WORKDIR), or a refusal. */
import { posix } from 'node:path';
import { planCopyInstruction } from './copy-instruction.js';
import { at, BuildError } from './errors.js';
import { pushUnique, setEnv } from './image-config.js';
import { argDecls, expand, keyValues, words } from './instruction-args.js';
import { addLayer, copyKey, hashKey } from './layer-staging.js';
import type { Instruction } from './parse.js';
import { chainKey, ensureTree, recordHistory, stageVars, type StageRun } from './run-state.js';
import type { PlannedEntry } from './sources.js';
import { platformArgs } from './stage-plan.js';

/** Applies `ins` to the stage; only COPY, ADD and a WORKDIR that creates directories add a layer. */
export async function runInstruction(sr: StageRun, ins: Instruction): Promise<void> {
  const { run, s, platform, stageArgs } = sr;
  const { o, reporter, esc, createdMtime } = run;
  const { usedArgs, declaredGlobal } = run.plan;
  const w = at(ins.pos);
  reporter.emit({ kind: 'log', level: 'debug', msg: `${w}: ${ins.original}` });
  switch (ins.cmd) {
    case 'ARG':
      for (const [k, v] of argDecls(ins, stageVars(sr), esc)) {
        if (o.buildArgs.has(k)) usedArgs.add(k);
        const value = o.buildArgs.get(k) ?? v ?? (declaredGlobal.has(k) ? declaredGlobal.get(k) : platformArgs(platform).get(k));
        if (value !== undefined) stageArgs.set(k, value);
        else stageArgs.delete(k);
      }
      recordHistory(sr, ins, true);
      break;
    case 'ENV':
      for (const [k, v] of keyValues(ins, stageVars(sr), esc)) setEnv(s.config.env, k, v);
      recordHistory(sr, ins, true);
      break;
    case 'LABEL':
      for (const [k, v] of keyValues(ins, stageVars(sr), esc)) s.config.labels.set(k, v);
      recordHistory(sr, ins, true);
      break;
    case 'MAINTAINER':
      s.config.author = expand(ins, ins.rest, stageVars(sr), esc);
      recordHistory(sr, ins, true);
      break;
    case 'WORKDIR': {
      const dir = expand(ins, ins.rest, stageVars(sr), esc);
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
          await addLayer(sr, ins, plan, hashKey(['WORKDIR', chainKey(sr), rel, String(o.timestamp ?? '')]));
          break;
        }
      }
      recordHistory(sr, ins, true);
      break;
    }
    case 'USER':
      s.config.user = expand(ins, ins.rest, stageVars(sr), esc);
      recordHistory(sr, ins, true);
      break;
    case 'EXPOSE':
      for (const p of words(ins, stageVars(sr), esc)) {
        const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
        if (m === null) throw new BuildError('BUILD_SYNTAX', `${w}: EXPOSE: "${p}" is not PORT[-PORT][/tcp|udp|sctp]`);
        const from = Number(m[1]);
        const to = m[2] !== undefined ? Number(m[2]) : from;
        for (let port = from; port <= to; port++) pushUnique(s.config.exposed, `${port}/${(m[3] ?? 'tcp').toLowerCase()}`);
      }
      recordHistory(sr, ins, true);
      break;
    case 'VOLUME':
      for (const v of ins.json ?? words(ins, stageVars(sr), esc)) {
        if (v.trim() === '') throw new BuildError('BUILD_SYNTAX', `${w}: VOLUME: empty path`);
        pushUnique(s.config.volumes, v);
      }
      recordHistory(sr, ins, true);
      break;
    case 'STOPSIGNAL':
      s.config.stopSignal = expand(ins, ins.rest, stageVars(sr), esc);
      recordHistory(sr, ins, true);
      break;
    case 'SHELL':
      if (ins.json!.length === 0) throw new BuildError('BUILD_SYNTAX', `${w}: SHELL needs at least one element`);
      s.config.shell = [...ins.json!];
      recordHistory(sr, ins, true);
      break;
    case 'CMD':
      s.config.cmd = ins.json !== undefined ? [...ins.json] : [...s.config.shell, ins.rest];
      s.config.cmdFromBase = false;
      recordHistory(sr, ins, true);
      break;
    case 'ENTRYPOINT':
      s.config.entrypoint = ins.json !== undefined ? [...ins.json] : [...s.config.shell, ins.rest];
      // Docker: an ENTRYPOINT resets a CMD inherited from the base image.
      if (s.config.cmdFromBase) s.config.cmd = undefined;
      recordHistory(sr, ins, true);
      break;
    case 'RUN':
      throw new BuildError('BUILD_UNSUPPORTED', `${w}: RUN needs a container runtime, and sealos build runs no containers`, {
        hint: 'cluster images are built from files: prepare them in the build context before the build (a script, a Makefile), then COPY them',
      });
    case 'HEALTHCHECK':
    case 'ONBUILD':
      reporter.emit({ kind: 'log', level: 'warn', msg: `${w}: ${ins.cmd} is not kept in cluster images; ignored` });
      recordHistory(sr, ins, true);
      break;
    case 'COPY':
    case 'ADD': {
      const plan = await planCopyInstruction(sr, ins);
      const key = o.cache === undefined ? undefined : await copyKey(ins, chainKey(sr), plan, o.timestamp, o.contextDir);
      await addLayer(sr, ins, plan, key);
      break;
    }
    default:
      throw new BuildError('BUILD_SYNTAX', `${w}: ${ins.cmd} is not allowed here`);
  }
}
