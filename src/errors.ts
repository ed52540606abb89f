/**
 * The one base class for errors a user can act on. A leaf module: imports nothing.
 * Messages are lower-case without a final period so chains read `a: b: c`.
 */
export class SealosError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  constructor(code: string, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = opts.hint;
  }
}

/** The message of an error and of every error in its `cause` chain, joined as `outer: inner`. */
export function errorChain(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    const msg = e instanceof Error ? e.message : String(e);
    if (!parts.some((p) => p.includes(msg))) parts.push(msg);
    if (!(e instanceof Error)) break;
  }
  return parts.join(': ');
}

/** The innermost SealosError of a cause chain, whose code and hint the CLI reports. */
export function innermostSealosError(err: unknown): SealosError | undefined {
  let found: SealosError | undefined;
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (e instanceof SealosError) found = e;
  return found;
}
