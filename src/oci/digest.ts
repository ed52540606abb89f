import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { parseDigest, type Digest } from './spec.js';

/** The sha256 digest of bytes in memory (manifests, configs). */
export function digestOf(bytes: Uint8Array | string): Digest {
  return parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
}

/** The sha256 digest and size of a file, streamed. */
export async function digestFile(path: string): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { digest: parseDigest(`sha256:${hash.digest('hex')}`), size };
}

/** The hex part of a digest, as used in blob paths. */
export const hexOf = (d: Digest): string => d.slice('sha256:'.length);
