/**
 * Log-mel filterbank features, Kaldi `compute-fbank-feats` compatible (FbankComputer).
 * Input: float samples in [-1, 1) at the file's own rate; they are scaled by 32768 internally
 * (Kaldi works on int16-range values), so the numbers match Kaldi and
 * torchaudio.compliance.kaldi.fbank on int16-scaled input.
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
import { LogBuffer, logFlooredInto } from './fastlog.ts';
import { fbankOptions, type FbankOptions } from './options.ts';
import { MelFeatureComputer } from './mel-computer.ts';

export class FbankComputer extends MelFeatureComputer<FbankOptions> {
  readonly dim: number;
  private readonly mel: LogBuffer;
  private readonly magnitude: Float64Array;

  /** `options` are merged over Kaldi's defaults (ConfigError on unknown keys / bad values). */
  constructor(options: Partial<FbankOptions> | undefined, sampleRateHz: number) {
    super(fbankOptions(options), sampleRateHz);
    const o = this.options;
    this.dim = o.numMelBins + (o.useEnergy ? 1 : 0);
    this.mel = new LogBuffer(o.numMelBins);
    this.magnitude = new Float64Array(this.geometry.paddedWindowSize / 2 + 1);
    if (o.usePower) this.powerMelBanks = this.melBanks;
    this.wantsMelLogs = o.useLogFbank;
  }

  computeFrame(frame: FrameSpectrum, out: Float32Array, offset: number): void {
    const o = this.options;
    // The front end's mel energies (and logs) where it computed them (wasm), else ours.
    const done = o.usePower ? frame.mel?.get(this.melBanks) : undefined;
    if (done) {
      this.writeFrame(done.values, done.logs, 0, frame, out, offset);
      return;
    }
    let spectrum = frame.power;
    if (!o.usePower) {
      const mag = this.magnitude;
      for (let k = 0; k < mag.length; k++) mag[k] = Math.sqrt(spectrum[k]);
      spectrum = mag;
    }
    this.melBanks.apply(spectrum, this.mel.values, 0);
    this.writeFrame(this.mel.values, null, 0, frame, out, offset);
  }

  computeFrames(batch: FrameBatch, count: number, out: Float32Array, offset: number): void {
    const o = this.options;
    const nb = o.numMelBins;
    const done = batch.mel.get(this.melBanks)!;
    if (done.logs && o.useLogFbank && !o.useEnergy) {
      out.set(done.logs.subarray(0, count * nb), offset);
      return;
    }
    const energy = { rawLogEnergy: NaN, windowedLogEnergy: NaN };
    for (let i = 0; i < count; i++) {
      energy.rawLogEnergy = batch.rawLogEnergy[i];
      this.writeFrame(done.values, done.logs, i * nb, energy, out, offset + i * this.dim);
    }
  }

  /** One output row from mel energies (or their floored logs) at values[at ...] / logs[at ...]. */
  private writeFrame(
    values: Float64Array,
    logs: Float32Array | null,
    at: number,
    energy: FrameEnergies,
    out: Float32Array,
    offset: number,
  ): void {
    const o = this.options;
    const nb = o.numMelBins;
    const melOffset = offset + (o.useEnergy && !o.htkCompat ? 1 : 0);
    if (o.useLogFbank && logs) {
      for (let b = 0; b < nb; b++) out[melOffset + b] = logs[at + b];
    } else if (o.useLogFbank) {
      if (values !== this.mel.values || at !== 0) this.mel.values.set(values.subarray(at, at + nb));
      // log(max(v, FLT_EPSILON)) as Kaldi, equal to Math.log's to 1e-13 (see fastlog.ts).
      logFlooredInto(this.mel, nb, FLT_EPSILON, out, melOffset);
    } else {
      for (let b = 0; b < nb; b++) out[melOffset + b] = values[at + b];
    }
    if (o.useEnergy) out[offset + (o.htkCompat ? nb : 0)] = this.logEnergy(energy);
  }
}

/**
 * Log-mel filterbank of one signal, as `compute-fbank-feats` (with --dither 0 by default).
 * `samples` are floats in [-1, 1) (int16 / 32768) at `sampleRateHz`.
 */
export function computeFbank(
  samples: Float32Array,
  sampleRateHz: number,
  options?: Partial<FbankOptions>,
  opts: { rng?: Rng; uttId?: string; engine?: SpectrumEngine } = {},
): FeatureMatrix {
  return new FbankComputer(options, sampleRateHz).compute(samples, opts);
}
