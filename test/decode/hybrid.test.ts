import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/util/rng.ts';
import { FormatError } from '../../src/util/errors.ts';
import { hybridScores, logPriorsFromCounts } from '../../src/decode/hybrid.ts';
import { expectClose } from './helpers.ts';

describe('hybrid acoustic scores', () => {
  it('are acousticScale * (log posterior - log prior), from posteriors or log-posteriors', () => {
    const rng = new Rng('hybrid');
    const T = 7,
      D = 5;
    const post = new Float64Array(T * D);
    for (let t = 0; t < T; t++) {
      let z = 0;
      for (let s = 0; s < D; s++) {
        post[t * D + s] = Math.exp(rng.gauss());
        z += post[t * D + s];
      }
      for (let s = 0; s < D; s++) post[t * D + s] /= z;
    }
    const counts = [10, 0, 30, 40, 20];
    const lp = logPriorsFromCounts(counts);
    expectClose(lp[0], Math.log(0.1), 1e-12, 'prior 0');
    expectClose(lp[1], Math.log(1e-10), 1e-9, 'unseen senone floored');
    const a = hybridScores(post, T, lp, { acousticScale: 0.1 });
    const b = hybridScores(post.map(Math.log), T, lp, { acousticScale: 0.1, input: 'log-posteriors' });
    expect(a.numFrames).toBe(T);
    expect(a.numPdfs).toBe(D);
    for (let i = 0; i < T * D; i++) {
      expectClose(a.data[i], 0.1 * (Math.log(post[i]) - lp[i % D]), 1e-5, `score ${i}`);
      expectClose(b.data[i], a.data[i], 1e-5, `log input ${i}`);
    }
    // A zero posterior is floored, not -Infinity.
    const z = hybridScores([0, 1], 1, [Math.log(0.5), Math.log(0.5)], { acousticScale: 1 });
    expect(Number.isFinite(z.data[0])).toBe(true);
  });

  it('rejects shapes that do not match, NaN posteriors and empty counts', () => {
    expect(() => hybridScores(new Float32Array(9), 2, [0, 0, 0, 0], { uttId: 'u1' })).toThrow(
      /utterance 'u1'.*expected 2 x 4 = 8 values, found 9/,
    );
    expect(() => hybridScores([NaN, 1], 1, [0, 0], { uttId: 'u2' })).toThrow(FormatError);
    expect(() => logPriorsFromCounts([0, 0])).toThrow(/senone counts are all zero/);
    expect(() => logPriorsFromCounts([1, -1])).toThrow(/senone count 1/);
  });
});
