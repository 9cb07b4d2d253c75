import { describe, it, expect } from 'vitest';
import { KeptMassCurve, KeptMassStats, keptMassDistribution, topKRows } from '../../src/distill/topk.ts';
import { softmaxRows } from '../../src/util/softmax.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { expectClose, randomLogits } from './helpers.ts';

/** Reference: full sort by (probability desc, id asc). */
function bruteTopK(row: ArrayLike<number>, k: number): number[] {
  return Array.from(row, (p, id) => ({ p, id }))
    .sort((a, b) => b.p - a.p || a.id - b.id)
    .slice(0, k)
    .map((x) => x.id);
}

describe('top-k per frame', () => {
  it('keeps the k most probable senones, most probable first, ties to the smaller id', () => {
    const rng = new Rng(3);
    const S = 37,
      n = 50;
    const probs = softmaxRows(randomLogits(rng, n, S, 3), n, S);
    // Ties: quantise some rows so equal values occur.
    for (let i = 0; i < 10 * S; i++) probs[i] = Math.round(probs[i] * 20) / 20;
    for (const k of [1, 5, 36, 37]) {
      const t = topKRows(probs, n, S, k);
      for (let f = 0; f < n; f++) {
        const row = probs.subarray(f * S, (f + 1) * S);
        expect(Array.from(t.ids.subarray(f * k, (f + 1) * k))).toEqual(bruteTopK(row, k));
        const kept = Array.from(t.ids.subarray(f * k, (f + 1) * k), (id) => row[id]);
        expectClose(t.probs.subarray(f * k, (f + 1) * k), kept, 0, 'kept probabilities');
        expect(t.keptMass[f]).toBeCloseTo(
          kept.reduce((a, b) => a + b, 0),
          14,
        );
      }
    }
    expect(() => topKRows(probs, n, S, 0)).toThrow(ConfigError);
    expect(() => topKRows(probs, n, S, S + 1)).toThrow(ConfigError);
  });

  it('chooses the smallest k whose mean kept mass reaches the target', () => {
    const rng = new Rng(4);
    const S = 200,
      n = 300;
    const probs = softmaxRows(randomLogits(rng, n, S, 2.5), n, S);
    const curve = new KeptMassCurve(S);
    curve.addRows(probs.subarray(0, 100 * S), 100);
    curve.addRows(probs.subarray(100 * S), 200);
    expect(curve.frames).toBe(n);
    for (const target of [0.5, 0.9, 0.99]) {
      const c = curve.chooseK(target);
      expect(c.reached).toBe(true);
      const massAt = (k: number) => topKRows(probs, n, S, k).keptMass.reduce((a, b) => a + b, 0) / n;
      expect(c.meanMass).toBeCloseTo(massAt(c.k), 12);
      expect(massAt(c.k)).toBeGreaterThanOrEqual(target);
      if (c.k > 1) expect(massAt(c.k - 1)).toBeLessThan(target);
    }
    expect(curve.meanMass(S)).toBeCloseTo(1, 12);
    // A capped search reports that it fell short.
    const capped = new KeptMassCurve(S, 3);
    capped.addRows(probs, n);
    const c = capped.chooseK(0.999);
    expect(c).toMatchObject({ k: 3, reached: false });
    expect(() => new KeptMassCurve(S).chooseK(0.9)).toThrow(ConfigError);
  });

  it('summarises the kept-mass distribution (mean, minimum, quantiles, fractions below thresholds)', () => {
    const st = new KeptMassStats();
    const masses = Array.from({ length: 1000 }, (_, i) => 0.9 + 0.1 * (i / 1000));
    st.add(masses);
    const s = st.summary();
    expect(s.frames).toBe(1000);
    expect(s.mean).toBeCloseTo(0.94995, 10);
    expect(s.min).toBe(0.9);
    expect(s.quantiles.p50).toBeCloseTo(0.95, 3);
    expect(s.quantiles.p10).toBeCloseTo(0.91, 3);
    expect(s.fractionBelow['0.95']).toBeCloseTo(0.5, 2);
    expect(s.fractionBelow['0.99']).toBeCloseTo(0.9, 2);
    expect(s.fractionBelow['0.9']).toBe(0);
    const rng = new Rng(1);
    const p = softmaxRows(randomLogits(rng, 40, 50, 3), 40, 50);
    const d = keptMassDistribution(p, 40, 50, 5);
    expect(d.mean).toBeCloseTo(topKRows(p, 40, 50, 5).keptMass.reduce((a, b) => a + b, 0) / 40, 12);
  });
});
