/**
 * Cepstral mean and variance normalisation, as Kaldi's `compute-cmvn-stats` / `apply-cmvn`:
 * statistics are sums, sums of squares and a frame count (Kaldi's 2 x (dim + 1) matrix),
 * accumulated per speaker and applied to every utterance of that speaker.
 */
import { FormatError, NumericError } from '../util/errors.ts';
import { createMatrix, type FeatureMatrix } from './matrix.ts';

/** Sufficient statistics of one speaker (or utterance) in double precision. */
export class CmvnStats {
  readonly dim: number;
  count = 0;
  readonly sum: Float64Array;
  readonly sumSq: Float64Array;

  constructor(dim: number) {
    this.dim = dim;
    this.sum = new Float64Array(dim);
    this.sumSq = new Float64Array(dim);
  }

  /** Add every frame of `m` (with an optional weight per frame). */
  accumulate(m: FeatureMatrix, weight = 1): this {
    if (m.dim !== this.dim) {
      throw new FormatError('CMVN statistics and features differ in dimension', {
        expected: String(this.dim),
        found: String(m.dim),
      });
    }
    const { sum, sumSq, dim } = this;
    for (let t = 0; t < m.numFrames; t++) {
      const base = t * dim;
      for (let d = 0; d < dim; d++) {
        const x = m.data[base + d];
        sum[d] += weight * x;
        sumSq[d] += weight * x * x;
      }
    }
    this.count += weight * m.numFrames;
    return this;
  }

  /** Add another set of statistics (e.g. the same speaker in another shard). */
  add(other: CmvnStats): this {
    if (other.dim !== this.dim) {
      throw new FormatError('cannot add CMVN statistics of different dimension', {
        expected: String(this.dim),
        found: String(other.dim),
      });
    }
    for (let d = 0; d < this.dim; d++) {
      this.sum[d] += other.sum[d];
      this.sumSq[d] += other.sumSq[d];
    }
    this.count += other.count;
    return this;
  }

  mean(): Float64Array {
    const m = new Float64Array(this.dim);
    for (let d = 0; d < this.dim; d++) m[d] = this.sum[d] / this.count;
    return m;
  }

  toJSON(): CmvnStatsJson {
    return { count: this.count, sum: Array.from(this.sum), sumSq: Array.from(this.sumSq) };
  }

  static fromJSON(j: CmvnStatsJson, where = 'CMVN statistics'): CmvnStats {
    if (
      !j ||
      typeof j.count !== 'number' ||
      !Array.isArray(j.sum) ||
      !Array.isArray(j.sumSq) ||
      j.sum.length !== j.sumSq.length
    ) {
      throw new FormatError('malformed CMVN statistics', {
        file: where,
        expected: '{count, sum[], sumSq[]} of equal lengths',
        found: JSON.stringify(j)?.slice(0, 80),
      });
    }
    const s = new CmvnStats(j.sum.length);
    s.count = j.count;
    s.sum.set(j.sum);
    s.sumSq.set(j.sumSq);
    return s;
  }

  /** Kaldi's stats matrix: [[sum..., count], [sumSq..., 0]]. */
  toKaldiMatrix(): number[][] {
    return [
      [...this.sum, this.count],
      [...this.sumSq, 0],
    ];
  }
}

export interface CmvnStatsJson {
  count: number;
  sum: number[];
  sumSq: number[];
}

export interface ApplyCmvnOptions {
  /** Also divide by the standard deviation. Default false (Kaldi apply-cmvn default). */
  normVars: boolean;
}

/** Kaldi's variance floor in apply-cmvn. */
export const CMVN_VARIANCE_FLOOR = 1e-20;

/** Per-dimension (scale, offset) so that normalised = x * scale + offset. */
export function cmvnTransform(
  stats: CmvnStats,
  opts: Partial<ApplyCmvnOptions> = {},
): { scale: Float64Array; offset: Float64Array } {
  if (!(stats.count >= 1)) {
    throw new NumericError('insufficient CMVN statistics', {
      expected: 'a count >= 1 frame',
      found: String(stats.count),
    });
  }
  const scale = new Float64Array(stats.dim);
  const offset = new Float64Array(stats.dim);
  for (let d = 0; d < stats.dim; d++) {
    const mean = stats.sum[d] / stats.count;
    if (opts.normVars) {
      let v = stats.sumSq[d] / stats.count - mean * mean;
      if (v < CMVN_VARIANCE_FLOOR) v = CMVN_VARIANCE_FLOOR;
      scale[d] = 1 / Math.sqrt(v);
      offset[d] = -mean * scale[d];
    } else {
      scale[d] = 1;
      offset[d] = -mean;
    }
  }
  return { scale, offset };
}

/** Normalised copy of `m` (apply-cmvn). */
export function applyCmvn(m: FeatureMatrix, stats: CmvnStats, opts: Partial<ApplyCmvnOptions> = {}): FeatureMatrix {
  if (m.dim !== stats.dim) {
    throw new FormatError('CMVN statistics and features differ in dimension', {
      expected: String(stats.dim),
      found: String(m.dim),
    });
  }
  const { scale, offset } = cmvnTransform(stats, opts);
  const out = createMatrix(m.numFrames, m.dim);
  for (let t = 0; t < m.numFrames; t++) {
    const base = t * m.dim;
    for (let d = 0; d < m.dim; d++) out.data[base + d] = m.data[base + d] * scale[d] + offset[d];
  }
  return out;
}
