/** gzip detection and streaming decompression of byte streams. */
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

export const isGzip = (head: Uint8Array): boolean => head[0] === 0x1f && head[1] === 0x8b;

/** Decompresses a gzip stream; an error on either side ends the output with that error. */
export async function* gunzip(src: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const z = createGunzip();
  const pump = pipeline(src, z).catch((err: unknown) => z.destroy(err as Error));
  yield* z as AsyncIterable<Buffer>;
  await pump;
}

/** Splits the first chunk off a stream: it tells the format, and `rest` still yields every byte. */
export async function peek(src: AsyncIterable<Uint8Array>): Promise<{ head: Uint8Array; rest: AsyncIterable<Uint8Array> }> {
  const it = src[Symbol.asyncIterator]();
  const first = await it.next();
  const head = first.done ? new Uint8Array() : first.value;
  async function* rest(): AsyncGenerator<Uint8Array> {
    try {
      if (first.done) return;
      yield head;
      for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
    } finally {
      await it.return?.();
    }
  }
  return { head, rest: rest() };
}

/** Passes bytes through, decompressing them when they start with the gzip magic. */
export async function* gunzipIfNeeded(src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const { head, rest } = await peek(src);
  yield* isGzip(head) ? gunzip(rest) : rest;
}
