import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/util/rng.ts';
import { Topology } from '../../src/hmm/topology.ts';
import { TransitionModel } from '../../src/hmm/transitions.ts';
import { MonophoneContext } from '../../src/hmm/context.ts';
import { AmDiagGmm, DiagGmm } from '../../src/hmm/gmm.ts';
import { compileGraph, type UttGraph } from '../../src/hmm/graph.ts';
import { alignGraph, alignUtterance, type AcousticModel } from '../../src/hmm/align.ts';
import { toyLexicon, toyPhones } from './helpers.ts';
import { TreeError } from '../../src/hmm/errors.ts';

const phones = toyPhones();
const lang = { phones, lexicon: toyLexicon() };
const topo = new Topology(phones);

function model(dim: number, rng: Rng, spread: number): AcousticModel {
  const tm = new TransitionModel(topo);
  const ctx = new MonophoneContext(topo);
  const am = new AmDiagGmm(
    Array.from({ length: ctx.numPdfs }, () =>
      DiagGmm.single(
        Array.from({ length: dim }, () => spread * rng.gauss()),
        new Array(dim).fill(1),
      ),
    ),
  );
  return { am, tm, ctx };
}

/** Random walk through the graph with its true probabilities, emitting from each state's Gaussian. */
function sample(g: UttGraph, m: AcousticModel, rng: Rng): { states: number[]; frames: Float32Array[] } {
  const pickInit = rng.weighted(Array.from(g.initLex, Math.exp));
  let s = g.initState[pickInit];
  const states: number[] = [];
  for (;;) {
    states.push(s);
    const opts: { to: number; p: number }[] = [];
    for (let a = g.arcStart[s]; a < g.arcStart[s + 1]; a++)
      opts.push({ to: g.arcTo[a], p: m.tm.probs[g.arcTid[a]] * Math.exp(g.arcLex[a]) });
    if (g.finalLex[s] > -Infinity) opts.push({ to: -1, p: m.tm.probs[g.finalTid[s]] * Math.exp(g.finalLex[s]) });
    const k = rng.weighted(opts.map((o) => o.p));
    if (opts[k].to < 0) break;
    s = opts[k].to;
  }
  const frames = states.map((st) => {
    const gm = m.am.gmms[g.pdf[st]];
    return Float32Array.from({ length: gm.dim }, (_, j) => gm.means[j] + Math.sqrt(gm.vars[j]) * rng.gauss());
  });
  return { states, frames };
}

describe('Viterbi forced alignment', () => {
  it('recovers the state path of an HMM sampled from known Gaussians', () => {
    const rng = new Rng(11);
    const m = model(8, rng, 2);
    const g = compileGraph('u', ['TAB', 'SIT', 'BAA'], lang, m.ctx, m.tm, { optionalSilenceProb: 0.5 });
    if ('ok' in g) throw new Error(g.message);
    let agree = 0,
      total = 0,
      exactPaths = 0;
    for (let trial = 0; trial < 20; trial++) {
      const { states, frames } = sample(g, m, rng);
      const r = alignGraph('u', g, frames, m, { acousticScale: 1, selfLoopScale: 1, beam: 30 });
      if (!r.ok) throw new Error(r.message);
      const hyp = Array.from(r.pdf);
      const ref = states.map((s) => g.pdf[s]);
      for (let t = 0; t < ref.length; t++) if (hyp[t] === ref[t]) agree++;
      total += ref.length;
      if (hyp.join() === ref.join()) exactPaths++;
      // Word labels follow the path: silence frames are -1, others index the transcript.
      if (hyp.join() === ref.join()) expect(Array.from(r.word)).toEqual(states.map((st) => g.word[st]));
    }
    expect(agree / total).toBeGreaterThan(0.97);
    expect(exactPaths).toBeGreaterThanOrEqual(8);
  });

  it('scores with random means fail to recover the path (the test above can fail)', () => {
    const rng = new Rng(11);
    const m = model(8, rng, 2);
    const wrong = model(8, new Rng(99), 2);
    const g = compileGraph('u', ['TAB', 'SIT', 'BAA'], lang, m.ctx, m.tm);
    if ('ok' in g) throw new Error(g.message);
    const { states, frames } = sample(g, m, rng);
    const r = alignGraph('u', g, frames, wrong, { acousticScale: 1, selfLoopScale: 1, beam: 30 });
    if (!r.ok) throw new Error(r.message);
    const same = Array.from(r.pdf).filter((p, t) => p === g.pdf[states[t]]).length;
    expect(same / states.length).toBeLessThan(0.9);
  });

  it('counts a transcript longer than the audio allows as a too-few-frames failure', () => {
    const m = model(4, new Rng(1), 2);
    const frames = Array.from({ length: 10 }, () => new Float32Array(4));
    const r = alignUtterance('short1', frames, ['BIKS', 'SIT'], lang, m, { edgeSilence: 'none' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe('too-few-frames');
    expect(r.message).toContain('at least 21 frames');
    expect(r.message).toContain('audio has 10');
    expect(r.uttId).toBe('short1');
  });

  it('reports OOV words and empty transcripts as counted failures naming the words', () => {
    const m = model(4, new Rng(1), 2);
    const frames = Array.from({ length: 50 }, () => new Float32Array(4));
    const oov = alignUtterance('u2', frames, ['BAA', 'ZZYZX', 'QQ'], lang, m);
    expect(oov.ok).toBe(false);
    if (!oov.ok) {
      expect(oov.reason).toBe('oov');
      expect(oov.message).toContain("'ZZYZX', 'QQ'");
    }
    const empty = alignUtterance('u3', frames, [], lang, m);
    expect(empty.ok).toBe(false);
    if (!empty.ok) expect(empty.reason).toBe('empty-transcript');
  });

  it('fails with the beam reason when no path survives either beam, and succeeds with the retry beam', () => {
    const rng = new Rng(5);
    const m = model(8, rng, 3);
    const g = compileGraph('u', ['KIY', 'BAA'], lang, m.ctx, m.tm, { edgeSilence: 'none', optionalSilenceProb: 0 });
    if ('ok' in g) throw new Error(g.message);
    // Every frame looks like K's first state: a zero beam keeps only the best state per frame,
    // which never leaves K, so no final state is reached; a wide retry beam finds the path.
    const k0 = m.am.gmms[m.ctx.pdf(0, phones.id('K'), 0, 0)];
    const frames = Array.from({ length: 20 }, () => Float32Array.from(k0.means));
    const narrow = alignGraph('u', g, frames, m, { beam: 1e-9, retryBeam: 0, acousticScale: 1, unprunedRetry: false });
    const retried = alignGraph('u', g, frames, m, {
      beam: 1e-9,
      retryBeam: 1e9,
      acousticScale: 1,
      unprunedRetry: false,
    });
    expect(narrow.ok).toBe(false);
    if (!narrow.ok) expect(narrow.reason).toBe('beam');
    expect(retried.ok).toBe(true);
    if (retried.ok) expect(retried.beamUsed).toBe(1e9);
    // By default a last, unpruned try aligns it anyway: the exact Viterbi path, the wide beam's.
    const unpruned = alignGraph('u', g, frames, m, { beam: 1e-9, retryBeam: 0, acousticScale: 1 });
    expect(unpruned.ok).toBe(true);
    if (unpruned.ok && retried.ok) {
      expect(unpruned.beamUsed).toBe(Infinity);
      expect(Array.from(unpruned.pdf)).toEqual(Array.from(retried.pdf));
    }
  });

  it('leaves out an alternative pronunciation with a phone the model lacks, and fails a word only when none is left', () => {
    const m = model(2, new Rng(3), 1);
    // A tree trained without S: no pdfs for it (as ContextTree throws for a phone with no root).
    const noS = {
      ...m,
      ctx: {
        contextWidth: 1 as const,
        numPdfs: m.ctx.numPdfs,
        pdf: (l: number, c: number, r: number, k: number) => {
          if (c === phones.id('S')) throw new TreeError("phone 'S' (pdf class 0) is missing from the tree", {});
          return m.ctx.pdf(l, c, r, k);
        },
      },
    };
    const g = compileGraph('u', ['TAB'], lang, noS.ctx, noS.tm, { edgeSilence: 'none' });
    expect('ok' in g).toBe(false);
    if (!('ok' in g)) {
      // Only T AA B is left: every state is one of its phones.
      const used = new Set(Array.from(g.phone, (p) => phones.symbol(p)));
      expect([...used].sort()).toEqual(['AA', 'B', 'T']);
      expect(g.minFrames).toBe(9);
    }
    const bad = compileGraph('u', ['TAB', 'SIT'], lang, noS.ctx, noS.tm);
    expect('ok' in bad && bad.reason).toBe('phone-not-in-tree');
    if ('ok' in bad)
      expect(bad.message).toMatch(/every pronunciation of 'SIT' has a phone the model has no pdfs for \(S\)/);
  });

  it('builds optional silence between words and at the edges with Kaldi probabilities', () => {
    const m = model(2, new Rng(1), 1);
    const g = compileGraph('u', ['BAA', 'KIY'], lang, m.ctx, m.tm, { optionalSilenceProb: 0.5 });
    if ('ok' in g) throw new Error(g.message);
    const silStates = Array.from(g.phone).filter((p) => p === phones.id('SIL')).length;
    expect(silStates).toBe(15); // three optional silences of 5 states
    expect(Array.from(g.initLex).map(Math.exp).sort()).toEqual([0.5, 0.5]);
    // Shortest path: no silence, 2 words x 2 phones x 3 states.
    expect(g.minFrames).toBe(12);
    const req = compileGraph('u', ['BAA'], lang, m.ctx, m.tm, { edgeSilence: 'required', optionalSilenceProb: 0.5 });
    if ('ok' in req) throw new Error(req.message);
    expect(req.minFrames).toBe(3 + 6 + 3);
  });
});

/** First and last frame of each transcript word on a state path (-1 where a word has none). */
function wordSpansOf(states: number[], g: UttGraph, numWords: number): { first: Int32Array; last: Int32Array } {
  const first = new Int32Array(numWords).fill(-1),
    last = new Int32Array(numWords).fill(-1);
  states.forEach((s, t) => {
    const w = g.word[s];
    if (w < 0) return;
    if (first[w] < 0) first[w] = t;
    last[w] = t;
  });
  return { first, last };
}

describe('Viterbi forced alignment within reference word spans', () => {
  const words = ['TAB', 'SIT', 'BAA'];

  it('keeps every word within its span where a model with wrong means would not, and says so', () => {
    const rng = new Rng(21);
    const m = model(8, rng, 2);
    const wrong = model(8, new Rng(77), 2);
    const g = compileGraph('u', words, lang, m.ctx, m.tm, { optionalSilenceProb: 0.5 });
    if ('ok' in g) throw new Error(g.message);
    let freeOutside = 0,
      checked = 0;
    for (let trial = 0; trial < 10; trial++) {
      const { states, frames } = sample(g, m, rng);
      const spans = wordSpansOf(states, g, words.length);
      const inside = (word: Int32Array) =>
        Array.from(word).every((w, t) => w < 0 || (t >= spans.first[w] && t <= spans.last[w]));
      const free = alignGraph('u', g, frames, wrong, { acousticScale: 1, selfLoopScale: 1, beam: 1e6 });
      const kept = alignGraph(
        'u',
        g,
        frames,
        wrong,
        { acousticScale: 1, selfLoopScale: 1, beam: 1e6 },
        undefined,
        spans,
      );
      if (!free.ok || !kept.ok) throw new Error('no alignment');
      expect(free.spans).toBe('none');
      expect(kept.spans).toBe('kept');
      expect(inside(kept.word)).toBe(true);
      if (!inside(free.word)) freeOutside++;
      checked++;
      // Every word is aligned, in order (the spans prune states, never the transcript).
      expect(new Set(Array.from(kept.word).filter((w) => w >= 0))).toEqual(new Set([0, 1, 2]));
    }
    expect(checked).toBe(10);
    expect(freeOutside).toBeGreaterThan(0);
  });

  it('with the true model and its own spans, gives the path it gives without them', () => {
    const rng = new Rng(11);
    const m = model(8, rng, 2);
    const g = compileGraph('u', words, lang, m.ctx, m.tm, { optionalSilenceProb: 0.5 });
    if ('ok' in g) throw new Error(g.message);
    const { frames } = sample(g, m, rng);
    const free = alignGraph('u', g, frames, m, { acousticScale: 1, selfLoopScale: 1, beam: 30 });
    if (!free.ok) throw new Error(free.message);
    const spans = { first: new Int32Array(3), last: new Int32Array(3) };
    for (let w = 0; w < 3; w++) {
      const ts = Array.from(free.word).flatMap((x, t) => (x === w ? [t] : []));
      spans.first[w] = ts[0];
      spans.last[w] = ts.at(-1)!;
    }
    const kept = alignGraph('u', g, frames, m, { acousticScale: 1, selfLoopScale: 1, beam: 30 }, undefined, spans);
    if (!kept.ok) throw new Error(kept.message);
    expect(kept.spans).toBe('kept');
    expect(Array.from(kept.pdf)).toEqual(Array.from(free.pdf));
    expect(kept.score).toBeCloseTo(free.score, 9);
  });

  it('aligns without spans that no path can keep to, and marks the alignment dropped', () => {
    const rng = new Rng(3);
    const m = model(8, rng, 2);
    const g = compileGraph('u', words, lang, m.ctx, m.tm, { optionalSilenceProb: 0.5 });
    if ('ok' in g) throw new Error(g.message);
    const { frames } = sample(g, m, rng);
    // Each word may only take one frame: fewer than its 2 phones x 3 states.
    const tight = { first: Int32Array.from([0, 1, 2]), last: Int32Array.from([0, 1, 2]) };
    const free = alignGraph('u', g, frames, m, { acousticScale: 1, beam: 30 });
    const r = alignGraph('u', g, frames, m, { acousticScale: 1, beam: 30 }, undefined, tight);
    if (!r.ok || !free.ok) throw new Error('no alignment');
    expect(r.spans).toBe('dropped');
    expect(Array.from(r.pdf)).toEqual(Array.from(free.pdf));
  });

  it('refuses spans that are not one per transcript word', () => {
    const m = model(4, new Rng(1), 2);
    const frames = Array.from({ length: 40 }, () => new Float32Array(4));
    expect(() =>
      alignUtterance('u9', frames, words, lang, m, {}, undefined, {
        first: new Int32Array(2),
        last: new Int32Array(2),
      }),
    ).toThrow(/u9: 2 word spans for 3 words/);
  });
});
