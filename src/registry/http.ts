/**
 * One registry host's HTTP connection: scheme discovery with a `/v2/` ping, authorization from the ping's
 * challenge (anonymous or credentialed Bearer tokens per scope, or Basic), manual redirects that drop the
 * Authorization header when they leave the registry's origin, retries with backoff on temporary failures,
 * and errors that keep the spec's codes and carry URLs without secrets.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import fetch, { type Response } from 'node-fetch';
import type { Credentials } from './auth-file.js';
import { basicAuth, parseChallenge, parseTokenResponse, scopeKey, type CachedToken, type Challenge } from './auth.js';
import { redactUrl, RegistryError, type RegistryCode } from './errors.js';
import { networkError, parseErrorBody } from './net-errors.js';
import { discard, readCapped } from './streams.js';
import type { TlsMaterial } from './tls.js';

export type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface ConnectionOptions {
  /** The registry as references name it: `docker.io`, `localhost:5000`, `r.example.com`. */
  readonly host: string;
  /** Skip certificate checks and fall back to plain HTTP (loopback hosts, `--tls-verify=false`). */
  readonly insecure: boolean;
  readonly tls: TlsMaterial;
  /** The credentials for this host, looked up when a challenge first asks for them. */
  readonly credentials: () => Promise<Credentials | undefined>;
  /** Extra attempts after a temporary failure. */
  readonly retries: number;
  /** First backoff delay; doubled each attempt, with jitter. */
  readonly retryBaseMs: number;
  readonly userAgent: string;
  /** Sockets per origin; above the copy engine's jobs so token and manifest requests never queue behind blobs. */
  readonly maxSockets: number;
}

export interface RequestSpec {
  readonly method: Method;
  /** A path under the registry (`/v2/...`) or an absolute URL the registry handed out (an upload Location). */
  readonly url: string;
  /** Token scopes the request needs (`repository:x:pull`). */
  readonly scopes: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  /** Request bodies are whole buffers, so any attempt can be replayed. */
  readonly body?: Buffer;
  /** Statuses that count as success; any other becomes a RegistryError. */
  readonly ok: readonly number[];
  /** Retry temporary failures (default true). */
  readonly retry?: boolean;
  /** What the request is for, prefixed to error messages: `pulling x:1`. */
  readonly what?: string;
}

/** Error bodies are read up to this size for their spec codes. */
const ERROR_BODY_BYTES = 64 << 10;
const MAX_REDIRECTS = 5;
/** Bytes node-fetch buffers per response stream (the socket's own reads are 64 KiB); more only costs memory per job. */
const RESPONSE_HIGH_WATER_MARK = 64 << 10;

/** Docker Hub's API host differs from the name references use. */
export const apiHostOf = (host: string): string => (host === 'docker.io' ? 'registry-1.docker.io' : host);

export class RegistryConnection {
  private base: string | undefined;
  private pinging: Promise<void> | undefined;
  private challenge: Challenge | undefined;
  private basic: string | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly fetchingTokens = new Map<string, Promise<CachedToken | undefined>>();
  private creds: Promise<Credentials | undefined> | undefined;
  private readonly httpAgent: HttpAgent;
  private readonly httpsAgent: HttpsAgent;

  constructor(readonly opts: ConnectionOptions) {
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets, scheduling: 'lifo' as const };
    this.httpAgent = new HttpAgent(agentOpts);
    this.httpsAgent = new HttpsAgent({
      ...agentOpts,
      rejectUnauthorized: !opts.insecure,
      ...(opts.tls.ca.length > 0 ? { ca: [...rootCertificates, ...opts.tls.ca.map((b) => b.toString('utf8'))] } : {}),
      ...(opts.tls.cert !== undefined ? { cert: opts.tls.cert, key: opts.tls.key } : {}),
    });
  }

  get host(): string {
    return this.opts.host;
  }

  /** Releases the kept-alive sockets. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private credentials(): Promise<Credentials | undefined> {
    this.creds ??= this.opts.credentials();
    return this.creds;
  }

  /** Finds the scheme (https, or http for an insecure host) and the auth challenge, once. */
  async ping(): Promise<void> {
    if (this.pinging === undefined) {
      this.pinging = this.withRetries(() => this.pingOnce(), true);
      this.pinging.catch(() => {
        this.pinging = undefined;
      });
    }
    return this.pinging;
  }

  private async pingOnce(): Promise<void> {
    const schemes = this.opts.insecure ? ['https', 'http'] : ['https'];
    for (const scheme of schemes) {
      const url = `${scheme}://${apiHostOf(this.host)}/v2/`;
      let res: Response;
      try {
        res = await this.send('GET', url, {}, undefined);
      } catch (err) {
        if (scheme === schemes[schemes.length - 1]) throw networkError(err, `GET ${url}`, this.host);
        continue;
      }
      discard(res);
      if (res.status === 200 || res.status === 401) {
        this.base = `${scheme}://${apiHostOf(this.host)}`;
        this.challenge = res.status === 401 ? parseChallenge(res.headers.get('www-authenticate')) : undefined;
        return;
      }
      throw new RegistryError(
        res.status >= 500 ? 'REGISTRY_HTTP' : 'REGISTRY_PROTOCOL',
        `GET ${url}: ${res.status}: not a distribution (v2) registry`,
        { status: res.status, temporary: res.status >= 500, request: `GET ${url}` },
      );
    }
  }

  /** An absolute URL for a registry path or a Location the registry returned. */
  absolute(url: string): string {
    if (this.base === undefined) throw new Error('RegistryConnection used before ping()');
    return new URL(url, `${this.base}/`).toString();
  }

  /** Sends a request with authorization, retrying temporary failures; the response has an `ok` status. */
  async request(spec: RequestSpec): Promise<Response> {
    await this.ping();
    return this.withRetries(() => this.requestOnce(spec), spec.retry !== false);
  }

  private async withRetries<T>(fn: () => Promise<T>, retry: boolean): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!retry || !(err instanceof RegistryError) || !err.temporary || attempt >= this.opts.retries) throw err;
        await sleep(this.backoffMs(attempt));
      }
    }
  }

  /** Delay before retry `attempt` (0-based): base * 2^attempt, plus up to 25% jitter. */
  backoffMs(attempt: number): number {
    const ms = this.opts.retryBaseMs * 2 ** attempt;
    return ms + Math.random() * ms * 0.25;
  }

  private async requestOnce(spec: RequestSpec): Promise<Response> {
    const url = this.absolute(spec.url);
    const send = async (): Promise<Response> => {
      const auth = await this.authorization(spec.scopes);
      const headers: Record<string, string> = { ...spec.headers };
      if (auth !== undefined) headers.Authorization = auth;
      try {
        return await this.send(spec.method, url, headers, spec.body);
      } catch (err) {
        throw this.wrapWhat(networkError(err, `${spec.method} ${redactUrl(url)}`, this.host), spec);
      }
    };
    let res = await send();
    if (res.status === 401) {
      const ch = parseChallenge(res.headers.get('www-authenticate'));
      discard(res);
      if (await this.reauthorize(ch, spec.scopes)) res = await send();
    }
    if (spec.ok.includes(res.status)) return res;
    throw this.wrapWhat(await this.errorFrom(res, spec.method, url), spec);
  }

  private wrapWhat(err: RegistryError, spec: RequestSpec): RegistryError {
    if (spec.what === undefined) return err;
    return new RegistryError(err.code, `${spec.what}: ${err.message}`, {
      hint: err.hint,
      cause: err.cause,
      status: err.status,
      specCodes: err.specCodes,
      temporary: err.temporary,
      request: err.request,
    });
  }

  /** One HTTP exchange, following redirects of GET and HEAD; Authorization is dropped when leaving the origin. */
  private async send(method: Method, url: string, headers: Record<string, string>, body: Buffer | undefined): Promise<Response> {
    let current = url;
    const h: Record<string, string> = { 'User-Agent': this.opts.userAgent, ...headers };
    for (let hops = 0; ; hops++) {
      const agent = current.startsWith('https:') ? this.httpsAgent : this.httpAgent;
      const res = await fetch(current, {
        method,
        headers: h,
        body: body ?? null,
        agent,
        redirect: 'manual',
        compress: false,
        highWaterMark: RESPONSE_HIGH_WATER_MARK,
      });
      const location = res.headers.get('location');
      if (![301, 302, 303, 307, 308].includes(res.status) || location === null || (method !== 'GET' && method !== 'HEAD')) return res;
      discard(res);
      if (hops >= MAX_REDIRECTS)
        throw new RegistryError('REGISTRY_PROTOCOL', `${method} ${redactUrl(url)}: more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(location, current);
      if (next.origin !== new URL(current).origin) delete h.Authorization;
      current = next.toString();
    }
  }

  /** The Authorization header for `scopes`, fetching a token if the registry wants one. */
  private async authorization(scopes: readonly string[]): Promise<string | undefined> {
    if (this.basic !== undefined) return this.basic;
    const ch = this.challenge;
    if (ch === undefined) return undefined;
    if (ch.scheme === 'basic') {
      const c = await this.credentials();
      if (c !== undefined) this.basic = basicAuth(c);
      return this.basic;
    }
    if (ch.scheme !== 'bearer') return undefined;
    const token = await this.token(ch, scopes);
    return token === undefined ? undefined : `Bearer ${token.token}`;
  }

  /** After a 401: whether new authorization is worth one more attempt. */
  private async reauthorize(ch: Challenge | undefined, scopes: readonly string[]): Promise<boolean> {
    if (ch === undefined) return false;
    if (ch.scheme === 'basic') {
      const hadBasic = this.basic !== undefined;
      this.challenge = ch;
      if (hadBasic) return false;
      const c = await this.credentials();
      if (c === undefined) return false;
      this.basic = basicAuth(c);
      return true;
    }
    if (ch.scheme !== 'bearer') return false;
    this.challenge = ch;
    const wanted = ch.params.scope !== undefined ? [...scopes, ...ch.params.scope.split(' ')] : scopes;
    const key = scopeKey(scopes);
    const had = this.tokens.get(key);
    this.tokens.delete(key);
    const fresh = await this.fetchToken(ch, wanted);
    if (fresh === undefined) return false;
    this.tokens.set(key, fresh);
    return had === undefined || had.token !== fresh.token;
  }

  private async token(ch: Challenge, scopes: readonly string[]): Promise<CachedToken | undefined> {
    const key = scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.expiresAtMs > Date.now()) return cached;
    let pending = this.fetchingTokens.get(key);
    if (pending === undefined) {
      pending = this.fetchToken(ch, scopes).finally(() => this.fetchingTokens.delete(key));
      this.fetchingTokens.set(key, pending);
    }
    const t = await pending;
    if (t !== undefined) this.tokens.set(key, t);
    return t;
  }

  /** Asks the challenge's realm for a token (with Basic credentials when there are some). */
  private async fetchToken(ch: Challenge, scopes: readonly string[]): Promise<CachedToken | undefined> {
    const realm = ch.params.realm;
    if (realm === undefined) throw new RegistryError('REGISTRY_PROTOCOL', `${this.host}: Bearer challenge without a realm`);
    let u: URL;
    try {
      u = new URL(realm);
    } catch {
      throw new RegistryError('REGISTRY_PROTOCOL', `${this.host}: Bearer realm is not a URL`);
    }
    if (ch.params.service !== undefined) u.searchParams.set('service', ch.params.service);
    for (const s of new Set(scopes)) u.searchParams.append('scope', s);
    const creds = await this.credentials();
    const request = `GET ${redactUrl(u)}`;
    return this.withRetries(async () => {
      let res: Response;
      try {
        res = await this.send('GET', u.toString(), creds !== undefined ? { Authorization: basicAuth(creds) } : {}, undefined);
      } catch (err) {
        throw networkError(err, request, this.host);
      }
      if (res.status === 401 || res.status === 403) {
        discard(res);
        throw this.authError(res.status, request, [], creds !== undefined);
      }
      if (res.status !== 200) throw await this.errorFrom(res, 'GET', u.toString());
      let body: unknown;
      try {
        body = JSON.parse(await readCapped(res, 1 << 20));
      } catch {
        throw new RegistryError('REGISTRY_PROTOCOL', `${request}: token response is not JSON`, { request });
      }
      const t = parseTokenResponse(body, Date.now());
      if (t === undefined) throw new RegistryError('REGISTRY_PROTOCOL', `${request}: token response without a token`, { request });
      return t;
    }, true);
  }

  private authError(status: number, request: string, codes: readonly string[], withCredentials: boolean): RegistryError {
    if (status === 403)
      return new RegistryError('AUTH_DENIED', `${request}: 403 access denied`, {
        status,
        request,
        specCodes: codes,
        hint: `the account used for ${this.host} lacks permission for this repository`,
      });
    return new RegistryError(
      withCredentials ? 'AUTH_FAILED' : 'AUTH_REQUIRED',
      `${request}: 401 ${withCredentials ? 'the registry rejected the credentials' : 'authentication required'}`,
      {
        status,
        request,
        specCodes: codes,
        hint: withCredentials
          ? `check the user name and password, then run \`sealos login ${this.host}\` again`
          : `log in with \`sealos login ${this.host}\` (or the repository does not exist)`,
      },
    );
  }

  /** A RegistryError from an unexpected response: spec codes, status, temporary flag. */
  async errorFrom(res: Response, method: Method, url: string): Promise<RegistryError> {
    const request = `${method} ${redactUrl(url)}`;
    const text = method === 'HEAD' ? '' : await readCapped(res, ERROR_BODY_BYTES).catch(() => '');
    const { codes, message } = parseErrorBody(text);
    if (res.status === 401 || res.status === 403)
      return this.authError(res.status, request, codes, (await this.credentials()) !== undefined);
    let code: RegistryCode = 'REGISTRY_HTTP';
    if (res.status === 404 && codes.some((c) => c === 'BLOB_UNKNOWN')) code = 'REGISTRY_BLOB_UNKNOWN';
    else if (res.status === 404) code = 'REGISTRY_IMAGE_UNKNOWN';
    const temporary = res.status >= 500 || res.status === 429 || codes.includes('TOOMANYREQUESTS');
    const tail = [codes.join(', '), message].filter((s) => s !== '').join(': ');
    return new RegistryError(code, `${request}: ${res.status}${tail !== '' ? ` ${tail}` : ''}`, {
      status: res.status,
      specCodes: codes,
      temporary,
      request,
    });
  }
}
