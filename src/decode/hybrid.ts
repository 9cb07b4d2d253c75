/**
 * Hybrid DNN-HMM acoustic scores: the network gives senone posteriors p(s | x); the HMM needs
 * likelihoods, and p(x | s) is proportional to p(s | x) / p(s). So the search adds
 * acousticScale * (log p(s | x) - log p(s)) per frame (Kaldi nnet-am-compute / nnet-forward with
 * --class-frame-counts), with the priors p(s) estimated from the training alignments.
 */
import { FormatError } from '../util/errors.ts';
import type { ScoreMatrix } from './types.ts';

export interface PriorOptions {
  /** Priors below this are raised to it before the log (unseen senones). Default 1e-10 (Kaldi nnet1 --prior-floor). */
  priorFloor?: number;
}

/** Natural-log priors from per-senone frame counts (e.g. of the training alignments). */
export function logPriorsFromCounts(counts: ArrayLike<number>, opts: PriorOptions = {}): Float64Array {
  const floor = opts.priorFloor ?? 1e-10;
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (!(c >= 0 && Number.isFinite(c)))
      throw new FormatError(`senone count ${i} is not a non-negative number`, {
        expected: 'counts >= 0',
        found: String(c),
      });
    total += c;
  }
  if (!(total > 0)) throw new FormatError('senone counts are all zero', { expected: 'some frames', found: '0' });
  return Float64Array.from({ length: counts.length }, (_, i) => Math.log(Math.max(floor, counts[i] / total)));
}

export interface HybridScoreOptions {
  /** Scale of the acoustic log-likelihoods. Default 0.1 (Kaldi decode.sh --acwt). */
  acousticScale?: number;
  /** `posteriors` (probabilities, default) or `log-posteriors` (log-softmax outputs). */
  input?: 'posteriors' | 'log-posteriors';
  /** Probabilities below this are raised to it before the log. Default 1e-30. */
  posteriorFloor?: number;
  /** Utterance id for error messages. */
  uttId?: string;
}

/**
 * Scaled hybrid scores for a frames x senones matrix (row-major):
 * acousticScale * (log posterior - log prior).
 */
export function hybridScores(
  posteriors: ArrayLike<number>,
  numFrames: number,
  logPriors: ArrayLike<number>,
  opts: HybridScoreOptions = {},
): ScoreMatrix {
  const D = logPriors.length;
  const scale = opts.acousticScale ?? 0.1;
  const floor = opts.posteriorFloor ?? 1e-30;
  const isLog = (opts.input ?? 'posteriors') === 'log-posteriors';
  if (posteriors.length !== numFrames * D) {
    throw new FormatError('posterior matrix does not match the number of senone priors', {
      uttId: opts.uttId,
      expected: `${numFrames} x ${D} = ${numFrames * D} values`,
      found: String(posteriors.length),
    });
  }
  const data = new Float32Array(numFrames * D);
  for (let t = 0; t < numFrames; t++) {
    const o = t * D;
    for (let s = 0; s < D; s++) {
      const p = posteriors[o + s];
      if (Number.isNaN(p))
        throw new FormatError('posterior is NaN', {
          uttId: opts.uttId,
          expected: 'a number',
          found: `NaN at frame ${t}, senone ${s}`,
        });
      const lp = isLog ? p : Math.log(p > floor ? p : floor);
      data[o + s] = scale * (lp - logPriors[s]);
    }
  }
  return { numFrames, numPdfs: D, data };
}
