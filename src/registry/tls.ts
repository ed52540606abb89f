/**
 * TLS settings per registry host, as containers/image reads them from a certs directory:
 * `*.crt` are extra CA roots, `NAME.cert` with `NAME.key` a client certificate.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { RegistryError } from './errors.js';

export interface TlsMaterial {
  readonly ca: readonly Buffer[];
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** Hosts that get plain HTTP fallback and no certificate check, as Docker treats them. */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  return name === '::1';
}

/** Reads one certs directory; a missing directory is empty. */
async function readCertDir(dir: string): Promise<TlsMaterial> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ca: [] };
    throw new RegistryError('REGISTRY_TLS', `reading certificate directory ${dir}`, { cause: err });
  }
  const ca: Buffer[] = [];
  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  for (const n of names) {
    if (n.endsWith('.crt')) ca.push(await readFile(join(dir, n)));
    else if (n.endsWith('.cert')) {
      const keyName = `${n.slice(0, -'.cert'.length)}.key`;
      if (!names.includes(keyName))
        throw new RegistryError('REGISTRY_TLS', `${join(dir, n)}: client certificate without ${keyName}`);
      cert = await readFile(join(dir, n));
      key = await readFile(join(dir, keyName));
    }
  }
  return cert !== undefined && key !== undefined ? { ca, cert, key } : { ca };
}

/**
 * The TLS material for `host`: from `certDir` when given (like `--cert-dir`), else from `<root>/<host>/`
 * of each system root (`/etc/containers/certs.d`, `/etc/docker/certs.d`), merged.
 */
export async function tlsMaterialFor(host: string, certDir: string | undefined, systemRoots: readonly string[]): Promise<TlsMaterial> {
  const dirs = certDir !== undefined ? [certDir] : systemRoots.map((r) => join(r, host));
  const ca: Buffer[] = [];
  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  for (const d of dirs) {
    const m = await readCertDir(d);
    ca.push(...m.ca);
    if (cert === undefined && m.cert !== undefined) ({ cert, key } = m);
  }
  return cert !== undefined && key !== undefined ? { ca, cert, key } : { ca };
}
