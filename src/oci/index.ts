/** The OCI module's public face: spec types, digests, references, the store, locations and the copy engine. */
/** Errors about images, the store and archives. */
export { OciError, type OciCode } from './errors.js';
/** Spec types, media types and their parsers. */
export * from './spec.js';
/** sha256 digests of bytes and files. */
export { digestOf, digestFile, hexOf } from './digest.js';
/** The verifying stream wrapper, and a capped whole-stream reader. */
export { verified, readAll } from './verify.js';
/** Image references, parsed and normalized like Docker. */
export { parseImageRef, formatImageRef, normalizeRef, repositoryOf, withTag, type ImageRef, DEFAULT_DOMAIN } from './reference.js';
/** Platforms: the host's, parsing `os/arch[/variant]`, choosing one from an index. */
export { hostPlatform, parsePlatform, formatPlatform, platformMatches, choosePlatform } from './platform.js';
/** The two ends of an image move, and a parsed location. */
export { splitPathRef, type ImageSource, type ImageDestination, type DestinationCaps, type ImageLocation, type Transport, type LocationContext } from './location.js';
/** The copy engine. */
export { copyImage, DEFAULT_JOBS, type CopyOptions, type CopyResult } from './copy.js';
/** OCI layout directories and the images in them. */
export { OciLayout, REF_NAME } from './layout.js';
export { LayoutImageSource, LayoutImageDestination, findNamed, namesOf, withName, type LayoutHooks } from './layout-image.js';
/** The local image store. */
export { Store, StoreTransaction, type StoreImage, type StoreOptions, type TransactionOptions } from './store.js';
/** Atomic file writes (temp, fsync, rename). */
export { writeAtomic, tempName } from './atomic-file.js';
/** The location table for the OCI transports. */
export { parseLocation, storeTransport, ociDirTransport, ociTransports } from './locations.js';
/** Archives: transports, multi-image writers, format detection. */
export {
  createArchiveWriter,
  readArchive,
  materializeArchive,
  ociArchiveTransport,
  dockerArchiveTransport,
  type ArchiveFormat,
  type ArchiveWriter,
  type ArchivedImage,
} from './archives.js';
/** Tar headers and indexes, for layer writers. */
export { encodeTarHeader, paddingFor, indexTar, END_OF_ARCHIVE, BLOCK, type TarHeader, type TarEntryType, type IndexedEntry } from './tar.js';
export { TarFile, safeEntryName } from './tar-file.js';
/** save and load. */
export { saveImages, loadArchive, type SaveLoadOptions } from './save-load.js';
/** inspect. */
export { inspectImage, SEALOS_LABELS, type ImageInspection } from './inspect.js';
