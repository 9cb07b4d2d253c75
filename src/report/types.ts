/**
 * The comparison report's data model.
 *
 * `ReportInput` is what the pipeline's stages hand over (read from `report-input.json`): measured
 * numbers only, as counts where counts exist, so that the report computes every rate itself.
 * `ReportJson` is what `report.json` holds: the input's numbers as fractions plus everything derived
 * (gain recovered, significance, per-speaker tables, selected worst utterances). report.md and
 * report.html are rendered from a `ReportJson` alone.
 *
 * Units: every rate is a fraction (frame accuracy and kept mass in [0, 1]; WER >= 0, above 1 only
 * when insertions outnumber the reference words); times are seconds; sizes are bytes.
 */
import type { LabelQuality } from '../align/score.ts';
import type { AlignedPair } from '../score/align.ts';
import { type SpeakerWerCounts, type UttAlignment, type UttWerCounts, type WerCounts } from '../score/counts.ts';
import type { ErrorLists } from '../score/errors.ts';
import type { DifferencesReport } from './differences.ts';

export const REPORT_INPUT_FORMAT = 'am-distill.report-input';
export const REPORT_FORMAT = 'am-distill.report';
export const REPORT_FORMAT_VERSION = 1;

export type Split = 'dev' | 'test';
export const SPLITS: readonly Split[] = ['dev', 'test'];
/** Split names Table 1 and the dev/test columns cover; every other decoded split is an `otherSplits` entry. */
export const MAIN_SPLITS: readonly string[] = ['train', ...SPLITS];

/** System ids: the three systems of Table 1 and the ensemble's members `member-1`, `member-2`, ... */
export type SystemId = 'baseline' | 'ensemble' | 'student' | `member-${number}`;
export const CORE_SYSTEMS = ['baseline', 'ensemble', 'student'] as const;
export const MEMBER_ID = /^member-([1-9][0-9]*)$/;
/**
 * The control system (optional): a baseline trained on the student's transfer set (the same VTLP
 * copies with their inherited hard labels, the student's learning rate and schedule), hard labels
 * only. Student - control is the soft targets' own gain.
 */
export const CONTROL_ID = 'control';

export interface SplitInfo {
  utterances: number;
  speakers: number;
  durationSec: number;
  /** Feature frames of the utterances (optional; VTLP copies not counted). */
  frames?: number;
  /** VTLP warp factors when the split's features hold a copy of every utterance per factor. */
  vtlpWarps?: number[];
  /**
   * Which nets trained on the VTLP copies (train stage `vtlpCopies`, distill stage `vtlpCopies`);
   * absent when all of them did.
   */
  vtlpCopiesFor?: { models: boolean; student: boolean };
  /**
   * How the align stage labelled the copies (stages.align.vtlpCopies): 'inherit' (the source's
   * alignment, GMM-HMM on the originals only) or 'realign'; absent when not known.
   */
  vtlpAlignment?: 'inherit' | 'realign';
}

export interface CorpusInfo {
  /** Short name, e.g. "fsdd-digits". */
  name: string;
  /** One line for the reader, e.g. "FSDD connected digits, 3 train / 1 test speaker". */
  description?: string;
  /** Recipe file the experiment ran from. */
  recipe?: string;
  /** Number of tied HMM states (senones), i.e. the classifiers' output size. */
  numSenones?: number;
  /** Words in the recogniser's vocabulary. */
  vocabularySize?: number;
  splits: { train?: SplitInfo; dev?: SplitInfo; test?: SplitInfo };
}

/** One epoch of training. */
export interface EpochPoint {
  epoch: number;
  /** Training objective (the student's is the distillation loss, not comparable to cross-entropy). */
  trainLoss: number;
  /** Frame accuracy on dev, fraction (null without dev data). */
  devFrameAccuracy: number | null;
  learningRate: number;
}

export interface SystemInput {
  /** Display name, e.g. "Baseline (1 net)". Default derived from the id. */
  label?: string;
  /** Trainable parameters of the network (ensemble: of all members). */
  parameters?: number;
  /** Ensemble only: number of members K (default: the number of `member-*` systems). */
  members?: number;
  /** Frame accuracy against the forced alignment, fraction per split (null: not measured). */
  frameAccuracy: { dev: number | null; test: number | null };
  /** WER counts per split (null: not decoded). */
  wer: { dev: WerCounts | null; test: WerCounts | null };
  /** Per-speaker WER counts. */
  speakers?: { dev?: SpeakerWerCounts[]; test?: SpeakerWerCounts[] };
  /** Per-utterance counts of every scored utterance (needed for significance). */
  utterances?: { dev?: UttWerCounts[]; test?: UttWerCounts[] };
  /** Word alignments of some utterances (typically the worst ones of the student, for every system). */
  alignments?: UttAlignment<Split>[];
  /** sclite's error lists per split (src/score/errors.ts: confusion pairs, insertions, deletions, ...). */
  errorLists?: { dev?: ErrorLists; test?: ErrorLists };
  /** Training curve (not for the ensemble, which is not trained as a whole). */
  trainingCurve?: EpochPoint[];
  /** The final model is a weight average (averageFromEpoch), not the best epoch of the curve. */
  averaged?: AveragedModel;
}

/** A final model that is the running mean of the weights over these epochs. */
export interface AveragedModel {
  fromEpoch: number;
  toEpoch: number;
  /** Dev frame accuracy of the averaged weights, fraction (null without dev). */
  devFrameAccuracy: number | null;
}

export interface SoftTargetInfo {
  /** Temperature of the ensemble's soft targets. */
  T: number;
  /** Probabilities kept per frame (top-k). */
  k: number;
  /** Bytes per frame of the stored soft targets (file size / frames). */
  bytesPerFrame: number;
  /** Mean probability mass kept by the top k, fraction. */
  keptMass: number;
  /** Bytes per frame of dense float32 targets, for comparison. */
  denseBytesPerFrame?: number;
  /** How the members' outputs were combined, e.g. "arithmetic-mean-probs". */
  combination?: string;
  /** Relative weight of the hard-label term in the distillation loss. */
  hardWeight?: number;
}

/** One point of a temperature sweep: a student distilled at temperature T. */
export interface TemperaturePoint {
  T: number;
  frameAccuracy: { dev: number | null; test?: number | null };
  wer?: { dev?: WerCounts | null; test?: WerCounts | null };
  keptMass?: number;
}

export interface EnvironmentInfo {
  /** Engine the nets ran on, e.g. "native", "wasm", "tfjs-node". */
  backend: string;
  /** Versions, e.g. {"node": "20.20.2", "am-distill": "0.1.0", "@tensorflow/tfjs": "4.22.0"}. */
  versions: Record<string, string>;
  /** git commit of the code (null outside a checkout). */
  commit: string | null;
  /** Hash of the effective recipe config. */
  configHash: string;
  /** Free text about the machine, e.g. "2 CPU cores, linux x64". */
  host?: string;
}

/** How closely a net reproduces the ensemble on one split (src/score/fidelity.ts). */
export interface FidelityFigures {
  /** Share of frames whose top senone is the ensemble's, fraction. */
  agreement: number;
  /** Mean KL(ensemble || net) per frame at T = 1, nats. */
  klNats: number;
}

/** One net's fidelity to the ensemble per split (null: not measured on that split). */
export interface FidelityRow {
  /** System id, e.g. "baseline", "student". */
  system: string;
  train: FidelityFigures | null;
  dev: FidelityFigures | null;
  test: FidelityFigures | null;
}

export interface ReportInput {
  format: typeof REPORT_INPUT_FORMAT;
  formatVersion: typeof REPORT_FORMAT_VERSION;
  corpus: CorpusInfo;
  /** Must hold baseline, ensemble and student; may hold member-1 .. member-K. */
  systems: Record<string, SystemInput>;
  softTargets?: SoftTargetInfo | null;
  temperatureSweep?: TemperaturePoint[] | null;
  /** Wall time per stage, seconds, in pipeline order (a stage merged from shard jobs: the merge's). */
  stages: Record<string, number>;
  /** The stages merged from shard jobs (`am-distill job`): their jobs' number and summed seconds. */
  stageJobs?: Record<string, StageJobsInfo>;
  environment: EnvironmentInfo;
  /**
   * Evidence on the test frame-accuracy gain kept, from the eval stage: the bootstrap interval over
   * test utterances and the share against the members' mean instead of the one baseline net.
   */
  frameAccuracyGain?: FrameAccuracyGainEvidence | null;
  /** Fidelity of the baseline and the student to the ensemble, from the eval stage. */
  fidelity?: FidelityRow[] | null;
  /**
   * Per-utterance counts of the test split for the speaker bootstrap of the differences: each
   * utterance's speaker (prepare's supervisions), frames and correct frames per system id (the
   * eval stage's test.utts.jsonl). Absent: the differences of frame accuracy have no interval, and
   * the WER ones take the speaker from the utterance id (prefix before the first '_').
   */
  utteranceCounts?: UtteranceCountsInput | null;
  /**
   * Decoded splits besides dev and test (e.g. fsdd-digits' 'test-isolated'), in decode order: each
   * system's WER counts (score.json) and frame accuracy (eval.json, when the eval stage scored the
   * split). Absent when the recipe decodes only dev and test.
   */
  otherSplits?: OtherSplitInput[];
  /** The forced alignment behind every frame label (the align stage's summary); absent for reports built without it. */
  labels?: LabelsInput;
  /** How the pipeline built its report (bootstrap seed etc.), so a rebuild from this file matches it. */
  reportOptions?: { bootstrapReplicates?: number; confidence?: number; seed?: number; maxWorstUtterances?: number };
}

/** The GMM-HMM chain that labelled the frames, and each split's alignment counts and quality. */
export interface LabelsInput {
  /** The chain, e.g. ['mono', 'tri1', 'tri2b', 'tri3b']; the last one labels the splits. */
  models: string[];
  senones: number;
  gaussians: number;
  splits: { split: string; aligned: number; failed: number; quality: LabelQuality | null }[];
}

/** One extra decoded split (see ReportInput.otherSplits). */
export interface OtherSplitInput {
  /** Split name, neither 'train', 'dev' nor 'test'. */
  split: string;
  /** Per system id (baseline, control, ensemble, student, member-k): its numbers on this split. */
  systems: Record<string, { frameAccuracy: number | null; wer: WerCounts | null }>;
}

/** See ReportInput.utteranceCounts. */
export interface UtteranceCountsInput {
  split: Split;
  /** Speaker of each utterance id. */
  speakers: Record<string, string>;
  /** Frames and correct frames per system id, per utterance (null when the eval stage wrote no per-utterance counts). */
  frames: { uttId: string; frames: number; correct: Record<string, number> }[] | null;
}

// ---------------------------------------------------------------------------------------------
// report.json

export interface WerFigures {
  refWords: number;
  sub: number;
  del: number;
  ins: number;
  /** Utterances scored (null when the input did not say). */
  sentences: number | null;
  sentenceErrors: number | null;
  /** (sub + del + ins) / refWords. */
  wer: number;
  errors: number;
}

/** One extra decoded split in report.json: per system id, systems in display order. */
export interface OtherSplitReport {
  split: string;
  systems: Record<string, { frameAccuracy: number | null; wer: number | null; werCounts: WerFigures | null }>;
}

export interface SystemReport {
  label: string;
  parameters: number | null;
  frameAccuracy: { dev: number | null; test: number | null };
  /** WER fraction per split. */
  wer: { dev: number | null; test: number | null };
  /** Counts behind `wer`. */
  werCounts: { dev: WerFigures | null; test: WerFigures | null };
  trainingCurve: EpochPoint[];
  /** Present when the final model is a weight average. */
  averaged?: AveragedModel;
}

export interface PaperRow {
  frameAccuracy: number;
  wer: number;
}

/** Uncertainty of the frame-accuracy gain kept (see ReportInput.frameAccuracyGain). */
export interface FrameAccuracyGainEvidence {
  /** (student - member mean) / (ensemble - member mean); null when the ensemble does not beat the mean. */
  vsMemberMean: number | null;
  /** Paired bootstrap over test utterances; low/high null when the ensemble's gain vanishes in most replicates. */
  ci: { low: number | null; high: number | null; confidence: number; replicates: number; utterances: number } | null;
}

export interface GainRecovered {
  /** (student - baseline) / (ensemble - baseline) on test frame accuracy; null when undefined. */
  frameAccuracy: number | null;
  /** (baseline - student) / (baseline - ensemble) on test WER; null when undefined. */
  wer: number | null;
  /** Why a value is null, or other caveats. */
  notes: string[];
  /** Bootstrap interval and member-mean share of `frameAccuracy`, when the eval stage computed them. */
  frameAccuracyEvidence?: FrameAccuracyGainEvidence | null;
}

export interface SignificanceTest {
  /** System whose WER minus `b`'s is tested. */
  a: string;
  b: string;
  split: Split;
  method: 'paired-bootstrap';
  /** WER(a) - WER(b), fraction (negative: a is better). */
  deltaWer: number;
  ciLow: number;
  ciHigh: number;
  confidence: number;
  replicates: number;
  seed: number;
  utterances: number;
  /** Share of replicates in which a has fewer errors than b. */
  probABetter: number;
  /** The confidence interval excludes 0. */
  significant: boolean;
}

export interface SignificanceReport {
  /** Student vs baseline on test (the paper's question); null with a note when not computable. */
  studentVsBaseline: SignificanceTest | null;
  studentVsEnsemble: SignificanceTest | null;
  ensembleVsBaseline: SignificanceTest | null;
  notes: string[];
}

/** One frequent error and how often each system makes it (exact counts, 0 when it does not). */
export interface FrequentErrorRow {
  kind: 'substitution' | 'insertion' | 'deletion';
  /** Reference word (null for an insertion). */
  ref: string | null;
  /** Hypothesis word (null for a deletion). */
  hyp: string | null;
  counts: Record<string, number>;
}

export interface SpeakerRow {
  speaker: string;
  refWords: number;
  /** WER fraction per system id (null: the system has no counts for this speaker). */
  wer: Record<string, number | null>;
}

export interface WorstUtterance {
  uttId: string;
  split: Split;
  refWords: number;
  /** The student's (or the chosen system's) errors on it. */
  errors: number;
  /** Alignment per system that has one for this utterance, Table 1 systems first. */
  systems: { system: string; sub: number; del: number; ins: number; pairs: AlignedPair[] }[];
}

export interface ReportJson {
  format: typeof REPORT_FORMAT;
  formatVersion: typeof REPORT_FORMAT_VERSION;
  corpus: CorpusInfo;
  /** Ensemble size K. */
  ensembleSize: number | null;
  systems: Record<string, SystemReport>;
  paper: {
    source: string;
    baseline: PaperRow;
    ensemble: PaperRow & { members: number };
    student: PaperRow;
    gainRecovered: { frameAccuracy: number; wer: number };
  };
  gainRecovered: GainRecovered;
  /**
   * The headline: ensemble - baseline, student - baseline, student - ensemble (and control -
   * baseline, student - control with a control) for test frame accuracy and WER, each with a
   * speaker-bootstrap interval, then the gain kept and whether it is meaningful against the
   * members' seed spread. null when there are no per-utterance test counts.
   */
  differences?: DifferencesReport | null;
  /** Utterance-bootstrap WER tests (the score stage's method; narrower than the speaker intervals of `differences`). */
  significance: SignificanceReport;
  softTargets: SoftTargetInfo | null;
  temperatureSweep:
    | {
        T: number;
        frameAccuracy: { dev: number | null; test: number | null };
        wer: { dev: number | null; test: number | null };
        keptMass: number | null;
      }[]
    | null;
  /** Fidelity to the ensemble (baseline and student; null when the eval stage did not measure it). */
  fidelity?: FidelityRow[] | null;
  /**
   * Decoded splits besides dev and test (ReportInput.otherSplits), with rates: each system's frame
   * accuracy and WER on them. Absent when there are none.
   */
  otherSplits?: OtherSplitReport[];
  /** As ReportInput.labels. */
  labels?: LabelsInput;
  /** Per-speaker WER on test (dev when test has none). */
  perSpeaker: { split: Split; rows: SpeakerRow[] } | null;
  /** The most frequent errors of the baseline, ensemble and student on test (dev when test has none). */
  frequentErrors?: { split: Split; systems: string[]; rows: FrequentErrorRow[] } | null;
  worstUtterances: { system: string; utterances: WorstUtterance[] } | null;
  stages: Record<string, number>;
  /** As ReportInput.stageJobs. */
  stageJobs?: Record<string, StageJobsInfo>;
  totalSec: number;
  environment: EnvironmentInfo;
}

/** The shard jobs behind a stage merged from them: how many, and their run times summed (seconds). */
export interface StageJobsInfo {
  count: number;
  seconds: number;
}
