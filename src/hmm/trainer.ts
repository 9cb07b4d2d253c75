/**
 * GMM-HMM training as a fixed sequence of passes over the training utterances, as Kaldi's
 * training scripts run it: each pass accumulates statistics over the data (the E-step, Kaldi's
 * `gmm-acc-stats-ali JOB=1:nj`) and then updates the model from their sum (the M-step,
 * `gmm-sum-accs` + `gmm-est`). The training utterances are cut into fixed blocks (ordered,
 * contiguous, the same whatever runs them); every pass accumulates each block on its own and sums
 * the blocks in block order, so the statistics, and therefore the models, are the same bytes
 * whether one process runs every block or shard jobs run some blocks each and a merge sums their
 * files (src/align/chain-jobs.ts).
 *
 * A `GmmTrainer` holds the model state between passes (`TrainerState`, which the sharded training
 * writes after every M-step, ./trainer-io.ts); each block holds its utterances' alignments between
 * passes (`BlockState`). One pass:
 *
 *   beginPass(p)                       the state changes a pass starts with (all processes alike)
 *   beginBlock(p, block)               per block: alignments converted to a new tree, stage resets
 *   accumulate(p, stats, u, block)     per utterance of the block, into the block's own statistics
 *   finishBlock(p, stats, block)       what the block's statistics carry besides sums
 *   addStats(total, stats)             in block order
 *   estimate(p, total)                 the M-step
 *
 * The passes of a stage (./passes.ts): mono: init, iter 1..n-1; a triphone stage: [lda | fmllr 0],
 * tree, then per iteration [mllt k | fmllr k] and iter k; SAT ends with si.
 */
import { NumericError, SkipCounter } from '../util/errors.ts';
import type { PhoneSet } from '../lang/phones.ts';
import { AmDiagGmm, DiagGmm, type GmmUpdateOptions, type MixUpOptions } from './gmm.ts';
import { Topology, type TopologyOptions } from './topology.ts';
import { TransitionModel, type TransitionUpdateOptions } from './transitions.ts';
import { MonophoneContext } from './context.ts';
import { equalAlign, type FrameAlignment, type LangModel } from './graph.ts';
import { transitionWeights, type AcousticModel, type AlignOptions, type WordSpans } from './align.ts';
import type { AlignFailure } from './errors.ts';
import type { Question, TreeBuildOptions } from './tree.ts';
import { FeatureTransform } from './feature-transform.ts';
import {
  FmllrPassStats,
  InitStats,
  IterStats,
  LdaPassStats,
  MlltPassStats,
  SiPassStats,
  TreePassStats,
  type PassStats,
  type SkipList,
} from './pass-stats.ts';
import {
  accumulateIteration,
  accumulateLda,
  accumulateMllt,
  accumulateSi,
  accumulateSpeaker,
  accumulateTree,
  convertAlignment,
  estimateFmllrPass,
  estimateIteration,
  estimateLdaPass,
  estimateMlltPass,
  estimateSi,
  estimateTree,
} from './passes.ts';

/**
 * One training utterance: id, frames (one Float32Array of feature values per frame) and words;
 * optionally the frames each word may take (reference timings), which every Viterbi alignment of
 * it keeps to where it can (see alignGraph).
 */
export interface TrainingUtterance {
  uttId: string;
  frames: Float32Array[];
  words: string[];
  wordSpans?: WordSpans | null;
  /** Speaker id (fMLLR statistics are kept per speaker). */
  speaker?: string;
  /** Block of the training utterances it belongs to (./trainer.ts); 0 where the source has no blocks. */
  block?: number;
  /** The source could not use it (no frames): why. Counted by the first pass. */
  skip?: string;
  /** Its reference timings: absent, or why they do not fit the transcript. Counted by the first pass. */
  spanNote?: string;
}

/** A re-iterable source of utterances (called once per pass; may be sync or async). */
export type UtteranceSource = () => Iterable<TrainingUtterance> | AsyncIterable<TrainingUtterance>;

export interface GmmHmmModel extends AcousticModel {
  phones: PhoneSet;
  topology: Topology;
}

export interface IterationReport {
  iter: number;
  realigned: boolean;
  /** Average acoustic log-likelihood per frame under the model used for accumulation. */
  logLikePerFrame: number;
  frames: number;
  numGaussians: number;
  /** Utterances whose realignment failed in this iteration. */
  failed: number;
  /** Realigned utterances with word spans that no path kept to (aligned without them). */
  spansDropped: number;
}

export interface TransformReport {
  /** LDA: the generalised eigenvalues kept, and the frames. */
  lda?: { dim: number; inDim: number; frames: number; eigenvalues: number[] };
  /** One entry per MLLT or fMLLR re-estimation: auxiliary-function gain per frame. */
  updates: { iter: number; frames: number; gainPerFrame: number; speakers?: number }[];
}

/** A stage's iteration schedule (Kaldi's script options). */
export interface Schedule {
  /** Iterations, pass 0 (the initial alignment or tree) included. */
  numIters: number;
  /** Iterations that realign before accumulating. */
  realignIters: number[];
  /** Gaussians are added during iterations 1..maxIterInc. */
  maxIterInc: number;
  totalGaussians: number;
  /** Realignment (and, for mono, the equal alignment's graph) options. */
  align: AlignOptions;
  gmmUpdate: GmmUpdateOptions;
  mixUp: MixUpOptions;
  transitionUpdate: TransitionUpdateOptions;
  seed: number;
}

/** One GMM-HMM of the chain: a flat-start monophone model or a triphone model (+ LDA+MLLT, + SAT). */
export interface StageSpec {
  label: string;
  kind: 'mono' | 'tri';
  schedule: Schedule;
  /** mono: the HMM topology. */
  topology?: TopologyOptions;
  /** tri: tree size and thresholds, and its questions. */
  tree?: TreeBuildOptions;
  questions?: 'cluster' | 'arpabet' | Question[];
  /** tri2b: LDA on spliced frames (splice, inDim: the spliced input), MLLT before `mlltIters`. */
  lda?: { dim: number; splice: number; inDim: number; mlltIters: number[] };
  /** tri3b: fMLLR per speaker before the tree and before `fmllrIters`; the speaker-independent model last. */
  sat?: { fmllrIters: number[]; sweeps: number };
}

export type PassKind = 'init' | 'lda' | 'fmllr' | 'tree' | 'mllt' | 'iter' | 'si';

export interface PassInfo {
  index: number;
  /** Index of its stage in the specs. */
  stage: number;
  label: string;
  kind: PassKind;
  /** The iteration it belongs to (0: before the first). */
  iter: number;
  /** iter: it realigns first. */
  realign: boolean;
  /** It changes the blocks' alignments (the sharded training writes them after it). */
  writesBlocks: boolean;
  /** 'mono iter 3 (realign)', 'tri2b mllt 2', ... */
  name: string;
}

/** The passes of the specs, in order. */
export function planPasses(specs: readonly StageSpec[]): PassInfo[] {
  const out: PassInfo[] = [];
  const add = (stage: number, kind: PassKind, iter: number, realign = false) => {
    const label = specs[stage].label;
    const prev = out[out.length - 1];
    out.push({
      index: out.length,
      stage,
      label,
      kind,
      iter,
      realign,
      // After a tree the next pass converts the alignments to its leaves.
      writesBlocks: kind === 'init' || (kind === 'iter' && (realign || iter === 1)) || prev?.kind === 'tree',
      name: `${label} ${kind}${kind === 'iter' || kind === 'mllt' || (kind === 'fmllr' && iter > 0) ? ` ${iter}` : ''}${realign ? ' (realign)' : ''}`,
    });
  };
  specs.forEach((s, i) => {
    if (s.kind === 'mono') add(i, 'init', 0);
    else {
      if (s.sat) add(i, 'fmllr', 0);
      if (s.lda) add(i, 'lda', 0);
      add(i, 'tree', 0);
    }
    for (let iter = 1; iter < s.schedule.numIters; iter++) {
      if (s.lda?.mlltIters.includes(iter)) add(i, 'mllt', iter);
      if (s.sat?.fmllrIters.includes(iter)) add(i, 'fmllr', iter);
      add(i, 'iter', iter, s.schedule.realignIters.includes(iter));
    }
    if (s.sat) add(i, 'si', s.schedule.numIters);
  });
  return out;
}

/** A block's utterances between passes: alignments, who may realign, who failed last. */
export interface BlockState {
  alignments: Map<string, FrameAlignment>;
  /** Utterances a realignment tries (those aligned when the stage's iterations began). */
  trainable: Set<string>;
  /** Utterances whose last realignment failed, and why, in the order they failed. */
  failures: Map<string, string>;
  /** Label of the model whose pdfs the alignments carry ('' before any). */
  pdfsOf: string;
}

export function emptyBlockState(): BlockState {
  return { alignments: new Map(), trainable: new Set(), failures: new Map(), pdfsOf: '' };
}

/** The stage being trained. */
export interface StageProgress {
  /** Gaussians the next mix-up aims at, and what each iteration adds. */
  numGauss: number;
  incGauss: number;
  history: IterationReport[];
  report: TransformReport;
  /** mono: utterances the equal alignment failed on. */
  initFailures: SkipList;
  /** Utterances whose last realignment failed (after the last iteration so far). */
  lastFailures: SkipList;
  /** Utterances with an alignment. */
  aligned: number;
  treeGains: number[] | null;
  startedAt: number;
}

/** A trained stage. */
export interface StageOutcome {
  label: string;
  pdfs: number;
  gaussians: number;
  /** Last iteration's average log-likelihood per frame (6 decimals; NaN without iterations). */
  logLikePerFrame: number;
  aligned: number;
  /** Utterances left without an alignment, and why, in order. */
  skips: SkipList;
  history: IterationReport[];
  transforms: TransformReport | null;
  treeGains: number[] | null;
  seconds: number;
}

/** Everything the passes carry from one M-step to the next (./trainer-io.ts packs it). */
export interface TrainerState {
  /** The next pass. */
  next: number;
  model: GmmHmmModel | null;
  /** The stage whose model `model` is. */
  modelLabel: string;
  transform: FeatureTransform | null;
  /** tri3b: the speaker-independent alignment model. */
  alignmentModel: GmmHmmModel | null;
  stage: StageProgress | null;
  done: StageOutcome[];
  /** What the source could not use, and its reference timings (first pass). */
  source: { skips: SkipList; noReference: number; mismatched: Record<string, number> };
}

/** What a pass function sees. */
export interface PassContext {
  lang: LangModel;
  spec: StageSpec;
  pass: PassInfo;
  model: GmmHmmModel | null;
  stage: StageProgress;
}

/** Where a trainer starts: nothing (a chain from mono), or a trained model (a triphone stage alone). */
export interface TrainerStart {
  model: GmmHmmModel;
  label: string;
  aligned: number;
}

export class GmmTrainer {
  readonly passes: PassInfo[];
  state: TrainerState;
  private tw: Float64Array | null = null;
  private post = new Float64Array(1);
  private mono: { topology: Topology; tm: TransitionModel; ctx: MonophoneContext } | null = null;

  constructor(
    readonly lang: LangModel,
    readonly specs: readonly StageSpec[],
    start: TrainerStart | null = null,
  ) {
    this.passes = planPasses(specs);
    this.state = {
      next: 0,
      model: start?.model ?? null,
      modelLabel: start?.label ?? '',
      transform: null,
      alignmentModel: null,
      stage: null,
      done: start ? [finishedStart(start)] : [],
      source: { skips: [], noReference: 0, mismatched: {} },
    };
  }

  get finished(): boolean {
    return this.state.next >= this.passes.length;
  }

  /** The feature transform the source applies now (null: CMVN + deltas). */
  get transform(): FeatureTransform | null {
    return this.state.transform;
  }

  private context(p: PassInfo): PassContext {
    return { lang: this.lang, spec: this.specs[p.stage], pass: p, model: this.state.model, stage: this.state.stage! };
  }

  /** The state changes pass `p` starts with; call once per process before its blocks. */
  beginPass(p: PassInfo): void {
    const s = this.state;
    if (p.index !== s.next) throw new Error(`trainer: pass ${p.index} (${p.name}) begun after pass ${s.next - 1}`);
    const spec = this.specs[p.stage];
    if (s.stage === null || this.passes[p.index - 1]?.stage !== p.stage) s.stage = this.newStage();
    this.tw = null;
    if (p.kind === 'init') this.mono = monoSkeleton(this.lang, spec);
    if (p.kind === 'lda') s.transform = new FeatureTransform(spec.lda!.splice, spec.lda!.inDim);
    if (p.kind === 'fmllr' && p.iter === 0) s.transform!.speakers.clear();
    if (p.kind === 'si') s.transform!.adapt = false;
    if (p.kind === 'iter' && p.realign) this.tw = transitionWeights(s.model!.tm, spec.schedule.align);
  }

  private newStage(): StageProgress {
    return {
      numGauss: 0,
      incGauss: 0,
      history: [],
      report: { updates: [] },
      initFailures: [],
      lastFailures: [],
      aligned: this.state.done.at(-1)?.aligned ?? 0,
      treeGains: null,
      startedAt: Date.now(),
    };
  }

  /** A block's state at the start of pass `p`: converted to the current model's pdfs, the stage's iterations begun. */
  beginBlock(p: PassInfo, block: BlockState): void {
    const { model, modelLabel } = this.state;
    if (p.kind === 'init') block.pdfsOf = this.specs[p.stage].label;
    else if (model && block.pdfsOf !== modelLabel) {
      for (const [id, a] of block.alignments) block.alignments.set(id, convertAlignment(model.tm, a, model.ctx));
      block.pdfsOf = modelLabel;
    }
    if (p.kind === 'iter' && p.iter === 1) {
      // As in Kaldi (every realignment aligns all training graphs), an utterance whose realignment
      // failed sits out until the next realignment and is tried again there.
      block.trainable = new Set(block.alignments.keys());
      block.failures = new Map();
    }
  }

  /** Zero statistics of pass `p` (a block's, or the total's). */
  newStats(p: PassInfo): PassStats {
    const model = this.state.model;
    switch (p.kind) {
      case 'init':
        return new InitStats(this.mono!.tm.numTids, this.mono!.ctx.numPdfs);
      case 'iter':
        return new IterStats(model!.am.newAccs(), model!.tm.newCounts());
      case 'tree':
        return new TreePassStats();
      case 'lda':
        return new LdaPassStats();
      case 'mllt':
        return new MlltPassStats(this.state.transform!.dim);
      case 'fmllr':
        return new FmllrPassStats();
      case 'si':
        return new SiPassStats(model!.am.newAccs());
    }
  }

  /** Zero statistics for the next block: `used` cleared where its arrays fit every block of the pass, else new ones. */
  reuseStats(p: PassInfo, used: PassStats): PassStats {
    if (used instanceof IterStats || used instanceof SiPassStats || used instanceof MlltPassStats) return used.clear();
    return this.newStats(p);
  }

  /** The E-step on one utterance of `block`; returns whether it counted (for progress). */
  accumulate(p: PassInfo, stats: PassStats, u: TrainingUtterance, block: BlockState): boolean {
    if (u.skip !== undefined) {
      if (p.kind === 'init') (stats as InitStats).sourceSkips.push([u.uttId, u.skip]);
      return false;
    }
    const c = this.context(p);
    switch (p.kind) {
      case 'init':
        this.accumulateInit(c, stats as InitStats, u, block);
        return true;
      case 'iter':
        return accumulateIteration(c, stats as IterStats, u, block, this.tw);
      case 'tree':
        accumulateTree(c, stats as TreePassStats, u, block);
        return true;
      case 'lda':
        accumulateLda(c, stats as LdaPassStats, u, block);
        return true;
      case 'mllt':
        accumulateMllt(c, stats as MlltPassStats, u, block);
        return true;
      case 'fmllr': {
        const ali = block.alignments.get(u.uttId);
        if (ali) accumulateSpeaker((stats as FmllrPassStats).speakers, c.model!, u, ali, this.state.transform!.dim);
        return true;
      }
      case 'si': {
        const k = Math.max(...c.model!.am.gmms.map((g) => g.numComponents));
        if (this.post.length < k) this.post = new Float64Array(k);
        accumulateSi(c, stats as SiPassStats, u, block, this.state.transform!, this.post);
        return true;
      }
    }
  }

  /** train_mono.sh's pass 0: the equal alignment (align-equal-compiled), single-Gaussian statistics per pdf. */
  private accumulateInit(c: PassContext, stats: InitStats, u: TrainingUtterance, block: BlockState): void {
    if (u.spanNote === 'no-reference') stats.noReference++;
    else if (u.spanNote !== undefined) stats.mismatched[u.spanNote] = (stats.mismatched[u.spanNote] ?? 0) + 1;
    const { tm, ctx } = this.mono!;
    if (u.frames.length > 0 && stats.dim < 0) stats.setDim(u.frames[0].length);
    const a = equalAlign(u.uttId, u.frames.length, u.words, this.lang, ctx, tm, {
      ...c.spec.schedule.align,
      seed: c.spec.schedule.seed,
    });
    if ('ok' in a) {
      stats.failures.push([u.uttId, (a as AlignFailure).reason]);
      return;
    }
    for (let t = 0; t < u.frames.length; t++) {
      const x = u.frames[t];
      if (x.length !== stats.dim)
        throw new NumericError(`feature dimension changes`, {
          uttId: u.uttId,
          expected: String(stats.dim),
          found: String(x.length),
        });
      stats.global!.add(x);
      stats.accs![a.pdf[t]].accumulateComponent(0, x, 1);
      stats.tCounts[a.tid[t]] += 1;
    }
    block.alignments.set(u.uttId, a);
  }

  /** What a block's statistics carry besides the sums (alignment counts and failures; MLLT's reduction). */
  finishBlock(p: PassInfo, stats: PassStats, block: BlockState): void {
    if (stats instanceof InitStats) stats.aligned = block.alignments.size;
    if (stats instanceof IterStats) {
      stats.aligned = block.alignments.size;
      stats.failures = [...block.failures];
    }
    if (stats instanceof MlltPassStats) stats.finishBlock(this.state.model!.am.gmms);
    if (p.kind !== stats.kind) throw new Error(`trainer: ${stats.kind} statistics in a ${p.kind} pass`);
  }

  /** The M-step of pass `p` from the statistics of all blocks; returns its log line. */
  estimate(p: PassInfo, total: PassStats): string {
    const s = this.state;
    if (p.index !== s.next) throw new Error(`trainer: pass ${p.index} estimated, expected ${s.next}`);
    const c = this.context(p);
    let message: string;
    switch (p.kind) {
      case 'init':
        message = this.estimateInit(c, total as InitStats);
        break;
      case 'iter':
        message = estimateIteration(c, total as IterStats);
        break;
      case 'tree': {
        const r = estimateTree(c, total as TreePassStats);
        s.model = r.model;
        s.modelLabel = c.spec.label;
        this.startMixing(c.spec, r.model.am.numPdfs);
        s.stage!.treeGains = r.gains;
        message = r.message;
        break;
      }
      case 'lda':
        message = estimateLdaPass(c, total as LdaPassStats, s.transform!);
        break;
      case 'mllt':
        message = estimateMlltPass(c, total as MlltPassStats, s.transform!);
        break;
      case 'fmllr':
        message = estimateFmllrPass(c, total as FmllrPassStats, s.transform!);
        break;
      case 'si':
        s.alignmentModel = estimateSi(c, total as SiPassStats);
        s.transform!.adapt = true;
        message = `${c.spec.label}: speaker-independent alignment model (${s.alignmentModel.am.numGaussians} Gaussians)`;
        break;
    }
    s.next++;
    if (this.passes[s.next]?.stage !== p.stage) this.finishStage(c.spec);
    return message;
  }

  private startMixing(spec: StageSpec, initial: number): void {
    const st = this.state.stage!;
    st.numGauss = initial;
    const { totalGaussians, maxIterInc } = spec.schedule;
    st.incGauss = Math.max(0, Math.floor((totalGaussians - initial) / Math.max(1, maxIterInc)));
  }

  /** gmm-init-mono from the global statistics, then gmm-est on the equal alignment's statistics. */
  private estimateInit(c: PassContext, total: InitStats): string {
    const s = this.state;
    const { topology, tm, ctx } = this.mono!;
    const { gmmUpdate, transitionUpdate } = c.spec.schedule;
    if (!total.global || total.global.count === 0) {
      const skips = new SkipCounter();
      for (const [id, reason] of [...total.sourceSkips, ...total.failures]) skips.skip(id, reason);
      throw new NumericError('monophone training: no usable utterances', {
        expected: 'at least one utterance with frames and a covered transcript',
        found: skips.summary(),
      });
    }
    const gm = total.global.moments(gmmUpdate.minVariance ?? 0.001);
    const am = new AmDiagGmm(Array.from({ length: ctx.numPdfs }, () => DiagGmm.single(gm.mean, gm.variance)));
    am.update(total.accs!, { ...gmmUpdate, minGaussianOccupancy: 3 });
    tm.update(total.tCounts, transitionUpdate);
    s.model = { phones: this.lang.phones, topology, tm, ctx, am };
    s.modelLabel = c.spec.label;
    this.startMixing(c.spec, ctx.numPdfs);
    s.stage!.initFailures = total.failures;
    s.stage!.aligned = total.aligned;
    s.source = { skips: total.sourceSkips, noReference: total.noReference, mismatched: total.mismatched };
    return `${c.spec.label}: equal alignment of ${total.aligned} utterances, ${ctx.numPdfs} pdfs, dim ${total.dim}`;
  }

  private finishStage(spec: StageSpec): void {
    const s = this.state;
    const st = s.stage!;
    const last = st.history.at(-1);
    s.done.push({
      label: spec.label,
      pdfs: s.model!.am.numPdfs,
      gaussians: s.model!.am.numGaussians,
      logLikePerFrame: last ? Number(last.logLikePerFrame.toFixed(6)) : NaN,
      aligned: st.aligned,
      skips: [...st.initFailures, ...st.lastFailures],
      history: st.history,
      transforms: spec.lda || spec.sat ? st.report : null,
      treeGains: st.treeGains,
      seconds: Number(((Date.now() - st.startedAt) / 1000).toFixed(1)),
    });
  }

  /** The last finished stage's skips as a counter (done: its aligned utterances). */
  stageSkips(outcome: StageOutcome): SkipCounter {
    const skips = new SkipCounter();
    for (const [id, reason] of outcome.skips) skips.skip(id, reason);
    skips.done = outcome.aligned;
    return skips;
  }
}

/** A trainer's start as a finished stage (its aligned count carries into the next stage). */
function finishedStart(start: TrainerStart): StageOutcome {
  return {
    label: start.label,
    pdfs: start.model.am.numPdfs,
    gaussians: start.model.am.numGaussians,
    logLikePerFrame: NaN,
    aligned: start.aligned,
    skips: [],
    history: [],
    transforms: null,
    treeGains: null,
    seconds: 0,
  };
}

/** The monophone model's structure before any statistics (gmm-init-mono's topology and tree). */
function monoSkeleton(
  lang: LangModel,
  spec: StageSpec,
): { topology: Topology; tm: TransitionModel; ctx: MonophoneContext } {
  const topology = new Topology(lang.phones, spec.topology);
  return { topology, tm: new TransitionModel(topology), ctx: new MonophoneContext(topology) };
}

/** total += stats (one block's, in block order). */
export function addStats(total: PassStats, stats: PassStats): void {
  if (total.kind !== stats.kind) throw new Error(`trainer: ${stats.kind} statistics added to ${total.kind}`);
  (total as { add(o: PassStats): void }).add(stats);
}
