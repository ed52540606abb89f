/**
 * Typed progress and log events from library code to whatever renders them. A leaf module.
 * Library code never writes to the terminal; the CLI picks a renderer.
 */
export type ReportEvent =
  | { kind: 'log'; level: 'error' | 'warn' | 'info' | 'debug'; msg: string; host?: string }
  | { kind: 'blob'; digest: string; state: 'start' | 'progress' | 'done' | 'skipped'; bytes: number; total: number }
  | { kind: 'phase'; name: string; host: string; state: 'start' | 'done' | 'failed'; ms?: number };

export interface Reporter {
  /** Never throws, never waits on the terminal. */
  emit(e: ReportEvent): void;
  /** The only path to stdout: the answer of a command (a table, JSON). */
  result(text: string): void;
}

/** A reporter that drops everything: the default for library callers that did not wire one. */
export const silentReporter: Reporter = { emit() {}, result() {} };

/** Minimum milliseconds between two progress events of one blob. */
export const PROGRESS_INTERVAL_MS = 200;

/** Wraps a byte stream so it reports start, throttled progress and done for one blob. */
export async function* withProgress(
  body: AsyncIterable<Uint8Array>,
  blob: { digest: string; size: number },
  reporter: Reporter,
): AsyncGenerator<Uint8Array> {
  let bytes = 0;
  let last = Date.now();
  reporter.emit({ kind: 'blob', digest: blob.digest, state: 'start', bytes: 0, total: blob.size });
  for await (const chunk of body) {
    bytes += chunk.byteLength;
    const now = Date.now();
    if (now - last >= PROGRESS_INTERVAL_MS) {
      last = now;
      reporter.emit({ kind: 'blob', digest: blob.digest, state: 'progress', bytes, total: blob.size });
    }
    yield chunk;
  }
  reporter.emit({ kind: 'blob', digest: blob.digest, state: 'done', bytes, total: blob.size });
}
