/**
 * A synthetic, deterministic frame source for tests, benchmarks and smoke runs: utterances of
 * "senones" (Gaussian class means) in segments of a few frames, with a per-speaker offset (so
 * CMVN matters) and first-order smoothing across frames (so context helps).
 * Each utterance is generated from its own seed, so any order of visiting costs nothing.
 */
import { Rng } from '../util/rng.ts';
import { ConfigError } from '../util/errors.ts';
import type { FrameSource, Utterance, UtteranceOrder } from './data.ts';

export interface SyntheticCorpusOptions {
  /** Utterances in the corpus. Default 40. */
  numUtterances: number;
  /** Speakers (utterances are assigned round-robin). Default 4. */
  numSpeakers: number;
  /** Feature dimension. Default 40. */
  featureDim: number;
  /** Classes. Default 16. */
  numSenones: number;
  /** Utterance length range in frames, inclusive. Default 50..150. */
  minFrames: number;
  maxFrames: number;
  /** Segment (one senone) length range in frames, inclusive. Default 3..8. */
  minSegmentFrames: number;
  maxSegmentFrames: number;
  /** Standard deviation of the frame noise relative to unit-variance class means. Default 1.0. */
  noise: number;
  /** Scale of the per-speaker additive offset. Default 3.0. */
  speakerOffset: number;
  /** Weight of the previous frame in the first-order smoothing, in [0, 1). Default 0.5. */
  smoothing: number;
  /** Seed of the class means and speaker offsets (the "language"). Default 1. */
  modelSeed: number;
  /** Seed of the utterances (use different seeds for train / dev / test). Default 2. */
  dataSeed: number;
  /** Prefix of utterance and speaker ids. Default 'syn'. */
  idPrefix: string;
}

export const DEFAULT_SYNTHETIC_OPTIONS: Readonly<SyntheticCorpusOptions> = Object.freeze({
  numUtterances: 40,
  numSpeakers: 4,
  featureDim: 40,
  numSenones: 16,
  minFrames: 50,
  maxFrames: 150,
  minSegmentFrames: 3,
  maxSegmentFrames: 8,
  noise: 1.0,
  speakerOffset: 3.0,
  smoothing: 0.5,
  modelSeed: 1,
  dataSeed: 2,
  idPrefix: 'syn',
});

export class SyntheticFrameSource implements FrameSource {
  readonly name: string;
  readonly featureDim: number;
  readonly options: SyntheticCorpusOptions;
  private readonly means: Float32Array;
  private readonly speakerOffsets: Float32Array;

  constructor(opts: Partial<SyntheticCorpusOptions> = {}) {
    const o = { ...DEFAULT_SYNTHETIC_OPTIONS, ...opts };
    for (const k of Object.keys(o) as (keyof SyntheticCorpusOptions)[]) {
      if (!(k in DEFAULT_SYNTHETIC_OPTIONS))
        throw new ConfigError('unknown synthetic corpus option', {
          keyPath: k,
          expected: Object.keys(DEFAULT_SYNTHETIC_OPTIONS).join(', '),
          found: k,
        });
    }
    if (o.minFrames < 1 || o.maxFrames < o.minFrames)
      throw new ConfigError('bad utterance length range', {
        keyPath: 'minFrames',
        expected: '1 <= minFrames <= maxFrames',
        found: `${o.minFrames}..${o.maxFrames}`,
      });
    this.options = o;
    this.featureDim = o.featureDim;
    this.name = `synthetic(${o.idPrefix}, ${o.numUtterances} utterances)`;
    const mr = new Rng(`${o.modelSeed}:means`);
    this.means = Float32Array.from({ length: o.numSenones * o.featureDim }, () => mr.gauss());
    const sr = new Rng(`${o.modelSeed}:speakers:${o.idPrefix}:${o.dataSeed}`);
    this.speakerOffsets = Float32Array.from(
      { length: o.numSpeakers * o.featureDim },
      () => sr.gauss() * o.speakerOffset,
    );
  }

  /** Utterance i (deterministic, independent of visiting order). */
  utterance(i: number): Utterance {
    const o = this.options;
    const r = new Rng(`${o.dataSeed}:${o.idPrefix}:utt:${i}`);
    const numFrames = o.minFrames + r.int(o.maxFrames - o.minFrames + 1);
    const dim = o.featureDim;
    const spk = i % o.numSpeakers;
    const labels = new Int32Array(numFrames);
    for (let t = 0; t < numFrames;) {
      const s = r.int(o.numSenones);
      const len = o.minSegmentFrames + r.int(o.maxSegmentFrames - o.minSegmentFrames + 1);
      for (let k = 0; k < len && t < numFrames; k++) labels[t++] = s;
    }
    const feats = new Float32Array(numFrames * dim);
    const a = o.smoothing;
    for (let t = 0; t < numFrames; t++) {
      const s = labels[t];
      for (let d = 0; d < dim; d++) {
        const clean = this.means[s * dim + d] + o.noise * r.gauss();
        const prev = t > 0 ? feats[(t - 1) * dim + d] - this.speakerOffsets[spk * dim + d] : clean;
        feats[t * dim + d] = a * prev + (1 - a) * clean + this.speakerOffsets[spk * dim + d];
      }
    }
    const pad = String(o.numUtterances - 1).length;
    return {
      uttId: `${o.idPrefix}-${String(i).padStart(pad, '0')}`,
      speaker: `${o.idPrefix}-spk${spk}`,
      numFrames,
      dim,
      feats,
      labels,
    };
  }

  async *utterances(order: UtteranceOrder = {}): AsyncIterable<Utterance> {
    const idx = Array.from({ length: this.options.numUtterances }, (_, i) => i);
    if (order.orderSeed !== undefined) new Rng(order.orderSeed).shuffle(idx);
    for (const i of idx) yield this.utterance(i);
  }
}
