/** The commander program: global flags, and the command groups, each loaded only when it is needed. */
import { Command } from 'commander';
import { makeContext, type CliContext } from './context.js';

/** Handlers get their context lazily, so `--debug` given anywhere on the line is honoured. */
export type ContextGetter = (cmd: Command) => CliContext;

type Register = (program: Command, ctx: ContextGetter) => void;

/**
 * Command groups by the names (and aliases) they register. Only the group a command line names is
 * imported, so `sealos images` does not load ssh2 or the registry client (start-up 0.33 s -> about 0.2 s);
 * help and unknown commands load them all.
 */
export const COMMAND_GROUPS: ReadonlyArray<{ readonly names: readonly string[]; readonly load: () => Promise<Register> }> = [
  { names: ['images', 'tag', 'rmi', 'prune', 'inspect', 'save', 'load'], load: async () => (await import('./image-commands.js')).registerImageCommands },
  { names: ['pull', 'push', 'login', 'logout'], load: async () => (await import('./registry-commands.js')).registerRegistryCommands },
  { names: ['build', 'bud', 'build-using-dockerfile'], load: async () => (await import('./build-commands.js')).registerBuildCommands },
  { names: ['exec', 'scp'], load: async () => (await import('./remote-commands.js')).registerRemoteCommands },
];

/** The program for `argv` (process.argv form): with the named command's group, or every group. */
export async function buildProgram(argv: readonly string[]): Promise<Command> {
  const program = new Command('sealos')
    .description('Build offline Kubernetes cluster images and deploy them to hosts over SSH')
    .option('--debug', 'print debug logs and stacks', false)
    .showHelpAfterError()
    .exitOverride();
  const ctx: ContextGetter = (cmd) => {
    const g = cmd.optsWithGlobals() as { debug?: boolean; quiet?: boolean };
    return makeContext({ debug: g.debug, quiet: g.quiet });
  };
  const named = argv.slice(2).find((a) => !a.startsWith('-'));
  const wanted = COMMAND_GROUPS.filter((g) => named !== undefined && g.names.includes(named));
  for (const group of wanted.length > 0 ? wanted : COMMAND_GROUPS) (await group.load())(program, ctx);
  return program;
}
