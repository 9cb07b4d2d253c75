import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ScoringMode } from '../score/align.ts';
import type { SpeakerWerCounts, UttAlignment, UttWerCounts, WerCounts } from '../score/counts.ts';
import { type ErrorLists } from '../score/errors.ts';
import { type BootstrapResult } from '../score/significance.ts';
import { werPercent } from '../score/wer.ts';
import { Checker, joinKey, readTaggedJson } from '../util/json-check.ts';

export const SCORE_FORMAT = 'am-distill.score';

export const SCORE_FORMAT_VERSION = 1;

export const SCORE_JSON = 'score.json';

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

/** Read a score.json (format and version checked). */
export function readScoreSummary(path: string): ScoreSummary {
  return readTaggedJson<ScoreSummary>(path, SCORE_FORMAT, 'a score summary', 'formatVersion', SCORE_FORMAT_VERSION);
}

/**
 * `am-distill validate` of a score.json: the format check; one result per system and split whose
 * counts add up (corr + sub + del = refWords, errors = sub + del + ins, WER = errors / refWords,
 * sentence errors <= sentences) and whose sclite files are there; the comparisons name scored
 * systems and splits. Returns the summary lines.
 */
export function validateScoreSummary(path: string): string[] {
  const j = readScoreSummary(path);
  const c = new Checker(path, 'invalid score summary');
  const o = c.fields(j, '', ['mode', 'splits', 'systems', 'results', 'comparisons', 'bootstrap']);
  const splits = c.names(o.splits, 'splits');
  const systems = c.names(o.systems, 'systems');
  const seen = new Set<string>();
  for (const [i, r] of c.arr(o.results, 'results').entries()) {
    const p = `results[${i}]`;
    const x = c.fields(r, p, [
      'system',
      'split',
      'wer',
      'errors',
      'refWords',
      'corr',
      'sub',
      'del',
      'ins',
      'sentences',
      'sentenceErrors',
      'files',
    ]);
    const key = `${c.oneOf(x.system, joinKey(p, 'system'), systems)} on ${c.oneOf(x.split, joinKey(p, 'split'), splits)}`;
    if (seen.has(key)) c.fail(p, `one result per system and split`, `a second result of ${key}`);
    seen.add(key);
    const [ref, corr, sub, del, ins] = (['refWords', 'corr', 'sub', 'del', 'ins'] as const).map((k) =>
      c.int(x[k], joinKey(p, k)),
    );
    if (corr + sub + del !== ref) c.fail(joinKey(p, 'refWords'), `corr + sub + del = ${corr + sub + del}`, ref);
    if (c.int(x.errors, joinKey(p, 'errors')) !== sub + del + ins)
      c.fail(joinKey(p, 'errors'), `sub + del + ins = ${sub + del + ins}`, x.errors);
    const wer = werPercent(sub + del + ins, ref);
    if (Number.isFinite(wer) && Math.abs(c.num(x.wer, joinKey(p, 'wer'), 0) - wer) > 1e-9)
      c.fail(joinKey(p, 'wer'), `100 x errors / refWords = ${wer}`, x.wer);
    if (c.int(x.sentenceErrors, joinKey(p, 'sentenceErrors')) > c.int(x.sentences, joinKey(p, 'sentences'))) {
      c.fail(joinKey(p, 'sentenceErrors'), `<= ${x.sentences} sentences`, x.sentenceErrors);
    }
    for (const [k, f] of Object.entries(c.fields(x.files, joinKey(p, 'files'), ['sys', 'pralign', 'wer', 'dtl']))) {
      if (!existsSync(join(dirname(path), c.str(f, joinKey(joinKey(p, 'files'), k)))))
        c.fail(joinKey(joinKey(p, 'files'), k), `a file in ${dirname(path)}`, f);
    }
  }
  for (const [i, x] of c.arr(o.comparisons, 'comparisons').entries()) {
    const q = c.fields(x, `comparisons[${i}]`, ['a', 'b', 'split']);
    for (const k of ['a', 'b']) c.oneOf(q[k], `comparisons[${i}].${k}`, systems);
    c.oneOf(q.split, `comparisons[${i}].split`, splits);
  }
  c.fields(o.bootstrap, 'bootstrap', ['replicates', 'confidence', 'seed']);
  const wer = (system: string, split: string) => j.results.find((r) => r.system === system && r.split === split);
  return [
    `word error rates (${j.format} v${j.formatVersion}, ${j.mode} scoring) of ${systems.length} system(s) on ${splits.join(', ')}, ${j.comparisons.length} comparison(s)`,
    ...splits.map(
      (split) => `  ${split}: ${systems.map((s) => `${s} ${wer(s, split)?.wer.toFixed(2) ?? 'n/a'} %`).join(', ')}`,
    ),
  ];
}
