/**
 * LM look-ahead tables over the lexical prefix tree that stay sparse at any vocabulary size.
 *
 * The look-ahead value of tree node n after LM state h is the best ln p(w | h) over the words w
 * whose pronunciations pass through n. A dense table per history costs O(vocabulary + tree nodes)
 * to fill and 8 bytes per tree node to keep; at 200k words that is ~0.9M operations and 5 MB per
 * history, and a search visits hundreds of histories per second.
 *
 * The sparse tables use the back-off structure: a word without an explicit n-gram after h scores
 * ln bow(h) + ln p(w | h'), with h' = h without its oldest word. So
 *
 *   T_h(n) = max( max over explicit successors w of h below n of ln p(w | h),  ln bow(h) + T_h'(n) )
 *
 * and T_h differs from ln bow(h) + T_h'(n) only on the ancestors of the nodes where h's explicit
 * successors end. A table stores just those nodes (open addressing: node -> value) and refers
 * the rest to its parent table; the chain ends at the one dense table of the unigram (empty
 * history) state. Building a table costs O(successors x the part of their tree path that they
 * raise), looking up a node one hash probe per history word.
 *
 * Equal to the dense table (bit for bit: the same additions, and max commutes with rounding)
 * whenever every explicit n-gram scores at least its backed-off value, ln p(w | h) >= ln bow(h) +
 * ln p(w | h'), which interpolated Kneser-Ney models satisfy by construction. Otherwise a node may
 * get the backed-off value of a word whose explicit score is lower: an upper bound of the dense
 * value, which changes pruning only (the true LM score replaces the look-ahead at the word end).
 */
import type { SearchGraph } from './graph.ts';
import type { SearchLm } from './search-lm.ts';

/** One history's table: the dense root, or a sparse node -> value map over its parent. */
export interface LookaheadTable {
  readonly state: number;
  /** The unigram state's dense table (null for a sparse table). */
  readonly dense: Float64Array | null;
  readonly parent: LookaheadTable | null;
  /** ln of the history's back-off weight (0 when none). */
  readonly backoffLn: number;
  keys: Int32Array;
  vals: Float64Array;
  mask: number;
  size: number;
  /** Values of the word-initial nodes (`LookaheadTables.entrySlot`), filled on first use. */
  entry: Float64Array | null;
}

export interface LookaheadOptions {
  /** Bytes of tables kept (the oldest go first). Default 128 MiB. */
  cacheBytes?: number;
  /**
   * Trees of at most this many nodes get dense tables for every history (an array read is
   * faster than a hash probe, and filling one is cheap at that size). Default 16384.
   */
  denseMaxNodes?: number;
}

const EMPTY = -1;

/** ln of the largest LM probability plus every positive ln back-off weight (see `upperBound`). */
function valueBound(lm: SearchLm): number {
  let best = -Infinity,
    bows = 0;
  for (const ps of lm.store.probs) for (let i = 0; i < ps.length; i++) if (ps[i] > best) best = ps[i];
  for (const bs of lm.store.bows) {
    let m = 0;
    for (let i = 0; i < bs.length; i++) if (bs[i] > m) m = bs[i];
    bows += m;
  }
  // Slack for the rounding of the sums the tables make in another order.
  const ub = (best + bows) * Math.LN10;
  return ub + 1e-9 * Math.max(1, Math.abs(ub));
}

function slotHash(node: number, mask: number): number {
  let h = Math.imul(node, 0x9e3779b1);
  h ^= h >>> 16;
  return h & mask;
}

export class LookaheadTables {
  private readonly graph: SearchGraph;
  private readonly lm: SearchLm;
  /** LM word id -> the tree nodes where its pronunciations end (CSR). */
  private readonly wordNodeStart: Int32Array;
  private readonly wordNodes: Int32Array;
  private readonly cache = new Map<number, LookaheadTable>();
  private readonly maxBytes: number;
  private bytes = 0;
  private readonly allDense: boolean;
  private root: LookaheadTable | null = null;
  /** History tables built (cumulative; the unigram root not counted). */
  built = 0;
  /**
   * Per entry of the graph's exit classes (`exitClasses.entryCopy`): the slot of its tree node in
   * a table's `entry` values, -1 for silence. Word starts are where the search reads the most
   * look-ahead values (every entry of a class per word end), so those are kept dense per table.
   */
  readonly entrySlot: Int32Array;
  private readonly entryNodes: Int32Array;
  /**
   * An upper bound of every look-ahead value (ln): the largest probability of the LM plus every
   * positive back-off weight. Below 0 for a proper LM; the search skips a token whose score
   * cannot reach the cutoff even with it.
   */
  readonly upperBound: number;

  /** `toLm`: decoder word id -> LM word id (every word of the graph's tree must have one). */
  constructor(graph: SearchGraph, lm: SearchLm, toLm: Int32Array, opts: LookaheadOptions = {}) {
    this.graph = graph;
    this.lm = lm;
    this.maxBytes = opts.cacheBytes ?? 128 * 2 ** 20;
    this.allDense = graph.numTrieNodes <= (opts.denseMaxNodes ?? 16384);
    const V = lm.vocab.length,
      { trieWordStart, trieWords, numTrieNodes } = graph;
    const start = new Int32Array(V + 1);
    for (let k = 0; k < trieWords.length; k++) start[toLm[trieWords[k]] + 1]++;
    for (let w = 0; w < V; w++) start[w + 1] += start[w];
    const nodes = new Int32Array(trieWords.length),
      fill = start.slice(0, V);
    for (let n = 0; n < numTrieNodes; n++)
      for (let k = trieWordStart[n]; k < trieWordStart[n + 1]; k++) nodes[fill[toLm[trieWords[k]]]++] = n;
    this.wordNodeStart = start;
    this.wordNodes = nodes;
    const { entryCopy } = graph.exitClasses;
    const slotOf = new Int32Array(numTrieNodes).fill(-1),
      entryNodes: number[] = [];
    this.entrySlot = Int32Array.from(entryCopy, (c) => {
      const n = graph.copyTrieNode[c];
      if (n < 0) return -1;
      if (slotOf[n] < 0) slotOf[n] = entryNodes.push(n) - 1;
      return slotOf[n];
    });
    this.entryNodes = Int32Array.from(entryNodes);
    this.upperBound = valueBound(lm);
  }

  /** The table of LM state `state` (cached). */
  table(state: number): LookaheadTable {
    const hit = this.cache.get(state);
    if (hit) return hit;
    if (this.lm.historyLength(state) === 0) return this.rootTable(state);
    const t = this.allDense ? this.denseEntry(state, this.denseTable(state)) : this.build(state);
    if (this.allDense) this.built++;
    const b = this.tableBytes(t);
    this.cache.set(state, t);
    this.bytes += b;
    while (this.bytes > this.maxBytes && this.cache.size > 1) {
      const [k, old] = this.cache.entries().next().value as [number, LookaheadTable];
      this.cache.delete(k);
      this.bytes -= this.tableBytes(old);
    }
    return t;
  }

  /** Look-ahead value of tree node `node` in table `t`. */
  value(t: LookaheadTable, node: number): number {
    if (t.dense !== null) return t.dense[node];
    const keys = t.keys,
      mask = t.mask;
    for (let i = slotHash(node, mask); ; i = (i + 1) & mask) {
      const k = keys[i];
      if (k === node) return t.vals[i];
      if (k === EMPTY) break;
    }
    return t.backoffLn + this.value(t.parent!, node);
  }

  /** Values of the word-initial nodes in `t`, indexed by `entrySlot`. */
  entryValues(t: LookaheadTable): Float64Array {
    if (t.entry === null) {
      const e = new Float64Array(this.entryNodes.length);
      for (let i = 0; i < e.length; i++) e[i] = this.value(t, this.entryNodes[i]);
      t.entry = e;
    }
    return t.entry;
  }

  /** The dense table of any state (O(vocabulary + tree nodes)): the reference the sparse tables equal. */
  denseTable(state: number): Float64Array {
    const g = this.graph;
    const lp = this.lm.logProbs(state);
    const la = new Float64Array(g.numTrieNodes).fill(-Infinity);
    const ws = this.wordNodeStart,
      wn = this.wordNodes;
    for (let w = 0; w < ws.length - 1; w++)
      for (let k = ws[w]; k < ws[w + 1]; k++) if (lp[w] > la[wn[k]]) la[wn[k]] = lp[w];
    for (let n = g.numTrieNodes - 1; n >= 0; n--) {
      const p = g.trieParent[n];
      if (p >= 0 && la[n] > la[p]) la[p] = la[n];
    }
    return la;
  }

  private rootTable(state: number): LookaheadTable {
    if (this.root === null || this.root.state !== state) this.root = this.denseEntry(state, this.denseTable(state));
    return this.root;
  }

  private denseEntry(state: number, dense: Float64Array): LookaheadTable {
    return {
      state,
      dense,
      parent: null,
      backoffLn: 0,
      keys: new Int32Array(0),
      vals: new Float64Array(0),
      mask: 0,
      size: 0,
      entry: null,
    };
  }

  private tableBytes(t: LookaheadTable): number {
    return (t.dense ? t.dense.length * 8 : t.keys.length * 12) + this.entryNodes.length * 8;
  }

  /** A sparse table: the tree paths of the history's explicit successors, where they beat the backed-off value. */
  private build(state: number): LookaheadTable {
    const lm = this.lm,
      parentOf = this.graph.trieParent;
    const parent = this.table(lm.truncate(state, lm.historyLength(state) - 1));
    const c = lm.continuations(state);
    let cap = 16;
    while (cap < 4 * (c.to - c.from)) cap <<= 1;
    const t: LookaheadTable = {
      state,
      dense: null,
      parent,
      backoffLn: c.backoffLn,
      keys: new Int32Array(cap).fill(EMPTY),
      vals: new Float64Array(cap),
      mask: cap - 1,
      size: 0,
      entry: null,
    };
    for (let e = c.from; e < c.to; e++) {
      const p = c.probs[e];
      if (Number.isNaN(p)) continue;
      const v = p * Math.LN10,
        w = c.words[e];
      for (let k = this.wordNodeStart[w]; k < this.wordNodeStart[w + 1]; k++) {
        for (let x = this.wordNodes[k]; x >= 0; x = parentOf[x]) {
          const i = this.slot(t, x);
          if (t.keys[i] === x) {
            if (t.vals[i] >= v) break;
            t.vals[i] = v;
          } else {
            if (t.backoffLn + this.value(parent, x) >= v) break;
            this.insert(t, i, x, v);
          }
        }
      }
    }
    this.built++;
    return t;
  }

  /** Slot of `node` in `t`: its own, or the empty one where it would go. */
  private slot(t: LookaheadTable, node: number): number {
    let i = slotHash(node, t.mask);
    while (t.keys[i] !== EMPTY && t.keys[i] !== node) i = (i + 1) & t.mask;
    return i;
  }

  private insert(t: LookaheadTable, i: number, node: number, v: number): void {
    t.keys[i] = node;
    t.vals[i] = v;
    if (++t.size * 2 <= t.keys.length) return;
    const { keys, vals } = t;
    t.keys = new Int32Array(keys.length * 2).fill(EMPTY);
    t.vals = new Float64Array(keys.length * 2);
    t.mask = t.keys.length - 1;
    for (let j = 0; j < keys.length; j++) {
      if (keys[j] === EMPTY) continue;
      const s = this.slot(t, keys[j]);
      t.keys[s] = keys[j];
      t.vals[s] = vals[j];
    }
  }
}
