/**
 * Delta and acceleration features, as Kaldi's `add-deltas` (DeltaFeatures): regression over
 * +-window frames, applied `order` times, frames beyond the ends replicate the edge frames.
 */
import { ConfigError } from '../util/errors.ts';
import { createMatrix, type FeatureMatrix } from './matrix.ts';

export interface DeltaOptions {
  /** Highest order of deltas (2 = deltas + accelerations). Default 2. */
  order: number;
  /** Regression half-window in frames. Default 2 (window of 5 frames). */
  window: number;
}

export const DEFAULT_DELTA_OPTIONS: Readonly<DeltaOptions> = Object.freeze({ order: 2, window: 2 });

/**
 * Kaldi's delta filter coefficients: scales[0] = [1]; scales[i] = scales[i-1] convolved with
 * [-window .. window] / sum(j^2). scales[i] has 2 * i * window + 1 taps.
 */
export function deltaScales(opts: Partial<DeltaOptions> = {}): Float64Array[] {
  const { order, window } = { ...DEFAULT_DELTA_OPTIONS, ...opts };
  if (!Number.isInteger(order) || order < 0)
    throw new ConfigError('bad delta order', { keyPath: 'order', expected: 'an integer >= 0', found: String(order) });
  if (!Number.isInteger(window) || window < 1)
    throw new ConfigError('bad delta window', {
      keyPath: 'window',
      expected: 'an integer >= 1',
      found: String(window),
    });
  const scales: Float64Array[] = [Float64Array.of(1)];
  for (let i = 1; i <= order; i++) {
    const prev = scales[i - 1];
    const prevOffset = (prev.length - 1) / 2;
    const curOffset = prevOffset + window;
    const cur = new Float64Array(prev.length + 2 * window);
    let normalizer = 0;
    for (let j = -window; j <= window; j++) {
      normalizer += j * j;
      for (let k = -prevOffset; k <= prevOffset; k++) cur[j + k + curOffset] += j * prev[k + prevOffset];
    }
    for (let k = 0; k < cur.length; k++) cur[k] /= normalizer;
    scales.push(cur);
  }
  return scales;
}

/** [features, deltas, accelerations, ...]: output dim = dim * (order + 1). */
export function addDeltas(m: FeatureMatrix, opts: Partial<DeltaOptions> = {}): FeatureMatrix {
  const scales = deltaScales(opts);
  const { numFrames, dim } = m;
  const outDim = dim * scales.length;
  const out = createMatrix(numFrames, outDim);
  const acc = new Float64Array(dim);
  for (let t = 0; t < numFrames; t++) {
    for (let i = 0; i < scales.length; i++) {
      const s = scales[i];
      const maxOffset = (s.length - 1) / 2;
      acc.fill(0);
      for (let j = -maxOffset; j <= maxOffset; j++) {
        const scale = s[j + maxOffset];
        if (scale === 0) continue;
        let f = t + j;
        if (f < 0) f = 0;
        else if (f >= numFrames) f = numFrames - 1;
        const base = f * dim;
        for (let d = 0; d < dim; d++) acc[d] += scale * m.data[base + d];
      }
      out.data.set(acc, t * outDim + i * dim);
    }
  }
  return out;
}
