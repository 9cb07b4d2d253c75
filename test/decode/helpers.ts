/**
 * Hand-made decoding problems: a toy phone model (monophone or context-dependent), random
 * lexicons, Kneser-Ney LMs trained on random text (src/lm), and synthetic posteriors generated
 * from a known word sequence and alignment, plus an exhaustive reference search.
 */
import { Rng } from '../../src/util/rng.ts';
import type { Logger } from '../../src/util/log.ts';
import { estimateKneserNey } from '../../src/lm/kneser-ney.ts';
import { formatArpa, parseArpa, type ArpaData } from '../../src/lm/arpa.ts';
import { BackoffLm } from '../../src/lm/model.ts';
import type { Sentence } from '../../src/lm/text.ts';
import { hybridScores } from '../../src/decode/hybrid.ts';
import { SearchLm } from '../../src/decode/search-lm.ts';
import type { DecoderLexicon, PhoneContextModel, PhoneHmm, ScoreMatrix } from '../../src/decode/types.ts';

export const SIL_ID = 1;

export const quiet: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  progress: () => ({ tick() {}, done() {} }),
};

/** |a - b| <= tol, with a message naming the case. */
export function expectClose(a: number, b: number, tol: number, what: string): void {
  if (!(Math.abs(a - b) <= tol)) throw new Error(`${what}: ${a} vs ${b} differ by ${Math.abs(a - b)} > ${tol}`);
}

const ctxClass = (p: number): number => (p === 0 ? 0 : 1 + (p % 2));

/**
 * Phones 1..numPhones (1 = silence, Kaldi's 5-state topology; others 3-state left-to-right with
 * 0.75 self-loops). With contextWidth 3, the first state's senone depends on the left phone's class
 * and the last state's on the right phone's class (0 = edge, odd, even), silence included.
 */
export function toyModel(numPhones: number, contextWidth: 1 | 3): PhoneContextModel {
  const P = numPhones + 1;
  const nStates = (c: number) => (c === SIL_ID ? 5 : 3);
  const perPhone = (c: number) => (contextWidth === 1 ? nStates(c) : nStates(c) + 4);
  const base: number[] = [0];
  let total = 0;
  for (let c = 1; c < P; c++) {
    base[c] = total;
    total += perPhone(c);
  }
  const l = Math.log;
  const silHmm: PhoneHmm = {
    numStates: 5,
    arcs: [
      ...[0, 1, 2, 3].map((to) => ({ from: 0, to, logProb: l(0.25) })),
      ...[1, 2, 3].flatMap((from) => [1, 2, 3, 4].map((to) => ({ from, to, logProb: l(0.25) }))),
      { from: 4, to: 4, logProb: l(0.75) },
      { from: 4, to: 5, logProb: l(0.25) },
    ],
  };
  const phoneHmm: PhoneHmm = {
    numStates: 3,
    arcs: [0, 1, 2].flatMap((s) => [
      { from: s, to: s, logProb: l(0.75) },
      { from: s, to: s + 1, logProb: l(0.25) },
    ]),
  };
  return {
    numPhoneIds: P,
    numPdfs: total,
    silencePhone: SIL_ID,
    hmm: (c) => (c === SIL_ID ? silHmm : phoneHmm),
    pdf: (left, c, right, k) => {
      if (!(c >= 1 && c < P)) throw new RangeError(`phone ${c}`);
      const last = nStates(c) - 1;
      if (contextWidth === 1) return base[c] + k;
      if (k === 0) return base[c] + ctxClass(left);
      if (k === last) return base[c] + 3 + ctxClass(right);
      return base[c] + 6 + (k - 1);
    },
  };
}

export interface ToyLexiconOptions {
  numWords: number;
  /** Non-silence phones are 2..numPhones. */
  numPhones: number;
  minLen?: number;
  maxLen?: number;
  /** Fraction of words with a second pronunciation. */
  altFraction?: number;
}

/** Random words W0.. with distinct pronunciations (no homophones). */
export function toyLexicon(rng: Rng, o: ToyLexiconOptions): DecoderLexicon {
  const minLen = o.minLen ?? 2,
    maxLen = o.maxLen ?? 4;
  const seen = new Set<string>();
  const words: string[] = [];
  const prons: { word: number; phones: number[] }[] = [];
  const fresh = (): number[] => {
    for (;;) {
      const n = minLen + rng.int(maxLen - minLen + 1);
      const p = Array.from({ length: n }, () => 2 + rng.int(o.numPhones - 1));
      const k = p.join(' ');
      if (!seen.has(k)) {
        seen.add(k);
        return p;
      }
    }
  };
  for (let w = 0; w < o.numWords; w++) {
    words.push(`W${w}`);
    prons.push({ word: w, phones: fresh() });
    if (rng.next() < (o.altFraction ?? 0.2)) prons.push({ word: w, phones: fresh() });
  }
  return { words, prons };
}

/** Random text: a sparse random bigram chain over the words, sentences of 1..maxLen words. */
export function randomText(rng: Rng, words: readonly string[], numSentences: number, maxLen = 6): Sentence[] {
  const V = words.length;
  const succ = words.map(() => Array.from({ length: 3 }, () => rng.int(V)));
  const out: Sentence[] = [];
  for (let i = 0; i < numSentences; i++) {
    const n = 1 + rng.int(maxLen);
    let w = rng.int(V);
    const s: string[] = [];
    for (let k = 0; k < n; k++) {
      s.push(words[w]);
      w = rng.next() < 0.8 ? succ[w][rng.int(3)] : rng.int(V);
    }
    out.push({ words: s, line: i + 1 });
  }
  return out;
}

/** A Kneser-Ney LM as ARPA data (through the ARPA text, as a file would be). */
export function trainArpa(sentences: Sentence[], order = 3): ArpaData {
  return parseArpa(formatArpa(estimateKneserNey(sentences, { order, logger: quiet })));
}

export function lmPair(data: ArpaData): { search: SearchLm; backoff: BackoffLm } {
  return { search: new SearchLm(data), backoff: new BackoffLm(data) };
}

export interface SyntheticUtt {
  scores: ScoreMatrix;
  /** Truth: per word, first and last frame. */
  words: { word: string; startFrame: number; endFrame: number }[];
  /** Senone per frame. */
  pdfs: number[];
}

export interface SynthOptions {
  /** Probability of silence at each junction (edges included). */
  silenceProb?: number;
  /** Frames per HMM state: 1..maxDur. */
  maxDur?: number;
  /** Logit of the true senone above the others. */
  peak?: number;
  /** Standard deviation of Gaussian logit noise on every senone. */
  noise?: number;
  acousticScale?: number;
}

/**
 * Posteriors from a known word sequence: a random pronunciation per word, optional silences,
 * random state durations, the true senone's logit `peak` above noisy others, softmax, then hybrid
 * scores with uniform priors.
 */
export function synthesize(
  rng: Rng,
  wordSeq: readonly string[],
  lex: DecoderLexicon,
  am: PhoneContextModel,
  o: SynthOptions = {},
): SyntheticUtt {
  const silP = o.silenceProb ?? 0.3,
    maxDur = o.maxDur ?? 3,
    peak = o.peak ?? 4,
    noise = o.noise ?? 1;
  const units: { phone: number; word: number }[] = [];
  const junction = () => {
    if (rng.next() < silP) units.push({ phone: am.silencePhone, word: -1 });
  };
  wordSeq.forEach((w, wi) => {
    junction();
    const id = lex.words.indexOf(w);
    const ps = lex.prons.filter((p) => p.word === id);
    if (!ps.length) throw new Error(`no pronunciation for ${w}`);
    for (const ph of ps[rng.int(ps.length)].phones) units.push({ phone: ph, word: wi });
  });
  junction();
  const pdfs: number[] = [];
  const first = wordSeq.map(() => Infinity),
    last = wordSeq.map(() => -1);
  units.forEach((u, i) => {
    const l = i > 0 ? units[i - 1].phone : 0,
      r = i + 1 < units.length ? units[i + 1].phone : 0;
    const n = am.hmm(u.phone).numStates;
    for (let k = 0; k < n; k++) {
      const d = 1 + rng.int(maxDur);
      for (let f = 0; f < d; f++) {
        if (u.word >= 0) {
          first[u.word] = Math.min(first[u.word], pdfs.length);
          last[u.word] = pdfs.length;
        }
        pdfs.push(am.pdf(l, u.phone, r, k));
      }
    }
  });
  const T = pdfs.length,
    D = am.numPdfs;
  const post = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    let z = 0;
    for (let s = 0; s < D; s++) {
      const v = Math.exp((s === pdfs[t] ? peak : 0) + noise * rng.gauss());
      post[t * D + s] = v;
      z += v;
    }
    for (let s = 0; s < D; s++) post[t * D + s] /= z;
  }
  const logPriors = new Float64Array(D).fill(-Math.log(D));
  return {
    scores: hybridScores(post, T, logPriors, { acousticScale: o.acousticScale ?? 1 }),
    words: wordSeq.map((word, i) => ({ word, startFrame: first[i], endFrame: last[i] })),
    pdfs,
  };
}

/** Scores drawn independently per frame and senone (no underlying truth). */
export function randomScores(rng: Rng, numFrames: number, numPdfs: number, sd = 1): ScoreMatrix {
  const data = new Float32Array(numFrames * numPdfs);
  for (let i = 0; i < data.length; i++) data[i] = sd * rng.gauss();
  return { numFrames, numPdfs, data };
}

export interface BruteForceOptions {
  silenceProb: number;
  lmWeight: number;
  wordInsertionPenalty: number;
}

/**
 * Exhaustive search, independent of the decoder: every word sequence, every pronunciation and every
 * silence choice that fits the frames; for each, an exact Viterbi over the linear chain of HMM states
 * (contexts from the neighbours, 0 at the edges), plus LM (BackoffLm), silence and penalty weights.
 */
export function bruteForce(
  scores: ScoreMatrix,
  lex: DecoderLexicon,
  am: PhoneContextModel,
  lm: BackoffLm,
  o: BruteForceOptions,
): { score: number; words: string[] } {
  const T = scores.numFrames,
    D = scores.numPdfs;
  const minFrames = (ph: number) => (ph === am.silencePhone ? 3 : am.hmm(ph).numStates);
  let best = -Infinity,
    bestWords: string[] = [];
  const lSil = Math.log(o.silenceProb),
    lNo = Math.log(1 - o.silenceProb);
  const chainScore = (units: number[]): number => {
    // Linear chain of all HMM states; entry at state 0 of each phone.
    const st: { pdf: number; arcs: { to: number; w: number }[] }[] = [];
    units.forEach((ph, i) => {
      const l = i > 0 ? units[i - 1] : 0,
        r = i + 1 < units.length ? units[i + 1] : 0;
      const h = am.hmm(ph);
      const off = st.length;
      for (let k = 0; k < h.numStates; k++) st.push({ pdf: am.pdf(l, ph, r, k), arcs: [] });
      for (const a of h.arcs) st[off + a.from].arcs.push({ to: off + a.to, w: a.logProb }); // to = next phone's state 0 on exit
    });
    const S = st.length;
    let v = new Float64Array(S + 1).fill(-Infinity);
    v[0] = scores.data[st[0].pdf];
    for (let t = 1; t < T; t++) {
      const nv = new Float64Array(S + 1).fill(-Infinity);
      for (let s = 0; s < S; s++) {
        if (v[s] === -Infinity) continue;
        for (const a of st[s].arcs) {
          if (a.to >= S) continue;
          const x = v[s] + a.w + scores.data[t * D + st[a.to].pdf];
          if (x > nv[a.to]) nv[a.to] = x;
        }
      }
      v = nv;
    }
    let fin = -Infinity;
    // Exit from the last phone.
    const lastOff = S - am.hmm(units[units.length - 1]).numStates;
    for (let s = lastOff; s < S; s++)
      for (const a of st[s].arcs) if (a.to === S && v[s] > -Infinity) fin = Math.max(fin, v[s] + a.w);
    return fin;
  };
  const pronsOf = lex.words.map((_, w) => lex.prons.filter((p) => p.word === w).map((p) => p.phones));
  const rec = (words: number[], units: number[], lexW: number, frames: number): void => {
    // Option: end here (junction after the last word, or the single junction of an empty sequence).
    for (const sil of [false, true]) {
      if (words.length === 0 && !sil) continue;
      const u = sil ? [...units, am.silencePhone] : units;
      const f = frames + (sil ? minFrames(am.silencePhone) : 0);
      if (f > T || u.length === 0) continue;
      const lmLog10 = lm.scoreSentence(words.map((w) => lex.words[w])).reduce((a, x) => a + (x.logProb ?? NaN), 0);
      const total =
        chainScore(u) +
        lexW +
        (sil ? lSil : lNo) +
        o.lmWeight * lmLog10 * Math.LN10 -
        o.wordInsertionPenalty * words.length;
      if (total > best) {
        best = total;
        bestWords = words.map((w) => lex.words[w]);
      }
    }
    // Option: another word.
    for (let w = 0; w < lex.words.length; w++) {
      for (const p of pronsOf[w]) {
        for (const sil of [false, true]) {
          const u = [...units, ...(sil ? [am.silencePhone] : []), ...p];
          const f = frames + (sil ? minFrames(am.silencePhone) : 0) + p.reduce((a, ph) => a + minFrames(ph), 0);
          if (f > T) continue;
          rec([...words, w], u, lexW + (sil ? lSil : lNo), f);
        }
      }
    }
  };
  rec([], [], 0, 0);
  return { score: best, words: bestWords };
}
