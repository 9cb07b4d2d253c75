/**
 * Mel scale, VTLN warping and triangular mel filterbanks, as Kaldi's mel-computations.{h,cc}.
 * The banks are stored sparsely: each bin is a contiguous range of FFT bins with its weights,
 * all weights in one flat array so that applying the bank is one tight loop.
 */
import { ConfigError } from '../util/errors.ts';
import type { FrameGeometry } from './frames.ts';
import type { MelOptions } from './options.ts';

/** Kaldi/HTK mel scale: 1127 ln(1 + f / 700). */
export function melScale(freqHz: number): number {
  return 1127.0 * Math.log(1.0 + freqHz / 700.0);
}

export function inverseMelScale(mel: number): number {
  return 700.0 * (Math.exp(mel / 1127.0) - 1.0);
}

/**
 * Kaldi's piecewise-linear VTLN frequency warp: f -> f / warp in the middle, linear segments
 * that keep lowFreq and highFreq fixed at the ends. Frequencies outside [lowFreq, highFreq]
 * are returned unchanged.
 */
export function vtlnWarpFreq(
  vtlnLowCutoffHz: number,
  vtlnHighCutoffHz: number,
  lowFreqHz: number,
  highFreqHz: number,
  warpFactor: number,
  freqHz: number,
): number {
  if (freqHz < lowFreqHz || freqHz > highFreqHz) return freqHz;
  const l = vtlnLowCutoffHz * Math.max(1, warpFactor);
  const h = vtlnHighCutoffHz * Math.min(1, warpFactor);
  const scale = 1.0 / warpFactor;
  const fl = scale * l;
  const fh = scale * h;
  const scaleLeft = (fl - lowFreqHz) / (l - lowFreqHz);
  const scaleRight = (highFreqHz - fh) / (highFreqHz - h);
  if (freqHz < l) return lowFreqHz + scaleLeft * (freqHz - lowFreqHz);
  if (freqHz < h) return scale * freqHz;
  return highFreqHz + scaleRight * (freqHz - highFreqHz);
}

export function vtlnWarpMelFreq(
  vtlnLowCutoffHz: number,
  vtlnHighCutoffHz: number,
  lowFreqHz: number,
  highFreqHz: number,
  warpFactor: number,
  mel: number,
): number {
  return melScale(
    vtlnWarpFreq(vtlnLowCutoffHz, vtlnHighCutoffHz, lowFreqHz, highFreqHz, warpFactor, inverseMelScale(mel)),
  );
}

/** A triangular mel filterbank over the FFT bins 0 .. paddedWindowSize/2 - 1. */
export class MelBanks {
  readonly numBins: number;
  /** First FFT bin of each mel bin. */
  readonly offsets: Int32Array;
  /** Number of FFT bins of each mel bin. */
  readonly lengths: Int32Array;
  /** Start of each mel bin's weights in `weights`. */
  readonly weightStarts: Int32Array;
  /** All weights, bin after bin. */
  readonly weights: Float64Array;
  /** Centre frequency of each bin in Hz (after warping). */
  readonly centerFreqsHz: Float64Array;

  constructor(opts: MelOptions, geom: FrameGeometry, vtlnWarp = opts.vtlnWarp) {
    const numBins = opts.numMelBins;
    if (!Number.isInteger(numBins) || numBins < 3) {
      throw new ConfigError('must have at least 3 mel bins', {
        keyPath: 'numMelBins',
        expected: 'an integer >= 3',
        found: String(numBins),
      });
    }
    const sampleFreq = geom.sampleRateHz;
    const paddedSize = geom.paddedWindowSize;
    if (paddedSize % 2 !== 0) {
      throw new ConfigError('the FFT length must be even for mel banks', {
        keyPath: 'frameLengthMs',
        expected: 'an even number of samples (or roundToPowerOfTwo)',
        found: `${paddedSize} samples`,
      });
    }
    const numFftBins = paddedSize / 2;
    const nyquist = 0.5 * sampleFreq;
    const lowFreq = opts.lowFreqHz;
    const highFreq = opts.highFreqHz > 0 ? opts.highFreqHz : nyquist + opts.highFreqHz;
    if (lowFreq < 0 || lowFreq >= nyquist || highFreq <= 0 || highFreq > nyquist || highFreq <= lowFreq) {
      throw new ConfigError('bad mel frequency range', {
        // The cutoff that is out of range itself, else (high <= low) the low one.
        keyPath:
          (highFreq <= 0 || highFreq > nyquist) && lowFreq >= 0 && lowFreq < nyquist ? 'highFreqHz' : 'lowFreqHz',
        expected: `0 <= lowFreqHz < highFreqHz <= Nyquist (${nyquist} Hz)`,
        found: `lowFreqHz ${lowFreq}, highFreqHz ${highFreq}`,
      });
    }
    const fftBinWidth = sampleFreq / paddedSize;
    const melLow = melScale(lowFreq);
    const melHigh = melScale(highFreq);
    const melDelta = (melHigh - melLow) / (numBins + 1);

    const vtlnLow = opts.vtlnLowHz;
    let vtlnHigh = opts.vtlnHighHz;
    if (vtlnHigh < 0) vtlnHigh += nyquist;
    if (
      vtlnWarp !== 1.0 &&
      (vtlnLow < 0 ||
        vtlnLow <= lowFreq ||
        vtlnLow >= highFreq ||
        vtlnHigh <= 0 ||
        vtlnHigh >= highFreq ||
        vtlnHigh <= vtlnLow)
    ) {
      throw new ConfigError('bad VTLN cutoffs', {
        keyPath: 'vtlnLowHz/vtlnHighHz',
        expected: `lowFreqHz (${lowFreq}) < vtlnLowHz < vtlnHighHz < highFreqHz (${highFreq})`,
        found: `vtlnLowHz ${vtlnLow}, vtlnHighHz ${vtlnHigh}`,
      });
    }

    // Mel value of every FFT bin centre, computed once.
    const binMel = new Float64Array(numFftBins);
    for (let i = 0; i < numFftBins; i++) binMel[i] = melScale(fftBinWidth * i);

    this.numBins = numBins;
    this.offsets = new Int32Array(numBins);
    this.lengths = new Int32Array(numBins);
    this.weightStarts = new Int32Array(numBins);
    this.centerFreqsHz = new Float64Array(numBins);
    const chunks: number[][] = [];
    let total = 0;
    for (let bin = 0; bin < numBins; bin++) {
      let leftMel = melLow + bin * melDelta;
      let centerMel = melLow + (bin + 1) * melDelta;
      let rightMel = melLow + (bin + 2) * melDelta;
      if (vtlnWarp !== 1.0) {
        leftMel = vtlnWarpMelFreq(vtlnLow, vtlnHigh, lowFreq, highFreq, vtlnWarp, leftMel);
        centerMel = vtlnWarpMelFreq(vtlnLow, vtlnHigh, lowFreq, highFreq, vtlnWarp, centerMel);
        rightMel = vtlnWarpMelFreq(vtlnLow, vtlnHigh, lowFreq, highFreq, vtlnWarp, rightMel);
      }
      this.centerFreqsHz[bin] = inverseMelScale(centerMel);
      let first = -1;
      const w: number[] = [];
      for (let i = 0; i < numFftBins; i++) {
        const mel = binMel[i];
        if (mel > leftMel && mel < rightMel) {
          const weight =
            mel <= centerMel ? (mel - leftMel) / (centerMel - leftMel) : (rightMel - mel) / (rightMel - centerMel);
          if (first === -1) first = i;
          // Bins are contiguous in frequency; fill any (impossible) gap with zeros.
          while (first + w.length < i) w.push(0);
          w.push(weight);
        }
      }
      if (first === -1) {
        throw new ConfigError('a mel bin covers no FFT bin; too many mel bins for this FFT length', {
          keyPath: 'numMelBins',
          expected: `fewer bins (FFT length ${paddedSize} at ${sampleFreq} Hz)`,
          found: String(numBins),
        });
      }
      if (opts.htkMode && bin === 0 && melLow !== 0) w[0] = 0;
      this.offsets[bin] = first;
      this.lengths[bin] = w.length;
      this.weightStarts[bin] = total;
      total += w.length;
      chunks.push(w);
    }
    this.weights = new Float64Array(total);
    for (let bin = 0; bin < numBins; bin++) this.weights.set(chunks[bin], this.weightStarts[bin]);
  }

  /** out[outOffset + b] = sum_i weight_b(i) * spectrum[i] for every mel bin b. */
  apply(spectrum: Float64Array, out: Float64Array | Float32Array, outOffset = 0): void {
    const { offsets, lengths, weightStarts, weights, numBins } = this;
    for (let b = 0; b < numBins; b++) {
      let k = offsets[b];
      let w = weightStarts[b];
      const end = w + lengths[b];
      // Four partial sums: a single running sum is bound by the latency of the adds.
      let s0 = 0,
        s1 = 0,
        s2 = 0,
        s3 = 0;
      for (; w + 3 < end; w += 4, k += 4) {
        s0 += weights[w] * spectrum[k];
        s1 += weights[w + 1] * spectrum[k + 1];
        s2 += weights[w + 2] * spectrum[k + 2];
        s3 += weights[w + 3] * spectrum[k + 3];
      }
      for (; w < end; w++, k++) s0 += weights[w] * spectrum[k];
      out[outOffset + b] = s0 + s1 + (s2 + s3);
    }
  }

  /** Dense (numBins x numFftBins) copy of the weights, for inspection and tests. */
  toDense(numFftBins: number): Float64Array[] {
    const rows: Float64Array[] = [];
    for (let b = 0; b < this.numBins; b++) {
      const row = new Float64Array(numFftBins);
      for (let j = 0; j < this.lengths[b]; j++) row[this.offsets[b] + j] = this.weights[this.weightStarts[b] + j];
      rows.push(row);
    }
    return rows;
  }
}
