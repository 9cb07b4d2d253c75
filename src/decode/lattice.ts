/**
 * Word lattices from the decoder, for rescoring without re-decoding (issue 34 item 3).
 *
 * What is recorded: the search recombines the hypotheses that finish a word in a frame per (next
 * LM state, exit class) and keeps the best; the lattice keeps the others too, within
 * `latticeBeam` of it, as alternative arcs into the same node. A node is one such recombined
 * word end (a word link of the search), so the alternatives share every continuation, and with
 * the same LM state the continuations' LM scores are the same too: any path through the lattice
 * is a path the search could have taken, with its exact scores. (As in Ney and Ortmanns' word
 * graphs, the word pair approximation: hypotheses recombined inside a word, with the same LM
 * state and HMM state, are not kept.) After the last frame the lattice is pruned to the arcs on
 * some path within `latticeBeam` of the best (a forward and a backward pass, as Kaldi's
 * lattice pruning) and renumbered.
 *
 * Each arc keeps its scores apart: `ac` (scaled acoustic + HMM transitions + silence weights of
 * its frames) and `lm` (ln LM probability of its word, and of `</s>` on arcs into the final node);
 * word arcs pay the insertion penalty. A path's score at any weights is then
 * sum(ac) + lmWeight * sum(lm) - penalty * words, so the LM weight and penalty are re-tuned by
 * one cheap best-path pass per grid point, and `nbest` lists can be rescored by another LM.
 *
 * Rescored at the first pass's own weights, the best path is the decoder's 1-best: the arcs are
 * stored with the first pass's best arc first into each node, and a later arc replaces it only
 * when better by more than 1e-9 relative (the scores, split and summed again, differ from the
 * search's by rounding only).
 */
import type { SearchLm } from './search-lm.ts';

/** A path of a lattice or n-best list, scored at some weights. */
export interface LatticePath {
  /** Decoder word ids and words (silence left out). */
  wordIds: number[];
  words: string[];
  /** First and last frame of each word. */
  frames: Int32Array;
  /** Sums over the path: acoustic (scaled, with HMM and silence weights) and ln LM probability (with </s>). */
  ac: number;
  lm: number;
  /** ac + lmWeight * lm - penalty * words, at the weights it was found or rescored with. */
  score: number;
}

const TIE = 1e-9;

function better(v: number, best: number): boolean {
  return v > best + TIE * Math.max(1, Math.abs(best));
}

export class WordLattice {
  /** Nodes: 0 = utterance start, numNodes - 1 = utterance end (after `</s>`), in time order. */
  readonly numNodes: number;
  /** Last frame of the unit on a node's incoming arcs (-1 for the start). */
  readonly nodeEnd: Int32Array;
  /** Arcs, sorted by `to`; into each node the first pass's best arc first. */
  readonly from: Int32Array;
  readonly to: Int32Array;
  /** Decoder word id, -1 for silence (no LM score, no penalty). */
  readonly word: Int32Array;
  readonly ac: Float64Array;
  readonly lm: Float64Array;
  /** Decoder words (ids index it). */
  readonly words: readonly string[];
  /** First arc into each node (CSR over the arcs, which are sorted by `to`). */
  private readonly inStart: Int32Array;

  constructor(a: {
    nodeEnd: Int32Array;
    from: Int32Array;
    to: Int32Array;
    word: Int32Array;
    ac: Float64Array;
    lm: Float64Array;
    words: readonly string[];
  }) {
    this.numNodes = a.nodeEnd.length;
    this.nodeEnd = a.nodeEnd;
    this.from = a.from;
    this.to = a.to;
    this.word = a.word;
    this.ac = a.ac;
    this.lm = a.lm;
    this.words = a.words;
    this.inStart = new Int32Array(this.numNodes + 1);
    for (let k = 0; k < a.to.length; k++) this.inStart[a.to[k] + 1]++;
    for (let n = 0; n < this.numNodes; n++) this.inStart[n + 1] += this.inStart[n];
  }

  get numArcs(): number {
    return this.from.length;
  }

  /** Score of arc k at the given weights. */
  arcScore(k: number, lmWeight: number, penalty: number): number {
    return this.ac[k] + lmWeight * this.lm[k] - (this.word[k] >= 0 ? penalty : 0);
  }

  /** Best score into every node (Viterbi from the start) and the arc it came by. */
  forward(lmWeight: number, penalty: number): { score: Float64Array; arc: Int32Array } {
    const score = new Float64Array(this.numNodes).fill(-Infinity),
      arc = new Int32Array(this.numNodes).fill(-1);
    score[0] = 0;
    for (let k = 0; k < this.from.length; k++) {
      const v = score[this.from[k]] + this.arcScore(k, lmWeight, penalty),
        t = this.to[k];
      if (arc[t] < 0 ? v > -Infinity : better(v, score[t])) {
        score[t] = v;
        arc[t] = k;
      }
    }
    return { score, arc };
  }

  /** The best path at these weights (null: the lattice has no complete path). */
  bestPath(lmWeight: number, penalty: number): LatticePath | null {
    const f = this.forward(lmWeight, penalty);
    const end = this.numNodes - 1;
    if (f.arc[end] < 0) return null;
    const arcs: number[] = [];
    for (let n = end; n > 0; n = this.from[f.arc[n]]) arcs.push(f.arc[n]);
    return this.path(arcs.reverse(), f.score[end]);
  }

  /**
   * Up to `n` best paths with distinct word sequences at these weights, best first (A* from the
   * end with the exact forward scores as heuristic; at most `maxExpansions` partial paths).
   */
  nbest(n: number, lmWeight: number, penalty: number, maxExpansions = 100000): LatticePath[] {
    const f = this.forward(lmWeight, penalty);
    const out: LatticePath[] = [],
      seen = new Set<string>();
    // Partial paths from the end: node reached, score of the suffix, arc taken, parent entry.
    const node: number[] = [this.numNodes - 1],
      suffix: number[] = [0],
      viaArc: number[] = [-1],
      parent: number[] = [-1];
    const heap = new MaxHeap();
    if (f.arc[this.numNodes - 1] >= 0) heap.push(f.score[this.numNodes - 1], 0);
    while (heap.size > 0 && out.length < n && node.length < maxExpansions) {
      const e = heap.pop();
      if (node[e] === 0) {
        const arcs: number[] = [];
        for (let x = e; viaArc[x] >= 0; x = parent[x]) arcs.push(viaArc[x]);
        const p = this.path(arcs, suffix[e]);
        const key = p.wordIds.join(' ');
        if (!seen.has(key)) {
          seen.add(key);
          out.push(p);
        }
        continue;
      }
      for (let k = this.inStart[node[e]]; k < this.inStart[node[e] + 1]; k++) {
        const fr = this.from[k];
        if (f.score[fr] === -Infinity) continue;
        const g = suffix[e] + this.arcScore(k, lmWeight, penalty);
        const id = node.push(fr) - 1;
        suffix.push(g);
        viaArc.push(k);
        parent.push(e);
        heap.push(f.score[fr] + g, id);
      }
    }
    return out;
  }

  /** The path along `arcs` (in time order), with its score as given. */
  private path(arcs: readonly number[], score: number): LatticePath {
    const wordIds: number[] = [],
      frames: number[] = [];
    let ac = 0,
      lm = 0;
    for (const k of arcs) {
      ac += this.ac[k];
      lm += this.lm[k];
      if (this.word[k] < 0) continue;
      wordIds.push(this.word[k]);
      frames.push(this.nodeEnd[this.from[k]] + 1, this.nodeEnd[this.to[k]]);
    }
    return { wordIds, words: wordIds.map((w) => this.words[w]), frames: Int32Array.from(frames), ac, lm, score };
  }
}

/** A binary max-heap of (priority, id). */
class MaxHeap {
  private pri: number[] = [];
  private ids: number[] = [];
  get size(): number {
    return this.ids.length;
  }
  push(p: number, id: number): void {
    let i = this.ids.length;
    this.pri.push(p);
    this.ids.push(id);
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (this.pri[up] >= p) break;
      this.pri[i] = this.pri[up];
      this.ids[i] = this.ids[up];
      i = up;
    }
    this.pri[i] = p;
    this.ids[i] = id;
  }
  pop(): number {
    const top = this.ids[0];
    const p = this.pri.pop()!,
      id = this.ids.pop()!;
    const n = this.ids.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && this.pri[c + 1] > this.pri[c]) c++;
        if (this.pri[c] <= p) break;
        this.pri[i] = this.pri[c];
        this.ids[i] = this.ids[c];
        i = c;
      }
      this.pri[i] = p;
      this.ids[i] = id;
    }
    return top;
  }
}

/**
 * An n-best list rescored with another LM (e.g. a larger one over a smaller LM's first pass):
 * each path's LM score becomes its sentence's ln probability under `lm` (with `</s>`; a word
 * `lm` does not know scores as its `<unk>`, or rules the path out when it has none), and the
 * list is sorted by ac + lmWeight * lm - penalty * words (stable among equals).
 */
export function rescoreNbest(
  paths: readonly LatticePath[],
  lm: SearchLm,
  lmWeight: number,
  penalty: number,
): LatticePath[] {
  const scored = paths.map((p) => {
    let st = lm.startState,
      ln = 0;
    for (const w of p.words) {
      let id = lm.wordId(w);
      if (id < 0) id = lm.unkId;
      if (id < 0) {
        ln = -Infinity;
        break;
      }
      ln += lm.logProb(st, id);
      st = lm.next(st, id);
    }
    if (ln > -Infinity) ln += lm.logProb(st, lm.eosId);
    return { ...p, lm: ln, score: p.ac + lmWeight * ln - penalty * p.wordIds.length };
  });
  return scored
    .map((p, i) => ({ p, i }))
    .sort((a, b) => b.p.score - a.p.score || a.i - b.i)
    .map((x) => x.p);
}

/** Growable typed arrays of the recorder. */
function grown<T extends Int32Array | Float64Array>(a: T, need: number): T {
  if (need <= a.length) return a;
  let cap = a.length * 2;
  while (cap < need) cap *= 2;
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  return b;
}

const START = -1,
  FINAL = -2;

/**
 * What the decoder records while it searches (see the module comment): every word-end
 * hypothesis of a frame as a candidate of its recombination slot, then per slot the node (the
 * decoder's word link) with its arcs; at the end the final hypotheses, the pruning and the
 * WordLattice.
 */
export class LatticeRecorder {
  private lmWeight = 1;
  private penalty = 0;
  private beam = 8;
  // Candidates of the current frame (and, after the last frame, the final hypotheses).
  private cPrev = new Int32Array(256);
  private cWord = new Int32Array(256);
  private cNext = new Int32Array(256);
  private cScore = new Float64Array(256);
  private cLm = new Float64Array(256);
  private cCount = 0;
  /** Per slot: its candidates (a list through cNext, newest first) and its best one. */
  private head = new Int32Array(256).fill(-1);
  private best = new Int32Array(256);
  private slots = 0;
  // Nodes (decoder links): path score at the word end, last frame.
  private nodeScore = new Float64Array(1024);
  private nodeEnd = new Int32Array(1024);
  private numNodes = 0;
  // Arcs in order of their target node.
  private aFrom = new Int32Array(1024);
  private aTo = new Int32Array(1024);
  private aWord = new Int32Array(1024);
  private aAc = new Float64Array(1024);
  private aLm = new Float64Array(1024);
  private aCount = 0;

  reset(lmWeight: number, penalty: number, beam: number): void {
    this.lmWeight = lmWeight;
    this.penalty = penalty;
    this.beam = beam;
    this.aCount = 0;
    this.numNodes = 0;
    this.clearCandidates();
  }

  /** A hypothesis that finished word `word` (-1: silence; `lm` its ln LM score) in recombination slot `slot`; `best`: it is the slot's best so far. */
  candidate(slot: number, prev: number, word: number, score: number, lm: number, best: boolean): void {
    const c = this.cCount++;
    if (c === this.cPrev.length) {
      this.cPrev = grown(this.cPrev, c + 1);
      this.cWord = grown(this.cWord, c + 1);
      this.cNext = grown(this.cNext, c + 1);
      this.cScore = grown(this.cScore, c + 1);
      this.cLm = grown(this.cLm, c + 1);
    }
    if (slot >= this.head.length) {
      const n = this.head.length;
      this.head = grown(this.head, slot + 1);
      this.head.fill(-1, n);
      this.best = grown(this.best, slot + 1);
    }
    if (slot >= this.slots) this.slots = slot + 1;
    this.cPrev[c] = prev;
    this.cWord[c] = word;
    this.cScore[c] = score;
    this.cLm[c] = lm;
    this.cNext[c] = this.head[slot];
    this.head[slot] = c;
    if (best) this.best[slot] = c;
  }

  /** Slot `slot`'s word end became decoder link `link`, ending at frame `end`: its node and arcs. */
  node(slot: number, link: number, end: number): void {
    this.nodeScore = grown(this.nodeScore, link + 1);
    this.nodeEnd = grown(this.nodeEnd, link + 1);
    this.nodeScore[link] = this.cScore[this.best[slot]];
    this.nodeEnd[link] = end;
    if (link >= this.numNodes) this.numNodes = link + 1;
    this.arcsOf(slot, link);
  }

  /** The frame's word ends are all nodes now. */
  endFrame(): void {
    this.clearCandidates();
  }

  /** The lattice: final hypotheses (candidates of slot 0 after the last frame) within the beam of `bestScore`, pruned. */
  finish(numFrames: number, bestScore: number, words: readonly string[]): WordLattice {
    if (bestScore > -Infinity && this.slots > 0) this.arcsOf(0, FINAL);
    this.clearCandidates();
    return this.prune(numFrames, bestScore, words);
  }

  private clearCandidates(): void {
    this.head.fill(-1, 0, this.slots);
    this.slots = 0;
    this.cCount = 0;
  }

  /** Arcs into node `to` from the slot's candidates within the beam: its best first. */
  private arcsOf(slot: number, to: number): void {
    const b = this.best[slot],
      floor = this.cScore[b] - this.beam;
    this.arc(b, to);
    for (let c = this.head[slot]; c >= 0; c = this.cNext[c]) if (c !== b && this.cScore[c] >= floor) this.arc(c, to);
  }

  private arc(c: number, to: number): void {
    const k = this.aCount++;
    if (k === this.aFrom.length) {
      this.aFrom = grown(this.aFrom, k + 1);
      this.aTo = grown(this.aTo, k + 1);
      this.aWord = grown(this.aWord, k + 1);
      this.aAc = grown(this.aAc, k + 1);
      this.aLm = grown(this.aLm, k + 1);
    }
    const prev = this.cPrev[c],
      w = this.cWord[c];
    this.aFrom[k] = prev;
    this.aTo[k] = to;
    this.aWord[k] = w;
    this.aLm[k] = this.cLm[c];
    this.aAc[k] =
      this.cScore[c] -
      (prev === START ? 0 : this.nodeScore[prev]) -
      this.lmWeight * this.cLm[c] +
      (w >= 0 ? this.penalty : 0);
  }

  /**
   * Forward scores are the nodes' own (the first pass's Viterbi scores), backward scores one
   * pass from the end; an arc stays when the best path through it is within the beam of the
   * best. Nodes are renumbered: 0 = start, then links in order, then the end.
   */
  private prune(numFrames: number, bestScore: number, words: readonly string[]): WordLattice {
    const K = this.aCount,
      L = this.numNodes;
    const idx = (n: number): number => (n === START ? 0 : n === FINAL ? L + 1 : n + 1);
    const fwd = new Float64Array(L + 2),
      bwd = new Float64Array(L + 2).fill(-Infinity);
    fwd.set(this.nodeScore.subarray(0, L), 1);
    fwd[0] = 0;
    fwd[L + 1] = bestScore;
    bwd[L + 1] = 0;
    const v = new Float64Array(K);
    for (let k = K - 1; k >= 0; k--) {
      v[k] = this.aAc[k] + this.lmWeight * this.aLm[k] - (this.aWord[k] >= 0 ? this.penalty : 0);
      const f = idx(this.aFrom[k]),
        through = v[k] + bwd[idx(this.aTo[k])];
      if (through > bwd[f]) bwd[f] = through;
    }
    // No complete path: nothing is kept (the start and the end only).
    const floor = bestScore > -Infinity ? bestScore - this.beam - TIE * Math.max(1, Math.abs(bestScore)) : Infinity;
    const keep = new Uint8Array(K),
      used = new Uint8Array(L + 2);
    used[0] = used[L + 1] = 1;
    for (let k = 0; k < K; k++) {
      const f = idx(this.aFrom[k]),
        t = idx(this.aTo[k]);
      if (fwd[f] + v[k] + bwd[t] >= floor) keep[k] = used[f] = used[t] = 1;
    }
    const renum = new Int32Array(L + 2).fill(-1);
    const nodeEnd: number[] = [];
    for (let n = 0; n < L + 2; n++) {
      if (!used[n]) continue;
      renum[n] = nodeEnd.length;
      nodeEnd.push(n === 0 ? -1 : n === L + 1 ? numFrames - 1 : this.nodeEnd[n - 1]);
    }
    const kept: number[] = [];
    for (let k = 0; k < K; k++) if (keep[k]) kept.push(k);
    return new WordLattice({
      nodeEnd: Int32Array.from(nodeEnd),
      words,
      from: Int32Array.from(kept, (k) => renum[idx(this.aFrom[k])]),
      to: Int32Array.from(kept, (k) => renum[idx(this.aTo[k])]),
      word: Int32Array.from(kept, (k) => this.aWord[k]),
      ac: Float64Array.from(kept, (k) => this.aAc[k]),
      lm: Float64Array.from(kept, (k) => this.aLm[k]),
    });
  }
}
