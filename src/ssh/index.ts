/** The ssh module: sessions to hosts, commands as root, pinned host keys, uploads and fan-out. */

/** Errors of this module (codes SSH_*), and the usage error of a bad host list. */
export { SshError, HostListError, type SshCode, type SshErrorOptions } from './errors.js';
/** The one builder of remote commands: quote each argument, mark reviewed shell syntax, wrap for root. */
export { quote, cmd, raw, and, asRoot, type Shell, type SudoMode } from './command.js';
/** sealos host lists (`ip`, `ip:port`, ranges, CIDRs) and how a host is named in messages. */
export { parseHostList, formatHost, type HostAddress } from './host-list.js';
/** Host keys pinned in an OpenSSH known_hosts file, trusted on first use. */
export { KnownHosts, knownHostsLine, keyTypeOf, type HostKey, type HostKeyVerdict } from './known-hosts.js';
/** One reused connection to one host: run commands, as root when asked, with timeouts. */
export {
  SshSession,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_RETRIES,
  DEFAULT_RETRY_DELAY_MS,
  DEFAULT_CHANNELS_PER_CONNECTION,
  type SshAuth,
  type HostKeyPolicy,
  type ConnectOptions,
  type RunOptions,
  type RunResult,
} from './session.js';
/** Many hosts: cached sessions, an optional bastion, bounded concurrency, per-host outcomes. */
export { SshFleet, valuesOrThrow, DEFAULT_HOST_JOBS, type FleetOptions, type HostOutcome } from './fleet.js';
/** A local tree's entries with modes, sizes and sha256 sums. */
export { scanTree, hashFile, type TreeEntry, type TreeManifest } from './manifest.js';
/** Upload a tree or a file to many hosts: relay through hosts, resume, skip what is unchanged. */
export { uploadTree, type UploadOptions, type UploadResult } from './fanout.js';
/** Bytes per resumable chunk and the size from which files are sent in chunks. */
export { CHUNK_BYTES, CHUNK_JOBS } from './upload.js';
/** Files at least this big are sent in parallel resumable chunks. */
export { LARGE_FILE_BYTES } from './remote-tree.js';
