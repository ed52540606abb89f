/** The per-command pool of registry clients, one per host, and the memory of which repositories hold which blobs. */
import pLimit from 'p-limit';
import type { Digest } from '../oci/index.js';
import { findCredentials, type Credentials } from './auth-file.js';
import { RegistryClient } from './client.js';
import { RegistryConnection } from './http.js';
import { isLoopbackHost, tlsMaterialFor } from './tls.js';

/**
 * Blobs up to this size go up in one PUT; larger ones in PATCH chunks of this size, each buffered so it
 * can be re-sent alone. 6 MiB: docker-registry saves its hash state after every PATCH, and 4 MiB chunks
 * made a 1 GiB push about 10% slower; 8 MiB gained little and cost memory.
 */
export const DEFAULT_CHUNK_BYTES = 6 << 20;
/**
 * Chunked uploads in flight at once per command, each holding one chunk buffer: memory is this x the chunk
 * size. 3 kept a 1 GiB push at 0.77x skopeo's time with a 144 MB peak (4: 0.75x, 149 MB; 6: 153 MB).
 */
export const MAX_CHUNKED_UPLOADS = 3;
/** Extra attempts for a temporary failure, as containers/image's default `--retry-times` of 3. */
export const DEFAULT_RETRIES = 3;
export const DEFAULT_RETRY_BASE_MS = 250;

export interface RegistryOptions {
  /** Auth files read in order (containers auth.json, then ~/.docker/config.json); the first match wins. */
  readonly authFiles?: readonly string[];
  /** Credentials that override the auth files for every registry (`--creds`, or `login` checking them). */
  readonly credentials?: Credentials;
  /** false: skip certificate checks and allow plain HTTP for every registry (`--tls-verify=false`). */
  readonly tlsVerify?: boolean;
  /** A certs directory for every registry (`--cert-dir`): `*.crt` CAs, `NAME.cert`+`NAME.key` client pair. */
  readonly certDir?: string;
  /**
   * Treat loopback registries (`localhost`, 127.0.0.0/8, ::1) as insecure, as Docker does: no certificate
   * check, plain HTTP fallback (default true). false makes them follow `tlsVerify` like any other host.
   */
  readonly insecureLoopback?: boolean;
  /** Roots of per-host certs directories, `<root>/<host>/` (`/etc/containers/certs.d`). */
  readonly systemCertDirs?: readonly string[];
  readonly retries?: number;
  readonly retryBaseMs?: number;
  readonly chunkBytes?: number;
  readonly userAgent?: string;
}

/** The per-command set of registry connections and what is known about where blobs live. */
export class Registries {
  private readonly clients = new Map<string, Promise<RegistryClient>>();
  /** host -> digest -> repositories known to hold it. */
  private readonly known = new Map<string, Map<string, Set<string>>>();

  /** Bounds the chunk buffers of large uploads (MAX_CHUNKED_UPLOADS), whatever the number of copy jobs. */
  readonly chunkedUploads = pLimit(MAX_CHUNKED_UPLOADS);

  constructor(readonly opts: RegistryOptions = {}) {}

  /** The client for `host` (`docker.io`, `localhost:5000`), created once. */
  client(host: string): Promise<RegistryClient> {
    let c = this.clients.get(host);
    if (c === undefined) {
      c = this.create(host);
      this.clients.set(host, c);
      c.catch(() => this.clients.delete(host));
    }
    return c;
  }

  private async create(host: string): Promise<RegistryClient> {
    const o = this.opts;
    const tls = await tlsMaterialFor(host, o.certDir, o.systemCertDirs ?? []);
    const conn = new RegistryConnection({
      host,
      insecure: o.tlsVerify === false || (o.insecureLoopback !== false && isLoopbackHost(host)),
      tls,
      credentials: async () => o.credentials ?? (await findCredentials(o.authFiles ?? [], host)),
      retries: o.retries ?? DEFAULT_RETRIES,
      retryBaseMs: o.retryBaseMs ?? DEFAULT_RETRY_BASE_MS,
      userAgent: o.userAgent ?? 'sealos-ts',
      maxSockets: 32,
    });
    return new RegistryClient(conn, this, o.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  }

  /** Records that `repository` on `host` holds `digest` (seen in a pull, a HEAD, an upload, a mount). */
  remember(host: string, repository: string, digest: Digest): void {
    let byDigest = this.known.get(host);
    if (byDigest === undefined) this.known.set(host, (byDigest = new Map()));
    let repos = byDigest.get(digest);
    if (repos === undefined) byDigest.set(digest, (repos = new Set()));
    repos.add(repository);
  }

  /** Repositories on `host` other than `except` known to hold `digest`. */
  holders(host: string, digest: Digest, except: string): string[] {
    return [...(this.known.get(host)?.get(digest) ?? [])].filter((r) => r !== except);
  }

  /** Closes every connection's sockets. */
  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    for (const c of await Promise.allSettled(all)) if (c.status === 'fulfilled') c.value.close();
  }
}
