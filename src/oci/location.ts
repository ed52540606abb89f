/**
 * The two ends of every image move. A source hands out raw bytes; only the copy engine verifies them.
 * A destination keeps nothing of a blob whose input stream throws.
 * Call order on a destination: hasBlob/putBlob for every blob, putManifest (children first, top last),
 * commit(); close() always, in finally, and it drops uncommitted work.
 */
import type { Reporter } from '../report.js';
import { OciError } from './errors.js';
import type { Descriptor, Digest, RawManifest } from './spec.js';

export interface ImageSource {
  /** A human name for messages: `oci-archive:/tmp/a.tar:docker.io/library/x:1`. */
  readonly name: string;
  /** The top-level manifest (or index) when `digest` is undefined; else the child manifest with that digest. */
  manifest(digest?: Digest): Promise<RawManifest>;
  /** The blob's raw bytes, unverified. */
  blob(desc: Descriptor): Promise<AsyncIterable<Uint8Array>>;
  close(): Promise<void>;
}

export interface DestinationCaps {
  /** putBlob may run concurrently (a directory, a registry); an archive writes one entry at a time. */
  readonly concurrentPuts: boolean;
  /** The destination can hold an index with its children (else the engine picks one platform). */
  readonly acceptsIndex: boolean;
}

export interface ImageDestination {
  readonly name: string;
  readonly caps: DestinationCaps;
  /** True when the destination already holds this blob whole: the engine then skips reading the source. */
  hasBlob(desc: Descriptor): Promise<boolean>;
  /** Stores a blob from an already verified stream; if the stream throws, nothing is kept under its digest. */
  putBlob(desc: Descriptor, body: AsyncIterable<Uint8Array>): Promise<void>;
  /**
   * Stores a manifest or index. `instance` is the digest of a child manifest of an index being copied;
   * undefined for the top-level one, which is the one the destination names.
   */
  putManifest(raw: RawManifest, instance?: Digest): Promise<void>;
  /** Makes the image visible under its name; called after every blob and manifest. */
  commit(): Promise<void>;
  /** Always called; drops uncommitted work. */
  close(): Promise<void>;
}

/** A parsed location such as `store:REF` or `oci-archive:FILE:REF`. `String(loc)` parses back to it. */
export interface ImageLocation {
  readonly transport: string;
  toString(): string;
  openSource(): Promise<ImageSource>;
  openDestination(): Promise<ImageDestination>;
}

/** What opening a location may need, resolved once at the CLI edge. */
export interface LocationContext {
  readonly storeRoot: string;
  readonly reporter?: Reporter;
}

export interface Transport {
  readonly name: string;
  /** Parses what follows `name:` into a location. */
  parse(rest: string, ctx: LocationContext): ImageLocation;
}

/** Splits `PATH[:REF]` at the first colon, as containers/image does (paths cannot hold a colon). */
export function splitPathRef(rest: string, transport: string): { path: string; ref: string | undefined } {
  const i = rest.indexOf(':');
  const path = i < 0 ? rest : rest.slice(0, i);
  const ref = i < 0 ? undefined : rest.slice(i + 1);
  if (path === '') throw new OciError('BAD_LOCATION', `${transport}: a path is required`);
  if (ref === '') throw new OciError('BAD_LOCATION', `${transport}:${rest}: empty image name after ":"`);
  return { path, ref };
}

