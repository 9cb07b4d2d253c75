/**
 * Paired bootstrap for the WER difference of two systems on the same test set
 * (Bisani & Ney, "Bootstrap estimates for confidence intervals in ASR performance evaluation", 2004):
 * utterances are resampled with replacement, and each replicate's corpus WER difference
 * (errors_A - errors_B) / refWords is recorded. With `strata` (one label per utterance) every
 * stratum is resampled on its own. With `clusters` (the speaker of each utterance) the bootstrap
 * has two stages: each replicate draws speakers with replacement, then utterances with replacement
 * within each drawn speaker (Davison & Hinkley 1997, section 3.8). Utterances of one speaker are
 * not independent (in FSDD connected digits they reuse the same recorded takes), so only the
 * speaker-level interval covers the variation a new test speaker brings; `bootstrapSums` is its
 * general form, several ratio-of-sums statistics over the same resamples.
 */
import { Rng } from '../util/rng.ts';
import { FormatError } from '../util/errors.ts';
import type { WerResult } from './wer.ts';

export interface BootstrapOptions {
  /** Number of bootstrap replicates. Default 1000. */
  replicates?: number;
  /** Two-sided confidence level in (0, 1). Default 0.95. */
  confidence?: number;
  /** Seed of the resampling. Default 0. */
  seed?: number;
  /**
   * Stratum of each utterance (same order as the input): each replicate resamples every stratum
   * on its own, as many draws as it has utterances, so a pool of experiments keeps each one's
   * share of the data (a stratified bootstrap). Absent: one stratum, the plain bootstrap
   * (same draws as a single stratum holding every utterance in order).
   */
  strata?: readonly (string | number)[];
  /**
   * Cluster (speaker) of each utterance (same order as the input): a two-stage bootstrap, speakers
   * drawn with replacement (within their stratum when `strata` is given; a speaker must lie in one
   * stratum), then as many utterances as the speaker has, with replacement, from each drawn one.
   */
  clusters?: readonly (string | number)[];
}

/**
 * The resampling of one replicate: calls `visit` with n indices drawn with replacement, within
 * each stratum when `strata` is given.
 */
export function makeResampler(
  n: number,
  strata?: readonly (string | number)[],
  clusters?: readonly (string | number)[],
): (rng: Rng, visit: (i: number) => void) => void {
  if (clusters) return makeClusterResampler(n, clusters, strata);
  if (!strata) {
    return (rng, visit) => {
      for (let k = 0; k < n; k++) visit(rng.int(n));
    };
  }
  if (strata.length !== n)
    throw new RangeError(`bootstrap strata: one per utterance expected, got ${strata.length} for ${n}`);
  const list = groupIndices(strata).map((g) => g.members);
  return (rng, visit) => {
    for (const g of list) for (let k = 0; k < g.length; k++) visit(g[rng.int(g.length)]);
  };
}

/** Indices of each group, groups in order of first appearance. */
function groupIndices(labels: readonly (string | number)[]): { key: string | number; members: number[] }[] {
  const groups = new Map<string | number, number[]>();
  labels.forEach((s, i) => {
    let g = groups.get(s);
    if (!g) groups.set(s, (g = []));
    g.push(i);
  });
  return [...groups].map(([key, members]) => ({ key, members }));
}

/** The two-stage (speaker, then utterance) resampler of `BootstrapOptions.clusters`. */
function makeClusterResampler(
  n: number,
  clusters: readonly (string | number)[],
  strata?: readonly (string | number)[],
): (rng: Rng, visit: (i: number) => void) => void {
  if (clusters.length !== n)
    throw new RangeError(`bootstrap clusters: one per utterance expected, got ${clusters.length} for ${n}`);
  if (strata && strata.length !== n)
    throw new RangeError(`bootstrap strata: one per utterance expected, got ${strata.length} for ${n}`);
  const speakers = groupIndices(clusters);
  const strataGroups = groupIndices(strata ?? clusters.map(() => 0));
  const layers = strataGroups.map(() => [] as number[][]);
  const layerOf = new Map(strataGroups.map((g, k) => [g.key, k] as const));
  for (const sp of speakers) {
    const keys = new Set(sp.members.map((i) => (strata ? strata[i] : 0)));
    if (keys.size > 1)
      throw new RangeError(
        `bootstrap clusters: speaker '${sp.key}' lies in ${keys.size} strata; a speaker must lie in one`,
      );
    layers[layerOf.get([...keys][0])!].push(sp.members);
  }
  return (rng, visit) => {
    for (const layer of layers) {
      for (let k = 0; k < layer.length; k++) {
        const g = layer[rng.int(layer.length)];
        for (let j = 0; j < g.length; j++) visit(g[rng.int(g.length)]);
      }
    }
  };
}

/**
 * Percentile interval of sorted replicate values: the values of rank floor(a n) and floor((1 - a) n)
 * (clamped to the ends), a = (1 - confidence) / 2. Every bootstrap here uses this rule.
 */
function percentileInterval(sorted: ArrayLike<number>, confidence: number): { low: number; high: number } {
  const n = sorted.length;
  const alpha = (1 - confidence) / 2;
  const q = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.floor(p * n)))];
  return { low: q(alpha), high: q(1 - alpha) };
}

/** Distinct clusters (speakers) among the labels. */
export function clusterCount(clusters: readonly (string | number)[]): number {
  return new Set(clusters).size;
}

/**
 * Paired bootstrap of a corpus error-rate difference from per-utterance error differences
 * (errors_A - errors_B) and reference word counts: what `pairedBootstrapWer` computes, on arrays.
 * deltaWer is the difference on the full set.
 */
export function pairedBootstrapErrorDiff(
  diff: ArrayLike<number>,
  words: ArrayLike<number>,
  opts: BootstrapOptions = {},
): BootstrapResult {
  const replicates = opts.replicates ?? 1000;
  const confidence = opts.confidence ?? 0.95;
  if (!(replicates >= 1) || !(confidence > 0 && confidence < 1)) {
    throw new RangeError(
      `paired bootstrap: replicates must be >= 1 and confidence in (0,1), got ${replicates}, ${confidence}`,
    );
  }
  const n = diff.length;
  if (words.length !== n)
    throw new RangeError(`pairedBootstrapErrorDiff: ${n} differences but ${words.length} word counts`);
  let D = 0,
    W = 0;
  for (let i = 0; i < n; i++) {
    D += diff[i];
    W += words[i];
  }
  const draw = makeResampler(n, opts.strata, opts.clusters);
  const rng = new Rng(opts.seed ?? 0);
  const deltas = new Float64Array(replicates);
  let aBetter = 0;
  for (let r = 0; r < replicates; r++) {
    let d = 0,
      w = 0;
    draw(rng, (i) => {
      d += diff[i];
      w += words[i];
    });
    deltas[r] = w > 0 ? (100 * d) / w : 0;
    if (d < 0) aBetter++;
  }
  const ci = percentileInterval(deltas.sort(), confidence);
  return {
    deltaWer: W > 0 ? (100 * D) / W : 0,
    ciLow: ci.low,
    ciHigh: ci.high,
    confidence,
    replicates,
    probABetter: aBetter / replicates,
  };
}

export interface BootstrapResult {
  /** WER(A) - WER(B) on the full set, percent. */
  deltaWer: number;
  /** Percentile confidence interval of the difference, percent. */
  ciLow: number;
  ciHigh: number;
  confidence: number;
  replicates: number;
  /** Share of replicates in which A has fewer errors than B ("probability of improvement" of A). */
  probABetter: number;
}

/** Paired bootstrap on two results scored against the same references (matched by utterance id). */
export function pairedBootstrapWer(a: WerResult, b: WerResult, opts: BootstrapOptions = {}): BootstrapResult {
  const bById = new Map(b.utterances.map((u) => [u.uttId, u] as const));
  const n = a.utterances.length;
  if (n !== b.utterances.length) {
    throw new FormatError('systems were scored on different utterance sets', {
      expected: `${n} utterances`,
      found: String(b.utterances.length),
    });
  }
  const diff = new Float64Array(n),
    words = new Float64Array(n);
  a.utterances.forEach((u, i) => {
    const v = bById.get(u.uttId);
    if (!v || v.refWords !== u.refWords) {
      throw new FormatError('systems were scored against different references', {
        uttId: u.uttId,
        expected: `${u.refWords} reference words in both`,
        found: v ? String(v.refWords) : 'missing',
      });
    }
    diff[i] = u.errors - v.errors;
    words[i] = u.refWords;
  });
  return { ...pairedBootstrapErrorDiff(diff, words, opts), deltaWer: a.wer - b.wer };
}

/** (student - baseline) / (ensemble - baseline): the share of the ensemble's gain kept; null when the ensemble gains nothing. */
export function gainShare(baseline: number, ensemble: number, student: number): number | null {
  return ensemble > baseline ? (student - baseline) / (ensemble - baseline) : null;
}

/** Per-utterance frame counts of the three systems whose gain share is bootstrapped. */
export interface GainUtterance {
  /** Frames in the utterance. */
  frames: number;
  /** Correct frames of the baseline, the ensemble and the student. */
  baseline: number;
  ensemble: number;
  student: number;
}

export interface GainKeptBootstrap {
  /** (student - baseline) / (ensemble - baseline) on the full set; null when the ensemble gains nothing. */
  gainKept: number | null;
  /**
   * Percentile confidence interval of the share over the replicates in which the ensemble beats
   * the baseline (the share is undefined in the others); null when fewer than half of them do.
   */
  ciLow: number | null;
  ciHigh: number | null;
  confidence: number;
  replicates: number;
  seed: number;
  utterances: number;
  /** Replicates in which the ensemble is not better than the baseline (the share is undefined). */
  undefinedReplicates: number;
}

/**
 * Paired bootstrap (over utterances) of the share of the ensemble's frame-accuracy gain that the
 * student keeps: each replicate resamples the utterances with replacement and recomputes
 * (student - baseline) / (ensemble - baseline) from its frame-weighted accuracies. The interval
 * covers test-set sampling only, not the seed-to-seed spread of the nets.
 */
export function bootstrapGainKept(utts: readonly GainUtterance[], opts: BootstrapOptions = {}): GainKeptBootstrap {
  const replicates = opts.replicates ?? 1000;
  const confidence = opts.confidence ?? 0.95;
  const seed = opts.seed ?? 0;
  if (!(Number.isInteger(replicates) && replicates >= 1) || !(confidence > 0 && confidence < 1)) {
    throw new RangeError(
      `bootstrapGainKept: replicates must be an integer >= 1 and confidence in (0,1), got ${replicates}, ${confidence}`,
    );
  }
  const n = utts.length;
  for (const u of utts) {
    if (!(u.frames >= 0) || [u.baseline, u.ensemble, u.student].some((c) => !(c >= 0 && c <= u.frames))) {
      throw new RangeError(`bootstrapGainKept: correct-frame counts must lie in [0, frames], got ${JSON.stringify(u)}`);
    }
  }
  let B = 0,
    E = 0,
    S = 0;
  for (const u of utts) {
    B += u.baseline;
    E += u.ensemble;
    S += u.student;
  }
  const gainKept = gainShare(B, E, S);
  const draw = makeResampler(n, opts.strata, opts.clusters);
  const rng = new Rng(seed);
  const shares: number[] = [];
  let undefinedReplicates = 0;
  for (let r = 0; r < replicates; r++) {
    let b = 0,
      e = 0,
      s = 0;
    draw(rng, (i) => {
      const u = utts[i];
      b += u.baseline;
      e += u.ensemble;
      s += u.student;
    });
    const v = gainShare(b, e, s);
    if (v === null) undefinedReplicates++;
    else shares.push(v);
  }
  // Undefined replicates are set aside; with them rare (a clear ensemble gain) this is the usual percentile interval.
  const ci =
    shares.length >= replicates / 2
      ? percentileInterval(
          shares.sort((x, y) => x - y),
          confidence,
        )
      : null;
  return {
    gainKept,
    ciLow: ci?.low ?? null,
    ciHigh: ci?.high ?? null,
    confidence,
    replicates,
    seed,
    utterances: n,
    undefinedReplicates,
  };
}

/** One statistic of `bootstrapSums`: its value on the full set and its percentile interval. */
export interface BootstrapEstimate {
  /** The statistic on the full set; null where it is undefined. */
  value: number | null;
  /** Percentile interval; null without one (one speaker, or the statistic undefined in half of the replicates or more). */
  low: number | null;
  high: number | null;
  /** Replicates in which the statistic is undefined, set aside. */
  undefinedReplicates: number;
  /** Shares of the defined replicates in which the statistic is above / below 0 (null without replicates). */
  aboveZero: number | null;
  belowZero: number | null;
}

export interface SumsBootstrap {
  estimates: BootstrapEstimate[];
  /** Speakers resampled (two-stage bootstrap), or null for the plain utterance bootstrap. */
  speakers: number | null;
  utterances: number;
  replicates: number;
  confidence: number;
  seed: number;
  /** Why there are no intervals at all, e.g. 'n/a: 1 speaker'; null otherwise. */
  note: string | null;
}

/**
 * Bootstrap of statistics of column sums, every statistic on the same resamples: `columns[j][i]`
 * is utterance i's value in column j (frames, correct frames of a system, reference words, word
 * errors, ...); each replicate sums every column over one resample (`makeResampler`, two-stage
 * with `opts.clusters`) and evaluates each statistic on those sums (null where it is undefined).
 * With `clusters` naming fewer than 2 speakers no interval can be estimated: the intervals are
 * null and `note` says so (a zero-width interval would claim a certainty the data cannot give).
 */
export function bootstrapSums(
  columns: readonly ArrayLike<number>[],
  statistics: readonly ((sums: Float64Array) => number | null)[],
  opts: BootstrapOptions = {},
): SumsBootstrap {
  const replicates = opts.replicates ?? 1000;
  const confidence = opts.confidence ?? 0.95;
  const seed = opts.seed ?? 0;
  if (!(Number.isInteger(replicates) && replicates >= 1) || !(confidence > 0 && confidence < 1)) {
    throw new RangeError(
      `bootstrapSums: replicates must be an integer >= 1 and confidence in (0,1), got ${replicates}, ${confidence}`,
    );
  }
  const n = columns.length ? columns[0].length : 0;
  if (columns.some((c) => c.length !== n))
    throw new RangeError(`bootstrapSums: columns of different lengths (${columns.map((c) => c.length).join(', ')})`);
  const sumsOf = (each: (visit: (i: number) => void) => void) => {
    const t = new Float64Array(columns.length);
    each((i) => {
      for (let j = 0; j < columns.length; j++) t[j] += columns[j][i];
    });
    return t;
  };
  const full = sumsOf((visit) => {
    for (let i = 0; i < n; i++) visit(i);
  });
  const speakers = opts.clusters ? clusterCount(opts.clusters) : null;
  const note =
    speakers !== null && speakers < 2
      ? `n/a: ${speakers} speaker${speakers === 1 ? '' : 's'}`
      : n === 0
        ? 'n/a: no utterances'
        : null;
  const values = statistics.map(() => [] as number[]);
  const undef = statistics.map(() => 0);
  if (note === null) {
    const draw = makeResampler(n, opts.strata, opts.clusters);
    const rng = new Rng(seed);
    for (let r = 0; r < replicates; r++) {
      const t = sumsOf((visit) => draw(rng, visit));
      statistics.forEach((f, k) => {
        const v = f(t);
        if (v === null || !Number.isFinite(v)) undef[k]++;
        else values[k].push(v);
      });
    }
  }
  const estimates = statistics.map((f, k): BootstrapEstimate => {
    const v = f(full);
    const xs = values[k].sort((a, b) => a - b);
    const ci =
      note === null && xs.length > 0 && xs.length >= replicates / 2 ? percentileInterval(xs, confidence) : null;
    return {
      value: v === null || !Number.isFinite(v) ? null : v,
      low: ci?.low ?? null,
      high: ci?.high ?? null,
      undefinedReplicates: undef[k],
      aboveZero: xs.length ? xs.filter((x) => x > 0).length / xs.length : null,
      belowZero: xs.length ? xs.filter((x) => x < 0).length / xs.length : null,
    };
  });
  return { estimates, speakers, utterances: n, replicates, confidence, seed, note };
}
