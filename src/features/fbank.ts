/**
 * Log-mel filterbank features, Kaldi `compute-fbank-feats` compatible (FbankComputer).
 * Input: float samples in [-1, 1) at the file's own rate; they are scaled by 32768 internally
 * (Kaldi works on int16-range values), so the numbers match Kaldi and
 * torchaudio.compliance.kaldi.fbank on int16-scaled input.
 */
import type { Rng } from '../util/rng.ts';
import { frameGeometry, type FrameGeometry } from './frames.ts';
import { extractFeatures, FLT_EPSILON, type FeatureExtractor, type FrameSpectrum } from './frontend.ts';
import type { FeatureMatrix } from './matrix.ts';
import { MelBanks } from './mel.ts';
import { LogBuffer, logFlooredInto } from './fastlog.ts';
import { fbankOptions, frameOptionsOf, type FbankOptions, type FrameOptions } from './options.ts';
import { FormatError } from '../util/errors.ts';

export class FbankComputer implements FeatureExtractor {
  readonly options: FbankOptions;
  readonly frameOptions: FrameOptions;
  readonly geometry: FrameGeometry;
  readonly melBanks: MelBanks;
  readonly dim: number;
  readonly needsRawEnergy: boolean;
  readonly needsWindowedEnergy: boolean;
  private readonly mel: LogBuffer;
  private readonly magnitude: Float64Array;
  private readonly logEnergyFloor: number;

  /** `options` are merged over Kaldi's defaults (ConfigError on unknown keys / bad values). */
  constructor(options: Partial<FbankOptions> | undefined, sampleRateHz: number) {
    this.options = fbankOptions(options);
    const o = this.options;
    if (o.sampleRateHz !== undefined && o.sampleRateHz !== sampleRateHz) {
      throw new FormatError('audio sample rate differs from the configured sampleRateHz', {
        expected: `${o.sampleRateHz} Hz`,
        found: `${sampleRateHz} Hz`,
      });
    }
    this.frameOptions = frameOptionsOf(o);
    this.geometry = frameGeometry(o, sampleRateHz);
    this.melBanks = new MelBanks(o, this.geometry);
    this.dim = o.numMelBins + (o.useEnergy ? 1 : 0);
    this.needsRawEnergy = o.useEnergy && o.rawEnergy;
    this.needsWindowedEnergy = o.useEnergy && !o.rawEnergy;
    this.mel = new LogBuffer(o.numMelBins);
    this.magnitude = new Float64Array(this.geometry.paddedWindowSize / 2 + 1);
    this.logEnergyFloor = o.energyFloor > 0 ? Math.log(o.energyFloor) : -Infinity;
  }

  computeFrame(frame: FrameSpectrum, out: Float32Array, offset: number): void {
    const o = this.options;
    let spectrum = frame.power;
    if (!o.usePower) {
      const mag = this.magnitude;
      for (let k = 0; k < mag.length; k++) mag[k] = Math.sqrt(spectrum[k]);
      spectrum = mag;
    }
    const mel = this.mel.values;
    this.melBanks.apply(spectrum, mel, 0);
    const nb = o.numMelBins;
    const melOffset = offset + (o.useEnergy && !o.htkCompat ? 1 : 0);
    if (o.useLogFbank) {
      // log(max(v, FLT_EPSILON)) as Kaldi, equal to Math.log's to 1e-13 (see fastlog.ts).
      logFlooredInto(this.mel, nb, FLT_EPSILON, out, melOffset);
    } else {
      for (let b = 0; b < nb; b++) out[melOffset + b] = mel[b];
    }
    if (o.useEnergy) {
      let e = o.rawEnergy ? frame.rawLogEnergy : frame.windowedLogEnergy;
      if (e < this.logEnergyFloor) e = this.logEnergyFloor;
      out[offset + (o.htkCompat ? nb : 0)] = e;
    }
  }

  /** Features of a whole signal (float samples in [-1, 1)). */
  compute(samples: Float32Array, opts: { rng?: Rng; uttId?: string } = {}): FeatureMatrix {
    return extractFeatures(samples, this.geometry.sampleRateHz, [this], opts)[0];
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
  opts: { rng?: Rng; uttId?: string } = {},
): FeatureMatrix {
  return new FbankComputer(options, sampleRateHz).compute(samples, opts);
}
