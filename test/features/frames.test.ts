import { describe, it, expect } from 'vitest';
import {
  firstSampleOfFrame,
  frameGeometry,
  numFrames,
  roundUpToPowerOfTwo,
  windowFunction,
} from '../../src/features/frames.ts';
import { fbankOptions } from '../../src/features/options.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { expectClose } from './helpers.ts';

describe('frame geometry (Kaldi FrameExtractionOptions)', () => {
  it('gives 160/400/512 samples at 16 kHz and 80/200/256 at 8 kHz with the defaults', () => {
    const g16 = frameGeometry(fbankOptions(), 16000);
    expect([g16.windowShift, g16.windowSize, g16.paddedWindowSize]).toEqual([160, 400, 512]);
    const g8 = frameGeometry(fbankOptions(), 8000);
    expect([g8.windowShift, g8.windowSize, g8.paddedWindowSize]).toEqual([80, 200, 256]);
  });
  it('truncates fractional sample counts like Kaldi and can skip the power-of-two padding', () => {
    const g = frameGeometry(fbankOptions({ roundToPowerOfTwo: false }), 22050);
    expect([g.windowShift, g.windowSize, g.paddedWindowSize]).toEqual([220, 551, 551]);
  });
  it('rejects a frame shift below one sample', () => {
    expect(() => frameGeometry(fbankOptions({ frameShiftMs: 0.01 }), 8000)).toThrow(ConfigError);
  });
  it('rounds up to powers of two', () => {
    expect([1, 2, 3, 400, 512, 513].map(roundUpToPowerOfTwo)).toEqual([1, 2, 4, 512, 512, 1024]);
  });
});

describe('frame counts and positions', () => {
  const snip = frameGeometry(fbankOptions(), 16000);
  const noSnip = frameGeometry(fbankOptions({ snipEdges: false }), 16000);
  it('with snip-edges: only whole frames, 1 + (N - 400) / 160', () => {
    expect(numFrames(399, snip)).toBe(0);
    expect(numFrames(400, snip)).toBe(1);
    expect(numFrames(559, snip)).toBe(1);
    expect(numFrames(560, snip)).toBe(2);
    expect(numFrames(16000, snip)).toBe(98);
    expect(firstSampleOfFrame(3, snip)).toBe(480);
  });
  it('without snip-edges: round(N / 160) frames centred on t * 160 + 80', () => {
    expect(numFrames(79, noSnip)).toBe(0);
    expect(numFrames(80, noSnip)).toBe(1);
    expect(numFrames(16000, noSnip)).toBe(100);
    expect(firstSampleOfFrame(0, noSnip)).toBe(80 - 200);
    expect(firstSampleOfFrame(10, noSnip)).toBe(1680 - 200);
  });
});

describe('window functions', () => {
  it('Povey window is Hann^0.85: zero at both ends, one in the middle, symmetric', () => {
    const w = windowFunction('povey', 401);
    expect(w[0]).toBe(0);
    expect(w[400]).toBeCloseTo(0, 12);
    expect(w[200]).toBeCloseTo(1, 12);
    expect(w[100]).toBeCloseTo(Math.pow(0.5, 0.85), 12);
    expectClose(w, Float64Array.from(w).reverse(), 1e-12, 'symmetry');
  });
  it('Hamming goes from 0.08 to 1, rectangular is all ones, Blackman starts at 0', () => {
    const h = windowFunction('hamming', 5);
    expectClose(h, [0.08, 0.54, 1, 0.54, 0.08], 1e-12, 'hamming');
    expectClose(windowFunction('rectangular', 4), [1, 1, 1, 1], 0, 'rectangular');
    expectClose(windowFunction('hanning', 3), [0, 1, 0], 1e-12, 'hanning');
    expect(windowFunction('blackman', 5)[0]).toBeCloseTo(0, 12);
    expect(windowFunction('blackman', 5)[2]).toBeCloseTo(1, 12);
    expect(windowFunction('sine', 3)[1]).toBeCloseTo(1, 12);
  });
});
