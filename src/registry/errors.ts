/** Errors talking to registries and reading or writing a registry directory. */
import { SealosError } from '../errors.js';

export type RegistryCode =
  /** The registry could not be reached (refused, reset, timed out, DNS). */
  | 'REGISTRY_UNREACHABLE'
  /** A TLS handshake or certificate check failed. */
  | 'REGISTRY_TLS'
  /** The image (repository, tag or digest) does not exist in the registry. */
  | 'REGISTRY_IMAGE_UNKNOWN'
  /** A blob the manifest names is missing from the registry or registry directory. */
  | 'REGISTRY_BLOB_UNKNOWN'
  /** The registry answered with a status or body this client does not accept. */
  | 'REGISTRY_HTTP'
  /** The registry answered something that breaks the distribution spec. */
  | 'REGISTRY_PROTOCOL'
  /** A registry directory (distribution storage layout) is malformed. */
  | 'REGISTRY_DIR'
  /** The registry wants credentials and none were found. */
  | 'AUTH_REQUIRED'
  /** The registry (or its token service) rejected the credentials. */
  | 'AUTH_FAILED'
  /** The credentials are valid but lack the permission (403, insufficient scope). */
  | 'AUTH_DENIED'
  /** An auth file could not be read or written. */
  | 'AUTH_FILE';

export interface RegistryErrorOptions {
  readonly hint?: string;
  readonly cause?: unknown;
  /** HTTP status of the response, when there was one. */
  readonly status?: number;
  /** The distribution spec's error codes from the response body (`MANIFEST_UNKNOWN`, `DENIED`, ...). */
  readonly specCodes?: readonly string[];
  /** Whether a retry may succeed (5xx, 429, a reset connection). */
  readonly temporary?: boolean;
  /** Method and URL of the failed request, credentials and query secrets removed. */
  readonly request?: string;
}

/** An error from a registry or registry directory: the spec's codes, the HTTP status, and whether to retry. */
export class RegistryError extends SealosError {
  declare readonly code: RegistryCode;
  readonly status: number | undefined;
  readonly specCodes: readonly string[];
  readonly temporary: boolean;
  readonly request: string | undefined;
  constructor(code: RegistryCode, message: string, opts: RegistryErrorOptions = {}) {
    super(code, message, { hint: opts.hint, cause: opts.cause });
    this.status = opts.status;
    this.specCodes = opts.specCodes ?? [];
    this.temporary = opts.temporary ?? false;
    this.request = opts.request;
  }
}

/** Query parameters that are safe to show; any other value is replaced by `…` (upload state, tokens, signatures). */
const SHOWN_PARAMS = new Set(['digest', 'mount', 'from', 'scope', 'service', 'n', 'last']);

/** A URL fit for messages: no user:password, and query values other than harmless ones masked. */
export function redactUrl(url: string | URL): string {
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    return '<invalid url>';
  }
  u.username = '';
  u.password = '';
  for (const key of [...u.searchParams.keys()]) if (!SHOWN_PARAMS.has(key)) u.searchParams.set(key, '…');
  return u.toString();
}
