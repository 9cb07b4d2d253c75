/**
 * Ensemble combination at temperature T (Hinton et al. 2015, section 4): every member's logits z_i
 * are softened, p_i = softmax(z_i / T), and combined per frame:
 *
 *   arithmetic (the paper):  p = (1/K) sum_i p_i
 *   geometric (option):      p = normalise(exp((1/K) sum_i log p_i))  =  softmax(mean_i(z_i) / T)
 *
 * (the normalised geometric mean of softmaxes is the softmax of the mean logits, because every
 * log p_i differs from z_i / T by a per-frame constant).
 *
 * Everything is computed in float64 with log-sum-exp (the row maximum is subtracted before exp),
 * so logits of any magnitude and small T neither overflow nor lose the small probabilities.
 * Plain typed arrays, frame-major rows of `numSenones` values; a TF.js version
 * (`combineEnsembleTf`) gives the same numbers in float32 on the active backend.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, FormatError } from '../util/errors.ts';
import { logSoftmaxRows, softmaxRows } from '../util/softmax.ts';

export type CombinationRule = 'arithmetic' | 'geometric';
export const COMBINATION_RULES: readonly CombinationRule[] = ['arithmetic', 'geometric'];

export interface CombineOptions {
  /** Temperature T > 0 of the softened distributions. Default 1. */
  temperature: number;
  /** 'arithmetic' (mean of probabilities, the paper) or 'geometric' (normalised mean of log-probabilities). Default 'arithmetic'. */
  rule: CombinationRule;
}

export const DEFAULT_COMBINE_OPTIONS: Readonly<CombineOptions> = Object.freeze({ temperature: 1, rule: 'arithmetic' });

export function resolveCombineOptions(o: Partial<CombineOptions> = {}): CombineOptions {
  const r = { ...DEFAULT_COMBINE_OPTIONS, ...o };
  if (!(typeof r.temperature === 'number' && r.temperature > 0 && Number.isFinite(r.temperature))) {
    throw new ConfigError('bad temperature', {
      keyPath: 'temperature',
      expected: 'a finite number > 0',
      found: String(r.temperature),
    });
  }
  if (!COMBINATION_RULES.includes(r.rule))
    throw new ConfigError('unknown combination rule', {
      keyPath: 'combination',
      expected: COMBINATION_RULES.join(' or '),
      found: String(r.rule),
    });
  return r;
}

/**
 * Streaming combination of K members for one block of frames: `add()` each member's logits in
 * turn (only one member's logits need to exist at a time), then `finish()`. Memory: one float64
 * accumulator of numFrames x numSenones, independent of K.
 */
export class EnsembleAccumulator {
  readonly numFrames: number;
  readonly numSenones: number;
  readonly options: CombineOptions;
  private readonly acc: Float64Array;
  private readonly scratch: Float64Array;
  private members = 0;
  private finished = false;

  constructor(numFrames: number, numSenones: number, opts: Partial<CombineOptions> = {}) {
    this.numFrames = numFrames;
    this.numSenones = numSenones;
    this.options = resolveCombineOptions(opts);
    this.acc = new Float64Array(numFrames * numSenones);
    this.scratch = new Float64Array(numFrames * numSenones);
  }

  get numMembers(): number {
    return this.members;
  }

  /** Add one member's logits (numFrames x numSenones, row-major). `what` names the member in errors. */
  add(logits: ArrayLike<number>, what = `member ${this.members}`): void {
    if (this.finished) throw new Error('EnsembleAccumulator: add() after finish()');
    const n = this.numFrames * this.numSenones;
    if (logits.length !== n) {
      throw new FormatError('member logits have the wrong size', {
        found: `${logits.length} values from ${what}`,
        expected: `${this.numFrames} frames x ${this.numSenones} senones = ${n}`,
      });
    }
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(logits[i])) {
        throw new FormatError('member logits are not finite', {
          expected: 'finite logits',
          found: `${logits[i]} from ${what} at frame ${Math.floor(i / this.numSenones)}, senone ${i % this.numSenones}`,
        });
      }
    }
    const lp = logSoftmaxRows(logits, this.numFrames, this.numSenones, this.options.temperature, this.scratch);
    const acc = this.acc;
    if (this.options.rule === 'arithmetic') for (let i = 0; i < n; i++) acc[i] += Math.exp(lp[i]);
    else for (let i = 0; i < n; i++) acc[i] += lp[i];
    this.members++;
  }

  /** The combined distribution per frame (float64, rows sum to 1). */
  finish(): Float64Array<ArrayBufferLike> {
    if (this.finished) throw new Error('EnsembleAccumulator: finish() twice');
    if (this.members === 0)
      throw new ConfigError('an ensemble needs at least one member', { expected: '>= 1 member', found: '0' });
    this.finished = true;
    const K = this.members;
    const acc = this.acc;
    const S = this.numSenones;
    if (this.options.rule === 'arithmetic') {
      // Renormalise each row (sum is K up to rounding) rather than divide by K: rows sum to 1 to the ulp.
      for (let f = 0; f < this.numFrames; f++) {
        const b = f * S;
        let sum = 0;
        for (let s = 0; s < S; s++) sum += acc[b + s];
        const inv = 1 / sum;
        for (let s = 0; s < S; s++) acc[b + s] *= inv;
      }
      return acc;
    }
    // Geometric: softmax of the mean log-probability (log-sum-exp again).
    for (let i = 0; i < acc.length; i++) acc[i] /= K;
    return softmaxRows(acc, this.numFrames, S, 1, acc);
  }
}

/** One-shot combination of K members' logits (each numFrames x numSenones). */
export function combineEnsemble(
  memberLogits: readonly ArrayLike<number>[],
  numFrames: number,
  numSenones: number,
  opts: Partial<CombineOptions> = {},
): Float64Array<ArrayBufferLike> {
  const acc = new EnsembleAccumulator(numFrames, numSenones, opts);
  memberLogits.forEach((z, i) => acc.add(z, `member ${i}`));
  return acc.finish();
}

/**
 * TF.js version: K logits tensors [n, S] -> combined probabilities [n, S] (float32) on the active
 * backend. Arithmetic: mean of softmax(z_i / T); geometric: softmax(mean_i logSoftmax(z_i / T)).
 */
export function combineEnsembleTf(
  memberLogits: readonly tf.Tensor2D[],
  opts: Partial<CombineOptions> = {},
): tf.Tensor2D {
  const o = resolveCombineOptions(opts);
  if (memberLogits.length === 0)
    throw new ConfigError('an ensemble needs at least one member', { expected: '>= 1 member', found: '0' });
  const shape = memberLogits[0].shape;
  memberLogits.forEach((z, i) => {
    if (z.shape[0] !== shape[0] || z.shape[1] !== shape[1])
      throw new FormatError('member logits differ in shape', {
        expected: `[${shape}]`,
        found: `[${z.shape}] from member ${i}`,
      });
  });
  return tf.tidy(() => {
    const logp = memberLogits.map((z) => tf.logSoftmax(o.temperature === 1 ? z : tf.div(z, o.temperature)));
    if (o.rule === 'arithmetic') return tf.div(tf.addN(logp.map((l) => tf.exp(l))), memberLogits.length) as tf.Tensor2D;
    return tf.softmax(tf.div(tf.addN(logp), memberLogits.length)) as tf.Tensor2D;
  });
}
