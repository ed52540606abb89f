/**
 * Docker's word rules: quotes, the escape character and variable substitution (`$V`, `${V}`,
 * `${V:-x}`, `${V-x}`, `${V:+x}`, `${V+x}`, `${V:?msg}`, `${V?msg}`), as BuildKit's shell lexer
 * applies them to FROM, ARG, ENV, LABEL, COPY, ADD, WORKDIR, USER, EXPOSE, VOLUME and STOPSIGNAL.
 * An escaped `\$` stays a literal `$`; single quotes keep everything literal.
 */

/** Thrown for bad quoting or substitution; the caller adds FILE:LINE. */
export class WordError extends Error {}

export type Vars = ReadonlyMap<string, string>;

const isNameStart = (c: string): boolean => /[A-Za-z_]/.test(c);
const isNameChar = (c: string): boolean => /[A-Za-z0-9_]/.test(c);
const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';

class Lexer {
  pos = 0;
  constructor(
    readonly text: string,
    readonly vars: Vars,
    readonly escape: string,
  ) {}

  peek(): string {
    return this.text[this.pos] ?? '';
  }
  next(): string {
    return this.text[this.pos++] ?? '';
  }
  done(): boolean {
    return this.pos >= this.text.length;
  }

  /** Reads one word up to unquoted whitespace (when `split`) or the `stop` character. */
  word(opts: { split: boolean; stop?: string }): string {
    let out = '';
    while (!this.done()) {
      const c = this.peek();
      if (opts.stop !== undefined && c === opts.stop) break;
      if (opts.split && isSpace(c)) break;
      this.pos++;
      if (c === this.escape) {
        if (this.done()) {
          out += c;
          break;
        }
        out += this.next();
      } else if (c === "'") out += this.singleQuoted();
      else if (c === '"') out += this.doubleQuoted();
      else if (c === '$') out += this.variable();
      else out += c;
    }
    return out;
  }

  singleQuoted(): string {
    const end = this.text.indexOf("'", this.pos);
    if (end < 0) throw new WordError('unterminated single quote');
    const s = this.text.slice(this.pos, end);
    this.pos = end + 1;
    return s;
  }

  doubleQuoted(): string {
    let out = '';
    for (;;) {
      if (this.done()) throw new WordError('unterminated double quote');
      const c = this.next();
      if (c === '"') return out;
      if (c === this.escape) {
        const n = this.peek();
        if (n === '"' || n === '$' || n === this.escape) {
          out += n;
          this.pos++;
        } else out += c;
      } else if (c === '$') out += this.variable();
      else out += c;
    }
  }

  /** After a `$`: a name, a braced expression, or a literal `$`. */
  variable(): string {
    const c = this.peek();
    if (c === '{') {
      this.pos++;
      return this.braced();
    }
    if (isNameStart(c)) {
      let name = '';
      while (isNameChar(this.peek())) name += this.next();
      return this.vars.get(name) ?? '';
    }
    if (/[0-9]/.test(c)) {
      this.pos++;
      return '';
    }
    return '$';
  }

  braced(): string {
    let name = '';
    while (isNameChar(this.peek())) name += this.next();
    if (name === '') throw new WordError(`bad substitution: "\${" must be followed by a variable name`);
    const c = this.peek();
    if (c === '}') {
      this.pos++;
      return this.vars.get(name) ?? '';
    }
    if (this.done()) throw new WordError(`missing "}" after "\${${name}"`);
    let op = this.next();
    if (op === ':') {
      op += this.next();
      if (!['-', '+', '?'].includes(op[1] ?? '')) throw new WordError(`unsupported modifier "${op}" in \${${name}...}`);
    } else if (!['-', '+', '?'].includes(op)) throw new WordError(`unsupported modifier "${op}" in \${${name}...}`);
    const word = this.word({ split: false, stop: '}' });
    if (this.next() !== '}') throw new WordError(`missing "}" after "\${${name}${op}"`);
    const value = this.vars.get(name);
    const set = op.startsWith(':') ? value !== undefined && value !== '' : value !== undefined;
    switch (op.slice(-1)) {
      case '-':
        return set ? value! : word;
      case '+':
        return set ? word : '';
      default:
        if (!set) throw new WordError(`${name}: ${word || 'is not set'}`);
        return value!;
    }
  }

  skipSpace(): void {
    while (isSpace(this.peek())) this.pos++;
  }
}

/** Expands one word: removes quotes and escapes, substitutes variables. Whitespace is kept. */
export function expandWord(text: string, vars: Vars, escape = '\\'): string {
  return new Lexer(text, vars, escape).word({ split: false });
}

/** Splits at unquoted whitespace, expanding each word (variables never split a word). */
export function expandWords(text: string, vars: Vars, escape = '\\'): string[] {
  const lx = new Lexer(text, vars, escape);
  const out: string[] = [];
  lx.skipSpace();
  while (!lx.done()) {
    out.push(lx.word({ split: true }));
    lx.skipSpace();
  }
  return out;
}

/**
 * Splits at unquoted whitespace but keeps quotes and escapes in each word, as the Dockerfile parser
 * does before `key=value` handling. Throws on an unterminated quote.
 */
export function rawWords(text: string, escape = '\\'): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === undefined && isSpace(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    inWord = true;
    cur += c;
    if (c === escape && quote !== "'" && i + 1 < text.length) {
      cur += text[++i];
      continue;
    }
    if (quote === undefined && (c === '"' || c === "'")) quote = c;
    else if (c === quote) quote = undefined;
  }
  if (quote !== undefined) throw new WordError(`unterminated ${quote === '"' ? 'double' : 'single'} quote`);
  if (inWord) out.push(cur);
  return out;
}
