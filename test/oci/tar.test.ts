import test from 'ava';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeTarHeader, END_OF_ARCHIVE, indexTar, OciError, paddingFor, TarFile } from '../../src/oci/index.js';
import { tool } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

test('our headers are read by GNU tar, long names and links included', async (t) => {
  const dir = await tempDir(t);
  const long = `${'d'.repeat(120)}/${'f'.repeat(130)}.txt`;
  const data = Buffer.from('hello tar\n');
  const parts = [
    encodeTarHeader({ name: 'dir', type: 'directory', size: 0, mode: 0o750, mtime: 1_700_000_000 }),
    encodeTarHeader({ name: long, type: 'file', size: data.length, mode: 0o640, uid: 3_000_000, gid: 7, mtime: 1_700_000_000 }),
    data,
    Buffer.alloc(paddingFor(data.length)),
    encodeTarHeader({ name: 'dir/link', type: 'symlink', size: 0, mode: 0o777, linkname: '../' + 'l'.repeat(150) }),
    encodeTarHeader({ name: 'dir/hard', type: 'hardlink', size: 0, mode: 0o640, linkname: long }),
    END_OF_ARCHIVE,
  ];
  const file = join(dir, 'a.tar');
  await writeFile(file, Buffer.concat(parts));
  const listing = await tool('tar', ['--numeric-owner', '-tvf', file]);
  t.regex(listing, /drwxr-x--- 0\/0 .* dir\//);
  t.regex(listing, new RegExp(`-rw-r----- 3000000/7 +10 .* ${long}`));
  t.regex(listing, /lrwxrwxrwx .* dir\/link -> \.\.\/l{150}/);
  t.regex(listing, /dir\/hard link to d{120}/);
  const out = join(dir, 'out');
  await mkdir(out);
  await tool('tar', ['-xf', file, '-C', out]);
  t.is(await readFile(join(out, long), 'utf8'), 'hello tar\n');
});

test('indexTar reads GNU and PAX long names from GNU tar and finds data offsets', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  const long = 'x'.repeat(150);
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'sub', long), 'payload');
  for (const format of ['gnu', 'posix']) {
    const file = join(dir, `${format}.tar`);
    await tool('tar', [`--format=${format}`, '-cf', file, '-C', src, '.']);
    const tf = await TarFile.open(file);
    t.true(tf.has(`sub/${long}`), format);
    t.is((await tf.read(`sub/${long}`, 100)).toString(), 'payload');
  }
});

test('a truncated tar and a non-tar are refused, naming the file', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'f');
  await writeFile(src, Buffer.alloc(5000, 1));
  const file = join(dir, 'a.tar');
  await tool('tar', ['-cf', file, '-C', dir, 'f']);
  const whole = await readFile(file);
  await writeFile(file, whole.subarray(0, 2048));
  const e1 = await t.throwsAsync(indexTar(file), { instanceOf: OciError });
  t.regex(e1?.message ?? '', /a\.tar: truncated/);
  await writeFile(file, Buffer.alloc(4096, 7));
  const e2 = await t.throwsAsync(indexTar(file), { instanceOf: OciError });
  t.regex(e2?.message ?? '', /not a tar archive/);
});
