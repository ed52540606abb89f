/** The build module's public face: Kubefile parsing, the build executor, image discovery and capture. */
/** Errors of `sealos build`, with stable codes. */
export { BuildError, type BuildCode } from './errors.js';
/** The Kubefile reader (Dockerfile syntax) and the names a context's instruction file may have. */
export { parseKubefile, type Instruction, type Kubefile } from './parse.js';
export { KUBEFILE_NAMES, locateKubefile } from './kubefile-file.js';
/** Docker's word expansion rules, for callers that render Kubefile-style values. */
export { expandWord, expandWords } from './words.js';
/** `.dockerignore` rules and Docker path patterns. */
export { IgnoreRules, compilePattern } from './patterns.js';
/** Building an image into the store. */
export { buildImage, type BuildOptions, type BuildResult } from './build.js';
/** The layer cache file under the store root. */
export { LayerCache, MAX_CACHE_ENTRIES } from './cache.js';
/** Finding image references in a context, and capturing them into its registry/ directory. */
export { discoverImages, discoverArchives, type FoundImage, type FoundArchive } from './discover.js';
export { captureImages, CAPTURE_LIST, DEFAULT_MAX_PULL_PROCS, type CapturedImage, type CaptureResult } from './capture.js';
