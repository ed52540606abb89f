#!/usr/bin/env node
/** The `sealos` entry point: wires command groups into commander and maps failures to exit codes. */
import { Command, CommanderError } from 'commander';
import { makeContext, type CliContext } from './context.js';
import { reportFailure } from './exit.js';
import { registerImageCommands } from './image-commands.js';
import { registerRegistryCommands } from './registry-commands.js';
import { registerBuildCommands } from './build-commands.js';
import { registerRemoteCommands } from './remote-commands.js';

/** Handlers get their context lazily, so `--debug` given anywhere on the line is honoured. */
export type ContextGetter = (cmd: Command) => CliContext;

export function buildProgram(): Command {
  const program = new Command('sealos')
    .description('Build offline Kubernetes cluster images and deploy them to hosts over SSH')
    .option('--debug', 'print debug logs and stacks', false)
    .showHelpAfterError()
    .exitOverride();
  const ctx: ContextGetter = (cmd) => {
    const g = cmd.optsWithGlobals() as { debug?: boolean; quiet?: boolean };
    return makeContext({ debug: g.debug, quiet: g.quiet });
  };
  registerImageCommands(program, ctx);
  registerRegistryCommands(program, ctx);
  registerBuildCommands(program, ctx);
  registerRemoteCommands(program, ctx);
  return program;
}

async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    return reportFailure(err, argv.includes('--debug'), (s) => process.stderr.write(s));
  }
}

process.exitCode = await main(process.argv);
