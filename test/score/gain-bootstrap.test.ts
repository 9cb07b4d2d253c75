import { describe, it, expect } from 'vitest';
import { bootstrapGainKept, type GainUtterance } from '../../src/score/significance.ts';
import { Rng } from '../../src/util/rng.ts';

/** Utterances where the ensemble gains `gain` frames over the baseline and the student `kept` of it. */
function make(n: number, seed: number, f: (i: number, rng: Rng) => Omit<GainUtterance, 'frames'>): GainUtterance[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => ({ frames: 100, ...f(i, rng) }));
}

describe('bootstrap of the gain kept (eval stage)', () => {
  it('is exact when the share is the same in every utterance', () => {
    // Every utterance: baseline 50, ensemble 60, student 58 -> 80 % in any resample.
    const r = bootstrapGainKept(
      make(30, 1, () => ({ baseline: 50, ensemble: 60, student: 58 })),
      { replicates: 200, seed: 3 },
    );
    expect(r.gainKept).toBeCloseTo(0.8, 12);
    expect(r.ciLow).toBeCloseTo(0.8, 12);
    expect(r.ciHigh).toBeCloseTo(0.8, 12);
    expect(r.undefinedReplicates).toBe(0);
    expect(r).toMatchObject({ replicates: 200, seed: 3, utterances: 30, confidence: 0.95 });
  });

  it('gives an interval around the point estimate that narrows with more utterances', () => {
    const noisy = (i: number, rng: Rng) => {
      const b = 40 + rng.int(20);
      return { baseline: b, ensemble: b + 2 + rng.int(6), student: b + rng.int(8) };
    };
    const small = bootstrapGainKept(make(40, 5, noisy), { replicates: 500, seed: 1 });
    const large = bootstrapGainKept(make(640, 5, noisy), { replicates: 500, seed: 1 });
    for (const r of [small, large]) {
      expect(r.gainKept).not.toBeNull();
      expect(r.ciLow!).toBeLessThan(r.gainKept!);
      expect(r.ciHigh!).toBeGreaterThan(r.gainKept!);
    }
    expect(large.ciHigh! - large.ciLow!).toBeLessThan(0.5 * (small.ciHigh! - small.ciLow!));
  });

  it('is deterministic for a seed and changes with it', () => {
    const u = make(50, 9, (i, rng) => ({ baseline: 50, ensemble: 50 + rng.int(10), student: 50 + rng.int(10) }));
    expect(bootstrapGainKept(u, { seed: 4 })).toEqual(bootstrapGainKept(u, { seed: 4 }));
    expect(bootstrapGainKept(u, { seed: 4 }).ciLow).not.toBe(bootstrapGainKept(u, { seed: 5 }).ciLow);
  });

  it('leaves the share and the interval undefined when the ensemble gains nothing', () => {
    const r = bootstrapGainKept(
      make(20, 2, () => ({ baseline: 60, ensemble: 60, student: 70 })),
      { replicates: 100 },
    );
    expect(r.gainKept).toBeNull();
    expect(r.ciLow).toBeNull();
    expect(r.ciHigh).toBeNull();
    expect(r.undefinedReplicates).toBe(100);
  });

  it('rejects counts outside [0, frames] and bad options', () => {
    expect(() => bootstrapGainKept([{ frames: 10, baseline: 11, ensemble: 5, student: 5 }])).toThrow(
      /correct-frame counts/,
    );
    expect(() => bootstrapGainKept([], { replicates: 0 })).toThrow(RangeError);
    expect(() => bootstrapGainKept([], { confidence: 1 })).toThrow(RangeError);
  });
});
