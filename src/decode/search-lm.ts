/**
 * The n-gram LM as the search sees it: integer LM states and the natural-log probability of a
 * word after a state, looked up in the compact NgramStore (src/lm/ngram-store.ts): a few binary
 * searches per (state, word), behind a bounded direct-mapped cache. `logProbsInto` fills a dense
 * vector over the vocabulary for the decoder's look-ahead tables.
 *
 * A state is the longest suffix of the last (order-1) words that the model can tell apart from
 * its own suffix: one that has continuations (some n-gram `h w` exists) or a back-off weight.
 * Dropping any longer history loses nothing, so states recombine as early as the model allows
 * (KenLM's state minimisation). Scores equal BackoffLm.scoreIds (src/lm) exactly in real numbers,
 * and are computed in one fixed order of floating-point operations whether one word or the whole
 * vocabulary is asked for: ln p(w | h) = ln p(w | h') of the longest suffix h' of h with an
 * explicit n-gram `h' w` (the unigram for none), plus ln bow of each longer suffix of h, shortest
 * first.
 */
import type { ArpaData } from '../lm/arpa.ts';
import { lmStore } from '../lm/model.ts';
import type { NgramStore } from '../lm/ngram-store.ts';
import { BOS, EOS, UNK } from '../lm/text.ts';

const LN10 = Math.LN10;

export interface SearchLmOptions {
  /**
   * Bytes of the (state, word) -> score cache (16 bytes per slot: key and value side by side,
   * direct-mapped, allocated up front). Default 2 MiB.
   */
  cacheBytes?: number;
  /**
   * Most remembered (state, word) -> next state transitions; the memo is cleared when full
   * (states themselves stay: there are at most as many as the model has contexts). Default 2^20.
   */
  nextCacheEntries?: number;
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
  readonly store: NgramStore;
  /** State id -> history tuple (LM word ids, oldest first). */
  private readonly stateTuple: number[][] = [];
  private readonly stateKey = new Map<string, number>();
  /**
   * Per state (order-1 slots): store entry of its history's suffix of length j (slot j-1; -1
   * when absent) and ln of that suffix's back-off weight (0 when none).
   */
  private sufEntry = new Int32Array(0);
  private sufBow = new Float64Array(0);
  private readonly nextCache = new Map<number, number>();
  private readonly maxNext: number;
  private readonly truncCache = new Map<number, number>();
  /** Slot i: key (state * vocabulary size + word; -1 for empty) at 2i, ln p at 2i+1. */
  private readonly cache: Float64Array;
  private readonly cacheMask: number;
  /** The start state (history `<s>`). */
  readonly startState: number;

  constructor(data: ArpaData | NgramStore, opts: SearchLmOptions = {}) {
    this.store = lmStore(data, opts.file ?? '<arpa>');
    this.order = this.store.order;
    this.vocab = this.store.vocab;
    this.bosId = this.store.wordId(BOS);
    this.eosId = this.store.wordId(EOS);
    this.unkId = this.store.wordId(UNK);
    let slots = 16;
    while (slots * 2 * 16 <= (opts.cacheBytes ?? 2 * 2 ** 20)) slots *= 2;
    this.cache = new Float64Array(2 * slots).fill(-1);
    this.cacheMask = slots - 1;
    this.maxNext = Math.max(1, opts.nextCacheEntries ?? 2 ** 20);
    this.startState = this.intern([this.bosId]);
  }

  /** LM word id of a word, or -1. */
  wordId(word: string): number {
    return this.store.wordId(word);
  }

  get numStates(): number {
    return this.stateTuple.length;
  }

  /** History words of a state, oldest first. */
  stateWords(state: number): string[] {
    return this.stateTuple[state].map((i) => this.vocab[i]);
  }

  /** Whether the history `t` (non-empty) is a back-off context: it has continuations or a back-off weight. */
  private isContext(t: readonly number[]): boolean {
    const st = this.store,
      n = t.length;
    const e = st.find(t, 0, n);
    if (e < 0) return false;
    const cs = st.childStart[n - 1];
    return cs[e + 1] > cs[e] || !Number.isNaN(st.bows[n - 1][e]);
  }

  private reduce(tuple: number[]): number[] {
    let t = tuple.length > this.order - 1 ? tuple.slice(tuple.length - (this.order - 1)) : tuple;
    while (t.length > 0 && !this.isContext(t)) t = t.slice(1);
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
    const K = Math.max(1, this.order - 1);
    if ((id + 1) * K > this.sufEntry.length) {
      const e = new Int32Array(Math.max(64, this.sufEntry.length * 2));
      e.set(this.sufEntry);
      this.sufEntry = e;
      const b = new Float64Array(e.length);
      b.set(this.sufBow);
      this.sufBow = b;
    }
    const st = this.store,
      m = t.length;
    for (let j = 1; j <= m; j++) {
      const e = st.find(t, m - j, m);
      const bow = e >= 0 ? st.bows[j - 1][e] : NaN;
      this.sufEntry[id * K + j - 1] = e;
      this.sufBow[id * K + j - 1] = Number.isNaN(bow) ? 0 : bow * LN10;
    }
    return id;
  }

  /** The state after `word` (LM id) in `state`. */
  next(state: number, word: number): number {
    const key = state * this.vocab.length + word;
    let s = this.nextCache.get(key);
    if (s === undefined) {
      s = this.intern([...this.stateTuple[state], word]);
      if (this.nextCache.size >= this.maxNext) this.nextCache.clear();
      this.nextCache.set(key, s);
    }
    return s;
  }

  /**
   * Natural-log probabilities of every LM word after `state` (index = LM word id) into `out`
   * (length >= vocabulary size): O(vocabulary + n-grams of the state's histories). Returns `out`.
   */
  logProbsInto(state: number, out: Float64Array): Float64Array {
    const st = this.store,
      V = this.vocab.length;
    const uni = st.probs[0];
    for (let w = 0; w < V; w++) out[w] = uni[w] * LN10;
    const m = this.stateTuple[state].length,
      K = Math.max(1, this.order - 1);
    for (let j = 1; j <= m; j++) {
      const b = this.sufBow[state * K + j - 1];
      if (b !== 0) for (let w = 0; w < V; w++) out[w] += b;
      const e = this.sufEntry[state * K + j - 1];
      if (e < 0) continue;
      const cs = st.childStart[j - 1],
        ws = st.words[j],
        ps = st.probs[j];
      for (let c = cs[e]; c < cs[e + 1]; c++) if (!Number.isNaN(ps[c])) out[ws[c]] = ps[c] * LN10;
    }
    return out;
  }

  /** Words of history the state keeps (0: the unigram state). */
  historyLength(state: number): number {
    return this.stateTuple[state].length;
  }

  /**
   * The explicit continuations of the state's whole history (m >= 1 words): entries [from, to)
   * of order m + 1, with their words and log10 probabilities (NaN: a blank prefix entry, not an
   * n-gram), and ln of the history's back-off weight (0 when none).
   */
  continuations(state: number): {
    from: number;
    to: number;
    words: Int32Array;
    probs: Float64Array;
    backoffLn: number;
  } {
    const m = this.stateTuple[state].length,
      i = state * Math.max(1, this.order - 1) + m - 1;
    const e = this.sufEntry[i],
      st = this.store;
    if (m === 0 || m >= this.order) throw new RangeError(`continuations: state ${state} has ${m} history words`);
    const cs = st.childStart[m - 1];
    return {
      from: e < 0 ? 0 : cs[e],
      to: e < 0 ? 0 : cs[e + 1],
      words: st.words[m],
      probs: st.probs[m],
      backoffLn: this.sufBow[i],
    };
  }

  /** Natural-log probabilities of every LM word after `state`, in a new array (for tools and tests). */
  logProbs(state: number): Float64Array {
    return this.logProbsInto(state, new Float64Array(this.vocab.length));
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

  /** ln p(word | state): at most order-1 binary searches, cached. */
  logProb(state: number, word: number): number {
    let h = Math.imul(state, 0x9e3779b1) ^ Math.imul(word + 0x632be5ab, 0x85ebca6b);
    h ^= h >>> 15;
    const at = (h & this.cacheMask) << 1,
      key = state * this.vocab.length + word,
      c = this.cache;
    if (c[at] === key) return c[at + 1];
    const v = this.computeLogProb(state, word);
    c[at] = key;
    c[at + 1] = v;
    return v;
  }

  private computeLogProb(state: number, word: number): number {
    const st = this.store,
      m = this.stateTuple[state].length,
      base = state * Math.max(1, this.order - 1);
    let v = st.probs[0][word] * LN10,
      j0 = 0;
    for (let j = m; j >= 1; j--) {
      const e = this.sufEntry[base + j - 1];
      if (e < 0) continue;
      const c = st.child(j + 1, e, word);
      if (c >= 0 && !Number.isNaN(st.probs[j][c])) {
        v = st.probs[j][c] * LN10;
        j0 = j;
        break;
      }
    }
    for (let j = j0 + 1; j <= m; j++) {
      const b = this.sufBow[base + j - 1];
      if (b !== 0) v += b;
    }
    return v;
  }
}
