import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { EnsembleAccumulator, combineEnsemble, combineEnsembleTf } from '../../src/distill/combine.ts';
import { logSoftmaxRows, softmaxRows } from '../../src/util/softmax.ts';
import { initBackend } from '../../src/nnet/backend.ts';
import { ConfigError, FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { expectClose, randomLogits } from './helpers.ts';

/** Textbook softmax(z / T) of one row, no tricks (only for small logits). */
function naiveSoftmax(z: ArrayLike<number>, T: number): number[] {
  const e = Array.from(z, (v) => Math.exp(v / T));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

describe('ensemble combination at temperature T', () => {
  const rng = new Rng(11);
  const n = 6,
    S = 9,
    K = 4;
  const members = Array.from({ length: K }, () => randomLogits(rng, n, S, 2));

  it("arithmetic rule: the mean of the members' softmax(z / T) (the paper)", () => {
    for (const T of [1, 2, 5]) {
      const p = combineEnsemble(members, n, S, { temperature: T, rule: 'arithmetic' });
      const want: number[] = [];
      for (let f = 0; f < n; f++) {
        const rows = members.map((z) => naiveSoftmax(z.subarray(f * S, (f + 1) * S), T));
        for (let s = 0; s < S; s++) want.push(rows.reduce((a, r) => a + r[s], 0) / K);
      }
      expectClose(p, want, 1e-15, `T = ${T}`);
    }
  });

  it('geometric rule: the normalised exp of the mean log-probability, which equals softmax(mean z / T)', () => {
    const T = 2;
    const p = combineEnsemble(members, n, S, { temperature: T, rule: 'geometric' });
    const want: number[] = [];
    const meanZ: number[] = [];
    for (let f = 0; f < n; f++) {
      const logs = members.map((z) => naiveSoftmax(z.subarray(f * S, (f + 1) * S), T).map(Math.log));
      const g = Array.from({ length: S }, (_, s) => Math.exp(logs.reduce((a, l) => a + l[s], 0) / K));
      const sum = g.reduce((a, b) => a + b, 0);
      want.push(...g.map((v) => v / sum));
      for (let s = 0; s < S; s++) meanZ.push(members.reduce((a, z) => a + z[f * S + s], 0) / K);
    }
    expectClose(p, want, 1e-15, 'geometric mean');
    expectClose(
      p,
      Array.from({ length: n }, (_, f) => naiveSoftmax(meanZ.slice(f * S, (f + 1) * S), T)).flat(),
      1e-15,
      'softmax of mean logits',
    );
  });

  it('is numerically stable: huge logits and a small T give the same distribution as shifted ones, rows sum to 1', () => {
    const big = members.map((z) => z.map((v, i) => v * 500 + 1e4 * (i % S === 0 ? 1 : 0.99)));
    const shifted = big.map((z) => z.map((v) => v - 1e4));
    for (const rule of ['arithmetic', 'geometric'] as const) {
      const a = combineEnsemble(big, n, S, { temperature: 0.5, rule });
      const b = combineEnsemble(shifted, n, S, { temperature: 0.5, rule });
      for (const v of a) expect(Number.isFinite(v)).toBe(true);
      expectClose(a, b, 1e-12, `${rule}: shift invariance`);
      for (let f = 0; f < n; f++) expect(a.subarray(f * S, (f + 1) * S).reduce((x, y) => x + y, 0)).toBeCloseTo(1, 14);
    }
    // Log-softmax keeps tiny probabilities that exp-then-normalise would flush to zero.
    const lp = logSoftmaxRows([0, -800, -1600], 1, 3, 1);
    expectClose(lp, [0, -800, -1600], 1e-12, 'log-softmax of far-apart logits');
    expectClose(softmaxRows([1000, 0], 1, 2, 1), [1, Math.exp(-1000)], 0, 'softmax of [1000, 0]');
  });

  it('accumulates members one at a time with memory independent of K', () => {
    const acc = new EnsembleAccumulator(n, S, { temperature: 2 });
    for (const z of members) acc.add(z);
    expect(acc.numMembers).toBe(K);
    expectClose(acc.finish(), combineEnsemble(members, n, S, { temperature: 2 }), 0, 'streaming = one-shot');
  });

  it('rejects bad sizes, non-finite logits, bad temperatures and unknown rules with typed errors', () => {
    const acc = new EnsembleAccumulator(n, S);
    expect(() => acc.add(new Float32Array(n * S - 1), 'teacher-3')).toThrow(FormatError);
    expect(() => acc.add(new Float32Array(n * S - 1), 'teacher-3')).toThrow(/teacher-3/);
    const bad = members[0].slice();
    bad[7] = Number.NaN;
    expect(() => acc.add(bad, 'teacher-1')).toThrow(/not finite.*teacher-1 at frame 0, senone 7/);
    expect(() => new EnsembleAccumulator(n, S).finish()).toThrow(ConfigError);
    expect(() => combineEnsemble(members, n, S, { temperature: 0 })).toThrow(ConfigError);
    expect(() => combineEnsemble(members, n, S, { rule: 'median' as never })).toThrow(ConfigError);
  });

  describe('TF.js version', () => {
    beforeAll(async () => {
      await initBackend({ backend: 'cpu', quiet: true });
    });
    it('gives the typed-array numbers in float32 for both rules', () => {
      for (const rule of ['arithmetic', 'geometric'] as const) {
        const ts = members.map((z) => tf.tensor2d(z, [n, S]));
        const p = combineEnsembleTf(ts, { temperature: 2, rule });
        expectClose(p.dataSync(), combineEnsemble(members, n, S, { temperature: 2, rule }), 1e-6, rule);
        tf.dispose([...ts, p]);
      }
      expect(() => combineEnsembleTf([tf.zeros([2, 3]) as tf.Tensor2D, tf.zeros([2, 4]) as tf.Tensor2D])).toThrow(
        FormatError,
      );
    });
  });
});
