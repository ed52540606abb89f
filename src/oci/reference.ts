/**
 * Image references parsed and normalized as Docker and containers/image do:
 * `nginx` -> `docker.io/library/nginx:latest`, `localhost:5000/a/b:1`, `name@sha256:...`, `name:tag@sha256:...`.
 */
import { OciError } from './errors.js';
import { parseDigest, type Digest } from './spec.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';

export interface ImageRef {
  /** What the user typed. */
  readonly raw: string;
  /** Registry host, with port if any: `docker.io`, `localhost:5000`. */
  readonly domain: string;
  /** Repository path inside the registry: `library/nginx`. */
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN = /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;
const MAX_NAME = 255;

function bad(raw: string, why: string): OciError {
  return new OciError('BAD_REFERENCE', `invalid image reference "${raw}": ${why}`);
}

/** Parses and normalizes an image reference; a bare name gets `docker.io`, `library/` and `:latest`. */
export function parseImageRef(raw: string): ImageRef {
  const s = raw.trim();
  if (s === '') throw bad(raw, 'empty');
  let rest = s;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    try {
      digest = parseDigest(rest.slice(at + 1));
    } catch {
      throw bad(raw, `"${rest.slice(at + 1)}" is not a sha256 digest`);
    }
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(raw, `tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }
  if (rest === '') throw bad(raw, 'missing repository name');
  const slash = rest.indexOf('/');
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (!DOMAIN.test(domain)) throw bad(raw, `"${domain}" is not a valid registry host`);
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  for (const c of path.split('/')) {
    if (c.toLowerCase() !== c) throw bad(raw, 'repository name must be lowercase');
    if (!COMPONENT.test(c)) throw bad(raw, `"${c}" is not a valid path component`);
  }
  if (`${domain}/${path}`.length > MAX_NAME) throw bad(raw, `name longer than ${MAX_NAME} characters`);
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { raw, domain, path, tag, digest };
}

/** `domain/path`, without tag or digest. */
export const repositoryOf = (r: ImageRef): string => `${r.domain}/${r.path}`;

/** The full normalized reference: `docker.io/library/nginx:latest`, `r/x:1@sha256:...`. */
export function formatImageRef(r: ImageRef): string {
  return `${repositoryOf(r)}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** Normalizes a reference string: parse then format. */
export const normalizeRef = (raw: string): string => formatImageRef(parseImageRef(raw));

/** A copy of `r` with another tag (and no digest). */
export function withTag(r: ImageRef, tag: string): ImageRef {
  if (!TAG.test(tag)) throw bad(tag, `tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  return { ...r, raw: `${repositoryOf(r)}:${tag}`, tag, digest: undefined };
}
