/** A stage's start: its FROM line resolved to scratch, an earlier stage, or a base image for the stage's platform. */
import type { Platform } from '../oci/index.js';
import { at, BuildError } from './errors.js';
import { cloneConfig, configFromImage, emptyConfig } from './image-config.js';
import { resolveImage } from './images.js';
import { expand, normalizeOrFail } from './instruction-args.js';
import { flagValue } from './parse.js';
import { stageByRef, type BuildRun, type StageResult } from './run-state.js';
import { rawWords } from './words.js';

/** The PATH BuildKit and buildah give a Linux image that has none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Stage `si` as its FROM leaves it, and the platform it runs for (`FROM --platform`, else the build's). */
export async function openStage(run: BuildRun, si: number): Promise<{ s: StageResult; platform: Platform }> {
  const { o, esc } = run;
  const { globalArgs, names } = run.plan;
  const fromIns = run.plan.stages[si]![0]!;
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
  const prior = stageByRef(run, baseName);
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
  return { s: stageResult, platform };
}
