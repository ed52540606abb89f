/** Reads an instruction's arguments: word expansion, KEY=VALUE pairs, ARG declarations, --chown, image names. */
import { normalizeRef } from '../oci/index.js';
import { at, BuildError, type SourcePos } from './errors.js';
import type { Instruction } from './parse.js';
import { expandWord, expandWords, rawWords, WordError, type Vars } from './words.js';

const wordErr = (ins: Instruction, err: unknown): never => {
  if (err instanceof WordError) throw new BuildError('BUILD_SYNTAX', `${at(ins.pos)}: ${ins.cmd}: ${err.message}`);
  throw err;
};

/** `key=value` pairs (or the legacy `key value` form) as ENV and LABEL take them. */
export function keyValues(ins: Instruction, vars: Vars, escape: string): Array<[string, string]> {
  try {
    const words = rawWords(ins.rest, escape);
    if (words.length === 0) throw new BuildError('BUILD_SYNTAX', `${at(ins.pos)}: ${ins.cmd} needs at least one argument`);
    if (!words[0]!.includes('=')) {
      if (words.length < 2) throw new BuildError('BUILD_SYNTAX', `${at(ins.pos)}: ${ins.cmd} ${words[0]} needs a value (use ${words[0]}=VALUE)`);
      const key = words[0]!;
      const value = ins.rest.slice(ins.rest.indexOf(key) + key.length).trim();
      return [[expandWord(key, vars, escape), expandWord(value, vars, escape)]];
    }
    return words.map((w) => {
      const eq = w.indexOf('=');
      if (eq <= 0) throw new BuildError('BUILD_SYNTAX', `${at(ins.pos)}: ${ins.cmd}: "${w}" is not KEY=VALUE`);
      return [expandWord(w.slice(0, eq), vars, escape), expandWord(w.slice(eq + 1), vars, escape)];
    });
  } catch (err) {
    return wordErr(ins, err);
  }
}

export function expand(ins: Instruction, text: string, vars: Vars, esc: string): string {
  try {
    return expandWord(text, vars, esc);
  } catch (err) {
    return wordErr(ins, err);
  }
}

export function words(ins: Instruction, vars: Vars, esc: string): string[] {
  try {
    return expandWords(ins.rest, vars, esc);
  } catch (err) {
    return wordErr(ins, err);
  }
}

/** `ARG a`, `ARG a=b c=d`: names with optional defaults (expanded). */
export function argDecls(ins: Instruction, vars: Vars, esc: string): Array<[string, string | undefined]> {
  if (ins.cmd !== 'ARG') throw new BuildError('BUILD_SYNTAX', `${at(ins.pos)}: only ARG may come before FROM`);
  let ws: string[];
  try {
    ws = rawWords(ins.rest, esc);
  } catch (err) {
    return wordErr(ins, err);
  }
  if (ws.length === 0) throw new BuildError('BUILD_SYNTAX', `${at(ins.pos)}: ARG needs a name`);
  return ws.map((w) => {
    const eq = w.indexOf('=');
    const name = eq < 0 ? w : w.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new BuildError('BUILD_SYNTAX', `${at(ins.pos)}: ARG: "${name}" is not a valid name`);
    return [name, eq < 0 ? undefined : expand(ins, w.slice(eq + 1), vars, esc)];
  });
}

export function normalizeOrFail(name: string, where: string): string {
  try {
    return normalizeRef(name);
  } catch (err) {
    throw new BuildError('BUILD_SYNTAX', `${where}: "${name}" is not a valid image reference`, { cause: err });
  }
}

export function parseChown(s: string, pos: SourcePos): { uid: number; gid: number } {
  const [u, g] = s.split(':');
  const id = (x: string | undefined, fallback: number): number => {
    if (x === undefined || x === '') return fallback;
    if (x === 'root') return 0;
    if (/^\d+$/.test(x)) return Number(x);
    throw new BuildError('BUILD_UNSUPPORTED', `${at(pos)}: --chown=${s}: user and group names need the image's /etc/passwd; give numeric ids`);
  };
  const uid = id(u, 0);
  return { uid, gid: id(g, uid) };
}
