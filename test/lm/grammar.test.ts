import { describe, it, expect } from 'vitest';
import { formatArpa, parseArpa } from '../../src/lm/arpa.ts';
import { GRAMMAR_LOG10_ZERO, grammarModel, grammarWords } from '../../src/lm/grammar.ts';
import { BackoffLm } from '../../src/lm/model.ts';
import { SearchLm } from '../../src/decode/search-lm.ts';
import { ConfigError } from '../../src/util/errors.ts';

const DIGITS = ['ZERO', 'ONE', 'TWO', 'THREE', 'FOUR', 'FIVE', 'SIX', 'SEVEN', 'EIGHT', 'NINE'];
const arpa = (kind: 'one-word' | 'word-loop') =>
  parseArpa(formatArpa(grammarModel(kind, ['<s>', '</s>', '<unk>', ...DIGITS])), `${kind}.arpa`);
const sentenceLog10 = (lm: BackoffLm, words: string[]) => lm.scoreSentence(words).reduce((a, s) => a + s.logProb!, 0);

describe('grammars as ARPA LMs', () => {
  it('one-word: every single word has probability 1/V; no word, two words or more cost GRAMMAR_LOG10_ZERO or less', () => {
    const lm = new BackoffLm(arpa('one-word'));
    for (const w of DIGITS) expect(sentenceLog10(lm, [w])).toBeCloseTo(-1, 12);
    expect(sentenceLog10(lm, [])).toBeLessThanOrEqual(GRAMMAR_LOG10_ZERO);
    expect(sentenceLog10(lm, ['ONE', 'ONE'])).toBeLessThanOrEqual(GRAMMAR_LOG10_ZERO);
    expect(sentenceLog10(lm, ['SIX', 'TWO', 'NINE'])).toBeLessThanOrEqual(2 * GRAMMAR_LOG10_ZERO);
    expect(lm.perplexity(DIGITS.map((w, i) => ({ words: [w], line: i + 1 }))).ppl).toBeCloseTo(Math.sqrt(10), 10);
  });

  it('one-word, as the search sees it: after <s> only the words, after a word only </s>', () => {
    const slm = new SearchLm(arpa('one-word'));
    const ids = DIGITS.map((w) => slm.wordId(w));
    const start = slm.logProbs(slm.startState);
    for (const id of ids) expect(start[id]).toBeCloseTo(Math.log(0.1), 12);
    expect(start[slm.eosId]).toBeLessThanOrEqual(GRAMMAR_LOG10_ZERO * Math.LN10);
    const after = slm.logProbs(slm.next(slm.startState, ids[3]));
    expect(after[slm.eosId]).toBe(0);
    for (const id of ids) expect(after[id]).toBeLessThanOrEqual(GRAMMAR_LOG10_ZERO * Math.LN10);
  });

  it('word-loop: a uniform unigram over the words and </s>', () => {
    const data = arpa('word-loop');
    expect(data.order).toBe(1);
    const lm = new BackoffLm(data);
    expect(sentenceLog10(lm, ['ONE'])).toBeCloseTo(2 * -Math.log10(11), 5);
    expect(sentenceLog10(lm, ['ONE', 'TWO', 'THREE'])).toBeCloseTo(4 * -Math.log10(11), 5);
  });

  it('is built over the vocabulary without <s>, </s>, <unk>, sorted, byte-identical for any input order', () => {
    expect(grammarWords(['TWO', '<s>', 'ONE', '</s>', '<unk>', 'TWO'])).toEqual(['ONE', 'TWO']);
    expect(formatArpa(grammarModel('one-word', ['B', 'A']))).toBe(
      formatArpa(grammarModel('one-word', ['A', 'B', 'A'])),
    );
    expect(() => grammarModel('one-word', ['<s>', '</s>'])).toThrow(ConfigError);
    expect(() => grammarModel('two-words' as 'one-word', DIGITS)).toThrow(/unknown grammar/);
  });
});
