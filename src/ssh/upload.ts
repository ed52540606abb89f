/**
 * Direct uploads from this machine to one host: small files, directories and symlinks as one tar
 * stream over an exec channel (so sudo applies); large files in parallel chunks written with `dd` at
 * their offsets into the stage, resumed after an interruption by comparing per-chunk sha256 sums.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import pLimit from 'p-limit';
import type { Reporter } from '../report.js';
import { cmd, quote, raw } from './command.js';
import { hashFile, type TreeEntry, type TreeManifest } from './manifest.js';
import { LARGE_FILE_BYTES, under, type HostPlan } from './remote-tree.js';
import type { SshSession } from './session.js';

/**
 * How hosts unpack a tar stream: 1 MiB reads (-b 2048), re-blocked from whatever the pipe delivers (-B),
 * so a host spends its CPU on bytes rather than on 10 KiB read calls.
 */
export const TAR_EXTRACT = ['tar', '-x', '-b', '2048', '-B', '-f', '-', '-C'] as const;

/** Bytes per chunk of a large file: the unit of parallelism and of resume. */
export const CHUNK_BYTES = 32 << 20;
/** Chunks of one file in flight at once on one connection. */
export const CHUNK_JOBS = 4;

/**
 * A tar stream of `entries` (relative to `root`), made by the local GNU tar: modes and symlinks kept,
 * owner root. `done` rejects if tar fails.
 */
export function localTar(root: string, entries: readonly TreeEntry[]): { stream: Readable; done: Promise<void> } {
  const tar = spawn(
    'tar',
    // 64 KiB records (-b 128) instead of 10 KiB: fewer, larger writes into the channel
    ['-c', '-b', '128', '-f', '-', '-C', root, '--no-recursion', '--null', '-T', '-', '--owner=0', '--group=0', '--numeric-owner'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  tar.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  // Consume stdout at once: node discards an unconsumed child stdout when the child exits.
  const stream = new PassThrough({ highWaterMark: 1 << 20 });
  tar.stdout.pipe(stream);
  tar.stdin.end(entries.map((e) => `${e.path === '' ? '.' : `./${e.path}`}\0`).join(''));
  const done = new Promise<void>((resolve, reject) => {
    tar.on('error', reject);
    tar.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`local tar exited ${code}: ${stderr.trim().slice(0, 200)}`))));
  });
  return { stream, done };
}

/** Sends what `plan` says is missing straight from this machine, into the stage. */
export async function sendDirect(
  s: SshSession,
  manifest: TreeManifest,
  plan: HostPlan,
  reporter: Reporter,
  chunkBytes: number = CHUNK_BYTES,
): Promise<number> {
  const isDir = manifest.entries[0]?.type === 'dir';
  const large = isDir ? plan.send.filter((e) => e.type === 'file' && e.size >= LARGE_FILE_BYTES) : plan.send.filter((e) => e.type === 'file');
  const small = plan.send.filter((e) => !large.includes(e));
  let bytes = 0;
  if (isDir) await s.run(raw(`mkdir -p -- ${quote(plan.stage)}`), { root: true });
  else await s.run(raw(`mkdir -p -- ${quote(posix.dirname(plan.stage))}`), { root: true });
  const work: Promise<void>[] = [];
  if (small.length > 0) {
    work.push(
      (async () => {
        const tar = localTar(manifest.root, small);
        const [remote, local] = await Promise.allSettled([
          s.run(cmd(...TAR_EXTRACT, plan.stage), { root: true, stdin: tar.stream, label: 'extracting tar stream' }),
          tar.done,
        ]);
        // the host's error explains a broken stream better than the local tar's SIGPIPE
        if (remote.status === 'rejected') throw remote.reason;
        if (local.status === 'rejected') throw local.reason;
        bytes += small.reduce((n, e) => n + e.size, 0);
      })(),
    );
  }
  for (const e of large) {
    const local = e.path === '' ? manifest.root : `${manifest.root}/${e.path}`;
    work.push(
      sendLargeFile(s, local, under(plan.stage, e.path), e, plan.partial.get(e.path) ?? 0, reporter, chunkBytes).then((n) => {
        bytes += n;
      }),
    );
  }
  const settled = await Promise.allSettled(work);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return bytes;
}

/**
 * Writes one file into `remote` in chunks, CHUNK_JOBS at a time. If `remote` already holds `haveBytes`
 * from an interrupted run, chunks whose sha256 matches are kept. Returns the bytes sent. The whole file's
 * sha256 is checked by the caller's finalize step.
 */
export async function sendLargeFile(
  s: SshSession,
  local: string,
  remote: string,
  entry: TreeEntry,
  haveBytes: number,
  reporter: Reporter,
  chunkBytes: number = CHUNK_BYTES,
): Promise<number> {
  const { size } = entry;
  const count = Math.max(1, Math.ceil(size / chunkBytes));
  const chunk = (i: number) => ({ start: i * chunkBytes, end: Math.min(size, (i + 1) * chunkBytes) });
  const keep = new Set<number>();
  if (haveBytes > 0) {
    const candidates = [...Array(count).keys()].filter((i) => chunk(i).end <= haveBytes && chunk(i).end > chunk(i).start);
    const script = [
      'hs() { if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi; }',
      ...candidates.map(
        (i) => `dd if=${quote(remote)} iflag=skip_bytes,count_bytes skip=${chunk(i).start} count=${chunk(i).end - chunk(i).start} bs=1M status=none | hs`,
      ),
    ].join('\n');
    const r = await s.run(raw('/bin/sh -s'), { root: true, stdin: `${script}\n`, allowFailure: true, label: 'hashing a partial upload' });
    const remoteSums = r.stdout.split('\n').map((l) => l.slice(0, 64));
    const limit = pLimit(2);
    await Promise.all(
      candidates.map((i, k) =>
        limit(async () => {
          if (remoteSums[k] === (await hashFile(local, chunk(i)))) keep.add(i);
        }),
      ),
    );
    reporter.emit({ kind: 'log', level: 'info', host: s.name, msg: `resuming ${remote}: ${keep.size} of ${count} chunks already there` });
  }
  const digest = entry.sha256 !== undefined ? `sha256:${entry.sha256}` : remote;
  reporter.emit({ kind: 'blob', digest, state: 'start', bytes: keep.size * chunkBytes, total: size });
  const limit = pLimit(CHUNK_JOBS);
  let sent = 0;
  await Promise.all(
    [...Array(count).keys()]
      .filter((i) => !keep.has(i))
      .map((i) =>
        limit(async () => {
          const { start, end } = chunk(i);
          const body = end > start ? createReadStream(local, { start, end: end - 1, highWaterMark: 1 << 20 }) : '';
          await s.run(raw(`dd of=${quote(remote)} bs=1M seek=${start} oflag=seek_bytes conv=notrunc status=none`), {
            root: true,
            stdin: body,
            label: `writing bytes ${start}-${end} of ${remote}`,
          });
          sent += end - start;
          reporter.emit({ kind: 'blob', digest, state: 'progress', bytes: sent, total: size });
        }),
      ),
  );
  await s.run(raw(`truncate -s ${size} -- ${quote(remote)}`), { root: true });
  reporter.emit({ kind: 'blob', digest, state: 'done', bytes: size, total: size });
  return sent;
}
