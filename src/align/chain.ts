/**
 * The GMM-HMM training chain of the align stage, one step per Kaldi script, each stage trained on
 * the previous one's alignments:
 *
 *   trainMono    train_mono.sh        flat start, monophone GMM-HMM
 *   trainTri1    train_deltas.sh      triphone tree (questions, clustering to numLeaves senones)
 *                                     from mono's alignments, then triphone GMMs on MFCC + deltas
 *   trainTri2b   train_lda_mllt.sh    a new tree and GMMs on LDA+MLLT-transformed spliced MFCCs
 *   trainTri3b   train_sat.sh         speaker-adaptive training with per-speaker fMLLR
 *
 * Every triphone stage builds its own tree (as each Kaldi script does), with the tree options of
 * `triphoneOptions`. The chain is one GmmTrainer (src/hmm/trainer.ts) over the fixed blocks of the
 * training utterances (./blocks.ts): `trainChain` runs all its passes here; the align stage's
 * sharded jobs run the same passes as shards and merges (./chain-jobs.ts). `chainSummary`
 * summarises every stage either way.
 */
import { monophoneSpec, trainInProcess, triphoneSpec, type GmmHmmModel } from '../hmm/train.ts';
import { ldaMlltSpec, satSpec } from '../hmm/train-adapted.ts';
import type { FeatureTransform } from '../hmm/feature-transform.ts';
import type { LangModel } from '../hmm/graph.ts';
import { GmmTrainer, type StageSpec, type TransformReport } from '../hmm/trainer.ts';
import type { SkipList } from '../hmm/pass-stats.ts';
import { SkipCounter } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import { blockedFeatureSource, type GmmFeatureOptions, type SplitData } from './source.ts';
import type { SpanSummary } from './spans.ts';
import { trainingBlocks, type TrainingBlocks } from './blocks.ts';

/** The GMM-HMM stages, in training order. */
export const ALIGN_MODELS = ['mono', 'tri1', 'tri2b', 'tri3b'] as const;
export type AlignModelName = (typeof ALIGN_MODELS)[number];

export interface ModelSummary {
  name: AlignModelName;
  /** pdfs (monophone) or tree leaves (senones). */
  pdfs: number;
  gaussians: number;
  /** Average log-likelihood per frame in the last iteration (in that model's feature space). */
  logLikePerFrame: number;
  /** Training utterances without an alignment after its last realignment. */
  failed: number;
  /** tri2b / tri3b: feature transforms (LDA eigenvalues; auxiliary-function gain of each MLLT / fMLLR update). */
  transforms?: TransformReport;
}

type Reasons = { reason: string; count: number; examples: string[] }[];

/** What the chain trained on, and how every stage went (summary.json `training`). */
export interface TrainingSummary {
  corpora: { corpus: string; splits: string[] }[];
  utterances: number;
  skipped: { done: number; skipped: number; reasons: Reasons };
  /** Every GMM-HMM of the chain, in training order; the last one labels the splits. */
  models: ModelSummary[];
  /** With referenceTimings 'constrain': training utterances without usable timings, and those the last realignment aligned without them. */
  referenceTimings?: { noReference: number; mismatched: SpanSummary['mismatched']; droppedLastRealign: number };
}

/** The chain's sizes and schedules (AlignCorpusOptions, defaults applied). */
export interface ChainOptions {
  lastModel: AlignModelName;
  monoIters: number;
  monoGaussians: number;
  triIters: number;
  triGaussians: number;
  numLeaves: number;
  minLeafOccupancy: number;
  questions: 'cluster' | 'arpabet';
  adaptedIters: number;
  spliceContext: number;
  ldaDim: number;
  optionalSilenceProb: number;
  seed: number;
}

/** The training splits and how their GMM features are read. */
export interface TrainingData {
  splits: SplitData[];
  corpora: { corpus: string; splits: string[] }[];
  featOpts: Required<GmmFeatureOptions>;
  /** VTLP copies take their source's alignment: train on the real recordings only. */
  inherit: boolean;
  /** Collar of the reference word spans that constrain every alignment (null: unconstrained). */
  spanCollarSec: number | null;
  /** MFCC dimension of the features (the LDA input is spliced from it). */
  mfccDim: number;
}

export interface TrainedChain {
  /** The last model of the chain. */
  model: GmmHmmModel;
  /** tri2b / tri3b: the feature transform. */
  transform: FeatureTransform | null;
  /** tri3b: the speaker-independent model of align_fmllr.sh's first pass. */
  alignmentModel: GmmHmmModel | null;
  /** Training seconds of each model of the chain. */
  modelSeconds: Record<string, number>;
  summary: TrainingSummary;
}

/** The chain's stages up to `o.lastModel`, as trainer specs. */
export function chainSpecs(o: ChainOptions, mfccDim: number): StageSpec[] {
  const upTo = ALIGN_MODELS.indexOf(o.lastModel);
  const specs: StageSpec[] = [
    // train_mono.sh: flat start (equal alignment), Kaldi's realignment schedule, mixing up to monoGaussians.
    monophoneSpec({
      numIters: o.monoIters,
      totalGaussians: o.monoGaussians,
      maxIterInc: Math.max(1, Math.min(30, o.monoIters - 10)),
      realignIters: monoRealign(o.monoIters),
      align: { optionalSilenceProb: o.optionalSilenceProb },
      seed: o.seed,
    }),
  ];
  // train_deltas.sh: the triphone tree from mono's alignments, then triphone GMMs on MFCC + deltas.
  if (upTo >= 1) specs.push(triphoneSpec({ ...triphoneOptions(o, o.triIters), label: 'tri1' }));
  // train_lda_mllt.sh: LDA to ldaDim on spliced MFCCs, MLLT updates, a new tree and GMMs in that space.
  if (upTo >= 2)
    specs.push(
      ldaMlltSpec({
        ...triphoneOptions(o, o.adaptedIters),
        label: 'tri2b',
        ldaDim: o.ldaDim,
        spliceContext: o.spliceContext,
        inDim: mfccDim,
      }),
    );
  // train_sat.sh: speaker-adaptive training with per-speaker fMLLR on top of the LDA+MLLT features.
  if (upTo >= 3) specs.push(satSpec({ ...triphoneOptions(o, o.adaptedIters), label: 'tri3b' }));
  return specs;
}

/** The chain's trainer, its blocks and its source (the transform the trainer holds at each pass). */
export async function chainTrainer(
  data: TrainingData,
  lang: LangModel,
  o: ChainOptions,
  range?: [number, number],
): Promise<{ trainer: GmmTrainer; blocks: TrainingBlocks; source: ReturnType<typeof blockedFeatureSource> }> {
  const trainer = new GmmTrainer(lang, chainSpecs(o, data.mfccDim));
  const blocks = await trainingBlocks(data.splits, data.inherit);
  const source = blockedFeatureSource(blocks, {
    ...data.featOpts,
    spanCollarSec: data.spanCollarSec,
    transformOf: () => trainer.transform,
    ...(range ? { range } : {}),
  });
  return { trainer, blocks, source };
}

/** Train the chain mono -> ... -> `o.lastModel` on `data` in this process; logs the data trained on and the skips. */
export async function trainChain(
  data: TrainingData,
  lang: LangModel,
  o: ChainOptions,
  logger: Logger,
): Promise<TrainedChain> {
  const { trainer, blocks, source } = await chainTrainer(data, lang, o);
  logTrainingData(data, logger);
  await trainInProcess(trainer, source, blocks.nonEmpty, new Map(), logger);
  return trainedChain(trainer, data, logger);
}

export function logTrainingData(data: TrainingData, logger: Logger): void {
  const withCopies = data.splits.some((d) => d.featureMeta.vtlpWarps.length > 0);
  logger.info(
    `align: training on ${data.corpora.map((c) => `${c.corpus} [${c.splits.join(', ')}]`).join(' + ')}${withCopies ? (data.inherit ? " (real recordings only; VTLP copies take their source's alignment)" : ' (VTLP copies too)') : ''}`,
  );
}

/** The trained chain of a finished trainer: its last model (+ transform, alignment model) and the summary of every stage. */
export function trainedChain(trainer: GmmTrainer, data: TrainingData, logger: Logger): TrainedChain {
  const s = trainer.state;
  const done = s.done;
  const last = done.at(-1)!;
  const reasonsOf = (list: SkipList) => {
    const c = new SkipCounter();
    for (const [id, reason] of list) c.skip(id, reason);
    return c.reasons();
  };
  const skipParts: [string, Reasons][] = [['', reasonsOf(s.source.skips)]];
  for (const d of done) skipParts.push([`${d.label}: `, reasonsOf(d.skips)]);
  const trainSkipped = mergeSkipSummaries(last.aligned, skipParts);
  const models: ModelSummary[] = done.map((d) => ({
    name: d.label as AlignModelName,
    pdfs: d.pdfs,
    gaussians: d.gaussians,
    logLikePerFrame: d.logLikePerFrame,
    failed: d.skips.length,
    ...(d.transforms ? { transforms: d.transforms } : {}),
  }));
  const summary: TrainingSummary = {
    corpora: data.corpora,
    utterances: last.aligned,
    skipped: trainSkipped,
    models,
    ...(data.spanCollarSec !== null
      ? {
          referenceTimings: {
            noReference: s.source.noReference,
            mismatched: Object.fromEntries(
              Object.entries(s.source.mismatched).sort((a, b) => (a[0] < b[0] ? -1 : 1)),
            ) as SpanSummary['mismatched'],
            droppedLastRealign: last.history.filter((h) => h.realigned).at(-1)?.spansDropped ?? 0,
          },
        }
      : {}),
  };
  if (trainSkipped.skipped > 0)
    logger.warn(
      `training: ${trainSkipped.skipped} utterances skipped: ${trainSkipped.reasons.map((r) => `${r.count} x ${r.reason}`).join(', ')}`,
    );
  return {
    model: s.model!,
    transform: s.transform,
    alignmentModel: s.alignmentModel,
    modelSeconds: Object.fromEntries(done.map((d) => [d.label, d.seconds])),
    summary,
  };
}

/**
 * Options of a triphone stage: its tree (numLeaves senones, minLeafOccupancy frames each side of
 * a split, 'cluster' or 'arpabet' questions) and its schedule (realign at 10, 20, 30; mixing up
 * to triGaussians), as train_deltas.sh.
 */
function triphoneOptions(o: ChainOptions, iters: number) {
  return {
    numIters: iters,
    totalGaussians: o.triGaussians,
    maxIterInc: Math.max(1, Math.min(25, iters - 10)),
    realignIters: [10, 20, 30].filter((i) => i < iters),
    align: { optionalSilenceProb: o.optionalSilenceProb },
    seed: o.seed,
    tree: { maxLeaves: o.numLeaves, minLeafOccupancy: o.minLeafOccupancy },
    questions: o.questions,
  };
}

/** Kaldi's monophone realignment schedule (1..10, 12, ..., 38) cut to the iteration count. */
function monoRealign(numIters: number): number[] {
  const k = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 23, 26, 29, 32, 35, 38];
  return k.filter((i) => i < numIters);
}

/** One skip summary from several counters' reasons, each reason prefixed (e.g. 'mono: '). */
function mergeSkipSummaries(
  done: number,
  parts: [string, Reasons][],
): { done: number; skipped: number; reasons: Reasons } {
  const reasons: Reasons = [];
  for (const [prefix, rs] of parts)
    for (const r of rs) reasons.push({ reason: prefix + r.reason, count: r.count, examples: r.examples });
  reasons.sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  return { done, skipped: reasons.reduce((a, r) => a + r.count, 0), reasons };
}
