/**
 * Alignment quality against reference word timings (espeak events for the synth corpus, the
 * joined takes of FSDD connected digits, PocketSphinx word alignments): the share of word
 * boundaries the forced alignment puts within a tolerance of the reference.
 *
 * Boundaries: every reference word contributes two, its start and its end, each compared with
 * the start / end of the same word (same index in the transcript) in the alignment. Where two
 * words touch, that boundary is counted twice (once as an end, once as a start), so an optional
 * silence the aligner inserts between them shows as one error, as in the usual word-boundary
 * evaluations of forced aligners.
 *
 * Frame times: frame t covers [t * shift, t * shift + length) (Kaldi snip-edges framing), so the
 * boundary between frames t - 1 and t lies midway between their centres, at
 * t * shift + (length - shift) / 2 (7.5 ms for 25 / 10 ms frames). `frameOffsetSec` overrides
 * that (0 gives Kaldi's CTM convention, t * shift).
 */
import type { TimedSymbol } from '../corpus/types.ts';
import { readSplit } from '../corpus/manifest.ts';
import { ConfigError, CorpusError, SkipCounter } from '../util/errors.ts';
import { readAlignmentFile, readAlignmentMetadata } from './store.ts';
import { vtlpSourceId } from '../features/perturb.ts';

/** A word span in seconds from the start of the utterance. */
export interface WordSpan {
  startSec: number;
  endSec: number;
}

export interface FrameTiming {
  frameShiftMs: number;
  frameLengthMs: number;
  /** Seconds added to t * shift for the boundary before frame t. Default (length - shift) / 2. */
  frameOffsetSec?: number;
}

/**
 * Word spans of an alignment from its per-frame word index (-1 = silence): word i spans its first
 * to its last frame. Returns one span per transcript word; a word with no frame gives null.
 */
export function alignedWordSpans(word: ArrayLike<number>, numWords: number, timing: FrameTiming): (WordSpan | null)[] {
  const shift = timing.frameShiftMs / 1000;
  const offset = timing.frameOffsetSec ?? (timing.frameLengthMs - timing.frameShiftMs) / 2000;
  const first = new Int32Array(numWords).fill(-1);
  const last = new Int32Array(numWords).fill(-1);
  for (let t = 0; t < word.length; t++) {
    const w = word[t];
    if (w < 0) continue;
    if (w >= numWords)
      throw new RangeError(`word index ${w} at frame ${t} is outside the transcript (${numWords} words)`);
    if (first[w] < 0) first[w] = t;
    last[w] = t;
  }
  const spans: (WordSpan | null)[] = [];
  for (let i = 0; i < numWords; i++) {
    // Boundary before frame t: t * shift + offset; a word's first boundary is 0 at the file start.
    spans.push(
      first[i] < 0
        ? null
        : { startSec: first[i] === 0 ? 0 : first[i] * shift + offset, endSec: (last[i] + 1) * shift + offset },
    );
  }
  return spans;
}

export interface BoundaryScoreOptions {
  /** Tolerances in seconds. Default [0.02, 0.05]. */
  tolerancesSec?: number[];
}

/** One utterance to score: reference words (times relative to the utterance start) and aligned spans. */
export interface BoundaryScoreInput {
  uttId: string;
  reference: readonly { symbol: string; startSec: number; durationSec: number }[];
  aligned: readonly (WordSpan | null)[];
}

export interface BoundaryScore {
  utterances: number;
  words: number;
  boundaries: number;
  within: { toleranceSec: number; count: number; percent: number }[];
  meanAbsErrorSec: number;
  medianAbsErrorSec: number;
  /** 90th percentile of the absolute boundary error. */
  p90AbsErrorSec: number;
  /** Word starts alone (each reference word's start against the aligned start), per tolerance. */
  startsWithin: { toleranceSec: number; count: number; percent: number }[];
  /** Word ends alone, per tolerance. */
  endsWithin: { toleranceSec: number; count: number; percent: number }[];
  /**
   * Median signed offsets, aligned minus reference, of word starts and of word ends (negative:
   * the alignment puts the boundary earlier). A reference that includes silence at its words'
   * edges shows as a start offset above 0 and an end offset below 0.
   */
  medianStartOffsetSec: number;
  medianEndOffsetSec: number;
  /** Utterances that could not be compared (word count differs, a word without frames). */
  skipped: ReturnType<SkipCounter['toJSON']>;
}

function withinTolerances(errors: readonly number[], tols: readonly number[]): BoundaryScore['within'] {
  // A tiny epsilon absorbs float noise of times that sit exactly on the tolerance.
  return tols.map((tol) => {
    const count = errors.filter((e) => e <= tol + 1e-9).length;
    return { toleranceSec: tol, count, percent: errors.length > 0 ? (100 * count) / errors.length : NaN };
  });
}

/** Percentage of word boundaries within each tolerance (see the module comment). */
export function scoreWordBoundaries(
  inputs: Iterable<BoundaryScoreInput>,
  opts: BoundaryScoreOptions = {},
): BoundaryScore {
  const tols = opts.tolerancesSec ?? [0.02, 0.05];
  for (const t of tols)
    if (!(t >= 0))
      throw new ConfigError('bad boundary tolerance', {
        keyPath: 'tolerancesSec',
        expected: 'seconds >= 0',
        found: String(t),
      });
  const skips = new SkipCounter();
  const errors: number[] = [];
  const startErrors: number[] = [];
  const startOffsets: number[] = [];
  const endOffsets: number[] = [];
  let utterances = 0,
    words = 0;
  for (const u of inputs) {
    if (u.reference.length !== u.aligned.length) {
      skips.skip(u.uttId, 'reference and alignment differ in word count');
      continue;
    }
    if (u.aligned.some((s) => s === null)) {
      skips.skip(u.uttId, 'a word has no aligned frame');
      continue;
    }
    u.reference.forEach((r, i) => {
      const h = u.aligned[i]!;
      const startOffset = h.startSec - r.startSec;
      const endOffset = h.endSec - (r.startSec + r.durationSec);
      errors.push(Math.abs(startOffset), Math.abs(endOffset));
      startErrors.push(Math.abs(startOffset));
      startOffsets.push(startOffset);
      endOffsets.push(endOffset);
    });
    utterances++;
    words += u.reference.length;
    skips.done++;
  }
  const sortedMedian = (s: Float64Array) => {
    const m = s.length;
    return m === 0 ? NaN : m % 2 === 1 ? s[(m - 1) / 2] : (s[m / 2 - 1] + s[m / 2]) / 2;
  };
  const median = (v: number[]) => sortedMedian(Float64Array.from(v).sort());
  const sorted = Float64Array.from(errors).sort();
  const q = (p: number) =>
    sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  const n = errors.length;
  return {
    utterances,
    words,
    boundaries: n,
    within: withinTolerances(errors, tols),
    meanAbsErrorSec: n > 0 ? errors.reduce((a, b) => a + b, 0) / n : NaN,
    medianAbsErrorSec: sortedMedian(sorted),
    p90AbsErrorSec: q(0.9),
    startsWithin: withinTolerances(startErrors, tols),
    endsWithin: withinTolerances(
      endOffsets.map((e) => Math.abs(e)),
      tols,
    ),
    medianStartOffsetSec: median(startOffsets),
    medianEndOffsetSec: median(endOffsets),
    skipped: skips.toJSON(),
  };
}

/** One utterance for the pause-frame check: reference words and the alignment's per-frame labels. */
export interface PauseScoreInput {
  uttId: string;
  reference: BoundaryScoreInput['reference'];
  /** Per-frame word index (-1 = silence) and phone id of the alignment. */
  word: ArrayLike<number>;
  phone: ArrayLike<number>;
}

export interface PauseScore {
  /** Frames whose centre lies outside every reference word (the reference's silence). */
  pauseFrames: number;
  /** Of those, frames the alignment gives to a word (a phone of the transcript, not silence). */
  pauseFramesInWords: number;
  /** pauseFramesInWords / pauseFrames. */
  pauseShareInWords: number;
  /** Frames whose centre lies inside a reference word. */
  wordFrames: number;
  /** Of those, frames the alignment labels silence. */
  wordFramesAsSilence: number;
  wordShareAsSilence: number;
  /** The phones that take the pause frames given to words, most first: frames, share of pauseFrames, and the share of all that phone's frames which are reference pause. */
  byPhone: { phone: string; pauseFrames: number; shareOfPauses: number; shareOfPhone: number }[];
}

/**
 * Frame-level check of silence against reference word timings: how many frames of the reference's
 * pauses the alignment gives to words, and which phones take them. Frame t covers
 * [t * shift, t * shift + length); its centre decides which side of a reference boundary it is on.
 * Utterances are added one at a time (counts only, so memory does not grow with the corpus).
 */
export class PauseFrameCounter {
  private readonly shift: number;
  private readonly half: number;
  private pauseFrames = 0;
  private pauseFramesInWords = 0;
  private wordFrames = 0;
  private wordFramesAsSilence = 0;
  private readonly pausesByPhone = new Map<number, number>();
  private readonly framesByPhone = new Map<number, number>();

  constructor(
    timing: FrameTiming,
    private readonly phones: readonly string[],
  ) {
    this.shift = timing.frameShiftMs / 1000;
    this.half = timing.frameLengthMs / 2000;
  }

  add(u: PauseScoreInput): void {
    if (u.word.length !== u.phone.length)
      throw new RangeError(`${u.uttId}: ${u.word.length} word labels but ${u.phone.length} phone labels`);
    const spans = u.reference.map((r) => [r.startSec, r.startSec + r.durationSec] as const);
    for (let t = 0; t < u.word.length; t++) {
      const c = t * this.shift + this.half;
      const inWord = spans.some(([a, b]) => c >= a && c < b);
      const aligned = u.word[t] >= 0;
      const ph = u.phone[t];
      this.framesByPhone.set(ph, (this.framesByPhone.get(ph) ?? 0) + 1);
      if (inWord) {
        this.wordFrames++;
        if (!aligned) this.wordFramesAsSilence++;
      } else {
        this.pauseFrames++;
        if (aligned) {
          this.pauseFramesInWords++;
          this.pausesByPhone.set(ph, (this.pausesByPhone.get(ph) ?? 0) + 1);
        }
      }
    }
  }

  result(): PauseScore {
    const { pauseFrames, pauseFramesInWords, wordFrames, wordFramesAsSilence } = this;
    const byPhone = [...this.pausesByPhone]
      .map(([id, n]) => ({
        phone: this.phones[id] ?? String(id),
        pauseFrames: n,
        shareOfPauses: pauseFrames > 0 ? n / pauseFrames : NaN,
        shareOfPhone: n / this.framesByPhone.get(id)!,
      }))
      .sort((a, b) => b.pauseFrames - a.pauseFrames || (a.phone < b.phone ? -1 : 1));
    return {
      pauseFrames,
      pauseFramesInWords,
      pauseShareInWords: pauseFrames > 0 ? pauseFramesInWords / pauseFrames : NaN,
      wordFrames,
      wordFramesAsSilence,
      wordShareAsSilence: wordFrames > 0 ? wordFramesAsSilence / wordFrames : NaN,
      byPhone,
    };
  }
}

/** PauseFrameCounter over a list of utterances. */
export function scorePauseFrames(
  inputs: Iterable<PauseScoreInput>,
  timing: FrameTiming,
  phones: readonly string[],
): PauseScore {
  const counter = new PauseFrameCounter(timing, phones);
  for (const u of inputs) counter.add(u);
  return counter.result();
}

/** Reference word timings of a supervision made relative to the supervision start. */
export function relativeReference(words: readonly TimedSymbol[], supervisionStartSec: number): TimedSymbol[] {
  return words.map((w) => ({
    symbol: w.symbol,
    startSec: w.startSec - supervisionStartSec,
    durationSec: w.durationSec,
  }));
}

export interface ScoreAlignmentFileOptions extends BoundaryScoreOptions {
  /** Frame length of the features, ms. Default 25 (the frame shift comes from the alignment file). */
  frameLengthMs?: number;
  frameOffsetSec?: number;
  /**
   * Reference word timings by utterance id (times from the utterance start). Default: the
   * supervisions' `alignment.word` of `<dataDir>/<split>`, made relative to the supervision start.
   */
  reference?: Map<string, TimedSymbol[]>;
}

/**
 * Score the word boundaries of an alignment file against reference timings, and its silence frame
 * by frame (`pauses`, see PauseFrameCounter). Aligned utterances without a reference are skipped
 * and counted ('no reference word timings').
 */
export async function scoreAlignmentFile(
  alignmentPath: string,
  dataDir: string | null,
  split: string,
  opts: ScoreAlignmentFileOptions = {},
): Promise<BoundaryScore & { pauses: PauseScore }> {
  const meta = await readAlignmentMetadata(alignmentPath);
  let reference = opts.reference;
  if (!reference) {
    if (!dataDir)
      throw new ConfigError('no reference word timings given', { expected: 'a data dir or a reference map' });
    reference = new Map();
    for (const s of (await readSplit(dataDir, split)).supervisions) {
      if (s.alignment?.word) reference.set(s.id, relativeReference(s.alignment.word, s.startSec));
    }
    if (reference.size === 0)
      throw new CorpusError('the split has no reference word timings', {
        file: `${dataDir}/${split}`,
        expected: "supervisions with 'alignment.word'",
        found: 'none',
      });
  }
  const timing: FrameTiming = {
    frameShiftMs: meta.frameShiftMs,
    frameLengthMs: opts.frameLengthMs ?? 25,
    frameOffsetSec: opts.frameOffsetSec,
  };
  const missing = new SkipCounter();
  const inputs: BoundaryScoreInput[] = [];
  // Pause frames: every aligned utterance with reference timings (a word-count mismatch does not matter here).
  const pauses = new PauseFrameCounter(timing, meta.phones);
  for await (const a of readAlignmentFile(alignmentPath)) {
    // A VTLP copy (src/features/perturb.ts) has its source's frames, hence its reference timings.
    const ref = reference.get(a.uttId) ?? reference.get(vtlpSourceId(a.uttId) ?? '');
    if (!ref) {
      missing.skip(a.uttId, 'no reference word timings');
      continue;
    }
    // Forced alignment gives every transcript word at least one frame: the word count is max + 1.
    let numWords = 0;
    for (let t = 0; t < a.word.length; t++) numWords = Math.max(numWords, a.word[t] + 1);
    inputs.push({ uttId: a.uttId, reference: ref, aligned: alignedWordSpans(a.word, numWords, timing) });
    pauses.add({ uttId: a.uttId, reference: ref, word: a.word, phone: a.phone });
  }
  const score = scoreWordBoundaries(inputs, opts);
  for (const r of missing.reasons()) score.skipped.reasons.push(r);
  score.skipped.skipped += missing.skipped;
  return { ...score, pauses: pauses.result() };
}

/** What the align stage's summary and the report keep of an alignment's quality against reference timings. */
export interface LabelQuality {
  utterances: number;
  boundaries: number;
  /** Word boundaries (starts and ends) within 20 and 50 ms, %. */
  boundariesWithin20ms: number;
  boundariesWithin50ms: number;
  /** Word starts within 20 and 50 ms, %. */
  startsWithin20ms: number;
  startsWithin50ms: number;
  /** Word ends within 50 ms, %. Absent in summaries written before 2026-12-07. */
  endsWithin50ms?: number;
  medianAbsErrorMs: number;
  /** Median signed offsets of word starts and ends, aligned minus reference, ms (BoundaryScore). Absent before 2026-12-07. */
  medianStartOffsetMs?: number;
  medianEndOffsetMs?: number;
  /** Reference pause frames the alignment gives to words, %; null when the reference has no pauses (e.g. isolated words). */
  pauseFramesInWords: number | null;
  /**
   * Silence-labelled frames that lie inside reference words (outside the pauses), % of all
   * silence-labelled frames; null when the reference has no pauses (every silence frame would count).
   */
  silenceOutsidePauses: number | null;
}

/** The label-quality summary of a scored alignment (tolerances 20 and 50 ms must have been scored); null without a scored boundary. */
export function labelQuality(score: BoundaryScore & { pauses: PauseScore }): LabelQuality | null {
  if (score.boundaries === 0) return null;
  const at = (w: BoundaryScore['within'], sec: number) =>
    w.find((x) => Math.abs(x.toleranceSec - sec) < 1e-9)?.percent ?? NaN;
  const p = score.pauses;
  const silence = p.wordFramesAsSilence + (p.pauseFrames - p.pauseFramesInWords);
  const r = (x: number) => Number(x.toFixed(2));
  const pauses = p.pauseFrames > 0;
  return {
    utterances: score.utterances,
    boundaries: score.boundaries,
    boundariesWithin20ms: r(at(score.within, 0.02)),
    boundariesWithin50ms: r(at(score.within, 0.05)),
    startsWithin20ms: r(at(score.startsWithin, 0.02)),
    startsWithin50ms: r(at(score.startsWithin, 0.05)),
    endsWithin50ms: r(at(score.endsWithin, 0.05)),
    medianAbsErrorMs: r(1000 * score.medianAbsErrorSec),
    medianStartOffsetMs: r(1000 * score.medianStartOffsetSec),
    medianEndOffsetMs: r(1000 * score.medianEndOffsetSec),
    pauseFramesInWords: pauses ? r(100 * p.pauseShareInWords) : null,
    silenceOutsidePauses: pauses ? r((100 * p.wordFramesAsSilence) / silence) : null,
  };
}
