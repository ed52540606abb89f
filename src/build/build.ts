/**
 * `sealos build`: capture the context's container images into registry/, run the Kubefile, and
 * commit the image to the store under every tag. Until the commit nothing reaches the store:
 * layers, pulled bases and the manifest wait in a private staging directory on the store's
 * filesystem and are renamed into blobs/ under the store lock only when every step succeeded.
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  digestOf,
  hostPlatform,
  MediaType,
  normalizeRef,
  OciLayout,
  Store,
  type Descriptor,
  type Digest,
  type Manifest,
  type Platform,
} from '../oci/index.js';
import { Registries, type RegistryLocationContext, type RegistryOptions } from '../registry/index.js';
import { silentReporter, type Reporter } from '../report.js';
import { LayerCache } from './cache.js';
import { captureImages, DEFAULT_MAX_PULL_PROCS, type CaptureResult } from './capture.js';
import { BuildError } from './errors.js';
import { applyOverrides, executeKubefile } from './executor.js';
import type { LayerRef } from './images.js';
import { locateKubefile, readKubefile } from './kubefile-file.js';
import { IgnoreRules } from './patterns.js';

export interface BuildOptions {
  /** The build context directory. */
  readonly contextDir: string;
  /** The instruction file (`-f`); else the first of Kubefile, Sealfile, Dockerfile, Containerfile in the context. */
  readonly file?: string;
  /** Names for the result; at least one. */
  readonly tags: readonly string[];
  /** `--label K=V`, applied to the final image. */
  readonly labels?: ReadonlyArray<readonly [string, string]>;
  /** `--env K=V`, applied to the final image. */
  readonly env?: ReadonlyArray<readonly [string, string]>;
  readonly buildArgs?: ReadonlyMap<string, string>;
  /** The image's platform (and the platform of captured images); the host's by default. */
  readonly platform?: Platform;
  readonly noCache?: boolean;
  /** Seconds since the epoch: every mtime and `created` is set to it, so rebuilds are byte-identical. */
  readonly timestamp?: number;
  readonly target?: string;
  /** Capture container images into `<context>/registry/` first (sealos's default). */
  readonly saveImages?: boolean;
  readonly maxPullProcs?: number;
  readonly storeRoot: string;
  readonly registry?: RegistryOptions;
  readonly reporter?: Reporter;
  readonly now?: () => Date;
}

export interface BuildResult {
  /** Digest of the image manifest. */
  readonly digest: Digest;
  /** Full names the image got. */
  readonly names: readonly string[];
  readonly layersBuilt: number;
  readonly layersReused: number;
  readonly capture: CaptureResult | undefined;
}

const STAGING_PREFIX = 'build-';

export async function buildImage(opts: BuildOptions): Promise<BuildResult> {
  const reporter = opts.reporter ?? silentReporter;
  const now = opts.now ?? (() => new Date());
  const contextDir = resolve(opts.contextDir);
  if (!(await stat(contextDir).catch(() => undefined))?.isDirectory())
    throw new BuildError('BUILD_NO_FILE', `${opts.contextDir}: the build context is not a directory`);
  if (opts.tags.length === 0) throw new BuildError('BUILD_USAGE', 'give the image a name with -t NAME[:TAG]');
  const names = [...new Set(opts.tags.map((t) => normalizeTag(t)))];
  const platform = opts.platform ?? hostPlatform();
  const kubefilePath = await locateKubefile(contextDir, opts.file);
  const kubefile = await readKubefile(kubefilePath, contextDir);
  const ignoreText = await readFile(join(contextDir, '.dockerignore'), 'utf8').catch(() => '');
  const ignore = IgnoreRules.parse(ignoreText);

  const registries = new Registries(opts.registry ?? {});
  const registry: RegistryLocationContext = { ...(opts.registry ?? {}), storeRoot: opts.storeRoot, reporter, registries };
  try {
    let capture: CaptureResult | undefined;
    if (opts.saveImages !== false) {
      capture = await captureImages({
        contextDir,
        platform,
        maxPullProcs: opts.maxPullProcs ?? DEFAULT_MAX_PULL_PROCS,
        registry,
        reporter,
      });
    }

    const store = await Store.open(opts.storeRoot, { reporter });
    await removeDeadStagings(store);
    const workDir = join(store.layout.tmpDir, `${STAGING_PREFIX}${process.pid}-${randomUUID()}.d`);
    const staging = new OciLayout(join(workDir, 'layout'), join(workDir, 'layout-tmp'));
    await staging.init();
    try {
      const cache = opts.noCache === true ? undefined : await LayerCache.load(store);
      const created = new Date((opts.timestamp ?? now().getTime() / 1000) * 1000).toISOString();
      let result = await executeKubefile({
        kubefile,
        contextDir,
        ignore,
        platform,
        buildArgs: opts.buildArgs ?? new Map(),
        ...(opts.target !== undefined ? { target: opts.target } : {}),
        ...(opts.timestamp !== undefined ? { timestamp: opts.timestamp } : {}),
        cache,
        access: { store, staging, registry, reporter },
        workDir,
        reporter,
        now,
      });
      result = applyOverrides(
        result,
        (opts.env ?? []).map(([k, v]) => [k, v]),
        (opts.labels ?? []).map(([k, v]) => [k, v]),
        platform,
        created,
      );
      const configBytes = Buffer.from(JSON.stringify(result.config));
      const configDesc: Descriptor = { mediaType: MediaType.OciConfig, digest: digestOf(configBytes), size: configBytes.byteLength };
      const manifest: Manifest = {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: configDesc,
        layers: result.final.layers.map((l) => l.desc),
        ...(result.final.base !== undefined
          ? { annotations: { 'org.opencontainers.image.base.name': result.final.base.name, 'org.opencontainers.image.base.digest': result.final.base.digest } }
          : {}),
      };
      const manifestBytes = Buffer.from(JSON.stringify(manifest));
      await staging.putBlob(configDesc, configBytes);

      // Layers of other stages are committed too, so the cache can reuse them (the store's GC may drop them).
      const blobs = new Map<Digest, LayerRef | { path: string; staged: true; desc: Descriptor }>();
      for (const b of result.built) blobs.set(b.layer.desc.digest, b.layer);
      for (const l of result.final.layers) blobs.set(l.desc.digest, l);
      blobs.set(configDesc.digest, { path: staging.blobPath(configDesc.digest), staged: true, desc: configDesc });
      const finalDigests = new Set([configDesc.digest, ...result.final.layers.map((l) => l.desc.digest)]);

      const digest = digestOf(manifestBytes);
      // One transaction names every tag at once; blobs are renamed in under its lock.
      const tx = await store.transaction();
      const moved: string[] = [];
      try {
        for (const [d, b] of blobs) {
          if (await store.layout.hasBlob(b.desc)) continue;
          if (!b.staged) {
            if (finalDigests.has(d))
              throw new BuildError('BUILD_BASE', `layer ${d} left the store during the build (was an image removed?)`, { hint: 'build again' });
            continue;
          }
          await rename(b.path, store.layout.blobPath(d));
          moved.push(store.layout.blobPath(d));
        }
        for (const name of names) {
          const dst = tx.destination(name);
          try {
            await dst.putManifest({ bytes: manifestBytes, mediaType: MediaType.OciManifest });
            await dst.commit();
          } finally {
            await dst.close();
          }
        }
        if (cache !== undefined) {
          for (const b of result.built) if (b.key !== undefined) cache.remember(b.key, { ...b.layer.desc, diffId: b.layer.diffId });
          await cache.save().catch((err: unknown) =>
            reporter.emit({ kind: 'log', level: 'warn', msg: `could not save the layer cache: ${(err as Error).message}` }),
          );
        }
        await tx.commit();
      } catch (err) {
        for (const p of moved) await rm(p, { force: true });
        await tx.rollback();
        throw err;
      }
      return {
        digest,
        names,
        layersBuilt: result.built.length,
        layersReused: result.reused,
        capture,
      };
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  } finally {
    await registries.close();
  }
}

function normalizeTag(t: string): string {
  try {
    return normalizeRef(t);
  } catch (err) {
    throw new BuildError('BUILD_USAGE', `-t ${t}: not a valid image name`, { cause: err });
  }
}

/** Staging directories of builds whose process is gone (a crash or a kill). */
async function removeDeadStagings(store: Store): Promise<void> {
  for (const name of await readdir(store.layout.tmpDir).catch(() => [] as string[])) {
    const m = /^build-(\d+)-[0-9a-f-]{36}\.d$/.exec(name);
    if (m === null || Number(m[1]) === process.pid || isAlive(Number(m[1]))) continue;
    await rm(join(store.layout.tmpDir, name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

