/**
 * Renders library events on the terminal: a redrawn status line per blob on a TTY,
 * plain lines otherwise, nothing but errors with --quiet, and debug lines with --debug.
 */
import type { ReportEvent, Reporter } from '../report.js';

export interface RenderOptions {
  readonly quiet: boolean;
  readonly debug: boolean;
  readonly tty: boolean;
  readonly err: NodeJS.WritableStream;
  readonly out: NodeJS.WritableStream;
}

const short = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12);
const mib = (n: number): string => `${(n / (1 << 20)).toFixed(1)}MiB`;

/** The reporter the CLI hands to library code. */
export function terminalReporter(o: RenderOptions): Reporter {
  let lastLineWasBar = false;
  // Blobs in flight: digest -> [bytes, total]; on a TTY one status line sums them.
  const active = new Map<string, [number, number]>();
  const status = (): string => {
    let bytes = 0;
    let total = 0;
    for (const [b, t] of active.values()) {
      bytes += b;
      total += t;
    }
    return `copying ${active.size} blob${active.size === 1 ? '' : 's'}: ${mib(bytes)}/${mib(total)}`;
  };
  const line = (text: string): void => {
    if (lastLineWasBar) o.err.write('\r\x1b[K');
    lastLineWasBar = false;
    o.err.write(`${text}\n`);
  };
  const bar = (text: string): void => {
    o.err.write(`\r\x1b[K${text}`);
    lastLineWasBar = true;
  };
  return {
    emit(e: ReportEvent): void {
      if (e.kind === 'log') {
        if (e.level === 'debug' && !o.debug) return;
        if (o.quiet && e.level !== 'error') return;
        line(`${e.host !== undefined ? `${e.host}: ` : ''}${e.level === 'info' ? '' : `${e.level}: `}${e.msg}`);
        return;
      }
      if (o.quiet) return;
      if (e.kind === 'blob') {
        const name = `blob ${short(e.digest)}`;
        if (e.state === 'done' || e.state === 'skipped') active.delete(e.digest);
        else active.set(e.digest, [e.bytes, e.total]);
        if (e.state === 'skipped') line(`${name} skipped: already exists`);
        else if (e.state === 'done') line(`${name} done ${mib(e.total)}`);
        else if (e.state === 'start' && !o.tty) line(`copying ${name} (${mib(e.total)})`);
        if (o.tty && active.size > 0) bar(status());
        return;
      }
      const elapsed = e.ms !== undefined ? ` (${(e.ms / 1000).toFixed(1)}s)` : '';
      if (e.state !== 'start' || o.debug) line(`${e.host}: ${e.name} ${e.state}${elapsed}`);
    },
    result(text: string): void {
      if (lastLineWasBar) o.err.write('\r\x1b[K');
      lastLineWasBar = false;
      o.out.write(text.endsWith('\n') ? text : `${text}\n`);
    },
  };
}
