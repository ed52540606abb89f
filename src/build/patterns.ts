/**
 * Path patterns as Docker uses them: Go's filepath.Match per segment (`*`, `?`, `[a-z]`, `[^a-z]`,
 * `\` escapes) plus `**` for any number of segments, and `.dockerignore` files (`#` comments,
 * `!` exceptions, last match wins, a matched directory excludes everything below it).
 */
import { posix } from 'node:path';

/** Whether `s` has glob syntax at all. */
export const hasGlob = (s: string): boolean => /[*?[]/.test(s);

/** Compiles one pattern over `/`-separated relative paths. Throws on a malformed class. */
export function compilePattern(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        // `**/` also matches zero segments.
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw new Error(`malformed pattern "${pattern}": unterminated [`);
      let body = pattern.slice(i + 1, end);
      if (body.startsWith('^') || body.startsWith('!')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\(.)/g, '\\$1').replace(/([\]])/g, '\\$1')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}

const escapeRe = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

interface IgnoreRule {
  readonly re: RegExp;
  readonly negate: boolean;
  /** Pattern segments, to tell whether a directory may contain an exception. */
  readonly raw: string;
}

/** Compiled `.dockerignore` rules. */
export class IgnoreRules {
  private constructor(
    private readonly rules: readonly IgnoreRule[],
    private readonly also?: IgnoreRules,
  ) {}

  /** Rules that exclude what either set excludes. */
  or(other: IgnoreRules): IgnoreRules {
    return other.empty ? this : new IgnoreRules(this.rules, other);
  }

  static readonly none = new IgnoreRules([]);

  /** Parses `.dockerignore` text. */
  static parse(text: string): IgnoreRules {
    const rules: IgnoreRule[] = [];
    for (let line of text.split(/\r?\n/)) {
      line = line.trim();
      if (line === '' || line.startsWith('#')) continue;
      let negate = false;
      if (line.startsWith('!')) {
        negate = true;
        line = line.slice(1).trim();
      }
      let p = posix.normalize(line.replace(/^\/+/, ''));
      if (p === '.' || p === '') continue;
      p = p.replace(/\/+$/, '');
      rules.push({ re: compilePattern(p), negate, raw: p });
    }
    return new IgnoreRules(rules);
  }

  get empty(): boolean {
    return this.rules.length === 0 && (this.also?.empty ?? true);
  }

  /** Whether the context-relative path is excluded (its own rules or a parent directory's). */
  excludes(rel: string): boolean {
    let excluded = false;
    const parents = parentChain(rel);
    for (const r of this.rules) {
      if (r.re.test(rel) || parents.some((p) => r.re.test(p))) excluded = !r.negate;
    }
    return excluded || (this.also?.excludes(rel) ?? false);
  }

  /** Whether an excluded directory may still hold an exception (so the walk must enter it). */
  mayHaveExceptionsUnder(dir: string): boolean {
    return (
      this.rules.some((r) => r.negate && (r.raw.startsWith(`${dir}/`) || hasGlob(r.raw))) || (this.also?.mayHaveExceptionsUnder(dir) ?? false)
    );
  }
}

/** `a/b/c` -> [`a`, `a/b`]. */
function parentChain(rel: string): string[] {
  const parts = rel.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}
