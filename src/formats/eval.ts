import { type Fidelity } from '../score/fidelity.ts';

export const EVAL_JSON = 'eval.json';

export const EVAL_MD = 'eval.md';

export const ENSEMBLE = 'ensemble';

export interface Score {
  correct: number;
  frames: number;
  accuracy: number;
}

export interface SplitScores {
  split: string;
  utterances: number;
  frames: number;
  /** Frame accuracy per model name, plus 'ensemble'. */
  models: Record<string, Score>;
  /** false: the split's VTLP copies were left out (the training split, when the members did not train on them). */
  vtlpCopies?: false;
  /** On the training split: the same models on the small-fraction subset's utterances. */
  subset?: Record<string, Score>;
  /**
   * Per net outside the ensemble (baseline, students, Table 5 nets): how closely it reproduces the
   * ensemble (top-1 agreement, KL(ensemble || net) at T = 1; src/score/fidelity.ts). Absent without members.
   */
  fidelity?: Record<string, Fidelity>;
  /** Where each net's frames gained over the baseline's come from (absent without members or baseline). */
  gainSources?: GainSources;
  /** Accuracy of the ensemble and the other nets by how many members are right on the frame (absent without members). */
  memberVotes?: MemberVotes;
}

/**
 * Frames grouped by the number k of members whose top senone is right (0..K): `frames[k]`, and
 * per net (and the ensemble) `correct[net][k]`, the frames of group k it gets right. Whether a
 * student follows the members' majority, or only their unanimous frames, shows in correct / frames.
 */
export interface MemberVotes {
  members: number;
  frames: number[];
  correct: Record<string, number[]>;
}

/**
 * Frame counts against the baseline b and the ensemble e. The ensemble's gain is
 * ensembleWins (e right, b wrong) - ensembleLosses (e wrong, b right). A net n's gain over the
 * baseline splits by what the ensemble did on the frame:
 *   correct(n) - correct(b) = capturedWins - copiedLosses + ownWins - ownLosses, where
 *   capturedWins: n right on an ensemble win;  copiedLosses: n wrong on an ensemble loss;
 *   ownWins: n right, b and e wrong;           ownLosses: n wrong, b and e right.
 * A faithful student captures the wins and copies the losses; its share of the gain is then
 * decided by how the ensemble's wins and losses balance, and by its own wins and losses.
 */
export interface GainSources {
  ensembleWins: number;
  ensembleLosses: number;
  nets: Record<string, { capturedWins: number; copiedLosses: number; ownWins: number; ownLosses: number }>;
}

/** One line of `<split>.utts.jsonl`: an utterance's aligned frames and every model's correct frames. */
export interface EvalUtteranceLine {
  uttId: string;
  frames: number;
  /** Correct frames per model name, plus 'ensemble'. */
  correct: Record<string, number>;
}

/** File of the per-utterance frame counts of an eval split (what `am-distill pool` reads). */
export const evalUtterancesFile = (split: string): string => `${split}.utts.jsonl`;

export interface GainSummary {
  baseline: number;
  ensemble: number;
  memberMean: number;
  student: number;
  /** (student - baseline) / (ensemble - baseline); null when the ensemble gains nothing. */
  gainKept: number | null;
  /**
   * The same share against the members' mean accuracy instead of the one baseline net
   * ((student - member mean) / (ensemble - member mean)): less dependent on the baseline's seed.
   */
  gainKeptVsMemberMean: number | null;
  /** Paired bootstrap over the split's utterances of the gain kept (absent when eval.bootstrapReplicates is 0). */
  gainKeptCi?: GainKeptCi;
}

/** Confidence interval of the gain kept from `bootstrapGainKept`. */
export interface GainKeptCi {
  low: number | null;
  high: number | null;
  confidence: number;
  replicates: number;
  seed: number;
  utterances: number;
  undefinedReplicates: number;
}

export interface EvalFile {
  format: 'am-distill.eval';
  version: 1;
  /** Model name -> role, target set, temperature. */
  models: { name: string; role: string; targetSet?: string; temperature?: number; k?: number }[];
  splits: Record<string, SplitScores>;
  /** Per scored split: the paper's Table 1 row set for frame accuracy and the gain kept. */
  summary: Record<string, GainSummary>;
  /** Students of the temperature sweep / dense comparison: accuracy and gain kept per split. */
  students: {
    name: string;
    targetSet: string;
    temperature: number;
    k: number;
    accuracy: Record<string, number>;
    gainKept: Record<string, number | null>;
    gainKeptCi?: Record<string, GainKeptCi>;
  }[];
  /** Table 5 (when the train stage has a small-fraction baseline). */
  table5: null | {
    fraction: number;
    subsetUtterances: number;
    subsetFrames: number;
    rows: { system: string; model: string; trainAccuracy: number | null; testAccuracy: Record<string, number> }[];
  };
}
