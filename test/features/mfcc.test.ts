import { describe, it, expect } from 'vitest';
import { computeMfcc, dctMatrix, lifterCoeffs } from '../../src/features/mfcc.ts';
import { computeFbank } from '../../src/features/fbank.ts';
import { row } from '../../src/features/matrix.ts';
import { expectClose } from './helpers.ts';
import { syntheticSamples } from './synthetic.ts';

describe('MFCC building blocks', () => {
  it('uses an orthonormal DCT-II (Kaldi ComputeDctMatrix)', () => {
    const n = 23;
    const d = dctMatrix(n, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += d[i * n + k] * d[j * n + k];
        expect(s).toBeCloseTo(i === j ? 1 : 0, 12);
      }
    }
    expect(d[0]).toBeCloseTo(1 / Math.sqrt(n), 15);
  });
  it('lifters with 1 + Q/2 sin(pi i / Q)', () => {
    const c = lifterCoeffs(13, 22);
    expect(c[0]).toBe(1);
    expect(c[11]).toBeCloseTo(12, 12);
  });
});

describe('MFCC', () => {
  const s = syntheticSamples({ sampleRateHz: 16000, durationSec: 0.2, seed: 5 });
  it('is the liftered DCT of the log-mel energies, with C0 replaced by the raw log energy', () => {
    const m = computeMfcc(s, 16000, { useEnergy: false });
    const fb = computeFbank(s, 16000, { numMelBins: 23 });
    const dct = dctMatrix(13, 23);
    const lift = lifterCoeffs(13, 22);
    const expected = new Float64Array(13);
    const f = row(fb, 4);
    for (let k = 0; k < 13; k++) {
      let acc = 0;
      for (let b = 0; b < 23; b++) acc += dct[k * 23 + b] * f[b];
      expected[k] = acc * lift[k];
    }
    expectClose(row(m, 4), expected, 1e-4, 'cepstra of frame 4');
    const withEnergy = computeMfcc(s, 16000);
    const energy = computeFbank(s, 16000, { useEnergy: true });
    expect(row(withEnergy, 4)[0]).toBe(row(energy, 4)[0]);
    expectClose(row(withEnergy, 4).subarray(1), row(m, 4).subarray(1), 0, 'C1..C12 unchanged by energy');
  });
  it('moves C0 last (times sqrt 2 without energy) in HTK order', () => {
    const plain = computeMfcc(s, 16000, { useEnergy: false });
    const htk = computeMfcc(s, 16000, { useEnergy: false, htkCompat: true });
    expectClose(row(htk, 3).subarray(0, 12), row(plain, 3).subarray(1), 0, 'C1..C12');
    expect(row(htk, 3)[12]).toBeCloseTo(row(plain, 3)[0] * Math.SQRT2, 3);
  });
  it('has numCeps columns', () => {
    expect(computeMfcc(s, 16000, { numCeps: 20, numMelBins: 30 }).dim).toBe(20);
  });
});
