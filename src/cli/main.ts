#!/usr/bin/env node
/** The `sealos` entry point: builds the program, runs it, and maps failures to exit codes. */
import { CommanderError } from 'commander';
import { reportFailure } from './exit.js';
import { buildProgram } from './program.js';

async function main(argv: readonly string[]): Promise<number> {
  try {
    const program = await buildProgram(argv);
    await program.parseAsync(argv as string[]);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    return reportFailure(err, argv.includes('--debug'), (s) => process.stderr.write(s));
  }
}

process.exitCode = await main(process.argv);
