import { describe, it, expect } from 'vitest';
import { addDeltas, deltaScales } from '../../src/features/deltas.ts';
import { fromRows, row } from '../../src/features/matrix.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { expectClose } from './helpers.ts';

describe('deltas (Kaldi add-deltas)', () => {
  it('uses the regression window [-2..2]/10 and its self-convolution for accelerations', () => {
    const [s0, s1, s2] = deltaScales();
    expect(Array.from(s0)).toEqual([1]);
    expectClose(s1, [-0.2, -0.1, 0, 0.1, 0.2], 1e-15, 'delta scales');
    expectClose(
      s2,
      [4, 4, 1, -4, -10, -4, 1, 4, 4].map((x) => x / 100),
      1e-15,
      'acceleration scales',
    );
  });
  it('gives the slope of a ramp and zero acceleration away from the edges, replicating edge frames', () => {
    const m = fromRows(Array.from({ length: 12 }, (_, t) => [3 * t, 7]));
    const d = addDeltas(m);
    expect(d.dim).toBe(6);
    for (let t = 4; t < 8; t++) expectClose(row(d, t), [3 * t, 7, 3, 0, 0, 0], 1e-5, `frame ${t}`);
    // Frame 0: neighbours -1, -2 replicate frame 0: (0.1*(3-0) + 0.2*(6-0)) = 1.5
    expect(row(d, 0)[2]).toBeCloseTo(1.5, 5);
  });
  it('rejects a zero window', () => {
    expect(() => deltaScales({ window: 0 })).toThrow(ConfigError);
  });
});
