import { createHash } from 'node:crypto';
import { OciError } from './errors.js';
import type { Descriptor } from './spec.js';

/**
 * The one place where blob bytes are checked: yields the body while hashing it, and throws at the end
 * if the size or the sha256 differs from the descriptor, or as soon as the body runs longer.
 */
export async function* verified(body: AsyncIterable<Uint8Array>, want: Pick<Descriptor, 'digest' | 'size'>) {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > want.size)
      throw new OciError('BLOB_TOO_LONG', `blob ${want.digest}: longer than the ${want.size} bytes its descriptor says`);
    hash.update(chunk);
    yield chunk;
  }
  const got = `sha256:${hash.digest('hex')}`;
  if (size !== want.size)
    throw new OciError('DIGEST_MISMATCH', `blob ${want.digest}: ${size} bytes where ${want.size} were expected (truncated?)`);
  if (got !== want.digest) throw new OciError('DIGEST_MISMATCH', `blob ${want.digest}: content has digest ${got}`);
}

/** Reads a whole small stream (manifest, config) into memory, refusing more than `limit` bytes. */
export async function readAll(body: AsyncIterable<Uint8Array>, limit: number, what: string): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) throw new OciError('MANIFEST_TOO_BIG', `${what}: larger than ${limit} bytes`);
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}
