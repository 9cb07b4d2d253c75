import type { ScoringMode } from '../score/align.ts';
import type { SpeakerWerCounts, UttAlignment, UttWerCounts, WerCounts } from '../score/counts.ts';
import { type ErrorLists } from '../score/errors.ts';
import { type BootstrapResult } from '../score/significance.ts';

export const SCORE_FORMAT = 'am-distill.score';

export const SCORE_FORMAT_VERSION = 1;

export interface SpeakerWer {
  speaker: string;
  wer: number;
  errors: number;
  refWords: number;
  sentences: number;
  sub: number;
  del: number;
  ins: number;
}

export interface WorstUtterance {
  uttId: string;
  speaker: string;
  errors: number;
  refWords: number;
  /** Percent; Infinity-free: null when the reference is empty. */
  wer: number | null;
  sub: number;
  del: number;
  ins: number;
  /** sclite REF/HYP/Eval lines (errors upper-case). */
  ref: string;
  hyp: string;
  eval: string;
}

export interface SystemSplitScore {
  system: string;
  split: string;
  /** Percent. */
  wer: number;
  errors: number;
  refWords: number;
  corr: number;
  sub: number;
  del: number;
  ins: number;
  sentences: number;
  sentenceErrors: number;
  /** Sentence error rate, percent. */
  ser: number;
  emptyHyps: number;
  /** Decoded, but no token reached a final state (from decode.json). */
  noPath: number;
  /** No usable features (from decode.json). */
  noFeatures: number;
  /** Reference tokens outside the recogniser vocabulary (always errors). */
  refOovs: number;
  refOovWords: string[];
  lmWeight: number;
  wordInsertionPenalty: number;
  /** The split chose these weights itself (the tuning split). */
  tunedOnThisSplit: boolean;
  speakers: SpeakerWer[];
  worst: WorstUtterance[];
  files: { sys: string; pralign: string; wer: string; dtl: string };
  /** sclite's error lists (as in the .dtl file). */
  errorLists: ErrorLists;
  /** The report's counts (src/report ReportInput): corpus, per speaker, per utterance. */
  counts: WerCounts;
  speakerCounts: SpeakerWerCounts[];
  utterances: UttWerCounts[];
  /**
   * Word alignments of the reference system's worst utterances on this split (the student's when
   * it was decoded, else the first system's), so every system shows the same utterances.
   */
  alignments: UttAlignment[];
}

export interface SystemComparison extends BootstrapResult {
  /** A vs B: deltaWer = WER(A) - WER(B), percent; negative = A is better. */
  a: string;
  b: string;
  split: string;
  /** The confidence interval excludes 0. */
  significant: boolean;
}

export interface ScoreSummary {
  format: typeof SCORE_FORMAT;
  formatVersion: number;
  mode: ScoringMode;
  tuneSplit: string | null;
  /** Splits in decode order (the tuning split first). */
  splits: string[];
  systems: string[];
  /** One entry per (system, split), systems in decode order. */
  results: SystemSplitScore[];
  comparisons: SystemComparison[];
  bootstrap: { replicates: number; confidence: number; seed: number };
}
