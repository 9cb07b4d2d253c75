/**
 * What decoded samples must be before features are computed from them. Integer PCM always decodes
 * to [-1, 1); float WAVs can hold anything: NaN or infinite samples (which turn every frame they
 * touch into the log floor, silently) are an error, and finite values far beyond full scale
 * (1e30, or int16-range numbers stored as float) are worth a warning naming the file.
 */
import { AudioFormatError } from '../util/errors.ts';

/** |x| above this in decoded audio (nominally [-1, 1]) gets a warning: 80 dB above full scale. */
export const EXTREME_SAMPLE_ABS = 1e4;

export interface SampleScan {
  /** Index of the first NaN or infinite sample, -1 if none. */
  firstNonFinite: number;
  /** Largest |x| of the finite samples, and its index (-1 when there are none). */
  maxAbs: number;
  maxAbsAt: number;
}

/** One pass over the samples: the first non-finite one and the largest magnitude. */
export function scanSamples(samples: Float32Array): SampleScan {
  let firstNonFinite = -1,
    maxAbs = 0,
    maxAbsAt = -1;
  for (let i = 0; i < samples.length; i++) {
    const x = samples[i];
    const a = x < 0 ? -x : x;
    if (a > maxAbs) {
      if (a === Infinity) {
        if (firstNonFinite < 0) firstNonFinite = i;
        continue;
      }
      maxAbs = a;
      maxAbsAt = i;
    } else if (x !== x && firstNonFinite < 0) firstNonFinite = i;
  }
  return { firstNonFinite, maxAbs, maxAbsAt };
}

/** Where sample `index` (of a segment starting at `offset` samples) lies: "sample 1000 (0.125 s)". */
function at(index: number, offset: number, sampleRateHz: number): string {
  const i = index + offset;
  return `sample ${i} (${i / sampleRateHz} s)`;
}

/**
 * The checks of decoded audio: an AudioFormatError naming `file` and the first NaN or infinite
 * sample; else the warning text for samples beyond EXTREME_SAMPLE_ABS, or null. `offset`: the
 * index of the segment's first sample in the file (segments of a recording).
 */
export function checkSamples(
  samples: Float32Array,
  sampleRateHz: number,
  file: string,
  offset = 0,
): { warning: string | null } {
  const s = scanSamples(samples);
  if (s.firstNonFinite >= 0) {
    throw new AudioFormatError('non-finite audio sample', {
      file,
      expected: 'finite samples',
      found: `${samples[s.firstNonFinite]} at ${at(s.firstNonFinite, offset, sampleRateHz)}`,
    });
  }
  if (s.maxAbs <= EXTREME_SAMPLE_ABS) return { warning: null };
  const largest = Number(s.maxAbs.toPrecision(3));
  return {
    warning: `${file}: samples far beyond full scale (largest |x| ${largest} at ${at(s.maxAbsAt, offset, sampleRateHz).replace(' (', ', ').replace(')', '')}; float audio is expected in [-1, 1])`,
  };
}
