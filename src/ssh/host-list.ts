/** Host lists as sealos parses them: `ip`, `ip:port`, ranges `a.b.c.d-a.b.c.e` and CIDRs, comma separated. */
import { HostListError } from './errors.js';

/** Where to reach one host's sshd. */
export interface HostAddress {
  readonly host: string;
  readonly port: number;
}

/** More addresses than this in one range or CIDR is surely a typo. */
const MAX_EXPANDED = 4096;

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipToInt(ip: string, item: string): number {
  const m = IPV4.exec(ip);
  if (m === null) throw new HostListError(`"${item}": "${ip}" is not an IPv4 address`);
  const parts = m.slice(1, 5).map(Number);
  if (parts.some((p) => p > 255)) throw new HostListError(`"${item}": "${ip}" is not an IPv4 address`);
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

const intToIp = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

function parsePort(text: string, item: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new HostListError(`"${item}": port "${text}" is not 1-65535`);
  return port;
}

function expand(from: number, to: number, item: string): string[] {
  if (to < from) throw new HostListError(`"${item}": the range ends before it starts`);
  if (to - from + 1 > MAX_EXPANDED) throw new HostListError(`"${item}": more than ${MAX_EXPANDED} addresses`);
  const out: string[] = [];
  for (let n = from; n <= to; n++) out.push(intToIp(n));
  return out;
}

/**
 * Parses a comma-separated host list. `defaultPort` applies to entries without `:port`. A CIDR includes
 * its network and broadcast addresses, as sealos does. A host listed twice is an error.
 */
export function parseHostList(text: string, defaultPort = 22): HostAddress[] {
  const out: HostAddress[] = [];
  const seen = new Set<string>();
  for (const rawItem of text.split(',')) {
    const item = rawItem.trim();
    if (item === '') continue;
    let hosts: string[];
    let port = defaultPort;
    const cidr = /^([\d.]+)\/(\d{1,2})$/.exec(item);
    const range = /^([\d.]+)-([\d.]+)$/.exec(item);
    const withPort = /^([^:]+):([^:]*)$/.exec(item);
    if (cidr !== null) {
      const bits = Number(cidr[2]);
      if (bits > 32) throw new HostListError(`"${item}": prefix length ${bits} is over 32`);
      const size = 2 ** (32 - bits);
      const base = ipToInt(cidr[1]!, item);
      const network = base - (base % size);
      hosts = expand(network, network + size - 1, item);
    } else if (range !== null) {
      hosts = expand(ipToInt(range[1]!, item), ipToInt(range[2]!, item), item);
    } else if (withPort !== null) {
      ipToInt(withPort[1]!, item);
      hosts = [withPort[1]!];
      port = parsePort(withPort[2]!, item);
    } else {
      ipToInt(item, item);
      hosts = [item];
    }
    for (const host of hosts) {
      const key = `${host}:${port}`;
      if (seen.has(key)) throw new HostListError(`"${item}": ${formatHost({ host, port })} is listed twice`);
      seen.add(key);
      out.push({ host, port });
    }
  }
  if (out.length === 0) throw new HostListError('the host list is empty');
  return out;
}

/** `ip` for port 22, else `ip:port`: the name used in messages and output prefixes. */
export const formatHost = (a: HostAddress): string => (a.port === 22 ? a.host : `${a.host}:${a.port}`);
