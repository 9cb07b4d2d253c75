/**
 * Feature-extraction options, one flat interface per extractor, named after Kaldi's
 * `compute-fbank-feats` / `compute-mfcc-feats` flags (camelCase, units in the names).
 * Defaults are Kaldi's, except `dither` (0 instead of 1: deterministic by default).
 *
 * Kaldi flag                    -> option
 *   --sample-frequency          -> sampleRateHz (optional: the audio's own rate is used and checked)
 *   --frame-shift / --frame-length -> frameShiftMs / frameLengthMs
 *   --dither, --preemphasis-coefficient, --remove-dc-offset, --window-type, --blackman-coeff,
 *   --round-to-power-of-two, --snip-edges  -> dither, preemphCoeff, removeDcOffset, windowType, ...
 *   --num-mel-bins, --low-freq, --high-freq, --vtln-low, --vtln-high, --vtln-warp, --htk-mode
 *   --use-energy, --energy-floor, --raw-energy, --htk-compat, --use-log-fbank, --use-power (fbank)
 *   --num-ceps, --cepstral-lifter (mfcc)
 */
import { ConfigError } from '../util/errors.ts';

export type WindowType = 'povey' | 'hamming' | 'hanning' | 'rectangular' | 'blackman' | 'sine';
export const WINDOW_TYPES: readonly WindowType[] = ['povey', 'hamming', 'hanning', 'rectangular', 'blackman', 'sine'];

/** How the waveform is cut into frames and each frame is prepared (Kaldi FrameExtractionOptions). */
export interface FrameOptions {
  /**
   * Sample rate the features are computed for. Undefined (default): the audio's own rate is used
   * (8 kHz works). When set, audio at any other rate is an error (as in Kaldi).
   */
  sampleRateHz?: number;
  /** Frame shift in milliseconds. Default 10. */
  frameShiftMs: number;
  /** Frame (window) length in milliseconds. Default 25. */
  frameLengthMs: number;
  /** Standard deviation of Gaussian dither added to each int16-range sample. Default 0 (Kaldi: 1). */
  dither: number;
  /** Seed of the dither noise (the stage mixes in the utterance id). Default 0. */
  ditherSeed: number;
  /** Pre-emphasis coefficient. Default 0.97. */
  preemphCoeff: number;
  /** Subtract each frame's mean before pre-emphasis. Default true. */
  removeDcOffset: boolean;
  /** Window function. Default 'povey' (Hann to the power 0.85). */
  windowType: WindowType;
  /** Constant of the generalised Blackman window. Default 0.42. */
  blackmanCoeff: number;
  /** Pad each frame with zeros to the next power of two for the FFT. Default true. */
  roundToPowerOfTwo: boolean;
  /**
   * true (default): only frames that fit completely in the signal; frame t starts at t * shift.
   * false: numFrames = round(numSamples / shift), frames centred on t * shift + shift/2,
   * the signal reflected at the ends.
   */
  snipEdges: boolean;
}

/** Triangular mel filterbank (Kaldi MelBanksOptions). */
export interface MelOptions {
  /** Number of triangular mel bins. Default 23 (Kaldi); the features stage uses 40. */
  numMelBins: number;
  /** Low cutoff of the mel bins in Hz. Default 20. */
  lowFreqHz: number;
  /** High cutoff in Hz; 0 = Nyquist, negative = offset from Nyquist. Default 0. */
  highFreqHz: number;
  /** VTLN lower cutoff of the piecewise-linear warp in Hz. Default 100. */
  vtlnLowHz: number;
  /** VTLN upper cutoff in Hz; negative = offset from Nyquist. Default -500. */
  vtlnHighHz: number;
  /** VTLN warp factor (1 = none). Default 1. */
  vtlnWarp: number;
  /** Replicate HTK's zeroed first weight of bin 0 when lowFreqHz > 0. Default false. */
  htkMode: boolean;
}

/** Log-mel filterbank (Kaldi FbankOptions). */
export interface FbankOptions extends FrameOptions, MelOptions {
  /** Append the log energy of the frame as an extra coefficient. Default false. */
  useEnergy: boolean;
  /** Floor on the log energy (absolute, not relative); 0 = none. Default 0. */
  energyFloor: number;
  /** Energy before pre-emphasis and windowing (true) or after (false). Default true. */
  rawEnergy: boolean;
  /** Put the energy last instead of first (HTK order). Default false. */
  htkCompat: boolean;
  /** Take the log of the mel energies (floored at FLT_EPSILON). Default true. */
  useLogFbank: boolean;
  /** Power spectrum (true) or magnitude spectrum (false). Default true. */
  usePower: boolean;
}

/** Mel-frequency cepstral coefficients (Kaldi MfccOptions). */
export interface MfccOptions extends FrameOptions, MelOptions {
  /** Number of cepstra including C0. Default 13. */
  numCeps: number;
  /** Replace C0 with the log energy of the frame. Default true. */
  useEnergy: boolean;
  /** Floor on the log energy; 0 = none. Default 0. */
  energyFloor: number;
  /** Energy before pre-emphasis and windowing. Default true. */
  rawEnergy: boolean;
  /** Cepstral liftering coefficient Q (0 = none). Default 22. */
  cepstralLifter: number;
  /** HTK order: C1..C(n-1) then C0/energy last (C0 scaled by sqrt(2)). Default false. */
  htkCompat: boolean;
}

export const DEFAULT_FRAME_OPTIONS: Readonly<FrameOptions> = Object.freeze({
  sampleRateHz: undefined,
  frameShiftMs: 10,
  frameLengthMs: 25,
  dither: 0,
  ditherSeed: 0,
  preemphCoeff: 0.97,
  removeDcOffset: true,
  windowType: 'povey' as WindowType,
  blackmanCoeff: 0.42,
  roundToPowerOfTwo: true,
  snipEdges: true,
});

export const DEFAULT_MEL_OPTIONS: Readonly<MelOptions> = Object.freeze({
  numMelBins: 23,
  lowFreqHz: 20,
  highFreqHz: 0,
  vtlnLowHz: 100,
  vtlnHighHz: -500,
  vtlnWarp: 1,
  htkMode: false,
});

export const DEFAULT_FBANK_OPTIONS: Readonly<FbankOptions> = Object.freeze({
  ...DEFAULT_FRAME_OPTIONS,
  ...DEFAULT_MEL_OPTIONS,
  useEnergy: false,
  energyFloor: 0,
  rawEnergy: true,
  htkCompat: false,
  useLogFbank: true,
  usePower: true,
});

export const DEFAULT_MFCC_OPTIONS: Readonly<MfccOptions> = Object.freeze({
  ...DEFAULT_FRAME_OPTIONS,
  ...DEFAULT_MEL_OPTIONS,
  numCeps: 13,
  useEnergy: true,
  energyFloor: 0,
  rawEnergy: true,
  cepstralLifter: 22,
  htkCompat: false,
});

export const FRAME_OPTION_KEYS = Object.keys(DEFAULT_FRAME_OPTIONS) as (keyof FrameOptions)[];

type Kind = 'number' | 'boolean' | 'window' | 'optionalRate';
const KINDS: Record<string, Kind> = {
  sampleRateHz: 'optionalRate',
  windowType: 'window',
  removeDcOffset: 'boolean',
  roundToPowerOfTwo: 'boolean',
  snipEdges: 'boolean',
  htkMode: 'boolean',
  useEnergy: 'boolean',
  rawEnergy: 'boolean',
  htkCompat: 'boolean',
  useLogFbank: 'boolean',
  usePower: 'boolean',
};

/**
 * Merge user options over defaults. Unknown keys, wrong types and out-of-range values are
 * ConfigErrors naming the key (prefixed with `keyPrefix`, e.g. `stages.features.fbank`).
 */
function resolve<T extends object>(defaults: Readonly<T>, user: unknown, keyPrefix: string): T {
  const out = { ...defaults } as Record<string, unknown>;
  if (user === undefined || user === null) return out as T;
  if (typeof user !== 'object' || Array.isArray(user)) {
    throw new ConfigError('feature options must be an object', {
      keyPath: keyPrefix || undefined,
      found: JSON.stringify(user),
    });
  }
  for (const [k, v] of Object.entries(user as Record<string, unknown>)) {
    const keyPath = keyPrefix ? `${keyPrefix}.${k}` : k;
    if (!(k in defaults)) {
      throw new ConfigError('unknown feature option', {
        keyPath,
        expected: `one of ${Object.keys(defaults).join(', ')}`,
        found: JSON.stringify(k),
      });
    }
    if (v === undefined) continue;
    const kind = KINDS[k] ?? 'number';
    if (kind === 'boolean' && typeof v !== 'boolean') {
      throw new ConfigError('wrong type', { keyPath, expected: 'a boolean', found: JSON.stringify(v) });
    }
    if (kind === 'number' && (typeof v !== 'number' || !Number.isFinite(v))) {
      throw new ConfigError('wrong type', { keyPath, expected: 'a finite number', found: JSON.stringify(v) });
    }
    if (kind === 'optionalRate' && v !== null && (typeof v !== 'number' || !(v > 0))) {
      throw new ConfigError('bad sample rate', {
        keyPath,
        expected: 'a positive number of Hz',
        found: JSON.stringify(v),
      });
    }
    if (kind === 'window' && !WINDOW_TYPES.includes(v as WindowType)) {
      throw new ConfigError('unknown window type', {
        keyPath,
        expected: WINDOW_TYPES.join(' | '),
        found: JSON.stringify(v),
      });
    }
    out[k] = v === null ? undefined : v;
  }
  checkRanges(out, keyPrefix);
  return out as T;
}

function checkRanges(o: Record<string, unknown>, keyPrefix: string): void {
  const bad = (k: string, expected: string) => {
    throw new ConfigError('option out of range', {
      keyPath: keyPrefix ? `${keyPrefix}.${k}` : k,
      expected,
      found: String(o[k]),
    });
  };
  const num = (k: string) => o[k] as number;
  if (!(num('frameShiftMs') > 0)) bad('frameShiftMs', '> 0');
  if (!(num('frameLengthMs') > 0)) bad('frameLengthMs', '> 0');
  if (!(num('dither') >= 0)) bad('dither', '>= 0');
  if (!(num('preemphCoeff') >= 0 && num('preemphCoeff') <= 1)) bad('preemphCoeff', 'in [0, 1]');
  if (!Number.isInteger(num('numMelBins')) || num('numMelBins') < 3) bad('numMelBins', 'an integer >= 3');
  if (!(num('lowFreqHz') >= 0)) bad('lowFreqHz', '>= 0');
  if (!(num('vtlnWarp') > 0)) bad('vtlnWarp', '> 0');
  if ('numCeps' in o) {
    if (!Number.isInteger(num('numCeps')) || num('numCeps') < 1) bad('numCeps', 'an integer >= 1');
    if (num('numCeps') > num('numMelBins')) bad('numCeps', `<= numMelBins (${num('numMelBins')})`);
  }
  if ('cepstralLifter' in o && !(num('cepstralLifter') >= 0)) bad('cepstralLifter', '>= 0');
}

/**
 * The keys and types of fbank or mfcc options (`defaults`: DEFAULT_FBANK_OPTIONS or
 * DEFAULT_MFCC_OPTIONS) as JSON Schema, for the published recipe schema; `frameDefaultsFrom`
 * names where the frame options' defaults come from instead (mfcc: the fbank's). Ranges that depend on
 * other options or on the sample rate are checked by fbankOptions / mfccOptions and the features
 * stage only.
 */
export function featureOptionsJsonSchema(
  defaults: Readonly<FbankOptions | MfccOptions>,
  opts: { frameDefaultsFrom?: string } = {},
): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(defaults)) {
    const kind = KINDS[k] ?? 'number';
    const inherited = opts.frameDefaultsFrom !== undefined && (FRAME_OPTION_KEYS as string[]).includes(k);
    const def = inherited ? { description: `default: ${opts.frameDefaultsFrom}` } : { default: v };
    if (kind === 'optionalRate') properties[k] = { type: ['number', 'null'], exclusiveMinimum: 0 };
    else if (kind === 'window') properties[k] = { enum: [...WINDOW_TYPES], ...def };
    else properties[k] = { type: kind, ...def };
  }
  return { type: ['object', 'null'], properties, additionalProperties: false };
}

/** Full fbank options from a partial object; throws ConfigError on unknown keys or bad values. */
export function fbankOptions(user?: Partial<FbankOptions> | Record<string, unknown>, keyPrefix = ''): FbankOptions {
  return resolve(DEFAULT_FBANK_OPTIONS, user, keyPrefix);
}

/** Full MFCC options from a partial object; throws ConfigError on unknown keys or bad values. */
export function mfccOptions(user?: Partial<MfccOptions> | Record<string, unknown>, keyPrefix = ''): MfccOptions {
  return resolve(DEFAULT_MFCC_OPTIONS, user, keyPrefix);
}

/** The frame options of a full fbank/mfcc options object. */
export function frameOptionsOf(o: FrameOptions): FrameOptions {
  const out = {} as Record<string, unknown>;
  for (const k of FRAME_OPTION_KEYS) out[k] = o[k];
  return out as unknown as FrameOptions;
}

/** True when two option objects cut and prepare frames identically (a spectrum can be shared). */
export function sameFrameOptions(a: FrameOptions, b: FrameOptions): boolean {
  return FRAME_OPTION_KEYS.every((k) => a[k] === b[k]);
}
