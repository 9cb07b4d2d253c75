/**
 * Top-k per frame and the choice of k.
 *
 * Order: probability descending, ties broken by the smaller senone id, so the selection is a
 * deterministic function of the probabilities.
 *
 * Choosing k for a run: a calibration pass over a sample of frames accumulates the mean kept mass
 * for every k at once (`KeptMassCurve`: each frame's probabilities sorted, prefix sums added up);
 * k is the smallest value whose mean kept mass reaches the target (default 0.99). One k per run
 * (not per file or per frame) keeps the Arrow columns FixedSizeList[k] and every shard of a split
 * interchangeable. The mean kept mass actually stored is measured again while writing and recorded
 * in the file; on the sample it is >= the target by construction, on the rest of the data it can
 * differ slightly.
 */
import { ConfigError } from '../util/errors.ts';

export interface TopKRows {
  numFrames: number;
  k: number;
  /** numFrames x k senone ids, most probable first. */
  ids: Int32Array;
  /** numFrames x k probabilities (float64), descending. */
  probs: Float64Array;
  /** Sum of the kept probabilities per frame. */
  keptMass: Float64Array;
}

/** True when (va, ia) ranks before (vb, ib): larger probability first, then the smaller id. */
function ranksBefore(va: number, ia: number, vb: number, ib: number): boolean {
  return va > vb || (va === vb && ia < ib);
}

/**
 * The k most probable senones of every frame (rows of `numSenones` values).
 * O(S log k) per frame with a bounded heap. NaN probabilities are never selected before numbers.
 */
export function topKRows(probs: ArrayLike<number>, numFrames: number, numSenones: number, k: number): TopKRows {
  if (!Number.isInteger(k) || k < 1 || k > numSenones)
    throw new ConfigError('bad top-k size', {
      keyPath: 'topK',
      expected: `an integer in 1..${numSenones}`,
      found: String(k),
    });
  const ids = new Int32Array(numFrames * k);
  const out = new Float64Array(numFrames * k);
  const kept = new Float64Array(numFrames);
  // Min-heap of the current best k: the root is the worst kept entry.
  const hv = new Float64Array(k);
  const hi = new Int32Array(k);
  const worse = (a: number, b: number) => ranksBefore(hv[b], hi[b], hv[a], hi[a]);
  const siftDown = (start: number, size: number) => {
    let i = start;
    while (true) {
      const l = 2 * i + 1;
      if (l >= size) return;
      let w = l;
      if (l + 1 < size && worse(l + 1, l)) w = l + 1;
      if (!worse(w, i)) return;
      const tv = hv[i];
      hv[i] = hv[w];
      hv[w] = tv;
      const ti = hi[i];
      hi[i] = hi[w];
      hi[w] = ti;
      i = w;
    }
  };
  for (let f = 0; f < numFrames; f++) {
    const b = f * numSenones;
    let size = 0;
    for (let s = 0; s < numSenones; s++) {
      let v = probs[b + s];
      if (Number.isNaN(v)) v = -Infinity;
      if (size < k) {
        // Sift up.
        let i = size++;
        hv[i] = v;
        hi[i] = s;
        while (i > 0) {
          const p = (i - 1) >> 1;
          if (!worse(i, p)) break;
          const tv = hv[i];
          hv[i] = hv[p];
          hv[p] = tv;
          const ti = hi[i];
          hi[i] = hi[p];
          hi[p] = ti;
          i = p;
        }
      } else if (ranksBefore(v, s, hv[0], hi[0])) {
        hv[0] = v;
        hi[0] = s;
        siftDown(0, k);
      }
    }
    // Heap sort: repeatedly move the worst to the end -> best first.
    for (let end = k - 1; end > 0; end--) {
      const tv = hv[0];
      hv[0] = hv[end];
      hv[end] = tv;
      const ti = hi[0];
      hi[0] = hi[end];
      hi[end] = ti;
      siftDown(0, end);
    }
    let m = 0;
    const o = f * k;
    for (let j = 0; j < k; j++) {
      ids[o + j] = hi[j];
      out[o + j] = hv[j];
      m += hv[j];
    }
    kept[f] = m;
  }
  return { numFrames, k, ids, probs: out, keptMass: kept };
}

/**
 * Mean kept probability mass as a function of k, accumulated over frames (calibration pass).
 * Memory O(maxK); each added frame costs one sort of its row.
 */
export class KeptMassCurve {
  readonly numSenones: number;
  readonly maxK: number;
  private readonly sum: Float64Array;
  private readonly row: Float64Array;
  private n = 0;

  constructor(numSenones: number, maxK = numSenones) {
    if (!Number.isInteger(maxK) || maxK < 1 || maxK > numSenones)
      throw new ConfigError('bad maximum k', {
        keyPath: 'maxK',
        expected: `an integer in 1..${numSenones}`,
        found: String(maxK),
      });
    this.numSenones = numSenones;
    this.maxK = maxK;
    this.sum = new Float64Array(maxK);
    this.row = new Float64Array(numSenones);
  }

  /** Frames added so far. */
  get frames(): number {
    return this.n;
  }

  addRows(probs: ArrayLike<number>, numFrames: number): void {
    const S = this.numSenones;
    const row = this.row;
    for (let f = 0; f < numFrames; f++) {
      for (let s = 0; s < S; s++) row[s] = probs[f * S + s];
      row.sort();
      let c = 0;
      for (let j = 0; j < this.maxK; j++) {
        c += row[S - 1 - j];
        this.sum[j] += c;
      }
    }
    this.n += numFrames;
  }

  /** Mean over the added frames of the mass of the k most probable senones. */
  meanMass(k: number): number {
    if (this.n === 0) return NaN;
    return this.sum[Math.min(k, this.maxK) - 1] / this.n;
  }

  /** Mean kept mass for k = 1..maxK. */
  curve(): Float64Array {
    return this.sum.map((v) => v / Math.max(1, this.n));
  }

  /**
   * The smallest k whose mean kept mass >= target, or maxK (reached = false) when none is.
   */
  chooseK(targetMass: number): { k: number; meanMass: number; reached: boolean } {
    if (this.n === 0)
      throw new ConfigError('cannot choose k from an empty calibration sample', {
        expected: 'at least one frame',
        found: '0 frames',
      });
    for (let k = 1; k <= this.maxK; k++) {
      const m = this.sum[k - 1] / this.n;
      if (m >= targetMass) return { k, meanMass: m, reached: true };
    }
    return { k: this.maxK, meanMass: this.sum[this.maxK - 1] / this.n, reached: false };
  }
}

/** Summary of per-frame kept mass. Quantiles come from a 1e-4-wide histogram (exact to 1e-4). */
export interface KeptMassSummary {
  frames: number;
  mean: number;
  min: number;
  max: number;
  /** Mass below which 1 %, 5 %, 10 %, 25 %, 50 % of the frames lie. */
  quantiles: { p1: number; p5: number; p10: number; p25: number; p50: number };
  /** Fraction of frames whose kept mass is below 0.9, 0.95, 0.99. */
  fractionBelow: { '0.9': number; '0.95': number; '0.99': number };
}

/** Streaming statistics of kept mass (bounded memory: a 10000-bin histogram). */
export class KeptMassStats {
  private static readonly BINS = 10000;
  private readonly hist = new Float64Array(KeptMassStats.BINS + 1);
  private n = 0;
  private total = 0;
  private lo = Infinity;
  private hi = -Infinity;

  add(mass: ArrayLike<number>): void {
    for (let i = 0; i < mass.length; i++) {
      const m = mass[i];
      this.n++;
      this.total += m;
      if (m < this.lo) this.lo = m;
      if (m > this.hi) this.hi = m;
      const b = Math.min(KeptMassStats.BINS, Math.max(0, Math.floor(m * KeptMassStats.BINS)));
      this.hist[b]++;
    }
  }

  get frames(): number {
    return this.n;
  }

  get mean(): number {
    return this.n ? this.total / this.n : NaN;
  }

  private quantile(q: number): number {
    const want = q * this.n;
    let c = 0;
    for (let b = 0; b <= KeptMassStats.BINS; b++) {
      c += this.hist[b];
      if (c >= want && c > 0) return Math.min(1, (b + 1) / KeptMassStats.BINS);
    }
    return 1;
  }

  private below(x: number): number {
    if (!this.n) return NaN;
    let c = 0;
    const edge = Math.round(x * KeptMassStats.BINS);
    for (let b = 0; b < edge; b++) c += this.hist[b];
    return c / this.n;
  }

  summary(): KeptMassSummary {
    return {
      frames: this.n,
      mean: this.mean,
      min: this.n ? this.lo : NaN,
      max: this.n ? this.hi : NaN,
      quantiles: {
        p1: this.quantile(0.01),
        p5: this.quantile(0.05),
        p10: this.quantile(0.1),
        p25: this.quantile(0.25),
        p50: this.quantile(0.5),
      },
      fractionBelow: { '0.9': this.below(0.9), '0.95': this.below(0.95), '0.99': this.below(0.99) },
    };
  }
}

/** Distribution of the per-frame mass kept by the top k (rows of `numSenones` probabilities). */
export function keptMassDistribution(
  probs: ArrayLike<number>,
  numFrames: number,
  numSenones: number,
  k: number,
): KeptMassSummary {
  const st = new KeptMassStats();
  st.add(topKRows(probs, numFrames, numSenones, k).keptMass);
  return st.summary();
}
