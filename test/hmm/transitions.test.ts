import { describe, it, expect } from 'vitest';
import { Topology, silenceTopology } from '../../src/hmm/topology.ts';
import { TransitionModel } from '../../src/hmm/transitions.ts';
import { MonophoneContext } from '../../src/hmm/context.ts';
import { equalAlign } from '../../src/hmm/graph.ts';
import { toyLexicon, toyPhones, expectClose } from './helpers.ts';

describe('topology', () => {
  it('is Kaldi default: 3-state left-to-right phones, 5-state silence with the extra transitions', () => {
    const phones = toyPhones();
    const topo = new Topology(phones);
    const b = topo.forPhone(phones.id('B'));
    expect(b.numStates).toBe(3);
    expect(b.states[0].transitions).toEqual([
      { to: 0, prob: 0.75 },
      { to: 1, prob: 0.25 },
    ]);
    expect(b.minFrames).toBe(3);
    const sil = topo.forPhone(phones.id('SIL'));
    expect(sil.numStates).toBe(5);
    expect(sil.states[0].transitions.map((t) => t.to)).toEqual([0, 1, 2, 3]);
    expect(sil.states[2].transitions.map((t) => t.to)).toEqual([1, 2, 3, 4]);
    expect(sil.states[4].transitions).toEqual([
      { to: 4, prob: 0.75 },
      { to: 5, prob: 0.25 },
    ]);
    expect(sil.minFrames).toBe(3); // 0 -> 3 -> 4 -> exit
    expect(silenceTopology(5).states[1].transitions.every((t) => t.prob === 0.25)).toBe(true);
    expect(topo.toKaldiText()).toContain('<State> 0 <PdfClass> 0 <Transition> 0 0.25 <Transition> 1 0.25');
  });
});

describe('transition model', () => {
  const phones = toyPhones();
  const topo = new Topology(phones);
  const B = phones.id('B');

  it('counts transitions of a hand-written alignment and re-estimates them with a floor', () => {
    const tm = new TransitionModel(topo);
    // B: state 0 for 2 frames, state 1 for 1 frame, state 2 for 3 frames.
    const tids = [tm.tid(B, 0, 0), tm.tid(B, 0, 1), tm.tid(B, 1, 1), tm.tid(B, 2, 0), tm.tid(B, 2, 0), tm.tid(B, 2, 1)];
    const counts = tm.newCounts();
    TransitionModel.accumulate(counts, tids);
    expect(counts[tm.tid(B, 0, 0)]).toBe(1);
    expect(counts[tm.tid(B, 0, 1)]).toBe(1);
    expect(counts[tm.tid(B, 1, 0)]).toBe(0);
    expect(counts[tm.tid(B, 1, 1)]).toBe(1);
    expect(counts[tm.tid(B, 2, 0)]).toBe(2);
    expect(counts[tm.tid(B, 2, 1)]).toBe(1);
    tm.update(counts, { floor: 0.01, minCount: 0 });
    expectClose(tm.probs[tm.tid(B, 0, 0)], 0.5, 1e-12, 'B state 0 self-loop');
    expectClose(tm.probs[tm.tid(B, 2, 0)], 2 / 3, 1e-12, 'B state 2 self-loop');
    expectClose(tm.probs[tm.tid(B, 1, 0)], 0.01 / 1.01, 1e-12, 'B state 1 floored self-loop');
    expectClose(tm.probs[tm.tid(B, 1, 1)], 1 / 1.01, 1e-12, 'B state 1 forward');
    // A state with too few counts keeps its probabilities.
    const tm2 = new TransitionModel(topo);
    tm2.update(counts, { minCount: 5 });
    expect(tm2.probs[tm2.tid(B, 0, 0)]).toBe(0.75);
  });

  it('equal alignment of 12 frames of "B AA" gives one self-loop and one forward per state', () => {
    const tm = new TransitionModel(topo);
    const ctx = new MonophoneContext(topo);
    const a = equalAlign('u1', 12, ['BAA'], { phones, lexicon: toyLexicon() }, ctx, tm, { edgeSilence: 'none' });
    if ('ok' in a) throw new Error(a.message);
    const counts = tm.newCounts();
    TransitionModel.accumulate(counts, a.tid);
    for (const ph of [B, phones.id('AA')]) {
      for (let s = 0; s < 3; s++) {
        expect(counts[tm.tid(ph, s, 0)]).toBe(1);
        expect(counts[tm.tid(ph, s, 1)]).toBe(1);
      }
    }
    const AA = phones.id('AA');
    const expected = [B, B, B, B, B, B, AA, AA, AA, AA, AA, AA].map((ph, i) =>
      ctx.pdf(0, ph, 0, Math.floor((i % 6) / 2)),
    );
    expect(Array.from(a.pdf)).toEqual(expected);
  });
});
