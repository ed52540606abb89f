/** The registry module's public face: the distribution-spec client, registry locations, credentials. */
/** Errors from registries and registry directories, and URL redaction for messages. */
export { RegistryError, redactUrl, type RegistryCode, type RegistryErrorOptions } from './errors.js';
/** Credentials in containers auth.json and Docker config.json files. */
export {
  findCredentials,
  saveCredentials,
  removeCredentials,
  removeAllCredentials,
  hasCredentials,
  normalizeAuthKey,
  type Credentials,
} from './auth-file.js';
/** WWW-Authenticate parsing and token scopes. */
export { parseChallenge, repoScope, type Challenge } from './auth.js';
/** Loopback detection and certs directories. */
export { isLoopbackHost, tlsMaterialFor, type TlsMaterial } from './tls.js';
/** The client: per-command connections, and one registry's operations. */
export {
  Registries,
  DEFAULT_CHUNK_BYTES,
  DEFAULT_RETRIES,
  DEFAULT_RETRY_BASE_MS,
  type RegistryOptions,
} from './registries.js';
export { RegistryClient, MANIFEST_ACCEPT, type UploadSession } from './client.js';
/** `docker://REF` as source and destination. */
export { DockerLocation, DockerImageSource, DockerImageDestination, parseDockerRest } from './docker-location.js';
/** The docker-distribution storage layout (a cluster image's registry/ directory). */
export { RegistryDir, RegistryDirLocation, listRegistryDir, registryDirName, type RegistryDirImage } from './registry-dir.js';
/** The full transport table and the location parser for every transport. */
export {
  transports,
  parseAnyLocation,
  registriesOf,
  dockerTransport,
  registryDirTransport,
  type RegistryLocationContext,
} from './locations.js';
