/** A stage's editable config: made empty, inherited from a base image or stage, and turned into an OCI image config. */
import type { ImageConfig, Platform } from '../oci/index.js';
import type { ConfigState, StageResult } from './run-state.js';

export function emptyConfig(): ConfigState {
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

export function cloneConfig(c: ConfigState): ConfigState {
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

export function configFromImage(c: NonNullable<ImageConfig['config']>, author: string | undefined): ConfigState {
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

export function setEnv(env: Array<[string, string]>, k: string, v: string): void {
  const i = env.findIndex(([key]) => key === k);
  if (i >= 0) env[i] = [k, v];
  else env.push([k, v]);
}

export function pushUnique(list: string[], v: string): void {
  if (!list.includes(v)) list.push(v);
}

export function imageConfig(s: StageResult, platform: Platform, created: string): ImageConfig {
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
