/** What every command handler gets: the resolved settings and the reporter. Built once at the CLI edge. */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Reporter } from '../report.js';
import { terminalReporter } from './render.js';

export interface CliContext {
  readonly reporter: Reporter;
  /** Root of the local image store. */
  readonly storeRoot: string;
  readonly debug: boolean;
  readonly quiet: boolean;
  /** The environment, read only here at the edge. */
  readonly env: NodeJS.ProcessEnv;
}

/** The store root DESIGN.md names: SEALOS_STORE, else /var/lib/sealos/images for root, else XDG data home. */
export function defaultStoreRoot(env: NodeJS.ProcessEnv, uid: number): string {
  if (env.SEALOS_STORE) return env.SEALOS_STORE;
  if (uid === 0) return '/var/lib/sealos/images';
  const data = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(data, 'sealos', 'images');
}

export function makeContext(flags: { debug?: boolean; quiet?: boolean }): CliContext {
  const debug = flags.debug === true;
  const quiet = flags.quiet === true;
  return {
    reporter: terminalReporter({ debug, quiet, tty: process.stderr.isTTY === true, err: process.stderr, out: process.stdout }),
    storeRoot: defaultStoreRoot(process.env, process.getuid?.() ?? 1000),
    debug,
    quiet,
    env: process.env,
  };
}
