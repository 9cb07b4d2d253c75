/**
 * Diagonal-covariance Gaussian mixtures (Kaldi's DiagGmm / AmDiagGmm / MleDiagGmmUpdate / mixup).
 * Log-likelihoods use precomputed per-component constants and mean*inverse-variance products in
 * Float64Arrays: loglik_k(x) = gconst_k + sum_d x_d m_kd / v_kd - 0.5 sum_d x_d^2 / v_kd,
 * combined by log-sum-exp.
 */
import { FormatError, NumericError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { MaxHeap } from './heap.ts';

const LOG_2PI = Math.log(2 * Math.PI);

export type Frame = ArrayLike<number>;

export interface DiagGmmJson {
  weights: number[];
  /** Row-major [numComponents][dim]. */
  means: number[][];
  vars: number[][];
}

export class DiagGmm {
  readonly dim: number;
  weights: Float64Array;
  means: Float64Array;
  vars: Float64Array;
  gconsts!: Float64Array;
  invVars!: Float64Array;
  meansInvVars!: Float64Array;

  constructor(weights: Float64Array, means: Float64Array, vars: Float64Array, dim: number) {
    const k = weights.length;
    if (k === 0 || means.length !== k * dim || vars.length !== k * dim) {
      throw new FormatError('GMM parameter sizes disagree', {
        expected: `${k} x ${dim} means and vars`,
        found: `${means.length} means, ${vars.length} vars`,
      });
    }
    this.dim = dim;
    this.weights = weights;
    this.means = means;
    this.vars = vars;
    this.computeGconsts();
  }

  /** One Gaussian with the given mean and variance. */
  static single(mean: ArrayLike<number>, variance: ArrayLike<number>): DiagGmm {
    return new DiagGmm(Float64Array.of(1), Float64Array.from(mean), Float64Array.from(variance), mean.length);
  }

  get numComponents(): number {
    return this.weights.length;
  }

  computeGconsts(): void {
    const k = this.numComponents,
      d = this.dim;
    this.gconsts = new Float64Array(k);
    this.invVars = new Float64Array(k * d);
    this.meansInvVars = new Float64Array(k * d);
    for (let c = 0; c < k; c++) {
      let g = Math.log(this.weights[c]) - 0.5 * d * LOG_2PI;
      for (let j = 0; j < d; j++) {
        const v = this.vars[c * d + j];
        if (!(v > 0))
          throw new NumericError(`non-positive variance ${v} in component ${c}, dim ${j}`, {
            expected: 'variance > 0',
            found: String(v),
          });
        const iv = 1 / v,
          m = this.means[c * d + j];
        this.invVars[c * d + j] = iv;
        this.meansInvVars[c * d + j] = m * iv;
        g -= 0.5 * (Math.log(v) + m * m * iv);
      }
      this.gconsts[c] = g;
    }
  }

  /** Per-component log(w_k N(x; m_k, v_k)) into `out` (length >= numComponents). */
  componentLogLikelihoods(x: Frame, out: Float64Array): void {
    const k = this.numComponents,
      d = this.dim;
    const mi = this.meansInvVars,
      iv = this.invVars;
    for (let c = 0; c < k; c++) {
      let s = this.gconsts[c];
      const o = c * d;
      for (let j = 0; j < d; j++) {
        const xj = x[j];
        s += xj * (mi[o + j] - 0.5 * xj * iv[o + j]);
      }
      out[c] = s;
    }
  }

  private scratch = new Float64Array(0);

  /** log p(x). */
  logLikelihood(x: Frame): number {
    const k = this.numComponents;
    if (k === 1) {
      const d = this.dim,
        mi = this.meansInvVars,
        iv = this.invVars;
      let s = this.gconsts[0];
      for (let j = 0; j < d; j++) {
        const xj = x[j];
        s += xj * (mi[j] - 0.5 * xj * iv[j]);
      }
      return s;
    }
    if (this.scratch.length < k) this.scratch = new Float64Array(k);
    this.componentLogLikelihoods(x, this.scratch);
    return logSumExp(this.scratch, k);
  }

  /** Component posteriors into `post`; returns log p(x). */
  posteriors(x: Frame, post: Float64Array): number {
    const k = this.numComponents;
    this.componentLogLikelihoods(x, post);
    const lse = logSumExp(post, k);
    for (let c = 0; c < k; c++) post[c] = Math.exp(post[c] - lse);
    return lse;
  }

  /**
   * Split into `target` components (Kaldi DiagGmm::Split): repeatedly halve the heaviest component
   * and move the two halves' means by +-perturbFactor * sd * N(0,1) per dimension.
   */
  split(target: number, rng: Rng, perturbFactor = 0.01): void {
    const d = this.dim;
    let k = this.numComponents;
    if (target <= k) return;
    const w = new Float64Array(target),
      m = new Float64Array(target * d),
      v = new Float64Array(target * d);
    w.set(this.weights);
    m.set(this.means);
    v.set(this.vars);
    while (k < target) {
      let best = 0;
      for (let c = 1; c < k; c++) if (w[c] > w[best]) best = c;
      w[best] /= 2;
      w[k] = w[best];
      for (let j = 0; j < d; j++) {
        const delta = perturbFactor * Math.sqrt(v[best * d + j]) * rng.gauss();
        m[k * d + j] = m[best * d + j] + delta;
        m[best * d + j] -= delta;
        v[k * d + j] = v[best * d + j];
      }
      k++;
    }
    this.weights = w;
    this.means = m;
    this.vars = v;
    this.computeGconsts();
  }

  /** Drop components (indices); weights renormalised. At least one component must stay. */
  removeComponents(indices: Iterable<number>): void {
    const drop = new Set(indices);
    const keep: number[] = [];
    for (let c = 0; c < this.numComponents; c++) if (!drop.has(c)) keep.push(c);
    if (keep.length === 0) throw new NumericError('cannot remove every component of a GMM');
    const d = this.dim;
    const w = new Float64Array(keep.length),
      m = new Float64Array(keep.length * d),
      v = new Float64Array(keep.length * d);
    let sw = 0;
    keep.forEach((c, i) => {
      w[i] = this.weights[c];
      sw += w[i];
      m.set(this.means.subarray(c * d, c * d + d), i * d);
      v.set(this.vars.subarray(c * d, c * d + d), i * d);
    });
    for (let i = 0; i < w.length; i++) w[i] /= sw;
    this.weights = w;
    this.means = m;
    this.vars = v;
    this.computeGconsts();
  }

  clone(): DiagGmm {
    return new DiagGmm(
      Float64Array.from(this.weights),
      Float64Array.from(this.means),
      Float64Array.from(this.vars),
      this.dim,
    );
  }

  toJSON(): DiagGmmJson {
    const d = this.dim;
    const rows = (a: Float64Array) =>
      Array.from({ length: this.numComponents }, (_, c) => Array.from(a.subarray(c * d, c * d + d)));
    return { weights: Array.from(this.weights), means: rows(this.means), vars: rows(this.vars) };
  }

  static fromJSON(j: DiagGmmJson): DiagGmm {
    const d = j.means[0]?.length ?? 0;
    return new DiagGmm(
      Float64Array.from(j.weights),
      Float64Array.from(j.means.flat()),
      Float64Array.from(j.vars.flat()),
      d,
    );
  }
}

export function logSumExp(a: ArrayLike<number>, n = a.length): number {
  let mx = -Infinity;
  for (let i = 0; i < n; i++) if (a[i] > mx) mx = a[i];
  if (mx === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(a[i] - mx);
  return mx + Math.log(s);
}

/** Zeroth, first and second order statistics per component. */
export class DiagGmmAccs {
  readonly dim: number;
  readonly numComponents: number;
  readonly occ: Float64Array;
  readonly sumX: Float64Array;
  readonly sumX2: Float64Array;
  private post: Float64Array;

  constructor(numComponents: number, dim: number) {
    this.dim = dim;
    this.numComponents = numComponents;
    this.occ = new Float64Array(numComponents);
    this.sumX = new Float64Array(numComponents * dim);
    this.sumX2 = new Float64Array(numComponents * dim);
    this.post = new Float64Array(numComponents);
  }

  static for(gmm: DiagGmm): DiagGmmAccs {
    return new DiagGmmAccs(gmm.numComponents, gmm.dim);
  }

  get totalOcc(): number {
    let s = 0;
    for (const o of this.occ) s += o;
    return s;
  }

  /** E-step for one frame: accumulate with component posteriors; returns log p(x). */
  accumulate(gmm: DiagGmm, x: Frame, weight = 1): number {
    if (gmm.numComponents !== this.numComponents || gmm.dim !== this.dim) {
      throw new FormatError('accumulator does not match the GMM', {
        expected: `${this.numComponents} x ${this.dim}`,
        found: `${gmm.numComponents} x ${gmm.dim}`,
      });
    }
    const ll = this.numComponents === 1 ? gmm.logLikelihood(x) : gmm.posteriors(x, this.post);
    if (this.numComponents === 1) this.post[0] = 1;
    for (let c = 0; c < this.numComponents; c++) this.accumulateComponent(c, x, weight * this.post[c]);
    return ll;
  }

  accumulateComponent(c: number, x: Frame, w: number): void {
    if (w === 0) return;
    const d = this.dim,
      o = c * d;
    this.occ[c] += w;
    for (let j = 0; j < d; j++) {
      const xj = x[j];
      this.sumX[o + j] += w * xj;
      this.sumX2[o + j] += w * xj * xj;
    }
  }

  add(other: DiagGmmAccs): void {
    for (let i = 0; i < this.occ.length; i++) this.occ[i] += other.occ[i];
    for (let i = 0; i < this.sumX.length; i++) {
      this.sumX[i] += other.sumX[i];
      this.sumX2[i] += other.sumX2[i];
    }
  }
}

export interface GmmUpdateOptions {
  /** Absolute variance floor. Default 0.001 (Kaldi MleDiagGmmOptions::min_variance). */
  minVariance?: number;
  /** Components with less occupancy are not updated and (see removeLowCount) removed. Default 10 (Kaldi). */
  minGaussianOccupancy?: number;
  /** Components whose new weight is below this are treated as low-count. Default 1e-5 (Kaldi). */
  minGaussianWeight?: number;
  /** Remove low-count components (never the last one). Default true (Kaldi). */
  removeLowCount?: boolean;
}

export interface GmmUpdateResult {
  /** Total occupancy seen. */
  count: number;
  /** Components removed for low occupancy. */
  removed: number;
  /** Components floored in at least one dimension. */
  floored: number;
}

/** Maximum-likelihood (M-step) update of one GMM from its accumulators. */
export function mleUpdate(gmm: DiagGmm, accs: DiagGmmAccs, opts: GmmUpdateOptions = {}): GmmUpdateResult {
  const minVar = opts.minVariance ?? 0.001;
  const minOcc = opts.minGaussianOccupancy ?? 10;
  const minW = opts.minGaussianWeight ?? 1e-5;
  const remove = opts.removeLowCount ?? true;
  const k = gmm.numComponents,
    d = gmm.dim;
  const total = accs.totalOcc;
  const res: GmmUpdateResult = { count: total, removed: 0, floored: 0 };
  if (!(total > 0)) return res;
  const low: number[] = [];
  for (let c = 0; c < k; c++) {
    const n = accs.occ[c];
    gmm.weights[c] = n / total;
    if (n < minOcc || n / total < minW) {
      low.push(c);
      gmm.weights[c] = Math.max(gmm.weights[c], 1e-10);
      continue;
    }
    let fl = false;
    for (let j = 0; j < d; j++) {
      const mean = accs.sumX[c * d + j] / n;
      let v = accs.sumX2[c * d + j] / n - mean * mean;
      if (v < minVar) {
        v = minVar;
        fl = true;
      }
      gmm.means[c * d + j] = mean;
      gmm.vars[c * d + j] = v;
    }
    if (fl) res.floored++;
  }
  let sw = 0;
  for (let c = 0; c < k; c++) sw += gmm.weights[c];
  for (let c = 0; c < k; c++) gmm.weights[c] /= sw;
  gmm.computeGconsts();
  if (remove && low.length > 0 && low.length < k) {
    gmm.removeComponents(low);
    res.removed = low.length;
  }
  return res;
}

export interface MixUpOptions {
  /** Occupancy exponent for distributing Gaussians over pdfs. Default 0.2 (Kaldi gmm-est --power). */
  power?: number;
  /** A pdf gets another Gaussian only while occupancy / numGaussians stays >= this. Default 20 (Kaldi --min-count). */
  minCount?: number;
  /** Mean perturbation when splitting, in standard deviations. Default 0.01 (Kaldi --perturb-factor). */
  perturbFactor?: number;
}

/**
 * Kaldi's GetSplitTargets: distribute `targetTotal` Gaussians over pdfs in proportion to
 * occupancy^power (greedy: each extra Gaussian goes to the pdf with the largest occ^power / n),
 * never below the current count and never so many that occupancy / n < minCount.
 */
export function splitTargets(
  occs: ArrayLike<number>,
  current: ArrayLike<number>,
  targetTotal: number,
  power = 0.2,
  minCount = 20,
): Int32Array {
  const n = occs.length;
  const targets = Int32Array.from(current);
  // Start from one Gaussian per pdf, as Kaldi does, then never go below the current count.
  const alloc = new Int32Array(n).fill(1);
  let given = n;
  const heap = new MaxHeap<number>();
  for (let i = 0; i < n; i++) heap.push(Math.pow(Math.max(occs[i], 0), power), i);
  while (given < targetTotal && heap.size > 0) {
    const top = heap.pop()!;
    const i = top.value;
    if (occs[i] / (alloc[i] + 1) < minCount) continue;
    alloc[i]++;
    given++;
    heap.push(Math.pow(occs[i], power) / alloc[i], i);
  }
  for (let i = 0; i < n; i++) targets[i] = Math.max(targets[i], alloc[i]);
  return targets;
}

/** An acoustic model: one DiagGmm per pdf (senone). */
export class AmDiagGmm {
  readonly gmms: DiagGmm[];
  readonly dim: number;

  constructor(gmms: DiagGmm[]) {
    if (gmms.length === 0) throw new FormatError('an acoustic model needs at least one pdf');
    this.dim = gmms[0].dim;
    for (const g of gmms)
      if (g.dim !== this.dim)
        throw new FormatError('GMMs of one model must share a dimension', {
          expected: String(this.dim),
          found: String(g.dim),
        });
    this.gmms = gmms;
  }

  get numPdfs(): number {
    return this.gmms.length;
  }

  get numGaussians(): number {
    let s = 0;
    for (const g of this.gmms) s += g.numComponents;
    return s;
  }

  logLikelihood(pdf: number, x: Frame): number {
    return this.gmms[pdf].logLikelihood(x);
  }

  newAccs(): DiagGmmAccs[] {
    return this.gmms.map((g) => DiagGmmAccs.for(g));
  }

  /** M-step for all pdfs; pdfs without data keep their parameters. */
  update(accs: DiagGmmAccs[], opts: GmmUpdateOptions = {}): { count: number; removed: number; floored: number } {
    let count = 0,
      removed = 0,
      floored = 0;
    this.gmms.forEach((g, i) => {
      const r = mleUpdate(g, accs[i], opts);
      count += r.count;
      removed += r.removed;
      floored += r.floored;
    });
    return { count, removed, floored };
  }

  /** Split Gaussians up to about `targetTotal` in all, by occupancy (Kaldi gmm-est --mix-up). */
  mixUp(occs: ArrayLike<number>, targetTotal: number, rng: Rng, opts: MixUpOptions = {}): void {
    if (targetTotal <= this.numGaussians) return;
    const targets = splitTargets(
      occs,
      this.gmms.map((g) => g.numComponents),
      targetTotal,
      opts.power ?? 0.2,
      opts.minCount ?? 20,
    );
    this.gmms.forEach((g, i) => g.split(targets[i], rng, opts.perturbFactor ?? 0.01));
  }

  toJSON(): { dim: number; pdfs: DiagGmmJson[] } {
    return { dim: this.dim, pdfs: this.gmms.map((g) => g.toJSON()) };
  }

  static fromJSON(j: { dim: number; pdfs: DiagGmmJson[] }): AmDiagGmm {
    return new AmDiagGmm(j.pdfs.map((p) => DiagGmm.fromJSON(p)));
  }
}
