/**
 * Registry authentication: parsing `WWW-Authenticate` challenges, and the state of one registry's
 * authorization (Basic credentials, or Bearer tokens cached per scope set until they expire).
 */
import type { Credentials } from './auth-file.js';

export interface Challenge {
  /** Lower-case: `bearer` or `basic`. */
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** Parses a `WWW-Authenticate` header value (the first challenge; registries send one). */
export function parseChallenge(header: string | null | undefined): Challenge | undefined {
  if (header === null || header === undefined) return undefined;
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header);
  if (m === null) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = m[2] ?? '';
  let p: RegExpExecArray | null;
  while ((p = re.exec(rest)) !== null && p[0] !== '') {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

/** The token scope for a repository: `repository:NAME:pull` or `...:pull,push`. */
export const repoScope = (repository: string, push: boolean): string => `repository:${repository}:${push ? 'pull,push' : 'pull'}`;

/** `Authorization: Basic ...` for credentials. */
export const basicAuth = (c: Credentials): string => `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;

export interface CachedToken {
  readonly token: string;
  /** Epoch ms after which the token is not used again. */
  readonly expiresAtMs: number;
}

/** Tokens live at least 60 s per the token spec; refresh 10 s before a stated expiry. */
export const MIN_TOKEN_SECONDS = 60;
export const TOKEN_EXPIRY_MARGIN_MS = 10_000;

/** Reads a token response body `{token | access_token, expires_in}`; undefined if it has no token. */
export function parseTokenResponse(v: unknown, nowMs: number): CachedToken | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const token = typeof o.token === 'string' && o.token !== '' ? o.token : typeof o.access_token === 'string' ? o.access_token : '';
  if (token === '') return undefined;
  const seconds = typeof o.expires_in === 'number' && o.expires_in > 0 ? Math.max(o.expires_in, MIN_TOKEN_SECONDS) : MIN_TOKEN_SECONDS;
  return { token, expiresAtMs: nowMs + seconds * 1000 - TOKEN_EXPIRY_MARGIN_MS };
}

/** A stable cache key for a set of scopes. */
export const scopeKey = (scopes: readonly string[]): string => [...new Set(scopes)].sort().join(' ');
