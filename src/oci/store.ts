/**
 * The local image store: one OCI image layout shared by all images, so a blob is stored once.
 * Names are `org.opencontainers.image.ref.name` annotations holding the full normalized reference.
 * Writers hold the store lock from open to close; readers need none (index.json is replaced atomically).
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { silentReporter, type Reporter } from '../report.js';
import { OciError } from './errors.js';
import { listBlobDigests, OciLayout, REF_NAME } from './layout.js';
import { LayoutImageDestination, LayoutImageSource, withName } from './layout-image.js';
import type { ImageDestination, ImageSource } from './location.js';
import { formatImageRef, parseImageRef } from './reference.js';
import { isIndex, parseIndex, parseManifest, type Descriptor, type Digest, type Index } from './spec.js';
import { FileLock, isAlive } from './lock.js';

/** How long a writer waits for another sealos process to release the store. */
export const STORE_LOCK_WAIT_MS = 10 * 60_000;

export interface StoreImage {
  /** Full normalized reference. */
  readonly name: string;
  readonly descriptor: Descriptor;
}

export interface StoreOptions {
  readonly reporter?: Reporter;
  readonly lockWaitMs?: number;
}

export class Store {
  readonly layout: OciLayout;
  private readonly lock: FileLock;

  private constructor(
    readonly root: string,
    opts: StoreOptions,
  ) {
    this.layout = new OciLayout(root, join(root, 'tmp'));
    const reporter = opts.reporter ?? silentReporter;
    this.lock = new FileLock(join(root, 'lock'), opts.lockWaitMs ?? STORE_LOCK_WAIT_MS, (pid) =>
      reporter.emit({ kind: 'log', level: 'info', msg: `waiting for the image store lock held by process ${pid}` }),
    );
  }

  /** Opens (creating if needed) the store at `root`. */
  static async open(root: string, opts: StoreOptions = {}): Promise<Store> {
    const store = new Store(root, opts);
    await store.layout.init();
    return store;
  }

  /** Runs `fn` holding the store lock (re-entrant). */
  withLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.with(fn);
  }

  async list(): Promise<StoreImage[]> {
    const index = await this.layout.readIndex();
    return index.manifests.flatMap((d) => (d.annotations?.[REF_NAME] ? [{ name: d.annotations[REF_NAME], descriptor: d }] : []));
  }

  /**
   * Finds an image by reference (normalized: `nginx` finds `docker.io/library/nginx:latest`) or by
   * its ID (a prefix of at least 4 hex digits of the manifest digest, with or without `sha256:`).
   */
  async find(refOrId: string): Promise<StoreImage[]> {
    const images = await this.list();
    const id = refOrId.replace(/^sha256:/, '');
    if (/^[0-9a-f]{4,64}$/.test(id)) {
      const byId = images.filter((i) => i.descriptor.digest.slice(7).startsWith(id));
      if (byId.length > 0) return byId;
    }
    const name = formatImageRef(parseImageRef(refOrId));
    return images.filter((i) => i.name === name);
  }

  /** The one image `refOrId` names; IMAGE_UNKNOWN if none, and the first name if an ID has several. */
  async get(refOrId: string): Promise<StoreImage> {
    const found = await this.find(refOrId);
    if (found.length === 0)
      throw new OciError('IMAGE_UNKNOWN', `image ${refOrId} is not in the local store`, {
        hint: 'see `sealos images`, or load it with `sealos load -i FILE`',
      });
    return found[0]!;
  }

  async source(refOrId: string): Promise<ImageSource> {
    const img = await this.get(refOrId);
    return new LayoutImageSource(`store:${img.name}`, this.layout, img.descriptor);
  }

  /**
   * Starts an all-or-nothing write of one or more images: it holds the store lock until commit or
   * rollback; commit names every image at once, rollback removes every blob it added.
   */
  async transaction(opts: TransactionOptions = {}): Promise<StoreTransaction> {
    await this.lock.acquire();
    return new StoreTransaction(this, () => this.lock.release(), opts);
  }

  /**
   * A destination that names the image `ref` when committed. If it is not committed, the blobs it
   * wrote are removed, unless `keepBlobs` (a pull: a re-run then resumes from the verified blobs).
   */
  async destination(ref: string, opts: TransactionOptions = {}): Promise<ImageDestination> {
    const tx = await this.transaction(opts);
    return tx.destination(ref, { commitsTransaction: true });
  }

  /** Gives the image `src` the extra names `targets`. */
  async tag(src: string, targets: readonly string[]): Promise<string[]> {
    const names = targets.map((t) => formatImageRef(parseImageRef(t)));
    return this.withLock(async () => {
      const img = await this.get(src);
      let index = await this.layout.readIndex();
      for (const name of names) index = withName(index, name, img.descriptor);
      await this.layout.writeIndex(index);
      return names;
    });
  }

  /**
   * Removes names, then the blobs nothing references any more. A reference removes that name;
   * an ID removes every name it has, which needs `force` when there are several.
   */
  async remove(refsOrIds: readonly string[], opts: { force?: boolean; all?: boolean } = {}): Promise<string[]> {
    return this.withLock(async () => {
      const index = await this.layout.readIndex();
      const doomed = new Set<string>();
      if (opts.all) for (const img of await this.list()) doomed.add(img.name);
      for (const r of refsOrIds) {
        const found = await this.find(r);
        if (found.length === 0) throw new OciError('IMAGE_UNKNOWN', `image ${r} is not in the local store`);
        if (found.length > 1 && !opts.force)
          throw new OciError('IMAGE_UNKNOWN', `image ${r} has ${found.length} names: ${found.map((f) => f.name).join(', ')}`, {
            hint: 'remove them by name, or use -f to remove them all',
          });
        for (const f of found) doomed.add(f.name);
      }
      const kept = index.manifests.filter((m) => !doomed.has(m.annotations?.[REF_NAME] ?? ''));
      await this.layout.writeIndex({ ...index, manifests: kept });
      await this.collectGarbage();
      return [...doomed];
    });
  }

  /** Deletes blobs no named image reaches, and temp files of processes that are gone. Takes the lock. */
  async collectGarbage(): Promise<{ removedBlobs: number }> {
    return this.withLock(async () => {
      const live = await this.reachable(await this.layout.readIndex());
      let removedBlobs = 0;
      for (const d of await listBlobDigests(this.layout)) {
        if (live.has(d)) continue;
        await rm(this.layout.blobPath(d), { force: true });
        removedBlobs++;
      }
      await this.removeOrphanTemps();
      return { removedBlobs };
    });
  }

  /** Every blob digest reachable from the index: manifests, indexes, configs, layers. */
  async reachable(index: Index): Promise<Set<Digest>> {
    const live = new Set<Digest>();
    const visit = async (d: Descriptor): Promise<void> => {
      if (live.has(d.digest)) return;
      live.add(d.digest);
      if (!(await this.layout.hasBlob(d))) return;
      const bytes = await this.layout.readManifestBlob(d.digest);
      if (isIndex(d.mediaType)) for (const c of parseIndex(bytes).manifests) await visit(c);
      else {
        const m = parseManifest(bytes);
        for (const b of [m.config, ...m.layers]) live.add(b.digest);
      }
    };
    for (const d of index.manifests) await visit(d);
    return live;
  }

  private async removeOrphanTemps(): Promise<void> {
    for (const name of await readdir(this.layout.tmpDir)) {
      const pid = Number.parseInt(/-(\d+)-[0-9a-f-]{36}$/.exec(name)?.[1] ?? '', 10);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      if (!isAlive(pid)) await rm(join(this.layout.tmpDir, name), { force: true });
    }
  }

  /** Sum of the blob sizes of an image (manifest, config, layers; for an index, all of its children). */
  async sizeOf(desc: Descriptor): Promise<number> {
    let total = 0;
    for (const d of await this.reachable({ schemaVersion: 2, manifests: [desc] })) {
      total += await stat(this.layout.blobPath(d)).then((s) => s.size, () => 0);
    }
    return total;
  }
}

export interface TransactionOptions {
  /**
   * Keep the blobs of an uncommitted write: each was verified before it was renamed into place, so a
   * re-run skips them; nothing names them, so the next garbage collection removes them if unused.
   */
  readonly keepBlobs?: boolean;
}

/** See Store.transaction(). */
export class StoreTransaction {
  private readonly added = new Set<Digest>();
  private index: Index | undefined;
  private done = false;

  constructor(
    private readonly store: Store,
    private readonly release: () => Promise<void>,
    private readonly opts: TransactionOptions,
  ) {}

  /**
   * A destination whose commit stages the name; with `commitsTransaction` its commit also commits this
   * transaction and its close rolls back whatever was not committed.
   */
  destination(ref: string, opts: { commitsTransaction?: boolean } = {}): ImageDestination {
    const name = formatImageRef(parseImageRef(ref));
    return new LayoutImageDestination(`store:${name}`, this.store.layout, {
      onWrite: (d) => this.added.add(d),
      onCommit: async (top) => {
        this.index = withName(this.index ?? (await this.store.layout.readIndex()), name, top);
        if (opts.commitsTransaction) await this.commit();
      },
      onClose: async () => {
        if (opts.commitsTransaction) await this.rollback();
      },
    });
  }

  /** Names every committed image at once; blobs of images never committed are removed. */
  async commit(): Promise<void> {
    if (this.done) return;
    try {
      if (this.index !== undefined) await this.store.layout.writeIndex(this.index);
    } catch (err) {
      await this.rollback();
      throw err;
    }
    this.index = undefined;
    await this.finish();
  }

  /** Drops staged names and (unless keepBlobs) every blob this transaction added; releases the lock. No-op after commit. */
  async rollback(): Promise<void> {
    if (this.done) return;
    this.index = undefined;
    if (this.opts.keepBlobs) this.added.clear();
    await this.finish();
  }

  private async finish(): Promise<void> {
    this.done = true;
    try {
      if (this.added.size > 0) {
        const live = await this.store.reachable(await this.store.layout.readIndex());
        for (const d of this.added) if (!live.has(d)) await rm(this.store.layout.blobPath(d), { force: true });
      }
    } finally {
      await this.release();
    }
  }
}
