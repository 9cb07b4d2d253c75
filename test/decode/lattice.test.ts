import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/util/rng.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { Decoder } from '../../src/decode/decoder.ts';
import { SearchLm } from '../../src/decode/search-lm.ts';
import { rescoreNbest } from '../../src/decode/lattice.ts';
import { decodeSet, latticeHyps, tuneByRescoring, tuneOnDev, type DecodeInput } from '../../src/decode/tune.ts';
import { BackoffLm } from '../../src/lm/model.ts';
import type { TrnUtterance } from '../../src/score/trn.ts';
import { expectClose, randomText, synthesize, toyLexicon, toyModel, trainArpa } from './helpers.ts';

describe('word lattices', () => {
  const rng = new Rng('lattice');
  const am = toyModel(8, 3);
  const lex = toyLexicon(rng, { numWords: 30, numPhones: 8, minLen: 1, maxLen: 3 });
  const text = randomText(rng, lex.words, 300, 5);
  const arpa3 = trainArpa(text, 3);
  const dec = new Decoder(lex, am, new SearchLm(arpa3));
  const inputs: DecodeInput[] = [],
    refs: TrnUtterance[] = [];
  for (let u = 0; u < 12; u++) {
    const words = text[rng.int(text.length)].words;
    inputs.push({
      uttId: `u${u}`,
      scores: synthesize(rng, words, lex, am, { noise: 1.6, peak: 2.2, maxDur: 5 }).scores,
    });
    refs.push({ uttId: `u${u}`, words, line: 0 });
  }

  it("rescored at the first pass's own weights give its 1-best, score and word times", () => {
    for (const [lmWeight, wordInsertionPenalty, latticeBeam] of [
      [1, 0, 8],
      [0.4, 1, 8],
      [2.5, -0.5, 3],
      [1, 0.5, 0],
    ]) {
      const r = decodeSet(dec, inputs, { lmWeight, wordInsertionPenalty, beam: 10, lattice: true, latticeBeam });
      for (const res of r.results) {
        const p = res.lattice!.bestPath(lmWeight, wordInsertionPenalty)!;
        expect(p.words).toEqual(res.words);
        expect(Array.from(p.frames)).toEqual(res.times.flatMap((t) => [t.startFrame, t.endFrame]));
        expectClose(p.score, res.score, 1e-9 * Math.abs(res.score), `${res.uttId} score`);
        expectClose(p.lm / Math.LN10, res.lmLog10Prob!, 1e-9, `${res.uttId} LM`);
        expectClose(
          p.ac + lmWeight * p.lm - wordInsertionPenalty * p.wordIds.length,
          p.score,
          1e-9 * Math.abs(p.score),
          'parts',
        );
      }
    }
  });

  it('hold more than the 1-best within the lattice beam, and nothing without a lattice', () => {
    const r = decodeSet(dec, inputs, { beam: 10, lattice: true, latticeBeam: 8 });
    const narrow = decodeSet(dec, inputs, { beam: 10, lattice: true, latticeBeam: 1 });
    const arcs = (x: typeof r) => x.results.reduce((n, res) => n + res.lattice!.numArcs, 0);
    expect(arcs(r)).toBeGreaterThan(arcs(narrow));
    expect(r.results.some((res) => res.lattice!.nbest(2, 1, 0).length === 2)).toBe(true);
    expect(decodeSet(dec, inputs.slice(0, 1), { beam: 10 }).results[0].lattice).toBeUndefined();
    expect(() => dec.decode('u0', inputs[0].scores as never, { lattice: true, latticeBeam: -1 })).toThrow(ConfigError);
    // Too few frames for any word: no path, and a lattice without arcs.
    const short = { numFrames: 1, numPdfs: am.numPdfs, data: new Float32Array(am.numPdfs) };
    const none = dec.decode('short', short, { lattice: true });
    expect(none.reachedFinal).toBe(false);
    expect(none.lattice!.numArcs).toBe(0);
    expect(none.lattice!.bestPath(1, 0)).toBeNull();
    expect(none.lattice!.nbest(3, 1, 0)).toEqual([]);
  });

  it('rescored at other weights find paths at least as good as their first pass, close to re-decoding', () => {
    const first = decodeSet(dec, inputs, { beam: 12, lattice: true });
    let same = 0,
      total = 0;
    for (const [lmw, pen] of [
      [0.5, 0],
      [1.5, 1],
      [2, 0],
    ]) {
      const again = decodeSet(dec, inputs, { beam: 12, lmWeight: lmw, wordInsertionPenalty: pen });
      first.results.forEach((res, i) => {
        const p = res.lattice!.bestPath(lmw, pen)!;
        // A path of the lattice is a path of the search: never better than the true best.
        expect(p.score).toBeLessThanOrEqual(again.results[i].score + 1e-9 * Math.abs(p.score));
        total++;
        if (p.words.join(' ') === again.results[i].words.join(' ')) same++;
      });
    }
    expect(same / total).toBeGreaterThanOrEqual(0.9);
  });

  it('tune the weights by rescoring to the grid point re-decoding chooses', () => {
    const o = { beam: 12, lmWeights: [0.3, 0.7, 1, 1.5, 2.5], wordInsertionPenalties: [-1, 0, 1, 2] };
    const byDecoding = tuneOnDev(dec, inputs, refs, o);
    const byRescoring = tuneByRescoring(dec, inputs, refs, o);
    expect([byRescoring.best.lmWeight, byRescoring.best.wordInsertionPenalty]).toEqual([
      byDecoding.best.lmWeight,
      byDecoding.best.wordInsertionPenalty,
    ]);
    // The same errors near the first pass's weight (1); far from it a lattice is not every path
    // (here at 2.5 re-decoding makes search errors that the lattice's paths avoid).
    const near = (p: { lmWeight: number }) => p.lmWeight <= 1.5;
    expect(byRescoring.grid.filter(near).map((p) => p.errors)).toEqual(
      byDecoding.grid.filter(near).map((p) => p.errors),
    );
    expect(new Set(byDecoding.grid.map((p) => p.errors)).size).toBeGreaterThan(1);
    expect(latticeHyps(byRescoring.lattices, 1, 0).map((h) => h.words)).toEqual(
      decodeSet(dec, inputs, { beam: 12 }).hyps.map((h) => h.words),
    );
  });

  it('give n-best lists of distinct word sequences, best first, that another LM can rescore', () => {
    const r = decodeSet(dec, inputs.slice(0, 6), { beam: 12, lattice: true, latticeBeam: 10 });
    const bigram = new SearchLm(trainArpa(text, 2)),
      bigramRef = new BackoffLm(trainArpa(text, 2));
    let lists = 0;
    for (const res of r.results) {
      const nb = res.lattice!.nbest(5, 1, 0);
      expect(nb[0].words).toEqual(res.words);
      expect(new Set(nb.map((p) => p.words.join(' '))).size).toBe(nb.length);
      for (let i = 1; i < nb.length; i++) expect(nb[i].score).toBeLessThanOrEqual(nb[i - 1].score);
      if (nb.length > 1) lists++;
      // The same LM gives back the same LM scores; another LM its own sentence probabilities.
      for (const p of rescoreNbest(nb, dec.lm, 1, 0))
        expectClose(p.lm, nb.find((q) => q.words.join() === p.words.join())!.lm, 1e-9, 'same LM');
      const re = rescoreNbest(nb, bigram, 1.2, 0.5);
      for (const p of re) {
        expectClose(
          p.lm / Math.LN10,
          bigramRef.scoreSentence(p.words).reduce((a, x) => a + x.logProb!, 0),
          1e-9,
          'bigram sentence',
        );
        expectClose(p.score, p.ac + 1.2 * p.lm - 0.5 * p.words.length, 1e-9, 'rescored');
      }
      for (let i = 1; i < re.length; i++) expect(re[i].score).toBeLessThanOrEqual(re[i - 1].score);
    }
    expect(lists).toBeGreaterThan(0);
  });
});
