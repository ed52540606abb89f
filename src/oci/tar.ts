/**
 * The tar format, as much as images need: ustar headers with PAX records for long names and large
 * values (writing), and an index of a tar file's entries by offset without reading their data (reading).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { OciError } from './errors.js';

export const BLOCK = 512;

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

export interface TarHeader {
  readonly name: string;
  readonly type: TarEntryType;
  /** Data bytes that follow (0 except for files). */
  readonly size: number;
  readonly mode: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly uname?: string;
  readonly gname?: string;
  /** Seconds since the epoch. */
  readonly mtime?: number;
  /** Target of a symlink or hard link. */
  readonly linkname?: string;
}

const TYPEFLAG: Readonly<Record<TarEntryType, string>> = { file: '0', directory: '5', symlink: '2', hardlink: '1' };

function writeString(buf: Buffer, s: string, offset: number, length: number): void {
  buf.write(s, offset, Math.min(Buffer.byteLength(s), length), 'utf8');
}

function writeOctal(buf: Buffer, n: number, offset: number, length: number): void {
  writeString(buf, `${n.toString(8).padStart(length - 1, '0')}\0`, offset, length);
}

const fitsOctal = (n: number, length: number): boolean => n >= 0 && n < 8 ** (length - 1);

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (`${len}`.length + Buffer.byteLength(body) !== len) len = `${len}`.length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function ustar(h: TarHeader, typeflag: string, name: string, size: number, linkname: string): Buffer {
  const buf = Buffer.alloc(BLOCK);
  writeString(buf, name, 0, 100);
  writeOctal(buf, h.mode & 0o7777, 100, 8);
  writeOctal(buf, h.uid ?? 0, 108, 8);
  writeOctal(buf, h.gid ?? 0, 116, 8);
  writeOctal(buf, size, 124, 12);
  writeOctal(buf, Math.max(0, Math.floor(h.mtime ?? 0)), 136, 12);
  buf.fill(' ', 148, 156);
  buf.write(typeflag, 156, 1, 'ascii');
  writeString(buf, linkname, 157, 100);
  buf.write('ustar\u000000', 257, 8, 'binary');
  writeString(buf, h.uname ?? '', 265, 32);
  writeString(buf, h.gname ?? '', 297, 32);
  let sum = 0;
  for (const b of buf) sum += b;
  writeString(buf, `${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return buf;
}

/** The header block(s) of one entry: a PAX extended header first when a name or value does not fit ustar. */
export function encodeTarHeader(h: TarHeader): Buffer {
  const name = h.type === 'directory' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
  const linkname = h.linkname ?? '';
  const size = h.type === 'file' ? h.size : 0;
  const records: string[] = [];
  if (Buffer.byteLength(name) > 100) records.push(paxRecord('path', name));
  if (Buffer.byteLength(linkname) > 100) records.push(paxRecord('linkpath', linkname));
  if (!fitsOctal(size, 12)) records.push(paxRecord('size', String(size)));
  if (!fitsOctal(h.uid ?? 0, 8)) records.push(paxRecord('uid', String(h.uid)));
  if (!fitsOctal(h.gid ?? 0, 8)) records.push(paxRecord('gid', String(h.gid)));
  const main = ustar(h, TYPEFLAG[h.type], name.slice(0, 100), fitsOctal(size, 12) ? size : 0, linkname.slice(0, 100));
  if (records.length === 0) return main;
  const pax = Buffer.from(records.join(''), 'utf8');
  const paxHeader = ustar({ name: 'PaxHeader', type: 'file', size: pax.length, mode: 0o644, mtime: h.mtime }, 'x', 'PaxHeader', pax.length, '');
  return Buffer.concat([paxHeader, pax, Buffer.alloc(paddingFor(pax.length)), main]);
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export const paddingFor = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK;

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/** An entry found by indexTar: where its data starts in the file. */
export interface IndexedEntry {
  readonly name: string;
  readonly typeflag: string;
  readonly size: number;
  readonly linkname: string;
  readonly mode: number;
  readonly dataOffset: number;
}

function readString(buf: Buffer, offset: number, length: number): string {
  const end = buf.indexOf(0, offset);
  return buf.toString('utf8', offset, end < 0 || end > offset + length ? offset + length : end);
}

function readNumber(buf: Buffer, offset: number, length: number): number {
  if ((buf[offset]! & 0x80) !== 0) {
    let n = 0;
    for (let i = offset + 1; i < offset + length; i++) n = n * 256 + buf[i]!;
    return n;
  }
  const s = readString(buf, offset, length).trim();
  return s === '' ? 0 : Number.parseInt(s, 8);
}

function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    const len = Number.parseInt(data.toString('ascii', pos, space), 10);
    if (space < 0 || !Number.isInteger(len) || len <= 0) break;
    const record = data.toString('utf8', space + 1, pos + len - 1);
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

/**
 * Lists the entries of an uncompressed tar file with their data offsets, reading only headers.
 * Throws BAD_ARCHIVE naming the file for a bad checksum, or data that runs past the end (truncation).
 */
export async function indexTar(path: string): Promise<IndexedEntry[]> {
  const fh = await open(path, 'r');
  try {
    return await indexOpenTar(fh, path);
  } finally {
    await fh.close();
  }
}

async function indexOpenTar(fh: FileHandle, path: string): Promise<IndexedEntry[]> {
  const fileSize = (await fh.stat()).size;
  const entries: IndexedEntry[] = [];
  const block = Buffer.alloc(BLOCK);
  let offset = 0;
  let pax = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  const readData = async (at: number, size: number): Promise<Buffer> => {
    const data = Buffer.alloc(size);
    await fh.read(data, 0, size, at);
    return data;
  };
  for (;;) {
    if (offset + BLOCK > fileSize) throw new OciError('BAD_ARCHIVE', `${path}: truncated (no end-of-archive marker)`);
    await fh.read(block, 0, BLOCK, offset);
    if (block.every((b) => b === 0)) return entries;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
    if (sum !== readNumber(block, 148, 8)) throw new OciError('BAD_ARCHIVE', `${path}: not a tar archive, or corrupt at byte ${offset}`);
    const typeflag = String.fromCharCode(block[156]!) === '\0' ? '0' : String.fromCharCode(block[156]!);
    let size = readNumber(block, 124, 12);
    if (pax.has('size')) size = Number(pax.get('size'));
    const dataOffset = offset + BLOCK;
    if (dataOffset + size > fileSize) throw new OciError('BAD_ARCHIVE', `${path}: truncated inside an entry at byte ${offset}`);
    offset = dataOffset + size + paddingFor(size);
    if (typeflag === 'x' || typeflag === 'g') {
      if (typeflag === 'x') pax = parsePax(await readData(dataOffset, size));
      continue;
    }
    if (typeflag === 'L' || typeflag === 'K') {
      const value = readString(await readData(dataOffset, size), 0, size);
      if (typeflag === 'L') longName = value;
      else longLink = value;
      continue;
    }
    const prefix = readString(block, 345, 155);
    const ustarName = readString(block, 0, 100);
    const name = pax.get('path') ?? longName ?? (prefix !== '' && block.toString('ascii', 257, 262) === 'ustar' ? `${prefix}/${ustarName}` : ustarName);
    const linkname = pax.get('linkpath') ?? longLink ?? readString(block, 157, 100);
    entries.push({ name, typeflag, size, linkname, mode: readNumber(block, 100, 8), dataOffset });
    pax = new Map();
    longName = undefined;
    longLink = undefined;
  }
}
