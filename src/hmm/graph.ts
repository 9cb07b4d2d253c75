/**
 * Utterance graphs for forced alignment (Kaldi's compile-train-graphs, as a small FSA):
 * transcript words -> every pronunciation -> optional silence between words and at the edges ->
 * context-dependent phones (triphone copies per distinct left/right neighbour) -> HMM states.
 * Every graph state emits one frame; arcs carry a transition id (tid) and a lexicon log weight
 * (log of the silence probability / its complement). Transition probabilities and scales are applied
 * at alignment time, so a graph can be reused across training iterations.
 */
import { PhoneSet, SIL } from '../lang/phones.ts';
import type { Lexicon } from '../lang/lexicon.ts';
import { Rng, hashString32 } from '../util/rng.ts';
import { phoneCoverage, type ContextDependency } from './context.ts';
import type { TransitionModel } from './transitions.ts';
import { TreeError, alignFailure, type AlignFailure } from './errors.ts';

export interface GraphOptions {
  /** Probability of silence between two words (Kaldi prepare_lang --sil-prob). Default 0.5. */
  optionalSilenceProb?: number;
  /**
   * Silence at the utterance start and end: 'optional' (same probability as between words, as
   * Kaldi's L.fst), 'required', or 'none'. Default 'optional'.
   */
  edgeSilence?: 'optional' | 'required' | 'none';
  /** The silence phone. Default 'SIL'. */
  silencePhone?: string;
}

export interface UttGraph {
  numStates: number;
  /** Per state. */
  pdf: Int32Array;
  phone: Int32Array;
  hmmState: Int32Array;
  /** Index of the transcript word the state belongs to; -1 for optional silence. */
  word: Int32Array;
  /** Index of the distinct pdfs of this graph (for per-utterance likelihood caches). */
  localPdf: Int32Array;
  localPdfs: Int32Array;
  /** Arcs in CSR order by source state. */
  arcStart: Int32Array;
  arcFrom: Int32Array;
  arcTo: Int32Array;
  arcTid: Int32Array;
  arcLex: Float64Array;
  initState: Int32Array;
  initLex: Float64Array;
  /** -Infinity for non-final states; else the lexicon weight of ending here. */
  finalLex: Float64Array;
  finalTid: Int32Array;
  /** Fewest frames any path takes (each state emits one frame). */
  minFrames: number;
}

/** The language side an aligner needs. */
export interface LangModel {
  phones: PhoneSet;
  lexicon: Lexicon;
}

interface PhoneNode {
  phone: number;
  word: number;
}
interface PArc {
  from: number;
  to: number;
  w: number;
} // from -1 = start, to -1 = final

/** Look up pronunciations; returns the OOV words if some are missing. */
export function pronunciationsFor(
  words: readonly string[],
  lang: LangModel,
): { prons: number[][][] } | { oovs: string[] } {
  const prons: number[][][] = [];
  const oovs: string[] = [];
  for (const w of words) {
    const p = lang.lexicon.get(w);
    if (!p || p.length === 0) {
      oovs.push(w);
      continue;
    }
    prons.push(p.map((pr) => pr.map((ph) => lang.phones.id(ph))));
  }
  return oovs.length > 0 ? { oovs: [...new Set(oovs)] } : { prons };
}

/** Build the phone-level FSA: nodes are phone instances, arcs carry lexicon log weights. */
function phoneFsa(prons: number[][][], silId: number, opts: GraphOptions): { nodes: PhoneNode[]; arcs: PArc[] } {
  const p = opts.optionalSilenceProb ?? 0.5;
  const edge = opts.edgeSilence ?? 'optional';
  const nodes: PhoneNode[] = [];
  const arcs: PArc[] = [];
  // tails: (node, weight) pairs that flow into the next junction; -1 = start.
  let tails: { node: number; w: number }[] = [{ node: -1, w: 0 }];
  const junction = (isEdge: boolean): void => {
    const mode = isEdge ? edge : 'optional';
    if (mode === 'none' || p <= 0) return;
    const sil = nodes.push({ phone: silId, word: -1 }) - 1;
    const pSil = mode === 'required' ? 1 : Math.min(1, p);
    const next: { node: number; w: number }[] = [];
    for (const t of tails) {
      arcs.push({ from: t.node, to: sil, w: t.w + Math.log(pSil) });
      if (pSil < 1) next.push({ node: t.node, w: t.w + Math.log(1 - pSil) });
    }
    next.push({ node: sil, w: 0 });
    tails = next;
  };
  for (let wi = 0; wi < prons.length; wi++) {
    junction(wi === 0);
    const newTails: { node: number; w: number }[] = [];
    for (const pron of prons[wi]) {
      let prev = -2;
      for (let k = 0; k < pron.length; k++) {
        const n = nodes.push({ phone: pron[k], word: wi }) - 1;
        if (k === 0) for (const t of tails) arcs.push({ from: t.node, to: n, w: t.w });
        else arcs.push({ from: prev, to: n, w: 0 });
        prev = n;
      }
      newTails.push({ node: prev, w: 0 });
    }
    tails = newTails;
  }
  junction(true);
  for (const t of tails) arcs.push({ from: t.node, to: -1, w: t.w });
  return { nodes, arcs };
}

/**
 * Compile the HMM-state graph of a transcript. Returns an AlignFailure for an empty transcript or
 * OOV words (the caller counts them as skips).
 */
export function compileGraph(
  uttId: string,
  words: readonly string[],
  lang: LangModel,
  ctx: ContextDependency,
  tm: TransitionModel,
  opts: GraphOptions = {},
): UttGraph | AlignFailure {
  if (words.length === 0) return alignFailure(uttId, 'empty-transcript', 'transcript has no words');
  const pr = pronunciationsFor(words, lang);
  if ('oovs' in pr)
    return alignFailure(uttId, 'oov', `no pronunciation for ${pr.oovs.map((w) => `'${w}'`).join(', ')}`);
  // Alternative pronunciations with a phone the model lacks are left out; a word fails only when none is left.
  const covered = phoneCoverage(ctx);
  const prons = pr.prons.map((ps) => ps.filter((p) => p.every(covered)));
  const bare = prons.findIndex((ps) => ps.length === 0);
  if (bare >= 0) {
    const missing = [...new Set(pr.prons[bare].flat().filter((p) => !covered(p)))].map((p) => lang.phones.symbol(p));
    return alignFailure(
      uttId,
      'phone-not-in-tree',
      `every pronunciation of '${words[bare]}' has a phone the model has no pdfs for (${missing.join(', ')})`,
    );
  }
  const silId = lang.phones.id(opts.silencePhone ?? SIL);
  const { nodes, arcs } = phoneFsa(prons, silId, opts);
  try {
    return expandFsa(nodes, arcs, ctx, tm);
  } catch (e) {
    if (e instanceof TreeError) return alignFailure(uttId, 'phone-not-in-tree', e.message);
    throw e;
  }
}

/** The graph's HMM states as parallel lists, in creation order. */
interface StateLists {
  pdf: number[];
  phone: number[];
  hmmState: number[];
  word: number[];
}

/** The graph's arcs as parallel lists, with its start states and final weights. */
interface ArcLists {
  from: number[];
  to: number[];
  tid: number[];
  lex: number[];
  initState: number[];
  initLex: number[];
  finalLex: Float64Array;
  finalTid: Int32Array;
}

/** Context copies of each phone node: `${left},${right}` -> the copy's first state. */
type ContextCopies = Map<string, number>[];

/** Phone of FSA node n as a context (0 at the start, the end, and for context-independent models). */
type ContextPhone = (n: number) => number;

/** Expand the phone FSA into HMM states: context copies of each phone, their states and arcs, CSR-packed. */
function expandFsa(nodes: PhoneNode[], arcs: PArc[], ctx: ContextDependency, tm: TransitionModel): UttGraph {
  const cd = ctx.contextWidth === 3;
  const ph: ContextPhone = (n) => (n < 0 || !cd ? 0 : nodes[n].phone);
  const { states, copies } = contextCopies(nodes, arcs, ph, ctx, tm);
  const S = states.pdf.length;
  const out: ArcLists = {
    from: [],
    to: [],
    tid: [],
    lex: [],
    initState: [],
    initLex: [],
    finalLex: new Float64Array(S).fill(-Infinity),
    finalTid: new Int32Array(S).fill(-1),
  };
  withinPhoneArcs(nodes, copies, tm, out);
  crossPhoneArcs(nodes, arcs, copies, ph, tm, out);
  return packGraph(states, out);
}

/**
 * One copy of each phone node per (left, right) context it occurs in, with the states of its HMM
 * topology and their pdfs from the context-dependency tree (contexts in ascending order).
 */
function contextCopies(
  nodes: PhoneNode[],
  arcs: PArc[],
  ph: ContextPhone,
  ctx: ContextDependency,
  tm: TransitionModel,
): { states: StateLists; copies: ContextCopies } {
  const lefts = nodes.map(() => new Set<number>());
  const rights = nodes.map(() => new Set<number>());
  for (const a of arcs) {
    if (a.to >= 0) lefts[a.to].add(ph(a.from));
    if (a.from >= 0) rights[a.from].add(a.to < 0 ? 0 : ph(a.to));
  }
  const states: StateLists = { pdf: [], phone: [], hmmState: [], word: [] };
  const copies: ContextCopies = nodes.map(() => new Map());
  nodes.forEach((nd, i) => {
    const t = tm.topology.forPhone(nd.phone);
    for (const l of [...lefts[i]].sort((a, b) => a - b)) {
      for (const r of [...rights[i]].sort((a, b) => a - b)) {
        copies[i].set(`${l},${r}`, states.pdf.length);
        t.states.forEach((st, s) => {
          states.pdf.push(ctx.pdf(l, nd.phone, r, st.pdfClass));
          states.phone.push(nd.phone);
          states.hmmState.push(s);
          states.word.push(nd.word);
        });
      }
    }
  });
  return { states, copies };
}

/** The topology's transitions inside each context copy (self-loops and forward arcs). */
function withinPhoneArcs(nodes: PhoneNode[], copies: ContextCopies, tm: TransitionModel, out: ArcLists): void {
  nodes.forEach((nd, i) => {
    const t = tm.topology.forPhone(nd.phone);
    for (const first of copies[i].values()) {
      t.states.forEach((st, s) => {
        st.transitions.forEach((tr, k) => {
          if (tr.to < t.numStates) {
            out.from.push(first + s);
            out.to.push(first + tr.to);
            out.tid.push(tm.tid(nd.phone, s, k));
            out.lex.push(0);
          }
        });
      });
    }
  });
}

/**
 * The FSA's arcs between phones: from each exit transition of a copy whose right context is the
 * next phone to each copy of that phone whose left context matches, carrying the lexicon weight;
 * arcs from the start become start states, arcs to the end final weights (the best one per state).
 */
function crossPhoneArcs(
  nodes: PhoneNode[],
  arcs: PArc[],
  copies: ContextCopies,
  ph: ContextPhone,
  tm: TransitionModel,
  out: ArcLists,
): void {
  for (const a of arcs) {
    const srcCopies: [number, number][] = []; // (firstState, phone) of copies of a.from whose right context matches
    if (a.from >= 0) {
      const want = a.to < 0 ? 0 : ph(a.to);
      for (const [key, first] of copies[a.from])
        if (Number(key.split(',')[1]) === want) srcCopies.push([first, nodes[a.from].phone]);
    }
    const dstFirsts: number[] = [];
    if (a.to >= 0) {
      const want = ph(a.from);
      for (const [key, first] of copies[a.to]) if (Number(key.split(',')[0]) === want) dstFirsts.push(first);
    }
    if (a.from < 0) {
      for (const d of dstFirsts) {
        out.initState.push(d);
        out.initLex.push(a.w);
      }
      continue;
    }
    for (const [first, p] of srcCopies) {
      const t = tm.topology.forPhone(p);
      t.states.forEach((st, s) => {
        st.transitions.forEach((tr, k) => {
          if (tr.to !== t.numStates) return;
          const tid = tm.tid(p, s, k);
          if (a.to < 0) {
            if (a.w > out.finalLex[first + s]) {
              out.finalLex[first + s] = a.w;
              out.finalTid[first + s] = tid;
            }
          } else {
            for (const d of dstFirsts) {
              out.from.push(first + s);
              out.to.push(d);
              out.tid.push(tid);
              out.lex.push(a.w);
            }
          }
        });
      });
    }
  }
}

/** The UttGraph: arcs in CSR order by source state (stable), local pdf indices, and its fewest frames. */
function packGraph(states: StateLists, arcs: ArcLists): UttGraph {
  const { pdf } = states,
    { from, to } = arcs;
  const S = pdf.length;
  const order = from.map((_, i) => i).sort((x, y) => from[x] - from[y] || x - y);
  const arcStart = new Int32Array(S + 1);
  for (const f of from) arcStart[f + 1]++;
  for (let s = 0; s < S; s++) arcStart[s + 1] += arcStart[s];
  const pdfArr = Int32Array.from(pdf);
  const uniq = [...new Set(pdf)].sort((a, b) => a - b);
  const li = new Map(uniq.map((p, i) => [p, i]));
  const g: UttGraph = {
    numStates: S,
    pdf: pdfArr,
    phone: Int32Array.from(states.phone),
    hmmState: Int32Array.from(states.hmmState),
    word: Int32Array.from(states.word),
    localPdfs: Int32Array.from(uniq),
    localPdf: Int32Array.from(pdf, (p) => li.get(p)!),
    arcStart,
    arcFrom: Int32Array.from(order, (i) => from[i]),
    arcTo: Int32Array.from(order, (i) => to[i]),
    arcTid: Int32Array.from(order, (i) => arcs.tid[i]),
    arcLex: Float64Array.from(order, (i) => arcs.lex[i]),
    initState: Int32Array.from(arcs.initState),
    initLex: Float64Array.from(arcs.initLex),
    finalLex: arcs.finalLex,
    finalTid: arcs.finalTid,
    minFrames: 0,
  };
  g.minFrames = minFrames(g);
  return g;
}

function minFrames(g: UttGraph): number {
  const dist = new Int32Array(g.numStates).fill(-1);
  const queue: number[] = [];
  for (const s of g.initState)
    if (dist[s] < 0) {
      dist[s] = 1;
      queue.push(s);
    }
  let best = Infinity;
  for (let qi = 0; qi < queue.length; qi++) {
    const s = queue[qi];
    if (g.finalLex[s] > -Infinity) best = Math.min(best, dist[s]);
    for (let a = g.arcStart[s]; a < g.arcStart[s + 1]; a++) {
      const d = g.arcTo[a];
      if (dist[d] < 0) {
        dist[d] = dist[s] + 1;
        queue.push(d);
      }
    }
  }
  return best;
}

/** A frame-level alignment in Kaldi's terms: pdf and transition id per frame. */
export interface FrameAlignment {
  uttId: string;
  pdf: Int32Array;
  tid: Int32Array;
}

/**
 * Equal-length initial alignment (Kaldi align-equal-compiled): one random path through the
 * transcript (pronunciation and optional silences drawn with the graph's probabilities, seeded by
 * seed and uttId), each phone's states visited left to right, frames shared out equally.
 */
export function equalAlign(
  uttId: string,
  numFrames: number,
  words: readonly string[],
  lang: LangModel,
  ctx: ContextDependency,
  tm: TransitionModel,
  opts: GraphOptions & { seed?: number } = {},
): FrameAlignment | AlignFailure {
  if (words.length === 0) return alignFailure(uttId, 'empty-transcript', 'transcript has no words');
  const pr = pronunciationsFor(words, lang);
  if ('oovs' in pr)
    return alignFailure(uttId, 'oov', `no pronunciation for ${pr.oovs.map((w) => `'${w}'`).join(', ')}`);
  const rng = new Rng((hashString32(uttId) ^ (opts.seed ?? 0)) >>> 0);
  const p = opts.optionalSilenceProb ?? 0.5;
  const edge = opts.edgeSilence ?? 'optional';
  const silId = lang.phones.id(opts.silencePhone ?? SIL);
  const seq: number[] = [];
  const maybeSil = (isEdge: boolean) => {
    const mode = isEdge ? edge : 'optional';
    if (mode === 'required' || (mode === 'optional' && rng.next() < p)) seq.push(silId);
  };
  pr.prons.forEach((prons, wi) => {
    maybeSil(wi === 0);
    seq.push(...prons[rng.int(prons.length)]);
  });
  maybeSil(true);
  const topo = tm.topology;
  const states: { phone: number; s: number; pdf: number }[] = [];
  try {
    seq.forEach((phn, i) => {
      const t = topo.forPhone(phn);
      const l = ctx.contextWidth === 3 && i > 0 ? seq[i - 1] : 0;
      const r = ctx.contextWidth === 3 && i + 1 < seq.length ? seq[i + 1] : 0;
      for (let s = 0; s < t.numStates; s++)
        states.push({ phone: phn, s, pdf: ctx.pdf(l, phn, r, t.states[s].pdfClass) });
    });
  } catch (e) {
    if (e instanceof TreeError) return alignFailure(uttId, 'phone-not-in-tree', e.message);
    throw e;
  }
  if (numFrames < states.length) {
    return alignFailure(
      uttId,
      'too-few-frames',
      `transcript needs at least ${states.length} frames on the equal-alignment path, audio has ${numFrames}`,
    );
  }
  const pdf = new Int32Array(numFrames),
    tid = new Int32Array(numFrames);
  const N = states.length;
  for (let i = 0; i < N; i++) {
    const a = Math.floor((i * numFrames) / N),
      b = Math.floor(((i + 1) * numFrames) / N);
    const st = states[i];
    const trs = topo.forPhone(st.phone).states[st.s].transitions;
    const selfK = trs.findIndex((tr) => tr.to === st.s);
    const fwdK = trs.findIndex((tr) => tr.to === st.s + 1);
    for (let f = a; f < b; f++) {
      pdf[f] = st.pdf;
      tid[f] = tm.tid(st.phone, st.s, f < b - 1 ? selfK : fwdK);
    }
  }
  return { uttId, pdf, tid };
}
