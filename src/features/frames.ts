/**
 * Framing and window functions, as Kaldi's feature-window.{h,cc}.
 */
import { ConfigError } from '../util/errors.ts';
import type { FrameOptions, WindowType } from './options.ts';

/** The integer sizes that follow from frame options at one sample rate. */
export interface FrameGeometry {
  sampleRateHz: number;
  /** Samples between frame starts (Kaldi WindowShift). */
  windowShift: number;
  /** Samples per frame (Kaldi WindowSize). */
  windowSize: number;
  /** FFT length: windowSize rounded up to a power of two, or windowSize. */
  paddedWindowSize: number;
  snipEdges: boolean;
}

/** Smallest power of two >= n (n >= 1). */
export function roundUpToPowerOfTwo(n: number): number {
  if (!(n >= 1)) throw new RangeError(`roundUpToPowerOfTwo: n must be >= 1, got ${n}`);
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export function frameGeometry(opts: FrameOptions, sampleRateHz: number): FrameGeometry {
  if (!(sampleRateHz > 0)) {
    throw new ConfigError('bad sample rate', {
      keyPath: 'sampleRateHz',
      expected: '> 0 Hz',
      found: String(sampleRateHz),
    });
  }
  // Kaldi: static_cast<int32>(samp_freq * 0.001 * frame_shift_ms), in double.
  const windowShift = Math.trunc(sampleRateHz * 0.001 * opts.frameShiftMs);
  const windowSize = Math.trunc(sampleRateHz * 0.001 * opts.frameLengthMs);
  if (windowShift < 1) {
    throw new ConfigError('frame shift shorter than one sample', {
      keyPath: 'frameShiftMs',
      expected: `>= ${1000 / sampleRateHz} ms at ${sampleRateHz} Hz`,
      found: `${opts.frameShiftMs} ms`,
    });
  }
  if (windowSize < 2) {
    throw new ConfigError('frame length shorter than two samples', {
      keyPath: 'frameLengthMs',
      expected: `>= ${2000 / sampleRateHz} ms at ${sampleRateHz} Hz`,
      found: `${opts.frameLengthMs} ms`,
    });
  }
  const paddedWindowSize = opts.roundToPowerOfTwo ? roundUpToPowerOfTwo(windowSize) : windowSize;
  return { sampleRateHz, windowShift, windowSize, paddedWindowSize, snipEdges: opts.snipEdges };
}

/** Number of frames for a signal of `numSamples` samples (Kaldi NumFrames with flush = true). */
export function numFrames(numSamples: number, g: FrameGeometry): number {
  if (g.snipEdges) {
    if (numSamples < g.windowSize) return 0;
    return 1 + Math.floor((numSamples - g.windowSize) / g.windowShift);
  }
  // Frames centred on t * shift + shift / 2; round(numSamples / shift).
  return Math.floor((numSamples + Math.floor(g.windowShift / 2)) / g.windowShift);
}

/** Index of the first sample of frame `t` (negative with snipEdges = false near the start). */
export function firstSampleOfFrame(t: number, g: FrameGeometry): number {
  if (g.snipEdges) return t * g.windowShift;
  const midpoint = g.windowShift * t + Math.floor(g.windowShift / 2);
  return midpoint - Math.floor(g.windowSize / 2);
}

/** Window function of `length` samples (Kaldi FeatureWindowFunction), in double precision. */
export function windowFunction(type: WindowType, length: number, blackmanCoeff = 0.42): Float64Array {
  const w = new Float64Array(length);
  const a = (2 * Math.PI) / (length - 1);
  for (let i = 0; i < length; i++) {
    switch (type) {
      case 'hanning':
        w[i] = 0.5 - 0.5 * Math.cos(a * i);
        break;
      case 'sine':
        w[i] = Math.sin(0.5 * a * i);
        break;
      case 'hamming':
        w[i] = 0.54 - 0.46 * Math.cos(a * i);
        break;
      case 'povey':
        w[i] = Math.pow(0.5 - 0.5 * Math.cos(a * i), 0.85);
        break;
      case 'rectangular':
        w[i] = 1;
        break;
      case 'blackman':
        w[i] = blackmanCoeff - 0.5 * Math.cos(a * i) + (0.5 - blackmanCoeff) * Math.cos(2 * a * i);
        break;
      default:
        throw new ConfigError('unknown window type', { keyPath: 'windowType', found: String(type) });
    }
  }
  return w;
}
