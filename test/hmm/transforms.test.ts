import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cholesky, identity, invert, logAbsDet, matMul, symmetricEigen, transpose } from '../../src/hmm/linalg.ts';
import {
  FmllrAccs,
  LdaAccs,
  MlltAccs,
  composeAffine,
  estimateFmllr,
  estimateLda,
  estimateMllt,
  fmllrAuxf,
  identityAffine,
} from '../../src/hmm/transforms.ts';
import { DiagGmm } from '../../src/hmm/gmm.ts';
import { NumericError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';

function randomMatrix(rng: Rng, m: number, n: number): Float64Array {
  return Float64Array.from({ length: m * n }, () => rng.gauss());
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('linalg', () => {
  const rng = new Rng('linalg');
  const n = 7;
  const r = randomMatrix(rng, n, n);
  const spd = matMul(r, transpose(r, n, n), n, n, n);
  for (let i = 0; i < n; i++) spd[i * n + i] += 0.5;

  it('Cholesky reproduces the matrix and refuses one that is not positive definite', () => {
    const l = cholesky(spd, n);
    expect(maxAbsDiff(matMul(l, transpose(l, n, n), n, n, n), spd)).toBeLessThan(1e-10);
    const bad = Float64Array.from(spd);
    bad[0] = -1;
    expect(() => cholesky(bad, n, 'the test matrix')).toThrow(NumericError);
    expect(() => cholesky(bad, n, 'the test matrix')).toThrow(/the test matrix is not positive definite/);
  });

  it('inverts, gives log|det| (checked on a triangular matrix), and refuses a singular matrix', () => {
    expect(maxAbsDiff(matMul(invert(r, n), r, n, n, n), identity(n))).toBeLessThan(1e-10);
    const tri = Float64Array.from([2, 0, 0, 5, -3, 0, 1, 4, 0.5]);
    expect(logAbsDet(tri, 3)).toBeCloseTo(Math.log(3), 12);
    const sing = Float64Array.from([1, 2, 2, 4]);
    expect(logAbsDet(sing, 2)).toBe(-Infinity);
    expect(() => invert(sing, 2)).toThrow(/singular/);
  });

  it('symmetric eigen-decomposition: A V = V diag(values), values descending, V orthonormal', () => {
    const { values, vectors } = symmetricEigen(spd, n);
    for (let k = 1; k < n; k++) expect(values[k]).toBeLessThanOrEqual(values[k - 1]);
    const av = matMul(spd, vectors, n, n, n);
    for (let i = 0; i < n; i++)
      for (let k = 0; k < n; k++) expect(Math.abs(av[i * n + k] - values[k] * vectors[i * n + k])).toBeLessThan(1e-9);
    expect(maxAbsDiff(matMul(transpose(vectors, n, n), vectors, n, n, n), identity(n))).toBeLessThan(1e-10);
  });
});

describe('LDA (est-lda)', () => {
  const golden = JSON.parse(readFileSync(join(import.meta.dirname, 'golden', 'lda-golden.json'), 'utf8')) as {
    dim: number;
    points: number[][];
    labels: number[];
    eigenvalues: number[];
  };

  it("gives scipy.linalg.eigh's generalised eigenvalues (between, within) on the golden data", () => {
    const d = golden.dim;
    const accs = new LdaAccs(4, d);
    golden.points.forEach((x, i) => accs.accumulate(x, golden.labels[i]));
    const lda = estimateLda(accs, 3);
    for (let k = 0; k < d; k++)
      expect(Math.abs(lda.eigenvalues[k] - golden.eigenvalues[k])).toBeLessThan(
        1e-9 * Math.max(1, golden.eigenvalues[0]),
      );
    expect(lda.frames).toBe(golden.points.length);
  });

  it('projects so that the within-class covariance is the identity and the between-class one diagonal', () => {
    const d = golden.dim,
      out = 3;
    const accs = new LdaAccs(4, d);
    golden.points.forEach((x, i) => accs.accumulate(x, golden.labels[i]));
    const lda = estimateLda(accs, out);
    const { within, between } = accs.covariances();
    const mt = transpose(lda.matrix, out, d);
    const w = matMul(matMul(lda.matrix, within, out, d, d), mt, out, d, out);
    const b = matMul(matMul(lda.matrix, between, out, d, d), mt, out, d, out);
    for (let i = 0; i < out; i++) {
      for (let j = 0; j < out; j++) {
        expect(Math.abs(w[i * out + j] - (i === j ? 1 : 0))).toBeLessThan(1e-9);
        expect(Math.abs(b[i * out + j] - (i === j ? lda.eigenvalues[i] : 0))).toBeLessThan(1e-8);
      }
    }
    expect(() => estimateLda(accs, d + 1)).toThrow(NumericError);
  });
});

describe('MLLT (est-mllt)', () => {
  it('increases the auxiliary function and makes correlated classes close to diagonal', () => {
    const rng = new Rng('mllt');
    const d = 4;
    // Three classes sharing one full covariance (a rotation of independent scales), modelled diagonally.
    const rot = randomMatrix(rng, d, d);
    const classes = [0, 1, 2].map(() => Float64Array.from({ length: d }, () => 3 * rng.gauss()));
    const data: { x: Float64Array; c: number }[] = [];
    for (let i = 0; i < 3000; i++) {
      const c = i % 3,
        z = Float64Array.from({ length: d }, (_, j) => rng.gauss() * (j + 1));
      const x = matMul(rot, z, d, d, 1);
      for (let j = 0; j < d; j++) x[j] += classes[c][j];
      data.push({ x, c });
    }
    const gmms = [0, 1, 2].map((c) => {
      const xs = data.filter((p) => p.c === c).map((p) => p.x);
      const mean = new Float64Array(d),
        v = new Float64Array(d);
      for (const x of xs) for (let j = 0; j < d; j++) mean[j] += x[j] / xs.length;
      for (const x of xs) for (let j = 0; j < d; j++) v[j] += (x[j] - mean[j]) ** 2 / xs.length;
      return DiagGmm.single(mean, v);
    });
    const accs = new MlltAccs(d);
    for (const p of data) accs.accumulate(gmms[p.c], p.x);
    const r = estimateMllt(accs);
    expect(r.auxfAfter).toBeGreaterThan(r.auxfBefore);
    expect(r.beta).toBeCloseTo(3000, 6);
    // Within-class correlations of the transformed data: near zero after, large before.
    const corr = (f: (x: Float64Array) => Float64Array) => {
      const xs = data.filter((p) => p.c === 0).map((p) => f(p.x));
      const mean = new Float64Array(d);
      for (const x of xs) for (let j = 0; j < d; j++) mean[j] += x[j] / xs.length;
      const cov = new Float64Array(d * d);
      for (const x of xs)
        for (let i = 0; i < d; i++)
          for (let j = 0; j < d; j++) cov[i * d + j] += ((x[i] - mean[i]) * (x[j] - mean[j])) / xs.length;
      let worst = 0;
      for (let i = 0; i < d; i++)
        for (let j = i + 1; j < d; j++)
          worst = Math.max(worst, Math.abs(cov[i * d + j]) / Math.sqrt(cov[i * d + i] * cov[j * d + j]));
      return worst;
    };
    expect(corr((x) => x)).toBeGreaterThan(0.3);
    expect(corr((x) => matMul(r.matrix, x, d, d, 1))).toBeLessThan(0.1);
  });
});

describe('fMLLR (gmm-est-fmllr, full)', () => {
  const d = 3;
  const rng = new Rng('fmllr');
  const model = [0, 1, 2, 3].map(() =>
    DiagGmm.single(
      Float64Array.from({ length: d }, () => 4 * rng.gauss()),
      Float64Array.from({ length: d }, () => 0.5 + rng.next()),
    ),
  );
  // The speaker's frames are the model's, seen through an affine distortion x = A0^-1 (y - b0):
  // the transform that undoes it is W0 = [A0 b0].
  const a0 = Float64Array.from([1.3, 0.2, 0, -0.1, 0.8, 0.1, 0.05, 0, 1.1]);
  const b0 = Float64Array.from([0.5, -1, 0.25]);
  const w0 = new Float64Array(d * (d + 1));
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) w0[i * (d + 1) + j] = a0[i * d + j];
    w0[i * (d + 1) + d] = b0[i];
  }
  const a0inv = invert(a0, d);
  const frames: { x: Float64Array; m: number }[] = [];
  for (let i = 0; i < 4000; i++) {
    const m = i % 4,
      g = model[m];
    const y = Float64Array.from({ length: d }, (_, j) => g.means[j] + Math.sqrt(g.vars[j]) * rng.gauss() - b0[j]);
    frames.push({ x: matMul(a0inv, y, d, d, 1), m });
  }

  it('recovers a known affine distortion and increases the auxiliary function', () => {
    const accs = new FmllrAccs(d);
    for (const f of frames) accs.accumulate(model[f.m], f.x, f.x);
    const r = estimateFmllr(accs);
    expect(r.updated).toBe(true);
    expect(r.auxfAfter).toBeGreaterThan(r.auxfBefore);
    expect(maxAbsDiff(r.matrix, w0)).toBeLessThan(0.08);
    expect(fmllrAuxf(r.matrix, accs)).toBeCloseTo(r.auxfAfter, 6);
  });

  it('keeps the identity for a speaker with too few frames', () => {
    const accs = new FmllrAccs(d);
    for (const f of frames.slice(0, 5)) accs.accumulate(model[f.m], f.x, f.x);
    const r = estimateFmllr(accs);
    expect(r.updated).toBe(false);
    expect(Array.from(r.matrix)).toEqual(Array.from(identityAffine(d)));
  });

  it('composes affine transforms as function composition', () => {
    const w1 = Float64Array.from({ length: d * (d + 1) }, () => rng.gauss());
    const x = Float64Array.from([0.3, -2, 1]);
    const apply = (w: Float64Array, v: Float64Array) =>
      Float64Array.from({ length: d }, (_, i) => {
        let s = w[i * (d + 1) + d];
        for (let j = 0; j < d; j++) s += w[i * (d + 1) + j] * v[j];
        return s;
      });
    expect(maxAbsDiff(apply(composeAffine(w0, w1, d), x), apply(w0, apply(w1, x)))).toBeLessThan(1e-12);
  });
});
