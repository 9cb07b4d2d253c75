/**
 * GMM-HMM training, as Kaldi's steps/train_mono.sh (flat start) and steps/train_deltas.sh
 * (triphones), written over an abstract source of utterances so it runs on synthetic data in tests
 * and on Arrow features in the align stage. The passes themselves are ./trainer.ts's; this module
 * runs them in one process (`trainInProcess`: every block of every pass, in order) and offers the
 * single-stage entry points. The source is iterated once per pass (features are never all held in
 * memory); alignments (pdf + transition id per frame, 8 bytes/frame) are kept between passes.
 */
import { createLogger, type Logger } from '../util/log.ts';
import { FormatError, SkipCounter } from '../util/errors.ts';
import type { GmmUpdateOptions, MixUpOptions } from './gmm.ts';
import type { TopologyOptions } from './topology.ts';
import type { TransitionUpdateOptions } from './transitions.ts';
import type { FrameAlignment, LangModel } from './graph.ts';
import { alignUtterance, transitionWeights, type AcousticModel, type AlignOptions, type Alignment } from './align.ts';
import type { ContextTree, Question, TreeBuildOptions } from './tree.ts';
import type { PassStats } from './pass-stats.ts';
import {
  addStats,
  emptyBlockState,
  GmmTrainer,
  type BlockState,
  type GmmHmmModel,
  type IterationReport,
  type PassInfo,
  type Schedule,
  type StageSpec,
  type TrainingUtterance,
  type UtteranceSource,
} from './trainer.ts';

export type { GmmHmmModel, IterationReport, TrainingUtterance, UtteranceSource } from './trainer.ts';
export { accumulateAlignment, accumulateTreeStats, convertAlignment, momentMatched, phoneSegments } from './passes.ts';

export interface TrainResult {
  model: GmmHmmModel;
  /** Latest alignment of every utterance that has one. */
  alignments: Map<string, FrameAlignment>;
  /** Utterances skipped (OOV, empty, too short, beam), by reason. */
  skips: SkipCounter;
  history: IterationReport[];
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
  /** Label of the log lines and skip reasons. Default 'mono'. */
  label?: string;
}

export interface TriphoneTrainOptions extends CommonTrainOptions {
  /** Tree size and thresholds; maxLeaves is the senone target (Kaldi numleaves). */
  tree?: TreeBuildOptions;
  /** 'cluster' (from the data, Kaldi cluster-phones) or 'arpabet' (ARPABET_CLASSES). Default 'cluster'. */
  questions?: 'cluster' | 'arpabet' | Question[];
  /** Label of the log lines and skip reasons. Default 'tri'. */
  label?: string;
}

/** One pass over a source, sync or async alike. */
export async function* iterate(src: UtteranceSource): AsyncGenerator<TrainingUtterance> {
  for await (const u of src()) yield u;
}

const KALDI_MONO_REALIGN = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 23, 26, 29, 32, 35, 38];

/**
 * Flat-start monophone training (train_mono.sh): every pdf starts as the global mean/variance,
 * equal-length alignment (align-equal-compiled), then numIters-1 Viterbi training iterations,
 * realigning on `realignIters`, adding Gaussians up to `totalGaussians` over the first maxIterInc
 * iterations. Defaults are Kaldi's: 40 iterations, realign at 1..10,12,..,38, 1000 Gaussians,
 * maxIterInc 30, power 0.25, beam 6 / retry 24 while training.
 */
export function monophoneSpec(opts: MonophoneTrainOptions = {}): StageSpec {
  return {
    label: opts.label ?? 'mono',
    kind: 'mono',
    topology: opts.topology,
    schedule: schedule(opts, {
      numIters: 40,
      realignIters: KALDI_MONO_REALIGN,
      maxIterInc: 30,
      totalGaussians: 1000,
      beams: { beam: 6, retryBeam: 24 },
      power: 0.25,
    }),
  };
}

/**
 * Triphone training (train_deltas.sh): tree statistics from the previous model's alignments,
 * questions, tree building, one Gaussian per leaf from the pooled statistics (empty leaves start
 * from the old model's pdf for that phone state), alignments converted to the new pdfs, then
 * numIters-1 iterations with realignment at `realignIters` and mixing up to `totalGaussians`.
 * Defaults (Kaldi): 35 iterations, realign at 10, 20, 30, maxIterInc 25, power 0.2, beam 10 / 40.
 * The transition model continues from the previous model's probabilities.
 */
export function triphoneSpec(opts: TriphoneTrainOptions = {}): StageSpec {
  return {
    label: opts.label ?? 'tri',
    kind: 'tri',
    tree: opts.tree,
    questions: opts.questions ?? 'cluster',
    schedule: schedule(opts, {
      numIters: 35,
      realignIters: [10, 20, 30],
      maxIterInc: 25,
      totalGaussians: 10000,
      beams: { beam: 10, retryBeam: 40 },
      power: 0.2,
    }),
  };
}

/** A stage's schedule: the options over the script's defaults. */
function schedule(
  opts: CommonTrainOptions,
  d: Pick<Schedule, 'numIters' | 'realignIters' | 'maxIterInc' | 'totalGaussians'> & {
    beams: AlignOptions;
    power: number;
  },
): Schedule {
  return {
    numIters: opts.numIters ?? d.numIters,
    realignIters: opts.realignIters ?? d.realignIters,
    maxIterInc: opts.maxIterInc ?? d.maxIterInc,
    totalGaussians: opts.totalGaussians ?? d.totalGaussians,
    align: { ...d.beams, ...opts.align },
    gmmUpdate: opts.gmmUpdate ?? {},
    mixUp: { power: d.power, ...opts.mixUp },
    transitionUpdate: opts.transitionUpdate ?? {},
    seed: opts.seed ?? 0,
  };
}

export async function trainMonophone(
  source: UtteranceSource,
  lang: LangModel,
  opts: MonophoneTrainOptions = {},
): Promise<TrainResult> {
  const trainer = new GmmTrainer(lang, [monophoneSpec(opts)]);
  const states = new Map([[0, emptyBlockState()]]);
  await trainInProcess(trainer, source, [0], states, opts.logger ?? createLogger({ prefix: 'mono' }));
  return trainResult(trainer, states);
}

export async function trainTriphone(
  source: UtteranceSource,
  lang: LangModel,
  prev: { model: GmmHmmModel; alignments: Map<string, FrameAlignment> },
  opts: TriphoneTrainOptions = {},
): Promise<TrainResult & { tree: ContextTree; treeGains: number[] }> {
  const label = opts.label ?? 'tri';
  const trainer = new GmmTrainer(lang, [triphoneSpec(opts)], {
    model: prev.model,
    label: '(given)',
    aligned: prev.alignments.size,
  });
  const states = new Map([[0, { ...emptyBlockState(), alignments: new Map(prev.alignments), pdfsOf: '(given)' }]]);
  await trainInProcess(trainer, source, [0], states, opts.logger ?? createLogger({ prefix: label }));
  const r = trainResult(trainer, states);
  return { ...r, tree: r.model.ctx as ContextTree, treeGains: trainer.state.done.at(-1)!.treeGains ?? [] };
}

function trainResult(trainer: GmmTrainer, states: Map<number, BlockState>): TrainResult {
  const last = trainer.state.done.at(-1)!;
  const alignments = new Map<string, FrameAlignment>();
  for (const st of states.values()) for (const [id, a] of st.alignments) alignments.set(id, a);
  return { model: trainer.state.model!, alignments, skips: trainer.stageSkips(last), history: last.history };
}

/** The label of an iteration's progress line ('mono iter 3 (realign)'). */
export function iterationLabel(p: PassInfo): string {
  return `${p.label} iter ${p.iter}${p.realign ? ' (realign)' : ''}`;
}

/**
 * One pass over `source` for the blocks `blocks` (ascending; each utterance's `block`, 0 where
 * absent, must be one of them, in order): every block accumulated into its own statistics, which
 * go to `onBlock` in block order, blocks without an utterance this pass included. The statistics
 * given to `onBlock` are zeroed for the next block once it returns.
 */
export async function accumulateBlocks(
  trainer: GmmTrainer,
  p: PassInfo,
  source: UtteranceSource,
  blocks: readonly number[],
  stateOf: (block: number) => BlockState,
  onBlock: (block: number, stats: PassStats) => void | Promise<void>,
  tick?: () => void,
): Promise<void> {
  let i = 0;
  let stats: PassStats | null = null;
  let spare: PassStats | null = null;
  const fresh = () => (spare ? trainer.reuseStats(p, spare) : trainer.newStats(p));
  const finishUpTo = async (block: number) => {
    for (; i < blocks.length && blocks[i] < block; i++) {
      stats ??= fresh();
      trainer.finishBlock(p, stats, stateOf(blocks[i]));
      await onBlock(blocks[i], stats);
      spare = stats;
      stats = null;
    }
  };
  for await (const u of iterate(source)) {
    const b = u.block ?? 0;
    if (b !== blocks[i]) await finishUpTo(b);
    if (blocks[i] !== b)
      throw new FormatError('training utterance outside the blocks of this pass, or out of block order', {
        uttId: u.uttId,
        expected: `blocks ${blocks.slice(i, i + 3).join(', ')}${blocks.length > i + 3 ? ', ...' : ''} in order`,
        found: `block ${b}`,
      });
    stats ??= fresh();
    if (trainer.accumulate(p, stats, u, stateOf(b))) tick?.();
  }
  await finishUpTo(Infinity);
}

/** Run every remaining pass of `trainer` here: each block's statistics summed in block order, then the M-step. */
export async function trainInProcess(
  trainer: GmmTrainer,
  source: UtteranceSource,
  blocks: readonly number[],
  states: Map<number, BlockState>,
  logger: Logger,
): Promise<void> {
  const stateOf = (b: number) => {
    let st = states.get(b);
    if (!st) states.set(b, (st = emptyBlockState()));
    return st;
  };
  while (!trainer.finished) {
    const p = trainer.passes[trainer.state.next];
    trainer.beginPass(p);
    for (const b of blocks) trainer.beginBlock(p, stateOf(b));
    const total = trainer.newStats(p);
    let prog = null;
    if (p.kind === 'iter') {
      let n = 0;
      for (const b of blocks) n += p.realign ? stateOf(b).trainable.size : stateOf(b).alignments.size;
      prog = logger.progress(iterationLabel(p), n, 'utts');
    }
    await accumulateBlocks(
      trainer,
      p,
      source,
      blocks,
      stateOf,
      (_b, s) => addStats(total, s),
      prog ? () => prog.tick() : undefined,
    );
    const message = trainer.estimate(p, total);
    if (prog) prog.done(message);
    else logger.info(message);
  }
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
