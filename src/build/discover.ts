/**
 * Finds the container images a build context names, as sealos's pre-build step does (§4.1):
 * `image:` lines in `manifests/**` (*.yaml, *.yml, *.tmpl), charts under `charts/` (rendered with
 * `helm template` when helm is installed, else scanned as files, with a warning), and one image per
 * line in every file under `images/shim/`. Unlike sealos, a digest pin (`x@sha256:…`) is kept.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { parseImageRef, formatImageRef } from '../oci/index.js';
import { silentReporter, type Reporter } from '../report.js';
import { BuildError } from './errors.js';

const execFileP = promisify(execFile);

/** One image reference and where it was found. */
export interface FoundImage {
  /** The full normalized reference (`docker.io/library/nginx:latest`, digest kept). */
  readonly ref: string;
  /** `manifests/app.yaml:12`, relative to the context. */
  readonly source: string;
  /** Where to copy it from when not its registry (an archive from `images/skopeo/tar.txt`). */
  readonly from?: string;
}

export interface DiscoverOptions {
  readonly contextDir: string;
  readonly reporter?: Reporter;
  /** The helm program; undefined looks for `helm` on PATH. */
  readonly helm?: string;
}

const MANIFEST_EXT = /\.(ya?ml|tmpl)$/;

/** Every image reference in the context, de-duplicated, in the order found. */
export async function discoverImages(o: DiscoverOptions): Promise<FoundImage[]> {
  const reporter = o.reporter ?? silentReporter;
  const found = new Map<string, FoundImage>();
  const add = (raw: string, source: string): void => {
    const ref = normalizeImage(raw);
    if (ref === undefined) {
      reporter.emit({ kind: 'log', level: 'debug', msg: `${source}: "${raw}" is not an image reference; skipped` });
      return;
    }
    if (!found.has(ref)) found.set(ref, { ref, source });
  };
  const rel = (p: string): string => relative(o.contextDir, p);

  for (const file of await filesUnder(join(o.contextDir, 'manifests'))) {
    if (!MANIFEST_EXT.test(file)) continue;
    scanText(await readFile(file, 'utf8'), rel(file), add);
  }

  const chartsDir = join(o.contextDir, 'charts');
  const charts = await chartRoots(chartsDir);
  if (charts.length > 0) {
    const helm = await findHelm(o.helm);
    if (helm === undefined)
      reporter.emit({
        kind: 'log',
        level: 'warn',
        msg: `helm is not installed: scanning ${charts.length} chart(s) under charts/ as plain files; images set only through templates or values may be missed`,
      });
    for (const chart of charts) {
      if (helm !== undefined) {
        const name = chart.replace(/\.tgz$/, '').split('/').pop()!;
        const values = join(chartsDir, `${name}.values.yaml`);
        const args = ['template', 'dryrun', chart];
        if (await isFile(values)) args.push('-f', values);
        const out = await execFileP(helm, args, { maxBuffer: 256 << 20 }).catch((err: { stderr?: string; message: string }) => {
          reporter.emit({ kind: 'log', level: 'warn', msg: `helm template ${rel(chart)} failed: ${(err.stderr ?? err.message).trim().slice(0, 200)}` });
          return undefined;
        });
        if (out !== undefined) scanText(out.stdout, `${rel(chart)} (helm template)`, add);
      } else if (!chart.endsWith('.tgz')) {
        for (const file of await filesUnder(chart)) if (/\.ya?ml$/.test(file)) scanText(await readFile(file, 'utf8'), rel(file), add, true);
      } else reporter.emit({ kind: 'log', level: 'warn', msg: `${rel(chart)}: a packed chart needs helm to be read; skipped` });
    }
    // Values files beside the charts (charts/<name>.values.yaml) may pin images too.
    for (const f of await readdir(chartsDir).catch(() => [] as string[]))
      if (helm === undefined && f.endsWith('.values.yaml')) scanText(await readFile(join(chartsDir, f), 'utf8'), rel(join(chartsDir, f)), add, true);
  }

  for (const file of await filesUnder(join(o.contextDir, 'images', 'shim'))) {
    const lines = (await readFile(file, 'utf8')).split(/\r?\n/);
    lines.forEach((line, i) => {
      const t = line.trim();
      if (t === '' || t.startsWith('#')) return;
      add(t, `${rel(file)}:${i + 1}`);
    });
  }
  return [...found.values()];
}

/** An image archive named in `images/skopeo/tar.txt` and the name it gets in registry/. */
export interface FoundArchive {
  /** `docker-archive:/abs/path.tar` or `oci-archive:/abs/path.tar[:REF]`. */
  readonly location: string;
  /** The full reference it is stored under (`docker.io/library/name:tag`). */
  readonly ref: string;
  readonly source: string;
}

/**
 * Lines of `images/skopeo/tar.txt`, as sealos reads them: `docker-archive:rel/path.tar@library/name:tag`
 * or `oci-archive:rel/path.tar[:REF]@repo:tag`; paths are relative to the context.
 */
export async function discoverArchives(contextDir: string): Promise<FoundArchive[]> {
  const file = join(contextDir, 'images', 'skopeo', 'tar.txt');
  const text = await readFile(file, 'utf8').catch(() => '');
  const out: FoundArchive[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    const source = `images/skopeo/tar.txt:${i + 1}`;
    const m = /^(docker-archive|oci-archive):([^@]+)@(.+)$/.exec(t);
    const ref = m === null ? undefined : normalizeImage(m[3]!);
    if (m === null || ref === undefined)
      throw new BuildError('BUILD_SYNTAX', `${source}: expected docker-archive:PATH@NAME:TAG or oci-archive:PATH@NAME:TAG, got "${t}"`);
    const path = m[2]!.startsWith('/') ? m[2]! : join(contextDir, m[2]!);
    out.push({ location: `${m[1]}:${path}`, ref, source });
  });
  return out;
}

/** The `image:` values of YAML-ish text; with `values`, also `repository:`/`tag:` pairs of a chart's values. */
export function scanText(text: string, source: string, add: (raw: string, source: string) => void, values = false): void {
  const lines = text.split(/\r?\n/);
  let repo: { value: string; indent: number; line: number; registry?: string } | undefined;
  lines.forEach((line, i) => {
    const t = line.trim();
    if (t.startsWith('#')) return;
    const at = t.indexOf('image:');
    if (at >= 0) {
      const value = unquote(t.slice(at + 'image:'.length));
      if (value !== '' && !value.includes('{{')) add(value, `${source}:${i + 1}`);
      return;
    }
    if (!values) return;
    const indent = line.length - line.trimStart().length;
    const kv = /^(repository|tag|registry):\s*(.*)$/.exec(t);
    if (kv === null) return;
    const value = unquote(kv[2]!);
    if (kv[1] === 'repository') repo = { value, indent, line: i + 1 };
    else if (kv[1] === 'registry' && repo === undefined) repo = { value: '', indent, line: i + 1, registry: value };
    else if (kv[1] === 'registry' && repo !== undefined && repo.indent === indent) repo.registry = value;
    else if (kv[1] === 'tag' && repo !== undefined && repo.indent === indent && repo.value !== '' && value !== '' && !value.includes('{{')) {
      const name = repo.registry ? `${repo.registry}/${repo.value}` : repo.value;
      add(value.startsWith('sha256:') ? `${name}@${value}` : `${name}:${value}`, `${source}:${repo.line}`);
      repo = undefined;
    }
  });
}

function unquote(s: string): string {
  let v = s.trim();
  const hash = v.search(/\s#/);
  if (hash >= 0) v = v.slice(0, hash).trim();
  return v.replace(/^["']+|["']+$/g, '').trim();
}

/** The full reference, or undefined for text that is not one. */
export function normalizeImage(raw: string): string | undefined {
  if (/\s/.test(raw) || raw.includes('$')) return undefined;
  try {
    return formatImageRef(parseImageRef(raw));
  } catch {
    return undefined;
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() || (e.isSymbolicLink() && (await isFile(p)))) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

/** First-level chart directories and packed charts (*.tgz) under charts/. */
async function chartRoots(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory() || e.name.endsWith('.tgz'))
    .map((e) => join(dir, e.name))
    .sort();
}

async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isFile() === true;
}

async function findHelm(helm: string | undefined): Promise<string | undefined> {
  const prog = helm ?? 'helm';
  try {
    await execFileP(prog, ['version', '--short'], { timeout: 10_000 });
    return prog;
  } catch {
    return undefined;
  }
}
