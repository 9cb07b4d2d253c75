/**
 * GMM-HMM training, as Kaldi's steps/train_mono.sh (flat start) and steps/train_deltas.sh
 * (triphones), written over an abstract source of utterances so it runs on synthetic data in tests
 * and on Arrow features in the align stage. The source is iterated once per pass (features are never
 * all held in memory); alignments (pdf + transition id per frame, 8 bytes/frame) are kept between passes.
 */
import { SkipCounter } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { createLogger, type Logger } from '../util/log.ts';
import { NumericError } from '../util/errors.ts';
import type { PhoneSet } from '../lang/phones.ts';
import { AmDiagGmm, DiagGmm, DiagGmmAccs, type GmmUpdateOptions, type MixUpOptions } from './gmm.ts';
import { Topology, type TopologyOptions } from './topology.ts';
import { TransitionModel, type TransitionUpdateOptions } from './transitions.ts';
import { MonophoneContext, type ContextDependency } from './context.ts';
import { equalAlign, type FrameAlignment, type LangModel } from './graph.ts';
import {
  alignUtterance,
  transitionWeights,
  type AcousticModel,
  type AlignOptions,
  type Alignment,
  type WordSpans,
} from './align.ts';
import type { AlignFailure } from './errors.ts';
import {
  GaussStats,
  TreeStats,
  buildTree,
  leafGaussians,
  type ContextTree,
  type Question,
  type TreeBuildOptions,
} from './tree.ts';
import { arpabetClassQuestions, clusterPhoneQuestions } from './questions.ts';

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

export interface TrainResult {
  model: GmmHmmModel;
  /** Latest alignment of every utterance that has one. */
  alignments: Map<string, FrameAlignment>;
  /** Utterances skipped (OOV, empty, too short, beam), by reason. */
  skips: SkipCounter;
  history: IterationReport[];
}

interface ScheduleOptions {
  numIters: number;
  realignIters: number[];
  maxIterInc: number;
  totalGaussians: number;
  initialGaussians: number;
  align: AlignOptions;
  gmmUpdate: GmmUpdateOptions;
  firstGmmUpdate?: GmmUpdateOptions;
  mixUp: MixUpOptions;
  transitionUpdate: TransitionUpdateOptions;
  seed: number;
  logger: Logger;
  label: string;
  /** Runs before an iteration's pass (after the previous update): MLLT or fMLLR re-estimation. */
  beforeIteration?: (iter: number, model: GmmHmmModel, alignments: Map<string, FrameAlignment>) => Promise<void>;
}

export interface CommonTrainOptions {
  /** Training iterations (pass 0 = initial alignment included). */
  numIters?: number;
  /** Iterations that realign before accumulating. */
  realignIters?: number[];
  /** Gaussians are added during iterations 1..maxIterInc. */
  maxIterInc?: number;
  /** Target total number of Gaussians. */
  totalGaussians?: number;
  /** Alignment options for realignment (beams, scales, silence). */
  align?: AlignOptions;
  gmmUpdate?: GmmUpdateOptions;
  mixUp?: MixUpOptions;
  transitionUpdate?: TransitionUpdateOptions;
  /** Seed for equal-alignment paths and Gaussian splitting. Default 0. */
  seed?: number;
  logger?: Logger;
}

export interface MonophoneTrainOptions extends CommonTrainOptions {
  topology?: TopologyOptions;
}

/** One pass over a source, sync or async alike. */
export async function* iterate(src: UtteranceSource): AsyncGenerator<TrainingUtterance> {
  for await (const u of src()) yield u;
}

/** Accumulate GMM and transition statistics along an alignment; returns the summed log-likelihood. */
export function accumulateAlignment(
  model: AcousticModel,
  ali: FrameAlignment,
  frames: readonly Float32Array[],
  accs: DiagGmmAccs[],
  tCounts: Float64Array,
): number {
  let ll = 0;
  for (let t = 0; t < frames.length; t++) {
    const p = ali.pdf[t];
    ll += accs[p].accumulate(model.am.gmms[p], frames[t]);
    tCounts[ali.tid[t]] += 1;
  }
  return ll;
}

async function runSchedule(
  source: UtteranceSource,
  lang: LangModel,
  model: GmmHmmModel,
  alignments: Map<string, FrameAlignment>,
  skips: SkipCounter,
  o: ScheduleOptions,
): Promise<IterationReport[]> {
  const history: IterationReport[] = [];
  let numGauss = o.initialGaussians;
  const incGauss = Math.max(0, Math.floor((o.totalGaussians - numGauss) / Math.max(1, o.maxIterInc)));
  const rng = new Rng(o.seed).fork(o.label);
  // As in Kaldi (every realignment aligns all training graphs), an utterance whose realignment
  // failed sits out until the next realignment and is tried again there; only those still without
  // an alignment at the end are counted as skips.
  const trainable = new Set(alignments.keys());
  const lastFailure = new Map<string, string>();
  for (let iter = 1; iter < o.numIters; iter++) {
    await o.beforeIteration?.(iter, model, alignments);
    const realign = o.realignIters.includes(iter);
    const tw = realign ? transitionWeights(model.tm, o.align) : undefined;
    const accs = model.am.newAccs();
    const tCounts = model.tm.newCounts();
    let ll = 0,
      frames = 0,
      failed = 0,
      spansDropped = 0;
    // A realignment tries every trainable utterance (those that failed before too); other passes the aligned ones.
    const prog = o.logger.progress(
      `${o.label} iter ${iter}${realign ? ' (realign)' : ''}`,
      realign ? trainable.size : alignments.size,
      'utts',
    );
    for await (const u of iterate(source)) {
      let ali = alignments.get(u.uttId);
      if (!ali && !(realign && trainable.has(u.uttId))) continue;
      if (realign) {
        const r = alignUtterance(u.uttId, u.frames, u.words, lang, model, o.align, tw, u.wordSpans ?? null);
        if (!r.ok) {
          // No alignment in this iteration (Kaldi: no entry in the new ali.*.gz).
          alignments.delete(u.uttId);
          failed++;
          lastFailure.set(u.uttId, `realignment failed: ${r.reason}`);
          prog.tick();
          continue;
        }
        lastFailure.delete(u.uttId);
        if (r.spans === 'dropped') spansDropped++;
        ali = { uttId: u.uttId, pdf: r.pdf, tid: r.tid };
        alignments.set(u.uttId, ali);
      }
      if (!ali) continue; // (not reached: without realignment only aligned utterances get here)
      ll += accumulateAlignment(model, ali, u.frames, accs, tCounts);
      frames += u.frames.length;
      prog.tick();
    }
    if (frames === 0)
      throw new NumericError(`${o.label}: no frames left to train on in iteration ${iter}`, {
        expected: 'at least one aligned utterance',
        found: 'none',
      });
    model.am.update(accs, o.gmmUpdate);
    model.tm.update(tCounts, o.transitionUpdate);
    model.am.mixUp(
      accs.map((a) => a.totalOcc),
      numGauss,
      rng.fork(`iter${iter}`),
      o.mixUp,
    );
    if (iter <= o.maxIterInc) numGauss += incGauss;
    const rep: IterationReport = {
      iter,
      realigned: realign,
      logLikePerFrame: ll / frames,
      frames,
      numGaussians: model.am.numGaussians,
      failed,
      spansDropped,
    };
    history.push(rep);
    prog.done(
      `loglike/frame ${rep.logLikePerFrame.toFixed(3)}, ${rep.numGaussians} Gaussians${failed ? `, ${failed} failed` : ''}${spansDropped ? `, ${spansDropped} aligned without their word spans` : ''}`,
    );
  }
  for (const [uttId, reason] of lastFailure) skips.skip(uttId, reason);
  return history;
}

const KALDI_MONO_REALIGN = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 23, 26, 29, 32, 35, 38];

/**
 * Flat-start monophone training (train_mono.sh): every pdf starts as the global mean/variance,
 * equal-length alignment (align-equal-compiled), then numIters-1 Viterbi training iterations,
 * realigning on `realignIters`, adding Gaussians up to `totalGaussians` over the first maxIterInc
 * iterations. Defaults are Kaldi's: 40 iterations, realign at 1..10,12,..,38, 1000 Gaussians,
 * maxIterInc 30, power 0.25, beam 6 / retry 24 while training.
 */
export async function trainMonophone(
  source: UtteranceSource,
  lang: LangModel,
  opts: MonophoneTrainOptions = {},
): Promise<TrainResult> {
  const logger = opts.logger ?? createLogger({ prefix: 'mono' });
  const topology = new Topology(lang.phones, opts.topology);
  const tm = new TransitionModel(topology);
  const ctx = new MonophoneContext(topology);
  const skips = new SkipCounter();
  const alignments = new Map<string, FrameAlignment>();
  const align: AlignOptions = { beam: 6, retryBeam: 24, ...opts.align };
  // Pass 0: equal alignment, global statistics, single-Gaussian statistics per pdf.
  let global: GaussStats | null = null;
  let accs: DiagGmmAccs[] | null = null;
  const tCounts = tm.newCounts();
  let dim = -1;
  for await (const u of iterate(source)) {
    if (u.frames.length > 0 && dim < 0) {
      dim = u.frames[0].length;
      global = new GaussStats(dim);
      accs = Array.from({ length: ctx.numPdfs }, () => new DiagGmmAccs(1, dim));
    }
    const a = equalAlign(u.uttId, u.frames.length, u.words, lang, ctx, tm, { ...align, seed: opts.seed ?? 0 });
    if ('ok' in a) {
      skips.skip(u.uttId, (a as AlignFailure).reason);
      continue;
    }
    for (let t = 0; t < u.frames.length; t++) {
      const x = u.frames[t];
      if (x.length !== dim)
        throw new NumericError(`feature dimension changes`, {
          uttId: u.uttId,
          expected: String(dim),
          found: String(x.length),
        });
      global!.add(x);
      accs![a.pdf[t]].accumulateComponent(0, x, 1);
      tCounts[a.tid[t]] += 1;
    }
    alignments.set(u.uttId, a);
  }
  if (!global || global.count === 0)
    throw new NumericError('monophone training: no usable utterances', {
      expected: 'at least one utterance with frames and a covered transcript',
      found: skips.summary(),
    });
  const gm = global.moments(opts.gmmUpdate?.minVariance ?? 0.001);
  const am = new AmDiagGmm(Array.from({ length: ctx.numPdfs }, () => DiagGmm.single(gm.mean, gm.variance)));
  am.update(accs!, { ...opts.gmmUpdate, minGaussianOccupancy: 3 });
  tm.update(tCounts, opts.transitionUpdate);
  const model: GmmHmmModel = { phones: lang.phones, topology, tm, ctx, am };
  logger.info(`mono: equal alignment of ${alignments.size} utterances, ${ctx.numPdfs} pdfs, dim ${dim}`);
  const history = await runSchedule(source, lang, model, alignments, skips, {
    numIters: opts.numIters ?? 40,
    realignIters: opts.realignIters ?? KALDI_MONO_REALIGN,
    maxIterInc: opts.maxIterInc ?? 30,
    totalGaussians: opts.totalGaussians ?? 1000,
    initialGaussians: ctx.numPdfs,
    align,
    gmmUpdate: opts.gmmUpdate ?? {},
    mixUp: { power: 0.25, ...opts.mixUp },
    transitionUpdate: opts.transitionUpdate ?? {},
    seed: opts.seed ?? 0,
    logger,
    label: 'mono',
  });
  skips.done = alignments.size;
  return { model, alignments, skips, history };
}

/** Phone segments of a frame alignment: a new phone starts after every exit transition. */
export function phoneSegments(tm: TransitionModel, tid: Int32Array): { phone: number; start: number; end: number }[] {
  const segs: { phone: number; start: number; end: number }[] = [];
  let start = 0;
  for (let t = 0; t < tid.length; t++) {
    const info = tm.tids[tid[t]];
    if (info.isExit || t === tid.length - 1) {
      segs.push({ phone: info.phone, start, end: t + 1 });
      start = t + 1;
    }
  }
  return segs;
}

/** Accumulate triphone tree statistics (acc-tree-stats) from one frame alignment. */
export function accumulateTreeStats(
  stats: TreeStats,
  tm: TransitionModel,
  ali: FrameAlignment,
  frames: readonly Float32Array[],
): void {
  const segs = phoneSegments(tm, ali.tid);
  segs.forEach((s, i) => {
    const l = i > 0 ? segs[i - 1].phone : 0;
    const r = i + 1 < segs.length ? segs[i + 1].phone : 0;
    const topo = tm.topology.forPhone(s.phone);
    for (let t = s.start; t < s.end; t++) {
      stats.accumulate(l, s.phone, r, topo.states[tm.tids[ali.tid[t]].hmmState].pdfClass, frames[t]);
    }
  });
}

/** Re-label an alignment's pdfs for a new context dependency (convert-ali); transition ids are kept. */
export function convertAlignment(tm: TransitionModel, ali: FrameAlignment, ctx: ContextDependency): FrameAlignment {
  const segs = phoneSegments(tm, ali.tid);
  const pdf = new Int32Array(ali.pdf.length);
  segs.forEach((s, i) => {
    const l = i > 0 ? segs[i - 1].phone : 0;
    const r = i + 1 < segs.length ? segs[i + 1].phone : 0;
    const topo = tm.topology.forPhone(s.phone);
    for (let t = s.start; t < s.end; t++)
      pdf[t] = ctx.pdf(l, s.phone, r, topo.states[tm.tids[ali.tid[t]].hmmState].pdfClass);
  });
  return { uttId: ali.uttId, pdf, tid: Int32Array.from(ali.tid) };
}

export interface TriphoneTrainOptions extends CommonTrainOptions {
  /** Tree size and thresholds; maxLeaves is the senone target (Kaldi numleaves). */
  tree?: TreeBuildOptions;
  /** 'cluster' (from the data, Kaldi cluster-phones) or 'arpabet' (ARPABET_CLASSES). Default 'cluster'. */
  questions?: 'cluster' | 'arpabet' | Question[];
  /** Label of the log lines and skip reasons. Default 'tri'. */
  label?: string;
  /** See ScheduleOptions.beforeIteration. */
  beforeIteration?: ScheduleOptions['beforeIteration'];
}

/**
 * Triphone training (train_deltas.sh): tree statistics from the given (monophone) alignments,
 * questions, tree building, one Gaussian per leaf from the pooled statistics (empty leaves start from
 * the old model's pdf for that phone state), alignments converted to the new pdfs, then numIters-1
 * iterations with realignment at `realignIters` and mixing up to `totalGaussians`.
 * Defaults (Kaldi): 35 iterations, realign at 10, 20, 30, maxIterInc 25, power 0.2, beam 10 / 40.
 * The transition model continues from the given model's probabilities.
 */
export async function trainTriphone(
  source: UtteranceSource,
  lang: LangModel,
  prev: { model: GmmHmmModel; alignments: Map<string, FrameAlignment> },
  opts: TriphoneTrainOptions = {},
): Promise<TrainResult & { tree: ContextTree; treeGains: number[] }> {
  const label = opts.label ?? 'tri';
  const logger = opts.logger ?? createLogger({ prefix: label });
  const old = prev.model;
  const tm = new TransitionModel(old.topology, old.tm.probs);
  // The source's frames may live in another space than the old model's (LDA, fMLLR): their dimension decides.
  let stats: TreeStats | null = null;
  for await (const u of iterate(source)) {
    const ali = prev.alignments.get(u.uttId);
    if (!ali || u.frames.length === 0) continue;
    stats ??= new TreeStats(u.frames[0].length, lang.phones.symbols.length);
    accumulateTreeStats(stats, old.tm, ali, u.frames);
  }
  if (!stats)
    throw new NumericError(`${label}: no aligned utterance to build the tree from`, {
      expected: 'utterances with an alignment from the previous model',
      found: 'none',
    });
  const q = opts.questions ?? 'cluster';
  const questions = Array.isArray(q)
    ? q
    : q === 'arpabet'
      ? arpabetClassQuestions(lang.phones)
      : clusterPhoneQuestions(stats, lang.phones);
  const { tree, leafStats, gains } = buildTree(
    stats,
    lang.phones,
    questions,
    (p) => old.topology.numPdfClasses(p),
    opts.tree,
  );
  logger.info(
    `${label}: tree with ${tree.numPdfs} leaves from ${stats.entries.size} contexts, ${questions.length} questions`,
  );
  const varFloor = opts.gmmUpdate?.minVariance ?? 0.001;
  // An empty leaf starts from the old model's pdf for its phone state, or, where the features
  // changed (LDA, fMLLR), from the pooled statistics of every leaf.
  const sameSpace = old.am.dim === stats.dim;
  let pooled: { mean: Float64Array; variance: Float64Array } | null = null;
  const gmms = leafGaussians(leafStats, varFloor, (leaf) => {
    if (!sameSpace) {
      if (!pooled) {
        const all = new GaussStats(stats!.dim);
        for (const s of leafStats) all.addStats(s);
        pooled = all.moments(varFloor);
      }
      return DiagGmm.single(pooled.mean, pooled.variance);
    }
    const info = tree.leafInfo[leaf];
    return momentMatched(old.am.gmms[old.ctx.pdf(0, info.phone, 0, info.pdfClass)], varFloor);
  });
  const model: GmmHmmModel = { phones: lang.phones, topology: old.topology, tm, ctx: tree, am: new AmDiagGmm(gmms) };
  const alignments = new Map<string, FrameAlignment>();
  for (const [id, a] of prev.alignments) alignments.set(id, convertAlignment(old.tm, a, tree));
  const skips = new SkipCounter();
  const history = await runSchedule(source, lang, model, alignments, skips, {
    numIters: opts.numIters ?? 35,
    realignIters: opts.realignIters ?? [10, 20, 30],
    maxIterInc: opts.maxIterInc ?? 25,
    totalGaussians: opts.totalGaussians ?? 10000,
    initialGaussians: tree.numPdfs,
    align: { beam: 10, retryBeam: 40, ...opts.align },
    gmmUpdate: opts.gmmUpdate ?? {},
    mixUp: { power: 0.2, ...opts.mixUp },
    transitionUpdate: opts.transitionUpdate ?? {},
    seed: opts.seed ?? 0,
    logger,
    label,
    beforeIteration: opts.beforeIteration,
  });
  skips.done = alignments.size;
  return { model, alignments, skips, history, tree, treeGains: gains };
}

/** A single Gaussian with the mean and variance of a mixture. */
export function momentMatched(g: DiagGmm, varFloor: number): DiagGmm {
  const d = g.dim,
    mean = new Float64Array(d),
    m2 = new Float64Array(d);
  for (let c = 0; c < g.numComponents; c++) {
    for (let j = 0; j < d; j++) {
      const mu = g.means[c * d + j];
      mean[j] += g.weights[c] * mu;
      m2[j] += g.weights[c] * (g.vars[c * d + j] + mu * mu);
    }
  }
  const v = Float64Array.from(mean, (mu, j) => Math.max(varFloor, m2[j] - mu * mu));
  return DiagGmm.single(mean, v);
}

/**
 * Align every utterance of a source with a trained model (align_si.sh); failures are counted.
 * Yields successful alignments in source order.
 */
export async function* alignAll(
  source: UtteranceSource,
  lang: LangModel,
  model: AcousticModel,
  skips: SkipCounter,
  opts: AlignOptions = {},
): AsyncGenerator<Alignment> {
  const tw = transitionWeights(model.tm, opts);
  for await (const u of iterate(source)) {
    const r = alignUtterance(u.uttId, u.frames, u.words, lang, model, opts, tw, u.wordSpans ?? null);
    if (!r.ok) {
      skips.skip(u.uttId, `${r.reason}`);
      continue;
    }
    skips.done++;
    yield r;
  }
}
