/** Response bodies and byte streams: discarding or abandoning a body, capped reads, and regrouping chunks. */
import type { Readable } from 'node:stream';
import type { Response } from 'node-fetch';
import { RegistryError } from './errors.js';

/** Discards a response body so its socket can be reused. */
export function discard(res: Response): void {
  res.body?.resume();
}

/** Abandons a response body midway; its socket is closed. */
export function destroyBody(res: Response): void {
  (res.body as unknown as Readable | null)?.destroy();
}

/** Up to `cap` bytes of a body as UTF-8; the rest is abandoned. */
export async function readCapped(res: Response, cap: number): Promise<string> {
  if (res.body === null) return '';
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    parts.push(chunk);
    size += chunk.byteLength;
    if (size >= cap) {
      destroyBody(res);
      break;
    }
  }
  return Buffer.concat(parts).subarray(0, cap).toString('utf8');
}

/** The whole body; a body larger than `cap` bytes is a REGISTRY_PROTOCOL error. */
export async function readBody(res: Response, cap: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > cap) {
      destroyBody(res);
      throw new RegistryError('REGISTRY_PROTOCOL', `${what}: larger than ${cap} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/** Regroups small chunks into chunks of at least `n` bytes (the last may be smaller). */
export async function* coalesce(body: AsyncIterable<Buffer>, n: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      parts.push(chunk);
      size += chunk.byteLength;
      if (size >= n) {
        yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
        parts = [];
        size = 0;
      }
    }
  } catch (err) {
    // Hand on what arrived before the failure, so a resumed download starts after it.
    if (size > 0) yield Buffer.concat(parts, size);
    throw err;
  }
  if (size > 0) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
}

/** Reads a whole stream of known size into one buffer. */
export async function collect(body: AsyncIterable<Uint8Array>, size: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  for await (const chunk of body) {
    if (at + chunk.byteLength > size) throw new RegistryError('REGISTRY_PROTOCOL', `blob longer than its ${size} bytes`);
    buf.set(chunk, at);
    at += chunk.byteLength;
  }
  return at === size ? buf : buf.subarray(0, at);
}

/**
 * Regroups a stream into buffers of exactly `n` bytes (the last may be shorter). One buffer is reused for
 * every chunk: the consumer must be done with a chunk (its PATCH answered) before it asks for the next.
 */
export async function* chunked(body: AsyncIterable<Uint8Array>, n: number): AsyncGenerator<Buffer> {
  const buf = Buffer.allocUnsafe(n);
  let at = 0;
  for await (const chunk of body) {
    let from = 0;
    while (from < chunk.byteLength) {
      const take = Math.min(n - at, chunk.byteLength - from);
      buf.set(chunk.subarray(from, from + take), at);
      at += take;
      from += take;
      if (at === n) {
        yield buf;
        at = 0;
      }
    }
  }
  if (at > 0) yield buf.subarray(0, at);
}
