import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { estimateKneserNey } from '../../src/lm/kneser-ney.ts';
import { formatArpa, parseArpa } from '../../src/lm/arpa.ts';
import { BackoffLm } from '../../src/lm/model.ts';
import { LM_GOLDEN, fixtureSentences, quietLogger } from './helpers.ts';

interface GoldenCase {
  text: string;
  order: number;
  arpaSha256: string;
  ngramCounts: number[];
  sphinxRoundTripCounts: number[] | null;
  sphinx: {
    perplexity: number;
    lmScore: number;
    wordsEvaluated: number;
    oovs: number;
    contextCues: number;
    wordScores: string[];
  };
}
const golden = JSON.parse(readFileSync(join(LM_GOLDEN, 'sphinx.json'), 'utf8')) as {
  logBase: number;
  cases: GoldenCase[];
};
/** One sphinxbase score unit (log base 1.0001) in log10. */
const UNIT = Math.log10(golden.logBase);

describe('our ARPA files load in sphinxbase and score the same (golden from sphinx_lm_eval, see test/golden/lm/HOW-GENERATED.md)', () => {
  for (const c of golden.cases) {
    describe(`${c.text} text, order ${c.order}`, () => {
      const arpa = formatArpa(
        estimateKneserNey(fixtureSentences(`${c.text}.train.txt`), { order: c.order, logger: quietLogger() }),
      );
      const lm = new BackoffLm(parseArpa(arpa));
      const test = fixtureSentences(`${c.text}.test.txt`);

      it('trains the very ARPA file the golden values were computed on (else regenerate them)', () => {
        expect(createHash('sha256').update(arpa).digest('hex')).toBe(c.arpaSha256);
      });

      it('survives sphinx_lm_convert ARPA -> DMP -> ARPA with all n-grams', () => {
        expect(c.sphinxRoundTripCounts).toEqual(c.ngramCounts);
        expect(lm.order).toBe(c.ngramCounts.length);
      });

      it('gives every word the probability sphinxbase gives it (within its integer rounding)', () => {
        expect(test.length).toBe(c.sphinx.wordScores.length);
        let worst = 0,
          n = 0;
        test.forEach((s, i) => {
          const ours = lm
            .scoreSentence(s.words)
            .filter((w) => w.logProb !== null)
            .map((w) => w.logProb! / UNIT);
          const theirs = c.sphinx.wordScores[i].split(' ').map(Number);
          expect(ours.length).toBe(theirs.length);
          ours.forEach((v, k) => {
            worst = Math.max(worst, Math.abs(v - theirs[k]));
            n++;
          });
        });
        // sphinxbase stores each log prob and back-off weight as an integer in base 1.0001:
        // a score that adds up to `order` stored values is off by less than `order` units.
        expect(worst).toBeLessThan(c.order + 0.01);
        expect(n).toBeGreaterThan(5);
      });

      it('gives the same perplexity, OOV count and total log probability', () => {
        const r = lm.perplexity(test);
        expect(r.oovs).toBe(c.sphinx.oovs);
        // sphinx counts <s> and </s> among the words evaluated, and removes <s> as a context cue.
        expect(r.words + 2 * r.sentences).toBe(c.sphinx.wordsEvaluated);
        expect(c.sphinx.contextCues).toBe(r.sentences);
        const scored = r.words - r.oovs + r.sentences;
        expect(Math.abs(r.logprob / UNIT - c.sphinx.lmScore)).toBeLessThan(scored);
        expect(Math.abs(r.ppl / c.sphinx.perplexity - 1)).toBeLessThan(2e-4);
      });
    });
  }
});
