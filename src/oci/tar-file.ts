/** An uncompressed tar file read by offset: entries found by name, data streamed without extracting. */
import { createReadStream } from 'node:fs';
import { OciError } from './errors.js';
import { indexTar, type IndexedEntry } from './tar.js';
import { readAll } from './verify.js';

/** Normalizes an entry name: no `./` prefix; refuses absolute paths and `..` components. */
export function safeEntryName(name: string, archive: string): string {
  const clean = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (clean.startsWith('/') || clean.split('/').includes('..'))
    throw new OciError('UNSAFE_PATH', `${archive}: entry "${name}" points outside the archive`, {
      hint: 'the archive may be malicious; it was not loaded',
    });
  return clean;
}

export class TarFile {
  private constructor(
    readonly path: string,
    private readonly entries: ReadonlyMap<string, IndexedEntry>,
  ) {}

  /** Indexes the tar at `path`, refusing unsafe entry names. */
  static async open(path: string): Promise<TarFile> {
    const map = new Map<string, IndexedEntry>();
    for (const e of await indexTar(path)) map.set(safeEntryName(e.name, path), e);
    return new TarFile(path, map);
  }

  has(name: string): boolean {
    return this.entries.get(name)?.typeflag === '0';
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** The regular-file entry `name`, or an error naming the archive. */
  entry(name: string): IndexedEntry {
    const e = this.entries.get(name);
    if (e === undefined || e.typeflag !== '0') throw new OciError('BLOB_UNKNOWN', `${this.path}: no file "${name}" in the archive`);
    return e;
  }

  /** The raw bytes of a file entry as a stream. */
  stream(name: string): AsyncIterable<Uint8Array> {
    const e = this.entry(name);
    if (e.size === 0) return (async function* () {})();
    return createReadStream(this.path, { start: e.dataOffset, end: e.dataOffset + e.size - 1, highWaterMark: 1 << 20 });
  }

  /** A small file entry (JSON) read whole, capped at `limit` bytes. */
  read(name: string, limit: number): Promise<Buffer> {
    return readAll(this.stream(name), limit, `${this.path}: ${name}`);
  }
}
