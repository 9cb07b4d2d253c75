import { describe, it, expect } from 'vitest';
import { addFidelity, emptyFidelityCounts, fidelityOf } from '../../src/score/fidelity.ts';
import { FormatError } from '../../src/util/errors.ts';

describe('fidelity to a teacher (top-1 agreement, KL(teacher || model))', () => {
  it('matches a hand computation over two utterances', () => {
    const c = emptyFidelityCounts();
    // Utterance 1: 2 frames x 3 senones. Frame 0: teacher's argmax 0, model's 1 (disagree); frame 1: both 2.
    const p1 = [0.6, 0.4, 0, 0.1, 0.2, 0.7];
    const z1 = [0, 1, -1, 0, 0, 3];
    addFidelity(c, p1, z1, 2, 3, { uttId: 'u1' });
    // Utterance 2: 1 frame, agree (both 1).
    const p2 = [0.25, 0.5, 0.25];
    const z2 = [1, 2, 1];
    addFidelity(c, p2, z2, 1, 3, { uttId: 'u2', teacherArgmax: Int32Array.of(1), modelArgmax: Int32Array.of(1) });
    const softmax = (z: number[]) => {
      const e = z.map(Math.exp);
      const s = e.reduce((a, x) => a + x, 0);
      return e.map((x) => x / s);
    };
    const kl = (p: number[], q: number[]) => p.reduce((a, pi, i) => (pi > 0 ? a + pi * Math.log(pi / q[i]) : a), 0);
    const expectedKl =
      kl(p1.slice(0, 3), softmax(z1.slice(0, 3))) + kl(p1.slice(3), softmax(z1.slice(3))) + kl(p2, softmax(z2));
    expect(c.frames).toBe(3);
    expect(c.agree).toBe(2);
    expect(c.klSum).toBeCloseTo(expectedKl, 12);
    const f = fidelityOf(c);
    expect(f.agreement).toBeCloseTo(2 / 3, 15);
    expect(f.klNats).toBeCloseTo(expectedKl / 3, 12);
  });

  it("is zero KL and full agreement for a model that outputs the teacher's log-probabilities", () => {
    const p = [0.2, 0.3, 0.5, 0.9, 0.05, 0.05];
    const c = emptyFidelityCounts();
    addFidelity(
      c,
      p,
      p.map((x) => Math.log(x) + 7),
      2,
      3,
    );
    expect(fidelityOf(c).agreement).toBe(1);
    expect(Math.abs(fidelityOf(c).klNats)).toBeLessThan(1e-12);
    expect(fidelityOf(emptyFidelityCounts())).toEqual({ frames: 0, agreement: 0, klNats: 0 });
  });

  it('rejects outputs of different sizes, naming the utterance', () => {
    expect(() => addFidelity(emptyFidelityCounts(), [0.5, 0.5], [1, 2, 3], 1, 2, { uttId: 'utt-7' })).toThrow(
      FormatError,
    );
    expect(() => addFidelity(emptyFidelityCounts(), [0.5, 0.5], [1, 2, 3], 1, 2, { uttId: 'utt-7' })).toThrow(/utt-7/);
  });
});
