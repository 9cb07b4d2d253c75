import { describe, it, expect } from 'vitest';
import { computeFbank, FbankComputer } from '../../src/features/fbank.ts';
import { computeMfcc, MfccComputer } from '../../src/features/mfcc.ts';
import { extractFeatures, FLT_EPSILON, SpectrumFrontend } from '../../src/features/frontend.ts';
import { createPowerSpectrum } from '../../src/features/fft.ts';
import { fbankOptions, mfccOptions } from '../../src/features/options.ts';
import { row } from '../../src/features/matrix.ts';
import { ConfigError, FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { expectClose } from './helpers.ts';
import { syntheticSamples } from './synthetic.ts';

function sine(freqHz: number, rate: number, seconds: number, amplitude = 0.3): Float32Array {
  const n = Math.round(rate * seconds);
  return Float32Array.from({ length: n }, (_, i) => amplitude * Math.sin((2 * Math.PI * freqHz * i) / rate));
}

function argmax(a: ArrayLike<number>): number {
  let k = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[k]) k = i;
  return k;
}

describe('power spectrum', () => {
  it('equals a direct DFT for power-of-two and other (Bluestein) lengths', () => {
    const rng = new Rng(1);
    for (const n of [8, 512, 400, 551, 6, 4, 2]) {
      const x = Float64Array.from({ length: n }, () => rng.uniform(-1, 1));
      const ps = createPowerSpectrum(n);
      const out = new Float64Array(ps.numBins);
      ps.compute(x, out);
      const ref = new Float64Array(ps.numBins);
      for (let k = 0; k < ps.numBins; k++) {
        let re = 0,
          im = 0;
        for (let t = 0; t < n; t++) {
          re += x[t] * Math.cos((2 * Math.PI * k * t) / n);
          im -= x[t] * Math.sin((2 * Math.PI * k * t) / n);
        }
        ref[k] = re * re + im * im;
      }
      expectClose(out, ref, 1e-9 * n, `|DFT|^2 of length ${n}`);
    }
  });
});

describe('log-mel filterbank', () => {
  it('puts a pure tone into the mel bin whose centre is nearest to it, at 8 and 16 kHz', () => {
    for (const rate of [8000, 16000]) {
      const c = new FbankComputer({ numMelBins: 23 }, rate);
      for (const f of [300, 1000, 2500]) {
        const m = c.compute(sine(f, rate, 0.2));
        const peak = argmax(row(m, 5));
        const centres = Array.from(c.melBanks.centerFreqsHz);
        const nearest = argmax(centres.map((cf) => -Math.abs(cf - f)));
        expect(Math.abs(peak - nearest), `${f} Hz at ${rate} Hz`).toBeLessThanOrEqual(1);
      }
    }
  });
  it('floors digital silence at log(FLT_EPSILON) and gives 98 frames per second at 16 kHz', () => {
    const m = computeFbank(new Float32Array(16000), 16000, { numMelBins: 40 });
    expect([m.numFrames, m.dim]).toEqual([98, 40]);
    expect(m.data.every((v) => v === Math.fround(Math.log(FLT_EPSILON)))).toBe(true);
  });
  it('scales float samples by 32768: doubling the amplitude adds 2 ln 2 to every bin', () => {
    const a = computeFbank(sine(440, 16000, 0.1, 0.1), 16000);
    const b = computeFbank(sine(440, 16000, 0.1, 0.2), 16000);
    const diff = Float32Array.from(a.data, (v, i) => b.data[i] - v);
    expectClose(diff, new Float32Array(diff.length).fill(2 * Math.LN2), 1e-3, 'log ratio');
  });
  it('use_log_fbank=false gives the exponentials of the log version; use_power=false halves the log', () => {
    const s = syntheticSamples({ sampleRateHz: 8000, durationSec: 0.2, seed: 3 });
    const log = computeFbank(s, 8000, { numMelBins: 10 });
    const lin = computeFbank(s, 8000, { numMelBins: 10, useLogFbank: false });
    for (let i = 0; i < log.data.length; i += 7) expect(Math.log(lin.data[i])).toBeCloseTo(log.data[i], 4);
    expect(lin.data.every((v) => v >= 0)).toBe(true);
  });
  it('puts the energy first, or last with htkCompat', () => {
    const s = syntheticSamples({ sampleRateHz: 16000, durationSec: 0.1, seed: 4 });
    const plain = computeFbank(s, 16000);
    const first = computeFbank(s, 16000, { useEnergy: true });
    const last = computeFbank(s, 16000, { useEnergy: true, htkCompat: true });
    expect(first.dim).toBe(24);
    expectClose(row(first, 2).subarray(1), row(plain, 2), 0, 'mel part after energy');
    expect(row(last, 2)[23]).toBe(row(first, 2)[0]);
    expect(row(first, 2)[0]).toBeGreaterThan(10);
  });
  it('is deterministic: dither 0 needs no randomness, dither > 0 depends only on the seed', () => {
    const s = syntheticSamples({ sampleRateHz: 16000, durationSec: 0.2, seed: 9 });
    expect(computeFbank(s, 16000).data).toEqual(computeFbank(s, 16000).data);
    const d1 = computeFbank(s, 16000, { dither: 1, ditherSeed: 5 });
    const d2 = computeFbank(s, 16000, { dither: 1, ditherSeed: 5 });
    const d3 = computeFbank(s, 16000, { dither: 1, ditherSeed: 6 });
    const d4 = computeFbank(s, 16000, { dither: 1 }, { rng: new Rng(5) });
    expect(d1.data).toEqual(d2.data);
    expect(d1.data).toEqual(d4.data);
    expect(d1.data).not.toEqual(d3.data);
    // Dither matters in silence (no longer floored), hardly elsewhere.
    const plain = computeFbank(s, 16000);
    expect(Math.abs(d1.data[0] - plain.data[0])).toBeLessThan(0.05);
  });
  it('computes fbank and mfcc together with one FFT per frame, equal to separate runs', () => {
    const s = syntheticSamples({ sampleRateHz: 8000, durationSec: 0.3, seed: 2 });
    const fb = new FbankComputer({ numMelBins: 40 }, 8000);
    const mf = new MfccComputer({}, 8000);
    const [a, b] = extractFeatures(s, 8000, [fb, mf]);
    expect(a.data).toEqual(computeFbank(s, 8000, { numMelBins: 40 }).data);
    expect(b.data).toEqual(computeMfcc(s, 8000).data);
  });
  it('rejects unknown options, wrong types and a sample rate other than the configured one', () => {
    expect(() => fbankOptions({ numMelBin: 40 } as never)).toThrow(/unknown feature option.*numMelBin/);
    expect(() => fbankOptions({ snipEdges: 'no' } as never)).toThrow(ConfigError);
    expect(() => fbankOptions({ windowType: 'kaiser' } as never)).toThrow(/window type/);
    expect(() => fbankOptions({ numMelBins: 2 })).toThrow(/numMelBins/);
    expect(() => mfccOptions({ numCeps: 30 })).toThrow(/numCeps/);
    expect(() => new FbankComputer({ sampleRateHz: 16000 }, 8000)).toThrow(FormatError);
    expect(() => new FbankComputer({ sampleRateHz: 16000 }, 8000)).toThrow(/expected 16000 Hz, found 8000 Hz/);
  });
  it('returns no frames for a signal shorter than one window', () => {
    expect(computeFbank(new Float32Array(199), 8000).numFrames).toBe(0);
    expect(computeFbank(new Float32Array(199), 8000, { snipEdges: false }).numFrames).toBe(2);
  });
});

describe('spectral front end', () => {
  it('removing the DC offset after the FFT (fast path) equals removing it before', () => {
    const rng = new Rng(21);
    const samples = Float32Array.from(
      { length: 2000 },
      (_, i) => (3000 + 500 * Math.sin(i / 7) + 50 * rng.gauss()) / 32768,
    );
    for (const windowType of ['povey', 'hamming'] as const) {
      const fe = new SpectrumFrontend(fbankOptions({ windowType }), 8000);
      for (const t of [0, 5, 17]) {
        const eFast = fe.processFrame(samples, t, 32768, null, true, false);
        fe.computePower();
        const fast = Float64Array.from(fe.power);
        const eExact = fe.processFrame(samples, t, 32768, null, true, true);
        fe.computePower();
        expect(eFast).toBeCloseTo(eExact, 9);
        const rel = Float64Array.from(fast, (v, k) => (v - fe.power[k]) / (1 + fe.power[0]));
        expectClose(rel, new Float64Array(rel.length), 1e-10, `${windowType} frame ${t}`);
      }
    }
  });
  it('gives a constant (pure DC) frame the floor energy log(FLT_EPSILON), exactly', () => {
    const fe = new SpectrumFrontend(fbankOptions(), 8000);
    const e = fe.processFrame(new Float32Array(400).fill(1234 / 32768), 0, 32768, null, true);
    expect(e).toBe(Math.log(FLT_EPSILON));
  });
});
