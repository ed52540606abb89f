/** Maps errors to one-line messages and exit codes at the CLI edge. */
import { errorChain, innermostSealosError } from '../errors.js';

/** Exit code for a bug (an error that is not a SealosError), as sysexits' EX_SOFTWARE. */
export const EXIT_BUG = 70;

const EXIT_BY_PREFIX: ReadonlyArray<readonly [RegExp, number]> = [
  [/^(BAD_|UNSAFE_PATH|USAGE|BUILD_(SYNTAX|NO_FILE|SOURCE|UNSUPPORTED|USAGE))/, 2],
  [/^(IMAGE_UNKNOWN|BLOB_UNKNOWN|NOT_FOUND)/, 3],
  [/^SSH_/, 4],
  [/^(REGISTRY_|AUTH_)/, 5],
];

/** Prints what failed (the cause chain), the hint, and with --debug the stack; returns the exit code. */
export function reportFailure(err: unknown, debug: boolean, write: (s: string) => void): number {
  const known = innermostSealosError(err);
  if (known === undefined) {
    write(`error: ${errorChain(err)}\n`);
    write(`${err instanceof Error ? err.stack : String(err)}\n`);
    write('this is a bug in sealos; please report it with the output above\n');
    return EXIT_BUG;
  }
  write(`error: ${errorChain(err)}\n`);
  if (known.hint !== undefined) write(`hint: ${known.hint}\n`);
  if (debug && err instanceof Error) write(`${err.stack}\n`);
  return EXIT_BY_PREFIX.find(([re]) => re.test(known.code))?.[1] ?? 1;
}
