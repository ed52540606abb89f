/**
 * The full transport table: the OCI module's transports plus `docker://REF` and `registry-dir:DIR[:REF]`.
 * The registry transports take their options from a RegistryLocationContext resolved at the CLI edge.
 */
import { ociTransports, parseLocation, splitPathRef, type ImageLocation, type LocationContext, type Transport } from '../oci/index.js';
import { DockerLocation, parseDockerRest } from './docker-location.js';
import { Registries, type RegistryOptions } from './registries.js';
import { RegistryDirLocation } from './registry-dir.js';

export interface RegistryLocationContext extends LocationContext, RegistryOptions {
  /**
   * The connections of this command, shared by every location parsed with this context so pings, tokens and
   * known blob locations are reused; the caller closes it. When absent, one is made per context object
   * from the options above.
   */
  readonly registries?: Registries;
}

const pools = new WeakMap<object, Registries>();

/** The Registries a context uses: its own, or one made once per context object. */
export function registriesOf(ctx: RegistryLocationContext): Registries {
  if (ctx.registries !== undefined) return ctx.registries;
  let r = pools.get(ctx);
  if (r === undefined) pools.set(ctx, (r = new Registries(ctx)));
  return r;
}

export const dockerTransport: Transport = {
  name: 'docker',
  parse: (rest, ctx) => {
    const ref = parseDockerRest(rest);
    const registries = registriesOf(ctx as RegistryLocationContext);
    return new DockerLocation(ref, () => registries.client(ref.domain));
  },
};

export const registryDirTransport: Transport = {
  name: 'registry-dir',
  parse: (rest) => {
    const { path, ref } = splitPathRef(rest, 'registry-dir');
    return new RegistryDirLocation(path, ref);
  },
};

/** Every transport, by name. */
export const transports: ReadonlyMap<string, Transport> = new Map([
  ...ociTransports,
  [dockerTransport.name, dockerTransport],
  [registryDirTransport.name, registryDirTransport],
]);

/** Parses any location (`docker://…`, `registry-dir:…`, `oci:…`, `store:…`; a bare name is a store reference). */
export function parseAnyLocation(s: string, ctx: RegistryLocationContext): ImageLocation {
  return parseLocation(s, ctx, transports);
}
