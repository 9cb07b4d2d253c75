import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/util/rng.ts';
import { AmDiagGmm, DiagGmm, DiagGmmAccs, mleUpdate, splitTargets, logSumExp } from '../../src/hmm/gmm.ts';
import { expectClose } from './helpers.ts';

function directLogLike(g: DiagGmm, x: number[]): number {
  const d = g.dim;
  const terms: number[] = [];
  for (let c = 0; c < g.numComponents; c++) {
    let s = Math.log(g.weights[c]);
    for (let j = 0; j < d; j++) {
      const v = g.vars[c * d + j],
        m = g.means[c * d + j];
      s += -0.5 * Math.log(2 * Math.PI * v) - (x[j] - m) ** 2 / (2 * v);
    }
    terms.push(s);
  }
  const mx = Math.max(...terms);
  return mx + Math.log(terms.reduce((a, t) => a + Math.exp(t - mx), 0));
}

function sampleMixture(rng: Rng, n: number): number[][] {
  const comps = [
    { w: 0.5, m: [0, 0], sd: [1, 0.5] },
    { w: 0.3, m: [4, 3], sd: [0.7, 1.2] },
    { w: 0.2, m: [-3, 5], sd: [1.5, 0.8] },
  ];
  return Array.from({ length: n }, () => {
    const c = comps[rng.weighted(comps.map((k) => k.w))];
    return c.m.map((m, j) => m + c.sd[j] * rng.gauss());
  });
}

describe('DiagGmm log-likelihood', () => {
  it('equals the textbook mixture density computed term by term', () => {
    const g = new DiagGmm(Float64Array.of(0.2, 0.8), Float64Array.of(0, 1, 3, -2), Float64Array.of(1, 2, 0.5, 0.25), 2);
    for (const x of [
      [0, 0],
      [3, -2],
      [10, 10],
      [-1.5, 0.3],
    ]) {
      expectClose(g.logLikelihood(x), directLogLike(g, x), 1e-10, `log p(${x})`);
    }
  });
  it('log-sum-exp stays finite far from every component', () => {
    const g = new DiagGmm(Float64Array.of(0.5, 0.5), Float64Array.of(0, 1), Float64Array.of(1e-3, 1e-3), 1);
    const ll = g.logLikelihood([1000]);
    expect(Number.isFinite(ll)).toBe(true);
    expectClose(ll, directLogLike(g, [1000]), 1e-6, 'far-away log-likelihood');
    expect(logSumExp([-Infinity, -Infinity])).toBe(-Infinity);
  });
  it('survives a JSON round trip', () => {
    const g = new DiagGmm(Float64Array.of(0.2, 0.8), Float64Array.of(0, 1, 3, -2), Float64Array.of(1, 2, 0.5, 0.25), 2);
    const h = DiagGmm.fromJSON(JSON.parse(JSON.stringify(g.toJSON())));
    expectClose(h.logLikelihood([0.3, 0.1]), g.logLikelihood([0.3, 0.1]), 1e-12, 'round-tripped log-likelihood');
  });
});

describe('EM re-estimation', () => {
  it('never lowers the data log-likelihood across iterations, splits included', () => {
    const rng = new Rng(3);
    const data = sampleMixture(rng, 3000);
    // Start from one Gaussian at the global moments, split to 3, then EM.
    const acc0 = new DiagGmmAccs(1, 2);
    for (const x of data) acc0.accumulateComponent(0, x, 1);
    const g = DiagGmm.single([0, 0], [1, 1]);
    mleUpdate(g, acc0);
    g.split(3, new Rng(1), 0.5);
    const opts = { minVariance: 1e-6, removeLowCount: false, minGaussianOccupancy: 0 };
    const total = () => data.reduce((s, x) => s + g.logLikelihood(x), 0);
    let prev = total();
    const start = prev;
    for (let it = 0; it < 25; it++) {
      const acc = DiagGmmAccs.for(g);
      let eStepLL = 0;
      for (const x of data) eStepLL += acc.accumulate(g, x);
      expectClose(eStepLL, prev, 1e-6 * Math.abs(prev), 'E-step log-likelihood equals the model log-likelihood');
      mleUpdate(g, acc, opts);
      const cur = total();
      expect(cur).toBeGreaterThanOrEqual(prev - 1e-9 * Math.abs(prev));
      prev = cur;
    }
    expect(prev).toBeGreaterThan(start + 100);
    // The three true components are found (weights sorted).
    const w = Array.from(g.weights).sort();
    expectClose(w[0], 0.2, 0.03, 'smallest weight');
    expectClose(w[2], 0.5, 0.03, 'largest weight');
  });

  it('floors variances and removes components with too little occupancy', () => {
    const g = new DiagGmm(Float64Array.of(0.5, 0.5), Float64Array.of(0, 100), Float64Array.of(1, 1), 1);
    const acc = DiagGmmAccs.for(g);
    for (let i = 0; i < 50; i++) acc.accumulateComponent(0, [1], 1); // zero variance data
    acc.accumulateComponent(1, [100], 2);
    const r = mleUpdate(g, acc, { minVariance: 0.01, minGaussianOccupancy: 10 });
    expect(r.removed).toBe(1);
    expect(r.floored).toBe(1);
    expect(g.numComponents).toBe(1);
    expectClose(g.vars[0], 0.01, 0, 'floored variance');
    expectClose(g.means[0], 1, 1e-12, 'mean');
    expectClose(g.weights[0], 1, 1e-12, 'weight');
  });
});

describe('Gaussian splitting (mix-up)', () => {
  it('splits the heaviest component, halving its weight and moving the means apart by perturbFactor sd', () => {
    const g = new DiagGmm(Float64Array.of(0.7, 0.3), Float64Array.of(0, 10), Float64Array.of(4, 1), 1);
    g.split(3, new Rng(5), 0.2);
    expect(g.numComponents).toBe(3);
    expect(Array.from(g.weights)).toEqual([0.35, 0.3, 0.35]);
    // Means symmetric around the old mean 0, at 0.2 * sd(=2) * |N(0,1)| from it.
    expectClose(g.means[0] + g.means[2], 0, 1e-12, 'symmetric perturbation');
    const z = new Rng(5).gauss();
    expectClose(g.means[2], 0.2 * 2 * z, 1e-12, 'perturbation size');
    expect(g.vars[2]).toBe(4);
  });
  it('distributes a Gaussian budget by occupancy^power, never below the current count, respecting minCount', () => {
    const occs = [10000, 1000, 100, 5];
    const t = splitTargets(occs, [1, 1, 1, 1], 20, 0.2, 20);
    const s = Array.from(t).reduce((a, b) => a + b, 0);
    expect(s).toBe(20);
    expect(t[0]).toBeGreaterThan(t[1]);
    expect(t[1]).toBeGreaterThan(t[2]);
    expect(t[3]).toBe(1); // occupancy 5 < minCount: no split
    // Hand check of the power law: the ratio of targets is close to (occ ratio)^0.2.
    expectClose(t[0] / t[1], Math.pow(10, 0.2), 0.35, 'target ratio');
    const keep = splitTargets(occs, [9, 1, 1, 1], 4, 0.2, 20);
    expect(keep[0]).toBe(9);
  });
  it('AmDiagGmm.mixUp reaches the target total', () => {
    const am = new AmDiagGmm([DiagGmm.single([0], [1]), DiagGmm.single([1], [1])]);
    am.mixUp([1000, 500], 6, new Rng(1));
    expect(am.numGaussians).toBe(6);
  });
});
