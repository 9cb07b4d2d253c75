import { type Fidelity } from '../score/fidelity.ts';
import { Checker, joinKey, readStageJson, readTaggedJson } from '../util/json-check.ts';

export const EVAL_JSON = 'eval.json';

export const EVAL_FORMAT = 'am-distill.eval';

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
  format: typeof EVAL_FORMAT;
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

/** Read `<dir>/eval.json` (the eval stage's record). */
export function readEvalFile(dir: string): EvalFile {
  return readStageJson<EvalFile>(dir, EVAL_JSON, {
    missing: 'no evaluation here',
    stage: 'eval',
    format: EVAL_FORMAT,
    what: 'an eval file',
  });
}

/**
 * `am-distill validate` of an eval.json: the format check; per split, every listed model scored
 * with correct <= frames = the split's frames and accuracy = correct / frames; the summaries'
 * accuracies fractions. Returns the summary lines.
 */
export function validateEvalFile(path: string): string[] {
  const j = readTaggedJson<EvalFile>(path, EVAL_FORMAT, 'an eval file');
  const c = new Checker(path, 'invalid eval file');
  const o = c.fields(j, '', ['models', 'splits', 'summary', 'students', 'table5']);
  const names = c.names(o.models, 'models', 'name');
  const splits = c.fields(o.splits, 'splits', []);
  const lines = [
    `frame accuracy (${j.format} v${j.version}) of ${names.length} model(s) on ${Object.keys(splits).join(', ')}`,
  ];
  for (const [split, v] of Object.entries(splits)) {
    const p = joinKey('splits', split);
    const sp = c.fields(v, p, ['split', 'utterances', 'frames', 'models']);
    if (sp.split !== split) c.fail(joinKey(p, 'split'), JSON.stringify(split), sp.split);
    c.int(sp.utterances, joinKey(p, 'utterances'), 1);
    const frames = c.int(sp.frames, joinKey(p, 'frames'), 1);
    const scores = c.fields(sp.models, joinKey(p, 'models'), names);
    for (const [name, score] of Object.entries(scores)) {
      const q = joinKey(joinKey(p, 'models'), name);
      const s = c.fields(score, q, ['correct', 'frames', 'accuracy']);
      if (s.frames !== frames) c.fail(joinKey(q, 'frames'), `${frames} (the split's frames)`, s.frames);
      const correct = c.int(s.correct, joinKey(q, 'correct'));
      if (correct > frames) c.fail(joinKey(q, 'correct'), `<= ${frames} frames`, correct);
      if (Math.abs(c.fraction(s.accuracy, joinKey(q, 'accuracy')) - correct / frames) > 1e-12) {
        c.fail(joinKey(q, 'accuracy'), `correct / frames = ${correct / frames}`, s.accuracy);
      }
    }
    const g = j.summary[split];
    const acc = (name: string) => j.splits[split].models[name]?.accuracy.toFixed(4) ?? 'n/a';
    const kept = g ? `, gain kept ${g.gainKept === null ? 'n/a' : g.gainKept.toFixed(3)}` : '';
    lines.push(
      `  ${split}: ${sp.utterances} utterances, ${frames} frames; baseline ${acc('baseline')}, ${ENSEMBLE} ${acc(ENSEMBLE)}, student ${acc('student')}${kept}`,
    );
  }
  const summary = c.fields(o.summary, 'summary', []);
  for (const [split, v] of Object.entries(summary)) {
    const g = c.fields(v, joinKey('summary', split), ['baseline', 'ensemble', 'memberMean', 'student', 'gainKept']);
    for (const k of ['baseline', 'ensemble', 'memberMean', 'student'])
      c.fraction(g[k], joinKey(joinKey('summary', split), k));
  }
  c.arr(o.students, 'students');
  if (o.table5 !== null) c.fields(o.table5, 'table5', ['fraction', 'rows']);
  return lines;
}
