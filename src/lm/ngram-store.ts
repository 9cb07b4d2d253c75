/**
 * A compact back-off n-gram store: per order, sorted typed arrays, as the "sorted" layout of a
 * KenLM-style trie.
 *
 * - Order 1: entry i is word id i (the unigram order of the ARPA file, as BackoffLm numbers words).
 * - Order n >= 2: entries sorted by (entry of their (n-1)-word prefix, last word). The extensions
 *   of an entry p of order n-1 are the contiguous range childStart[n-2][p] .. childStart[n-2][p+1]
 *   of order n, sorted by word: one binary search finds an n-gram from its prefix.
 * - log10 probability and back-off weight per entry (Float64: the ARPA values exactly, so every
 *   score equals the Map-based model's to the bit). A back-off weight the file does not give is
 *   NaN (absent, i.e. 0, but the entry is not a back-off context); the highest order keeps none.
 * - An n-gram whose prefix the file lacks (SRILM pruning can drop one) gets a "blank" prefix
 *   entry: probability NaN (not an n-gram of the model), no back-off weight.
 *
 * Memory: 4 bytes (word) + 8 (probability) + 8 (back-off, below the highest order) + 4 (child
 * offsets, below the highest order) per n-gram, plus the vocabulary.
 */
import { FormatError } from '../util/errors.ts';
import type { ArpaData, ArpaSink } from './arpa.ts';

const MAX_EXACT = 2 ** 53;

/** The arrays of a store (what the binary cache holds). */
export interface NgramStoreArrays {
  order: number;
  vocab: string[];
  /** Per order (index n-1): last word of each entry (order 1: empty, entry = word id). */
  words: Int32Array[];
  /** Per order: log10 probability (NaN: blank prefix entry). */
  probs: Float64Array[];
  /** Per order below the highest: log10 back-off weight (NaN: none given). */
  bows: Float64Array[];
  /** Per order below the highest: first child entry of each entry in the next order, plus the end. */
  childStart: Uint32Array[];
}

export class NgramStore {
  readonly order: number;
  readonly vocab: readonly string[];
  readonly words: readonly Int32Array[];
  readonly probs: readonly Float64Array[];
  readonly bows: readonly Float64Array[];
  readonly childStart: readonly Uint32Array[];
  private readonly ids = new Map<string, number>();

  constructor(a: NgramStoreArrays) {
    this.order = a.order;
    this.vocab = a.vocab;
    this.words = a.words;
    this.probs = a.probs;
    this.bows = a.bows;
    this.childStart = a.childStart;
    for (let i = 0; i < a.vocab.length; i++) this.ids.set(a.vocab[i], i);
  }

  /** A store of parsed ARPA data (words without a unigram are a FormatError naming `file`). */
  static fromArpaData(data: ArpaData, file = '<arpa>'): NgramStore {
    const b = new NgramStoreBuilder(file);
    b.header(data.ngrams.map((l) => l.length));
    for (let n = 1; n <= data.order; n++)
      for (const e of data.ngrams[n - 1]) b.ngram(n, e.words, e.logProb, e.logBackoff, 0);
    return b.finish();
  }

  /** Entries per order (blank prefix entries included). */
  get counts(): number[] {
    return this.probs.map((p) => p.length);
  }

  /** Word id, or -1. */
  wordId(word: string): number {
    return this.ids.get(word) ?? -1;
  }

  /**
   * Entry of order n (>= 2) that extends entry `parent` of order n-1 by `word`, or -1.
   * (Order 1: the entry is the word id.)
   */
  child(n: number, parent: number, word: number): number {
    const cs = this.childStart[n - 2],
      ws = this.words[n - 1];
    let lo = cs[parent],
      hi = cs[parent + 1] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const w = ws[mid];
      if (w < word) lo = mid + 1;
      else if (w > word) hi = mid - 1;
      else return mid;
    }
    return -1;
  }

  /** Entry of the n-gram ids[from..to) (order to-from >= 1), or -1 when the store lacks it. */
  find(ids: ArrayLike<number>, from: number, to: number): number {
    let e = ids[from];
    for (let k = from + 1; k < to && e >= 0; k++) e = this.child(k - from + 1, e, ids[k]);
    return e;
  }

  /** The arrays, for serialisation. */
  arrays(): NgramStoreArrays {
    return {
      order: this.order,
      vocab: [...this.vocab],
      words: [...this.words],
      probs: [...this.probs],
      bows: [...this.bows],
      childStart: [...this.childStart],
    };
  }
}

/**
 * Word -> id over a growing word list: open addressing on an FNV-1a hash of the UTF-16 code
 * units. Three times faster than a Map on freshly split strings (a Map hashes each new string
 * object through the runtime), which is most of the time of reading a large ARPA file.
 */
class WordIndex {
  private slots: Int32Array;
  private mask: number;

  constructor(
    capacity: number,
    readonly words: string[] = [],
  ) {
    let cap = 16;
    while (cap < capacity * 2) cap <<= 1;
    this.slots = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    for (let i = 0; i < words.length; i++) this.slots[this.free(words[i])] = i;
  }

  private static hash(s: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    return h >>> 0;
  }

  /** Id of `s`, or -1. */
  get(s: string): number {
    for (let i = WordIndex.hash(s) & this.mask; ; i = (i + 1) & this.mask) {
      const id = this.slots[i];
      if (id < 0 || this.words[id] === s) return id;
    }
  }

  private free(s: string): number {
    let i = WordIndex.hash(s) & this.mask;
    while (this.slots[i] >= 0) i = (i + 1) & this.mask;
    return i;
  }

  /** Append `s` (not present) as the next id. */
  add(s: string): void {
    if ((this.words.length + 1) * 2 > this.mask + 1) {
      this.slots = new Int32Array((this.mask + 1) * 2).fill(-1);
      this.mask = this.slots.length - 1;
      for (let i = 0; i < this.words.length; i++) this.slots[this.free(this.words[i])] = i;
    }
    this.slots[this.free(s)] = this.words.length;
    this.words.push(s);
  }
}

/** The first `count` values of `a` (itself when that is all of it). */
function fit(a: Float64Array, count: number): Float64Array {
  return a.length === count ? a : a.slice(0, count);
}

/** Growable raw entries of one order: word-id tuples, values and source lines (no back-off weights for the highest order). */
class RawOrder {
  tuples: Int32Array;
  probs: Float64Array;
  bows: Float64Array;
  lines: Uint32Array;
  count = 0;
  constructor(
    readonly n: number,
    capacity: number,
    withBows: boolean,
  ) {
    const cap = Math.max(16, capacity);
    this.tuples = new Int32Array(cap * n);
    this.probs = new Float64Array(cap);
    this.bows = new Float64Array(withBows ? cap : 0);
    this.lines = new Uint32Array(cap);
  }
  push(ids: ArrayLike<number>, at: number, prob: number, bow: number, line: number): void {
    if (this.count === this.probs.length) {
      const cap = this.probs.length * 2;
      const grow = <T extends Int32Array | Float64Array | Uint32Array>(a: T, b: T): T => {
        b.set(a);
        return b;
      };
      this.tuples = grow(this.tuples, new Int32Array(cap * this.n));
      this.probs = grow(this.probs, new Float64Array(cap));
      if (this.bows.length) this.bows = grow(this.bows, new Float64Array(cap));
      this.lines = grow(this.lines, new Uint32Array(cap));
    }
    const i = this.count++;
    for (let k = 0; k < this.n; k++) this.tuples[i * this.n + k] = ids[at + k];
    this.probs[i] = prob;
    this.lines[i] = line;
    if (this.bows.length) this.bows[i] = bow;
  }
  /**
   * Reorder every array by `perm` (new position j holds old entry perm[j]); trims to count. One
   * array at a time, so the extra memory is one array's.
   */
  permute(perm: Int32Array): void {
    const n = this.n,
      c = this.count;
    if (this.tuples.length > 0) {
      const t = new Int32Array(c * n);
      for (let j = 0; j < c; j++) for (let k = 0, o = perm[j] * n; k < n; k++) t[j * n + k] = this.tuples[o + k];
      this.tuples = t;
    }
    const gather = <T extends Float64Array | Uint32Array>(src: T, dst: T): T => {
      for (let j = 0; j < c; j++) dst[j] = src[perm[j]];
      return dst;
    };
    this.probs = gather(this.probs, new Float64Array(c));
    if (this.bows.length) this.bows = gather(this.bows, new Float64Array(c));
    if (this.lines.length) this.lines = gather(this.lines, new Uint32Array(c));
  }

  /** Forget the word tuples and source lines (entries can no longer be pushed, looked up or reported). */
  dropTuples(): void {
    this.tuples = new Int32Array(0);
    this.lines = new Uint32Array(0);
  }
}

/**
 * Builds an NgramStore from n-grams in ARPA order (an ArpaSink: stream an ARPA file straight into
 * it). Words must have a unigram before they are used; duplicates are FormatErrors at their line.
 */
export class NgramStoreBuilder implements ArpaSink {
  private order = 0;
  private readonly vocab: string[] = [];
  private ids = new WordIndex(16, this.vocab);
  private raw: RawOrder[] = [];
  private readonly tuple: number[] = [];
  private words: Int32Array[] = [];
  private childStart: Uint32Array[] = [];

  constructor(private readonly file = '<arpa>') {}

  header(counts: readonly number[]): void {
    this.order = counts.length;
    this.raw = counts.map((c, i) => new RawOrder(i + 1, c, i + 1 < counts.length));
    this.ids = new WordIndex(counts[0] ?? 16, this.vocab);
  }

  ngram(n: number, words: string[], logProb: number, logBackoff: number | undefined, line: number): void {
    const bow = logBackoff === undefined || n === this.order ? NaN : logBackoff;
    if (n === 1) {
      if (this.ids.get(words[0]) >= 0)
        throw new FormatError(`duplicate 1-gram '${words[0]}'`, {
          ...this.at(line),
          expected: 'each n-gram once',
          found: 'a repeat',
        });
      this.ids.add(words[0]);
      this.tuple[0] = this.vocab.length - 1;
    } else {
      for (let k = 0; k < n; k++) {
        const id = this.ids.get(words[k]);
        if (id < 0)
          throw new FormatError(`${n}-gram '${words.join(' ')}' uses a word without a unigram`, {
            ...this.at(line),
            expected: `'${words[k]}' in \\1-grams:`,
            found: 'none',
          });
        this.tuple[k] = id;
      }
    }
    this.raw[n - 1].push(this.tuple, 0, logProb, bow, line);
  }

  /** Error location of a source line (0: unknown, e.g. built from ArpaData). */
  private at(line: number): { file: string; line?: number } {
    return line > 0 ? { file: this.file, line } : { file: this.file };
  }

  /** Sort every order and link it to its prefixes. */
  finish(): NgramStore {
    const N = this.order;
    this.words = Array.from({ length: N }, () => new Int32Array(0));
    this.childStart = Array.from({ length: Math.max(0, N - 1) }, () => new Uint32Array(0));
    for (let n = 2; n <= N; n++) this.finalize(n);
    const r = this.raw;
    this.raw = [];
    return new NgramStore({
      order: N,
      vocab: this.vocab,
      words: this.words,
      probs: r.map((o) => fit(o.probs, o.count)),
      bows: r.slice(0, N - 1).map((o) => fit(o.bows, o.count)),
      childStart: this.childStart,
    });
  }

  /** Entry of the prefix (first n-1 words) of raw entry e of order n, in the finalized order n-1. */
  private prefixEntry(n: number, e: number): number {
    const t = this.raw[n - 1].tuples,
      at = e * n;
    let p = t[at];
    for (let k = 1; k < n - 1 && p >= 0; k++) p = this.childOf(k + 1, p, t[at + k]);
    return p;
  }

  private childOf(n: number, parent: number, word: number): number {
    const cs = this.childStart[n - 2],
      ws = this.words[n - 1];
    let lo = cs[parent],
      hi = cs[parent + 1] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (ws[mid] < word) lo = mid + 1;
      else if (ws[mid] > word) hi = mid - 1;
      else return mid;
    }
    return -1;
  }

  /**
   * Sort order n (>= 2; order n-1 is final) by (prefix entry, word) and build order n-1's child
   * offsets. Prefixes the file lacks are added to order n-1 as blank entries first (which
   * re-finalizes order n-1, and below it as needed).
   */
  private finalize(n: number): void {
    const o = this.raw[n - 1];
    let parent: Int32Array;
    for (;;) {
      parent = new Int32Array(o.count);
      const missing = new Map<string, number>();
      for (let e = 0; e < o.count; e++) {
        const p = this.prefixEntry(n, e);
        parent[e] = p;
        if (p < 0) {
          const key = Array.from(o.tuples.subarray(e * n, e * n + n - 1)).join(',');
          if (!missing.has(key)) missing.set(key, e);
        }
      }
      if (missing.size === 0) break;
      const below = this.raw[n - 2];
      for (const e of missing.values()) below.push(o.tuples, e * n, NaN, NaN, 0);
      this.finalize(n - 1);
    }
    const numParents = this.raw[n - 2].count;
    // Counting sort by prefix entry: the bucket offsets are order n-1's child offsets.
    const start = new Uint32Array(numParents + 1);
    for (let e = 0; e < o.count; e++) start[parent[e] + 1]++;
    for (let p = 0; p < numParents; p++) start[p + 1] += start[p];
    const fill = start.slice(0, numParents);
    const perm = new Int32Array(o.count);
    for (let e = 0; e < o.count; e++) perm[fill[parent[e]]++] = e;
    // Within a bucket, by last word: pack (word, position in bucket) into one exact double.
    let largest = 0;
    for (let p = 0; p < numParents; p++) largest = Math.max(largest, start[p + 1] - start[p]);
    const keys = new Float64Array(largest);
    const V = this.vocab.length;
    const tuples = o.tuples;
    const lastWord = (e: number) => tuples[e * n + n - 1];
    for (let p = 0; p < numParents; p++) {
      const s = start[p],
        size = start[p + 1] - s;
      if (size < 2) continue;
      const bucket = perm.slice(s, s + size);
      if (V * size < MAX_EXACT) {
        const k = keys.subarray(0, size);
        for (let j = 0; j < size; j++) k[j] = lastWord(bucket[j]) * size + j;
        k.sort();
        for (let j = 0; j < size; j++) perm[s + j] = bucket[k[j] % size];
      } else {
        bucket.sort((a, b) => lastWord(a) - lastWord(b) || a - b);
        perm.set(bucket, s);
      }
      for (let j = s + 1; j < s + size; j++) {
        if (lastWord(perm[j]) === lastWord(perm[j - 1])) this.duplicate(n, perm[j - 1], perm[j]);
      }
    }
    const words = new Int32Array(o.count);
    for (let j = 0; j < o.count; j++) words[j] = lastWord(perm[j]);
    if (n === this.order) {
      // The highest order is never finalized again: its tuples and lines go before its values are
      // permuted (a third less memory at the peak of reading a large file).
      o.dropTuples();
    }
    o.permute(perm);
    this.words[n - 1] = words;
    this.childStart[n - 2] = start;
  }

  private duplicate(n: number, a: number, b: number): never {
    const o = this.raw[n - 1];
    const line = Math.max(o.lines[a], o.lines[b]);
    const key = Array.from(o.tuples.subarray(b * n, b * n + n), (id) => this.vocab[id]).join(' ');
    throw new FormatError(`duplicate ${n}-gram '${key}'`, {
      ...this.at(line),
      expected: 'each n-gram once',
      found: 'a repeat',
    });
  }
}
