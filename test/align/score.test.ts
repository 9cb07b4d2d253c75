import { describe, it, expect } from 'vitest';
import {
  alignedWordSpans,
  labelQuality,
  scoreWordBoundaries,
  relativeReference,
  scorePauseFrames,
} from '../../src/align/score.ts';
import { expectClose } from '../hmm/helpers.ts';

const timing = { frameShiftMs: 10, frameLengthMs: 25 };

describe('aligned word spans', () => {
  it('puts the boundary before frame t midway between frame centres, t * shift + (length - shift) / 2', () => {
    // frames: sil sil w0 w0 w0 sil w1 w1
    const spans = alignedWordSpans([-1, -1, 0, 0, 0, -1, 1, 1], 2, timing);
    expectClose(spans[0]!.startSec, 0.0275, 1e-12, 'word 0 start');
    expectClose(spans[0]!.endSec, 0.0575, 1e-12, 'word 0 end');
    expectClose(spans[1]!.startSec, 0.0675, 1e-12, 'word 1 start');
    expectClose(spans[1]!.endSec, 0.0875, 1e-12, 'word 1 end');
    const kaldi = alignedWordSpans([-1, -1, 0, 0, 0, -1, 1, 1], 2, { ...timing, frameOffsetSec: 0 });
    expectClose(kaldi[0]!.startSec, 0.02, 1e-12, 'CTM convention');
  });
  it('starts a word at 0 when it begins at the first frame, and gives null for a word without frames', () => {
    const spans = alignedWordSpans([0, 0, 2], 3, timing);
    expect(spans[0]!.startSec).toBe(0);
    expect(spans[1]).toBeNull();
  });
});

describe('word boundary score', () => {
  const ref = [
    { symbol: 'A', startSec: 0.1, durationSec: 0.2 },
    { symbol: 'B', startSec: 0.3, durationSec: 0.3 },
  ];
  it('counts start and end of every word against the tolerances', () => {
    const s = scoreWordBoundaries([
      {
        uttId: 'u',
        reference: ref,
        aligned: [
          { startSec: 0.11, endSec: 0.33 },
          { startSec: 0.33, endSec: 0.6 },
        ],
      },
    ]);
    expect(s.boundaries).toBe(4);
    // errors: 10 ms, 30 ms, 30 ms, 0 ms
    expect(s.within).toEqual([
      { toleranceSec: 0.02, count: 2, percent: 50 },
      { toleranceSec: 0.05, count: 4, percent: 100 },
    ]);
    expectClose(s.meanAbsErrorSec, 0.0175, 1e-12, 'mean error');
    expectClose(s.medianAbsErrorSec, 0.02, 1e-12, 'median error');
  });
  it('reports word ends alone and the median signed offsets: a reference padded with silence shows late starts and early ends', () => {
    // Reference words padded by 40 ms of silence at the start and 60 ms at the end of each word.
    const padded = [
      { symbol: 'A', startSec: 0.1, durationSec: 0.4 },
      { symbol: 'B', startSec: 0.6, durationSec: 0.3 },
      { symbol: 'C', startSec: 1.0, durationSec: 0.5 },
    ];
    const aligned = padded.map((r, i) => ({
      startSec: r.startSec + 0.04 + 0.002 * i,
      endSec: r.startSec + r.durationSec - 0.06 - 0.002 * i,
    }));
    const s = scoreWordBoundaries([{ uttId: 'u', reference: padded, aligned }]);
    expectClose(s.medianStartOffsetSec, 0.042, 1e-12, 'median start offset');
    expectClose(s.medianEndOffsetSec, -0.062, 1e-12, 'median end offset');
    // Starts are all within 50 ms, ends none.
    expect(s.startsWithin[1]).toEqual({ toleranceSec: 0.05, count: 3, percent: 100 });
    expect(s.endsWithin[1]).toEqual({ toleranceSec: 0.05, count: 0, percent: 0 });
    // Boundaries pool starts and ends: the absolute median of 40, 42, 44, 60, 62, 64 ms.
    expectClose(s.medianAbsErrorSec, 0.052, 1e-12, 'median absolute error');
  });
  it('a boundary exactly on the tolerance counts; one just past it does not', () => {
    const s = scoreWordBoundaries(
      [{ uttId: 'u', reference: ref.slice(0, 1), aligned: [{ startSec: 0.15, endSec: 0.3501 }] }],
      { tolerancesSec: [0.05] },
    );
    expect(s.within[0].count).toBe(1);
  });
  it('skips and counts utterances whose word counts differ or that have a word without frames', () => {
    const s = scoreWordBoundaries([
      { uttId: 'short', reference: ref, aligned: [{ startSec: 0.1, endSec: 0.3 }] },
      { uttId: 'gap', reference: ref, aligned: [{ startSec: 0.1, endSec: 0.3 }, null] },
      {
        uttId: 'ok',
        reference: ref,
        aligned: [
          { startSec: 0.1, endSec: 0.3 },
          { startSec: 0.3, endSec: 0.6 },
        ],
      },
    ]);
    expect(s.utterances).toBe(1);
    expect(s.skipped.skipped).toBe(2);
    expect(s.skipped.reasons.map((r) => r.reason).sort()).toEqual([
      'a word has no aligned frame',
      'reference and alignment differ in word count',
    ]);
    expect(s.within[0].percent).toBe(100);
  });
  it('rejects a negative tolerance', () => {
    expect(() => scoreWordBoundaries([], { tolerancesSec: [-1] })).toThrow(/bad boundary tolerance/);
  });
  it('makes recording-relative reference times relative to the supervision', () => {
    expect(relativeReference([{ symbol: 'A', startSec: 5.25, durationSec: 0.5 }], 5)).toEqual([
      { symbol: 'A', startSec: 0.25, durationSec: 0.5 },
    ]);
  });
});

describe('pause frames against reference word timings', () => {
  // 10 ms shift, 20 ms frames: frame t's centre is at t * 0.01 + 0.01 s.
  const timing = { frameShiftMs: 10, frameLengthMs: 20 };
  const phones = ['<eps>', 'SIL', 'S', 'IH'];
  it('counts pause frames the alignment gives to words, by phone, and word frames labelled silence', () => {
    // Reference: one word over [0.025, 0.065) -> frames 2..5 (centres 0.03..0.06) are the word; 0, 1, 6, 7 pause.
    const reference = [{ symbol: 'SIX', startSec: 0.025, durationSec: 0.04 }];
    // Alignment: S takes frames 1..3 (frame 1 is a reference pause), IH 4, silence from frame 5 (a word frame).
    const word = [-1, 0, 0, 0, 0, -1, -1, -1];
    const phone = [1, 2, 2, 2, 3, 1, 1, 1];
    const s = scorePauseFrames([{ uttId: 'u1', reference, word, phone }], timing, phones);
    expect(s.pauseFrames).toBe(4);
    expect(s.pauseFramesInWords).toBe(1);
    expect(s.pauseShareInWords).toBeCloseTo(0.25, 12);
    expect(s.wordFrames).toBe(4);
    expect(s.wordFramesAsSilence).toBe(1);
    expect(s.byPhone).toEqual([{ phone: 'S', pauseFrames: 1, shareOfPauses: 0.25, shareOfPhone: 1 / 3 }]);
  });
  it('a perfect alignment has no pause frames in words', () => {
    const reference = [{ symbol: 'SIX', startSec: 0.025, durationSec: 0.04 }];
    const s = scorePauseFrames(
      [{ uttId: 'u1', reference, word: [-1, -1, 0, 0, 0, 0, -1, -1], phone: [1, 1, 2, 3, 3, 2, 1, 1] }],
      timing,
      phones,
    );
    expect(s.pauseFramesInWords).toBe(0);
    expect(s.wordFramesAsSilence).toBe(0);
    expect(s.byPhone).toEqual([]);
  });
  it('label quality: silence outside the pauses as a share of all silence frames, and null pause measures without pauses', () => {
    const reference = [{ symbol: 'SIX', startSec: 0.025, durationSec: 0.04 }];
    const word = [-1, 0, 0, 0, 0, -1, -1, -1];
    const pauses = scorePauseFrames(
      [{ uttId: 'u1', reference, word, phone: [1, 2, 2, 2, 3, 1, 1, 1] }],
      timing,
      phones,
    );
    const bounds = scoreWordBoundaries([{ uttId: 'u1', reference, aligned: alignedWordSpans(word, 1, timing) }]);
    const q = labelQuality({ ...bounds, pauses })!;
    // Silence-labelled: frames 0, 5, 6, 7; frame 5 lies inside the word.
    expect(q.silenceOutsidePauses).toBe(25);
    expect(q.pauseFramesInWords).toBe(25);
    // Aligned word: frames 1-4, i.e. 15 to 55 ms (boundaries at t * 10 + 5 ms) against the reference's 25 to 65 ms.
    expect([q.medianStartOffsetMs, q.medianEndOffsetMs, q.endsWithin50ms]).toEqual([-10, -10, 100]);
    // An isolated word whose reference spans the whole take: no pause frames to judge against.
    const whole = [{ symbol: 'SIX', startSec: 0, durationSec: 0.1 }];
    const iso = scorePauseFrames(
      [{ uttId: 'u2', reference: whole, word, phone: [1, 2, 2, 2, 3, 1, 1, 1] }],
      timing,
      phones,
    );
    const qi = labelQuality({
      ...scoreWordBoundaries([{ uttId: 'u2', reference: whole, aligned: alignedWordSpans(word, 1, timing) }]),
      pauses: iso,
    })!;
    expect(iso.pauseFrames).toBe(0);
    expect([qi.pauseFramesInWords, qi.silenceOutsidePauses]).toEqual([null, null]);
    expect(labelQuality({ ...scoreWordBoundaries([]), pauses: iso })).toBeNull();
  });

  it('refuses word and phone labels of different lengths, naming the utterance', () => {
    expect(() =>
      scorePauseFrames([{ uttId: 'bad-utt', reference: [], word: [0, 0], phone: [1] }], timing, phones),
    ).toThrow(/bad-utt/);
  });
});
