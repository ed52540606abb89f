/**
 * Flags and settings several command groups share: booleans and counts, `-q`, and the registry flags
 * (`--tls-verify`, `--authfile`, `--cert-dir`) resolved into RegistryOptions at the edge.
 *
 * Credentials: `login` writes `--authfile`, else `$REGISTRY_AUTH_FILE`, else `~/.config/containers/auth.json`
 * (`$XDG_CONFIG_HOME` honoured), mode 0600. That path survives reboots, unlike podman's default under
 * `$XDG_RUNTIME_DIR` (a tmpfs, and unset in root's non-login SSH sessions where sealos usually runs).
 * Reading tries `$XDG_RUNTIME_DIR/containers/auth.json` first (podman's and skopeo's logins), then that file,
 * then `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { SealosError } from '../errors.js';
import type { Credentials, RegistryOptions } from '../registry/index.js';
import type { Reporter } from '../report.js';
import type { CliContext } from './context.js';

/** Per-host certs directories read when `--cert-dir` is not given, as containers/image does. */
const SYSTEM_CERT_DIRS = ['/etc/containers/certs.d', '/etc/docker/certs.d'];

export interface AuthFilePaths {
  /** Read in order; the first match wins. */
  readonly read: readonly string[];
  /** Where login and logout write. */
  readonly write: string;
}

/** Resolves the auth files from `--authfile` and the environment (see the module comment). */
export function authFilePaths(env: NodeJS.ProcessEnv, authfile?: string): AuthFilePaths {
  const home = env.HOME || homedir();
  const docker = join(env.DOCKER_CONFIG || join(home, '.docker'), 'config.json');
  const explicit = authfile ?? (env.REGISTRY_AUTH_FILE || undefined);
  if (explicit !== undefined) return { read: [explicit, docker], write: explicit };
  const write = join(env.XDG_CONFIG_HOME || join(home, '.config'), 'containers', 'auth.json');
  const runtime = env.XDG_RUNTIME_DIR ? [join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json')] : [];
  return { read: [...runtime, write, docker], write };
}

/** The registry flags as commander hands them over. */
export interface RegistryFlags {
  readonly tlsVerify: boolean;
  readonly authfile?: string;
  readonly certDir?: string;
}

/** A `--flag [bool]` value: absent or `true` is true, `false` is false, anything else a usage error. */
export const parseBool =
  (flag: string) =>
  (v: string | undefined): boolean => {
    if (v === undefined || v === 'true') return true;
    if (v === 'false') return false;
    throw new SealosError('USAGE', `--${flag}: expected true or false, got "${v}"`);
  };

/** A `--flag N` value that must be a positive integer. */
export const positiveInt =
  (flag: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new SealosError('USAGE', `--${flag}: expected a positive integer, got "${v}"`);
    return n;
  };

export const jobsOption = () => new Option('-j, --jobs <n>', 'parallel blob copies').argParser(positiveInt('jobs'));

/** Adds `--tls-verify`, `--authfile` and `--cert-dir` to a command. */
export function addRegistryFlags(cmd: Command, authfileHelp = 'credentials file (default: see `sealos login --help`)'): Command {
  return cmd
    .addOption(
      new Option('--tls-verify [bool]', 'verify TLS certificates and require HTTPS (loopback registries never need it)')
        .argParser(parseBool('tls-verify'))
        .default(true),
    )
    .option('--authfile <file>', authfileHelp)
    .option('--cert-dir <dir>', 'certificates for the registries: *.crt CAs, NAME.cert + NAME.key client pair');
}

/** The RegistryOptions the registry flags and the environment give. */
export function registryOptions(c: CliContext, o: RegistryFlags, credentials?: Credentials): RegistryOptions {
  return {
    authFiles: authFilePaths(c.env, o.authfile).read,
    tlsVerify: o.tlsVerify,
    ...(o.certDir !== undefined ? { certDir: o.certDir } : {}),
    systemCertDirs: SYSTEM_CERT_DIRS,
    userAgent: 'sealos-ts/0.1',
    ...(credentials !== undefined ? { credentials } : {}),
  };
}

/** The reporter for `-q`: no progress, but warnings and errors still go out, and the answer. */
export function quietly(r: Reporter, quiet: boolean | undefined): Reporter {
  if (!quiet) return r;
  return { emit: (e) => (e.kind === 'log' && (e.level === 'error' || e.level === 'warn') ? r.emit(e) : undefined), result: (s) => r.result(s) };
}
