/** Classifies failures into RegistryErrors: network and TLS errors by their system code, and the spec's error bodies. */
import { redactUrl, RegistryError } from './errors.js';

const TEMPORARY_NET = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);
const NET_TEXT: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed while sending',
  ETIMEDOUT: 'timed out',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ERR_STREAM_PREMATURE_CLOSE: 'connection closed before the response ended',
};

/** The code of a network error (node-fetch wraps the system error). */
export function netCode(err: unknown): string | undefined {
  for (let e: unknown = err; typeof e === 'object' && e !== null; e = (e as { cause?: unknown }).cause) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string' && c !== 'ERR_NODE_FETCH' && c !== 'system') return c;
    const msg = (e as { message?: unknown }).message;
    if (typeof msg === 'string' && /premature close/i.test(msg)) return 'ERR_STREAM_PREMATURE_CLOSE';
    if (typeof msg === 'string' && /\baborted\b/.test(msg)) return 'ECONNRESET';
  }
  return undefined;
}

const isTlsCode = (code: string): boolean => /CERT|SSL|TLS|EPROTO|SELF_SIGNED|UNABLE_TO_|ERR_TLS/.test(code);

/** The low-level reason of a network error, with any URL in it redacted (node-fetch quotes the whole URL). */
function reasonOf(err: unknown): Error {
  const msg = err instanceof Error ? err.message : String(err);
  const reason = /reason: (.*)$/s.exec(msg)?.[1] ?? msg;
  return new Error(reason.replace(/https?:\/\/\S+/g, (u) => redactUrl(u)));
}

/** A RegistryError for a failed connection or a broken response stream. */
export function networkError(err: unknown, request: string, host: string): RegistryError {
  if (err instanceof RegistryError) return err;
  const code = netCode(err) ?? 'UNKNOWN';
  const cause = reasonOf(err);
  if (isTlsCode(code))
    return new RegistryError('REGISTRY_TLS', `${request}: TLS failed (${code})`, {
      request,
      cause,
      hint: `if ${host} uses a private CA, pass --cert-dir DIR holding its ca.crt; to skip the check use --tls-verify=false`,
    });
  return new RegistryError('REGISTRY_UNREACHABLE', `${request}: ${NET_TEXT[code] ?? code.toLowerCase()}`, {
    request,
    cause,
    temporary: TEMPORARY_NET.has(code),
    hint: `check that the registry ${host} is running and reachable, then run the command again`,
  });
}

/** The spec's `{errors: [{code, message}]}` body, best effort. */
export function parseErrorBody(text: string): { codes: string[]; message: string } {
  try {
    const v = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const errs = Array.isArray(v.errors) ? v.errors : [];
    const codes = errs.flatMap((e) => (typeof e.code === 'string' ? [e.code] : []));
    const message = errs.flatMap((e) => (typeof e.message === 'string' ? [e.message] : [])).join('; ');
    return { codes, message };
  } catch {
    return { codes: [], message: text.trim().split('\n')[0]?.slice(0, 200) ?? '' };
  }
}
