import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/util/rng.ts';
import { FormatError } from '../../src/util/errors.ts';
import { parseArpa } from '../../src/lm/arpa.ts';
import { SearchLm } from '../../src/decode/search-lm.ts';
import { expectClose, lmPair, randomText, trainArpa } from './helpers.ts';

describe('SearchLm', () => {
  for (const order of [1, 2, 3, 4]) {
    it(`scores every word after every reachable state as BackoffLm does (order ${order})`, () => {
      const rng = new Rng(`slm-${order}`);
      const words = Array.from({ length: 25 }, (_, i) => `w${i}`);
      const { search, backoff } = lmPair(trainArpa(randomText(rng, words, 150, 7), order));
      // Walk random word sequences; compare the state's scores with BackoffLm on the full history.
      for (let trial = 0; trial < 40; trial++) {
        let st = search.startState;
        const hist = [backoff.bosId];
        for (let k = 0; k < 6; k++) {
          const lp = search.logProbs(st);
          for (let w = 0; w < search.vocab.length; w++) {
            if (w === search.bosId) continue;
            const ref = backoff.scoreIds(backoff.wordId(search.vocab[w]), hist).logProb * Math.LN10;
            expectClose(lp[w], ref, 1e-9, `order ${order}, history ${hist.join(' ')}, word ${search.vocab[w]}`);
          }
          const next = backoff.wordId(words[rng.int(words.length)]);
          st = search.next(st, next);
          hist.push(next);
        }
      }
    });
  }

  it('merges histories the model cannot tell apart (state minimisation)', () => {
    // Bigram evidence only for "a b"; a trigram model still needs at most one state per context.
    const lm = new SearchLm(
      trainArpa(
        [
          { words: ['a', 'b', 'c'], line: 1 },
          { words: ['c', 'a', 'b'], line: 2 },
        ],
        3,
      ),
    );
    const id = (w: string) => lm.wordId(w);
    const afterCB = lm.next(lm.next(lm.startState, id('c')), id('b'));
    const afterAB = lm.next(lm.next(lm.startState, id('a')), id('b'));
    // "a b" is a trigram context ("a b c" was seen), "c b" is not: it backs off to the state "b".
    expect(lm.stateWords(afterAB)).toEqual(['a', 'b']);
    expect(lm.stateWords(afterCB)).toEqual(['b']);
    // The start state is "<s>"; the same history always gives the same state.
    expect(lm.stateWords(lm.startState)).toEqual(['<s>']);
    expect(lm.next(lm.next(lm.startState, id('a')), id('b'))).toBe(afterAB);
  });

  it('gives the same states and per-word scores through tiny (evicting) caches as the dense vectors, to the bit', () => {
    const rng = new Rng('cache');
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`);
    const data = trainArpa(randomText(rng, words, 200, 6), 3);
    const small = new SearchLm(data, { cacheBytes: 1, nextCacheEntries: 2 });
    const big = new SearchLm(data);
    let s1 = small.startState,
      s2 = big.startState;
    for (let k = 0; k < 30; k++) {
      const w = small.wordId(words[rng.int(40)]);
      s1 = small.next(s1, w);
      s2 = big.next(s2, w);
      expect(small.stateWords(s1)).toEqual(big.stateWords(s2));
      expect(small.next(s1, w)).toBe(small.next(s1, w));
      const dense = big.logProbs(s2);
      expect(Array.from(small.logProbs(s1))).toEqual(Array.from(dense));
      for (let pass = 0; pass < 2; pass++) {
        for (let v = 0; v < dense.length; v++)
          if (!Object.is(small.logProb(s1, v), dense[v]))
            expect([k, v, small.logProb(s1, v)]).toEqual([k, v, dense[v]]);
      }
    }
  });

  it('rejects ARPA data without sentence markers or with n-grams over unknown words', () => {
    expect(
      () => new SearchLm(parseArpa('\\data\\\nngram 1=2\n\n\\1-grams:\n-1 <s>\n-1 a\n\n\\end\\\n'), { file: 'x.arpa' }),
    ).toThrow(FormatError);
    expect(
      () => new SearchLm(parseArpa('\\data\\\nngram 1=2\n\n\\1-grams:\n-1 <s>\n-1 a\n\n\\end\\\n'), { file: 'x.arpa' }),
    ).toThrow(/x\.arpa: LM has no unigram '<\/s>'/);
    const bad =
      '\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-1 <s>\n-1 </s>\n-1 a\n\n\\2-grams:\n-0.5 a b\n\n\\end\\\n';
    expect(() => new SearchLm(parseArpa(bad), { file: 'y.arpa' })).toThrow(
      /y\.arpa: 2-gram 'a b' uses a word without a unigram/,
    );
  });
});
