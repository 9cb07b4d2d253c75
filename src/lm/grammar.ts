/**
 * Word grammars written as ARPA back-off LMs, so that the decoder's one LM interface serves them:
 *
 *   one-word   exactly one word of the vocabulary per utterance, each with probability 1/V (the
 *              one-digit grammar of isolated-digit recognition: PocketSphinx's JSGF `<digit>`,
 *              Kaldi's G.fst with one arc per word). A bigram: `<s> w` = 1/V, `w </s>` = 1;
 *              everything else (`<s> </s>`, `w w'`) backs off to a unigram of GRAMMAR_LOG10_ZERO.
 *   word-loop  any sequence of vocabulary words, each word and the end with probability 1/(V+1)
 *              (a free digit loop, TIDIGITS-style; a uniform unigram).
 *
 * ARPA has no log of zero (parsers require finite numbers; SRILM writes -99). GRAMMAR_LOG10_ZERO is
 * -1000: an out-of-grammar step costs 2302.6 x lmWeight nats of scaled score, beyond any beam and any
 * difference in acoustic score between hypotheses of one utterance at lmWeight >= 0.1. Every
 * in-grammar hypothesis of `one-word` has the same LM score, so neither the LM weight (> 0) nor the
 * insertion penalty can change which word wins.
 */
import { ConfigError } from '../util/errors.ts';
import type { NgramEntry, NgramModel } from './kneser-ney.ts';
import { BOS, EOS, UNK } from './text.ts';

export type GrammarKind = 'one-word' | 'word-loop';
export const GRAMMAR_KINDS: readonly GrammarKind[] = ['one-word', 'word-loop'];

/** log10 "probability" of what a grammar forbids. */
export const GRAMMAR_LOG10_ZERO = -1000;

/** The words a grammar is built over: sorted, unique, without <s>, </s> and <unk>. */
export function grammarWords(vocab: Iterable<string>): string[] {
  return [...new Set(vocab)].filter((w) => w !== BOS && w !== EOS && w !== UNK).sort();
}

/** The grammar `kind` over `vocab` as an n-gram model for formatArpa (deterministic). */
export function grammarModel(kind: GrammarKind, vocab: Iterable<string>): Pick<NgramModel, 'order' | 'ngrams'> {
  const words = grammarWords(vocab);
  if (words.length === 0)
    throw new ConfigError('a grammar needs words', {
      keyPath: 'grammars',
      expected: 'at least one word in the LM vocabulary',
      found: 'none',
    });
  const uni = (w: string, logProb: number): NgramEntry => ({ words: [w], logProb });
  if (kind === 'word-loop') {
    const p = -Math.log10(words.length + 1);
    return { order: 1, ngrams: [[uni(BOS, GRAMMAR_LOG10_ZERO), uni(EOS, p), ...words.map((w) => uni(w, p))]] };
  }
  if (kind !== 'one-word')
    throw new ConfigError('unknown grammar', {
      keyPath: 'grammars',
      expected: GRAMMAR_KINDS.join(' or '),
      found: JSON.stringify(kind),
    });
  const unigrams = [
    { ...uni(BOS, GRAMMAR_LOG10_ZERO), logBackoff: 0 },
    uni(EOS, GRAMMAR_LOG10_ZERO),
    ...words.map((w) => ({ ...uni(w, GRAMMAR_LOG10_ZERO), logBackoff: 0 })),
  ];
  const p = -Math.log10(words.length);
  const bigrams: NgramEntry[] = [
    ...words.map((w) => ({ words: [BOS, w], logProb: p })),
    ...words.map((w) => ({ words: [w, EOS], logProb: 0 })),
  ];
  return { order: 2, ngrams: [unigrams, bigrams] };
}
