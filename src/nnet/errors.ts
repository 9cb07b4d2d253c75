/** Typed errors of the nnet stage (backends, models, checkpoints). */
import { AmDistillError, type ErrorLocation } from '../util/errors.ts';

type Opts = ErrorLocation & { expected?: string; found?: string; cause?: unknown };

/**
 * A compute backend that was asked for (`backend: 'tfjs-node'`, `--backend wasm`) cannot be used:
 * the package is not installed, its native library failed to load, or it registered no backend.
 */
export class BackendUnavailableError extends AmDistillError {
  /** The backend that was asked for. */
  readonly backend: string;
  constructor(backend: string, message: string, opts: Opts = {}) {
    super('E_BACKEND', `backend '${backend}' is not available: ${message}`, opts);
    this.backend = backend;
  }
}

/** A model directory or checkpoint that is missing files, malformed, or does not fit the data. */
export class ModelError extends AmDistillError {
  constructor(message: string, opts: Opts = {}) {
    super('E_MODEL', message, opts);
  }
}
