/**
 * What Kaldi's FbankComputer and MfccComputer share: the sample-rate check, frame geometry, mel
 * banks, which energy the front end must compute, the floored log energy, and whole-signal
 * computation. Subclasses add `dim` and `computeFrame`.
 */
import type { Rng } from '../util/rng.ts';
import { FormatError } from '../util/errors.ts';
import { frameGeometry, type FrameGeometry } from './frames.ts';
import {
  extractFeatures,
  type FeatureExtractor,
  type FrameEnergies,
  type FrameSpectrum,
  type SpectrumEngine,
} from './frontend.ts';
import type { FeatureMatrix } from './matrix.ts';
import { MelBanks } from './mel.ts';
import { frameOptionsOf, type FrameOptions, type MelOptions } from './options.ts';

/** The options fbank and MFCC have in common. */
export interface MelComputerOptions extends FrameOptions, MelOptions {
  useEnergy: boolean;
  energyFloor: number;
  rawEnergy: boolean;
}

export abstract class MelFeatureComputer<O extends MelComputerOptions> implements FeatureExtractor {
  readonly options: O;
  readonly frameOptions: FrameOptions;
  readonly geometry: FrameGeometry;
  readonly melBanks: MelBanks;
  readonly needsRawEnergy: boolean;
  readonly needsWindowedEnergy: boolean;
  /** Set by subclasses that apply the mel banks to the power spectrum (the front end may do it). */
  powerMelBanks?: MelBanks;
  wantsMelLogs?: boolean;
  abstract readonly dim: number;
  private readonly logEnergyFloor: number;

  /** `options` are already merged over Kaldi's defaults; `sampleRateHz` is the audio's rate. */
  protected constructor(options: O, sampleRateHz: number) {
    this.options = options;
    const o = options;
    if (o.sampleRateHz !== undefined && o.sampleRateHz !== sampleRateHz) {
      throw new FormatError('audio sample rate differs from the configured sampleRateHz', {
        expected: `${o.sampleRateHz} Hz`,
        found: `${sampleRateHz} Hz`,
      });
    }
    this.frameOptions = frameOptionsOf(o);
    this.geometry = frameGeometry(o, sampleRateHz);
    this.melBanks = new MelBanks(o, this.geometry);
    this.needsRawEnergy = o.useEnergy && o.rawEnergy;
    this.needsWindowedEnergy = o.useEnergy && !o.rawEnergy;
    this.logEnergyFloor = o.energyFloor > 0 ? Math.log(o.energyFloor) : -Infinity;
  }

  abstract computeFrame(frame: FrameSpectrum, out: Float32Array, offset: number): void;

  /** The frame's log energy (raw or windowed, as configured), floored at log(energyFloor). */
  protected logEnergy(frame: FrameEnergies): number {
    const e = this.options.rawEnergy ? frame.rawLogEnergy : frame.windowedLogEnergy;
    return e < this.logEnergyFloor ? this.logEnergyFloor : e;
  }

  /** Features of a whole signal (float samples in [-1, 1)). */
  compute(samples: Float32Array, opts: { rng?: Rng; uttId?: string; engine?: SpectrumEngine } = {}): FeatureMatrix {
    return extractFeatures(samples, this.geometry.sampleRateHz, [this], opts)[0];
  }
}
