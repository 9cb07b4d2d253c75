/**
 * The differences between the systems of Table 1, each with a speaker-level bootstrap interval,
 * and the share of the ensemble's gain kept after them: what the report and `am-distill pool` put
 * first (docs/decisions.md, "Evaluation statistics").
 *
 * Input: per test utterance its speaker, its frames and every system's correct frames (frame
 * accuracy), or its reference words and every system's word errors (WER). Counts may be means over
 * seeds (pool): the pooled difference of seed-averaged counts is the mean over seeds of the pooled
 * differences, since the frames and words of an utterance are the same in every seed.
 *
 * Intervals: two-stage bootstrap, speakers with replacement, then utterances within each drawn
 * speaker (src/score/significance.ts `bootstrapSums` with `clusters`). With one speaker there is
 * no interval ("n/a: 1 speaker"). The utterance bootstrap is kept beside it for comparison only.
 */
import { bootstrapSums, type BootstrapEstimate, type BootstrapOptions } from '../score/significance.ts';
import { pct, signedPoints } from './format.ts';

export type Metric = 'frameAccuracy' | 'wer';

/** Per-utterance counts of one metric: the denominator (frames, reference words) and each system's numerator (correct frames, errors). */
export interface MetricCounts {
  /** Speaker of each utterance. */
  speakers: readonly string[];
  /** Frames (frame accuracy) or reference words (WER) per utterance. */
  totals: readonly number[];
  /** Correct frames (frame accuracy) or word errors (WER) per utterance, per system id. */
  counts: Record<string, readonly number[]>;
}

/** The comparisons, A - B, in report order; those whose systems are present are made. */
export const DIFFERENCE_PAIRS: readonly (readonly [string, string])[] = [
  ['ensemble', 'baseline'],
  ['student', 'baseline'],
  ['student', 'ensemble'],
  ['control', 'baseline'],
  ['student', 'control'],
];

export interface IntervalOrNote {
  low: number | null;
  high: number | null;
}

export interface SystemDifference {
  a: string;
  b: string;
  /** Rate(A) - rate(B), fraction (frame accuracy: higher is better; WER: lower is better). */
  value: number;
  /** Speaker-bootstrap percentile interval (the headline); null bounds when it cannot be estimated. */
  ci: IntervalOrNote;
  /** The interval excludes 0 (null without an interval). */
  significant: boolean | null;
  /** Share of the speaker-bootstrap replicates in which A is better than B (null without replicates). */
  probABetter: number | null;
  /** Utterance-bootstrap interval, for comparison only: too narrow where a speaker's utterances share recordings. */
  utteranceCi: IntervalOrNote;
}

export interface GainKeptFigure {
  /** (student - baseline) / (ensemble - baseline) (WER: of the error reductions); null when the ensemble gains nothing. */
  value: number | null;
  /** Speaker-bootstrap interval over the replicates in which the ensemble gains (null when fewer than half do, or one speaker). */
  ci: IntervalOrNote;
  undefinedReplicates: number;
  /** false: the ensemble's gain is below the members' seed spread; null: not known (no spread, or no gain). */
  meaningful: boolean | null;
  /** The statement the report prints with the share (why it is not meaningful, or why it is undefined); null when none. */
  note: string | null;
}

/** Spread of the members' rates on the split (nets that differ only in their seed). */
export interface SeedSpread {
  /** Member results the spread is over (members x seeds in a pool). */
  nets: number;
  min: number;
  max: number;
  /** max - min. */
  range: number;
  /** Sample standard deviation (0 for one net). */
  sd: number;
}

export interface MetricDifferences {
  metric: Metric;
  utterances: number;
  speakers: number;
  /** Why there are no intervals ('n/a: 1 speaker'); null when they were estimated. */
  note: string | null;
  differences: SystemDifference[];
  gainKept: GainKeptFigure;
  seedSpread: SeedSpread | null;
}

export interface DifferencesReport {
  split: string;
  method: 'speaker-bootstrap';
  replicates: number;
  confidence: number;
  seed: number;
  frameAccuracy: MetricDifferences | null;
  wer: MetricDifferences | null;
}

/** Range and sd of a set of rates; null when empty. */
export function seedSpread(values: readonly number[]): SeedSpread | null {
  if (!values.length) return null;
  const min = Math.min(...values),
    max = Math.max(...values);
  const mean = values.reduce((a, x) => a + x, 0) / values.length;
  const sd = values.length > 1 ? Math.sqrt(values.reduce((a, x) => a + (x - mean) ** 2, 0) / (values.length - 1)) : 0;
  return { nets: values.length, min, max, range: max - min, sd };
}

const METRIC_WORDS: Record<Metric, { name: string; higherIsBetter: boolean }> = {
  frameAccuracy: { name: 'frame-accuracy', higherIsBetter: true },
  wer: { name: 'WER', higherIsBetter: false },
};

/** Whether the share kept means anything, and the sentence saying why not. */
function judgeShare(
  metric: Metric,
  baseline: number,
  ensemble: number,
  value: number | null,
  spread: SeedSpread | null,
): Pick<GainKeptFigure, 'meaningful' | 'note'> {
  const m = METRIC_WORDS[metric];
  const gain = (m.higherIsBetter ? 1 : -1) * (ensemble - baseline);
  if (value === null)
    return {
      meaningful: null,
      note: `The share of the ${m.name} gain kept is undefined: the ensemble does not beat the baseline (${signedPoints(ensemble - baseline, 2)} points).`,
    };
  if (!spread || spread.nets < 2) return { meaningful: null, note: null };
  if (gain >= spread.range) return { meaningful: true, note: null };
  return {
    meaningful: false,
    note:
      `The share of the ${m.name} gain kept (${pct(value, 0)}) is not meaningful: the ensemble's gain over the baseline (${signedPoints(ensemble - baseline, 2)} points) ` +
      `is smaller than the spread of the members' ${m.name === 'WER' ? 'WERs' : 'frame accuracies'} (${(100 * spread.range).toFixed(2)} points, ${pct(spread.min, 2)} to ${pct(spread.max, 2)} over ${spread.nets} nets that differ only in their seed), ` +
      'so a baseline of another seed could move by more than the whole gain.',
  };
}

/** The differences of one metric (systems without counts are left out; baseline, ensemble and student are required). */
export function metricDifferences(
  metric: Metric,
  c: MetricCounts,
  spread: SeedSpread | null,
  opts: Required<Pick<BootstrapOptions, 'replicates' | 'confidence' | 'seed'>>,
): MetricDifferences {
  const ids = Object.keys(c.counts);
  const col = new Map(ids.map((id, j) => [id, j + 1] as const));
  const pairs = DIFFERENCE_PAIRS.filter(([a, b]) => col.has(a) && col.has(b));
  const sign = METRIC_WORDS[metric].higherIsBetter ? 1 : -1;
  const rate = (t: Float64Array, id: string) => t[col.get(id)!] / t[0];
  const diffStat =
    ([a, b]: readonly [string, string]) =>
    (t: Float64Array) =>
      t[0] > 0 ? rate(t, a) - rate(t, b) : null;
  const shareStat = (t: Float64Array) => {
    if (!(t[0] > 0)) return null;
    const gain = sign * (rate(t, 'ensemble') - rate(t, 'baseline'));
    return gain > 0 ? (sign * (rate(t, 'student') - rate(t, 'baseline'))) / gain : null;
  };
  const columns = [c.totals, ...ids.map((id) => c.counts[id])];
  const stats = [...pairs.map(diffStat), shareStat];
  const bySpeaker = bootstrapSums(columns, stats, { ...opts, clusters: c.speakers });
  const byUtterance = bootstrapSums(columns, stats.slice(0, pairs.length), opts);
  const interval = (e: BootstrapEstimate): IntervalOrNote => ({ low: e.low, high: e.high });
  const differences = pairs.map(([a, b], k): SystemDifference => {
    const e = bySpeaker.estimates[k];
    return {
      a,
      b,
      value: e.value ?? 0,
      ci: interval(e),
      significant: e.low === null || e.high === null ? null : e.low > 0 || e.high < 0,
      probABetter: sign > 0 ? e.aboveZero : e.belowZero,
      utteranceCi: interval(byUtterance.estimates[k]),
    };
  });
  const g = bySpeaker.estimates[pairs.length];
  const total = (xs: readonly number[]) => xs.reduce((a, x) => a + x, 0);
  const T = total(c.totals),
    at = (id: string) => (T > 0 ? total(c.counts[id]) / T : 0);
  return {
    metric,
    utterances: bySpeaker.utterances,
    speakers: bySpeaker.speakers ?? 0,
    note: bySpeaker.note,
    differences,
    gainKept: {
      value: g.value,
      ci: interval(g),
      undefinedReplicates: g.undefinedReplicates,
      ...judgeShare(metric, at('baseline'), at('ensemble'), g.value, spread),
    },
    seedSpread: spread,
  };
}
