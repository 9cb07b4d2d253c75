/**
 * The n-gram LM as the search sees it: integer LM states and, per state, the natural-log
 * probability of every vocabulary word (for LM look-ahead and word-end scores).
 *
 * A state is the longest suffix of the last (order-1) words that the model can tell apart from
 * its own suffix: one that has continuations (some n-gram `h w` exists) or a back-off weight.
 * Dropping any longer history loses nothing, so states recombine as early as the model allows
 * (KenLM's state minimisation). Scores equal BackoffLm.scoreIds (src/lm) exactly in real numbers:
 * vec(h) = vec(h minus its oldest word) + bow(h), overwritten by the explicit n-grams `h w`.
 */
import { FormatError } from '../util/errors.ts';
import type { ArpaData } from '../lm/arpa.ts';
import { BOS, EOS, UNK } from '../lm/text.ts';

const LN10 = Math.LN10;

interface History {
  /** log10 back-off weight (0 when absent). */
  bow: number;
  words: number[];
  logProbs: number[];
}

export interface SearchLmOptions {
  /**
   * Most memory for cached per-state score vectors (8 bytes per vocabulary word per state),
   * in bytes. Default 256 MiB. The oldest vectors are dropped first.
   */
  cacheBytes?: number;
  /** File name for error messages. */
  file?: string;
}

export class SearchLm {
  readonly order: number;
  /** LM vocabulary (unigram order of the ARPA file). */
  readonly vocab: readonly string[];
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
  private readonly wordIds = new Map<string, number>();
  private readonly hist = new Map<string, History>();
  /** State id -> history tuple (LM word ids, oldest first). */
  private readonly stateTuple: number[][] = [];
  private readonly stateKey = new Map<string, number>();
  private readonly stateParent: number[] = [];
  private readonly nextCache = new Map<number, number>();
  private readonly truncCache = new Map<number, number>();
  private readonly vecCache = new Map<number, Float64Array>();
  private readonly maxVecs: number;
  /** The start state (history `<s>`). */
  readonly startState: number;

  constructor(data: ArpaData, opts: SearchLmOptions = {}) {
    const file = opts.file ?? '<arpa>';
    this.order = data.order;
    const vocab: string[] = [];
    for (const e of data.ngrams[0]) {
      this.wordIds.set(e.words[0], vocab.length);
      vocab.push(e.words[0]);
    }
    this.vocab = vocab;
    for (const w of [BOS, EOS]) {
      if (!this.wordIds.has(w)) throw new FormatError(`LM has no unigram '${w}'`, { file, expected: `'${w}' in \\1-grams:`, found: 'none' });
    }
    this.bosId = this.wordIds.get(BOS)!;
    this.eosId = this.wordIds.get(EOS)!;
    this.unkId = this.wordIds.get(UNK) ?? -1;
    const getHist = (key: string): History => {
      let h = this.hist.get(key);
      if (!h) { h = { bow: 0, words: [], logProbs: [] }; this.hist.set(key, h); }
      return h;
    };
    for (let n = 1; n <= data.order; n++) {
      for (const e of data.ngrams[n - 1]) {
        const ids = e.words.map((w) => {
          const id = this.wordIds.get(w);
          if (id === undefined) throw new FormatError(`${n}-gram '${e.words.join(' ')}' uses a word without a unigram`, { file, expected: `'${w}' in \\1-grams:`, found: 'none' });
          return id;
        });
        const h = getHist(ids.slice(0, -1).join(','));
        h.words.push(ids[ids.length - 1]);
        h.logProbs.push(e.logProb);
        if (e.logBackoff !== undefined && n < data.order) getHist(ids.join(',')).bow = e.logBackoff;
      }
    }
    this.maxVecs = Math.max(4, Math.floor((opts.cacheBytes ?? 256 * 2 ** 20) / (8 * Math.max(1, vocab.length))));
    this.startState = this.intern([this.bosId]);
  }

  /** LM word id of a word, or -1. */
  wordId(word: string): number {
    return this.wordIds.get(word) ?? -1;
  }

  get numStates(): number {
    return this.stateTuple.length;
  }

  /** History words of a state, oldest first. */
  stateWords(state: number): string[] {
    return this.stateTuple[state].map((i) => this.vocab[i]);
  }

  private reduce(tuple: number[]): number[] {
    let t = tuple.length > this.order - 1 ? tuple.slice(tuple.length - (this.order - 1)) : tuple;
    while (t.length > 0 && !this.hist.has(t.join(','))) t = t.slice(1);
    return t;
  }

  private intern(tuple: number[]): number {
    const t = this.reduce(tuple);
    const key = t.join(',');
    let id = this.stateKey.get(key);
    if (id !== undefined) return id;
    id = this.stateTuple.length;
    this.stateKey.set(key, id);
    this.stateTuple.push(t);
    this.stateParent.push(-1);
    if (t.length > 0) this.stateParent[id] = this.intern(t.slice(1));
    return id;
  }

  /** The state after `word` (LM id) in `state`. */
  next(state: number, word: number): number {
    const key = state * this.vocab.length + word;
    let s = this.nextCache.get(key);
    if (s === undefined) {
      s = this.intern([...this.stateTuple[state], word]);
      this.nextCache.set(key, s);
    }
    return s;
  }

  /**
   * Natural-log probabilities of every LM word after `state` (index = LM word id). The array is
   * cached and shared: do not modify it.
   */
  logProbs(state: number): Float64Array {
    const hit = this.vecCache.get(state);
    if (hit) return hit;
    const tuple = this.stateTuple[state];
    const h = this.hist.get(tuple.join(','));
    let v: Float64Array;
    if (tuple.length === 0) {
      v = new Float64Array(this.vocab.length).fill(-Infinity);
    } else {
      v = Float64Array.from(this.logProbs(this.stateParent[state]));
      const b = (h?.bow ?? 0) * LN10;
      if (b !== 0) for (let i = 0; i < v.length; i++) v[i] += b;
    }
    if (h) for (let i = 0; i < h.words.length; i++) v[h.words[i]] = h.logProbs[i] * LN10;
    this.vecCache.set(state, v);
    if (this.vecCache.size > this.maxVecs) {
      const oldest = this.vecCache.keys().next().value as number;
      this.vecCache.delete(oldest);
    }
    return v;
  }

  /** The state of the last `maxWords` words of `state`'s history (reduced as usual). */
  truncate(state: number, maxWords: number): number {
    const t = this.stateTuple[state];
    if (t.length <= maxWords) return state;
    const key = state * 64 + maxWords;
    let s = this.truncCache.get(key);
    if (s === undefined) {
      s = this.intern(maxWords > 0 ? t.slice(t.length - maxWords) : []);
      this.truncCache.set(key, s);
    }
    return s;
  }

  /** ln p(word | state). */
  logProb(state: number, word: number): number {
    return this.logProbs(state)[word];
  }
}
