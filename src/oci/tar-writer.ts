/**
 * Writes a tar file one entry at a time into a temp file beside the target, renamed into place on
 * finish. An entry whose body throws is cut off again, so the archive never holds half a blob.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { OciError } from './errors.js';
import { encodeTarHeader, END_OF_ARCHIVE, paddingFor, type TarHeader } from './tar.js';

export class TarWriter {
  private position = 0;
  private finished = false;

  private constructor(
    readonly path: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
    private readonly mtime: number,
  ) {}

  /** `mtime` (seconds) stamps every entry, so the same content gives the same archive. */
  static async create(path: string, mtime = 0): Promise<TarWriter> {
    const tmp = join(dirname(path), `.${randomUUID()}.sealos-tmp`);
    return new TarWriter(path, tmp, await open(tmp, 'wx', 0o644), mtime);
  }

  private async write(buf: Uint8Array): Promise<void> {
    let off = 0;
    while (off < buf.byteLength) {
      const { bytesWritten } = await this.fh.write(buf, off, buf.byteLength - off, this.position);
      off += bytesWritten;
      this.position += bytesWritten;
    }
  }

  /** Adds a file entry of exactly `size` bytes from `body`; on any error the entry is removed again. */
  async addFile(name: string, size: number, body: AsyncIterable<Uint8Array> | Uint8Array, mode = 0o644): Promise<void> {
    const start = this.position;
    try {
      await this.write(encodeTarHeader({ name, type: 'file', size, mode, mtime: this.mtime }));
      let written = 0;
      if (body instanceof Uint8Array) {
        await this.write(body);
        written = body.byteLength;
      } else {
        for await (const chunk of body) {
          written += chunk.byteLength;
          if (written > size) break;
          await this.write(chunk);
        }
      }
      if (written !== size)
        throw new OciError('BAD_ARCHIVE', `${this.path}: entry ${name} got ${written} bytes, ${size} announced`);
      await this.write(Buffer.alloc(paddingFor(size)));
    } catch (err) {
      this.position = start;
      await this.fh.truncate(start);
      throw err;
    }
  }

  async addDirectory(name: string, mode = 0o755): Promise<void> {
    await this.write(encodeTarHeader({ name, type: 'directory', size: 0, mode, mtime: this.mtime } satisfies TarHeader));
  }

  /** Writes the end marker, syncs and renames the temp file onto `path`. */
  async finish(): Promise<void> {
    await this.write(END_OF_ARCHIVE);
    await this.fh.sync();
    await this.fh.close();
    await rename(this.tmp, this.path);
    this.finished = true;
  }

  /** Removes the temp file unless finished; safe to call twice. */
  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.fh.close().catch(() => {});
    await rm(this.tmp, { force: true });
  }
}
