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
 * Every triphone stage builds its own tree (src/hmm/train.ts trainTriphone, as each Kaldi script
 * does), with the tree options of `triphoneOptions`. `trainChain` runs the chain up to
 * `lastModel` and summarises every stage.
 */
import {
  trainMonophone,
  trainTriphone,
  type GmmHmmModel,
  type IterationReport,
  type TrainResult,
  type UtteranceSource,
} from '../hmm/train.ts';
import { trainLdaMllt, trainSat, type TransformReport } from '../hmm/train-adapted.ts';
import { FeatureTransform } from '../hmm/feature-transform.ts';
import type { LangModel } from '../hmm/graph.ts';
import { SkipCounter } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import { featureSource, type GmmFeatureOptions, type SplitData } from './source.ts';
import { SpanCounter, type SpanSummary } from './spans.ts';

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

/** Train the chain mono -> ... -> `o.lastModel` on `data`; logs the data trained on and the skips. */
export async function trainChain(
  data: TrainingData,
  lang: LangModel,
  o: ChainOptions,
  logger: Logger,
): Promise<TrainedChain> {
  const { featOpts, inherit, spanCollarSec } = data;
  const trainSkips = new SkipCounter();
  const trainSpans = new SpanCounter();
  const source = featureSource(data.splits, {
    ...featOpts,
    skips: trainSkips,
    skipVtlpCopies: inherit,
    spanCollarSec,
    spanCounts: trainSpans,
  });
  const withCopies = data.splits.some((d) => d.featureMeta.vtlpWarps.length > 0);
  logger.info(
    `align: training on ${data.corpora.map((c) => `${c.corpus} [${c.splits.join(', ')}]`).join(' + ')}${withCopies ? (inherit ? " (real recordings only; VTLP copies take their source's alignment)" : ' (VTLP copies too)') : ''}`,
  );
  const record = new ChainRecord();
  let t = Date.now();
  const mono = await trainMono(source, lang, o, logger);
  record.skipParts.push(['', trainSkips.reasons()]);
  record.add('mono', mono, t);
  let last: TrainResult = mono;
  let transform: FeatureTransform | null = null;
  let alignmentModel: GmmHmmModel | null = null;
  const upTo = ALIGN_MODELS.indexOf(o.lastModel);
  if (upTo >= 1) {
    t = Date.now();
    last = record.add('tri1', await trainTri1(source, lang, mono, o, logger), t);
  }
  if (upTo >= 2) {
    transform = new FeatureTransform(o.spliceContext, data.mfccDim);
    const xSource = featureSource(data.splits, { ...featOpts, skipVtlpCopies: inherit, spanCollarSec, transform });
    t = Date.now();
    const tri2 = await trainTri2b(xSource, transform, lang, last as TrainResult & { model: GmmHmmModel }, o, logger);
    last = record.add('tri2b', tri2, t, tri2.transforms);
    if (upTo >= 3) {
      t = Date.now();
      const tri3 = await trainTri3b(xSource, transform, lang, tri2, o, logger);
      last = record.add('tri3b', tri3, t, tri3.transforms);
      alignmentModel = tri3.alignmentModel;
    }
  }
  const trainSkipped = mergeSkipSummaries(last.alignments.size, record.skipParts);
  const summary: TrainingSummary = {
    corpora: data.corpora,
    utterances: last.alignments.size,
    skipped: trainSkipped,
    models: record.models,
    ...(spanCollarSec !== null
      ? {
          referenceTimings: {
            noReference: trainSpans.noReference,
            mismatched: trainSpans.summary().mismatched,
            droppedLastRealign: last.history.filter((h) => h.realigned).at(-1)?.spansDropped ?? 0,
          },
        }
      : {}),
  };
  if (trainSkipped.skipped > 0)
    logger.warn(
      `training: ${trainSkipped.skipped} utterances skipped: ${trainSkipped.reasons.map((r) => `${r.count} x ${r.reason}`).join(', ')}`,
    );
  return { model: last.model, transform, alignmentModel, modelSeconds: record.seconds, summary };
}

/** train_mono.sh: flat start (equal alignment), Kaldi's realignment schedule, mixing up to monoGaussians. */
function trainMono(source: UtteranceSource, lang: LangModel, o: ChainOptions, logger: Logger): Promise<TrainResult> {
  return trainMonophone(source, lang, {
    numIters: o.monoIters,
    totalGaussians: o.monoGaussians,
    maxIterInc: Math.max(1, Math.min(30, o.monoIters - 10)),
    realignIters: monoRealign(o.monoIters),
    align: { optionalSilenceProb: o.optionalSilenceProb },
    seed: o.seed,
    logger,
  });
}

/**
 * Options of a triphone stage: its tree (numLeaves senones, minLeafOccupancy frames each side of
 * a split, 'cluster' or 'arpabet' questions) and its schedule (realign at 10, 20, 30; mixing up
 * to triGaussians), as train_deltas.sh.
 */
function triphoneOptions(o: ChainOptions, iters: number, logger: Logger) {
  return {
    numIters: iters,
    totalGaussians: o.triGaussians,
    maxIterInc: Math.max(1, Math.min(25, iters - 10)),
    realignIters: [10, 20, 30].filter((i) => i < iters),
    align: { optionalSilenceProb: o.optionalSilenceProb },
    seed: o.seed,
    logger,
    tree: { maxLeaves: o.numLeaves, minLeafOccupancy: o.minLeafOccupancy },
    questions: o.questions,
  };
}

/** train_deltas.sh: the triphone tree from mono's alignments, then triphone GMMs on MFCC + deltas. */
function trainTri1(
  source: UtteranceSource,
  lang: LangModel,
  mono: TrainResult,
  o: ChainOptions,
  logger: Logger,
): Promise<TrainResult> {
  return trainTriphone(source, lang, mono, { ...triphoneOptions(o, o.triIters, logger), label: 'tri1' });
}

/** train_lda_mllt.sh: LDA to ldaDim on spliced MFCCs, MLLT updates, a new tree and GMMs in that space. */
function trainTri2b(
  source: UtteranceSource,
  transform: FeatureTransform,
  lang: LangModel,
  prev: TrainResult & { model: GmmHmmModel },
  o: ChainOptions,
  logger: Logger,
): ReturnType<typeof trainLdaMllt> {
  return trainLdaMllt(source, transform, lang, prev, {
    ...triphoneOptions(o, o.adaptedIters, logger),
    label: 'tri2b',
    ldaDim: o.ldaDim,
  });
}

/** train_sat.sh: speaker-adaptive training with per-speaker fMLLR on top of the LDA+MLLT features. */
function trainTri3b(
  source: UtteranceSource,
  transform: FeatureTransform,
  lang: LangModel,
  prev: Awaited<ReturnType<typeof trainLdaMllt>>,
  o: ChainOptions,
  logger: Logger,
): ReturnType<typeof trainSat> {
  return trainSat(source, transform, lang, prev, { ...triphoneOptions(o, o.adaptedIters, logger), label: 'tri3b' });
}

/** Per stage of the chain: its summary, its training seconds, and its skip reasons. */
class ChainRecord {
  readonly models: ModelSummary[] = [];
  readonly seconds: Record<string, number> = {};
  /** Skip reasons, each prefixed with its stage ('mono: '); the feature source's first, unprefixed. */
  readonly skipParts: [string, Reasons][] = [];

  /** Record a stage trained since `startMs`; returns its result. */
  add<R extends TrainResult>(name: AlignModelName, r: R, startMs: number, transforms?: TransformReport): R {
    this.models.push({
      name,
      pdfs: r.model.am.numPdfs,
      gaussians: r.model.am.numGaussians,
      logLikePerFrame: lastLogLike(r.history),
      failed: r.skips.skipped,
      ...(transforms ? { transforms } : {}),
    });
    this.seconds[name] = Number(((Date.now() - startMs) / 1000).toFixed(1));
    this.skipParts.push([`${name}: `, r.skips.reasons()]);
    return r;
  }
}

function lastLogLike(h: IterationReport[]): number {
  return h.length ? Number(h[h.length - 1].logLikePerFrame.toFixed(6)) : NaN;
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
