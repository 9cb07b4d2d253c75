/**
 * Frame-synchronous Viterbi beam search (token passing) over the context-dependent lexical tree of
 * ./graph.ts, with the n-gram LM applied dynamically (word-conditioned tree copies: a search state
 * is an (LM state, HMM state) pair) and LM look-ahead.
 *
 * Path score = sum of scaled acoustic scores (ScoreMatrix) + HMM transition log weights
 *   + lexicon weights (optional silence) + lmWeight * ln p_LM(words, </s>) - penalty * #words.
 * With look-ahead, a token inside a word also carries lmWeight * max ln p(w | LM state) over the
 * words still reachable from its tree node; it is replaced by the true LM score at the word end, so
 * it changes pruning only, never the score of a complete path.
 *
 * Pruning, as Kaldi's decoders: a token survives to be expanded when its score is within `beam` of
 * the frame's best and among the `maxActive` best; while expanding, new tokens below an adaptive
 * estimate of the next frame's cutoff (best new score so far - beam) are not created.
 * Hypotheses that finish a word are recombined per (next LM state, exit class) before they fan out
 * into the next words. Inner loop state lives in typed arrays; nothing is allocated per token.
 */
import { ConfigError, FormatError } from '../util/errors.ts';
import { EOS, BOS } from '../lm/text.ts';
import { compileSearchGraph, type SearchGraph, type SearchGraphOptions } from './graph.ts';
import { SearchLm } from './search-lm.ts';
import { LookaheadTables } from './lookahead.ts';
import { LatticeRecorder, type WordLattice } from './lattice.ts';
import type { DecoderLexicon, DecoderPronunciation, PhoneContextModel, ScoreMatrix } from './types.ts';

export interface DecodeOptions {
  /** Beam in log-score units (the ScoreMatrix is already acoustically scaled). Default 13 (Kaldi decode.sh). */
  beam?: number;
  /** Most tokens expanded per frame (histogram pruning; tokens tied with the cut-off score are kept). Default 7000 (Kaldi). */
  maxActive?: number;
  /** Weight of the natural-log LM probability. Default 1 (with acoustic scale 0.1 this is Kaldi's LMWT 10). */
  lmWeight?: number;
  /** Subtracted from the score once per word (natural-log units; silence is not a word). Default 0. */
  wordInsertionPenalty?: number;
  /** Use LM look-ahead inside the lexical tree. Default true. */
  lmLookahead?: boolean;
  /**
   * Order of the LM used for look-ahead (the LM state's history is cut to order-1 words; the true
   * LM is always applied at word ends). Lower orders need far fewer look-ahead tables. Default 2.
   */
  lookaheadOrder?: number;
  /** Frame shift in seconds, for word times. Default 0.01. */
  frameShiftSec?: number;
  /** Record a word lattice (./lattice.ts) in DecodeResult.lattice. Default false. */
  lattice?: boolean;
  /** Paths kept in the lattice: within this of the best (log-score units). Default 8 (Kaldi's lattice-beam). */
  latticeBeam?: number;
}

export interface DecoderOptions extends SearchGraphOptions {
  /**
   * Lexicon words the LM does not know: 'error' (default: FormatError listing them) or 'drop'
   * (left out of the search, listed in `Decoder.droppedWords`). `<UNK>` maps to the LM's `<unk>`.
   */
  missingLmWords?: 'error' | 'drop';
  /** LM file name for error messages. */
  lmFile?: string;
  /** Bytes of LM look-ahead tables kept in memory (the oldest go first; ./lookahead.ts). Default 128 MiB. */
  lmCacheBytes?: number;
  /** Trees of at most this many nodes get dense look-ahead tables (LookaheadOptions.denseMaxNodes). Default 16384. */
  lookaheadDenseMaxNodes?: number;
}

export interface WordTiming {
  word: string;
  /** First and last frame of the word (inclusive). */
  startFrame: number;
  endFrame: number;
  startSec: number;
  endSec: number;
}

export interface DecodeStats {
  numFrames: number;
  /** Mean and largest number of tokens expanded per frame (after pruning). */
  meanActive: number;
  maxActive: number;
  /** Hypotheses that finished a word (before recombination). */
  wordEnds: number;
  elapsedSec: number;
  framesPerSec: number;
  /** Decoding time / audio duration (numFrames * frameShiftSec). */
  realTimeFactor: number;
  /** LM states the search visited (cumulative for the decoder). */
  lmStates: number;
}

export interface DecodeResult {
  uttId: string;
  /** 1-best words (empty when no token reached a final state). */
  words: string[];
  wordIds: number[];
  times: WordTiming[];
  /** Total path score (see the file comment); -Infinity when no path survived. */
  score: number;
  /** log10 LM probability of the words with </s> (null for no path). */
  lmLog10Prob: number | null;
  /** False when no token reached a final state: `words` is then empty. */
  reachedFinal: boolean;
  stats: DecodeStats;
  /** The word lattice, with DecodeOptions.lattice (no final arc when no path survived). */
  lattice?: WordLattice;
}

/** Open-addressing hash from an int pair to an int, cleared in O(1) by a generation stamp. */
class PairIndex {
  private keyA: Int32Array;
  private keyB: Int32Array;
  private val: Int32Array;
  private stamp: Int32Array;
  private gen = 1;
  private mask: number;
  size = 0;

  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity * 2) cap <<= 1;
    this.keyA = new Int32Array(cap);
    this.keyB = new Int32Array(cap);
    this.val = new Int32Array(cap);
    this.stamp = new Int32Array(cap);
    this.mask = cap - 1;
  }

  clear(): void {
    this.gen++;
    this.size = 0;
    if (this.gen === 0x7fffffff) {
      this.stamp.fill(0);
      this.gen = 1;
    }
  }

  private slot(a: number, b: number): number {
    let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x632be5ab, 0x85ebca6b);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    let i = h & this.mask;
    const g = this.gen;
    while (this.stamp[i] === g && (this.keyA[i] !== a || this.keyB[i] !== b)) i = (i + 1) & this.mask;
    return i;
  }

  /** Value for (a, b), or -1. */
  get(a: number, b: number): number {
    const i = this.slot(a, b);
    return this.stamp[i] === this.gen ? this.val[i] : -1;
  }

  /**
   * Slot of (a, b), inserted with value -1 when absent (one probe for lookup and insert). Read and
   * write the value with `val[slot]`.
   */
  upsert(a: number, b: number): number {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    const i = this.slot(a, b);
    if (this.stamp[i] !== this.gen) {
      this.size++;
      this.stamp[i] = this.gen;
      this.keyA[i] = a;
      this.keyB[i] = b;
      this.val[i] = -1;
    }
    return i;
  }

  get values(): Int32Array {
    return this.val;
  }

  set(a: number, b: number, v: number): void {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    const i = this.slot(a, b);
    if (this.stamp[i] !== this.gen) {
      this.size++;
      this.stamp[i] = this.gen;
      this.keyA[i] = a;
      this.keyB[i] = b;
    }
    this.val[i] = v;
  }

  private grow(): void {
    const { keyA, keyB, val, stamp, gen } = this;
    const cap = (this.mask + 1) * 2;
    this.keyA = new Int32Array(cap);
    this.keyB = new Int32Array(cap);
    this.val = new Int32Array(cap);
    this.stamp = new Int32Array(cap);
    this.mask = cap - 1;
    this.gen = 1;
    this.size = 0;
    for (let i = 0; i < stamp.length; i++) if (stamp[i] === gen) this.set(keyA[i], keyB[i], val[i]);
  }
}

/** Token arrays of one frame. */
class Tokens {
  state: Int32Array;
  lm: Int32Array;
  score: Float64Array;
  la: Float64Array;
  bp: Int32Array;
  count = 0;
  constructor(cap = 1024) {
    this.state = new Int32Array(cap);
    this.lm = new Int32Array(cap);
    this.score = new Float64Array(cap);
    this.la = new Float64Array(cap);
    this.bp = new Int32Array(cap);
  }
  push(state: number, lm: number, score: number, la: number, bp: number): number {
    if (this.count === this.state.length) this.grow();
    const i = this.count++;
    this.state[i] = state;
    this.lm[i] = lm;
    this.score[i] = score;
    this.la[i] = la;
    this.bp[i] = bp;
    return i;
  }
  grow(): void {
    const cap = this.state.length * 2;
    const g = <T extends Int32Array | Float64Array>(a: T, n: T): T => {
      n.set(a);
      return n;
    };
    this.state = g(this.state, new Int32Array(cap));
    this.lm = g(this.lm, new Int32Array(cap));
    this.score = g(this.score, new Float64Array(cap));
    this.la = g(this.la, new Float64Array(cap));
    this.bp = g(this.bp, new Int32Array(cap));
  }
}

/** Word links (back-pointers): one per finished word or silence on a surviving path. */
class Links {
  prev = new Int32Array(1024);
  word = new Int32Array(1024);
  endFrame = new Int32Array(1024);
  count = 0;
  reset(): void {
    this.count = 0;
  }
  add(prev: number, word: number, endFrame: number): number {
    if (this.count === this.prev.length) {
      const cap = this.prev.length * 2;
      const g = (a: Int32Array) => {
        const n = new Int32Array(cap);
        n.set(a);
        return n;
      };
      this.prev = g(this.prev);
      this.word = g(this.word);
      this.endFrame = g(this.endFrame);
    }
    const i = this.count++;
    this.prev[i] = prev;
    this.word[i] = word;
    this.endFrame[i] = endFrame;
    return i;
  }
}

/** The lexicon restricted to words the LM knows, and the decoder-word -> LM-word map. */
function mapLexiconToLm(
  lex: DecoderLexicon,
  lm: SearchLm,
  opts: DecoderOptions,
): { lex: DecoderLexicon; toLm: Int32Array; dropped: string[] } {
  const lmIdOf = (w: string): number => {
    if (w === BOS || w === EOS) return -2;
    const id = lm.wordId(w);
    if (id >= 0) return id;
    if (w === '<UNK>' && lm.unkId >= 0) return lm.unkId;
    return -1;
  };
  const ids = lex.words.map(lmIdOf);
  const markers = lex.words.filter((_, i) => ids[i] === -2);
  if (markers.length)
    throw new FormatError(`the lexicon contains sentence markers ${markers.join(', ')}`, {
      expected: 'words only',
      found: markers.join(', '),
    });
  const used = new Set(lex.prons.map((p) => p.word));
  const missing = lex.words.filter((w, i) => ids[i] < 0 && used.has(i));
  if (missing.length && (opts.missingLmWords ?? 'error') === 'error') {
    throw new FormatError(
      `${missing.length} lexicon word(s) are not in the LM vocabulary: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''}`,
      {
        file: opts.lmFile,
        expected: 'every lexicon word in the LM (or missingLmWords: "drop")',
        found: `${missing.length} missing`,
      },
    );
  }
  const prons: DecoderPronunciation[] = lex.prons.filter((p) => ids[p.word] >= 0);
  if (prons.length === 0)
    throw new FormatError('no lexicon word is in the LM vocabulary', {
      file: opts.lmFile,
      expected: 'shared words',
      found: 'none',
    });
  return { lex: { words: lex.words, prons }, toLm: Int32Array.from(ids, (i) => Math.max(i, -1)), dropped: missing };
}

/** The search's settings for one utterance, defaults applied (see DecodeOptions). */
interface SearchParams {
  beam: number;
  maxActive: number;
  lmw: number;
  pen: number;
  useLa: boolean;
  /** Words of LM history the look-ahead tables condition on. */
  laWords: number;
  frameShiftSec: number;
  /** Lattice beam, or null: no lattice. */
  latticeBeam: number | null;
}

function searchParams(opts: DecodeOptions): SearchParams {
  const beam = opts.beam ?? 13;
  const maxActive = opts.maxActive ?? 7000;
  const lmw = opts.lmWeight ?? 1;
  if (!(beam > 0))
    throw new ConfigError('beam must be positive', { keyPath: 'beam', expected: '> 0', found: String(beam) });
  if (!(maxActive >= 1))
    throw new ConfigError('maxActive must be at least 1', {
      keyPath: 'maxActive',
      expected: '>= 1',
      found: String(maxActive),
    });
  if (!(lmw >= 0))
    throw new ConfigError('lmWeight must be non-negative', {
      keyPath: 'lmWeight',
      expected: '>= 0',
      found: String(lmw),
    });
  const latticeBeam = opts.latticeBeam ?? 8;
  if (!(latticeBeam >= 0))
    throw new ConfigError('latticeBeam must be non-negative', {
      keyPath: 'latticeBeam',
      expected: '>= 0',
      found: String(latticeBeam),
    });
  return {
    latticeBeam: opts.lattice ? latticeBeam : null,
    beam,
    maxActive,
    lmw,
    pen: opts.wordInsertionPenalty ?? 0,
    useLa: opts.lmLookahead ?? true,
    laWords: Math.max(0, (opts.lookaheadOrder ?? 2) - 1),
    frameShiftSec: opts.frameShiftSec ?? 0.01,
  };
}

/** Tokens expanded per frame (sum and largest) and hypotheses that finished a word, for DecodeStats. */
interface ActiveCounts {
  activeSum: number;
  activeMax: number;
  wordEnds: number;
}

/** The best complete path: its score (-Infinity: none), last word link and final word (-1: silence). */
interface BestFinal {
  score: number;
  bp: number;
  word: number;
}

export class Decoder {
  readonly graph: SearchGraph;
  readonly lm: SearchLm;
  /** Decoder word id -> LM word id (-1: not in the LM). */
  readonly toLm: Int32Array;
  readonly droppedWords: readonly string[];
  /** LM look-ahead tables over the tree, sparse per history (./lookahead.ts). */
  readonly lookahead: LookaheadTables;
  private cur = new Tokens();
  private nxt = new Tokens();
  private readonly index = new PairIndex(4096);
  private readonly weIndex = new PairIndex(256);
  private weLm = new Int32Array(256);
  private weClass = new Int32Array(256);
  private weScore = new Float64Array(256);
  private wePrev = new Int32Array(256);
  private weWord = new Int32Array(256);
  private weCount = 0;
  private readonly links = new Links();
  /** The lattice being recorded (null: none asked for), and the recorder kept between utterances. */
  private rec: LatticeRecorder | null = null;
  private recorder: LatticeRecorder | null = null;
  private readonly hist = new Int32Array(4096);

  constructor(lexicon: DecoderLexicon, am: PhoneContextModel, lm: SearchLm, opts: DecoderOptions = {}) {
    const m = mapLexiconToLm(lexicon, lm, opts);
    this.graph = compileSearchGraph(m.lex, am, opts);
    this.lm = lm;
    this.toLm = m.toLm;
    this.droppedWords = m.dropped;
    this.lookahead = new LookaheadTables(this.graph, lm, m.toLm, {
      cacheBytes: opts.lmCacheBytes,
      denseMaxNodes: opts.lookaheadDenseMaxNodes,
    });
  }

  /** ln of the best LM probability over the words below each prefix-tree node, after `lmState` (dense; for tools and tests). */
  lookaheadTable(lmState: number): Float64Array {
    return this.lookahead.denseTable(lmState);
  }

  /** Decode one utterance's scaled acoustic scores. */
  decode(uttId: string, scores: ScoreMatrix, opts: DecodeOptions = {}): DecodeResult {
    const p = searchParams(opts);
    this.checkScores(uttId, scores);
    const T = scores.numFrames,
      shift = p.frameShiftSec;
    const t0 = performance.now();
    this.links.reset();
    this.rec = p.latticeBeam === null ? null : (this.recorder ??= new LatticeRecorder());
    this.rec?.reset(p.lmw, p.pen, p.latticeBeam!);
    const counts = this.searchFrames(scores, p);
    const best = this.endUtterance(T, p, counts);
    const lattice = this.rec?.finish(T, best.score, this.graph.words);
    const elapsedSec = (performance.now() - t0) / 1000;
    const { wordIds, times } = this.traceBack(best, T, shift);
    return {
      uttId,
      words: wordIds.map((w) => this.graph.words[w]),
      wordIds,
      times,
      score: best.score,
      lmLog10Prob: best.score > -Infinity ? this.lmLog10Prob(wordIds) : null,
      reachedFinal: best.score > -Infinity,
      stats: {
        numFrames: T,
        meanActive: T > 0 ? counts.activeSum / T : 0,
        maxActive: counts.activeMax,
        wordEnds: counts.wordEnds,
        elapsedSec,
        framesPerSec: elapsedSec > 0 ? T / elapsedSec : Infinity,
        realTimeFactor: T > 0 ? elapsedSec / (T * shift) : 0,
        lmStates: this.lm.numStates,
      },
      ...(lattice ? { lattice } : {}),
    };
  }

  /** A score matrix the graph can be searched with: its size matches its shape, and it has a column for every senone. */
  private checkScores(uttId: string, scores: ScoreMatrix): void {
    const g = this.graph;
    const T = scores.numFrames,
      D = scores.numPdfs;
    if (scores.data.length !== T * D)
      throw new FormatError('score matrix size does not match its shape', {
        uttId,
        expected: `${T} x ${D} = ${T * D} values`,
        found: String(scores.data.length),
      });
    let maxPdf = 0;
    for (let s = 0; s < g.numStates; s++) if (g.statePdf[s] > maxPdf) maxPdf = g.statePdf[s];
    if (D <= maxPdf)
      throw new FormatError('score matrix has fewer senones than the model', {
        uttId,
        expected: `>= ${maxPdf + 1} columns`,
        found: String(D),
      });
  }

  /**
   * The token-passing loop: enter the start at frame 0, then per frame prune the tokens, expand
   * them along the HMM arcs, into the next phones of their words, and to word ends, and enter the
   * next words from the recombined word ends. Leaves the last frame's tokens in `this.cur`.
   */
  private searchFrames(scores: ScoreMatrix, p: SearchParams): ActiveCounts {
    const { beam, maxActive, lmw, pen, useLa, laWords } = p;
    const g = this.graph;
    const T = scores.numFrames,
      D = scores.numPdfs,
      em = scores.data;
    const lm = this.lm,
      toLm = this.toLm,
      links = this.links,
      lookahead = this.lookahead;
    const {
      statePdf,
      stateCopy,
      arcStart,
      arcTo,
      arcWeight,
      exitWeight,
      copyFirstState,
      copyTrieNode,
      copyChildStart,
      copyChildren,
      copyExitClass,
      copyWordStart,
      copyWords,
    } = g;
    let activeSum = 0,
      activeMax = 0,
      wordEnds = 0;
    let nextCutoff = -Infinity;
    let frameOff = 0;
    const index = this.index;

    // The search state update ("relax") is written out in place below: a call per token with
    // floating-point arguments would box them and churn the garbage collector.
    // Enter the words (and silence) an exit class allows, emitting frame `frameOff`.
    let nx = this.nxt;
    // Frame 0: enter from the start.
    nx.count = 0;
    index.clear();
    // Bound of lmw x any look-ahead value (0 without look-ahead: la2 is then 0).
    const laBound = useLa ? lmw * this.lookahead.upperBound : 0;
    const entry = { em, lmw, useLa, laWords, beam, laBound };
    if (T > 0) this.enterClass(lm.startState, 0, -1, g.startClass, frameOff, nextCutoff, entry); // frame 1 starts its own cutoff
    this.swap();

    for (let t = 1; t < T; t++) {
      const cur = this.cur;
      const n = cur.count;
      const bestI = this.prune(beam, maxActive);
      if (bestI < 0) break;
      const cutoff = this.cutoff;
      nx = this.nxt;
      nx.count = 0;
      index.clear();
      this.weIndex.clear();
      this.weCount = 0;
      nextCutoff = -Infinity;
      frameOff = t * D;
      let expanded = 0;
      for (let pass = 0; pass < 2; pass++) {
        // The best token first, so that the adaptive cutoff is tight from the start.
        const from = pass === 0 ? bestI : 0,
          to = pass === 0 ? bestI + 1 : n;
        for (let i = from; i < to; i++) {
          if (pass === 1 && i === bestI) continue;
          const sc = cur.score[i];
          if (sc < cutoff) continue;
          expanded++;
          const s = cur.state[i],
            lmState = cur.lm[i],
            la = cur.la[i],
            bp = cur.bp[i];
          for (let a = arcStart[s]; a < arcStart[s + 1]; a++) {
            const d = arcTo[a];
            {
              const tot = sc + arcWeight[a] + em[frameOff + statePdf[d]];
              if (tot >= nextCutoff) {
                const slot = index.upsert(lmState, d);
                const vals = index.values;
                const ti = vals[slot];
                if (ti < 0) {
                  if (nx.count === nx.state.length) nx.grow();
                  const j = nx.count++;
                  nx.state[j] = d;
                  nx.lm[j] = lmState;
                  nx.score[j] = tot;
                  nx.la[j] = la;
                  nx.bp[j] = bp;
                  vals[slot] = j;
                } else if (tot > nx.score[ti]) {
                  nx.score[ti] = tot;
                  nx.la[ti] = la;
                  nx.bp[ti] = bp;
                }
                if (tot - beam > nextCutoff) nextCutoff = tot - beam;
              }
            }
          }
          const xw = exitWeight[s];
          if (xw === -Infinity) continue;
          const ex = sc + xw;
          const c = stateCopy[s];
          const cls = copyExitClass[c];
          if (cls < 0) {
            const laTab = useLa ? lookahead.table(lm.truncate(lmState, laWords)) : null;
            for (let k = copyChildStart[c]; k < copyChildStart[c + 1]; k++) {
              const ch = copyChildren[k];
              const d = copyFirstState[ch];
              if (ex - la + laBound + em[frameOff + statePdf[d]] < nextCutoff) continue;
              const la2 = laTab !== null ? lmw * lookahead.value(laTab, copyTrieNode[ch]) : 0;
              {
                const tot = ex - la + la2 + em[frameOff + statePdf[d]];
                if (tot >= nextCutoff) {
                  const slot = index.upsert(lmState, d);
                  const vals = index.values;
                  const ti = vals[slot];
                  if (ti < 0) {
                    if (nx.count === nx.state.length) nx.grow();
                    const j = nx.count++;
                    nx.state[j] = d;
                    nx.lm[j] = lmState;
                    nx.score[j] = tot;
                    nx.la[j] = la2;
                    nx.bp[j] = bp;
                    vals[slot] = j;
                  } else if (tot > nx.score[ti]) {
                    nx.score[ti] = tot;
                    nx.la[ti] = la2;
                    nx.bp[ti] = bp;
                  }
                  if (tot - beam > nextCutoff) nextCutoff = tot - beam;
                }
              }
            }
          } else if (copyWordStart[c] === copyWordStart[c + 1]) {
            this.wordEnd(lmState, cls, ex - la, bp, -1, 0);
          } else {
            for (let k = copyWordStart[c]; k < copyWordStart[c + 1]; k++) {
              const w = copyWords[k];
              wordEnds++;
              const lp = lm.logProb(lmState, toLm[w]);
              this.wordEnd(lm.next(lmState, toLm[w]), cls, ex - la + lmw * lp - pen, bp, w, lp);
            }
          }
        }
      }
      // Words (and silences) that ended at frame t-1 start the next unit at frame t.
      for (let q = 0; q < this.weCount; q++) {
        const link = links.add(this.wePrev[q], this.weWord[q], t - 1);
        this.rec?.node(q, link, t - 1);
        nextCutoff = this.enterClass(this.weLm[q], this.weScore[q], link, this.weClass[q], frameOff, nextCutoff, entry);
      }
      this.rec?.endFrame();
      activeSum += expanded;
      if (expanded > activeMax) activeMax = expanded;
      this.swap();
    }
    return { activeSum, activeMax, wordEnds };
  }

  /**
   * Final: leave the last unit after frame T-1 and add </s>. Counts the last frame's surviving
   * tokens into `counts`; returns the best complete path's score and back-pointers.
   */
  private endUtterance(T: number, p: SearchParams, counts: ActiveCounts): BestFinal {
    const { lmw, pen } = p;
    const { exitWeight, stateCopy, copyExitClass, copyWordStart, copyWords } = this.graph;
    const ec = this.graph.exitClasses;
    const lm = this.lm,
      toLm = this.toLm;
    const cur = this.cur;
    let bestFinal = -Infinity,
      bestBp = -1,
      bestWord = -1;
    const eos = lm.eosId;
    if (T > 0 && this.prune(p.beam, p.maxActive) >= 0) {
      const finalCutoff = this.cutoff;
      let kept = 0;
      for (let i = 0; i < cur.count; i++) if (cur.score[i] >= finalCutoff) kept++;
      counts.activeSum += kept;
      if (kept > counts.activeMax) counts.activeMax = kept;
    }
    // Every last-frame token may end the utterance (as Kaldi's final-cost pass); pruning only counts.
    for (let i = 0; T > 0 && i < cur.count; i++) {
      const s = cur.state[i];
      const xw = exitWeight[s];
      if (xw === -Infinity) continue;
      const c = stateCopy[s];
      const cls = copyExitClass[c];
      if (cls < 0) continue;
      const fw = ec.finalWeight[cls];
      if (fw === -Infinity) continue;
      const lmState = cur.lm[i];
      const ex = cur.score[i] + xw - cur.la[i] + fw;
      if (copyWordStart[c] === copyWordStart[c + 1]) {
        const lpEos = lm.logProb(lmState, eos);
        const tot = ex + lmw * lpEos;
        this.rec?.candidate(0, cur.bp[i], -1, tot, lpEos, tot > bestFinal);
        if (tot > bestFinal) {
          bestFinal = tot;
          bestBp = cur.bp[i];
          bestWord = -1;
        }
      } else {
        for (let k = copyWordStart[c]; k < copyWordStart[c + 1]; k++) {
          const w = copyWords[k];
          const next = lm.next(lmState, toLm[w]);
          const lp = lm.logProb(lmState, toLm[w]),
            lpEos = lm.logProb(next, eos);
          const tot = ex + lmw * lp - pen + lmw * lpEos;
          this.rec?.candidate(0, cur.bp[i], w, tot, lp + lpEos, tot > bestFinal);
          if (tot > bestFinal) {
            bestFinal = tot;
            bestBp = cur.bp[i];
            bestWord = w;
          }
        }
      }
    }
    return { score: bestFinal, bp: bestBp, word: bestWord };
  }

  /** The words of the best path and their frame spans, following its word links back from the end. */
  private traceBack(best: BestFinal, T: number, shift: number): { wordIds: number[]; times: WordTiming[] } {
    const links = this.links;
    const wordIds: number[] = [];
    const times: WordTiming[] = [];
    if (best.score > -Infinity) {
      const seq: { word: number; end: number }[] = [{ word: best.word, end: T - 1 }];
      for (let l = best.bp; l >= 0; l = links.prev[l]) seq.push({ word: links.word[l], end: links.endFrame[l] });
      seq.reverse();
      let start = 0;
      for (const u of seq) {
        if (u.word >= 0) {
          wordIds.push(u.word);
          times.push({
            word: this.graph.words[u.word],
            startFrame: start,
            endFrame: u.end,
            startSec: start * shift,
            endSec: (u.end + 1) * shift,
          });
        }
        start = u.end + 1;
      }
    }
    return { wordIds, times };
  }

  /** log10 LM probability of the words with </s>. */
  private lmLog10Prob(wordIds: readonly number[]): number {
    const lm = this.lm,
      toLm = this.toLm;
    let st = lm.startState,
      acc = 0;
    for (const w of wordIds) {
      acc += lm.logProb(st, toLm[w]);
      st = lm.next(st, toLm[w]);
    }
    return (acc + lm.logProb(st, lm.eosId)) / Math.LN10;
  }

  private cutoff = -Infinity;

  /**
   * Pruning threshold of the current tokens (beam below the best, and the maxActive-th best score),
   * stored in `this.cutoff`; returns the best token's index (-1 when there are none).
   */
  private prune(beam: number, maxActive: number): number {
    const cur = this.cur,
      n = cur.count;
    let best = -Infinity,
      bestI = -1;
    for (let i = 0; i < n; i++)
      if (cur.score[i] > best) {
        best = cur.score[i];
        bestI = i;
      }
    let cutoff = best - beam;
    if (n > maxActive) {
      // Histogram pruning: bins over [best - beam, best]; the cutoff is the upper edge of the bin
      // where the count from the top passes maxActive, so at most maxActive tokens survive
      // (sometimes fewer), in O(n) without sorting.
      const hist = this.hist;
      hist.fill(0);
      const B = hist.length,
        scale = B / beam;
      let inBeam = 0;
      for (let i = 0; i < n; i++) {
        const d = best - cur.score[i];
        if (d <= beam) {
          inBeam++;
          hist[d * scale >= B ? B - 1 : Math.floor(d * scale)]++;
        }
      }
      if (inBeam > maxActive) {
        let acc = 0,
          b = 0;
        while (acc + hist[b] <= maxActive) acc += hist[b++];
        if (b === 0) b = 1;
        // Tokens in bins 0..b-1 (distance < b / scale) are kept; all of the first bin when it alone is too full.
        const edge = best - b / scale;
        cutoff = Math.max(cutoff, edge + 1e-12 * Math.max(1, Math.abs(edge)));
      }
    }
    this.cutoff = cutoff;
    return bestI;
  }

  /**
   * Enter the words (and silence) exit class `cls` allows, from LM state `lmState` with score
   * `base` and back-pointer `bp`, emitting the frame at offset `frameOff` of the score matrix,
   * into the next token set. Returns the updated adaptive cutoff. (Called once per word end;
   * the per-arc updates in `decode` stay written out in place.)
   */
  private enterClass(
    lmState: number,
    base: number,
    bp: number,
    cls: number,
    frameOff: number,
    nextCutoff: number,
    e: { em: Float32Array; lmw: number; useLa: boolean; laWords: number; beam: number; laBound: number },
  ): number {
    const g = this.graph,
      ec = g.exitClasses,
      nx = this.nxt,
      index = this.index;
    const { copyFirstState, statePdf } = g;
    const { em, lmw, beam, laBound } = e;
    const laE = e.useLa ? this.lookahead.entryValues(this.lookahead.table(this.lm.truncate(lmState, e.laWords))) : null;
    const slots = this.lookahead.entrySlot;
    for (let k = ec.entryStart[cls]; k < ec.entryStart[cls + 1]; k++) {
      const d = copyFirstState[ec.entryCopy[k]];
      const x = base + ec.entryWeight[k];
      // No look-ahead value exceeds laBound: skip what cannot reach the cutoff before reading one.
      const slot = slots[k];
      if (x + (slot >= 0 ? laBound : 0) + em[frameOff + statePdf[d]] < nextCutoff) continue;
      const la2 = laE !== null && slot >= 0 ? lmw * laE[slot] : 0;
      const tot = x + la2 + em[frameOff + statePdf[d]];
      if (tot >= nextCutoff) {
        const at = index.upsert(lmState, d);
        const vals = index.values;
        const ti = vals[at];
        if (ti < 0) {
          if (nx.count === nx.state.length) nx.grow();
          const j = nx.count++;
          nx.state[j] = d;
          nx.lm[j] = lmState;
          nx.score[j] = tot;
          nx.la[j] = la2;
          nx.bp[j] = bp;
          vals[at] = j;
        } else if (tot > nx.score[ti]) {
          nx.score[ti] = tot;
          nx.la[ti] = la2;
          nx.bp[ti] = bp;
        }
        if (tot - beam > nextCutoff) nextCutoff = tot - beam;
      }
    }
    return nextCutoff;
  }

  private swap(): void {
    const t = this.cur;
    this.cur = this.nxt;
    this.nxt = t;
  }

  /** Record a finished word (or silence, word -1), recombined per (next LM state, exit class). */
  private wordEnd(lmState: number, cls: number, score: number, prev: number, word: number, lp: number): void {
    const i = this.weIndex.get(lmState, cls);
    if (i >= 0) {
      this.rec?.candidate(i, prev, word, score, lp, score > this.weScore[i]);
      if (score > this.weScore[i]) {
        this.weScore[i] = score;
        this.wePrev[i] = prev;
        this.weWord[i] = word;
      }
      return;
    }
    if (this.weCount === this.weLm.length) {
      const cap = this.weLm.length * 2;
      const gi = (a: Int32Array) => {
        const n = new Int32Array(cap);
        n.set(a);
        return n;
      };
      this.weLm = gi(this.weLm);
      this.weClass = gi(this.weClass);
      this.wePrev = gi(this.wePrev);
      this.weWord = gi(this.weWord);
      const s = new Float64Array(cap);
      s.set(this.weScore);
      this.weScore = s;
    }
    const k = this.weCount++;
    this.rec?.candidate(k, prev, word, score, lp, true);
    this.weLm[k] = lmState;
    this.weClass[k] = cls;
    this.weScore[k] = score;
    this.wePrev[k] = prev;
    this.weWord[k] = word;
    this.weIndex.set(lmState, cls, k);
  }
}
