/**
 * MFCC, Kaldi `compute-mfcc-feats` compatible (MfccComputer): log mel energies -> DCT-II
 * (orthonormal, first numCeps rows) -> cepstral liftering -> C0 replaced by log energy.
 */
import type { Rng } from '../util/rng.ts';
import {
  FLT_EPSILON,
  type FrameBatch,
  type FrameEnergies,
  type FrameSpectrum,
  type SpectrumEngine,
} from './frontend.ts';
import type { FeatureMatrix } from './matrix.ts';
import { mfccOptions, type MfccOptions } from './options.ts';
import { MelFeatureComputer } from './mel-computer.ts';

/**
 * Kaldi ComputeDctMatrix: row 0 = sqrt(1/N), row k = sqrt(2/N) cos(pi/N (n + 0.5) k).
 * Returns the first `numRows` rows of the N x N matrix, row-major.
 */
export function dctMatrix(numRows: number, n: number): Float64Array {
  const m = new Float64Array(numRows * n);
  const n0 = Math.sqrt(1 / n);
  for (let j = 0; j < n; j++) m[j] = n0;
  const nk = Math.sqrt(2 / n);
  for (let k = 1; k < numRows; k++) {
    for (let j = 0; j < n; j++) m[k * n + j] = nk * Math.cos((Math.PI / n) * (j + 0.5) * k);
  }
  return m;
}

/** Kaldi ComputeLifterCoeffs: 1 + Q/2 sin(pi i / Q). */
export function lifterCoeffs(numCeps: number, q: number): Float64Array {
  const c = new Float64Array(numCeps);
  for (let i = 0; i < numCeps; i++) c[i] = 1 + 0.5 * q * Math.sin((Math.PI * i) / q);
  return c;
}

export class MfccComputer extends MelFeatureComputer<MfccOptions> {
  readonly dim: number;
  private readonly dct: Float64Array;
  private readonly lifter: Float64Array | null;
  private readonly mel: Float64Array;
  private readonly ceps: Float64Array;

  constructor(options: Partial<MfccOptions> | undefined, sampleRateHz: number) {
    super(mfccOptions(options), sampleRateHz);
    const o = this.options;
    this.dim = o.numCeps;
    this.dct = dctMatrix(o.numCeps, o.numMelBins);
    this.lifter = o.cepstralLifter !== 0 ? lifterCoeffs(o.numCeps, o.cepstralLifter) : null;
    this.mel = new Float64Array(o.numMelBins);
    this.ceps = new Float64Array(o.numCeps);
    this.powerMelBanks = this.melBanks;
  }

  computeFrame(frame: FrameSpectrum, out: Float32Array, offset: number): void {
    const done = frame.mel?.get(this.melBanks);
    if (done) this.mel.set(done.first.values);
    else this.melBanks.apply(frame.power, this.mel, 0);
    this.fromMel(frame, out, offset);
  }

  computeFrames(batch: FrameBatch, count: number, out: Float32Array, offset: number): void {
    const nb = this.options.numMelBins;
    const values = batch.mel.get(this.melBanks)!.values;
    const energy = { rawLogEnergy: NaN, windowedLogEnergy: NaN };
    for (let i = 0; i < count; i++) {
      this.mel.set(values.subarray(i * nb, (i + 1) * nb));
      energy.rawLogEnergy = batch.rawLogEnergy[i];
      this.fromMel(energy, out, offset + i * this.dim);
    }
  }

  /** One output row from the mel energies in this.mel (overwritten). */
  private fromMel(energy: FrameEnergies, out: Float32Array, offset: number): void {
    const o = this.options;
    const nb = o.numMelBins;
    const nc = o.numCeps;
    const mel = this.mel;
    for (let b = 0; b < nb; b++) mel[b] = Math.log(mel[b] > FLT_EPSILON ? mel[b] : FLT_EPSILON);
    const ceps = this.ceps;
    const dct = this.dct;
    for (let k = 0; k < nc; k++) {
      let s = 0;
      const base = k * nb;
      for (let b = 0; b < nb; b++) s += dct[base + b] * mel[b];
      ceps[k] = s;
    }
    if (this.lifter) for (let k = 0; k < nc; k++) ceps[k] *= this.lifter[k];
    if (o.useEnergy) ceps[0] = this.logEnergy(energy);
    if (o.htkCompat) {
      let c0 = ceps[0];
      for (let k = 0; k < nc - 1; k++) out[offset + k] = ceps[k + 1];
      if (!o.useEnergy) c0 *= Math.SQRT2;
      out[offset + nc - 1] = c0;
    } else {
      for (let k = 0; k < nc; k++) out[offset + k] = ceps[k];
    }
  }
}

/** MFCCs of one signal, as `compute-mfcc-feats` (with --dither 0 by default). */
export function computeMfcc(
  samples: Float32Array,
  sampleRateHz: number,
  options?: Partial<MfccOptions>,
  opts: { rng?: Rng; uttId?: string; engine?: SpectrumEngine } = {},
): FeatureMatrix {
  return new MfccComputer(options, sampleRateHz).compute(samples, opts);
}
