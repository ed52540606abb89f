/**
 * A tiny HTTP proxy in front of a test registry that misbehaves on purpose: flips a byte of one blob,
 * cuts a blob response midway, answers 500 a few times, or plays a Bearer token service. It logs every
 * request so tests can assert on Range resumption, retries and scopes.
 */
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';

export interface ProxyFaults {
  /** Flip one byte in the middle of the body of GET .../blobs/<digest>. */
  corruptBlob?: string;
  /** Close the connection after this many body bytes of GET .../blobs/<digest>, `times` times. */
  cutBlob?: { digest: string; afterBytes: number; times: number };
  /** Answer 500 to requests whose "METHOD path" matches, `times` times. */
  fail500?: { match: RegExp; times: number };
  /** Require Bearer tokens from /token, issued to these credentials (anonymous tokens get pull access only). */
  bearer?: { username: string; password: string };
}

export interface ProxyLogEntry {
  readonly method: string;
  readonly path: string;
  readonly range: string | undefined;
  readonly status: number;
}

export interface TestProxy {
  /** `127.0.0.1:PORT` */
  readonly host: string;
  readonly log: ProxyLogEntry[];
  readonly faults: ProxyFaults;
  /** Scopes granted per token request: `user|anonymous scope scope`. */
  readonly tokenRequests: string[];
}

export async function startProxy(t: ExecutionContext, target: string, faults: ProxyFaults): Promise<TestProxy> {
  const [targetHost, targetPort] = target.split(':');
  const log: ProxyLogEntry[] = [];
  const tokenRequests: string[] = [];
  const tokens = new Map<string, Set<string>>(); // token -> "repo:action"
  let self = '';

  const challenge = (res: ServerResponse, scope: string | undefined, entry: ProxyLogEntry): void => {
    const params = [`realm="http://${self}/token"`, 'service="sealos-test"', ...(scope ? [`scope="${scope}"`] : [])];
    res.writeHead(401, { 'WWW-Authenticate': `Bearer ${params.join(',')}`, 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    log.push({ ...entry, status: 401 });
  };

  const handleToken = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    const b = faults.bearer!;
    const auth = req.headers.authorization;
    let user = 'anonymous';
    if (auth !== undefined) {
      const [u, p] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString().split(':');
      if (u !== b.username || p !== b.password) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ details: 'invalid credentials' }));
        return;
      }
      user = u;
    }
    const granted = new Set<string>();
    for (const s of url.searchParams.getAll('scope')) {
      const [, repo, actions] = /^repository:(.+):([a-z,*]+)$/.exec(s) ?? [];
      if (repo === undefined || actions === undefined) continue;
      for (const a of actions.split(',')) if (a === 'pull' || user !== 'anonymous') granted.add(`${repo}:${a}`);
    }
    tokenRequests.push(`${user} ${url.searchParams.getAll('scope').join(' ')}`);
    const token = randomBytes(16).toString('hex');
    tokens.set(token, granted);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token, expires_in: 300 }));
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${self}`);
    const entry = { method: req.method ?? 'GET', path: `${url.pathname}${url.search}`, range: req.headers.range, status: 0 };
    if (faults.bearer !== undefined && url.pathname === '/token') return handleToken(req, res, url);
    if (faults.bearer !== undefined) {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const granted = token !== undefined ? tokens.get(token) : undefined;
      const m = /^\/v2\/(.+?)\/(manifests|blobs|tags)\//.exec(url.pathname);
      if (m === null) {
        if (granted === undefined) return challenge(res, undefined, entry);
      } else {
        const action = req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'push';
        const need = [`${m[1]}:${action}`];
        const from = url.searchParams.get('from');
        if (from !== null) need.push(`${from}:pull`);
        if (granted === undefined || !need.every((n) => granted.has(n)))
          return challenge(res, `repository:${m[1]}:${action === 'push' ? 'pull,push' : 'pull'}`, entry);
      }
    }
    if (faults.fail500 !== undefined && faults.fail500.times > 0 && faults.fail500.match.test(`${req.method} ${url.pathname}`)) {
      faults.fail500.times--;
      req.resume();
      res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'injected failure' }] }));
      log.push({ ...entry, status: 500 });
      return;
    }
    const headers = { ...req.headers };
    delete headers.authorization;
    const up = request({ host: targetHost, port: Number(targetPort), method: req.method, path: req.url, headers }, (ures) => {
      log.push({ ...entry, status: ures.statusCode ?? 0 });
      const isBlob = req.method === 'GET' && /\/blobs\/sha256:/.test(url.pathname);
      const digest = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname)?.[1];
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      if (isBlob && digest === faults.corruptBlob && ures.statusCode === 200) {
        const len = Number(ures.headers['content-length'] ?? 0);
        let at = 0;
        ures.on('data', (c: Buffer) => {
          const mid = Math.floor(len / 2);
          if (mid >= at && mid < at + c.length) c[mid - at] = (c[mid - at] ?? 0) ^ 0xff;
          at += c.length;
          res.write(c);
        });
        ures.on('end', () => res.end());
        return;
      }
      const cut = faults.cutBlob;
      if (isBlob && cut !== undefined && digest === cut.digest && cut.times > 0) {
        cut.times--;
        let sent = 0;
        ures.on('data', (c: Buffer) => {
          if (sent + c.length >= cut.afterBytes) {
            res.write(c.subarray(0, cut.afterBytes - sent));
            sent = cut.afterBytes;
            ures.destroy();
            setImmediate(() => res.socket?.destroy());
            return;
          }
          sent += c.length;
          res.write(c);
        });
        return;
      }
      ures.pipe(res);
    });
    up.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  self = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { host: self, log, faults, tokenRequests };
}
