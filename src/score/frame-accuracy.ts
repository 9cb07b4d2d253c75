/**
 * Frame accuracy: the share of frames whose predicted class (argmax of the network output)
 * equals the reference class (the forced alignment's senone id). Totals are frame-weighted.
 */
import { FormatError } from '../util/errors.ts';

export interface FrameAccuracyInput {
  uttId: string;
  /** Predicted class per frame. */
  predicted: ArrayLike<number>;
  /** Reference class per frame. */
  reference: ArrayLike<number>;
}

export interface FrameAccuracyResult {
  /** Frame-weighted accuracy over all utterances, in [0, 1] (0 when there are no frames). */
  accuracy: number;
  correct: number;
  frames: number;
  utterances: { uttId: string; correct: number; frames: number; accuracy: number }[];
}

/**
 * Row-wise argmax of a row-major [numFrames x dim] matrix; the first maximum wins on ties.
 * Throws FormatError when the length is not a multiple of `dim` or a value is NaN.
 */
export function argmaxRows(values: ArrayLike<number>, dim: number, uttId?: string): Int32Array {
  if (!(dim > 0) || values.length % dim !== 0) {
    throw new FormatError('posterior matrix length is not a multiple of the class count', {
      uttId,
      expected: `a multiple of ${dim}`,
      found: String(values.length),
    });
  }
  const n = values.length / dim;
  const out = new Int32Array(n);
  for (let t = 0; t < n; t++) {
    let best = 0,
      bestV = -Infinity;
    for (let k = 0; k < dim; k++) {
      const v = values[t * dim + k];
      if (Number.isNaN(v))
        throw new FormatError('NaN in posteriors', {
          uttId,
          expected: 'finite values',
          found: `NaN at frame ${t}, class ${k}`,
        });
      if (v > bestV) {
        bestV = v;
        best = k;
      }
    }
    out[t] = best;
  }
  return out;
}

/** Per-utterance and total frame accuracy. Length mismatch -> FormatError naming the utterance. */
export function frameAccuracy(utts: Iterable<FrameAccuracyInput>): FrameAccuracyResult {
  let correct = 0,
    frames = 0;
  const utterances: FrameAccuracyResult['utterances'] = [];
  for (const u of utts) {
    if (u.predicted.length !== u.reference.length) {
      throw new FormatError('prediction and reference have different frame counts', {
        uttId: u.uttId,
        expected: `${u.reference.length} frames (reference)`,
        found: `${u.predicted.length} predicted`,
      });
    }
    let c = 0;
    for (let t = 0; t < u.reference.length; t++) if (u.predicted[t] === u.reference[t]) c++;
    const n = u.reference.length;
    utterances.push({ uttId: u.uttId, correct: c, frames: n, accuracy: n ? c / n : 0 });
    correct += c;
    frames += n;
  }
  return { accuracy: frames ? correct / frames : 0, correct, frames, utterances };
}
