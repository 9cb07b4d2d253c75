/**
 * Word spans for constrained forced alignment, from a supervision's reference word timings
 * (`alignment.word`: FSDD connected digits' joined takes, TIMIT .wrd, MFA/lhotse alignments).
 *
 * Frame t covers [t * shift + offset, (t + 1) * shift + offset) with offset = (length - shift) / 2,
 * the convention of src/align/score.ts (Kaldi snip-edges framing: a boundary lies midway between
 * two frames' centres). Word w may take frame t when the frame's centre lies within its reference
 * span widened by `collarSec` on both sides:
 *   first = ceil((start - collar - offset) / shift - 0.5), last = floor((end + collar - offset) / shift - 0.5),
 * clipped to the utterance. Reference times are relative to the recording; `offsetSec` (the
 * supervision's start in it) is subtracted.
 */
import type { TimedSymbol } from '../corpus/types.ts';
import type { WordSpans } from '../hmm/align.ts';
import type { FrameTiming } from './score.ts';

export interface SpanOptions extends FrameTiming {
  /** Widening of each reference span on both sides, seconds. */
  collarSec: number;
}

/** Why an utterance's reference timings give no spans (counted, the utterance aligns without them). */
export type SpanMismatch = 'word count' | 'word symbols' | 'span outside the audio';

/** Spans per transcript word, or the reason the reference cannot constrain this transcript. */
export function referenceWordSpans(
  reference: readonly TimedSymbol[],
  words: readonly string[],
  offsetSec: number,
  numFrames: number,
  opts: SpanOptions,
): WordSpans | { mismatch: SpanMismatch } {
  if (reference.length !== words.length) return { mismatch: 'word count' };
  const shift = opts.frameShiftMs / 1000;
  const offset = opts.frameOffsetSec ?? (opts.frameLengthMs - opts.frameShiftMs) / 2000;
  const first = new Int32Array(words.length),
    last = new Int32Array(words.length);
  // A tolerance of a microsecond against float noise in times given to the sample.
  const eps = 1e-6 / shift;
  for (let i = 0; i < words.length; i++) {
    const r = reference[i];
    if (r.symbol.toUpperCase() !== words[i].toUpperCase()) return { mismatch: 'word symbols' };
    const start = r.startSec - offsetSec - opts.collarSec;
    const end = r.startSec + r.durationSec - offsetSec + opts.collarSec;
    const f = Math.max(0, Math.ceil((start - offset) / shift - 0.5 - eps));
    const l = Math.min(numFrames - 1, Math.floor((end - offset) / shift - 0.5 + eps));
    if (f > l) return { mismatch: 'span outside the audio' };
    first[i] = f;
    last[i] = l;
  }
  return { first, last };
}

/** Counts of a split's utterances by what their reference timings gave the aligner. */
export class SpanCounter {
  /** Utterances aligned within their spans. */
  kept = 0;
  /** Utterances with spans that no path kept to: aligned without them. */
  dropped = 0;
  /** Utterances without reference timings. */
  noReference = 0;
  /** Reference timings that do not fit the transcript or audio, by reason. */
  readonly mismatched = new Map<SpanMismatch, number>();

  mismatch(reason: SpanMismatch): void {
    this.mismatched.set(reason, (this.mismatched.get(reason) ?? 0) + 1);
  }

  summary(): SpanSummary {
    return {
      kept: this.kept,
      dropped: this.dropped,
      noReference: this.noReference,
      mismatched: Object.fromEntries([...this.mismatched].sort((a, b) => (a[0] < b[0] ? -1 : 1))),
    };
  }
}

export interface SpanSummary {
  kept: number;
  dropped: number;
  noReference: number;
  mismatched: Partial<Record<SpanMismatch, number>>;
}
