/**
 * Viterbi forced alignment over an utterance graph, in the log domain, with beam pruning and a
 * retry with a wider beam (Kaldi gmm-align-compiled: --beam 10 --retry-beam 40, acoustic scale 0.1,
 * transition scale 1.0, self-loop scale 0.1).
 *
 * Score of a path = acousticScale * sum log p(x_t | pdf) + HMM transition weights + lexicon weights,
 * where, as in Kaldi's graphs, a state with self-loop probability p contributes
 * selfLoopScale * log p per self-loop and selfLoopScale * log(1-p) + transitionScale * log(q/(1-p))
 * when it leaves by a transition of probability q.
 */
import type { AmDiagGmm, Frame } from './gmm.ts';
import type { TransitionModel } from './transitions.ts';
import type { ContextDependency } from './context.ts';
import { alignFailure, type AlignFailure } from './errors.ts';
import { compileGraph, type GraphOptions, type LangModel, type UttGraph } from './graph.ts';

export interface AlignOptions extends GraphOptions {
  /** Pruning beam (scaled log-likelihood units). Default 10 (Kaldi). */
  beam?: number;
  /** Beam of the second try when the first finds no path; 0 = no retry. Default 40 (Kaldi). */
  retryBeam?: number;
  /**
   * When neither beam finds a path, a last try without pruning (exact Viterbi over the whole
   * utterance graph, O(frames x graph states)), so that an utterance with enough frames for its
   * transcript always aligns. Kaldi stops at the retry beam; default true here (an unaligned
   * utterance loses its labels, and the reason would be the search, not the data).
   */
  unprunedRetry?: boolean;
  /** Default 0.1 (Kaldi). */
  acousticScale?: number;
  /** Default 1.0 (Kaldi). */
  transitionScale?: number;
  /** Default 0.1 (Kaldi). */
  selfLoopScale?: number;
}

/**
 * Frames each transcript word may occupy (inclusive, one entry per word), e.g. from reference word
 * timings (src/align/spans.ts): a state of word w is pruned at every frame outside
 * [first[w], last[w]]. Optional silence is not constrained.
 */
export interface WordSpans {
  first: Int32Array;
  last: Int32Array;
}

/** One aligned utterance: per-frame labels. */
export interface Alignment {
  ok: true;
  uttId: string;
  numFrames: number;
  pdf: Int32Array;
  /** Transition id taken out of each frame's state. */
  tid: Int32Array;
  phone: Int32Array;
  hmmState: Int32Array;
  /** Index into the transcript's words; -1 for optional silence. */
  word: Int32Array;
  /** Sum of unscaled acoustic log-likelihoods along the path. */
  acousticLogLike: number;
  /** Total path score (scaled, with transition and lexicon weights). */
  score: number;
  /** The beam that succeeded (Infinity: the unpruned last try). */
  beamUsed: number;
  /**
   * 'kept': aligned within the word spans given; 'dropped': spans were given but no path kept to
   * them, so it was aligned without them; 'none': no spans given.
   */
  spans: 'kept' | 'dropped' | 'none';
}

/** Scaled weight of every transition id (see the file comment). */
export function transitionWeights(tm: TransitionModel, opts: AlignOptions = {}): Float64Array {
  const ts = opts.transitionScale ?? 1.0;
  const sls = opts.selfLoopScale ?? 0.1;
  const w = new Float64Array(tm.numTids);
  for (let t = 0; t < tm.numTids; t++) {
    const info = tm.tids[t];
    const p = tm.probs[t];
    const ps = tm.selfLoopProb(info.phone, info.hmmState);
    if (info.isSelfLoop) w[t] = sls * Math.log(p);
    else if (ps > 0) w[t] = sls * Math.log(1 - ps) + ts * Math.log(p / (1 - ps));
    else w[t] = ts * Math.log(p);
  }
  return w;
}

/** Emission log-likelihood of graph-local pdf `lp` at frame t (unscaled). */
export type EmissionFn = (t: number, lp: number) => number;

/** A per-utterance cache of GMM log-likelihoods over the graph's distinct pdfs. */
export function gmmEmissions(am: AmDiagGmm, graph: UttGraph, frames: readonly Frame[]): EmissionFn {
  const L = graph.localPdfs.length;
  const cache = new Float64Array(frames.length * L).fill(NaN);
  return (t, lp) => {
    const i = t * L + lp;
    let v = cache[i];
    if (v !== v) {
      v = am.logLikelihood(graph.localPdfs[lp], frames[t]);
      cache[i] = v;
    }
    return v;
  };
}

export interface ViterbiResult {
  /** Graph state per frame. */
  states: Int32Array;
  /** Transition id out of each frame's state. */
  tids: Int32Array;
  score: number;
  acousticLogLike: number;
}

/**
 * Beam-pruned Viterbi over `numFrames` frames. Returns null when no final state survives the beam.
 * `tidWeight` comes from transitionWeights(). With `spans`, word states outside their word's
 * frames are pruned (before the beam, so they never set its threshold).
 */
export function viterbi(
  graph: UttGraph,
  numFrames: number,
  emission: EmissionFn,
  tidWeight: Float64Array,
  beam: number,
  acousticScale: number,
  spans: WordSpans | null = null,
): ViterbiResult | null {
  const S = graph.numStates,
    T = numFrames;
  if (T <= 0) return null;
  const bp = new Int32Array(T * S).fill(-1); // arc index (or -1 for an initial state)
  let cur = new Float64Array(S).fill(-Infinity);
  let nxt = new Float64Array(S).fill(-Infinity);
  const stamp = new Int32Array(S).fill(-1);
  let active: number[];
  const touched: number[] = [];
  for (let i = 0; i < graph.initState.length; i++) {
    const s = graph.initState[i];
    const v = graph.initLex[i];
    if (v > cur[s]) {
      if (cur[s] === -Infinity) touched.push(s);
      cur[s] = v;
    }
  }
  const prune = (scores: Float64Array, t: number): number[] => {
    let best = -Infinity;
    for (const s of touched) {
      if (spans) {
        const w = graph.word[s];
        if (w >= 0 && (t < spans.first[w] || t > spans.last[w])) {
          scores[s] = -Infinity;
          continue;
        }
      }
      scores[s] += acousticScale * emission(t, graph.localPdf[s]);
      if (scores[s] > best) best = scores[s];
    }
    const thr = best - beam;
    const out: number[] = [];
    for (const s of touched) {
      if (scores[s] >= thr && scores[s] > -Infinity) out.push(s);
      else scores[s] = -Infinity;
    }
    touched.length = 0;
    return out;
  };
  active = prune(cur, 0);
  for (let t = 1; t < T; t++) {
    if (active.length === 0) return null;
    const row = t * S;
    for (const s of active) {
      const base = cur[s];
      for (let a = graph.arcStart[s]; a < graph.arcStart[s + 1]; a++) {
        const d = graph.arcTo[a];
        const v = base + tidWeight[graph.arcTid[a]] + graph.arcLex[a];
        if (stamp[d] !== t) {
          stamp[d] = t;
          touched.push(d);
          nxt[d] = v;
          bp[row + d] = a;
        } else if (v > nxt[d]) {
          nxt[d] = v;
          bp[row + d] = a;
        }
      }
      cur[s] = -Infinity;
    }
    const tmp = cur;
    cur = nxt;
    nxt = tmp;
    active = prune(cur, t);
  }
  let bestS = -1,
    bestV = -Infinity;
  for (const s of active) {
    if (graph.finalLex[s] === -Infinity) continue;
    const v = cur[s] + graph.finalLex[s] + tidWeight[graph.finalTid[s]];
    if (v > bestV) {
      bestV = v;
      bestS = s;
    }
  }
  if (bestS < 0) return null;
  const states = new Int32Array(T),
    tids = new Int32Array(T);
  let s = bestS;
  tids[T - 1] = graph.finalTid[s];
  let ac = 0;
  for (let t = T - 1; t >= 0; t--) {
    states[t] = s;
    ac += emission(t, graph.localPdf[s]);
    if (t > 0) {
      const a = bp[t * S + s];
      tids[t - 1] = graph.arcTid[a];
      s = graph.arcFrom[a];
    }
  }
  return { states, tids, score: bestV, acousticLogLike: ac };
}

/** The acoustic side an aligner needs. */
export interface AcousticModel {
  am: AmDiagGmm;
  tm: TransitionModel;
  ctx: ContextDependency;
}

/**
 * Align a compiled graph against frames: too-few-frames check, beam, retry beam. With `spans`
 * (one per transcript word), first within them (beam, then retry beam); where no path keeps to
 * them, again without them (the alignment says `spans: 'dropped'`).
 */
export function alignGraph(
  uttId: string,
  graph: UttGraph,
  frames: readonly Frame[],
  model: AcousticModel,
  opts: AlignOptions = {},
  tidWeight?: Float64Array,
  spans: WordSpans | null = null,
): Alignment | AlignFailure {
  const T = frames.length;
  if (T < graph.minFrames) {
    return alignFailure(
      uttId,
      'too-few-frames',
      `transcript needs at least ${graph.minFrames} frames (one per HMM state), audio has ${T}`,
    );
  }
  const tw = tidWeight ?? transitionWeights(model.tm, opts);
  const em = gmmEmissions(model.am, graph, frames);
  const ac = opts.acousticScale ?? 0.1;
  const beams = [opts.beam ?? 10];
  const retry = opts.retryBeam ?? 40;
  if (retry > beams[0]) beams.push(retry);
  if (opts.unprunedRetry ?? true) beams.push(Infinity);
  const tries: [number, WordSpans | null][] = [];
  if (spans) for (const beam of beams) tries.push([beam, spans]);
  for (const beam of beams) tries.push([beam, null]);
  for (const [beam, sp] of tries) {
    const r = viterbi(graph, T, em, tw, beam, ac, sp);
    if (!r) continue;
    const pick = (arr: Int32Array) => Int32Array.from(r.states, (s) => arr[s]);
    return {
      ok: true,
      uttId,
      numFrames: T,
      pdf: pick(graph.pdf),
      tid: r.tids,
      phone: pick(graph.phone),
      hmmState: pick(graph.hmmState),
      word: pick(graph.word),
      acousticLogLike: r.acousticLogLike,
      score: r.score,
      beamUsed: beam,
      spans: spans ? (sp ? 'kept' : 'dropped') : 'none',
    };
  }
  return alignFailure(uttId, 'beam', `no path survived beam ${beams.join(' nor retry beam ')}`);
}

/** Compile the graph of a transcript and align it (gmm-align), within `spans` where given (see alignGraph). */
export function alignUtterance(
  uttId: string,
  frames: readonly Frame[],
  words: readonly string[],
  lang: LangModel,
  model: AcousticModel,
  opts: AlignOptions = {},
  tidWeight?: Float64Array,
  spans: WordSpans | null = null,
): Alignment | AlignFailure {
  const g = compileGraph(uttId, words, lang, model.ctx, model.tm, opts);
  if ('ok' in g) return g;
  if (spans && (spans.first.length !== words.length || spans.last.length !== words.length)) {
    throw new RangeError(`${uttId}: ${spans.first.length} word spans for ${words.length} words`);
  }
  return alignGraph(uttId, g, frames, model, opts, tidWeight, spans);
}
