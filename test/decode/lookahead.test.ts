import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/util/rng.ts';
import { parseArpa } from '../../src/lm/arpa.ts';
import { Decoder } from '../../src/decode/decoder.ts';
import { LookaheadTables } from '../../src/decode/lookahead.ts';
import { SearchLm } from '../../src/decode/search-lm.ts';
import { randomText, synthesize, toyLexicon, toyModel, trainArpa } from './helpers.ts';

/** LM states reached by random walks over the vocabulary, with their truncations to 1 and 2 words. */
function someStates(lm: SearchLm, rng: Rng, words: readonly string[]): number[] {
  const out = new Set<number>();
  for (let trial = 0; trial < 30; trial++) {
    let st = lm.startState;
    for (let k = 0; k < 5; k++) {
      for (const h of [0, 1, 2]) out.add(lm.truncate(st, h));
      st = lm.next(st, lm.wordId(words[rng.int(words.length)]));
    }
  }
  return [...out];
}

describe('sparse LM look-ahead tables', () => {
  for (const order of [2, 3, 4]) {
    it(`equal the dense tables bit for bit on a Kneser-Ney model (order ${order})`, () => {
      const rng = new Rng(`la-${order}`);
      const lex = toyLexicon(rng, { numWords: 80, numPhones: 12, minLen: 1, maxLen: 5, altFraction: 0.3 });
      const lm = new SearchLm(trainArpa(randomText(rng, lex.words, 400, 8), order));
      const dec = new Decoder(lex, toyModel(12, 3), lm, { lookaheadDenseMaxNodes: 0 });
      const la = dec.lookahead;
      const states = someStates(lm, rng, lex.words);
      expect(states.some((s) => lm.historyLength(s) === Math.min(2, order - 1))).toBe(true);
      for (const s of states) {
        const dense = la.denseTable(s),
          t = la.table(s);
        for (let n = 0; n < dense.length; n++) {
          if (!Object.is(la.value(t, n), dense[n]))
            throw new Error(
              `state ${lm.stateWords(s).join(' ')}, node ${n}: sparse ${la.value(t, n)} dense ${dense[n]}`,
            );
        }
      }
      expect(la.built).toBeGreaterThan(0);
    });
  }

  it('store only the tree paths of a history’s explicit successors', () => {
    const rng = new Rng('la-size');
    const lex = toyLexicon(rng, { numWords: 200, numPhones: 20, minLen: 2, maxLen: 6 });
    const text = randomText(rng, lex.words, 300, 6);
    const lm = new SearchLm(trainArpa(text, 2));
    const dec = new Decoder(lex, toyModel(20, 1), lm, { missingLmWords: 'drop', lookaheadDenseMaxNodes: 0 });
    const s = lm.next(lm.startState, lm.wordId(text[0].words[0]));
    const c = lm.continuations(s);
    const t = dec.lookahead.table(s);
    expect(c.to - c.from).toBeGreaterThan(0);
    // At most (successors x word length) nodes, far fewer than the tree.
    expect(t.size).toBeLessThanOrEqual(6 * (c.to - c.from));
    expect(t.size).toBeLessThan(dec.graph.numTrieNodes / 4);
  });

  it('are an upper bound of the dense table when an explicit n-gram scores below its back-off', () => {
    // p(b | a) = 10^-2 explicit, but bow(a) + p(b) = -0.1 - 0.5: b's backed-off value is higher.
    const arpa = parseArpa(
      `\\data\\\nngram 1=5\nngram 2=2\n\n\\1-grams:\n-1 <s> -0.1\n-0.5 a -0.1\n-0.5 b -0.2\n-0.6 c\n-0.8 </s>\n\n\\2-grams:\n-2 a b\n-0.3 a c\n\n\\end\\\n`,
    );
    const lm = new SearchLm(arpa);
    const lex = {
      words: ['a', 'b', 'c'],
      prons: [
        { word: 0, phones: [2, 3] },
        { word: 1, phones: [2, 4] },
        { word: 2, phones: [5] },
      ],
    };
    const dec = new Decoder(lex, toyModel(6, 1), lm, { lookaheadDenseMaxNodes: 0 });
    const s = lm.next(lm.startState, lm.wordId('a'));
    const dense = dec.lookahead.denseTable(s),
      t = dec.lookahead.table(s);
    let higher = 0;
    for (let n = 0; n < dense.length; n++) {
      const v = dec.lookahead.value(t, n);
      expect(v).toBeGreaterThanOrEqual(dense[n]);
      if (v > dense[n]) higher++;
    }
    expect(higher).toBeGreaterThan(0);
  });

  it('give the same decodes as dense tables, and with a cache too small to keep any table', () => {
    const rng = new Rng('la-evict');
    const am = toyModel(10, 3);
    const lex = toyLexicon(rng, { numWords: 60, numPhones: 10, minLen: 2, maxLen: 5 });
    const text = randomText(rng, lex.words, 300, 6);
    const lm = trainArpa(text, 3);
    const dense = new Decoder(lex, am, new SearchLm(lm));
    const big = new Decoder(lex, am, new SearchLm(lm), { lookaheadDenseMaxNodes: 0 });
    const tiny = new Decoder(lex, am, new SearchLm(lm), { lmCacheBytes: 1, lookaheadDenseMaxNodes: 0 });
    for (let u = 0; u < 4; u++) {
      const { scores } = synthesize(rng, text[u].words, lex, am, { noise: 1.5, peak: 2.4, maxDur: 4 });
      const o = { beam: 12, lookaheadOrder: 3 };
      const a = dense.decode(`u${u}`, scores, o);
      for (const r of [big.decode(`u${u}`, scores, o), tiny.decode(`u${u}`, scores, o)]) {
        expect(r.words).toEqual(a.words);
        expect(Object.is(r.score, a.score)).toBe(true);
        expect(r.stats.meanActive).toBe(a.stats.meanActive);
      }
    }
    expect(tiny.lookahead.built).toBeGreaterThan(big.lookahead.built);
  });

  it('index every word of the tree by its LM id', () => {
    const rng = new Rng('la-index');
    const lex = toyLexicon(rng, { numWords: 30, numPhones: 8 });
    const lm = new SearchLm(trainArpa(randomText(rng, lex.words, 100, 5), 2));
    const dec = new Decoder(lex, toyModel(8, 1), lm);
    const la = new LookaheadTables(dec.graph, lm, dec.toLm);
    const uni = la.denseTable(lm.truncate(lm.startState, 0));
    // The root's value is the best unigram over the lexicon words.
    const best = Math.max(...lex.words.map((w) => lm.logProb(lm.truncate(lm.startState, 0), lm.wordId(w))));
    expect(Math.max(...uni)).toBe(best);
  });
});
