import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/util/rng.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { Decoder } from '../../src/decode/decoder.ts';
import { SearchLm } from '../../src/decode/search-lm.ts';
import { decodeSet, tuneOnDev, type DecodeInput } from '../../src/decode/tune.ts';
import { scoreTranscripts } from '../../src/score/wer.ts';
import type { TrnUtterance } from '../../src/score/trn.ts';
import { randomText, synthesize, toyLexicon, toyModel, trainArpa } from './helpers.ts';

function makeSet(
  rng: Rng,
  n: number,
  prefix: string,
  lex: ReturnType<typeof toyLexicon>,
  am: ReturnType<typeof toyModel>,
  text: ReturnType<typeof randomText>,
) {
  const inputs: DecodeInput[] = [],
    refs: TrnUtterance[] = [];
  for (let u = 0; u < n; u++) {
    const truth = text[rng.int(text.length)].words;
    const uttId = `${prefix}${u}`;
    inputs.push({ uttId, scores: synthesize(rng, truth, lex, am, { noise: 1.6, peak: 2.2, maxDur: 5 }).scores });
    refs.push({ uttId, words: truth, line: 0 });
  }
  return { inputs, refs };
}

describe('tuneOnDev', () => {
  const rng = new Rng('tune');
  const am = toyModel(8, 3);
  const lex = toyLexicon(rng, { numWords: 30, numPhones: 8, minLen: 1, maxLen: 3 });
  const text = randomText(rng, lex.words, 300, 4);
  const dec = new Decoder(lex, am, new SearchLm(trainArpa(text, 2)));
  const dev = makeSet(rng, 10, 'dev', lex, am, text);
  const test = makeSet(rng, 10, 'test', lex, am, text);

  it('picks the grid point with the fewest dev errors (first among equals) and it carries over to test', () => {
    const lmWeights = [0.3, 1, 2],
      wordInsertionPenalties = [0, 1.5, 3];
    const r = tuneOnDev(dec, dev.inputs, dev.refs, { lmWeights, wordInsertionPenalties });
    expect(r.grid.map((p) => [p.lmWeight, p.wordInsertionPenalty])).toEqual(
      lmWeights.flatMap((w) => wordInsertionPenalties.map((p) => [w, p])),
    );
    // Each grid point is the WER of decoding dev with those settings.
    for (const p of r.grid) {
      const s = scoreTranscripts(
        dev.refs,
        decodeSet(dec, dev.inputs, { lmWeight: p.lmWeight, wordInsertionPenalty: p.wordInsertionPenalty }).hyps,
      );
      expect([p.errors, p.refWords, p.sub, p.del, p.ins]).toEqual([s.errors, s.refWords, s.sub, s.del, s.ins]);
      expect(p.wer).toBeCloseTo(s.wer, 9);
    }
    const minErr = Math.min(...r.grid.map((p) => p.errors));
    expect(r.best.errors).toBe(minErr);
    expect(r.best).toEqual(r.grid.find((p) => p.errors === minErr));
    // The grid matters on this data, so the choice is not trivial.
    expect(Math.max(...r.grid.map((p) => p.errors))).toBeGreaterThan(minErr);
    // Applied to test, the tuned setting does no worse than the untuned default (weight 1, no penalty).
    const tuned = scoreTranscripts(
      test.refs,
      decodeSet(dec, test.inputs, { lmWeight: r.best.lmWeight, wordInsertionPenalty: r.best.wordInsertionPenalty })
        .hyps,
    );
    const worst = r.grid.reduce((a, p) => (p.errors > a.errors ? p : a));
    const bad = scoreTranscripts(
      test.refs,
      decodeSet(dec, test.inputs, { lmWeight: worst.lmWeight, wordInsertionPenalty: worst.wordInsertionPenalty }).hyps,
    );
    expect(tuned.errors).toBeLessThan(bad.errors);
  });

  it('rejects an empty grid or an empty dev set, and dev hypotheses without references', () => {
    expect(() => tuneOnDev(dec, dev.inputs, dev.refs, { lmWeights: [] })).toThrow(ConfigError);
    expect(() => tuneOnDev(dec, [], dev.refs)).toThrow(/no dev utterances/);
    expect(() =>
      tuneOnDev(dec, dev.inputs, dev.refs.slice(1), { lmWeights: [1], wordInsertionPenalties: [0] }),
    ).toThrow(/hypothesis for utterance 'dev0' has no reference/);
  });

  it('reports set statistics: frames, frames/s and real-time factor', () => {
    const r = decodeSet(
      dec,
      test.inputs.map((i) => ({ uttId: i.uttId, scores: () => i.scores as never })),
      { frameShiftSec: 0.01 },
    );
    const frames = test.inputs.reduce((a, i) => a + (i.scores as { numFrames: number }).numFrames, 0);
    expect(r.stats.numFrames).toBe(frames);
    expect(r.stats.utterances).toBe(10);
    expect(r.stats.realTimeFactor).toBeCloseTo(r.stats.elapsedSec / (frames * 0.01), 9);
    expect(r.stats.framesPerSec).toBeCloseTo(frames / r.stats.elapsedSec, 6);
  });
});
