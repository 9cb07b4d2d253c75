import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/util/rng.ts';
import { Decoder } from '../../src/decode/decoder.ts';
import {
  bruteForce,
  expectClose,
  lmPair,
  randomScores,
  randomText,
  synthesize,
  toyLexicon,
  toyModel,
  trainArpa,
} from './helpers.ts';

describe('beam search with a wide beam equals exhaustive search', () => {
  for (const width of [1, 3] as const) {
    for (const lookahead of [true, false]) {
      it(`finds the best path score on tiny problems (${width === 1 ? 'monophone' : 'cross-word triphone'}, look-ahead ${lookahead ? 'on' : 'off'})`, () => {
        const rng = new Rng(`exhaustive-${width}`);
        let multiWord = 0;
        for (let trial = 0; trial < 8; trial++) {
          const am = toyModel(4, width);
          const lex = toyLexicon(rng, { numWords: 3, numPhones: 4, minLen: 1, maxLen: 2, altFraction: 0.4 });
          const arpa = trainArpa(randomText(rng, lex.words, 12, 3), 1 + (trial % 3));
          const { search, backoff } = lmPair(arpa);
          const silenceProb = [0.5, 0.3, 0.8][trial % 3];
          const dec = new Decoder(lex, am, search, { silenceProb });
          // Most trials from a true 3-word sequence (short states), some pure noise.
          const scores =
            trial % 4 === 0
              ? randomScores(rng, 10 + rng.int(5), am.numPdfs, 1.5)
              : synthesize(
                  rng,
                  [0, 1, 2].map(() => lex.words[rng.int(3)]),
                  lex,
                  am,
                  { maxDur: 1, noise: 1.5, peak: 2.5, silenceProb: 0.2 },
                ).scores;
          const opts = { lmWeight: 0.5 + trial * 0.2, wordInsertionPenalty: trial * 0.3 };
          const r = dec.decode(`t${trial}`, scores, { ...opts, beam: 1e9, maxActive: 1e9, lmLookahead: lookahead });
          const bf = bruteForce(scores, lex, am, backoff, { silenceProb, ...opts });
          expect(bf.score).toBeGreaterThan(-Infinity);
          expect(r.reachedFinal).toBe(true);
          expectClose(r.score, bf.score, 1e-4, `trial ${trial} best path score`);
          expect(r.words).toEqual(bf.words);
          if (r.words.length >= 2) multiWord++;
        }
        // The problems exercise word sequences (cross-word context, LM histories), not just single words.
        expect(multiWord).toBeGreaterThanOrEqual(3);
      });
    }
  }
});
