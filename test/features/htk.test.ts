/**
 * HTK feature files and Kaldi's HTK compatibility test data (src/feat/test_data in Kaldi):
 * HCopy 3.4 outputs for test.wav with the configs fbank1-4.conf and hcopy1-6.conf.
 *
 * Tolerances (max abs difference), stated here and in docs/decisions.md:
 *  - FBANK 1, 2 (no VTLN): 1e-3 on every frame (Kaldi's own feature-fbank-test uses 1e-3).
 *    Config 2 (LOFREQ 25) needs htkMode (HTK zeroes the first weight of bin 0).
 *  - FBANK 4 (WARPFREQ 1.1): 5e-3 on every bin. FBANK 3 (WARPFREQ 0.9): 5e-3 on bins 1-21, 0.6 on
 *    the top two: HTK places the upper VTLN cutoff at 2 fu / (1 + 1/alpha), Kaldi at fu * min(1, alpha).
 *  - MFCC_D_A (fea 1-6, with Kaldi add-deltas): 1e-3 on frames 10 .. n-11 (Kaldi's own
 *    feature-mfcc-test uses 1.0 there), 3.0 on the first and last 10 frames, where HTK and Kaldi
 *    pad the delta windows differently.
 */
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { encodeHtkFeatures, htkParmKindName, parseHtkFeatures, readHtkFeatures } from '../../src/features/htk.ts';
import { computeFbank } from '../../src/features/fbank.ts';
import { computeMfcc } from '../../src/features/mfcc.ts';
import { addDeltas } from '../../src/features/deltas.ts';
import { fromRows, type FeatureMatrix } from '../../src/features/matrix.ts';
import type { FbankOptions, MfccOptions } from '../../src/features/options.ts';
import { FormatError } from '../../src/util/errors.ts';
import { CORPORA, maxAbsDiff, readWav, sharedAvailable } from './helpers.ts';

describe('HTK feature files', () => {
  it('round-trip through the big-endian 12-byte header format', () => {
    const m = fromRows([
      [1, -2.5, 3],
      [4, 5, 6.25],
    ]);
    const bytes = encodeHtkFeatures(m, 0.01, 0o21406);
    expect(bytes.length).toBe(12 + 24);
    expect(bytes[3]).toBe(2); // nSamples big-endian
    const back = parseHtkFeatures(bytes, 'x.htk');
    expect(back.data).toEqual(m.data);
    expect(back.framePeriodSec).toBeCloseTo(0.01, 12);
    expect(back.parmKindName).toBe('MFCC_D_A_0');
  });
  it('names parameter kinds like HTK', () => {
    expect(htkParmKindName(7)).toBe('FBANK');
    expect(htkParmKindName(6 | 0o100 | 0o400 | 0o1000)).toBe('MFCC_E_D_A');
  });
  it('rejects truncated, mis-sized, little-endian and compressed files, naming the file', () => {
    const good = encodeHtkFeatures(fromRows([[1, 2]]), 0.01, 7);
    expect(() => parseHtkFeatures(good.subarray(0, 8), 'a.htk')).toThrow(/a\.htk: truncated HTK header/);
    expect(() => parseHtkFeatures(good.subarray(0, 16), 'b.htk')).toThrow(/b\.htk: HTK file size does not match/);
    const le = Uint8Array.from(good);
    le.subarray(0, 4).reverse();
    expect(() => parseHtkFeatures(le, 'c.htk')).toThrow(FormatError);
    const comp = Uint8Array.from(good);
    new DataView(comp.buffer).setUint16(10, 7 | 0o2000, false);
    expect(() => parseHtkFeatures(comp, 'd.htk')).toThrow(/compressed/);
  });
});

const DATA = join(CORPORA, 'kaldi-feat-testdata');
const haveData = sharedAvailable('corpora/kaldi-feat-testdata', 'HTK reference comparison');

/** Max abs difference per column over frames [from, to). */
function colMax(a: FeatureMatrix, b: FeatureMatrix, from = 0, to = a.numFrames): number[] {
  const out = new Array(a.dim).fill(0);
  for (let t = from; t < to; t++) {
    for (let j = 0; j < a.dim; j++) out[j] = Math.max(out[j], Math.abs(a.data[t * a.dim + j] - b.data[t * b.dim + j]));
  }
  return out;
}

describe.skipIf(!haveData)("reproduces HTK HCopy references of Kaldi's feature tests (needs ../shared)", () => {
  const load = () => readWav(join(DATA, 'test.wav'));
  // HCopy: USEHAMMING, PREEMCOEF 0, no DC removal, HIFREQ 8000, 23 channels, power spectrum.
  const htkBase: Partial<FbankOptions> = {
    windowType: 'hamming',
    preemphCoeff: 0,
    removeDcOffset: false,
    lowFreqHz: 0,
    highFreqHz: 8000,
    numMelBins: 23,
  };
  const fbankCases: [number, Partial<FbankOptions>, number[]][] = [
    [1, {}, new Array(23).fill(1e-3)],
    [2, { lowFreqHz: 25, htkMode: true }, new Array(23).fill(1e-3)],
    [
      3,
      { lowFreqHz: 25, htkMode: true, vtlnLowHz: 100, vtlnHighHz: 7500, vtlnWarp: 0.9 },
      [...new Array(21).fill(5e-3), 0.6, 0.6],
    ],
    [4, { lowFreqHz: 25, htkMode: true, vtlnLowHz: 100, vtlnHighHz: 7500, vtlnWarp: 1.1 }, new Array(23).fill(5e-3)],
  ];
  for (const [i, extra, tol] of fbankCases) {
    it(`test.wav.fbank_htk.${i} (fbank${i}.conf)`, async () => {
      const { sampleRateHz, samples } = load();
      const ref = await readHtkFeatures(join(DATA, `test.wav.fbank_htk.${i}`));
      expect(ref.parmKindName).toBe('FBANK');
      const ours = computeFbank(samples, sampleRateHz, { ...htkBase, ...extra });
      expect([ours.numFrames, ours.dim]).toEqual([ref.numFrames, ref.dim]);
      const cols = colMax(ours, ref);
      cols.forEach((d, j) => expect(d, `bin ${j}`).toBeLessThanOrEqual(tol[j]));
    });
  }

  const mfccBase: Partial<MfccOptions> = {
    windowType: 'hamming',
    removeDcOffset: false,
    lowFreqHz: 0,
    highFreqHz: 8000,
    htkCompat: true,
  };
  const mfccCases: [number, Partial<MfccOptions>, string][] = [
    [1, { preemphCoeff: 0, useEnergy: false }, 'MFCC_D_A_0'],
    [2, { preemphCoeff: 0, useEnergy: true }, 'MFCC_E_D_A'],
    [3, { preemphCoeff: 0, useEnergy: true, lowFreqHz: 20, htkMode: true }, 'MFCC_E_D_A'],
    [4, { useEnergy: true }, 'MFCC_E_D_A'],
    [5, { useEnergy: true, vtlnLowHz: 100, vtlnHighHz: 7500, vtlnWarp: 1.1 }, 'MFCC_E_D_A'],
    [6, { useEnergy: false, numMelBins: 24, lowFreqHz: 125, highFreqHz: 7800 }, 'MFCC_D_A_0'],
  ];
  for (const [i, extra, kind] of mfccCases) {
    it(`test.wav.fea_htk.${i} (hcopy${i}.conf, ${kind})`, async () => {
      const { sampleRateHz, samples } = load();
      const ref = await readHtkFeatures(join(DATA, `test.wav.fea_htk.${i}`));
      expect(ref.parmKindName).toBe(kind);
      const ours = addDeltas(computeMfcc(samples, sampleRateHz, { ...mfccBase, ...extra }));
      expect([ours.numFrames, ours.dim]).toEqual([ref.numFrames, 39]);
      const n = ref.numFrames;
      expect(Math.max(...colMax(ours, ref, 10, n - 10))).toBeLessThanOrEqual(1e-3);
      expect(maxAbsDiff(ours.data, ref.data)).toBeLessThanOrEqual(3.0);
    });
  }
});
