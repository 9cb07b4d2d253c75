/**
 * The small interfaces the decoder is built against, so it can be tested on hand-made models and
 * synthetic scores, and fed from src/lang + src/hmm through ./adapters.ts.
 *
 * Phone ids are small non-negative integers; 0 means "no phone" (the utterance edge), as Kaldi's
 * `<eps>` in context-dependency lookups.
 */

/** One pronunciation: a word (index into `DecoderLexicon.words`) and its phone ids (>= 1). */
export interface DecoderPronunciation {
  word: number;
  phones: readonly number[];
}

/** Words and all their pronunciations, with phone ids of the acoustic model's phone set. */
export interface DecoderLexicon {
  /** Word symbols; a word id is an index. */
  words: readonly string[];
  prons: readonly DecoderPronunciation[];
}

/** One transition inside a phone HMM. `to === numStates` leaves the phone. */
export interface PhoneHmmArc {
  from: number;
  to: number;
  /** Log weight of the transition (natural log, already scaled as the caller wants). */
  logProb: number;
}

/** A phone HMM: emitting states 0..numStates-1, entered at state 0. */
export interface PhoneHmm {
  numStates: number;
  arcs: readonly PhoneHmmArc[];
}

/**
 * Acoustic context model: which senone (pdf) each HMM state of a phone in context emits, and the
 * phone's HMM. A monophone model ignores `left`/`right`.
 */
export interface PhoneContextModel {
  /** Phone ids are 1..numPhoneIds-1 (0 = no phone / utterance edge). */
  readonly numPhoneIds: number;
  /** Number of senones: pdf ids are 0..numPdfs-1. */
  readonly numPdfs: number;
  /** The optional-silence phone id. */
  readonly silencePhone: number;
  /** Senone of HMM state `hmmState` of `phone` between `left` and `right` (0 = edge). */
  pdf(left: number, phone: number, right: number, hmmState: number): number;
  hmm(phone: number): PhoneHmm;
}

/**
 * Per-frame acoustic log-likelihoods, already scaled: data[t * numPdfs + pdf] is what the search
 * adds for emitting `pdf` at frame t (hybrid: acousticScale * (log posterior - log prior)).
 */
export interface ScoreMatrix {
  numFrames: number;
  numPdfs: number;
  data: Float32Array;
}
