import { describe, it, expect } from 'vitest';
import { dictionary } from 'cmu-pronouncing-dictionary';
import {
  SYNTH_GRAMMAR,
  PUNCTUATION,
  checkGrammar,
  deriveTokens,
  generateSentence,
  grammarVocabulary,
  startsWithVowelSound,
  type Grammar,
} from '../../corpora/synth/grammar.ts';
import { normalizeTranscript } from '../../src/corpus/text.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';

const cmu = dictionary as Record<string, string>;

describe('synth grammar vocabulary', () => {
  const vocab = grammarVocabulary();

  it('has a few hundred words (300..500), so that an n-gram LM matters', () => {
    expect(vocab.length).toBeGreaterThanOrEqual(300);
    expect(vocab.length).toBeLessThanOrEqual(500);
    expect(new Set(vocab).size).toBe(vocab.length);
  });

  it('has every word in CMUdict (lower-case keys)', () => {
    const missing = vocab.filter((w) => !(w in cmu));
    expect(missing).toEqual([]);
  });

  it('covers every word the generator produces, and transcripts normalise to themselves upper-cased', () => {
    const rng = new Rng('vocab-closure');
    const known = new Set(vocab);
    const produced = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const s = generateSentence(rng);
      for (const w of s.words) produced.add(w);
      expect(normalizeTranscript(s.words.join(' '))).toBe(s.words.join(' ').toUpperCase());
    }
    expect([...produced].filter((w) => !known.has(w))).toEqual([]);
    // Sampling reaches most of the vocabulary (all of it is reachable by construction).
    expect(produced.size).toBeGreaterThan(0.9 * vocab.length);
  });
});

describe('synth sentence generation', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const draw = (seed: number) =>
      Array.from(
        { length: 20 },
        (
          (r) => () =>
            generateSentence(r).spokenText
        )(new Rng(seed)),
      );
    expect(draw(5)).toEqual(draw(5));
    expect(draw(5)).not.toEqual(draw(6));
  });

  it('keeps the word count in [minWords, maxWords] and puts punctuation only in the spoken text', () => {
    const rng = new Rng(11);
    for (let i = 0; i < 500; i++) {
      const s = generateSentence(rng, { minWords: 6, maxWords: 9 });
      expect(s.words.length).toBeGreaterThanOrEqual(6);
      expect(s.words.length).toBeLessThanOrEqual(9);
      expect(s.words.every((w) => /^[a-z]+$/.test(w))).toBe(true);
      expect(s.spokenText.replace(/[,.?]/g, '')).toBe(s.words.join(' '));
      expect(s.spokenText).toMatch(/[.?]$/);
    }
  });

  it('makes structured text: templates give a low-entropy word sequence (bigram perplexity far below |V|)', () => {
    const rng = new Rng(3);
    const big = new Map<string, Map<string, number>>();
    let n = 0;
    for (let i = 0; i < 5000; i++) {
      const ws = ['<s>', ...generateSentence(rng).words, '</s>'];
      for (let k = 1; k < ws.length; k++) {
        const m = big.get(ws[k - 1]) ?? new Map<string, number>();
        m.set(ws[k], (m.get(ws[k]) ?? 0) + 1);
        big.set(ws[k - 1], m);
        n++;
      }
    }
    // Maximum-likelihood bigram entropy on the training text itself.
    let h = 0;
    for (const m of big.values()) {
      let tot = 0;
      for (const c of m.values()) tot += c;
      for (const c of m.values()) h -= c * Math.log2(c / tot);
    }
    const ppl = 2 ** (h / n);
    expect(ppl).toBeLessThan(60);
    expect(ppl).toBeGreaterThan(5);
  });

  it('writes "an" before a vowel sound (from CMUdict), "a" otherwise', () => {
    const g: Grammar = {
      S: [{ symbols: ['a', '<N>'], weight: 1 }],
      N: ['apple', 'uniform', 'hour', 'boat'].map((w) => ({ symbols: [w], weight: 1 })),
    };
    const seen = new Map<string, string>();
    const rng = new Rng(1);
    for (let i = 0; i < 100; i++) {
      const [art, noun] = deriveTokens(rng, g);
      seen.set(noun, art);
    }
    expect(Object.fromEntries(seen)).toEqual({ apple: 'an', uniform: 'a', hour: 'an', boat: 'a' });
    expect(startsWithVowelSound('old')).toBe(true);
    expect(startsWithVowelSound('year')).toBe(false);
  });

  it('rejects impossible or malformed length ranges with a ConfigError', () => {
    expect(() => generateSentence(new Rng(1), { minWords: 40, maxWords: 50 })).toThrow(/no sentence of 40..50 words/);
    expect(() => generateSentence(new Rng(1), { minWords: 5, maxWords: 4 })).toThrow(ConfigError);
    expect(() => generateSentence(new Rng(1), { minWords: 0 })).toThrow(ConfigError);
  });
});

describe('synth grammar checks', () => {
  it('accepts the corpus grammar and lists punctuation among its terminals', () => {
    const t = checkGrammar(SYNTH_GRAMMAR);
    for (const p of PUNCTUATION) expect(t).toContain(p);
  });

  it('rejects an undefined nonterminal, recursion, a bad weight and a missing start symbol', () => {
    expect(() => checkGrammar({ S: [{ symbols: ['<X>'], weight: 1 }] })).toThrow(/<X> is not defined/);
    expect(() =>
      checkGrammar({ S: [{ symbols: ['<A>'], weight: 1 }], A: [{ symbols: ['x', '<S>'], weight: 1 }] }),
    ).toThrow(/recursive: S -> A -> S/);
    expect(() => checkGrammar({ S: [{ symbols: ['x'], weight: 0 }] })).toThrow(/weight 0/);
    expect(() => checkGrammar({ A: [{ symbols: ['x'], weight: 1 }] })).toThrow(ConfigError);
  });
});
