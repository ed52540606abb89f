/** Generated trees for upload tests, and a digest that compares trees by type, mode, bytes and link target. */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const MODES = [0o644, 0o600, 0o755, 0o700, 0o640, 0o444];

/** A file of `bytes` pseudo-random bytes, written in 1 MiB pieces (cheap to make, hard to fake). */
export async function writeBigFile(path: string, bytes: number): Promise<void> {
  const piece = randomBytes(1 << 20);
  const fh = await open(path, 'w');
  try {
    for (let off = 0, i = 0; off < bytes; off += piece.length, i++) {
      const n = Math.min(piece.length, bytes - off);
      piece.writeUInt32BE(i, 0); // every MiB differs
      await fh.write(piece, 0, n, off);
    }
  } finally {
    await fh.close();
  }
}

/** A tree of `files` small files in nested dirs with varied modes, symlinks, odd names and one big file. */
export async function makeTree(root: string, o: { files: number; bigBytes: number }): Promise<void> {
  await mkdir(root, { recursive: true });
  for (let i = 0; i < o.files; i++) {
    const dir = join(root, `d${i % 7}`, `e${i % 3}`);
    await mkdir(dir, { recursive: true });
    const f = join(dir, `f${i}.txt`);
    await writeFile(f, randomBytes(i % 5 === 0 ? 0 : 100 + ((i * 37) % 3000)));
    await chmod(f, MODES[i % MODES.length]!);
  }
  await writeFile(join(root, "we ird 'name' \"q\" $x `y` \\ é\nnewline"), 'odd\n');
  await mkdir(join(root, 'empty-dir'));
  await mkdir(join(root, 'private'), { mode: 0o750 });
  await chmod(join(root, 'private'), 0o750);
  await writeFile(join(root, 'private', 'setuid-ish'), '#!/bin/sh\n');
  await chmod(join(root, 'private', 'setuid-ish'), 0o4755);
  await symlink('d0/e0/f0.txt', join(root, 'rel-link'));
  await symlink('/etc/hostname', join(root, 'abs-link'));
  await symlink('does/not/exist', join(root, 'dangling-link'));
  await symlink('d1', join(root, 'dir-link'));
  if (o.bigBytes > 0) await writeBigFile(join(root, 'big.bin'), o.bigBytes);
}

async function sha(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

/** One line per entry: path, type, mode, size, content sha256 or link target; sorted. */
export async function treeDigest(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    const abs = rel === '' ? root : join(root, rel);
    const st = await lstat(abs);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isDirectory()) {
      out.push(`${JSON.stringify(rel)} d ${mode}`);
      for (const n of (await readdir(abs)).sort()) await visit(rel === '' ? n : `${rel}/${n}`);
    } else if (st.isSymbolicLink()) {
      out.push(`${JSON.stringify(rel)} l -> ${await readlink(abs)}`);
    } else {
      out.push(`${JSON.stringify(rel)} f ${mode} ${st.size} ${await sha(abs)}`);
    }
  };
  await visit('');
  return out.sort();
}
