import { SealosError } from '../errors.js';

/** Stable codes of build failures. */
export type BuildCode =
  /** The Kubefile cannot be read as Dockerfile syntax: bad quoting, JSON, flags, an unknown instruction. */
  | 'BUILD_SYNTAX'
  /** No Kubefile, Sealfile, Dockerfile or Containerfile in the context, or `-f` names a missing file. */
  | 'BUILD_NO_FILE'
  /** A COPY/ADD source is missing, escapes the context, or cannot be read. */
  | 'BUILD_SOURCE'
  /** An instruction that needs something this builder does not have (RUN, ADD of a URL). */
  | 'BUILD_UNSUPPORTED'
  /** A base image (FROM, COPY --from) cannot be found or read. */
  | 'BUILD_BASE'
  /** A container image named in the context could not be captured into registry/. */
  | 'BUILD_CAPTURE'
  /** A flag of the build command is invalid (a --label without =, an empty tag). */
  | 'BUILD_USAGE';

/** Errors of `sealos build`. Kubefile errors start with `FILE:LINE: `. */
export class BuildError extends SealosError {
  declare readonly code: BuildCode;
  constructor(code: BuildCode, message: string, opts?: { hint?: string; cause?: unknown }) {
    super(code, message, opts);
  }
}

/** Where an instruction came from, for messages. */
export interface SourcePos {
  readonly file: string;
  readonly line: number;
}

export const at = (pos: SourcePos): string => `${pos.file}:${pos.line}`;
