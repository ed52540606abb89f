/**
 * The layer cache: `<storeRoot>/cache/build-layers.json`, a map from a key (the parent layers, the
 * instruction as expanded, and the content and metadata of every source file) to the layer blob it
 * produced. Layers live in the store's blobs like any other; an entry is a weak reference: it is
 * used only while its blob is still in the store, so `sealos rmi` (and its garbage collection)
 * frees the space and the next build simply makes the layer again. The file is rewritten under
 * the store lock when a build commits; at most MAX_ENTRIES recent entries are kept.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseDigest, writeAtomic, type Digest, type Store } from '../oci/index.js';

/** Entries kept; the least recently used go first. */
export const MAX_CACHE_ENTRIES = 5000;

export interface CachedLayer {
  readonly digest: Digest;
  readonly diffId: Digest;
  readonly size: number;
  readonly mediaType: string;
  /** Milliseconds since the epoch of the last build that used it. */
  readonly usedMs: number;
}

export class LayerCache {
  private readonly added = new Map<string, CachedLayer>();

  private constructor(
    private readonly store: Store,
    private readonly entries: Map<string, CachedLayer>,
  ) {}

  static path(store: Store): string {
    return join(store.root, 'cache', 'build-layers.json');
  }

  /** Loads the cache; a missing or unreadable file is an empty cache. */
  static async load(store: Store): Promise<LayerCache> {
    const entries = new Map<string, CachedLayer>();
    try {
      const v: unknown = JSON.parse(await readFile(LayerCache.path(store), 'utf8'));
      const layers = (v as { layers?: unknown }).layers;
      if (typeof layers === 'object' && layers !== null)
        for (const [k, e] of Object.entries(layers as Record<string, unknown>)) {
          const c = e as Record<string, unknown>;
          try {
            entries.set(k, {
              digest: parseDigest(String(c.digest)),
              diffId: parseDigest(String(c.diffId)),
              size: Number(c.size),
              mediaType: String(c.mediaType),
              usedMs: Number(c.usedMs) || 0,
            });
          } catch {
            // A damaged entry is a miss.
          }
        }
    } catch {
      // No cache yet.
    }
    return new LayerCache(store, entries);
  }

  /** The cached layer for `key` if its blob is still in the store. */
  async lookup(key: string): Promise<CachedLayer | undefined> {
    const e = this.added.get(key) ?? this.entries.get(key);
    if (e === undefined) return undefined;
    return (await this.store.layout.hasBlob(e)) ? e : undefined;
  }

  /** Records a layer made or reused by this build; written by save(). */
  remember(key: string, layer: Omit<CachedLayer, 'usedMs'>): void {
    this.added.set(key, { ...layer, usedMs: Date.now() });
  }

  /** Merges this build's entries into the file on disk. Call holding the store lock. */
  async save(): Promise<void> {
    if (this.added.size === 0) return;
    await mkdir(dirname(LayerCache.path(this.store)), { recursive: true });
    const current = await LayerCache.load(this.store);
    const all = new Map([...current.entries, ...this.added]);
    const kept = [...all.entries()].sort((a, b) => b[1].usedMs - a[1].usedMs).slice(0, MAX_CACHE_ENTRIES);
    await writeAtomic(LayerCache.path(this.store), JSON.stringify({ version: 1, layers: Object.fromEntries(kept) }), {
      tmpDir: this.store.layout.tmpDir,
    });
  }
}
