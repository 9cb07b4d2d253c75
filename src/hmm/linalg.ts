/**
 * Small dense linear algebra for the feature transforms (LDA, MLLT, fMLLR): square matrices of
 * dimension up to a few hundred, row-major Float64Array, double precision throughout. Cholesky
 * and Gauss-Jordan inversion with partial pivoting, log |det| by LU, and the symmetric eigenproblem
 * by cyclic Jacobi rotations (exact to rounding for these sizes; O(n^3) per sweep, < 10 sweeps).
 */
import { NumericError } from '../util/errors.ts';

/** n x n identity. */
export function identity(n: number): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) a[i * n + i] = 1;
  return a;
}

/** C = A B with A m x k and B k x n (row-major). */
export function matMul(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const x = a[i * k + p];
      if (x === 0) continue;
      const bo = p * n,
        co = i * n;
      for (let j = 0; j < n; j++) c[co + j] += x * b[bo + j];
    }
  }
  return c;
}

/** Transpose of an m x n matrix. */
export function transpose(a: Float64Array, m: number, n: number): Float64Array {
  const t = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
  return t;
}

/** Lower-triangular L with A = L L^T for a symmetric positive definite A; a NumericError otherwise. */
export function cholesky(a: Float64Array, n: number, what = 'matrix'): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    for (let k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
    if (!(d > 0))
      throw new NumericError(`${what} is not positive definite`, {
        expected: 'a positive definite matrix',
        found: `pivot ${d} at row ${j} of ${n}`,
      });
    const ljj = Math.sqrt(d);
    l[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      l[i * n + j] = s / ljj;
    }
  }
  return l;
}

/** Inverse of a lower-triangular matrix. */
export function invertLower(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    inv[j * n + j] = 1 / l[j * n + j];
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s -= l[i * n + k] * inv[k * n + j];
      inv[i * n + j] = s / l[i * n + i];
    }
  }
  return inv;
}

/** LU with partial pivoting of a copy of A: the factors packed, the row permutation and its sign. */
function lu(a: Float64Array, n: number): { lu: Float64Array; perm: Int32Array; sign: number; singular: boolean } {
  const m = Float64Array.from(a);
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  let sign = 1,
    singular = false;
  for (let k = 0; k < n; k++) {
    let p = k,
      best = Math.abs(m[k * n + k]);
    for (let i = k + 1; i < n; i++) {
      const v = Math.abs(m[i * n + k]);
      if (v > best) {
        best = v;
        p = i;
      }
    }
    if (best === 0) {
      singular = true;
      continue;
    }
    if (p !== k) {
      for (let j = 0; j < n; j++) {
        const t = m[k * n + j];
        m[k * n + j] = m[p * n + j];
        m[p * n + j] = t;
      }
      const t = perm[k];
      perm[k] = perm[p];
      perm[p] = t;
      sign = -sign;
    }
    const piv = m[k * n + k];
    for (let i = k + 1; i < n; i++) {
      const f = (m[i * n + k] /= piv);
      if (f === 0) continue;
      for (let j = k + 1; j < n; j++) m[i * n + j] -= f * m[k * n + j];
    }
  }
  return { lu: m, perm, sign, singular };
}

/** log |det A| (-Infinity for a singular A). */
export function logAbsDet(a: Float64Array, n: number): number {
  const f = lu(a, n);
  if (f.singular) return -Infinity;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.log(Math.abs(f.lu[i * n + i]));
  return s;
}

/** A^-1 by LU with partial pivoting; a NumericError for a singular (or numerically singular) A. */
export function invert(a: Float64Array, n: number, what = 'matrix'): Float64Array {
  const f = lu(a, n);
  let maxPivot = 0,
    minPivot = Infinity;
  for (let i = 0; i < n; i++) {
    const v = Math.abs(f.lu[i * n + i]);
    maxPivot = Math.max(maxPivot, v);
    minPivot = Math.min(minPivot, v);
  }
  if (f.singular || !(minPivot > maxPivot * 1e-14)) {
    throw new NumericError(`${what} is singular`, {
      expected: 'an invertible matrix',
      found: `pivots from ${minPivot} to ${maxPivot}`,
    });
  }
  const inv = new Float64Array(n * n);
  const col = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    // Solve A x = e_j: permute, forward (unit L), back (U).
    for (let i = 0; i < n; i++) col[i] = f.perm[i] === j ? 1 : 0;
    for (let i = 0; i < n; i++) {
      let s = col[i];
      for (let k = 0; k < i; k++) s -= f.lu[i * n + k] * col[k];
      col[i] = s;
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = col[i];
      for (let k = i + 1; k < n; k++) s -= f.lu[i * n + k] * col[k];
      col[i] = s / f.lu[i * n + i];
    }
    for (let i = 0; i < n; i++) inv[i * n + j] = col[i];
  }
  return inv;
}

/**
 * Eigen-decomposition of a symmetric matrix: A = V diag(values) V^T, eigenvalues in descending
 * order, `vectors` row-major with eigenvector k in column k. Cyclic Jacobi with the usual threshold
 * strategy; the input is not modified.
 */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  // Symmetrise (accumulated matrices can differ by rounding across the diagonal).
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const s = 0.5 * (m[i * n + j] + m[j * n + i]);
      m[i * n + j] = s;
      m[j * n + i] = s;
    }
  const v = identity(n);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0,
      diag = 0;
    for (let i = 0; i < n; i++) {
      diag += m[i * n + i] * m[i * n + i];
      for (let j = i + 1; j < n; j++) off += m[i * n + j] * m[i * n + j];
    }
    if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const app = m[p * n + p],
          aqq = m[q * n + q];
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1),
          s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p],
            mkq = m[k * n + q];
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k],
            mqk = m[q * n + k];
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p],
            vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j * n + j] - m[i * n + i] || i - j);
  const values = Float64Array.from(order, (i) => m[i * n + i]);
  const vectors = new Float64Array(n * n);
  order.forEach((src, k) => {
    // Sign convention: the largest-magnitude component of each eigenvector is positive (deterministic output).
    let big = 0;
    for (let r = 0; r < n; r++) if (Math.abs(v[r * n + src]) > Math.abs(big)) big = v[r * n + src];
    const sg = big < 0 ? -1 : 1;
    for (let r = 0; r < n; r++) vectors[r * n + k] = sg * v[r * n + src];
  });
  return { values, vectors };
}
