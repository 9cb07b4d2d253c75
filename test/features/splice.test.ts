import { describe, it, expect } from 'vitest';
import { spliceFrameInto, spliceFrames, splicedDim } from '../../src/features/splice.ts';
import { fromRows, row } from '../../src/features/matrix.ts';
import { ConfigError } from '../../src/util/errors.ts';

describe('splicing (Kaldi splice-feats)', () => {
  const m = fromRows([
    [0, 10],
    [1, 11],
    [2, 12],
    [3, 13],
  ]);
  it('concatenates left..right context and replicates the edge frames', () => {
    const s = spliceFrames(m, { leftContext: 2, rightContext: 1 });
    expect(s.dim).toBe(8);
    expect(splicedDim(40)).toBe(360);
    expect(Array.from(row(s, 0))).toEqual([0, 10, 0, 10, 0, 10, 1, 11]);
    expect(Array.from(row(s, 3))).toEqual([1, 11, 2, 12, 3, 13, 3, 13]);
  });
  it('writes single frames into a batch buffer without allocating', () => {
    const buf = new Float32Array(12).fill(-1);
    spliceFrameInto(m, 1, 1, 1, buf, 3);
    expect(Array.from(buf)).toEqual([-1, -1, -1, 0, 10, 1, 11, 2, 12, -1, -1, -1]);
  });
  it('rejects negative contexts', () => {
    expect(() => spliceFrames(m, { leftContext: -1 })).toThrow(ConfigError);
  });
});
