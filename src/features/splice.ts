/**
 * Frame splicing for the DNN input, as Kaldi's `splice-feats`: frame t becomes the
 * concatenation of frames t - left .. t + right, indices clamped to the utterance
 * (the edge frames are replicated).
 */
import { ConfigError } from '../util/errors.ts';
import { createMatrix, type FeatureMatrix } from './matrix.ts';

export interface SpliceOptions {
  /** Frames of left context. Default 4 (Kaldi splice-feats). */
  leftContext: number;
  /** Frames of right context. Default 4. */
  rightContext: number;
}

export const DEFAULT_SPLICE_OPTIONS: Readonly<SpliceOptions> = Object.freeze({ leftContext: 4, rightContext: 4 });

function resolveSplice(opts: Partial<SpliceOptions>): SpliceOptions {
  const o = { ...DEFAULT_SPLICE_OPTIONS, ...opts };
  for (const k of ['leftContext', 'rightContext'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 0)
      throw new ConfigError('bad splice context', { keyPath: k, expected: 'an integer >= 0', found: String(o[k]) });
  }
  return o;
}

/** Output dimension of spliced frames. */
export function splicedDim(dim: number, opts: Partial<SpliceOptions> = {}): number {
  const o = resolveSplice(opts);
  return dim * (o.leftContext + 1 + o.rightContext);
}

/**
 * Write the spliced frame `t` of `m` into out[outOffset ...] without allocating
 * (for batching: a spliced corpus would be (left + 1 + right) times larger).
 */
export function spliceFrameInto(
  m: FeatureMatrix,
  t: number,
  leftContext: number,
  rightContext: number,
  out: Float32Array,
  outOffset = 0,
): void {
  const { dim, numFrames, data } = m;
  let o = outOffset;
  for (let j = -leftContext; j <= rightContext; j++) {
    let f = t + j;
    if (f < 0) f = 0;
    else if (f >= numFrames) f = numFrames - 1;
    out.set(data.subarray(f * dim, (f + 1) * dim), o);
    o += dim;
  }
}

/** Spliced copy of the whole matrix. */
export function spliceFrames(m: FeatureMatrix, opts: Partial<SpliceOptions> = {}): FeatureMatrix {
  const { leftContext, rightContext } = resolveSplice(opts);
  const outDim = m.dim * (leftContext + 1 + rightContext);
  const out = createMatrix(m.numFrames, outDim);
  for (let t = 0; t < m.numFrames; t++) spliceFrameInto(m, t, leftContext, rightContext, out.data, t * outDim);
  return out;
}
