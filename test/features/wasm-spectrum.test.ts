import { describe, it, expect } from 'vitest';
import { computeFbank, FbankComputer } from '../../src/features/fbank.ts';
import { computeMfcc, MfccComputer } from '../../src/features/mfcc.ts';
import { extractFeatures, SpectrumFrontend, type SpectrumEngine } from '../../src/features/frontend.ts';
import { fbankOptions, type FbankOptions, type MfccOptions } from '../../src/features/options.ts';
import { wasmFlooredLogs } from '../../src/features/wasm-spectrum.ts';
import { Rng } from '../../src/util/rng.ts';
import { expectClose } from './helpers.ts';
import { syntheticSamples } from './synthetic.ts';

/** The synthetic test signal plus a DC offset (int16-valued, as read from WAV files). */
function signal(rate: number, seconds: number, dc = 0): Float32Array {
  const s = syntheticSamples({ sampleRateHz: rate, durationSec: seconds, seed: 7 });
  return s.map((v) => Math.max(-1, Math.min(32767 / 32768, v + dc / 32768)));
}

const engines: SpectrumEngine[] = ['wasm', 'js'];

/** The wasm engine is there wherever these tests run (Node >= 20 has WebAssembly SIMD). */
it('the wasm engine is available for power-of-two FFT lengths', () => {
  expect(new SpectrumFrontend(fbankOptions(), 16000).wasm).not.toBeNull();
  expect(new SpectrumFrontend(fbankOptions({ roundToPowerOfTwo: false }), 16000).wasm).toBeNull();
  expect(new SpectrumFrontend(fbankOptions(), 16000, 'js').wasm).toBeNull();
});

describe('wasm engine = JavaScript engine', () => {
  const fbankCases: [string, number, Partial<FbankOptions>][] = [
    ['16 kHz, 40 bins (Kaldi defaults)', 16000, { numMelBins: 40 }],
    ['8 kHz, 23 bins', 8000, {}],
    ['44.1 kHz, 80 bins (FFT 2048)', 44100, { numMelBins: 80 }],
    ['22.05 kHz: odd window length (551)', 22050, {}],
    ['5 ms frames at 8 kHz (FFT 64)', 8000, { frameLengthMs: 5, frameShiftMs: 2.5, numMelBins: 10 }],
    ['no snipped edges (reflected frames one by one)', 16000, { snipEdges: false }],
    ['raw energy, HTK order', 16000, { useEnergy: true, htkCompat: true }],
    ['windowed energy (frames one by one)', 16000, { useEnergy: true, rawEnergy: false }],
    ['dither', 16000, { dither: 1 }],
    ['magnitude spectrum', 16000, { usePower: false }],
    ['linear mel energies', 16000, { useLogFbank: false }],
    [
      'no DC removal, no pre-emphasis, Hamming window',
      16000,
      { removeDcOffset: false, preemphCoeff: 0, windowType: 'hamming' },
    ],
    ['VTLN warp', 16000, { vtlnWarp: 0.9 }],
  ];
  for (const [name, rate, options] of fbankCases) {
    it(`fbank: ${name}`, () => {
      const x = signal(rate, 1.3, 1500);
      const [a, b] = engines.map((engine) => computeFbank(x, rate, options, { engine, rng: new Rng(3) }));
      expect(a.numFrames).toBeGreaterThan(0);
      expect(a.numFrames).toBe(b.numFrames);
      // Only the FFT's and the mel sums' roundings differ (about 1e-13 relative).
      expectClose(
        a.data,
        b.data,
        options.useLogFbank === false ? 1e-9 * Math.max(...b.data.map(Math.abs)) : 1e-5,
        name,
      );
    });
  }
  const mfccCases: [string, Partial<MfccOptions>][] = [
    ['defaults', {}],
    ['raw energy', { useEnergy: true }],
    ['no snipped edges', { snipEdges: false }],
  ];
  for (const [name, options] of mfccCases) {
    it(`mfcc: ${name}`, () => {
      const x = signal(16000, 1.1, -700);
      const [a, b] = engines.map((engine) => computeMfcc(x, 16000, options, { engine }));
      expectClose(a.data, b.data, 1e-4, name);
    });
  }
  it('fbank and mfcc computed together (one FFT per frame, batched) equal separate runs', () => {
    const x = signal(16000, 2, 300);
    const fb = new FbankComputer({ numMelBins: 40, useEnergy: true }, 16000);
    const mf = new MfccComputer({}, 16000);
    const [f, m] = extractFeatures(x, 16000, [fb, mf]);
    expect(Array.from(f.data)).toEqual(Array.from(fb.compute(x).data));
    expect(Array.from(m.data)).toEqual(Array.from(mf.compute(x).data));
    expectClose(f.data, fb.compute(x, { engine: 'js' }).data, 1e-5, 'fbank vs js');
  });
});

describe('wasm engine', () => {
  it('gives the same bytes on every run (pooled instances reused)', () => {
    const x = signal(16000, 1.5, 200);
    const first = computeFbank(x, 16000, { numMelBins: 40 });
    computeMfcc(signal(8000, 0.7), 8000);
    const again = computeFbank(x, 16000, { numMelBins: 40 });
    expect(Buffer.from(again.data.buffer).equals(Buffer.from(first.data.buffer))).toBe(true);
  });
  it('computes a frame one by one as in a batch (power spectrum of the last frame too)', () => {
    const x = signal(16000, 1, 900);
    const c = new FbankComputer({ numMelBins: 40 }, 16000);
    const batched = c.compute(x);
    const fe = new SpectrumFrontend(c.frameOptions, 16000);
    const js = new SpectrumFrontend(c.frameOptions, 16000, 'js');
    for (const t of [0, 17, batched.numFrames - 1]) {
      fe.processFrame(x, t, 32768, null, false);
      fe.computePower();
      js.processFrame(x, t, 32768, null, false);
      js.computePower();
      const scale = 1 + Math.max(...js.power);
      expectClose(
        fe.power.map((v) => v / scale),
        js.power.map((v) => v / scale),
        1e-12,
        `power of frame ${t}`,
      );
    }
  });
  it('takes floored logs within an ulp of Math.log (floor for NaN, zero and negatives; infinity kept)', () => {
    const values = Float64Array.from([
      0,
      -1,
      NaN,
      1e-300,
      5e-324,
      1.1920928955078125e-7,
      1.2e-7,
      0.5,
      1,
      Math.SQRT2,
      1.5,
      2,
      3,
      1e10,
      1.7e308,
      Infinity,
    ]);
    const rng = new Rng(5);
    const random = Float64Array.from({ length: 2001 }, () => Math.exp(rng.uniform(-20, 60)));
    for (const v of [values, random]) {
      const got = wasmFlooredLogs(v)!;
      const want = Float32Array.from(v, (x) => Math.log(x > 1.1920928955078125e-7 ? x : 1.1920928955078125e-7));
      expect(got).not.toBeNull();
      for (let i = 0; i < v.length; i++) {
        if (Number.isFinite(want[i]))
          expect(Math.abs(got[i] - want[i]), `ln ${v[i]}`).toBeLessThanOrEqual(Math.abs(want[i]) * 2 ** -23);
        else expect(got[i]).toBe(want[i]);
      }
    }
  });
});
