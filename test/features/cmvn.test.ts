import { describe, it, expect } from 'vitest';
import { CmvnStats, applyCmvn } from '../../src/features/cmvn.ts';
import { createMatrix } from '../../src/features/matrix.ts';
import { FormatError, NumericError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { expectClose } from './helpers.ts';

function randomMatrix(rng: Rng, frames: number, dim: number, mean = 0, sd = 1) {
  const m = createMatrix(frames, dim);
  for (let i = 0; i < m.data.length; i++) m.data[i] = mean + sd * rng.gauss();
  return m;
}

describe('CMVN (Kaldi compute-cmvn-stats / apply-cmvn)', () => {
  const rng = new Rng(11);
  const a = randomMatrix(rng, 50, 3, 5, 2);
  const b = randomMatrix(rng, 70, 3, 5, 2);

  it('accumulates sums, sums of squares and counts, and adds like concatenation', () => {
    const s = new CmvnStats(3).accumulate(a).accumulate(b);
    const joint = createMatrix(120, 3);
    joint.data.set(a.data, 0);
    joint.data.set(b.data, 150);
    const j = new CmvnStats(3).accumulate(joint);
    expect(s.count).toBe(120);
    expectClose(s.sum, j.sum, 1e-9, 'sums');
    const parts = new CmvnStats(3).accumulate(a).add(new CmvnStats(3).accumulate(b));
    expectClose(parts.sumSq, j.sumSq, 1e-9, 'sums of squares');
    expect(s.toKaldiMatrix()[0][3]).toBe(120);
  });
  it('normalises the mean to zero, and the variance to one with normVars', () => {
    const s = new CmvnStats(3).accumulate(a);
    const mean0 = applyCmvn(a, s);
    const var1 = applyCmvn(a, s, { normVars: true });
    const check = new CmvnStats(3).accumulate(mean0);
    expectClose(check.mean(), [0, 0, 0], 1e-5, 'means after CMN');
    const check2 = new CmvnStats(3).accumulate(var1);
    expectClose(
      Array.from(check2.sumSq, (x) => x / 50),
      [1, 1, 1],
      1e-4,
      'variances after CVN',
    );
  });
  it('round-trips through JSON and refuses empty statistics and wrong dimensions', () => {
    const s = new CmvnStats(3).accumulate(a);
    const back = CmvnStats.fromJSON(JSON.parse(JSON.stringify(s.toJSON())));
    expect(back.sum).toEqual(s.sum);
    expect(() => applyCmvn(a, new CmvnStats(3))).toThrow(NumericError);
    expect(() => applyCmvn(a, new CmvnStats(4))).toThrow(FormatError);
    expect(() => CmvnStats.fromJSON({ count: 1, sum: [1], sumSq: [] }, 'x.json')).toThrow(/x\.json/);
  });
});
