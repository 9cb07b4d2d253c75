/**
 * Data feeding for frame classifiers: an abstract streaming source of utterances, per-speaker CMVN,
 * senone priors, and minibatches of spliced frames drawn from a bounded shuffle buffer.
 *
 * Memory is bounded by the shuffle buffer (frames x feature dim, unspliced) plus one utterance;
 * it does not grow with the corpus. Splicing (edge frames replicated) happens when a batch is
 * assembled, so the buffer holds (left + 1 + right) times less than a spliced copy would.
 */
import { Rng } from '../util/rng.ts';
import { ConfigError, FormatError, SkipCounter } from '../util/errors.ts';
import { CmvnStats, cmvnTransform, type CmvnStatsJson } from '../features/cmvn.ts';
import { spliceFrameInto } from '../features/splice.ts';
import type { FeatureMatrix } from '../features/matrix.ts';

/** Per-frame payload carried alongside features and labels (e.g. top-k soft targets). */
export interface FrameExtra {
  /** Values per frame. */
  dim: number;
  /** numFrames * dim values. */
  data: Float32Array | Int32Array;
}

/** One utterance as a frame source yields it. */
export interface Utterance {
  uttId: string;
  /** Speaker for CMVN; when absent the utterance is its own speaker. */
  speaker?: string;
  numFrames: number;
  /** Feature dimension (e.g. 40 log-mel bins). */
  dim: number;
  /** numFrames * dim features, frame after frame (row-major). */
  feats: Float32Array;
  /** Senone id per frame (from the forced alignment); absent for unlabelled data. */
  labels?: Int32Array;
  /** Extra per-frame arrays, copied into minibatches under the same names. */
  extras?: Record<string, FrameExtra>;
}

export interface UtteranceOrder {
  /** Sources that can visit utterances in a seeded random order do so for this seed; others ignore it. */
  orderSeed?: number;
}

/**
 * A re-iterable, streaming source of utterances: every call to `utterances()` is a fresh pass.
 * Implementations read Arrow feature + alignment files, generate synthetic data, or wrap arrays.
 */
export interface FrameSource {
  /** Named in messages ("train", a file path, ...). */
  readonly name: string;
  readonly featureDim: number;
  utterances(order?: UtteranceOrder): AsyncIterable<Utterance>;
  /** Utterances the source itself dropped on its last pass (e.g. no alignment); optional. */
  readonly skips?: SkipCounter;
}

/** A FrameSource over utterances held in memory (tests, small dev sets). */
export class ArrayFrameSource implements FrameSource {
  readonly name: string;
  readonly featureDim: number;
  private readonly utts: readonly Utterance[];

  constructor(utts: readonly Utterance[], opts: { name?: string; featureDim?: number } = {}) {
    this.utts = utts;
    this.name = opts.name ?? 'in-memory';
    const dim = opts.featureDim ?? utts[0]?.dim;
    if (dim === undefined)
      throw new ConfigError('ArrayFrameSource needs featureDim when it has no utterances', {
        keyPath: 'featureDim',
        expected: 'an integer > 0',
        found: 'undefined',
      });
    this.featureDim = dim;
  }

  async *utterances(order: UtteranceOrder = {}): AsyncIterable<Utterance> {
    const idx = this.utts.map((_, i) => i);
    if (order.orderSeed !== undefined) new Rng(order.orderSeed).shuffle(idx);
    for (const i of idx) yield this.utts[i];
  }
}

// ---------------------------------------------------------------------------------------------
// Validation

/**
 * Check one utterance at the boundary. Returns a skip reason for a bad utterance (counted, not
 * fatal) or null; throws for what is fatal: a dimension or senone id that does not belong here.
 */
export function checkUtterance(utt: Utterance, source: FrameSource, numSenones?: number): string | null {
  if (utt.dim !== source.featureDim) {
    throw new FormatError('feature dimension differs from the source', {
      file: source.name,
      uttId: utt.uttId,
      expected: String(source.featureDim),
      found: String(utt.dim),
    });
  }
  if (!(utt.numFrames > 0)) return 'no frames';
  if (utt.feats.length !== utt.numFrames * utt.dim) return 'feature array length differs from numFrames x dim';
  for (let i = 0; i < utt.feats.length; i++) {
    if (!Number.isFinite(utt.feats[i])) return 'non-finite feature value';
  }
  if (utt.labels) {
    if (utt.labels.length !== utt.numFrames) return 'alignment length differs from the number of feature frames';
    if (numSenones !== undefined) {
      for (let t = 0; t < utt.labels.length; t++) {
        const s = utt.labels[t];
        if (!(s >= 0 && s < numSenones)) {
          throw new FormatError('senone id outside the inventory (alignment from another tree?)', {
            file: source.name,
            uttId: utt.uttId,
            expected: `0 <= id < ${numSenones}`,
            found: `${s} at frame ${t}`,
          });
        }
      }
    }
  } else if (numSenones !== undefined) {
    return 'no alignment';
  }
  if (utt.extras) {
    for (const [k, e] of Object.entries(utt.extras)) {
      if (e.data.length !== utt.numFrames * e.dim) return `extra '${k}' length differs from numFrames x ${e.dim}`;
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// CMVN and priors

export interface CmvnOptions {
  /** Statistics per speaker (Kaldi's spk2utt CMVN), per utterance, or none. Default 'speaker'. */
  mode: 'speaker' | 'utterance' | 'none';
  /** Normalise variances too (the DNN input wants unit variance). Default true. */
  normVars: boolean;
}

export const DEFAULT_CMVN_OPTIONS: Readonly<CmvnOptions> = Object.freeze({ mode: 'speaker', normVars: true });

/** CMVN transforms keyed by speaker (or utterance), computed from one pass over a source. */
export class SpeakerCmvn {
  readonly options: CmvnOptions;
  readonly stats: Map<string, CmvnStats>;
  private readonly transforms = new Map<string, { scale: Float64Array; offset: Float64Array }>();

  constructor(stats: Map<string, CmvnStats>, options: Partial<CmvnOptions> = {}) {
    this.options = { ...DEFAULT_CMVN_OPTIONS, ...options };
    this.stats = stats;
  }

  static keyOf(utt: Pick<Utterance, 'uttId' | 'speaker'>, mode: CmvnOptions['mode']): string {
    return mode === 'utterance' ? utt.uttId : (utt.speaker ?? utt.uttId);
  }

  /** Normalised copy of an utterance's features (the input is not modified). */
  apply(utt: Utterance): Float32Array {
    if (this.options.mode === 'none') return utt.feats;
    const key = SpeakerCmvn.keyOf(utt, this.options.mode);
    let tr = this.transforms.get(key);
    if (!tr) {
      const s = this.stats.get(key);
      if (!s)
        throw new FormatError('no CMVN statistics for this speaker', {
          uttId: utt.uttId,
          expected: `statistics for '${key}'`,
          found: `${this.stats.size} speakers`,
        });
      tr = cmvnTransform(s, { normVars: this.options.normVars });
      this.transforms.set(key, tr);
    }
    const { scale, offset } = tr;
    const dim = utt.dim;
    const out = new Float32Array(utt.feats.length);
    for (let t = 0; t < utt.numFrames; t++) {
      const b = t * dim;
      for (let d = 0; d < dim; d++) out[b + d] = utt.feats[b + d] * scale[d] + offset[d];
    }
    return out;
  }

  toJSON(): { options: CmvnOptions; stats: Record<string, CmvnStatsJson> } {
    const stats: Record<string, CmvnStatsJson> = {};
    for (const k of [...this.stats.keys()].sort()) stats[k] = this.stats.get(k)!.toJSON();
    return { options: this.options, stats };
  }

  static fromJSON(j: { options: CmvnOptions; stats: Record<string, CmvnStatsJson> }): SpeakerCmvn {
    const m = new Map<string, CmvnStats>();
    for (const [k, v] of Object.entries(j.stats)) m.set(k, CmvnStats.fromJSON(v, `CMVN statistics of '${k}'`));
    return new SpeakerCmvn(m, j.options);
  }
}

/** What one pass over a training source yields. */
export interface SourceScan {
  cmvn: SpeakerCmvn;
  /** Frames per senone (empty when the source has no labels or numSenones is not given). */
  senoneCounts: Float64Array;
  numFrames: number;
  numUtterances: number;
  skips: SkipCounter;
}

/**
 * One streaming pass: CMVN statistics per speaker and senone frame counts (for priors).
 * Memory: O(speakers x dim + senones).
 */
export async function scanSource(
  source: FrameSource,
  opts: { numSenones?: number; cmvn?: Partial<CmvnOptions> } = {},
): Promise<SourceScan> {
  const cmvnOpts = { ...DEFAULT_CMVN_OPTIONS, ...opts.cmvn };
  const stats = new Map<string, CmvnStats>();
  const counts = new Float64Array(opts.numSenones ?? 0);
  const skips = new SkipCounter();
  let numFrames = 0;
  for await (const utt of source.utterances()) {
    const bad = checkUtterance(utt, source, opts.numSenones);
    if (bad) {
      skips.skip(utt.uttId, bad);
      continue;
    }
    skips.done++;
    numFrames += utt.numFrames;
    if (cmvnOpts.mode !== 'none') {
      const key = SpeakerCmvn.keyOf(utt, cmvnOpts.mode);
      let s = stats.get(key);
      if (!s) stats.set(key, (s = new CmvnStats(utt.dim)));
      s.accumulate(asMatrix(utt, utt.feats));
    }
    if (utt.labels && opts.numSenones) for (let t = 0; t < utt.numFrames; t++) counts[utt.labels[t]]++;
  }
  return { cmvn: new SpeakerCmvn(stats, cmvnOpts), senoneCounts: counts, numFrames, numUtterances: skips.done, skips };
}

/**
 * Senone priors from alignment counts, as Kaldi's nnet `--class-frame-counts`:
 * p(s) = (count(s) + floor) / (total + S * floor). A senone never seen gets the floor, so
 * dividing posteriors by priors never divides by zero. Default floor 1 frame.
 */
export function senonePriors(counts: Float64Array, floorFrames = 1): Float64Array {
  let total = 0;
  for (const c of counts) total += c;
  const out = new Float64Array(counts.length);
  const denom = total + counts.length * floorFrames;
  for (let s = 0; s < counts.length; s++) out[s] = (counts[s] + floorFrames) / denom;
  return out;
}

function asMatrix(utt: Utterance, data: Float32Array): FeatureMatrix {
  return { numFrames: utt.numFrames, dim: utt.dim, data };
}

// ---------------------------------------------------------------------------------------------
// Minibatches

export interface SpliceWindow {
  /** Frames of left context. */
  leftContext: number;
  /** Frames of right context. */
  rightContext: number;
}

export interface BatchOptions {
  /** Frames per minibatch. Default 256. */
  batchSize: number;
  /** Draw frames in random order from a bounded buffer. Default true (false: corpus order, for evaluation). */
  shuffle: boolean;
  /**
   * Capacity of the shuffle buffer in (unspliced) frames. Memory is about
   * capacity x featureDim x 4 bytes (+ one utterance). Default 100000 (16 min of speech at a
   * 10 ms shift, 16 MB for 40 log-mel bins).
   */
  shuffleBufferFrames: number;
  /** Seed of the frame draw and of the source's utterance order. Default 0. */
  seed: number;
  /** Context window. Default 5 left, 5 right (11 frames). */
  splice: SpliceWindow;
  /** Number of senones; labels are required and checked when set. */
  numSenones?: number;
  /** Normalisation applied to every utterance; default none. */
  cmvn?: SpeakerCmvn;
  /** Counted skips of bad utterances. Default: a new counter (see Minibatches.skips). */
  skips?: SkipCounter;
}

export const DEFAULT_BATCH_OPTIONS: Readonly<Omit<BatchOptions, 'numSenones' | 'cmvn' | 'skips'>> = Object.freeze({
  batchSize: 256,
  shuffle: true,
  shuffleBufferFrames: 100_000,
  seed: 0,
  splice: Object.freeze({ leftContext: 5, rightContext: 5 }),
});

/** A minibatch of spliced frames. Buffers are reused only if the caller copies; each batch is new. */
export interface Minibatch {
  /** Frames in this batch (the last batch of a pass may be smaller). */
  size: number;
  /** size x inputDim spliced, normalised features. */
  x: Float32Array;
  inputDim: number;
  /** Senone per frame (when the source has labels). */
  labels?: Int32Array;
  /** Extra per-frame arrays by name, size x dim each. */
  extras: Record<string, FrameExtra>;
  /** Utterance ids of the frames in this batch (each listed once, in first-seen order). */
  uttIds: string[];
  /** (utterance index into uttIds, frame index) of each row: frames are keyed by utterance and frame. */
  rowUtt: Int32Array;
  rowFrame: Int32Array;
}

interface PoolSlot {
  utt: Utterance;
  mat: FeatureMatrix;
  remaining: number;
}

export function resolveBatchOptions(opts: Partial<BatchOptions>): BatchOptions {
  const o = {
    ...DEFAULT_BATCH_OPTIONS,
    ...opts,
    splice: { ...DEFAULT_BATCH_OPTIONS.splice, ...opts.splice },
  } as BatchOptions;
  const posInt = (v: number, key: string) => {
    if (!Number.isInteger(v) || v < 1)
      throw new ConfigError('bad batching option', { keyPath: key, expected: 'an integer >= 1', found: String(v) });
  };
  posInt(o.batchSize, 'batchSize');
  posInt(o.shuffleBufferFrames, 'shuffleBufferFrames');
  for (const k of ['leftContext', 'rightContext'] as const) {
    if (!Number.isInteger(o.splice[k]) || o.splice[k] < 0)
      throw new ConfigError('bad splice window', {
        keyPath: `splice.${k}`,
        expected: 'an integer >= 0',
        found: String(o.splice[k]),
      });
  }
  return o;
}

export function splicedInputDim(featureDim: number, splice: SpliceWindow): number {
  return featureDim * (splice.leftContext + 1 + splice.rightContext);
}

/** Statistics of a pass, for tests and memory reports. */
export interface BatchStats {
  /** Largest number of unspliced frames held in the buffer at once. */
  peakBufferedFrames: number;
  frames: number;
  batches: number;
}

/**
 * Minibatches over one pass of `source`. With shuffle, frames are drawn uniformly at random from
 * a pool of whole utterances holding at most `shuffleBufferFrames` frames (+ the utterance that
 * crossed the limit); an utterance leaves the pool when its last frame has been drawn.
 */
export class Minibatches implements AsyncIterable<Minibatch> {
  readonly options: BatchOptions;
  readonly inputDim: number;
  readonly skips: SkipCounter;
  readonly stats: BatchStats = { peakBufferedFrames: 0, frames: 0, batches: 0 };
  private readonly source: FrameSource;

  constructor(source: FrameSource, opts: Partial<BatchOptions> = {}) {
    this.source = source;
    this.options = resolveBatchOptions(opts);
    this.inputDim = splicedInputDim(source.featureDim, this.options.splice);
    this.skips = opts.skips ?? new SkipCounter();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Minibatch> {
    const o = this.options;
    const rng = new Rng(o.seed);
    const orderSeed = o.shuffle ? new Rng(o.seed).fork('utterance-order').nextUint32() : undefined;
    const pool = new FramePool(
      this.source.utterances({ orderSeed })[Symbol.asyncIterator](),
      this.source,
      o,
      this.skips,
      this.stats,
    );
    const { slots, freeSlots } = pool;
    const { leftContext, rightContext } = o.splice;
    const inputDim = this.inputDim;
    let seqSlot = -1;
    let seqT = 0;

    while (true) {
      const cap = o.batchSize;
      const x = new Float32Array(cap * inputDim);
      const labels = o.numSenones !== undefined ? new Int32Array(cap) : undefined;
      const rowUtt = new Int32Array(cap);
      const rowFrame = new Int32Array(cap);
      const uttIds: string[] = [];
      const uttIndex = new Map<PoolSlot, number>();
      const extraParts: { slot: PoolSlot; t: number }[] = [];
      let n = 0;
      while (n < cap) {
        let slot: PoolSlot;
        let t: number;
        if (o.shuffle) {
          while (pool.held < o.shuffleBufferFrames && !pool.exhausted) await pool.pull();
          if (pool.nAvail === 0) break;
          const j = rng.int(pool.nAvail);
          const si = pool.refSlot[j];
          t = pool.refT[j];
          pool.nAvail--;
          pool.refSlot[j] = pool.refSlot[pool.nAvail];
          pool.refT[j] = pool.refT[pool.nAvail];
          slot = slots[si]!;
          if (--slot.remaining === 0) {
            pool.held -= slot.utt.numFrames;
            slots[si] = null;
            freeSlots.push(si);
          }
        } else {
          // Corpus order: one utterance at a time.
          if (seqSlot < 0 || seqT >= slots[seqSlot]!.utt.numFrames) {
            if (seqSlot >= 0) {
              slots[seqSlot] = null;
              freeSlots.push(seqSlot);
              pool.held = 0;
              pool.nAvail = 0;
              seqSlot = -1;
            }
            if (!(await pool.pull())) break;
            seqSlot = pool.refSlot[0];
            seqT = 0;
          }
          slot = slots[seqSlot]!;
          t = seqT++;
        }
        spliceFrameInto(slot.mat, t, leftContext, rightContext, x, n * inputDim);
        if (labels) labels[n] = slot.utt.labels![t];
        let ui = uttIndex.get(slot);
        if (ui === undefined) {
          ui = uttIds.length;
          uttIds.push(slot.utt.uttId);
          uttIndex.set(slot, ui);
        }
        rowUtt[n] = ui;
        rowFrame[n] = t;
        if (slot.utt.extras) extraParts.push({ slot, t });
        n++;
      }
      if (n === 0) return;
      const extras = batchExtras(extraParts, n, uttIndex);
      this.stats.frames += n;
      this.stats.batches++;
      yield {
        size: n,
        x: n === cap ? x : x.subarray(0, n * inputDim),
        inputDim,
        labels: labels ? (n === cap ? labels : labels.subarray(0, n)) : undefined,
        extras,
        uttIds,
        rowUtt: n === cap ? rowUtt : rowUtt.subarray(0, n),
        rowFrame: n === cap ? rowFrame : rowFrame.subarray(0, n),
      };
      if (n < cap) return;
    }
  }
}

/**
 * The utterances a minibatch pass holds: pool slots (reused once an utterance is drawn out) and
 * the frames not yet drawn as (slot, t) pairs, drawn by swap-remove. Utterances come from the
 * source's iterator one at a time, checked (a bad one is a counted skip) and CMVN-normalised.
 */
class FramePool {
  readonly slots: (PoolSlot | null)[] = [];
  readonly freeSlots: number[] = [];
  refSlot = new Int32Array(1024);
  refT = new Int32Array(1024);
  nAvail = 0;
  /** Frames of the utterances held. */
  held = 0;
  exhausted = false;
  private readonly it: AsyncIterator<Utterance>;
  private readonly source: FrameSource;
  private readonly options: BatchOptions;
  private readonly skips: SkipCounter;
  private readonly stats: BatchStats;

  constructor(
    it: AsyncIterator<Utterance>,
    source: FrameSource,
    options: BatchOptions,
    skips: SkipCounter,
    stats: BatchStats,
  ) {
    this.it = it;
    this.source = source;
    this.options = options;
    this.skips = skips;
    this.stats = stats;
  }

  /** Take the source's next usable utterance into the pool; false when the source is exhausted. */
  async pull(): Promise<boolean> {
    while (!this.exhausted) {
      const r = await this.it.next();
      if (r.done) {
        this.exhausted = true;
        return false;
      }
      const utt = r.value;
      const bad = checkUtterance(utt, this.source, this.options.numSenones);
      if (bad) {
        this.skips.skip(utt.uttId, bad);
        continue;
      }
      this.skips.done++;
      this.add(utt);
      return true;
    }
    return false;
  }

  private add(utt: Utterance): void {
    const cmvn = this.options.cmvn;
    const feats = cmvn ? cmvn.apply(utt) : utt.feats;
    const slot: PoolSlot = {
      utt,
      mat: { numFrames: utt.numFrames, dim: utt.dim, data: feats },
      remaining: utt.numFrames,
    };
    const si = this.freeSlots.length ? this.freeSlots.pop()! : this.slots.length;
    this.slots[si] = slot;
    let nAvail = this.nAvail;
    if (nAvail + utt.numFrames > this.refSlot.length) {
      let cap = this.refSlot.length;
      while (cap < nAvail + utt.numFrames) cap *= 2;
      const a = new Int32Array(cap);
      a.set(this.refSlot.subarray(0, nAvail));
      this.refSlot = a;
      const b = new Int32Array(cap);
      b.set(this.refT.subarray(0, nAvail));
      this.refT = b;
    }
    const refSlot = this.refSlot,
      refT = this.refT;
    for (let t = 0; t < utt.numFrames; t++) {
      refSlot[nAvail] = si;
      refT[nAvail] = t;
      nAvail++;
    }
    this.nAvail = nAvail;
    this.held += utt.numFrames;
    if (this.held > this.stats.peakBufferedFrames) this.stats.peakBufferedFrames = this.held;
  }
}

/**
 * The minibatch's per-frame arrays (Utterance.extras) for its `n` rows, gathered by name; every
 * utterance of the batch must carry the same arrays with the same sizes (else a FormatError).
 */
function batchExtras(
  extraParts: readonly { slot: PoolSlot; t: number }[],
  n: number,
  uttIndex: Map<PoolSlot, number>,
): Record<string, FrameExtra> {
  const extras: Record<string, FrameExtra> = {};
  if (extraParts.length > 0 && extraParts.length < n) {
    const withExtras = new Set(extraParts.map((p) => p.slot));
    const other = [...uttIndex.keys()].find((s) => !withExtras.has(s))!;
    throw new FormatError('some utterances carry per-frame arrays and others do not', {
      uttId: other.utt.uttId,
      expected: `arrays ${Object.keys(extraParts[0].slot.utt.extras!).join(', ')}`,
      found: 'none',
    });
  }
  if (extraParts.length === n) {
    for (const [name, e] of Object.entries(extraParts[0].slot.utt.extras!)) {
      const data = e.data instanceof Int32Array ? new Int32Array(n * e.dim) : new Float32Array(n * e.dim);
      for (let i = 0; i < n; i++) {
        const src = extraParts[i].slot.utt.extras![name];
        if (!src || src.dim !== e.dim) {
          throw new FormatError(`per-frame array '${name}' is missing or differs in size between utterances`, {
            uttId: extraParts[i].slot.utt.uttId,
            expected: `${e.dim} values per frame`,
            found: src ? String(src.dim) : 'none',
          });
        }
        const t = extraParts[i].t;
        data.set(src.data.subarray(t * e.dim, (t + 1) * e.dim), i * e.dim);
      }
      extras[name] = { dim: e.dim, data };
    }
  }
  return extras;
}
