/**
 * A deterministic test signal that test/golden/features/gen_torchaudio.py reproduces bit for bit:
 * a linear chirp plus integer LCG noise, rounded to int16, with a digitally silent stretch.
 * Integer arithmetic only (apart from one sin per sample, rounded to an integer).
 */
export interface SyntheticSignalOptions {
  sampleRateHz: number;
  durationSec: number;
  /** LCG seed (uint32). */
  seed: number;
}

/** int16 values as numbers. */
export function syntheticInt16(opts: SyntheticSignalOptions): Int16Array {
  const n = Math.floor(opts.sampleRateHz * opts.durationSec + 0.5);
  const out = new Int16Array(n);
  let x = opts.seed >>> 0;
  const f0 = 150;
  const f1 = 0.4 * opts.sampleRateHz;
  const T = opts.durationSec;
  const silentFrom = Math.floor(n * 0.45);
  const silentTo = Math.floor(n * 0.55);
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const noise = ((x >>> 16) % 2001) - 1000;
    const t = i / opts.sampleRateHz;
    const phase = 2 * Math.PI * (f0 * t + ((f1 - f0) * t * t) / (2 * T));
    let v = Math.floor(6000 * Math.sin(phase) + 0.5) + noise;
    if (i >= silentFrom && i < silentTo) v = 0;
    out[i] = Math.max(-32768, Math.min(32767, v));
  }
  return out;
}

/** The same signal as floats in [-1, 1) (int16 / 32768), the audio module's convention. */
export function syntheticSamples(opts: SyntheticSignalOptions): Float32Array {
  const s = syntheticInt16(opts);
  const f = new Float32Array(s.length);
  for (let i = 0; i < s.length; i++) f[i] = s[i] / 32768;
  return f;
}
