/** `sealos build`: flags in, buildImage out. Parsing and printing only. */
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { buildImage, BuildError, DEFAULT_MAX_PULL_PROCS } from '../build/index.js';
import { parsePlatform } from '../oci/index.js';
import type { ContextGetter } from './program.js';
import { addRegistryFlags, parseBool, positiveInt, quietly, registryOptions } from './options.js';

interface BuildFlags {
  readonly file?: string;
  readonly tag: string[];
  readonly label: string[];
  readonly env: string[];
  readonly buildArg: string[];
  readonly platform?: string;
  readonly cache: boolean;
  readonly quiet?: boolean;
  readonly timestamp?: number;
  readonly target?: string;
  readonly saveImage: boolean;
  readonly maxPullProcs: number;
  readonly tlsVerify: boolean;
  readonly authfile?: string;
  readonly certDir?: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function keyValue(flag: string, s: string, allowBare = false): [string, string] {
  const eq = s.indexOf('=');
  if (eq === 0 || (eq < 0 && !allowBare)) throw new BuildError('BUILD_USAGE', `--${flag} ${s}: expected KEY=VALUE`);
  return eq < 0 ? [s, ''] : [s.slice(0, eq), s.slice(eq + 1)];
}

export function registerBuildCommands(program: Command, ctx: ContextGetter): void {
  addRegistryFlags(program.command('build'))
    .aliases(['bud', 'build-using-dockerfile'])
    .description('build a cluster image from a Kubefile, capturing the container images it names into registry/')
    .argument('[context]', 'the build context directory', '.')
    .option('-f, --file <path>', 'the Kubefile (default: the first of Kubefile, Sealfile, Dockerfile, Containerfile in the context)')
    .option('-t, --tag <name>', 'name the image (repeatable)', collect, [])
    .option('--label <key=value>', 'set a label on the image (repeatable)', collect, [])
    .option('--env <key=value>', 'set an environment variable in the image (repeatable)', collect, [])
    .option('--build-arg <key=value>', 'set an ARG value (repeatable)', collect, [])
    .option('--platform <os/arch[/variant]>', 'the image platform, also used to pick captured images (default: this host)')
    .option('--no-cache', 'build every layer again instead of reusing cached ones')
    .option('-q, --quiet', 'print only the image ID')
    .addOption(new Option('--timestamp <seconds>', 'set every file time and the creation time to this Unix time (reproducible builds)').argParser((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new BuildError('BUILD_USAGE', `--timestamp: expected seconds since 1970, got "${v}"`);
      return n;
    }))
    .option('--target <stage>', 'build up to this stage')
    .addOption(new Option('--save-image [bool]', 'capture the images the context names into <context>/registry first').argParser(parseBool('save-image')).default(true))
    .addOption(new Option('--max-pull-procs <n>', 'images captured at once').argParser(positiveInt('max-pull-procs')).default(DEFAULT_MAX_PULL_PROCS))
    .option('--layers', 'accepted for buildah compatibility: every COPY/ADD is its own layer anyway')
    .action(async (contextDir: string, o: BuildFlags, cmd: Command) => {
      const c = ctx(cmd);
      const reporter = quietly(c.reporter, o.quiet);
      const started = Date.now();
      const result = await buildImage({
        contextDir: resolve(contextDir),
        ...(o.file !== undefined ? { file: o.file } : {}),
        tags: o.tag,
        labels: o.label.map((l) => keyValue('label', l, true)),
        env: o.env.map((e) => keyValue('env', e)),
        buildArgs: new Map(o.buildArg.map((a) => keyValue('build-arg', a, true))),
        ...(o.platform !== undefined ? { platform: parsePlatform(o.platform) } : {}),
        noCache: !o.cache,
        ...(o.timestamp !== undefined ? { timestamp: o.timestamp } : {}),
        ...(o.target !== undefined ? { target: o.target } : {}),
        saveImages: o.saveImage,
        maxPullProcs: o.maxPullProcs,
        storeRoot: c.storeRoot,
        registry: registryOptions(c, o),
        reporter,
      });
      if (result.capture !== undefined && result.capture.images.length > 0) {
        reporter.emit({ kind: 'log', level: 'info', msg: `captured ${result.capture.images.length} image(s) into ${result.capture.dir} (list: ${result.capture.listPath}):` });
        for (const i of result.capture.images) reporter.emit({ kind: 'log', level: 'info', msg: `  ${i.stored}  ${i.digest}  (${i.source})` });
      }
      for (const n of result.names) reporter.emit({ kind: 'log', level: 'info', msg: `Successfully tagged ${n}` });
      reporter.emit({
        kind: 'log',
        level: 'info',
        msg: `built in ${((Date.now() - started) / 1000).toFixed(1)}s: ${result.layersBuilt} layer(s) made, ${result.layersReused} from cache`,
      });
      reporter.result(result.digest.slice(7));
    });
}
