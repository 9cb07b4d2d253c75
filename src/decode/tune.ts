/**
 * Decoding a set of utterances, and choosing the LM weight and word insertion penalty on a dev set
 * (grid search for the lowest WER, scored with src/score), to be applied unchanged to test.
 * Kaldi's local/score.sh picks the best LMWT on the very set it reports; tuning on dev and
 * reporting test keeps the test number honest.
 */
import { ConfigError } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import { scoreTranscripts, type ScoreOptions } from '../score/wer.ts';
import type { TrnUtterance } from '../score/trn.ts';
import type { DecodeOptions, DecodeResult, Decoder } from './decoder.ts';
import type { ScoreMatrix } from './types.ts';
import type { WordLattice } from './lattice.ts';

export interface DecodeInput {
  uttId: string;
  /** Scaled acoustic scores, or a function computing them (so a large set need not be in memory). */
  scores: ScoreMatrix | (() => ScoreMatrix);
}

export interface SetStats {
  utterances: number;
  numFrames: number;
  elapsedSec: number;
  framesPerSec: number;
  /** Total decoding time / total audio duration. */
  realTimeFactor: number;
  /** Frame-weighted mean of tokens expanded per frame. */
  meanActive: number;
  maxActive: number;
}

export interface DecodeSetResult {
  results: DecodeResult[];
  /** 1-best hypotheses as trn utterances (empty words when no path survived). */
  hyps: TrnUtterance[];
  /** Utterances where no token reached a final state (decoded as empty hypotheses), counted. */
  noPath: string[];
  stats: SetStats;
}

export interface DecodeSetOptions extends DecodeOptions {
  logger?: Logger;
}

/** Decode every utterance (in order) with the same options. */
export function decodeSet(
  decoder: Decoder,
  inputs: Iterable<DecodeInput>,
  opts: DecodeSetOptions = {},
): DecodeSetResult {
  const list = [...inputs];
  const progress = opts.logger?.progress('decode', list.length, 'utts');
  const results: DecodeResult[] = [];
  const noPath: string[] = [];
  let frames = 0,
    elapsed = 0,
    activeW = 0,
    maxActive = 0;
  for (const inp of list) {
    const scores = typeof inp.scores === 'function' ? inp.scores() : inp.scores;
    const r = decoder.decode(inp.uttId, scores, opts);
    results.push(r);
    if (!r.reachedFinal) noPath.push(r.uttId);
    frames += r.stats.numFrames;
    elapsed += r.stats.elapsedSec;
    activeW += r.stats.meanActive * r.stats.numFrames;
    maxActive = Math.max(maxActive, r.stats.maxActive);
    progress?.tick();
  }
  progress?.done();
  if (noPath.length && opts.logger)
    opts.logger.warn(
      `no token reached a final state in ${noPath.length} of ${list.length} utterances (empty hypotheses), e.g. ${noPath.slice(0, 5).join(', ')}`,
    );
  const shift = opts.frameShiftSec ?? 0.01;
  return {
    results,
    hyps: results.map((r) => ({ uttId: r.uttId, words: r.words, line: 0 })),
    noPath,
    stats: {
      utterances: results.length,
      numFrames: frames,
      elapsedSec: elapsed,
      framesPerSec: elapsed > 0 ? frames / elapsed : Infinity,
      realTimeFactor: frames > 0 ? elapsed / (frames * shift) : 0,
      meanActive: frames > 0 ? activeW / frames : 0,
      maxActive,
    },
  };
}

export interface TuneOptions extends DecodeSetOptions {
  /** LM weights to try. Default [0.7, 0.9, 1.1, 1.3, 1.5, 1.7] (Kaldi LMWT 7..17 at acoustic scale 0.1). */
  lmWeights?: readonly number[];
  /** Word insertion penalties to try. Default [0, 0.5, 1] (Kaldi local/score.sh). */
  wordInsertionPenalties?: readonly number[];
  /** How WER is computed (src/score). Default sclite mode. */
  scoreOptions?: ScoreOptions;
}

export interface TunePoint {
  lmWeight: number;
  wordInsertionPenalty: number;
  wer: number;
  errors: number;
  refWords: number;
  sub: number;
  del: number;
  ins: number;
}

export interface TuneResult {
  /** The lowest-WER point (the first in grid order among equals). */
  best: TunePoint;
  /** Every grid point, lmWeight-major in the order given. */
  grid: TunePoint[];
}

/** The grid of a TuneOptions (lmWeight-major), checked non-empty, with the dev set checked non-empty. */
function tuningGrid(opts: TuneOptions, devSize: number): { lmWeight: number; wordInsertionPenalty: number }[] {
  const lmWeights = opts.lmWeights ?? [0.7, 0.9, 1.1, 1.3, 1.5, 1.7];
  const pens = opts.wordInsertionPenalties ?? [0, 0.5, 1];
  if (lmWeights.length === 0 || pens.length === 0)
    throw new ConfigError('empty tuning grid', {
      keyPath: lmWeights.length ? 'wordInsertionPenalties' : 'lmWeights',
      expected: 'at least one value',
      found: '[]',
    });
  if (devSize === 0)
    throw new ConfigError('no dev utterances to tune on', { expected: 'at least one utterance', found: 'none' });
  return lmWeights.flatMap((lmWeight) => pens.map((wordInsertionPenalty) => ({ lmWeight, wordInsertionPenalty })));
}

/** Every grid point scored against `refs` with the hypotheses `hypsAt` gives; the fewest errors wins (the first among equals). */
export function searchGrid(
  grid: readonly { lmWeight: number; wordInsertionPenalty: number }[],
  refs: readonly TrnUtterance[],
  hypsAt: (lmWeight: number, wordInsertionPenalty: number) => TrnUtterance[],
  opts: Pick<TuneOptions, 'scoreOptions' | 'logger'> = {},
): TuneResult {
  const points: TunePoint[] = [];
  let best: TunePoint | null = null;
  for (const { lmWeight, wordInsertionPenalty } of grid) {
    const s = scoreTranscripts(refs, hypsAt(lmWeight, wordInsertionPenalty), {
      missingHyp: 'error',
      ...opts.scoreOptions,
    });
    const p: TunePoint = {
      lmWeight,
      wordInsertionPenalty,
      wer: s.wer,
      errors: s.errors,
      refWords: s.refWords,
      sub: s.sub,
      del: s.del,
      ins: s.ins,
    };
    points.push(p);
    opts.logger?.info(
      `tune: lmWeight ${lmWeight} penalty ${wordInsertionPenalty}: %WER ${s.wer.toFixed(2)} [ ${s.errors} / ${s.refWords}, ${s.ins} ins, ${s.del} del, ${s.sub} sub ]`,
    );
    if (!best || p.errors < best.errors) best = p;
  }
  return { best: best!, grid: points };
}

/**
 * Grid search for the LM weight and word insertion penalty with the lowest dev WER, decoding dev
 * once per grid point. Apply `best.lmWeight` and `best.wordInsertionPenalty` to the test set with
 * decodeSet. tuneByRescoring gets the same from one decode.
 */
export function tuneOnDev(
  decoder: Decoder,
  dev: readonly DecodeInput[],
  refs: readonly TrnUtterance[],
  opts: TuneOptions = {},
): TuneResult {
  const grid = tuningGrid(opts, dev.length);
  // Matrices computed once and reused across the grid.
  const inputs = dev.map((d) => ({ uttId: d.uttId, scores: typeof d.scores === 'function' ? d.scores() : d.scores }));
  return searchGrid(
    grid,
    refs,
    (lmWeight, wordInsertionPenalty) =>
      decodeSet(decoder, inputs, { ...opts, logger: undefined, lmWeight, wordInsertionPenalty }).hyps,
    opts,
  );
}

/** The 1-best of each utterance's lattice at these weights (empty words: no path). */
export function latticeHyps(
  lattices: readonly { uttId: string; lattice: WordLattice }[],
  lmWeight: number,
  wordInsertionPenalty: number,
): TrnUtterance[] {
  return lattices.map((l) => ({
    uttId: l.uttId,
    words: l.lattice.bestPath(lmWeight, wordInsertionPenalty)?.words ?? [],
    line: 0,
  }));
}

/**
 * The same grid search as tuneOnDev from one decode: dev is decoded once with lattices at the
 * first-pass weights (opts.lmWeight, opts.wordInsertionPenalty; default 1 and 0), and each grid
 * point rescores the lattices (./lattice.ts). Also returns the lattices.
 */
export function tuneByRescoring(
  decoder: Decoder,
  dev: readonly DecodeInput[],
  refs: readonly TrnUtterance[],
  opts: TuneOptions = {},
): TuneResult & { lattices: { uttId: string; lattice: WordLattice }[] } {
  const grid = tuningGrid(opts, dev.length);
  const first = decodeSet(decoder, dev, { ...opts, logger: undefined, lattice: true });
  const lattices = first.results.map((r) => ({ uttId: r.uttId, lattice: r.lattice! }));
  return { ...searchGrid(grid, refs, (lmw, pen) => latticeHyps(lattices, lmw, pen), opts), lattices };
}
