/** Typed errors and per-utterance failures of the HMM stage. */
import { AmDistillError, type ErrorLocation } from '../util/errors.ts';

type Opts = ErrorLocation & { expected?: string; found?: string; cause?: unknown };

/** A context-dependency tree cannot answer: a phone it has no root for, or a phone it does not know. */
export class TreeError extends AmDistillError {
  constructor(message: string, opts: Opts = {}) {
    super('E_TREE', message, opts);
  }
}

/**
 * Why one utterance could not be aligned. Callers count these as skips (Kaldi's "Done N, failed M");
 * they are values, not exceptions, so one bad utterance never stops a corpus.
 */
export type AlignFailureReason =
  /** The transcript needs more frames than the audio has (each HMM state emits at least one frame). */
  | 'too-few-frames'
  /** No path survived the beam, not even with the retry beam. */
  | 'beam'
  /** The transcript has no words. */
  | 'empty-transcript'
  /** A transcript word has no pronunciation. */
  | 'oov'
  /** A phone of the transcript has no root in the context-dependency tree (no training data). */
  | 'phone-not-in-tree';

export interface AlignFailure {
  ok: false;
  uttId: string;
  reason: AlignFailureReason;
  /** Human-readable detail: numbers, words, beams. */
  message: string;
}

export function alignFailure(uttId: string, reason: AlignFailureReason, message: string): AlignFailure {
  return { ok: false, uttId, reason, message };
}
