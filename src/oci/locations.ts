/**
 * Locations of images: `store:REF`, `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`, `docker-archive:FILE[:REF]`.
 * Each transport parses its part once into an immutable value; `String(loc)` parses back to it.
 * The table is explicit; src/registry/locations.ts adds the registry transports to it.
 */
import { resolve } from 'node:path';
import { OciLayout } from './layout.js';
import { findNamed, LayoutImageDestination, LayoutImageSource, withName } from './layout-image.js';
import { splitPathRef, type ImageDestination, type ImageLocation, type ImageSource, type LocationContext, type Transport } from './location.js';
import { dockerArchiveTransport, ociArchiveTransport } from './archives.js';
import { normalizeRef } from './reference.js';
import { Store } from './store.js';

class StoreLocation implements ImageLocation {
  readonly transport = 'store';
  constructor(
    readonly ref: string,
    private readonly ctx: LocationContext,
  ) {}
  toString(): string {
    return `store:${this.ref}`;
  }
  async openSource(): Promise<ImageSource> {
    return (await Store.open(this.ctx.storeRoot, { reporter: this.ctx.reporter })).source(this.ref);
  }
  async openDestination(): Promise<ImageDestination> {
    // A copy into the store (a pull) keeps its verified blobs when it fails, so a re-run resumes.
    return (await Store.open(this.ctx.storeRoot, { reporter: this.ctx.reporter })).destination(this.ref, { keepBlobs: true });
  }
}

class OciDirLocation implements ImageLocation {
  readonly transport = 'oci';
  constructor(
    readonly dir: string,
    readonly ref: string | undefined,
  ) {}
  toString(): string {
    return `oci:${this.dir}${this.ref !== undefined ? `:${this.ref}` : ''}`;
  }
  async openSource(): Promise<ImageSource> {
    const layout = new OciLayout(resolve(this.dir));
    const top = findNamed(await layout.readIndex(), this.ref, String(this));
    return new LayoutImageSource(String(this), layout, top);
  }
  async openDestination(): Promise<ImageDestination> {
    const layout = new OciLayout(resolve(this.dir));
    await layout.init();
    const name = this.ref;
    return new LayoutImageDestination(String(this), layout, {
      onCommit: async (top) => {
        const index = await layout.readIndex();
        await layout.writeIndex(name === undefined ? { ...index, manifests: [...index.manifests, top] } : withName(index, name, top));
      },
    });
  }
}

export const storeTransport: Transport = {
  name: 'store',
  parse: (rest, ctx) => new StoreLocation(normalizeRef(rest), ctx),
};

export const ociDirTransport: Transport = {
  name: 'oci',
  parse: (rest) => {
    const { path, ref } = splitPathRef(rest, 'oci');
    return new OciDirLocation(path, ref);
  },
};

/** Parses `transport:rest`; text without a known transport prefix is a store reference. */
export function parseLocation(s: string, ctx: LocationContext, transports: ReadonlyMap<string, Transport>): ImageLocation {
  const i = s.indexOf(':');
  const t = i > 0 ? transports.get(s.slice(0, i)) : undefined;
  if (t === undefined) return storeTransport.parse(s, ctx);
  return t.parse(s.slice(i + 1), ctx);
}

/** The transports this module implements, by name. */
export const ociTransports: ReadonlyMap<string, Transport> = new Map([
  [storeTransport.name, storeTransport],
  [ociDirTransport.name, ociDirTransport],
  [ociArchiveTransport.name, ociArchiveTransport],
  [dockerArchiveTransport.name, dockerArchiveTransport],
]);
