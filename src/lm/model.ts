/**
 * A back-off n-gram model loaded from ARPA data: word ids, log10 p(w | history) with back-off,
 * and perplexity on a text in SRILM's `ngram -ppl` convention.
 */
import { FormatError } from '../util/errors.ts';
import type { ArpaData } from './arpa.ts';
import { BOS, EOS, UNK, type Sentence } from './text.ts';

function packId(id: number): string {
  return String.fromCharCode(id >>> 16, id & 0xffff);
}

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

export class BackoffLm {
  readonly order: number;
  readonly vocab: readonly string[];
  private readonly ids = new Map<string, number>();
  /** Per order n (index n-1): packed key -> log10 prob / log10 back-off. */
  private readonly logProb: Map<string, number>[] = [];
  private readonly logBackoff: Map<string, number>[] = [];
  readonly bosId: number;
  readonly eosId: number;

  constructor(data: ArpaData, file = '<arpa>') {
    this.order = data.order;
    const vocab: string[] = [];
    for (const e of data.ngrams[0]) {
      this.ids.set(e.words[0], vocab.length);
      vocab.push(e.words[0]);
    }
    this.vocab = vocab;
    for (const w of [BOS, EOS]) {
      if (!this.ids.has(w)) throw new FormatError(`LM has no unigram '${w}'`, { file, expected: `'${w}' in \\1-grams:`, found: 'none' });
    }
    this.bosId = this.ids.get(BOS)!;
    this.eosId = this.ids.get(EOS)!;
    for (let n = 1; n <= data.order; n++) {
      const p = new Map<string, number>(), b = new Map<string, number>();
      for (const e of data.ngrams[n - 1]) {
        let key = '';
        for (const w of e.words) {
          const id = this.ids.get(w);
          if (id === undefined) throw new FormatError(`${n}-gram '${e.words.join(' ')}' uses a word without a unigram`, { file, expected: `'${w}' in \\1-grams:`, found: 'none' });
          key += packId(id);
        }
        p.set(key, e.logProb);
        if (e.logBackoff !== undefined) b.set(key, e.logBackoff);
      }
      this.logProb.push(p);
      this.logBackoff.push(b);
    }
  }

  /** Word id, or -1 for a word outside the vocabulary. */
  wordId(word: string): number {
    return this.ids.get(word) ?? -1;
  }

  /** Words of `words` that the LM does not know (in first-seen order, each once). */
  missingWords(words: Iterable<string>): string[] {
    const out = new Set<string>();
    for (const w of words) if (!this.ids.has(w)) out.add(w);
    return [...out];
  }

  /**
   * log10 p(word | history) by back-off; `history` is oldest-first word ids (only the last
   * order-1 are used; an id < 0 cuts the history there). Returns the probability and the length
   * of the n-gram found.
   */
  scoreIds(wordId: number, history: readonly number[]): { logProb: number; ngramLength: number } {
    if (wordId < 0) throw new RangeError('scoreIds: OOV word id');
    let ctx = history.slice(Math.max(0, history.length - (this.order - 1)));
    const cut = ctx.lastIndexOf(-1);
    if (cut >= 0) ctx = ctx.slice(cut + 1);
    const packed = ctx.map(packId);
    const w = packId(wordId);
    let acc = 0;
    for (let start = 0; start <= packed.length; start++) {
      const h = packed.slice(start).join('');
      const n = packed.length - start + 1;
      const p = this.logProb[n - 1].get(h + w);
      if (p !== undefined) return { logProb: acc + p, ngramLength: n };
      if (h !== '') acc += this.logBackoff[n - 2].get(h) ?? 0;
    }
    // Unreachable: every vocabulary word has a unigram.
    throw new Error('internal: unigram missing');
  }

  /** log10 p(word | history words); history oldest first. OOV word -> null. */
  score(word: string, history: readonly string[]): number | null {
    const id = this.wordId(word);
    if (id < 0) return null;
    return this.scoreIds(id, history.map((h) => this.wordId(h))).logProb;
  }

  /** Per-token scores of one sentence (words then `</s>`), history starting at `<s>`. */
  scoreSentence(words: readonly string[]): WordScore[] {
    const out: WordScore[] = [];
    const hist: number[] = [this.bosId];
    const unk = this.ids.get(UNK);
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
    let logprob = 0, words = 0, oovs = 0, nSent = 0;
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
      logprob, words, oovs, sentences: nSent,
    };
  }
}
