/**
 * The one builder of remote shell commands. Arguments are always quoted; `raw()` marks shell syntax
 * a human reviewed and is never built from user input except through `quote()`.
 */

/** A command line that is safe to hand to a remote `/bin/sh -c`. */
export type Shell = string & { readonly __shell: true };

/** How a host runs commands as root, chosen once per host (see SshSession.sudoMode). */
export type SudoMode = 'none' | 'nopasswd' | 'password';

const SAFE = /^[A-Za-z0-9_@%+:,./-]+$/;

/** Quotes one argument for a POSIX shell: safe words stay as they are, the rest is single-quoted. */
export const quote = (arg: string): string =>
  arg === '' ? "''" : SAFE.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;

/** `program arg...` with every word quoted. */
export const cmd = (program: string, ...args: readonly string[]): Shell =>
  [program, ...args].map(quote).join(' ') as Shell;

/** Marks reviewed shell syntax (pipes, redirections, loops) as a command. Quote every value in it. */
export const raw = (reviewed: string): Shell => reviewed as Shell;

/** Joins commands with `&&`. */
export const and = (...cmds: readonly Shell[]): Shell => cmds.join(' && ') as Shell;

/**
 * Wraps a finished command so it runs as root. With 'password' the password must be the first line
 * of the command's stdin (`-S`); `-k` makes sudo ask every time so that line is always consumed.
 */
export const asRoot = (c: Shell, sudo: SudoMode): Shell =>
  sudo === 'none' ? c : (`sudo ${sudo === 'nopasswd' ? '-n' : "-k -S -p ''"} -- /bin/sh -c -- ${quote(c)}` as Shell);
