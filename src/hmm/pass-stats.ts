/**
 * The statistics of one block of training utterances in one pass of GMM-HMM training
 * (./trainer.ts), one class per kind of pass, each with `add` (the sum over blocks, always in block
 * order) and `pack` / `unpackPassStats` (exact bytes, src/util/packed.ts), so that the same sums
 * come out in one process and from shards written to disk:
 *
 *   init    equal alignment: global Gaussian, single-Gaussian statistics per pdf, transition counts
 *   iter    gmm-acc-stats-ali: GMM statistics, transition counts, log-likelihood, frames, failures
 *   tree    acc-tree-stats: Gaussian statistics per triphone context
 *   lda     acc-lda;  mllt  gmm-acc-mllt (reduced to beta and the G_i per block)
 *   fmllr   fMLLR statistics per speaker;  si  two-feature GMM statistics (gmm-acc-stats-twofeats)
 */
import { NumericError } from '../util/errors.ts';
import { DiagGmmAccs, type DiagGmm } from './gmm.ts';
import { GaussStats, TreeStats } from './tree.ts';
import { FmllrAccs, LdaAccs, MlltAccs, MlltStats, addInto, copyInto } from './transforms.ts';

/** Skips in the order they happened: [utterance id, reason]. */
export type SkipList = [string, string][];

/** GMM statistics of every pdf as four arrays. */
export function packAccs(accs: readonly DiagGmmAccs[]): {
  dim: number;
  components: Int32Array;
  occ: Float64Array;
  sumX: Float64Array;
  sumX2: Float64Array;
} {
  const dim = accs[0]?.dim ?? 0;
  const components = Int32Array.from(accs, (a) => a.numComponents);
  const total = components.reduce((n, k) => n + k, 0);
  const occ = new Float64Array(total),
    sumX = new Float64Array(total * dim),
    sumX2 = new Float64Array(total * dim);
  let o = 0;
  for (const a of accs) {
    occ.set(a.occ, o);
    sumX.set(a.sumX, o * dim);
    sumX2.set(a.sumX2, o * dim);
    o += a.numComponents;
  }
  return { dim, components, occ, sumX, sumX2 };
}

export function unpackAccs(p: ReturnType<typeof packAccs>): DiagGmmAccs[] {
  const { dim } = p;
  let o = 0;
  return Array.from(p.components, (k) => {
    const a = new DiagGmmAccs(k, dim);
    copyInto(a.occ, p.occ.subarray(o, o + k));
    copyInto(a.sumX, p.sumX.subarray(o * dim, (o + k) * dim));
    copyInto(a.sumX2, p.sumX2.subarray(o * dim, (o + k) * dim));
    o += k;
    return a;
  });
}

/**
 * Zero the statistics of the components a block touched. A component is touched exactly when its
 * occupancy is not 0 (every E-step adds a positive weight), so the others are zero already.
 */
function clearAccs(accs: readonly DiagGmmAccs[]): void {
  for (const a of accs) {
    const d = a.dim;
    for (let c = 0; c < a.numComponents; c++) {
      if (a.occ[c] === 0) continue;
      a.occ[c] = 0;
      a.sumX.fill(0, c * d, (c + 1) * d);
      a.sumX2.fill(0, c * d, (c + 1) * d);
    }
  }
}

/** into += from, pdf by pdf; a component without occupancy in `from` adds nothing (its sums are zero). */
function addAccs(into: DiagGmmAccs[], from: readonly DiagGmmAccs[]): void {
  if (into.length !== from.length)
    throw new NumericError('GMM statistics of another model', {
      expected: `${into.length} pdfs`,
      found: String(from.length),
    });
  into.forEach((a, i) => {
    const b = from[i];
    if (a.numComponents !== b.numComponents || a.dim !== b.dim)
      throw new NumericError(`GMM statistics of pdf ${i} of another shape`, {
        expected: `${a.numComponents} x ${a.dim}`,
        found: `${b.numComponents} x ${b.dim}`,
      });
    const d = a.dim;
    for (let c = 0; c < a.numComponents; c++) {
      const n = b.occ[c];
      if (n === 0) continue;
      a.occ[c] += n;
      for (let j = c * d, e = j + d; j < e; j++) {
        a.sumX[j] += b.sumX[j];
        a.sumX2[j] += b.sumX2[j];
      }
    }
  });
}

/** Pass 0 of monophone training: the equal alignment's statistics, and what the source skipped. */
export class InitStats {
  readonly kind = 'init';
  dim = -1;
  global: GaussStats | null = null;
  accs: DiagGmmAccs[] | null = null;
  readonly tCounts: Float64Array;
  aligned = 0;
  /** Utterances the equal alignment could not align. */
  failures: SkipList = [];
  /** Utterances of the feature files the source could not use (no transcript). */
  sourceSkips: SkipList = [];
  /** Reference timings: utterances without, and timings that do not fit, by reason. */
  noReference = 0;
  mismatched: Record<string, number> = {};

  constructor(
    readonly numTids: number,
    readonly numPdfs: number,
  ) {
    this.tCounts = new Float64Array(numTids);
  }

  /** Fix the feature dimension (the first utterance with frames). */
  setDim(dim: number): void {
    this.dim = dim;
    this.global = new GaussStats(dim);
    this.accs = Array.from({ length: this.numPdfs }, () => new DiagGmmAccs(1, dim));
  }

  add(o: InitStats): void {
    if (o.dim >= 0) {
      if (this.dim < 0) this.setDim(o.dim);
      else if (o.dim !== this.dim)
        throw new NumericError('feature dimension changes', {
          uttId: o.failures[0]?.[0],
          expected: String(this.dim),
          found: String(o.dim),
        });
      this.global!.addStats(o.global!);
      addAccs(this.accs!, o.accs!);
    }
    addInto(this.tCounts, o.tCounts);
    this.aligned += o.aligned;
    this.failures.push(...o.failures);
    this.sourceSkips.push(...o.sourceSkips);
    this.noReference += o.noReference;
    for (const [k, n] of Object.entries(o.mismatched)) this.mismatched[k] = (this.mismatched[k] ?? 0) + n;
  }

  pack(): unknown {
    const { dim, global, accs, tCounts, aligned, failures, sourceSkips, noReference, mismatched } = this;
    return {
      kind: this.kind,
      numTids: this.numTids,
      numPdfs: this.numPdfs,
      dim,
      global: global ? { count: global.count, sum: global.sum, sumSq: global.sumSq } : null,
      accs: accs ? packAccs(accs) : null,
      tCounts,
      aligned,
      failures,
      sourceSkips,
      noReference,
      mismatched,
    };
  }

  static unpack(p: Record<string, never>): InitStats {
    const s = new InitStats(p.numTids, p.numPdfs);
    if (p.dim >= 0) {
      s.setDim(p.dim);
      const g = p.global as { count: number; sum: Float64Array; sumSq: Float64Array };
      s.global!.count = g.count;
      copyInto(s.global!.sum, g.sum);
      copyInto(s.global!.sumSq, g.sumSq);
      s.accs = unpackAccs(p.accs);
    }
    copyInto(s.tCounts, p.tCounts);
    Object.assign(s, {
      aligned: p.aligned,
      failures: p.failures,
      sourceSkips: p.sourceSkips,
      noReference: p.noReference,
      mismatched: p.mismatched,
    });
    return s;
  }
}

/** One training iteration (gmm-acc-stats-ali), and the block's alignments after it. */
export class IterStats {
  readonly kind = 'iter';
  ll = 0;
  frames = 0;
  /** Realignments that failed in this pass. */
  failed = 0;
  /** Realigned utterances whose word spans no path kept to. */
  spansDropped = 0;
  /** Utterances with an alignment after the pass, and those whose last realignment failed. */
  aligned = 0;
  failures: SkipList = [];

  constructor(
    readonly accs: DiagGmmAccs[],
    readonly tCounts: Float64Array,
  ) {}

  /** Zero, for the next block (the arrays kept). */
  clear(): this {
    clearAccs(this.accs);
    this.tCounts.fill(0);
    this.ll = this.frames = this.failed = this.spansDropped = this.aligned = 0;
    this.failures = [];
    return this;
  }

  add(o: IterStats): void {
    addAccs(this.accs, o.accs);
    addInto(this.tCounts, o.tCounts);
    this.ll += o.ll;
    this.frames += o.frames;
    this.failed += o.failed;
    this.spansDropped += o.spansDropped;
    this.aligned += o.aligned;
    this.failures.push(...o.failures);
  }

  pack(): unknown {
    const { ll, frames, failed, spansDropped, aligned, failures, tCounts } = this;
    return { kind: this.kind, accs: packAccs(this.accs), tCounts, ll, frames, failed, spansDropped, aligned, failures };
  }

  static unpack(p: Record<string, never>): IterStats {
    const s = new IterStats(unpackAccs(p.accs), p.tCounts);
    Object.assign(s, {
      ll: p.ll,
      frames: p.frames,
      failed: p.failed,
      spansDropped: p.spansDropped,
      aligned: p.aligned,
      failures: p.failures,
    });
    return s;
  }
}

/** Tree statistics (null until a frame is seen: the dimension comes from the data). */
export class TreePassStats {
  readonly kind = 'tree';
  tree: TreeStats | null = null;

  add(o: TreePassStats): void {
    if (!o.tree) return;
    this.tree ??= new TreeStats(o.tree.dim, o.tree.numPhoneIds);
    this.tree.merge(o.tree);
  }

  pack(): unknown {
    const t = this.tree;
    if (!t) return { kind: this.kind, tree: null };
    const es = [...t.entries.values()];
    const d = t.dim;
    const sum = new Float64Array(es.length * d),
      sumSq = new Float64Array(es.length * d);
    es.forEach((e, i) => {
      sum.set(e.stats.sum, i * d);
      sumSq.set(e.stats.sumSq, i * d);
    });
    return {
      kind: this.kind,
      tree: {
        dim: d,
        numPhoneIds: t.numPhoneIds,
        context: Int32Array.from(es.flatMap((e) => [e.left, e.centre, e.right, e.pdfClass])),
        count: Float64Array.from(es, (e) => e.stats.count),
        sum,
        sumSq,
      },
    };
  }

  static unpack(p: Record<string, never>): TreePassStats {
    const s = new TreePassStats();
    const t = p.tree as {
      dim: number;
      numPhoneIds: number;
      context: Int32Array;
      count: Float64Array;
      sum: Float64Array;
      sumSq: Float64Array;
    } | null;
    if (!t) return s;
    s.tree = new TreeStats(t.dim, t.numPhoneIds);
    const d = t.dim;
    for (let i = 0; i < t.count.length; i++) {
      const [l, c, r, pc] = t.context.subarray(4 * i, 4 * i + 4);
      const g = new GaussStats(d);
      g.count = t.count[i];
      copyInto(g.sum, t.sum.subarray(i * d, (i + 1) * d));
      copyInto(g.sumSq, t.sumSq.subarray(i * d, (i + 1) * d));
      s.tree.addContext(l, c, r, pc, g);
    }
    return s;
  }
}

/** LDA statistics (null until a frame is seen). */
export class LdaPassStats {
  readonly kind = 'lda';
  accs: LdaAccs | null = null;

  add(o: LdaPassStats): void {
    if (!o.accs) return;
    this.accs ??= new LdaAccs(o.accs.numClasses, o.accs.dim);
    this.accs.add(o.accs);
  }

  pack(): unknown {
    return { kind: this.kind, accs: this.accs?.pack() ?? null };
  }

  static unpack(p: Record<string, never>): LdaPassStats {
    const s = new LdaPassStats();
    if (p.accs) s.accs = LdaAccs.unpack(p.accs);
    return s;
  }
}

/**
 * MLLT: a block accumulates per Gaussian (`block`), then reduces to beta and the G_i
 * (`finishBlock`), which is what blocks sum and shards write.
 */
export class MlltPassStats {
  readonly kind = 'mllt';
  block: MlltAccs | null;
  stats: MlltStats;

  constructor(dim: number) {
    this.block = new MlltAccs(dim);
    this.stats = MlltStats.zero(dim);
  }

  /** Reduce the block's per-Gaussian statistics, summed in the order of `gmms` (the model's pdfs). */
  finishBlock(gmms: readonly DiagGmm[]): void {
    if (this.block) this.stats = this.block.toStats(gmms);
  }

  clear(): this {
    this.block?.clear();
    this.stats = MlltStats.zero(this.stats.dim);
    return this;
  }

  add(o: MlltPassStats): void {
    this.stats.add(o.stats);
  }

  pack(): unknown {
    return { kind: this.kind, stats: this.stats.pack() };
  }

  static unpack(p: Record<string, never>): MlltPassStats {
    const s = new MlltPassStats(0);
    s.block = null;
    s.stats = MlltStats.unpack(p.stats);
    return s;
  }
}

/** fMLLR statistics per speaker, speakers in the order met. */
export class FmllrPassStats {
  readonly kind = 'fmllr';
  readonly speakers = new Map<string, FmllrAccs>();

  add(o: FmllrPassStats): void {
    for (const [spk, a] of o.speakers) {
      const mine = this.speakers.get(spk);
      if (mine) mine.add(a);
      else this.speakers.set(spk, FmllrAccs.unpack(a.pack()));
    }
  }

  pack(): unknown {
    return { kind: this.kind, speakers: [...this.speakers].map(([spk, a]) => [spk, a.pack()]) };
  }

  static unpack(p: Record<string, never>): FmllrPassStats {
    const s = new FmllrPassStats();
    for (const [spk, a] of p.speakers as [string, ReturnType<FmllrAccs['pack']>][])
      s.speakers.set(spk, FmllrAccs.unpack(a));
    return s;
  }
}

/** The speaker-independent model's two-feature statistics. */
export class SiPassStats {
  readonly kind = 'si';
  constructor(readonly accs: DiagGmmAccs[]) {}

  clear(): this {
    clearAccs(this.accs);
    return this;
  }

  add(o: SiPassStats): void {
    addAccs(this.accs, o.accs);
  }

  pack(): unknown {
    return { kind: this.kind, accs: packAccs(this.accs) };
  }

  static unpack(p: Record<string, never>): SiPassStats {
    return new SiPassStats(unpackAccs(p.accs));
  }
}

export type PassStats =
  InitStats | IterStats | TreePassStats | LdaPassStats | MlltPassStats | FmllrPassStats | SiPassStats;

const UNPACK: Record<PassStats['kind'], (p: Record<string, never>) => PassStats> = {
  init: InitStats.unpack,
  iter: IterStats.unpack,
  tree: TreePassStats.unpack,
  lda: LdaPassStats.unpack,
  mllt: MlltPassStats.unpack,
  fmllr: FmllrPassStats.unpack,
  si: SiPassStats.unpack,
};

/** Statistics that `pack` wrote; `kind` is what the pass expects. */
export function unpackPassStats(p: unknown, kind: PassStats['kind']): PassStats {
  const v = p as { kind?: string } & Record<string, never>;
  if (v?.kind !== kind)
    throw new NumericError('statistics of another kind of pass', { expected: kind, found: String(v?.kind) });
  return UNPACK[kind](v);
}
