import { describe, it, expect } from 'vitest';
import {
  bootstrapGainKept,
  makeResampler,
  pairedBootstrapErrorDiff,
  pairedBootstrapWer,
} from '../../src/score/significance.ts';
import { scoreTranscripts } from '../../src/score/wer.ts';
import { Rng } from '../../src/util/rng.ts';

const draws = (n: number, strata: (string | number)[] | undefined, seed: number, reps = 1) => {
  const r = makeResampler(n, strata),
    rng = new Rng(seed),
    out: number[] = [];
  for (let k = 0; k < reps; k++) r(rng, (i) => out.push(i));
  return out;
};

describe('stratified bootstrap (pooling experiments)', () => {
  it('draws n indices per replicate, each stratum only from itself and as often as its size', () => {
    const strata = ['a', 'a', 'a', 'b', 'b', 'c', 'c', 'c', 'c', 'c'];
    const d = draws(10, strata, 7, 50);
    expect(d).toHaveLength(500);
    for (let r = 0; r < 50; r++) {
      const rep = d.slice(10 * r, 10 * r + 10);
      expect(rep.slice(0, 3).every((i) => i <= 2)).toBe(true);
      expect(rep.slice(3, 5).every((i) => i === 3 || i === 4)).toBe(true);
      expect(rep.slice(5).every((i) => i >= 5)).toBe(true);
    }
    // every member of a stratum does get drawn
    expect(new Set(d).size).toBe(10);
  });

  it('with one stratum holding every utterance in order, draws exactly as the plain bootstrap', () => {
    expect(draws(17, Array(17).fill(0), 3, 20)).toEqual(draws(17, undefined, 3, 20));
    const u = Array.from({ length: 25 }, (_, i) => ({
      frames: 100,
      baseline: 40 + (i % 7),
      ensemble: 45 + (i % 5),
      student: 43 + (i % 6),
    }));
    expect(bootstrapGainKept(u, { seed: 2, strata: Array(25).fill('x') })).toEqual(bootstrapGainKept(u, { seed: 2 }));
  });

  it('rejects strata of the wrong length', () => {
    expect(() => makeResampler(3, [0, 1])).toThrow(/one per utterance/);
  });

  it('keeps a stratum-level effect out of the interval that the plain bootstrap lets in', () => {
    // Two experiments: in A the student is 2 errors worse on each of 5 utterances, in B 1 better
    // on each of 10. Stratified, every replicate has exactly +10 and -10: delta 0 always.
    const diff = [...Array(5).fill(2), ...Array(10).fill(-1)];
    const words = Array(15).fill(5);
    const strat = pairedBootstrapErrorDiff(diff, words, {
      replicates: 300,
      seed: 1,
      strata: [...Array(5).fill('A'), ...Array(10).fill('B')],
    });
    expect(strat.deltaWer).toBe(0);
    expect(strat.ciLow).toBe(0);
    expect(strat.ciHigh).toBe(0);
    const plain = pairedBootstrapErrorDiff(diff, words, { replicates: 300, seed: 1 });
    expect(plain.ciHigh - plain.ciLow).toBeGreaterThan(5);
  });

  it('pairedBootstrapWer is the array version on matched utterances', () => {
    const trn = (...u: [string, string[]][]) => u.map(([uttId, words], i) => ({ uttId, words, line: i + 1 }));
    const refs = trn(['s_1', ['one', 'two', 'three']], ['s_2', ['four', 'five']], ['s_3', ['six']]);
    const a = scoreTranscripts(refs, trn(['s_1', ['one', 'two']], ['s_2', ['four', 'five']], ['s_3', ['seven']]));
    const b = scoreTranscripts(refs, trn(['s_1', ['one', 'two', 'three']], ['s_2', ['four']], ['s_3', ['six', 'six']]));
    const r = pairedBootstrapWer(a, b, { replicates: 100, seed: 4 });
    const arr = pairedBootstrapErrorDiff([1 - 0, 0 - 1, 1 - 1], [3, 2, 1], { replicates: 100, seed: 4 });
    expect(r).toEqual({ ...arr, deltaWer: a.wer - b.wer });
    expect(arr.deltaWer).toBeCloseTo(0, 12);
  });
});
