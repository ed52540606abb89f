/**
 * Writes one layer in a single streaming pass: tar entries -> gzip -> file, hashing the tar
 * (diff_id) and the gzip stream (the blob digest) on the way. Compression runs on the libuv
 * thread pool in fixed 1 MiB blocks, each a complete gzip member (RFC 1952 allows a sequence of
 * members; Go, zlib, GNU gzip and pigz read them as one stream), so output is deterministic for a
 * given input and uses every core. A block that looks incompressible (byte entropy near 8 bits)
 * is stored rather than deflated: deflate only burns CPU on it, as klauspost/compress also avoids.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gzip as gzipCb, constants as zc } from 'node:zlib';
import { encodeTarHeader, END_OF_ARCHIVE, paddingFor, parseDigest, type Digest, type TarHeader } from '../oci/index.js';

const gzip = promisify(gzipCb);

/** Uncompressed bytes per gzip member: large enough for a good ratio, small enough to pipeline. */
export const GZIP_BLOCK_BYTES = 1 << 20;
/** Bits per byte above which a block is stored, not deflated (random data measures ~7.999). */
const INCOMPRESSIBLE_BITS = 7.97;

export interface LayerBlob {
  /** Digest of the gzip stream: the blob's name. */
  readonly digest: Digest;
  /** Digest of the uncompressed tar. */
  readonly diffId: Digest;
  readonly size: number;
  /** Where the compressed bytes are (a temp file until the build commits). */
  readonly path: string;
}

export interface LayerWriterOptions {
  /** Blocks compressing at once; the thread pool has 4 threads by default. */
  readonly jobs?: number;
  /** zlib level for compressible blocks. */
  readonly level?: number;
}

export class LayerWriter {
  private readonly diffHash: Hash = createHash('sha256');
  private readonly blobHash: Hash = createHash('sha256');
  private block: Buffer = Buffer.allocUnsafe(GZIP_BLOCK_BYTES);
  private fill = 0;
  private size = 0;
  private readonly inFlight: Promise<Buffer>[] = [];
  private readonly jobs: number;
  private readonly level: number;
  private finished = false;

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    opts: LayerWriterOptions,
  ) {
    this.jobs = Math.max(1, opts.jobs ?? 4);
    this.level = opts.level ?? zc.Z_DEFAULT_COMPRESSION;
  }

  /** Creates the output file exclusively at `path` (a temp name). */
  static async create(path: string, opts: LayerWriterOptions = {}): Promise<LayerWriter> {
    return new LayerWriter(await open(path, 'wx', 0o644), path, opts);
  }

  /** Appends one entry; `data` must hold exactly `h.size` bytes for a file. */
  async add(h: TarHeader, data?: Uint8Array | AsyncIterable<Uint8Array>): Promise<void> {
    await this.write(encodeTarHeader(h));
    if (h.type !== 'file') return;
    let n = 0;
    if (data instanceof Uint8Array) {
      n = data.byteLength;
      await this.write(data);
    } else if (data !== undefined) {
      for await (const chunk of data) {
        n += chunk.byteLength;
        if (n > h.size) throw new Error(`${h.name}: changed while being read (grew past ${h.size} bytes)`);
        await this.write(chunk);
      }
    }
    if (n !== h.size) throw new Error(`${h.name}: changed while being read (${n} of ${h.size} bytes)`);
    const pad = paddingFor(h.size);
    if (pad > 0) await this.write(Buffer.alloc(pad));
  }

  private async write(buf: Uint8Array): Promise<void> {
    this.diffHash.update(buf);
    let off = 0;
    while (off < buf.byteLength) {
      const n = Math.min(buf.byteLength - off, GZIP_BLOCK_BYTES - this.fill);
      this.block.set(buf.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === GZIP_BLOCK_BYTES) await this.flushBlock();
    }
  }

  private async flushBlock(): Promise<void> {
    if (this.fill === 0) return;
    const data = this.fill === GZIP_BLOCK_BYTES ? this.block : this.block.subarray(0, this.fill);
    const level = entropyBits(data) > INCOMPRESSIBLE_BITS ? 0 : this.level;
    this.inFlight.push(gzip(data, { level, chunkSize: GZIP_BLOCK_BYTES + (64 << 10) }));
    this.block = Buffer.allocUnsafe(GZIP_BLOCK_BYTES);
    this.fill = 0;
    if (this.inFlight.length >= this.jobs) await this.drainOne();
  }

  private async drainOne(): Promise<void> {
    const out = await this.inFlight.shift()!;
    this.blobHash.update(out);
    this.size += out.byteLength;
    let off = 0;
    while (off < out.byteLength) off += (await this.fh.write(out, off, out.byteLength - off)).bytesWritten;
  }

  /** Ends the archive, flushes, fsyncs and closes; the file then holds the whole blob. */
  async finish(): Promise<LayerBlob> {
    await this.write(END_OF_ARCHIVE);
    await this.flushBlock();
    while (this.inFlight.length > 0) await this.drainOne();
    await this.fh.sync();
    await this.fh.close();
    this.finished = true;
    return {
      digest: parseDigest(`sha256:${this.blobHash.digest('hex')}`),
      diffId: parseDigest(`sha256:${this.diffHash.digest('hex')}`),
      size: this.size,
      path: this.path,
    };
  }

  /** Drops the output (after a failure). */
  async abort(): Promise<void> {
    await Promise.allSettled(this.inFlight);
    if (!this.finished) await this.fh.close().catch(() => {});
    await rm(this.path, { force: true });
  }
}

/** Shannon entropy of the bytes, in bits per byte (sampled: 1 KiB of every 16 KiB). */
function entropyBits(data: Uint8Array): number {
  const counts = new Uint32Array(256);
  let total = 0;
  for (let start = 0; start < data.byteLength; start += 16384) {
    const end = Math.min(start + 1024, data.byteLength);
    for (let i = start; i < end; i++) counts[data[i]!]! += 1;
    total += end - start;
  }
  if (total < 8192) return 0;
  let bits = 0;
  for (let i = 0; i < 256; i++) {
    const c = counts[i]!;
    if (c > 0) {
      const p = c / total;
      bits -= p * Math.log2(p);
    }
  }
  return bits;
}
