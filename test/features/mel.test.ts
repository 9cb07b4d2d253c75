import { describe, it, expect } from 'vitest';
import { MelBanks, inverseMelScale, melScale, vtlnWarpFreq } from '../../src/features/mel.ts';
import { frameGeometry } from '../../src/features/frames.ts';
import { fbankOptions } from '../../src/features/options.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { expectClose } from './helpers.ts';

describe('mel scale', () => {
  it('is 1127 ln(1 + f/700) and inverts exactly', () => {
    expect(melScale(0)).toBe(0);
    expect(melScale(700)).toBeCloseTo(1127 * Math.log(2), 10);
    for (const f of [20, 300, 4000, 7999]) expect(inverseMelScale(melScale(f))).toBeCloseTo(f, 8);
  });
});

describe('VTLN warp (Kaldi MelBanks::VtlnWarpFreq, as its UnitTestVtln)', () => {
  const rng = new Rng(5);
  const [low, high, vLow, vHigh] = [10, 7800, 20, 7400];
  it('divides mid frequencies by the warp factor, keeps the ends, is increasing, and is identity at 1', () => {
    for (let i = 0; i < 100; i++) {
      const warp = 0.9 + rng.next() * 0.2;
      expect(vtlnWarpFreq(vLow, vHigh, low, high, warp, 5000)).toBeCloseTo(5000 / warp, 6);
      expect(vtlnWarpFreq(vLow, vHigh, low, high, warp, low)).toBeCloseTo(low, 9);
      expect(vtlnWarpFreq(vLow, vHigh, low, high, warp, high)).toBeCloseTo(high, 6);
      const f2 = low + (high - low) * rng.next();
      const f3 = f2 + (high - f2) * rng.next();
      expect(vtlnWarpFreq(vLow, vHigh, low, high, warp, f3)).toBeGreaterThanOrEqual(
        vtlnWarpFreq(vLow, vHigh, low, high, warp, f2),
      );
      expect(vtlnWarpFreq(vLow, vHigh, low, high, 1, f3)).toBeCloseTo(f3, 9);
    }
  });
});

describe('mel filterbank', () => {
  const opts = fbankOptions({ numMelBins: 23 });
  const geom = frameGeometry(opts, 16000);
  const banks = new MelBanks(opts, geom);
  const dense = banks.toDense(256);

  it('has triangular bins with peaks close to 1 and centres increasing from lowFreq to Nyquist', () => {
    expect(banks.numBins).toBe(23);
    for (let b = 0; b < 23; b++) {
      const peak = Math.max(...dense[b]);
      expect(peak).toBeGreaterThan(0.5);
      expect(peak).toBeLessThanOrEqual(1);
      if (b > 0) expect(banks.centerFreqsHz[b]).toBeGreaterThan(banks.centerFreqsHz[b - 1]);
    }
    expect(banks.centerFreqsHz[0]).toBeGreaterThan(20);
    expect(banks.centerFreqsHz[22]).toBeLessThan(8000);
  });
  it('neighbouring triangles sum to about one between the first and the last centre', () => {
    const binWidth = 16000 / 512;
    for (let i = 0; i < 256; i++) {
      const f = i * binWidth;
      if (f <= banks.centerFreqsHz[0] || f >= banks.centerFreqsHz[22]) continue;
      let s = 0;
      for (let b = 0; b < 23; b++) s += dense[b][i];
      expect(s).toBeCloseTo(1, 9);
    }
  });
  it('applies the sparse ranges exactly like the dense matrix', () => {
    const rng = new Rng(3);
    const spec = Float64Array.from({ length: 257 }, () => rng.next());
    const out = new Float64Array(23);
    banks.apply(spec, out);
    const expected = dense.map((row) => row.reduce((s, w, i) => s + w * spec[i], 0));
    expectClose(out, expected, 1e-12, 'mel energies');
  });
  it('zeroes the first weight of bin 0 in HTK mode when lowFreq > 0', () => {
    const o = fbankOptions({ lowFreqHz: 25, htkMode: true });
    const htk = new MelBanks(o, geom);
    const plain = new MelBanks(fbankOptions({ lowFreqHz: 25 }), geom);
    expect(htk.weights[0]).toBe(0);
    expect(plain.weights[0]).toBeGreaterThan(0);
  });
  it('rejects bad frequency ranges and too many bins with ConfigErrors naming the option', () => {
    expect(() => new MelBanks(fbankOptions({ highFreqHz: 9000 }), geom)).toThrow(/Nyquist \(8000 Hz\)/);
    expect(() => new MelBanks(fbankOptions({ lowFreqHz: 5000, highFreqHz: 4000 }), geom)).toThrow(ConfigError);
    const small = frameGeometry(fbankOptions({ frameLengthMs: 5 }), 8000);
    expect(() => new MelBanks(fbankOptions({ numMelBins: 40 }), small)).toThrow(/too many mel bins/);
    expect(() => new MelBanks(fbankOptions({ vtlnWarp: 0.9, vtlnLowHz: 10 }), geom)).toThrow(/VTLN/);
  });
});
