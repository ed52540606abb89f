import test from 'ava';
import { PassThrough } from 'node:stream';
import { terminalReporter } from '../../src/cli/render.js';
import { reportFailure } from '../../src/cli/exit.js';
import { OciError } from '../../src/oci/index.js';

function capture(opts: { quiet?: boolean; tty?: boolean; debug?: boolean }) {
  const err = new PassThrough();
  const out = new PassThrough();
  let e = '';
  let o = '';
  err.on('data', (d: Buffer) => (e += d.toString()));
  out.on('data', (d: Buffer) => (o += d.toString()));
  const r = terminalReporter({ quiet: false, tty: false, debug: false, ...opts, err, out });
  return { r, text: () => ({ err: e, out: o }) };
}

const D = `sha256:${'ab'.repeat(32)}`;

test('plain lines when not a TTY; the answer alone on stdout', (t) => {
  const { r, text } = capture({});
  r.emit({ kind: 'blob', digest: D, state: 'start', bytes: 0, total: 2 << 20 });
  r.emit({ kind: 'blob', digest: D, state: 'progress', bytes: 1 << 20, total: 2 << 20 });
  r.emit({ kind: 'blob', digest: D, state: 'done', bytes: 2 << 20, total: 2 << 20 });
  r.emit({ kind: 'log', level: 'debug', msg: 'hidden' });
  r.result('the answer');
  t.is(text().err, 'copying blob abababababab (2.0MiB)\nblob abababababab done 2.0MiB\n');
  t.is(text().out, 'the answer\n');
});

test('one redrawn status line on a TTY; --quiet keeps only errors', (t) => {
  const tty = capture({ tty: true });
  tty.r.emit({ kind: 'blob', digest: D, state: 'start', bytes: 0, total: 1 << 20 });
  tty.r.emit({ kind: 'blob', digest: D, state: 'progress', bytes: 1 << 19, total: 1 << 20 });
  t.regex(tty.text().err, /\r\x1b\[Kcopying 1 blob: 0\.5MiB\/1\.0MiB$/);
  const quiet = capture({ quiet: true });
  quiet.r.emit({ kind: 'blob', digest: D, state: 'start', bytes: 0, total: 1 });
  quiet.r.emit({ kind: 'log', level: 'warn', msg: 'w' });
  quiet.r.emit({ kind: 'log', level: 'error', msg: 'bad', host: '198.18.0.11' });
  t.is(quiet.text().err, '198.18.0.11: error: bad\n');
});

test('failures print the cause chain and the hint; bugs print a stack and exit 70', (t) => {
  let s = '';
  const code = reportFailure(new Error('loading x.tar', { cause: new OciError('BAD_ARCHIVE', 'x.tar: truncated', { hint: 'copy it again' }) }), false, (x) => (s += x));
  t.is(code, 2);
  t.is(s, 'error: loading x.tar: x.tar: truncated\nhint: copy it again\n');
  let b = '';
  t.is(reportFailure(new TypeError('undefined is not a function'), false, (x) => (b += x)), 70);
  t.regex(b, /TypeError: undefined is not a function\n\s+at /);
});
