import { SealosError } from '../errors.js';

export type OciCode =
  | 'BAD_DIGEST'
  | 'BAD_REFERENCE'
  | 'BAD_MANIFEST'
  | 'BAD_LOCATION'
  | 'DIGEST_MISMATCH'
  | 'BLOB_TOO_LONG'
  | 'BLOB_UNKNOWN'
  | 'IMAGE_UNKNOWN'
  | 'MANIFEST_TOO_BIG'
  | 'BAD_ARCHIVE'
  | 'UNSAFE_PATH'
  | 'STORE_LOCKED'
  | 'NO_PLATFORM';

/** Errors about images, their parts, the store and archives. */
export class OciError extends SealosError {
  declare readonly code: OciCode;
  constructor(code: OciCode, message: string, opts?: { hint?: string; cause?: unknown }) {
    super(code, message, opts);
  }
}
