import { describe, it, expect } from 'vitest';
import { bootstrapSums, makeResampler, pairedBootstrapErrorDiff } from '../../src/score/significance.ts';
import { Rng } from '../../src/util/rng.ts';

/** 6 speakers x 30 utterances of 10 words; A - B errors per utterance = the speaker's offset +- 1 (large between-speaker variance). */
function clustered(offsets = [-3, -2, 1, 2, 3, 4]) {
  const rng = new Rng(11);
  const speakers: string[] = [],
    diff: number[] = [],
    words: number[] = [];
  offsets.forEach((o, s) => {
    for (let i = 0; i < 30; i++) {
      speakers.push(`spk${s}`);
      diff.push(o + (rng.int(3) - 1));
      words.push(10);
    }
  });
  return { speakers, diff, words };
}
const ratio = (t: Float64Array) => (t[0] > 0 ? t[1] / t[0] : null);

describe('speaker-level (two-stage cluster) bootstrap', () => {
  it('draws whole speakers, then utterances of the drawn speaker only', () => {
    const clusters = ['a', 'a', 'a', 'b', 'b', 'c'];
    const draw = makeResampler(6, undefined, clusters);
    const rng = new Rng(5);
    const spk = (i: number) => clusters[i];
    const sizes = { a: 3, b: 2, c: 1 } as Record<string, number>;
    for (let r = 0; r < 200; r++) {
      const got: number[] = [];
      draw(rng, (i) => got.push(i));
      // Runs of one speaker as long as the speaker's utterance count, 3 speakers drawn.
      let k = 0,
        runs = 0;
      while (k < got.length) {
        const s = spk(got[k]);
        const n = sizes[s];
        expect(got.slice(k, k + n).every((i) => spk(i) === s)).toBe(true);
        k += n;
        runs++;
      }
      expect(runs).toBe(3);
    }
    expect(() => makeResampler(3, [0, 1, 1], ['x', 'x', 'y'])).toThrow(/speaker 'x' lies in 2 strata/);
  });

  it('gives a wider interval than the utterance bootstrap when speakers differ, and the same interval for the same seed', () => {
    const { speakers, diff, words } = clustered();
    const spk = bootstrapSums([words, diff], [ratio], { replicates: 2000, seed: 3, clusters: speakers });
    const utt = bootstrapSums([words, diff], [ratio], { replicates: 2000, seed: 3 });
    const width = (e: { low: number | null; high: number | null }) => e.high! - e.low!;
    expect(spk.speakers).toBe(6);
    expect(utt.speakers).toBeNull();
    expect(spk.estimates[0].value).toBeCloseTo(utt.estimates[0].value!, 12);
    expect(width(spk.estimates[0])).toBeGreaterThan(3 * width(utt.estimates[0]));
    // The speaker interval holds the value; the utterance one matches the paired bootstrap of src/score.
    expect(spk.estimates[0].low!).toBeLessThan(spk.estimates[0].value!);
    expect(spk.estimates[0].high!).toBeGreaterThan(spk.estimates[0].value!);
    const pb = pairedBootstrapErrorDiff(diff, words, { replicates: 2000, seed: 3 });
    expect(100 * utt.estimates[0].low!).toBeCloseTo(pb.ciLow, 9);
    expect(100 * utt.estimates[0].high!).toBeCloseTo(pb.ciHigh, 9);
    expect(bootstrapSums([words, diff], [ratio], { replicates: 2000, seed: 3, clusters: speakers })).toEqual(spk);
    expect(
      bootstrapSums([words, diff], [ratio], { replicates: 2000, seed: 4, clusters: speakers }).estimates[0].low,
    ).not.toBe(spk.estimates[0].low);
  });

  it('with one speaker says the interval cannot be estimated instead of giving a zero-width one', () => {
    const words = [10, 10, 10, 10],
      diff = [1, 2, 0, 3];
    const r = bootstrapSums([words, diff], [ratio], { replicates: 100, clusters: ['only', 'only', 'only', 'only'] });
    expect(r.note).toBe('n/a: 1 speaker');
    expect(r.estimates[0]).toMatchObject({ value: 0.15, low: null, high: null, aboveZero: null });
  });

  it('sets aside replicates where a statistic is undefined and gives no interval when most are', () => {
    const words = [10, 10, 10, 10],
      diff = [0, 0, 0, 1];
    const r = bootstrapSums([words, diff], [(t) => (t[1] > 1 ? t[1] : null)], {
      replicates: 400,
      seed: 1,
      clusters: ['a', 'b', 'c', 'd'],
    });
    expect(r.estimates[0].undefinedReplicates).toBeGreaterThan(200); // defined only when speaker d is drawn twice or more
    expect(r.estimates[0].low).toBeNull();
  });
});
