/**
 * The GMM feature transform of the tri2b / tri3b stages, applied to CMVN-normalised MFCC frames:
 *   spliced = [x_{t-s} .. x_{t+s}]   (Kaldi splice-feats; frames beyond the ends repeat the edge frame)
 *   y       = M spliced              (LDA followed by MLLT: M = A_mllt ... A_mllt L_lda, one matrix)
 *   z       = A_spk y + b_spk        (fMLLR of the utterance's speaker, tri3b; absent = identity)
 * The global matrix replaces add-deltas (as in train_lda_mllt.sh). Speaker transforms are kept per
 * speaker id; a speaker without one is not adapted.
 */
import { FormatError } from '../util/errors.ts';
import { matMul } from './linalg.ts';

export interface FeatureTransformJson {
  format: 'am-distill.gmm-transform';
  version: 1;
  splice: number;
  inDim: number;
  outDim: number;
  /** outDim rows of (2 splice + 1) inDim values. */
  matrix: number[][];
}

export class FeatureTransform {
  readonly splice: number;
  /** Dimension of one input frame (e.g. 13 MFCCs). */
  readonly inDim: number;
  /** outDim x (2 splice + 1) inDim, row-major; null before LDA is estimated (splicing only). */
  matrix: Float64Array | null;
  /** fMLLR per speaker: dim x (dim + 1), row-major. */
  readonly speakers = new Map<string, Float64Array>();
  /** Apply the speaker transforms (false: the unadapted frames, for first passes and two-feature statistics). */
  adapt = true;

  constructor(splice: number, inDim: number, matrix: Float64Array | null = null) {
    this.splice = splice;
    this.inDim = inDim;
    this.matrix = matrix;
  }

  get splicedDim(): number {
    return (2 * this.splice + 1) * this.inDim;
  }

  /** Dimension of the frames `apply` returns. */
  get dim(): number {
    return this.matrix ? this.matrix.length / this.splicedDim : this.splicedDim;
  }

  /** Left-multiply the global matrix by a square transform (MLLT): M <- A M. */
  compose(a: Float64Array): void {
    if (!this.matrix)
      throw new FormatError('MLLT before LDA', { expected: 'an LDA matrix to compose with', found: 'none' });
    const d = this.dim;
    if (a.length !== d * d)
      throw new FormatError('MLLT matrix size', { expected: `${d} x ${d}`, found: `${a.length} values` });
    this.matrix = matMul(a, this.matrix, d, d, this.splicedDim);
  }

  /** Spliced frames of one utterance (rows of `frames`, each inDim values). */
  splicedFrames(frames: { numFrames: number; dim: number; data: Float32Array }): Float32Array[] {
    const { numFrames: n, dim } = frames;
    if (dim !== this.inDim)
      throw new FormatError('GMM transform input dimension', { expected: String(this.inDim), found: String(dim) });
    const s = this.splice,
      sd = this.splicedDim;
    const out: Float32Array[] = new Array(n);
    for (let t = 0; t < n; t++) {
      const row = new Float32Array(sd);
      for (let k = -s; k <= s; k++) {
        const src = Math.min(n - 1, Math.max(0, t + k));
        row.set(frames.data.subarray(src * dim, (src + 1) * dim), (k + s) * dim);
      }
      out[t] = row;
    }
    return out;
  }

  /** Transformed frames of one utterance of `speaker` (global matrix, then the speaker's fMLLR if any and `adapt`). */
  apply(frames: { numFrames: number; dim: number; data: Float32Array }, speaker: string | null): Float32Array[] {
    const spliced = this.splicedFrames(frames);
    if (!this.matrix) return spliced;
    const m = this.matrix,
      sd = this.splicedDim,
      d = this.dim;
    const w = !this.adapt || speaker === null ? undefined : this.speakers.get(speaker);
    return spliced.map((x) => {
      const y = new Float32Array(d);
      for (let i = 0; i < d; i++) {
        let s = 0;
        const o = i * sd;
        for (let j = 0; j < sd; j++) s += m[o + j] * x[j];
        y[i] = s;
      }
      return w ? applyAffine(w, y, d) : y;
    });
  }

  /** The global part (speaker transforms belong to the speakers of one corpus, not to the model). */
  toJSON(): FeatureTransformJson {
    if (!this.matrix)
      throw new FormatError('GMM transform without a matrix', {
        expected: 'an estimated LDA(+MLLT) matrix',
        found: 'splicing only',
      });
    const d = this.dim,
      sd = this.splicedDim;
    return {
      format: 'am-distill.gmm-transform',
      version: 1,
      splice: this.splice,
      inDim: this.inDim,
      outDim: d,
      matrix: Array.from({ length: d }, (_, i) => Array.from(this.matrix!.subarray(i * sd, (i + 1) * sd))),
    };
  }

  static fromJSON(j: FeatureTransformJson, file = 'model.json'): FeatureTransform {
    if (j?.format !== 'am-distill.gmm-transform' || j.version !== 1)
      throw new FormatError('not a GMM feature transform', {
        file,
        expected: 'format am-distill.gmm-transform version 1',
        found: `${j?.format} ${j?.version}`,
      });
    const sd = (2 * j.splice + 1) * j.inDim;
    if (
      !Array.isArray(j.matrix) ||
      j.matrix.length !== j.outDim ||
      j.matrix.some((r) => !Array.isArray(r) || r.length !== sd)
    ) {
      throw new FormatError('GMM feature transform matrix size', {
        file,
        expected: `${j.outDim} rows of ${sd} values`,
        found: `${j.matrix?.length} rows`,
      });
    }
    return new FeatureTransform(j.splice, j.inDim, Float64Array.from(j.matrix.flat()));
  }
}

/** z = A y + b for one frame (W = [A b], d x (d+1), row-major). */
export function applyAffine(w: Float64Array, y: ArrayLike<number>, d: number): Float32Array {
  const z = new Float32Array(d);
  for (let i = 0; i < d; i++) {
    const o = i * (d + 1);
    let s = w[o + d];
    for (let j = 0; j < d; j++) s += w[o + j] * y[j];
    z[i] = s;
  }
  return z;
}
