/**
 * Feature-space transforms of GMM-HMM training, as Kaldi's tri2b / tri3b recipes estimate them:
 *   - LDA (acc-lda + est-lda): spliced frames projected to the directions that best separate the
 *     senones, scaled so that the within-class covariance is the identity;
 *   - MLLT (gmm-acc-mllt + est-mllt; Gopinath 1998, Gales' semi-tied covariances): a square
 *     transform that makes diagonal covariances fit better, estimated row by row;
 *   - fMLLR (gmm-est-fmllr; Gales 1998 "constrained MLLR"): one affine transform W = [A b] per
 *     speaker maximising the likelihood of that speaker's frames under the diagonal GMMs, row by
 *     row with the cofactor update (Kaldi FmllrInnerUpdate, fmllr-diag-gmm.cc).
 * Statistics accumulate in double precision; every estimator reports its auxiliary function
 * before and after, so a caller (and the tests) can check that each update increases it.
 */
import { NumericError } from '../util/errors.ts';
import type { DiagGmm, Frame } from './gmm.ts';
import { cholesky, invert, invertLower, logAbsDet, matMul, symmetricEigen, transpose } from './linalg.ts';

/** Symmetric d x d accumulation of w * v v^T into the upper triangle (row-major), mirrored by `symmetrise`. */
function addOuterUpper(m: Float64Array, v: ArrayLike<number>, w: number, d: number): void {
  for (let i = 0; i < d; i++) {
    const wi = w * v[i];
    if (wi === 0) continue;
    const o = i * d;
    for (let j = i; j < d; j++) m[o + j] += wi * v[j];
  }
}

function symmetrise(m: Float64Array, d: number): Float64Array {
  const s = Float64Array.from(m);
  for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) s[j * d + i] = s[i * d + j];
  return s;
}

/** a += b elementwise (the block sums of the sharded training: one order, whatever the shards). */
export function addInto(a: Float64Array, b: Float64Array): void {
  if (a.length !== b.length)
    throw new NumericError('statistics of another size', { expected: String(a.length), found: String(b.length) });
  for (let i = 0; i < a.length; i++) a[i] += b[i];
}

/** a := b, of the same size (an unpacked block's statistics). */
export function copyInto(a: Float64Array, b: Float64Array): void {
  if (a.length !== b.length)
    throw new NumericError('statistics of another size', { expected: String(a.length), found: String(b.length) });
  a.set(b);
}

function sameShape(what: string, a: number[], b: number[]): void {
  if (a.some((x, i) => x !== b[i]))
    throw new NumericError(`${what} statistics of another shape`, { expected: a.join(' x '), found: b.join(' x ') });
}

// ---------------------------------------------------------------------------------------------
// LDA

/** Class-conditional first-order and total second-order statistics (Kaldi LdaEstimate). */
export class LdaAccs {
  readonly dim: number;
  readonly numClasses: number;
  readonly counts: Float64Array;
  readonly sums: Float64Array;
  private readonly scatter: Float64Array;

  constructor(numClasses: number, dim: number) {
    this.dim = dim;
    this.numClasses = numClasses;
    this.counts = new Float64Array(numClasses);
    this.sums = new Float64Array(numClasses * dim);
    this.scatter = new Float64Array(dim * dim);
  }

  accumulate(x: Frame, cls: number, weight = 1): void {
    if (weight === 0) return;
    const d = this.dim,
      o = cls * d;
    this.counts[cls] += weight;
    for (let j = 0; j < d; j++) this.sums[o + j] += weight * x[j];
    addOuterUpper(this.scatter, x, weight, d);
  }

  get totalCount(): number {
    let s = 0;
    for (const c of this.counts) s += c;
    return s;
  }

  /** Add another block's statistics (same classes and dimension). */
  add(o: LdaAccs): void {
    sameShape('LDA', [this.numClasses, this.dim], [o.numClasses, o.dim]);
    addInto(this.counts, o.counts);
    addInto(this.sums, o.sums);
    addInto(this.scatter, o.scatter);
  }

  pack(): { numClasses: number; dim: number; counts: Float64Array; sums: Float64Array; scatter: Float64Array } {
    return { numClasses: this.numClasses, dim: this.dim, counts: this.counts, sums: this.sums, scatter: this.scatter };
  }

  static unpack(p: ReturnType<LdaAccs['pack']>): LdaAccs {
    const a = new LdaAccs(p.numClasses, p.dim);
    copyInto(a.counts, p.counts);
    copyInto(a.sums, p.sums);
    copyInto(a.scatter, p.scatter);
    return a;
  }

  /** Total, between-class and within-class covariances (each d x d, divided by the total count). */
  covariances(): { total: Float64Array; between: Float64Array; within: Float64Array; mean: Float64Array } {
    const d = this.dim,
      n = this.totalCount;
    if (!(n > 0)) throw new NumericError('LDA: no statistics', { expected: 'frames with a class', found: '0 frames' });
    const mean = new Float64Array(d);
    for (let c = 0; c < this.numClasses; c++) for (let j = 0; j < d; j++) mean[j] += this.sums[c * d + j] / n;
    const total = symmetrise(this.scatter, d);
    for (let i = 0; i < d * d; i++) total[i] /= n;
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) total[i * d + j] -= mean[i] * mean[j];
    const between = new Float64Array(d * d);
    const mu = new Float64Array(d);
    for (let c = 0; c < this.numClasses; c++) {
      const nc = this.counts[c];
      if (!(nc > 0)) continue;
      for (let j = 0; j < d; j++) mu[j] = this.sums[c * d + j] / nc;
      addOuterUpper(between, mu, nc / n, d);
    }
    const b = symmetrise(between, d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) b[i * d + j] -= mean[i] * mean[j];
    const within = Float64Array.from(total, (t, i) => t - b[i]);
    return { total, between: b, within, mean };
  }
}

export interface LdaResult {
  /** outDim x dim, row-major: y = M x. */
  matrix: Float64Array;
  outDim: number;
  inDim: number;
  /** Generalised eigenvalues (between / within), all of them, descending. */
  eigenvalues: Float64Array;
  frames: number;
}

/**
 * est-lda: with within = C C^T (Cholesky), the eigenvectors U of C^-1 B C^-T give M = U^T C^-1
 * (rows sorted by eigenvalue, the top `outDim` kept). Projected, the within-class covariance is
 * the identity and the between-class covariance is diag(eigenvalues).
 */
export function estimateLda(accs: LdaAccs, outDim: number): LdaResult {
  const d = accs.dim;
  if (!Number.isInteger(outDim) || outDim < 1 || outDim > d)
    throw new NumericError('LDA: bad output dimension', { expected: `1..${d}`, found: String(outDim) });
  const { between, within } = accs.covariances();
  const cinv = invertLower(cholesky(within, d, 'the within-class covariance of the LDA statistics'), d);
  const bt = matMul(matMul(cinv, between, d, d, d), transpose(cinv, d, d), d, d, d);
  const { values, vectors } = symmetricEigen(bt, d);
  const top = new Float64Array(outDim * d);
  for (let k = 0; k < outDim; k++) for (let j = 0; j < d; j++) top[k * d + j] = vectors[j * d + k];
  return { matrix: matMul(top, cinv, outDim, d, d), outDim, inDim: d, eigenvalues: values, frames: accs.totalCount };
}

// ---------------------------------------------------------------------------------------------
// MLLT

/**
 * MLLT statistics: beta = total count and, per dimension i, G_i = sum_m (1 / var_mi) S_m where
 * S_m = sum_t gamma_tm (x_t - mu_m)(x_t - mu_m)^T. Accumulated per Gaussian as gamma, sum x and
 * the full scatter of x (d^2/2 per frame and component instead of d^3/2), combined in `finish`.
 */
export class MlltAccs {
  readonly dim: number;
  beta = 0;
  private readonly perGauss = new Map<DiagGmm, { occ: Float64Array; sum: Float64Array; scatter: Float64Array[] }>();
  private post: Float64Array = new Float64Array(1);

  constructor(dim: number) {
    this.dim = dim;
  }

  /** One frame aligned to `gmm`, shared among its components by their posteriors. */
  accumulate(gmm: DiagGmm, x: Frame, weight = 1): void {
    if (weight === 0) return;
    const d = this.dim,
      k = gmm.numComponents;
    let s = this.perGauss.get(gmm);
    if (!s) {
      s = {
        occ: new Float64Array(k),
        sum: new Float64Array(k * d),
        scatter: Array.from({ length: k }, () => new Float64Array(d * d)),
      };
      this.perGauss.set(gmm, s);
    }
    if (this.post.length < k) this.post = new Float64Array(k);
    if (k === 1) this.post[0] = 1;
    else gmm.posteriors(x, this.post);
    for (let c = 0; c < k; c++) {
      const w = weight * this.post[c];
      if (w < 1e-4 * weight) continue; // negligible components (Kaldi prunes randomly; this is deterministic)
      s.occ[c] += w;
      for (let j = 0; j < d; j++) s.sum[c * d + j] += w * x[j];
      addOuterUpper(s.scatter[c], x, w, d);
      this.beta += w;
    }
  }

  /** Zero statistics, keeping the per-Gaussian arrays (a new block of the same pass). */
  clear(): void {
    this.beta = 0;
    for (const s of this.perGauss.values()) {
      s.occ.fill(0);
      s.sum.fill(0);
      for (const m of s.scatter) m.fill(0);
    }
  }

  /**
   * The G_i (each d x d, symmetric), summed over the Gaussians in the order met, or in `order`
   * (a model's pdfs: the same order whatever the statistics saw first).
   */
  gMatrices(order?: readonly DiagGmm[]): Float64Array[] {
    const d = this.dim;
    const g = Array.from({ length: d }, () => new Float64Array(d * d));
    const centred = new Float64Array(d * d);
    const entries = order
      ? order.flatMap((gmm) => {
          const s = this.perGauss.get(gmm);
          return s ? [[gmm, s] as const] : [];
        })
      : this.perGauss;
    for (const [gmm, s] of entries) {
      for (let c = 0; c < gmm.numComponents; c++) {
        const n = s.occ[c];
        if (!(n > 0)) continue;
        const mu = gmm.means.subarray(c * d, (c + 1) * d);
        const sum = s.sum.subarray(c * d, (c + 1) * d);
        const sc = s.scatter[c];
        // S = scatter - sum mu^T - mu sum^T + n mu mu^T (upper triangle).
        for (let i = 0; i < d; i++)
          for (let j = i; j < d; j++)
            centred[i * d + j] = sc[i * d + j] - sum[i] * mu[j] - mu[i] * sum[j] + n * mu[i] * mu[j];
        for (let i = 0; i < d; i++) {
          const iv = gmm.invVars[c * d + i];
          const gi = g[i];
          for (let a = 0; a < d; a++) for (let b = a; b < d; b++) gi[a * d + b] += iv * centred[a * d + b];
        }
      }
    }
    return g.map((gi) => symmetrise(gi, d));
  }

  /** The reduced statistics (beta and the G_i, see gMatrices) that blocks of frames add up. */
  toStats(order?: readonly DiagGmm[]): MlltStats {
    return new MlltStats(this.dim, this.beta, this.gMatrices(order));
  }
}

/** What est-mllt needs: beta and the G_i. */
export interface MlltStatistics {
  readonly dim: number;
  readonly beta: number;
  gMatrices(): Float64Array[];
}

/**
 * MLLT statistics reduced to beta and the G_i (d matrices d x d), as Kaldi's gmm-acc-mllt writes
 * them: what the blocks of the sharded training sum (`add`, in block order) and the shards write.
 */
export class MlltStats implements MlltStatistics {
  constructor(
    readonly dim: number,
    public beta: number,
    readonly g: Float64Array[],
  ) {}

  static zero(dim: number): MlltStats {
    return new MlltStats(
      dim,
      0,
      Array.from({ length: dim }, () => new Float64Array(dim * dim)),
    );
  }

  add(o: MlltStats): void {
    sameShape('MLLT', [this.dim], [o.dim]);
    this.beta += o.beta;
    this.g.forEach((gi, i) => addInto(gi, o.g[i]));
  }

  gMatrices(): Float64Array[] {
    return this.g;
  }

  pack(): { dim: number; beta: number; g: Float64Array[] } {
    return { dim: this.dim, beta: this.beta, g: this.g };
  }

  static unpack(p: ReturnType<MlltStats['pack']>): MlltStats {
    if (!Array.isArray(p.g) || p.g.length !== p.dim || p.g.some((gi) => !(gi instanceof Float64Array)))
      throw new NumericError('MLLT statistics of another shape', {
        expected: `${p.dim} matrices`,
        found: String(p.g?.length),
      });
    return new MlltStats(p.dim, p.beta, p.g);
  }
}

/** MLLT auxiliary function beta log|det A| - 0.5 sum_i a_i^T G_i a_i. */
export function mlltAuxf(a: Float64Array, g: Float64Array[], beta: number, d: number): number {
  let q = beta * logAbsDet(a, d);
  for (let i = 0; i < d; i++) q -= 0.5 * quadForm(g[i], a.subarray(i * d, (i + 1) * d), d);
  return q;
}

function quadForm(m: Float64Array, v: ArrayLike<number>, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    let r = 0;
    for (let j = 0; j < n; j++) r += m[i * n + j] * v[j];
    s += v[i] * r;
  }
  return s;
}

/**
 * est-mllt: starting from the identity, `iters` sweeps of the row update
 * a_i = c_i G_i^-1 sqrt(beta / (c_i G_i^-1 c_i^T)), c_i the i-th row of the cofactors of A.
 */
export function estimateMllt(
  accs: MlltStatistics,
  iters = 100,
): { matrix: Float64Array; auxfBefore: number; auxfAfter: number; beta: number } {
  const d = accs.dim,
    beta = accs.beta;
  if (!(beta > 0)) throw new NumericError('MLLT: no statistics', { expected: 'aligned frames', found: '0 frames' });
  const g = accs.gMatrices();
  const ginv = g.map((gi, i) => invert(gi, d, `MLLT statistics G_${i}`));
  const a = new Float64Array(d * d);
  for (let i = 0; i < d; i++) a[i * d + i] = 1;
  const before = mlltAuxf(a, g, beta, d);
  const v = new Float64Array(d);
  for (let it = 0; it < iters; it++) {
    for (let i = 0; i < d; i++) {
      // Row i of the cofactor matrix, up to a scale that cancels: column i of A^-1.
      const ainv = invert(a, d, 'the MLLT matrix');
      const gi = ginv[i];
      let denom = 0;
      for (let r = 0; r < d; r++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += ainv[c * d + i] * gi[c * d + r];
        v[r] = s;
        denom += s * ainv[r * d + i];
      }
      const scale = Math.sqrt(beta / denom);
      for (let r = 0; r < d; r++) a[i * d + r] = v[r] * scale;
    }
  }
  return { matrix: a, auxfBefore: before, auxfAfter: mlltAuxf(a, g, beta, d), beta };
}

// ---------------------------------------------------------------------------------------------
// fMLLR

/**
 * fMLLR statistics of one speaker (FmllrDiagGmmAccs, full update): beta, K = sum gamma
 * (mu / var) xi^T (d x (d+1)) and G_i = sum gamma (1 / var_i) xi xi^T ((d+1) x (d+1)), with
 * xi = [x; 1] the frame in the space the transform applies to.
 */
export class FmllrAccs {
  readonly dim: number;
  beta = 0;
  readonly k: Float64Array;
  private readonly g: Float64Array[];
  private post: Float64Array = new Float64Array(1);
  private readonly xi: Float64Array;
  private readonly a: Float64Array;
  private readonly b: Float64Array;
  private readonly scatter: Float64Array;

  constructor(dim: number) {
    this.dim = dim;
    const d1 = dim + 1;
    this.k = new Float64Array(dim * d1);
    this.g = Array.from({ length: dim }, () => new Float64Array(d1 * d1));
    this.xi = new Float64Array(d1);
    this.a = new Float64Array(dim);
    this.b = new Float64Array(dim);
    this.scatter = new Float64Array(d1 * d1);
  }

  /**
   * One frame: `x` in the transform's input space, `y` = the frame as the model sees it now
   * (for the component posteriors), aligned to `gmm` with weight `weight`.
   */
  accumulate(gmm: DiagGmm, x: Frame, y: Frame, weight = 1): void {
    if (weight === 0) return;
    const d = this.dim,
      d1 = d + 1,
      k = gmm.numComponents;
    if (this.post.length < k) this.post = new Float64Array(k);
    if (k === 1) this.post[0] = 1;
    else gmm.posteriors(y, this.post);
    this.a.fill(0);
    this.b.fill(0);
    let count = 0;
    for (let c = 0; c < k; c++) {
      const w = weight * this.post[c];
      if (w < 1e-4 * weight) continue;
      count += w;
      for (let j = 0; j < d; j++) {
        const iv = gmm.invVars[c * d + j];
        this.a[j] += w * gmm.means[c * d + j] * iv;
        this.b[j] += w * iv;
      }
    }
    if (count === 0) return;
    this.beta += count;
    for (let j = 0; j < d; j++) this.xi[j] = x[j];
    this.xi[d] = 1;
    for (let i = 0; i < d; i++) for (let j = 0; j < d1; j++) this.k[i * d1 + j] += this.a[i] * this.xi[j];
    this.scatter.fill(0);
    addOuterUpper(this.scatter, this.xi, 1, d1);
    for (let i = 0; i < d; i++) {
      const bi = this.b[i],
        gi = this.g[i];
      for (let p = 0; p < d1; p++) for (let q = p; q < d1; q++) gi[p * d1 + q] += bi * this.scatter[p * d1 + q];
    }
  }

  /** The G_i, symmetric. */
  gMatrices(): Float64Array[] {
    return this.g.map((gi) => symmetrise(gi, this.dim + 1));
  }

  /** Add another block's statistics of the same speaker. */
  add(o: FmllrAccs): void {
    sameShape('fMLLR', [this.dim], [o.dim]);
    this.beta += o.beta;
    addInto(this.k, o.k);
    this.g.forEach((gi, i) => addInto(gi, o.g[i]));
  }

  pack(): { dim: number; beta: number; k: Float64Array; g: Float64Array[] } {
    return { dim: this.dim, beta: this.beta, k: this.k, g: this.g };
  }

  static unpack(p: ReturnType<FmllrAccs['pack']>): FmllrAccs {
    const a = new FmllrAccs(p.dim);
    if (!Array.isArray(p.g) || p.g.length !== p.dim)
      throw new NumericError('fMLLR statistics of another shape', {
        expected: `${p.dim} matrices`,
        found: String(p.g?.length),
      });
    a.beta = p.beta;
    copyInto(a.k, p.k);
    a.g.forEach((gi, i) => copyInto(gi, p.g[i]));
    return a;
  }
}

/** fMLLR auxiliary function beta log|det A| + tr(W K^T) - 0.5 sum_i w_i^T G_i w_i. */
export function fmllrAuxf(w: Float64Array, accs: FmllrAccs, g = accs.gMatrices()): number {
  const d = accs.dim,
    d1 = d + 1;
  const a = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) a[i * d + j] = w[i * d1 + j];
  let q = accs.beta * logAbsDet(a, d);
  for (let i = 0; i < d * d1; i++) q += w[i] * accs.k[i];
  for (let i = 0; i < d; i++) q -= 0.5 * quadForm(g[i], w.subarray(i * d1, (i + 1) * d1), d1);
  return q;
}

/** The identity fMLLR transform [I 0] (d x (d+1)). */
export function identityAffine(d: number): Float64Array {
  const w = new Float64Array(d * (d + 1));
  for (let i = 0; i < d; i++) w[i * (d + 1) + i] = 1;
  return w;
}

/**
 * gmm-est-fmllr (full update, ComputeFmllrMatrixDiagGmmFull): from the identity, `iters` sweeps of
 * w_i = (alpha c_i + k_i) G_i^-1, alpha the root of e1 alpha^2 + e2 alpha - beta = 0 with the
 * larger auxiliary function. Speakers with fewer than `minCount` frames keep the identity, as do
 * updates that do not increase the auxiliary function.
 */
export function estimateFmllr(
  accs: FmllrAccs,
  opts: { iters?: number; minCount?: number } = {},
): { matrix: Float64Array; auxfBefore: number; auxfAfter: number; beta: number; updated: boolean } {
  const d = accs.dim,
    d1 = d + 1;
  const w = identityAffine(d);
  const g = accs.gMatrices();
  const before = fmllrAuxf(w, accs, g);
  if (accs.beta < (opts.minCount ?? 10 * d1))
    return { matrix: w, auxfBefore: before, auxfAfter: before, beta: accs.beta, updated: false };
  let ginv: Float64Array[];
  try {
    ginv = g.map((gi, i) => invert(gi, d1, `fMLLR statistics G_${i}`));
  } catch {
    return { matrix: w, auxfBefore: before, auxfAfter: before, beta: accs.beta, updated: false };
  }
  const a = new Float64Array(d * d);
  const c = new Float64Array(d1),
    cg = new Float64Array(d1),
    rhs = new Float64Array(d1);
  for (let it = 0; it < (opts.iters ?? 20); it++) {
    for (let i = 0; i < d; i++) {
      for (let p = 0; p < d; p++) for (let q = 0; q < d; q++) a[p * d + q] = w[p * d1 + q];
      const ainv = invert(a, d, 'the fMLLR matrix');
      for (let j = 0; j < d; j++) c[j] = ainv[j * d + i]; // row i of (A^-1)^T
      c[d] = 0;
      const gi = ginv[i];
      for (let p = 0; p < d1; p++) {
        let s = 0;
        for (let q = 0; q < d1; q++) s += gi[p * d1 + q] * c[q];
        cg[p] = s;
      }
      let e1 = 0,
        e2 = 0;
      for (let p = 0; p < d1; p++) {
        e1 += cg[p] * c[p];
        e2 += cg[p] * accs.k[i * d1 + p];
      }
      const disc = Math.sqrt(e2 * e2 + 4 * e1 * accs.beta);
      const al1 = (-e2 + disc) / (2 * e1),
        al2 = (-e2 - disc) / (2 * e1);
      const f = (al: number) => accs.beta * Math.log(Math.abs(al * e1 + e2)) - 0.5 * al * al * e1;
      const alpha = f(al1) > f(al2) ? al1 : al2;
      for (let p = 0; p < d1; p++) rhs[p] = alpha * c[p] + accs.k[i * d1 + p];
      for (let p = 0; p < d1; p++) {
        let s = 0;
        for (let q = 0; q < d1; q++) s += gi[p * d1 + q] * rhs[q];
        w[i * d1 + p] = s;
      }
    }
  }
  const after = fmllrAuxf(w, accs, g);
  if (!(after >= before) || !Number.isFinite(after))
    return { matrix: identityAffine(d), auxfBefore: before, auxfAfter: before, beta: accs.beta, updated: false };
  return { matrix: w, auxfBefore: before, auxfAfter: after, beta: accs.beta, updated: true };
}

/** Compose affine transforms: (W2 after W1) as one d x (d+1) matrix: y = A2 (A1 x + b1) + b2. */
export function composeAffine(w2: Float64Array, w1: Float64Array, d: number): Float64Array {
  const d1 = d + 1,
    out = new Float64Array(d * d1);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d1; j++) {
      let s = j === d ? w2[i * d1 + d] : 0;
      for (let k = 0; k < d; k++) s += w2[i * d1 + k] * w1[k * d1 + j];
      out[i * d1 + j] = s;
    }
  }
  return out;
}
