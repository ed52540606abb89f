/**
 * The Kubefile reader: Dockerfile syntax as BuildKit reads it. Parser directives (`# escape=`),
 * comments, line continuations, instruction flags, and exec (JSON) versus shell form.
 * What the arguments mean is the executor's business; this only finds and checks the shape.
 */
import { at, BuildError, type SourcePos } from './errors.js';
import { rawWords, WordError } from './words.js';

/** Every instruction this builder knows, with the flags each accepts. */
const FLAGS: Readonly<Record<string, readonly string[]>> = {
  FROM: ['platform'],
  ARG: [],
  ENV: [],
  LABEL: [],
  MAINTAINER: [],
  COPY: ['from', 'chown', 'chmod', 'link', 'exclude'],
  ADD: ['chown', 'chmod', 'link', 'checksum', 'keep-git-dir', 'exclude'],
  WORKDIR: [],
  USER: [],
  EXPOSE: [],
  VOLUME: [],
  CMD: [],
  ENTRYPOINT: [],
  SHELL: [],
  STOPSIGNAL: [],
  RUN: ['mount', 'network', 'security'],
  HEALTHCHECK: ['interval', 'timeout', 'start-period', 'start-interval', 'retries'],
  ONBUILD: [],
};

/** Instructions whose arguments may be a JSON array of strings. */
const JSON_FORM = new Set(['CMD', 'ENTRYPOINT', 'RUN', 'SHELL', 'COPY', 'ADD', 'VOLUME']);

export interface InstructionFlag {
  readonly name: string;
  /** The raw value (quotes kept; the executor expands it); undefined for `--link` without `=`. */
  readonly value: string | undefined;
}

export interface Instruction {
  /** Upper-case keyword. */
  readonly cmd: string;
  readonly flags: readonly InstructionFlag[];
  /** The arguments after the flags, continuation lines joined, unexpanded. */
  readonly rest: string;
  /** Set for the exec form: the JSON array. */
  readonly json: readonly string[] | undefined;
  /** The instruction as written (continuations joined), for history. */
  readonly original: string;
  readonly pos: SourcePos;
}

export interface Kubefile {
  readonly file: string;
  /** The escape character: `\` unless a `# escape=` directive says otherwise. */
  readonly escape: string;
  readonly instructions: readonly Instruction[];
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$/;

/** Parses Kubefile text; errors carry `FILE:LINE`. */
export function parseKubefile(text: string, file: string): Kubefile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escape = '\\';
  let i = 0;
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const m = DIRECTIVE.exec(lines[i]!.trim());
    if (m === null) break;
    const name = m[1]!.toLowerCase();
    if (name !== 'escape' && name !== 'syntax' && name !== 'check') break;
    if (seen.has(name)) throw new BuildError('BUILD_SYNTAX', `${file}:${i + 1}: directive "${name}" given twice`);
    seen.add(name);
    if (name === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`')
        throw new BuildError('BUILD_SYNTAX', `${file}:${i + 1}: invalid escape character "${m[2]}": use \\ or \``);
      escape = m[2];
    }
  }

  const instructions: Instruction[] = [];
  const isComment = (l: string): boolean => l.trimStart().startsWith('#');
  const continues = (l: string): boolean => l.trimEnd().endsWith(escape);
  for (; i < lines.length; i++) {
    const first = lines[i]!;
    if (first.trim() === '' || isComment(first)) continue;
    const startLine = i + 1;
    let joined = '';
    let line = first;
    for (;;) {
      if (!continues(line)) {
        joined += line;
        break;
      }
      joined += line.trimEnd().slice(0, -escape.length);
      // Comment and blank lines inside a continuation are dropped, as BuildKit does.
      do i++;
      while (i < lines.length && (isComment(lines[i]!) || lines[i]!.trim() === ''));
      if (i >= lines.length) break;
      line = lines[i]!;
    }
    instructions.push(parseInstruction(joined.trim(), { file, line: startLine }, escape));
  }

  const firstFrom = instructions.findIndex((ins) => ins.cmd === 'FROM');
  const early = instructions.find((ins, n) => (firstFrom < 0 || n < firstFrom) && ins.cmd !== 'ARG');
  if (early !== undefined)
    throw new BuildError('BUILD_SYNTAX', `${at(early.pos)}: ${early.cmd} before FROM: only ARG may come before the first FROM`);
  if (firstFrom < 0) throw new BuildError('BUILD_SYNTAX', `${file}: no FROM instruction`, { hint: 'cluster images usually start with FROM scratch' });
  return { file, escape, instructions };
}

function parseInstruction(text: string, pos: SourcePos, escape: string): Instruction {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(text)!;
  const word = m[1]!;
  const cmd = word.toUpperCase();
  const allowed = FLAGS[cmd];
  if (allowed === undefined) throw new BuildError('BUILD_SYNTAX', `${at(pos)}: unknown instruction "${word}"`, { hint: hintFor(cmd) });
  let rest = m[2]!;
  const flags: InstructionFlag[] = [];
  if (cmd !== 'ONBUILD') {
    for (;;) {
      const f = /^--([A-Za-z][A-Za-z0-9-]*)(=)?/.exec(rest);
      if (f === null) break;
      let end = f[0].length;
      let value: string | undefined;
      if (f[2] !== undefined) {
        const rawEnd = endOfRawWord(rest, end, escape, pos);
        value = rest.slice(end, rawEnd);
        end = rawEnd;
      } else if (end < rest.length && !/\s/.test(rest[end]!)) break;
      if (!allowed.includes(f[1]!))
        throw new BuildError('BUILD_SYNTAX', `${at(pos)}: unknown flag --${f[1]} for ${cmd}`, {
          hint: allowed.length > 0 ? `${cmd} takes ${allowed.map((a) => `--${a}`).join(', ')}` : `${cmd} takes no flags`,
        });
      flags.push({ name: f[1]!, value });
      rest = rest.slice(end).trimStart();
    }
  }
  let json: string[] | undefined;
  const trimmed = rest.trim();
  if (JSON_FORM.has(cmd) && trimmed.startsWith('[')) {
    json = parseJsonArray(trimmed);
    if (json === undefined && (/^\[\s*"/.test(trimmed) || cmd === 'SHELL'))
      throw new BuildError('BUILD_SYNTAX', `${at(pos)}: ${cmd}: invalid JSON array ${short(trimmed)}`, {
        hint: 'the exec form is a JSON array of double-quoted strings, e.g. ["a", "b"]',
      });
  }
  if (cmd === 'SHELL' && json === undefined)
    throw new BuildError('BUILD_SYNTAX', `${at(pos)}: SHELL must be a JSON array, e.g. SHELL ["/bin/sh", "-c"]`);
  if (json === undefined) {
    try {
      if (!['RUN', 'CMD', 'ENTRYPOINT', 'HEALTHCHECK', 'ONBUILD'].includes(cmd)) rawWords(trimmed, escape);
    } catch (err) {
      throw new BuildError('BUILD_SYNTAX', `${at(pos)}: ${cmd}: ${(err as Error).message}`);
    }
  }
  return { cmd, flags, rest: trimmed, json, original: text, pos };
}

/** The end of a quote-aware word starting at `from`. */
function endOfRawWord(s: string, from: number, escape: string, pos: SourcePos): number {
  let quote: string | undefined;
  let i = from;
  for (; i < s.length; i++) {
    const c = s[i]!;
    if (quote === undefined && /\s/.test(c)) break;
    if (c === escape && quote !== "'") i++;
    else if (quote === undefined && (c === '"' || c === "'")) quote = c;
    else if (c === quote) quote = undefined;
  }
  if (quote !== undefined) throw new BuildError('BUILD_SYNTAX', `${at(pos)}: unterminated quote in a flag`);
  return i;
}

function parseJsonArray(s: string): string[] | undefined {
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    return undefined;
  }
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
}

const short = (s: string): string => (s.length > 40 ? `${s.slice(0, 40)}...` : s);

function hintFor(cmd: string): string {
  const known = Object.keys(FLAGS);
  const near = known.find((k) => distance(k, cmd) <= 2);
  return near !== undefined ? `did you mean ${near}?` : `instructions are ${known.join(', ')}`;
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

/** The value of the last flag named `name`, or undefined. */
export function flagValue(ins: Instruction, name: string): string | undefined {
  for (let k = ins.flags.length - 1; k >= 0; k--) if (ins.flags[k]!.name === name) return ins.flags[k]!.value ?? 'true';
  return undefined;
}

export { WordError };
