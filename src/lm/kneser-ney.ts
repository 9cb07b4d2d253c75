/**
 * Word n-gram estimation with interpolated modified Kneser-Ney smoothing
 * (Chen & Goodman 1998, "An empirical study of smoothing techniques for language modeling", sec. 3.5),
 * as SRILM `ngram-count -kndiscount -interpolate` and KenLM `lmplz` build it:
 *
 * - counts: the highest order uses raw counts; a lower-order n-gram uses its continuation count
 *   N1+(. w_1..w_n) (number of distinct words seen before it), except n-grams that start with
 *   `<s>`, which cannot be extended to the left and keep their raw count;
 * - discounts per order from the count-of-counts n1..n4 of those (adjusted) counts:
 *   Y = n1/(n1 + 2 n2), D1 = 1 - 2Y n2/n1, D2 = 2 - 3Y n3/n2, D3+ = 3 - 4Y n4/n3;
 *   when some n_k is 0 or a discount falls outside (0, k), the order uses `fallbackDiscounts`;
 * - p(w|h) = (c(hw) - D(c(hw))) / c(h.) + gamma(h) p(w|h'),
 *   gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / c(h.), h' = h without its first word;
 * - unigrams are interpolated with the uniform distribution over the vocabulary without `<s>`
 *   (so `<unk>`, which has no count, gets gamma(empty) / |V|, as in KenLM);
 * - the result is written as a back-off model: stored probabilities are the interpolated ones and
 *   each history's back-off weight is gamma(h), which makes the back-off model equal the
 *   interpolated one for every word and history. `<s>` has log10 probability -99.
 *
 * Counts are kept in Maps keyed by word-id tuples packed into strings (two UTF-16 code units per
 * id), one Map per order.
 */
import { ConfigError, FormatError } from '../util/errors.ts';
import { createLogger, type Logger } from '../util/log.ts';
import { BOS, EOS, UNK, type Sentence } from './text.ts';

export interface KneserNeyOptions {
  /** n-gram order (>= 1). Default 3. */
  order?: number;
  /**
   * Discounts [D1, D2, D3+] used for an order whose count-of-counts give no valid estimate
   * (small data). Default [0.5, 1.0, 1.5] (KenLM's `--discount_fallback` default).
   */
  fallbackDiscounts?: [number, number, number];
  /** Progress and warnings. Default: a stderr logger. */
  logger?: Logger;
}

export interface OrderStats {
  order: number;
  /** Number of distinct n-grams of this order written to the model. */
  ngrams: number;
  /** Count-of-counts n1..n4 of the adjusted counts. */
  countOfCounts: [number, number, number, number];
  /** [D1, D2, D3+] used. */
  discounts: [number, number, number];
  /** True when `fallbackDiscounts` replaced the estimate. */
  fallback: boolean;
}

/** One n-gram of the estimated model. */
export interface NgramEntry {
  words: string[];
  /** log10 of the interpolated probability (-99 for the unigram `<s>`). */
  logProb: number;
  /** log10 back-off weight, present when the n-gram is the history of a longer n-gram. */
  logBackoff?: number;
}

export interface NgramModel {
  order: number;
  /** n-grams per order (index 0 = unigrams), sorted by their words (code-unit order). */
  ngrams: NgramEntry[][];
  stats: OrderStats[];
  /** Training sentences and tokens (words without <s>/</s>). */
  sentences: number;
  tokens: number;
}

const DEFAULT_FALLBACK: [number, number, number] = [0.5, 1.0, 1.5];

function packId(id: number): string {
  return String.fromCharCode(id >>> 16, id & 0xffff);
}
function unpack(key: string): number[] {
  const ids: number[] = [];
  for (let i = 0; i < key.length; i += 2) ids.push(key.charCodeAt(i) * 65536 + key.charCodeAt(i + 1));
  return ids;
}

export interface Discounts {
  d: [number, number, number];
  fallback: boolean;
}

/** Chen & Goodman's modified-KN discounts from count-of-counts, or the fallback when invalid. */
export function modifiedKnDiscounts(
  n: readonly [number, number, number, number],
  fallback: readonly [number, number, number] = DEFAULT_FALLBACK,
): Discounts {
  const [n1, n2, n3, n4] = n;
  if (n1 > 0 && n2 > 0 && n3 > 0 && n4 > 0) {
    const y = n1 / (n1 + 2 * n2);
    const d: [number, number, number] = [1 - (2 * y * n2) / n1, 2 - (3 * y * n3) / n2, 3 - (4 * y * n4) / n3];
    if (d.every((x, k) => x > 0 && x < k + 1)) return { d, fallback: false };
  }
  return { d: [fallback[0], fallback[1], fallback[2]], fallback: true };
}

/** Estimate an interpolated modified Kneser-Ney model from sentences. */
export function estimateKneserNey(sentences: Iterable<Sentence>, opts: KneserNeyOptions = {}): NgramModel {
  const N = opts.order ?? 3;
  if (!Number.isInteger(N) || N < 1 || N > 10) {
    throw new ConfigError('n-gram order out of range', {
      keyPath: 'order',
      expected: 'an integer in 1..10',
      found: String(opts.order),
    });
  }
  const fb = opts.fallbackDiscounts ?? DEFAULT_FALLBACK;
  if (!fb.every((x, k) => x > 0 && x < k + 1)) {
    throw new ConfigError('fallback discounts out of range', {
      keyPath: 'fallbackDiscounts',
      expected: '0 < D1 < 1, 0 < D2 < 2, 0 < D3+ < 3',
      found: JSON.stringify(fb),
    });
  }
  const logger = opts.logger ?? createLogger({ prefix: 'lm' });
  const counts = countNgrams(sentences, N, logger);
  const adj = adjustedCounts(counts.raw);
  const { disc, stats } = orderDiscounts(adj, fb, logger);
  const smoothing = new Smoothing(disc, historyStats(adj));
  const prob = interpolatedProbs(adj, smoothing, counts.words);
  const ngrams = backoffEntries(prob, smoothing, counts.words);
  ngrams.forEach((list, n) => {
    stats[n].ngrams = list.length;
  });
  return { order: N, ngrams, stats, sentences: counts.sentences, tokens: counts.tokens };
}

const BOS_ID = 0;
const BOS_KEY = packId(BOS_ID);

/** Raw counts of every n-gram of orders 1..N (raw[n-1]), with the vocabulary in order of first appearance. */
interface RawCounts {
  words: string[];
  raw: Map<string, number>[];
  sentences: number;
  tokens: number;
}

/** Vocabulary (ids by first appearance; <s>, </s>, <unk> first) and raw n-gram counts, each sentence in <s> ... </s>. */
function countNgrams(sentences: Iterable<Sentence>, N: number, logger: Logger): RawCounts {
  const words: string[] = [BOS, EOS, UNK];
  const ids = new Map<string, number>(words.map((w, i) => [w, i]));
  // raw[n-1]: raw counts of all n-grams of length n.
  const raw: Map<string, number>[] = Array.from({ length: N }, () => new Map());
  let nSent = 0,
    nTok = 0;
  const total = Array.isArray(sentences) ? sentences.length : 0;
  const progress = total >= 20000 ? logger.progress('counting n-grams', total, 'sentences') : undefined;
  for (const s of sentences) {
    nSent++;
    progress?.tick();
    nTok += s.words.length;
    const seq: string[] = [packId(BOS_ID)];
    for (const w of s.words) {
      let id = ids.get(w);
      if (id === undefined) {
        id = words.length;
        if (id >= 0xffffffff)
          throw new FormatError('vocabulary too large', { expected: '< 2^32 words', found: String(id) });
        words.push(w);
        ids.set(w, id);
      }
      seq.push(packId(id));
    }
    seq.push(packId(1));
    for (let i = 0; i < seq.length; i++) {
      let key = '';
      for (let n = 1; n <= N && i + n <= seq.length; n++) {
        key += seq[i + n - 1];
        const m = raw[n - 1];
        m.set(key, (m.get(key) ?? 0) + 1);
      }
    }
  }
  progress?.done();
  if (nSent === 0)
    throw new FormatError('no sentences to train on', { expected: 'at least one non-empty line', found: 'none' });
  return { words, raw, sentences: nSent, tokens: nTok };
}

/**
 * Adjusted counts: raw counts at the highest order; below it continuation counts, except n-grams
 * that start with <s> (raw). <s> as a unigram is never predicted.
 */
function adjustedCounts(raw: readonly Map<string, number>[]): Map<string, number>[] {
  const N = raw.length;
  const adj: Map<string, number>[] = new Array(N);
  adj[N - 1] = raw[N - 1];
  for (let n = N - 1; n >= 1; n--) {
    const a = new Map<string, number>();
    for (const [key, c] of raw[n - 1]) if (key.startsWith(BOS_KEY)) a.set(key, c);
    for (const key of raw[n].keys()) {
      const suffix = key.slice(2);
      if (suffix.startsWith(BOS_KEY)) continue;
      a.set(suffix, (a.get(suffix) ?? 0) + 1);
    }
    adj[n - 1] = a;
  }
  adj[0].delete(BOS_KEY); // <s> is never predicted.
  return adj;
}

/** Discounts per order from the count-of-counts of the adjusted counts (the fallback, with a warning, where they give none). */
function orderDiscounts(
  adj: readonly Map<string, number>[],
  fb: readonly [number, number, number],
  logger: Logger,
): { disc: Discounts[]; stats: OrderStats[] } {
  const disc: Discounts[] = [];
  const stats: OrderStats[] = [];
  for (let n = 1; n <= adj.length; n++) {
    const coc: [number, number, number, number] = [0, 0, 0, 0];
    for (const c of adj[n - 1].values()) if (c >= 1 && c <= 4) coc[c - 1]++;
    const d = modifiedKnDiscounts(coc, fb);
    if (d.fallback)
      logger.warn(
        `order ${n}: count-of-counts ${coc.join(',')} give no valid modified-KN discounts; using fallback ${fb.join(',')}`,
      );
    disc.push(d);
    stats.push({ order: n, ngrams: 0, countOfCounts: coc, discounts: d.d, fallback: d.fallback });
  }
  return { disc, stats };
}

/** Per order, per history (key without its last id): [sum of counts, N1, N2, N3+]. */
type HistoryStats = Map<string, [number, number, number, number]>[];

function historyStats(adj: readonly Map<string, number>[]): HistoryStats {
  const histStats: HistoryStats = [];
  for (let n = 1; n <= adj.length; n++) {
    const hs = new Map<string, [number, number, number, number]>();
    for (const [key, c] of adj[n - 1]) {
      const h = key.slice(0, key.length - 2);
      let s = hs.get(h);
      if (!s) {
        s = [0, 0, 0, 0];
        hs.set(h, s);
      }
      s[0] += c;
      s[Math.min(c, 3)]++;
    }
    histStats.push(hs);
  }
  return histStats;
}

/** The discount D(c) of each order and the interpolation weight gamma(h) of each history. */
class Smoothing {
  readonly histStats: HistoryStats;
  private readonly disc: Discounts[];

  constructor(disc: Discounts[], histStats: HistoryStats) {
    this.disc = disc;
    this.histStats = histStats;
  }

  D(n: number, c: number): number {
    return c <= 0 ? 0 : this.disc[n - 1].d[Math.min(c, 3) - 1];
  }

  gamma(n: number, h: string): number {
    const s = this.histStats[n - 1].get(h);
    if (!s) return 1;
    const d = this.disc[n - 1].d;
    return (d[0] * s[1] + d[1] * s[2] + d[2] * s[3]) / s[0];
  }
}

/** Interpolated probabilities, lowest order first; unigrams are interpolated with the uniform distribution. */
function interpolatedProbs(
  adj: readonly Map<string, number>[],
  sm: Smoothing,
  words: readonly string[],
): Map<string, number>[] {
  const N = adj.length;
  const vocabSize = words.length - 1; // all words but <s> (includes </s> and <unk>)
  const prob: Map<string, number>[] = [];
  const p1 = new Map<string, number>();
  const g0 = sm.gamma(1, '');
  const total0 = sm.histStats[0].get('')![0];
  for (let id = 1; id < words.length; id++) {
    const key = packId(id);
    const c = adj[0].get(key) ?? 0;
    p1.set(key, Math.max(c - sm.D(1, c), 0) / total0 + g0 / vocabSize);
  }
  prob.push(p1);
  for (let n = 2; n <= N; n++) {
    const pn = new Map<string, number>();
    const lower = prob[n - 2];
    const hs = sm.histStats[n - 1];
    for (const [key, c] of adj[n - 1]) {
      const h = key.slice(0, key.length - 2);
      const lowerP = lower.get(key.slice(2));
      if (lowerP === undefined)
        throw new Error(
          `internal: missing lower-order n-gram for ${unpack(key)
            .map((i) => words[i])
            .join(' ')}`,
        );
      pn.set(key, Math.max(c - sm.D(n, c), 0) / hs.get(h)![0] + sm.gamma(n, h) * lowerP);
    }
    prob.push(pn);
  }
  return prob;
}

/** The back-off model's entries per order, sorted by words: log10 probabilities, and back-off weights gamma(h) of histories. */
function backoffEntries(prob: readonly Map<string, number>[], sm: Smoothing, words: readonly string[]): NgramEntry[][] {
  const N = prob.length;
  const order = words.map((_, i) => i).sort((a, b) => (words[a] < words[b] ? -1 : words[a] > words[b] ? 1 : 0));
  const rank = new Int32Array(words.length);
  order.forEach((id, r) => {
    rank[id] = r;
  });
  const ngrams: NgramEntry[][] = [];
  for (let n = 1; n <= N; n++) {
    const keys = [...prob[n - 1].keys()];
    if (n === 1) keys.push(BOS_KEY);
    const tuples = keys.map((k) => unpack(k));
    tuples.sort((a, b) => {
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return rank[a[i]] - rank[b[i]];
      return 0;
    });
    const hsNext = n < N ? sm.histStats[n] : undefined;
    const list: NgramEntry[] = tuples.map((t) => {
      const key = t.map(packId).join('');
      const logProb = n === 1 && t[0] === BOS_ID ? -99 : Math.log10(prob[n - 1].get(key)!);
      const e: NgramEntry = { words: t.map((i) => words[i]), logProb };
      if (hsNext && hsNext.has(key)) e.logBackoff = Math.log10(sm.gamma(n + 1, key));
      return e;
    });
    ngrams.push(list);
  }
  return ngrams;
}
