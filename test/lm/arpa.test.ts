import { describe, it, expect } from 'vitest';
import { formatArpa, parseArpa, formatLog10 } from '../../src/lm/arpa.ts';
import { BackoffLm } from '../../src/lm/model.ts';
import { estimateKneserNey } from '../../src/lm/kneser-ney.ts';
import { parseSentences } from '../../src/lm/text.ts';
import { FormatError } from '../../src/util/errors.ts';
import { quietLogger, expectClose } from './helpers.ts';

const GOOD = [
  '\\data\\',
  'ngram 1=4',
  'ngram 2=2',
  '',
  '\\1-grams:',
  '-1.0\t</s>',
  '-99\t<s>\t-0.5',
  '-0.6\ta\t-0.2',
  '-0.8\tb',
  '',
  '\\2-grams:',
  '-0.3\t<s> a',
  '-0.1\ta b',
  '',
  '\\end\\',
  '',
];

function expectFormatError(text: string, line: number, pattern: RegExp): void {
  let err: unknown;
  try {
    parseArpa(text, 'bad.arpa');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(FormatError);
  expect((err as FormatError).location).toMatchObject({ file: 'bad.arpa', line });
  expect((err as Error).message).toMatch(pattern);
}

describe('ARPA reading', () => {
  it('reads probabilities and back-off weights and scores with back-off', () => {
    const lm = new BackoffLm(parseArpa(GOOD.join('\n')));
    expect(lm.order).toBe(2);
    expect(lm.score('a', ['<s>'])).toBeCloseTo(-0.3, 12);
    // p(b | <s>) = bow(<s>) * p(b)
    expect(lm.score('b', ['<s>'])).toBeCloseTo(-0.5 + -0.8, 12);
    // p(</s> | b): b has no back-off weight (= 1)
    expect(lm.score('</s>', ['b'])).toBeCloseTo(-1.0, 12);
    // history cut at an OOV word
    expect(lm.score('b', ['a', 'zzz'])).toBeCloseTo(-0.8, 12);
    expect(lm.score('zzz', [])).toBeNull();
    expect(lm.missingWords(['a', 'q', 'b', 'q'])).toEqual(['q']);
  });

  it('round-trips what the estimator writes', () => {
    const m = estimateKneserNey(parseSentences('a b c\nb c a\nc a b a\n'), { order: 3, logger: quietLogger() });
    const text = formatArpa(m);
    const back = parseArpa(text);
    expect(formatArpa(back)).toBe(text);
    expect(back.ngrams.map((l) => l.length)).toEqual(m.ngrams.map((l) => l.length));
  });

  it('formats log10 values with 7 significant digits', () => {
    expect(formatLog10(-99)).toBe('-99');
    expect(formatLog10(-0.123456789)).toBe('-0.1234568');
    expect(formatLog10(Math.log10(0.5))).toBe('-0.30103');
  });

  it('rejects a header count that differs from the section, naming the line', () => {
    const t = [...GOOD];
    t[1] = 'ngram 1=5';
    expectFormatError(t.join('\n'), 5, /1-gram count differs from the \\data\\ header; expected 5 1-grams, found 4/);
  });
  it('rejects a line with the wrong number of fields', () => {
    const t = [...GOOD];
    t[12] = '-0.1\ta b c d';
    expectFormatError(t.join('\n'), 13, /wrong number of fields in a 2-gram line/);
  });
  it('rejects a probability that is not a number or above 0', () => {
    const t = [...GOOD];
    t[7] = 'abc\ta\t-0.2';
    expectFormatError(t.join('\n'), 8, /bad probability/);
    t[7] = '0.5\ta\t-0.2';
    expectFormatError(t.join('\n'), 8, /log10 probability above 0/);
    t[7] = '-0.6\ta\tnan';
    expectFormatError(t.join('\n'), 8, /bad back-off weight/);
  });
  it('rejects a duplicate n-gram, a missing section, a missing \\end\\ and a missing header', () => {
    const dup = [...GOOD];
    dup[8] = '-0.8\ta';
    expectFormatError(dup.join('\n'), 9, /duplicate 1-gram 'a'/);
    const noSection = GOOD.map((l) => (l === '\\2-grams:' ? '\\3-grams:' : l));
    expectFormatError(noSection.join('\n'), 11, /missing n-gram section; expected \\2-grams:/);
    expectFormatError(GOOD.slice(0, -2).join('\n'), 15, /missing \\end\\/);
    expectFormatError('hello\n', 1, /no \\data\\ header/);
  });
  it('rejects an n-gram whose word has no unigram and a model without </s>', () => {
    const t = [...GOOD];
    t[12] = '-0.1\ta q';
    expect(() => new BackoffLm(parseArpa(t.join('\n')), 'x.arpa')).toThrow(
      /2-gram 'a q' uses a word without a unigram/,
    );
    const noEos = ['\\data\\', 'ngram 1=1', '\\1-grams:', '-99\t<s>', '\\end\\'].join('\n');
    expect(() => new BackoffLm(parseArpa(noEos))).toThrow(/LM has no unigram '<\/s>'/);
  });
});

describe('perplexity (SRILM ngram -ppl convention)', () => {
  it('counts </s>, skips and counts OOVs, and reports ppl and ppl1', () => {
    const lm = new BackoffLm(parseArpa(GOOD.join('\n')));
    const r = lm.perplexity(parseSentences('a b\nq a\n'));
    // sentence 1: p(a|<s>) p(b|a) p(</s>|b); sentence 2: q is OOV, then p(a) (history cut), p(</s>|a)
    const expected = -0.3 + -0.1 + -1.0 + -0.6 + (-0.2 + -1.0);
    expectClose(r.logprob, expected, 1e-12, 'logprob');
    expect(r).toMatchObject({ words: 4, oovs: 1, sentences: 2 });
    expectClose(r.ppl, 10 ** (-expected / (4 - 1 + 2)), 1e-9, 'ppl');
    expectClose(r.ppl1, 10 ** (-expected / (4 - 1)), 1e-9, 'ppl1');
  });
});
