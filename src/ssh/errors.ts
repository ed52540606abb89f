/** Errors of the ssh module: every message starts with the host it concerns. */
import { SealosError } from '../errors.js';

export type SshCode =
  | 'SSH_CONNECT'
  | 'SSH_AUTH'
  | 'SSH_HOSTKEY'
  | 'SSH_EXIT'
  | 'SSH_TIMEOUT'
  | 'SSH_CHECKSUM'
  | 'SSH_SUDO'
  | 'SSH_UPLOAD'
  | 'SSH_FAILED_HOSTS';

export interface SshErrorOptions {
  readonly hint?: string;
  readonly cause?: unknown;
  /** Exit status of the remote command, for SSH_EXIT. */
  readonly exitCode?: number;
  /** Full stderr of the remote command; the message keeps at most its first 200 characters. */
  readonly stderr?: string;
}

export class SshError extends SealosError {
  declare readonly code: SshCode;
  readonly host: string;
  readonly exitCode: number | undefined;
  readonly stderr: string | undefined;
  constructor(code: SshCode, host: string, message: string, opts: SshErrorOptions = {}) {
    super(code, `${host}: ${message}`, { hint: opts.hint, cause: opts.cause });
    this.host = host;
    this.exitCode = opts.exitCode;
    this.stderr = opts.stderr;
  }
}

/** A host list that cannot be parsed (a usage error, so the CLI exits 2). */
export class HostListError extends SealosError {
  constructor(message: string) {
    super('BAD_HOST_LIST', message, { hint: 'hosts are ip, ip:port, a.b.c.d-a.b.c.e or a CIDR, separated by commas' });
  }
}
