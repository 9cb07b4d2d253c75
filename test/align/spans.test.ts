import { describe, it, expect } from 'vitest';
import { referenceWordSpans, SpanCounter } from '../../src/align/spans.ts';
import { alignedWordSpans } from '../../src/align/score.ts';

const timing = { frameShiftMs: 10, frameLengthMs: 25 };
const ref = (symbol: string, startSec: number, endSec: number) => ({
  symbol,
  startSec,
  durationSec: endSec - startSec,
});

describe('referenceWordSpans: frames a word may take from its reference timing', () => {
  it('takes the frames whose centres lie in the span (25/10 ms frames: centre of frame t at 10 t + 12.5 ms)', () => {
    const r = referenceWordSpans([ref('ONE', 0.1, 0.3), ref('TWO', 0.3, 0.55)], ['ONE', 'TWO'], 0, 100, {
      ...timing,
      collarSec: 0,
    });
    if ('mismatch' in r) throw new Error(r.mismatch);
    // ONE: centres 102.5 .. 292.5 ms -> frames 9..28; TWO: 302.5 .. 542.5 ms -> 29..53.
    expect(Array.from(r.first)).toEqual([9, 29]);
    expect(Array.from(r.last)).toEqual([28, 53]);
  });

  it('agrees with the boundaries score-alignment reads back: a word on exactly its frames scores 0 error', () => {
    const r = referenceWordSpans([ref('ONE', 0.1675, 0.4075)], ['ONE'], 0, 100, { ...timing, collarSec: 0 });
    if ('mismatch' in r) throw new Error(r.mismatch);
    const word = new Int32Array(100).fill(-1);
    for (let t = r.first[0]; t <= r.last[0]; t++) word[t] = 0;
    const back = alignedWordSpans(word, 1, timing)[0]!;
    expect(back.startSec).toBeCloseTo(0.1675, 9);
    expect(back.endSec).toBeCloseTo(0.4075, 9);
  });

  it('widens by the collar, subtracts the supervision offset and clips to the audio', () => {
    const r = referenceWordSpans([ref('ONE', 1.1, 1.3), ref('TWO', 1.4, 2.9)], ['ONE', 'TWO'], 1.0, 120, {
      ...timing,
      collarSec: 0.02,
    });
    if ('mismatch' in r) throw new Error(r.mismatch);
    // ONE 0.08 .. 0.32 s in the utterance: frames 7..30; TWO 0.38 .. 1.92 s: frames 37..190, clipped to 119.
    expect(Array.from(r.first)).toEqual([7, 37]);
    expect(Array.from(r.last)).toEqual([30, 119]);
    const edge = referenceWordSpans([ref('ONE', 0, 0.05)], ['ONE'], 0, 100, { ...timing, collarSec: 0.05 });
    if ('mismatch' in edge) throw new Error(edge.mismatch);
    expect(edge.first[0]).toBe(0);
  });

  it('names why timings cannot constrain a transcript: word count, symbols, a span outside the audio', () => {
    const o = { ...timing, collarSec: 0 };
    expect(referenceWordSpans([ref('ONE', 0, 0.2)], ['ONE', 'TWO'], 0, 50, o)).toEqual({ mismatch: 'word count' });
    expect(referenceWordSpans([ref('ONE', 0, 0.2), ref('SIX', 0.2, 0.4)], ['ONE', 'TWO'], 0, 50, o)).toEqual({
      mismatch: 'word symbols',
    });
    expect(referenceWordSpans([ref('one', 0, 0.2)], ['ONE'], 0, 50, o)).not.toHaveProperty('mismatch');
    expect(referenceWordSpans([ref('ONE', 0.6, 0.8)], ['ONE'], 0, 50, o)).toEqual({
      mismatch: 'span outside the audio',
    });
  });

  it('counts kept, dropped, missing and mismatched timings in a summary', () => {
    const c = new SpanCounter();
    c.kept += 3;
    c.dropped++;
    c.noReference += 2;
    c.mismatch('word symbols');
    c.mismatch('word count');
    c.mismatch('word symbols');
    expect(c.summary()).toEqual({
      kept: 3,
      dropped: 1,
      noReference: 2,
      mismatched: { 'word count': 1, 'word symbols': 2 },
    });
  });
});
