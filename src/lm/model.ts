/**
 * A back-off n-gram model loaded from ARPA data (held in an NgramStore): word ids, log10
 * p(w | history) with back-off, and perplexity on a text in SRILM's `ngram -ppl` convention.
 */
import { FormatError } from '../util/errors.ts';
import type { ArpaData } from './arpa.ts';
import { NgramStore } from './ngram-store.ts';
import { BOS, EOS, UNK, type Sentence } from './text.ts';

export interface PerplexityResult {
  /** 10^(-logprob / (words - oovs + sentences)): every scored word and each `</s>` counted (SRILM `ppl`). */
  ppl: number;
  /** 10^(-logprob / (words - oovs)): without `</s>` (SRILM `ppl1`). */
  ppl1: number;
  /** Total log10 probability of the scored tokens (words that are not OOV, and every `</s>`). */
  logprob: number;
  /** Words in the text (without `<s>`/`</s>`). */
  words: number;
  /** Words not in the LM vocabulary (and `<unk>` itself): skipped, excluded from ppl. */
  oovs: number;
  sentences: number;
}

export interface WordScore {
  word: string;
  /** log10 probability; null for an OOV (not scored). */
  logProb: number | null;
  /** Length of the n-gram that was found (1 = unigram), 0 for an OOV. */
  ngramLength: number;
}

/** The store of ARPA data or a store itself; the LM needs `<s>` and `</s>` unigrams. */
export function lmStore(data: ArpaData | NgramStore, file: string): NgramStore {
  const store = data instanceof NgramStore ? data : NgramStore.fromArpaData(data, file);
  for (const w of [BOS, EOS]) {
    if (store.wordId(w) < 0)
      throw new FormatError(`LM has no unigram '${w}'`, { file, expected: `'${w}' in \\1-grams:`, found: 'none' });
  }
  return store;
}

export class BackoffLm {
  readonly order: number;
  readonly vocab: readonly string[];
  readonly store: NgramStore;
  readonly bosId: number;
  readonly eosId: number;

  constructor(data: ArpaData | NgramStore, file = '<arpa>') {
    this.store = lmStore(data, file);
    this.order = this.store.order;
    this.vocab = this.store.vocab;
    this.bosId = this.store.wordId(BOS);
    this.eosId = this.store.wordId(EOS);
  }

  /** Word id, or -1 for a word outside the vocabulary. */
  wordId(word: string): number {
    return this.store.wordId(word);
  }

  /** Words of `words` that the LM does not know (in first-seen order, each once). */
  missingWords(words: Iterable<string>): string[] {
    const out = new Set<string>();
    for (const w of words) if (this.store.wordId(w) < 0) out.add(w);
    return [...out];
  }

  /**
   * log10 p(word | history) by back-off; `history` is oldest-first word ids (only the last
   * order-1 are used; an id < 0 cuts the history there). Returns the probability and the length
   * of the n-gram found.
   */
  scoreIds(wordId: number, history: readonly number[]): { logProb: number; ngramLength: number } {
    if (wordId < 0) throw new RangeError('scoreIds: OOV word id');
    const st = this.store;
    const end = history.length;
    let from = Math.max(0, end - (this.order - 1));
    for (let k = end - 1; k >= from; k--)
      if (history[k] < 0) {
        from = k + 1;
        break;
      }
    // Longest history first; each miss adds the history's back-off weight.
    let acc = 0;
    for (let start = from; start < end; start++) {
      const n = end - start + 1;
      const h = st.find(history, start, end);
      if (h < 0) continue;
      const e = st.child(n, h, wordId);
      if (e >= 0) {
        const p = st.probs[n - 1][e];
        if (!Number.isNaN(p)) return { logProb: acc + p, ngramLength: n };
      }
      const b = st.bows[n - 2][h];
      if (!Number.isNaN(b)) acc += b;
    }
    return { logProb: acc + st.probs[0][wordId], ngramLength: 1 };
  }

  /** log10 p(word | history words); history oldest first. OOV word -> null. */
  score(word: string, history: readonly string[]): number | null {
    const id = this.wordId(word);
    if (id < 0) return null;
    return this.scoreIds(
      id,
      history.map((h) => this.wordId(h)),
    ).logProb;
  }

  /** Per-token scores of one sentence (words then `</s>`), history starting at `<s>`. */
  scoreSentence(words: readonly string[]): WordScore[] {
    const out: WordScore[] = [];
    const hist: number[] = [this.bosId];
    const unk = this.store.wordId(UNK);
    for (const w of [...words, EOS]) {
      const id = this.wordId(w);
      if (id < 0 || id === unk || id === this.bosId) {
        out.push({ word: w, logProb: null, ngramLength: 0 });
        hist.push(-1);
        continue;
      }
      const s = this.scoreIds(id, hist);
      out.push({ word: w, logProb: s.logProb, ngramLength: s.ngramLength });
      hist.push(id);
    }
    return out;
  }

  /** Perplexity and OOV count on sentences (SRILM `ngram -ppl` convention). */
  perplexity(sentences: Iterable<Sentence>): PerplexityResult {
    let logprob = 0,
      words = 0,
      oovs = 0,
      nSent = 0;
    for (const s of sentences) {
      nSent++;
      words += s.words.length;
      for (const ws of this.scoreSentence(s.words)) {
        if (ws.logProb === null) oovs++;
        else logprob += ws.logProb;
      }
    }
    const denom = words - oovs + nSent;
    return {
      ppl: denom > 0 ? 10 ** (-logprob / denom) : NaN,
      ppl1: words - oovs > 0 ? 10 ** (-logprob / (words - oovs)) : NaN,
      logprob,
      words,
      oovs,
      sentences: nSent,
    };
  }
}
