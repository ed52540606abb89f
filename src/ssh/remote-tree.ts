/**
 * The host side of an upload: what is already there (probe), and how staged content becomes the
 * target (finalize). Content always lands in a stage beside the target (same filesystem), named after
 * the manifest, so an interrupted upload leaves its partial work where the next run finds it; it is
 * checked with sha256sum on the host and then renamed into place.
 */
import { posix } from 'node:path';
import { quote, raw } from './command.js';
import { SshError } from './errors.js';
import type { TreeEntry, TreeManifest } from './manifest.js';
import type { SshSession } from './session.js';

/** Files at least this big go in parallel, resumable chunks instead of the tar stream. */
export const LARGE_FILE_BYTES = 16 << 20;

interface RemoteEntry {
  readonly type: string; // find's %y: d, f, l, ...
  readonly mode: number;
  readonly size: number;
  readonly target: string;
  sha256?: string;
}

/** What one host needs for one manifest. */
export interface HostPlan {
  readonly target: string;
  readonly stage: string;
  /** Whether the target exists at all (if not, the whole stage is renamed onto it). */
  readonly targetExists: boolean;
  /** Entries to send: files and symlinks that differ, and (for a new target) every directory. */
  readonly send: readonly TreeEntry[];
  /** Files already complete in the stage from an interrupted run (hashes checked). */
  readonly staged: readonly TreeEntry[];
  /** Large files partly in the stage: bytes there now (resume candidates). */
  readonly partial: ReadonlyMap<string, number>;
  /** Entries whose content is right but whose mode is not. */
  readonly chmodOnly: readonly TreeEntry[];
  /** Paths in the target whose type differs from the manifest's (removed before placing). */
  readonly conflicts: readonly string[];
  /** Files unchanged on the host. */
  readonly unchanged: number;
  /** Nothing on the host helps: every file must be sent. */
  readonly fresh: boolean;
}

/** The stage for a target: a hidden sibling named after the manifest, so reruns find it. */
export function stagePath(target: string, manifest: TreeManifest): string {
  return posix.join(posix.dirname(target), `.${posix.basename(target)}.sealos-${manifest.id.slice(0, 16)}`);
}

/** `stage/rel` (rel '' is the stage itself). */
export const under = (root: string, rel: string): string => (rel === '' ? root : `${root}/${rel}`);

const TYPE_CHAR: Record<TreeEntry['type'], string> = { dir: 'd', file: 'f', symlink: 'l' };

function parseListing(out: string): Map<string, Map<string, RemoteEntry>> {
  const roots = new Map<string, Map<string, RemoteEntry>>();
  const t = out.split('\0');
  let current: Map<string, RemoteEntry> | undefined;
  for (let i = 0; i < t.length; ) {
    const tok = t[i]!;
    if (tok.startsWith('@')) {
      current = new Map();
      roots.set(tok.slice(1), current);
      i += 1;
      continue;
    }
    if (tok === '' && i === t.length - 1) break;
    const [type, mode, size, path, target] = t.slice(i, i + 5);
    current?.set(path ?? '', { type: type ?? '?', mode: parseInt(mode ?? '0', 8), size: Number(size), target: target ?? '' });
    i += 5;
  }
  return roots;
}

/**
 * A shell function `h` that hashes the files named on stdin (NUL-separated) and prints `sha256 *path`
 * lines: `openssl dgst` where the host has it (it uses the CPU's SHA instructions, about 5x faster than
 * coreutils here), else `sha256sum`.
 */
export const HASH_FUNCTION =
  'h() { if command -v openssl >/dev/null 2>&1; then xargs -0 -r openssl dgst -sha256 -r; else xargs -0 -r sha256sum -b --; fi; }';

/**
 * sha256 of each path (absolute) as the host computes it; absent or unreadable files are left out.
 * Names with a newline or backslash go through `sha256sum -z`, whose output cannot be misread.
 */
export async function remoteHashes(s: SshSession, paths: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const plain = paths.filter((p) => !/[\\\n]/.test(p));
  const odd = paths.filter((p) => /[\\\n]/.test(p));
  if (plain.length > 0) {
    const r = await s.run(raw(`${HASH_FUNCTION}; h`), {
      root: true,
      stdin: plain.map((p) => `${p}\0`).join(''),
      allowFailure: true,
      label: 'hashing files',
    });
    for (const line of r.stdout.split('\n')) {
      const m = /^([0-9a-f]{64}) [ *](.*)$/.exec(line);
      if (m) out.set(m[2]!, m[1]!);
    }
  }
  if (odd.length > 0) {
    const r = await s.run(raw('xargs -0 -r sha256sum -bz --'), {
      root: true,
      stdin: odd.map((p) => `${p}\0`).join(''),
      allowFailure: true,
      label: 'hashing files',
    });
    for (const rec of r.stdout.split('\0')) {
      const m = /^([0-9a-f]{64}) [ *](.*)$/s.exec(rec);
      if (m) out.set(m[2]!, m[1]!);
    }
  }
  return out;
}

/** Lists the target and its stage on the host and decides what must be sent. */
export async function probeHost(s: SshSession, manifest: TreeManifest, target: string): Promise<HostPlan> {
  const stage = stagePath(target, manifest);
  const listing = await s.run(
    raw(
      `for r in ${quote(target)} ${quote(stage)}; do printf '@%s\\0' "$r"; ` +
        `if [ -e "$r" ] || [ -L "$r" ]; then find "$r" -printf '%y\\0%m\\0%s\\0%P\\0%l\\0'; fi; done`,
    ),
    { root: true, label: 'listing the target' },
  );
  const roots = parseListing(listing.stdout);
  const have = roots.get(target) ?? new Map<string, RemoteEntry>();
  const inStage = roots.get(stage) ?? new Map<string, RemoteEntry>();
  const files = manifest.entries.filter((e) => e.type === 'file');
  const sameSize = (m: Map<string, RemoteEntry>, e: TreeEntry): boolean => m.get(e.path)?.type === 'f' && m.get(e.path)!.size === e.size;
  if (files.some((e) => sameSize(have, e) || sameSize(inStage, e))) await manifest.hashed;
  const hashes = await remoteHashes(s, [
    ...files.filter((e) => sameSize(have, e)).map((e) => under(target, e.path)),
    ...files.filter((e) => sameSize(inStage, e)).map((e) => under(stage, e.path)),
  ]);
  const targetExists = have.has('');
  const send: TreeEntry[] = [];
  const staged: TreeEntry[] = [];
  const chmodOnly: TreeEntry[] = [];
  const conflicts: string[] = [];
  const partial = new Map<string, number>();
  let unchanged = 0;
  let fresh = true;
  for (const e of manifest.entries) {
    const there = have.get(e.path);
    if (there !== undefined && there.type !== TYPE_CHAR[e.type]) conflicts.push(e.path);
    const sameType = there?.type === TYPE_CHAR[e.type];
    if (e.type === 'dir') {
      if (!targetExists) send.push(e);
      else if (sameType && there!.mode !== e.mode) chmodOnly.push(e);
      continue;
    }
    if (e.type === 'symlink') {
      if (sameType && there!.target === e.target) unchanged++;
      else send.push(e);
      continue;
    }
    if (sameType && hashes.get(under(target, e.path)) === e.sha256) {
      unchanged++;
      fresh = false;
      if (there!.mode !== e.mode) chmodOnly.push(e);
      continue;
    }
    const st = inStage.get(e.path);
    if (st?.type === 'f' && hashes.get(under(stage, e.path)) === e.sha256) {
      staged.push(e);
      fresh = false;
    } else {
      if (st?.type === 'f' && st.size > 0 && e.size >= LARGE_FILE_BYTES) {
        partial.set(e.path, st.size);
        fresh = false;
      }
      send.push(e);
    }
  }
  return { target, stage, targetExists, send, staged, partial, chmodOnly, conflicts, unchanged, fresh };
}

/** Whether a plan has nothing left to do. */
export const isUpToDate = (p: HostPlan): boolean =>
  p.send.length === 0 && p.staged.length === 0 && p.chmodOnly.length === 0 && p.conflicts.length === 0;

/** Shell lines running `program fixed... paths...` in batches that stay well under ARG_MAX. */
function batched(program: string, fixed: readonly string[], paths: readonly string[], batch = 200): string[] {
  const lines: string[] = [];
  for (let i = 0; i < paths.length; i += batch) {
    lines.push([program, ...fixed, '--', ...paths.slice(i, i + batch)].map(quote).join(' '));
  }
  return lines;
}

/**
 * Checks every file sent this run against the manifest on the host (sha256sum), then places the stage:
 * a new target is the stage renamed; an existing one gets each file renamed over it (`mv -f`, atomic per
 * file), then modes. A file that fails the check is deleted from the stage.
 */
export async function finalizeHost(s: SshSession, manifest: TreeManifest, plan: HostPlan): Promise<void> {
  const { stage, target } = plan;
  const sent = plan.send.filter((e) => e.type === 'file');
  if (sent.length > 0) {
    await manifest.hashed;
    const got = await remoteHashes(s, sent.map((e) => under(stage, e.path)));
    const bad = sent.filter((e) => got.get(under(stage, e.path)) !== e.sha256).map((e) => under(stage, e.path));
    if (bad.length > 0) {
      await s.run(raw(batched('rm', ['-f'], bad).join('\n')), { root: true }).catch(() => {});
      throw new SshError('SSH_CHECKSUM', s.name, `${bad.length} files differ from what was sent (or did not arrive) in ${target}: ${bad.slice(0, 5).join(', ')}`, {
        hint: 'run the upload again; files that arrived intact are kept',
      });
    }
  }
  await s.run(raw('/bin/sh -s'), { root: true, stdin: placeScript(manifest, plan), label: `placing ${target}` });
}

function placeScript(manifest: TreeManifest, plan: HostPlan): string {
  const { stage, target } = plan;
  const lines = ['set -e'];
  const root = manifest.entries[0];
  const modeGroups = (entries: readonly TreeEntry[], base: string): string[] => {
    const byMode = new Map<number, string[]>();
    for (const e of entries) {
      if (e.type === 'symlink') continue;
      byMode.set(e.mode, [...(byMode.get(e.mode) ?? []), under(base, e.path)]);
    }
    return [...byMode].flatMap(([mode, paths]) => batched('chmod', [mode.toString(8)], paths));
  };
  const movedFiles = [...plan.send, ...plan.staged].filter((e) => e.type !== 'dir');
  if (root?.type !== 'dir') {
    if (movedFiles.length > 0) {
      lines.push(...modeGroups(movedFiles, stage));
      if (plan.conflicts.length > 0) lines.push(`rm -rf -- ${quote(target)}`);
      lines.push(`mv -f -T -- ${quote(stage)} ${quote(target)}`);
    }
    lines.push(...modeGroups(plan.chmodOnly, target));
    return `${lines.join('\n')}\n`;
  }
  if (!plan.targetExists) {
    lines.push(`mkdir -p -- ${quote(posix.dirname(target))}`);
    lines.push(...batched('mkdir', ['-p'], manifest.entries.filter((e) => e.type === 'dir').map((e) => under(stage, e.path))));
    lines.push(...modeGroups(manifest.entries, stage));
    lines.push(`mv -T -- ${quote(stage)} ${quote(target)}`);
    return `${lines.join('\n')}\n`;
  }
  lines.push(...batched('rm', ['-rf'], plan.conflicts.map((p) => under(target, p))));
  lines.push(...batched('mkdir', ['-p'], manifest.entries.filter((e) => e.type === 'dir').map((e) => under(target, e.path))));
  const byDir = new Map<string, string[]>();
  for (const e of movedFiles) {
    const dir = posix.dirname(e.path) === '.' ? '' : posix.dirname(e.path);
    byDir.set(dir, [...(byDir.get(dir) ?? []), under(stage, e.path)]);
  }
  for (const [dir, paths] of byDir) lines.push(...batched('mv', ['-f', '-t', under(target, dir)], paths));
  lines.push(...modeGroups(movedFiles, target));
  lines.push(...modeGroups(plan.chmodOnly, target));
  lines.push(...modeGroups(manifest.entries.filter((e) => e.type === 'dir'), target));
  lines.push(`rm -rf -- ${quote(stage)}`);
  return `${lines.join('\n')}\n`;
}
