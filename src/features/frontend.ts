/**
 * The shared spectral front end of fbank and MFCC (Kaldi OfflineFeatureTpl + ExtractWindow +
 * ProcessWindow): cut frames, dither, remove DC, log energy, pre-emphasis, window, power spectrum.
 * Extractors that share frame options share one pass over the signal (one FFT per frame).
 */
import { Rng } from '../util/rng.ts';
import { firstSampleOfFrame, frameGeometry, numFrames, windowFunction, type FrameGeometry } from './frames.ts';
import { createPowerSpectrum, isPowerOfTwo, referenceSpectrum, type PowerSpectrum } from './fft.ts';
import type { MelBanks } from './mel.ts';
import { WasmSpectrum, type WasmMel } from './wasm-spectrum.ts';
import { createMatrix, type FeatureMatrix } from './matrix.ts';
import { sameFrameOptions, type FrameOptions } from './options.ts';
import { ConfigError, FormatError } from '../util/errors.ts';

/** float32 machine epsilon, Kaldi's floor before taking logs. */
export const FLT_EPSILON = 1.1920928955078125e-7;

/** Samples in [-1, 1) are multiplied by this to reach Kaldi's int16 range. */
export const INT16_SCALE = 32768;

/** A frame's log energies (NaN unless requested). */
export interface FrameEnergies {
  /** log(max(energy, FLT_EPSILON)) before pre-emphasis and windowing. */
  rawLogEnergy: number;
  /** Same after windowing. */
  windowedLogEnergy: number;
}

/** What the front end hands an extractor for one frame. */
export interface FrameSpectrum extends FrameEnergies {
  /** Power spectrum |X[k]|^2, k = 0 .. paddedWindowSize / 2. */
  power: Float64Array;
  /**
   * Mel energies the front end computed with the spectrum (WebAssembly; use their `first`
   * frame), for the banks that extractors declared in `powerMelBanks`; absent banks are applied
   * to `power` by the extractor.
   */
  mel?: Map<MelBanks, WasmMel>;
}

/** What the front end hands an extractor for a run of frames computed together (WebAssembly). */
export interface FrameBatch {
  /** Per frame, as FrameSpectrum.rawLogEnergy. */
  rawLogEnergy: Float64Array;
  /** Mel energies (and logs) of the extractors' `powerMelBanks`, frame i at [i numBins, ...). */
  mel: Map<MelBanks, WasmMel>;
}

/**
 * Which code computes frames and spectra: 'wasm' (WebAssembly SIMD, generated at run time;
 * the default wherever it compiles) or 'js' (plain JavaScript, the reference). Both are
 * deterministic and agree to about 1e-13 relative.
 */
export type SpectrumEngine = 'wasm' | 'js';

/** A per-frame feature computation on top of the shared front end (fbank, MFCC). */
export interface FeatureExtractor {
  readonly frameOptions: FrameOptions;
  readonly geometry: FrameGeometry;
  readonly dim: number;
  readonly needsRawEnergy: boolean;
  readonly needsWindowedEnergy: boolean;
  /**
   * Mel banks the extractor applies to the power spectrum, which the front end may apply for it
   * (with their floored logs as floats when `wantsMelLogs`).
   */
  readonly powerMelBanks?: MelBanks;
  readonly wantsMelLogs?: boolean;
  /** Write `dim` values for one frame into out[offset ...]. */
  computeFrame(frame: FrameSpectrum, out: Float32Array, offset: number): void;
  /**
   * Optional: write `dim` values for each of `count` consecutive frames into out[offset ...]
   * from a batch: the mel energies of its `powerMelBanks` and the raw energies (the power
   * spectra are not kept).
   */
  computeFrames?(batch: FrameBatch, count: number, out: Float32Array, offset: number): void;
}

export interface ExtractOptions {
  /** Random source of the dither (when dither > 0). Default: new Rng(frameOptions.ditherSeed). */
  rng?: Rng;
  /** Multiplier applied to the samples. Default 32768 (float [-1, 1) -> int16 range, as Kaldi). */
  sampleScale?: number;
  /** Named in errors. */
  uttId?: string;
  /** Default 'wasm' (falls back to 'js' where WebAssembly SIMD is unavailable). */
  engine?: SpectrumEngine;
}

/** Window function and (power-of-two FFT lengths) the window's spectrum, per window type and size. */
interface WindowTables {
  window: Float64Array;
  reference: { re: Float64Array; im: Float64Array } | null;
}
const windowCache = new Map<string, WindowTables>();

/** Shared, read-only: built once per window type, length and FFT length. */
function windowTables(options: FrameOptions, windowSize: number, paddedSize: number): WindowTables {
  const key = `${options.windowType}:${options.blackmanCoeff}:${windowSize}:${paddedSize}`;
  let t = windowCache.get(key);
  if (!t) {
    const window = windowFunction(options.windowType, windowSize, options.blackmanCoeff);
    let reference = null;
    if (isPowerOfTwo(paddedSize) && paddedSize >= 16) {
      const padded = new Float64Array(paddedSize);
      padded.set(window);
      reference = referenceSpectrum(padded);
    }
    t = { window, reference };
    if (windowCache.size >= 64) windowCache.clear();
    windowCache.set(key, t);
  }
  return t;
}

/**
 * Frame cutting and preparation for one set of frame options at one sample rate. With the wasm
 * engine the signal is copied into wasm memory in chunks, keyed by the array: it must not change
 * while one front end works on it.
 */
export class SpectrumFrontend {
  readonly options: FrameOptions;
  readonly geometry: FrameGeometry;
  readonly window: Float64Array;
  /**
   * The prepared (windowed, zero-padded) frame of the last processFrame call, where JavaScript
   * prepared it (the wasm engine's fast path prepares frames in wasm memory).
   */
  readonly frame: Float64Array;
  readonly power: Float64Array;
  /** The JavaScript power spectrum (null with the wasm engine). */
  private readonly spectrum: PowerSpectrum | null;
  /** The FFT can remove a DC offset after the transform (window spectrum registered). */
  private readonly canFoldDc: boolean;
  /** Pending DC correction of the prepared frame: power = |X - dcCoef * W|^2, W = FFT(window). */
  private dcCoef = 0;
  private readonly scaledWindow: Float64Array;
  private scaledWindowScale = NaN;
  /** The WebAssembly kernels (null: JavaScript only). */
  readonly wasm: WasmSpectrum | null;
  /** The current frame's spectrum is already in wasm memory (prepared there, not in `frame`). */
  private doneInWasm = false;
  /** Sum and sum of squares of the frame's samples, left by the preparation steps (no allocation per frame). */
  private readonly frameSums = new Float64Array(2);

  constructor(options: FrameOptions, sampleRateHz: number, engine: SpectrumEngine = 'wasm') {
    if (options.sampleRateHz !== undefined && options.sampleRateHz !== sampleRateHz) {
      throw new FormatError('sample rate differs from the configured sampleRateHz', {
        expected: `${options.sampleRateHz} Hz`,
        found: `${sampleRateHz} Hz`,
      });
    }
    this.options = options;
    this.geometry = frameGeometry(options, sampleRateHz);
    const { windowSize, paddedWindowSize } = this.geometry;
    const shared = windowTables(options, windowSize, paddedWindowSize);
    this.window = shared.window;
    this.scaledWindow = new Float64Array(windowSize);
    // Zero padding beyond windowSize is never written, so it stays zero.
    this.frame = new Float64Array(paddedWindowSize);
    this.wasm = engine === 'wasm' && shared.reference ? WasmSpectrum.acquire(paddedWindowSize / 2, windowSize) : null;
    if (this.wasm) {
      this.spectrum = null;
      this.power = this.wasm.power;
      this.wasm.setReference(shared.reference!.re, shared.reference!.im);
      this.canFoldDc = true;
      return;
    }
    const spectrum = createPowerSpectrum(paddedWindowSize);
    this.spectrum = spectrum;
    this.power = new Float64Array(spectrum.numBins);
    this.canFoldDc = Boolean(spectrum.setReference && spectrum.computeMinusReference);
    if (this.canFoldDc) {
      this.frame.set(this.window);
      spectrum.setReference!(this.frame);
      this.frame.fill(0);
    }
  }

  /** The window times `scale` (cached for the last scale asked for). */
  private scaledWindowFor(scale: number): Float64Array {
    if (scale !== this.scaledWindowScale) {
      const w = this.window;
      const sw = this.scaledWindow;
      for (let i = 0; i < w.length; i++) sw[i] = w[i] * scale;
      this.scaledWindowScale = scale;
      this.wasm?.setWindow(sw);
    }
    return this.scaledWindow;
  }

  numFrames(numSamples: number): number {
    return numFrames(numSamples, this.geometry);
  }

  /**
   * Prepare frame `t` of `samples` (Kaldi ExtractWindow + ProcessWindow: dither, DC removal,
   * pre-emphasis, window) and return the raw log energy (NaN unless `wantRawEnergy`).
   * With `exactFrame` false the frame's DC offset may be left in `this.frame` and removed by
   * `computePower()` instead (one pass less); pass true when the windowed frame itself is needed.
   */
  processFrame(
    samples: Float32Array,
    t: number,
    scale: number,
    rng: Rng | null,
    wantRawEnergy: boolean,
    exactFrame = false,
  ): number {
    const { windowSize } = this.geometry;
    const o = this.options;
    const frame = this.frame;
    const win = this.window;
    const p = o.preemphCoeff;
    const start = firstSampleOfFrame(t, this.geometry);
    const inside = start >= 0 && start + windowSize <= samples.length;
    this.dcCoef = 0;
    this.doneInWasm = false;
    const fast = inside && this.canFoldDc && !exactFrame && !(o.dither !== 0 && rng);
    if (fast && this.wasm) {
      // As the JavaScript fast path below, in wasm memory, together with the power spectrum
      // and registered mel banks (so computePower() has nothing left to do).
      this.scaledWindowFor(scale);
      const w = this.wasm;
      w.frames(samples, start, 0, 1, p, scale, o.removeDcOffset, wantRawEnergy);
      this.doneInWasm = true;
      return wantRawEnergy ? this.rawLogEnergy(w.sums[0] * scale, w.sums[1] * scale * scale) : NaN;
    }
    const sums = this.frameSums;
    if (fast) {
      this.prepareFrameFolded(samples, start, scale, wantRawEnergy);
      if (o.removeDcOffset) this.dcCoef = (sums[0] / windowSize) * (1 - p);
      return wantRawEnergy ? this.rawLogEnergy(sums[0], sums[1]) : NaN;
    }
    this.cutFrame(samples, start, inside, scale);
    if (o.dither !== 0 && rng) this.ditherFrame(rng);
    let mean = o.removeDcOffset ? sums[0] / windowSize : 0;
    let rawLogEnergy = NaN;
    if (wantRawEnergy) {
      let e = 0;
      for (let i = 0; i < windowSize; i++) {
        const v = frame[i] - mean;
        frame[i] = v;
        e += v * v;
      }
      mean = 0;
      rawLogEnergy = Math.log(Math.max(e, FLT_EPSILON));
    }
    if (p !== 0) {
      // (x[i] - mean) - p (x[i-1] - mean), times the window, in one backwards pass
      // (frame[i - 1] is still unmodified when frame[i] is written).
      const c = mean * (1 - p);
      for (let i = windowSize - 1; i > 0; i--) frame[i] = (frame[i] - p * frame[i - 1] - c) * win[i];
      frame[0] = (frame[0] - mean) * (1 - p) * win[0];
    } else {
      for (let i = 0; i < windowSize; i++) frame[i] = (frame[i] - mean) * win[i];
    }
    return rawLogEnergy;
  }

  /**
   * The JavaScript fast path, one pass: y[i] = (x[i] - p x[i-1]) w[i] with x[-1] = x[0]; the DC
   * offset m contributes -m (1 - p) w[i], which computePower() removes after the FFT. Leaves the
   * sum and sum of squares of the scaled samples in frameSums: the raw energy is
   * sum (x - m)^2 = (n sum x^2 - (sum x)^2) / n, exact for int16-valued samples.
   * The scale is folded into the window and the sums run over the unscaled samples with
   * four partial sums (one running sum is bound by the latency of the adds); for
   * int16-valued samples and a power-of-two scale (the default 32768) every value is
   * bit-identical to scaling each sample first.
   */
  private prepareFrameFolded(samples: Float32Array, start: number, scale: number, wantRawEnergy: boolean): void {
    const { windowSize } = this.geometry;
    const frame = this.frame;
    const p = this.options.preemphCoeff;
    const sw = this.scaledWindowFor(scale);
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0;
    let q0 = 0,
      q1 = 0,
      q2 = 0,
      q3 = 0;
    let prev = samples[start];
    let i = 0;
    const n4 = windowSize - 3;
    if (wantRawEnergy) {
      for (; i < n4; i += 4) {
        const j = start + i;
        const v0 = samples[j],
          v1 = samples[j + 1],
          v2 = samples[j + 2],
          v3 = samples[j + 3];
        frame[i] = (v0 - p * prev) * sw[i];
        frame[i + 1] = (v1 - p * v0) * sw[i + 1];
        frame[i + 2] = (v2 - p * v1) * sw[i + 2];
        frame[i + 3] = (v3 - p * v2) * sw[i + 3];
        prev = v3;
        s0 += v0;
        s1 += v1;
        s2 += v2;
        s3 += v3;
        q0 += v0 * v0;
        q1 += v1 * v1;
        q2 += v2 * v2;
        q3 += v3 * v3;
      }
    } else {
      for (; i < n4; i += 4) {
        const j = start + i;
        const v0 = samples[j],
          v1 = samples[j + 1],
          v2 = samples[j + 2],
          v3 = samples[j + 3];
        frame[i] = (v0 - p * prev) * sw[i];
        frame[i + 1] = (v1 - p * v0) * sw[i + 1];
        frame[i + 2] = (v2 - p * v1) * sw[i + 2];
        frame[i + 3] = (v3 - p * v2) * sw[i + 3];
        prev = v3;
        s0 += v0;
        s1 += v1;
        s2 += v2;
        s3 += v3;
      }
    }
    for (; i < windowSize; i++) {
      const v = samples[start + i];
      frame[i] = (v - p * prev) * sw[i];
      prev = v;
      s0 += v;
      q0 += v * v;
    }
    this.frameSums[0] = (s0 + s1 + (s2 + s3)) * scale;
    this.frameSums[1] = (q0 + q1 + (q2 + q3)) * scale * scale;
  }

  /**
   * Kaldi ExtractWindow: copy the frame's scaled samples into `frame` (reflected at both ends of
   * the signal when the frame is not inside it: snipEdges = false), their sum into frameSums[0].
   */
  private cutFrame(samples: Float32Array, start: number, inside: boolean, scale: number): void {
    const { windowSize } = this.geometry;
    const frame = this.frame;
    const n = samples.length;
    let sum = 0;
    if (inside) {
      for (let i = 0; i < windowSize; i++) {
        const v = samples[start + i] * scale;
        frame[i] = v;
        sum += v;
      }
    } else {
      // snipEdges = false: reflect the signal at both ends, as Kaldi.
      for (let i = 0; i < windowSize; i++) {
        let s = start + i;
        while (s < 0 || s >= n) s = s < 0 ? -s - 1 : 2 * n - 1 - s;
        const v = samples[s] * scale;
        frame[i] = v;
        sum += v;
      }
    }
    this.frameSums[0] = sum;
  }

  /** Add Gaussian dither (standard deviation options.dither) to the cut frame; its new sum into frameSums[0]. */
  private ditherFrame(rng: Rng): void {
    const { windowSize } = this.geometry;
    const frame = this.frame;
    const d = this.options.dither;
    let sum = 0;
    for (let i = 0; i < windowSize; i++) {
      const v = frame[i] + rng.gauss() * d;
      frame[i] = v;
      sum += v;
    }
    this.frameSums[0] = sum;
  }

  /**
   * The fast paths' raw log energy from the sum and sum of squares of the frame's (scaled)
   * samples: sum (x - m)^2 = (n sum x^2 - (sum x)^2) / n with DC removal.
   */
  private rawLogEnergy(sum: number, sumSq: number): number {
    const n = this.geometry.windowSize;
    return Math.log(Math.max(this.options.removeDcOffset ? (n * sumSq - sum * sum) / n : sumSq, FLT_EPSILON));
  }

  /**
   * Frames t0 .. t0 + count - 1 in one WebAssembly call: each must be fully inside the signal,
   * without dither and windowed energy (see `batchable`), count <= `maxBatch`. Mel energies of
   * registered banks go to their WasmMel buffers; raw log energies (NaN unless `wantRawEnergy`)
   * to rawLogEnergy[0 .. count).
   */
  processFrames(
    samples: Float32Array,
    t0: number,
    count: number,
    scale: number,
    wantRawEnergy: boolean,
    rawLogEnergy: Float64Array,
  ): void {
    const w = this.wasm;
    if (!w) throw new Error('processFrames needs the wasm engine');
    this.scaledWindowFor(scale);
    const o = this.options;
    w.frames(
      samples,
      firstSampleOfFrame(t0, this.geometry),
      this.geometry.windowShift,
      count,
      o.preemphCoeff,
      scale,
      o.removeDcOffset,
      wantRawEnergy,
    );
    const sums = w.sums;
    for (let i = 0; i < count; i++)
      rawLogEnergy[i] = wantRawEnergy ? this.rawLogEnergy(sums[2 * i] * scale, sums[2 * i + 1] * scale * scale) : NaN;
    this.doneInWasm = false;
  }

  /** Frames per processFrames call at most (0: no wasm engine). */
  get maxBatch(): number {
    return this.wasm ? this.wasm.maxFrames(this.geometry.windowShift) : 0;
  }

  /** The frames [first, end) of a signal of `numSamples` samples that lie fully inside it. */
  insideFrames(numSamples: number): [number, number] {
    const n = numFrames(numSamples, this.geometry);
    let first = 0;
    while (first < n && firstSampleOfFrame(first, this.geometry) < 0) first++;
    let end = n;
    while (end > first && firstSampleOfFrame(end - 1, this.geometry) + this.geometry.windowSize > numSamples) end--;
    return [first, end];
  }

  /** Give the wasm instance back to its pool; the front end must not be used afterwards. */
  release(): void {
    this.wasm?.release();
  }

  /** Have the wasm kernels compute these banks' energies (and logs) with every spectrum (null: not possible). */
  registerMel(banks: MelBanks, logs: boolean): WasmMel | null {
    return this.wasm?.registerMel(banks, logs) ?? null;
  }

  /** log(max(sum of squares of the prepared frame, FLT_EPSILON)); needs processFrame(..., exactFrame = true). */
  windowedLogEnergy(): number {
    const { windowSize } = this.geometry;
    let e = 0;
    for (let i = 0; i < windowSize; i++) e += this.frame[i] * this.frame[i];
    return Math.log(Math.max(e, FLT_EPSILON));
  }

  /** Power spectrum of the prepared frame into `this.power`. */
  computePower(): void {
    if (this.wasm) {
      if (!this.doneInWasm) this.wasm.spectrum(this.frame, this.dcCoef);
      return;
    }
    const spectrum = this.spectrum!;
    if (this.dcCoef !== 0) spectrum.computeMinusReference!(this.frame, this.dcCoef, this.power);
    else spectrum.compute(this.frame, this.power);
  }
}

/**
 * Run several extractors over one signal. Extractors with identical frame options share one
 * front end (one FFT per frame); all must produce the same number of frames.
 * Returns one matrix per extractor, in order.
 */
export function extractFeatures(
  samples: Float32Array,
  sampleRateHz: number,
  extractors: readonly FeatureExtractor[],
  opts: ExtractOptions = {},
): FeatureMatrix[] {
  if (extractors.length === 0) return [];
  const scale = opts.sampleScale ?? INT16_SCALE;
  for (const ex of extractors) {
    if (ex.geometry.sampleRateHz !== sampleRateHz) {
      throw new FormatError('audio sample rate differs from the rate the extractor was built for', {
        uttId: opts.uttId,
        expected: `${ex.geometry.sampleRateHz} Hz`,
        found: `${sampleRateHz} Hz`,
      });
    }
  }
  const counts = extractors.map((ex) => numFrames(samples.length, ex.geometry));
  if (counts.some((c) => c !== counts[0])) {
    throw new ConfigError('extractors computed together must give the same number of frames', {
      keyPath: 'frameShiftMs/frameLengthMs/snipEdges',
      expected: 'the same frame geometry',
      found: counts.join(' vs '),
    });
  }
  const outs = extractors.map((ex) => createMatrix(counts[0], ex.dim));
  // Group extractors by identical frame options.
  const groups: number[][] = [];
  for (let i = 0; i < extractors.length; i++) {
    const g = groups.find((grp) => sameFrameOptions(extractors[grp[0]].frameOptions, extractors[i].frameOptions));
    if (g) g.push(i);
    else groups.push([i]);
  }
  groups.forEach((group, gi) => {
    const fo = extractors[group[0]].frameOptions;
    const frontend = new SpectrumFrontend(fo, sampleRateHz, opts.engine);
    // Dither: the caller's stream for the first group, a forked stream for any further group.
    let rng: Rng | null = null;
    if (fo.dither !== 0) {
      if (!opts.rng) rng = new Rng(fo.ditherSeed);
      else rng = gi === 0 ? opts.rng : opts.rng.fork(`frame-options-group-${gi}`);
    }
    const wantRaw = group.some((i) => extractors[i].needsRawEnergy);
    const wantWin = group.some((i) => extractors[i].needsWindowedEnergy);
    const spec: FrameSpectrum = { power: frontend.power, rawLogEnergy: NaN, windowedLogEnergy: NaN };
    for (const i of group) {
      const banks = extractors[i].powerMelBanks;
      const buf = banks && frontend.registerMel(banks, Boolean(extractors[i].wantsMelLogs));
      if (buf) (spec.mel ??= new Map()).set(banks, buf);
    }
    const n = counts[0];
    const members = group.map((i) => extractors[i]);
    const data = group.map((i) => outs[i].data);
    const dims = members.map((ex) => ex.dim);
    const g = members.length;
    const one = (t: number): void => {
      spec.rawLogEnergy = frontend.processFrame(samples, t, scale, rng, wantRaw, wantWin);
      spec.windowedLogEnergy = wantWin ? frontend.windowedLogEnergy() : NaN;
      frontend.computePower();
      for (let e = 0; e < g; e++) members[e].computeFrame(spec, data[e], t * dims[e]);
    };
    try {
      // The frames fully inside the signal go through WebAssembly a batch at a time when none
      // needs dither or the windowed frame and every extractor takes batches of mel energies
      // (the same numbers as one by one); the others one by one.
      const batchable =
        frontend.maxBatch > 1 &&
        !wantWin &&
        !(fo.dither !== 0 && rng) &&
        spec.mel !== undefined &&
        members.every((ex) => ex.computeFrames && ex.powerMelBanks && spec.mel!.has(ex.powerMelBanks));
      const [first, end] = batchable ? frontend.insideFrames(samples.length) : [n, n];
      for (let t = 0; t < first; t++) one(t);
      const batch: FrameBatch = { rawLogEnergy: new Float64Array(frontend.maxBatch), mel: spec.mel! };
      for (let t = first; t < end;) {
        const count = Math.min(frontend.maxBatch, end - t);
        frontend.processFrames(samples, t, count, scale, wantRaw, batch.rawLogEnergy);
        for (let e = 0; e < g; e++) members[e].computeFrames!(batch, count, data[e], t * dims[e]);
        t += count;
      }
      for (let t = Math.max(first, end); t < n; t++) one(t);
    } finally {
      frontend.release();
    }
  });
  return outs;
}
