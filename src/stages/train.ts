/**
 * The `train` stage: features + alignments -> `<expDir>/train/`: the baseline (one net on hard
 * labels) and the K ensemble members (the same architecture, differing in seed: initialisation and
 * data order), trained in parallel worker threads; optionally the paper's Table 5 baseline on a
 * small fraction of the training data. Its run function is `trainAcousticModels` (the CLI's
 * `train` calls it too). Training speed and memory go to stage.json (details.timing), so the
 * outputs are byte-identical for the same config and seed.
 *
 * Seeds: baseline = seed, member-k (k = 1..K) = memberSeed(seed, k) (a hash, so seed replicates
 * share no net), small-fraction baseline = seed. (The distill stage initialises the student with
 * the baseline's seed, so student and baseline differ only in their targets.)
 *
 * Output directory:
 *   models.json                 what was trained (src/formats/models.ts): inventory, config, data, one entry per model
 *   baseline/final/             model.json weights.bin sidecar.json  (src/nnet model directory)
 *   member-<k>/final/           k = 1 .. K
 *   fraction-baseline/final/    (with smallFraction)
 * Checkpoints are removed once every model is final unless `keepCheckpoints` (a rerun with a
 * higher maxEpochs then continues them).
 *
 * Recipe:
 *   stages:
 *     train:
 *       hiddenLayers: 3        # L
 *       hiddenUnits: 256       # H (the paper: 2000+; the demo needs small nets on 2 CPU cores)
 *       leftContext: 5         # splice window (the paper: 21 left, 4 right)
 *       rightContext: 5
 *       members: 4             # K (the paper: 10)
 *       maxEpochs: 8
 *       smallFraction: 0.1     # Table 5: baseline (and student) on 10 % of the training data
 *       vtlpCopies: false      # baseline and members on the original recordings (VTLP copies: student only)
 *       maxWorkers: 2          # parallel training threads (0 = CPU cores); does not change the results
 */
import { promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';
import { modelDirHash } from '../distill/generate.ts';
import { readFeatureMetadata } from '../features/store.ts';
import { MODELS_FORMAT, MODELS_JSON, type ModelEntry, type ModelRole, type ModelsFile } from '../formats/models.ts';
import { type BackendName } from '../nnet/backend.ts';
import { memberSeed } from '../nnet/pool.ts';
import {
  checkSameAlignment,
  countSource,
  dataSpecOf,
  findSplitFiles,
  inventoryOf,
  openDataSource,
  type InventoryInfo,
  type SubsetSpec,
} from '../nnet/split-data.ts';
import { resolveTrainConfig, type TrainConfig, type TrainResult } from '../nnet/train.ts';
import { ConfigError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import { backendOption, locateConfigError, mergeSkips } from './common.ts';
import { runNetJobs, workerCount, type TrainJobArgs } from './net-jobs.ts';
import { type Schema, type SchemaFor } from './schema.ts';
import { firstBusyShardSkips, mergeListingShards, shardSlice, type ShardCoverage, type ShardSpec } from './shards.ts';
import {
  adoptResumeDir,
  type SkipSummary,
  type StageContext,
  type StageDefinition,
  type StageResult,
} from './stage.ts';

export interface TrainModelsOptions {
  /** Hidden ReLU layers L. Default 3. */
  hiddenLayers: number;
  /** Units per hidden layer H. Default 1024. */
  hiddenUnits: number;
  /** Frames of left / right context (the paper: 21 / 4). Default 5 / 5. */
  leftContext: number;
  rightContext: number;
  /** Ensemble members K (the paper: 10). Default 10. */
  members: number;
  /** 'adam' or 'sgd' (with momentum). Default 'adam'. */
  optimizer: 'adam' | 'sgd';
  /** Initial learning rate. Default 0.001 (adam) / 0.05 (sgd). */
  learningRate?: number;
  /** L2 penalty per weight. Default 0. */
  l2: number;
  /** Frames per minibatch. Default 256. */
  batchSize: number;
  /** Upper limit of epochs. Default 20. */
  maxEpochs: number;
  /** No newbob stop before this many epochs. Default 2. */
  minEpochs: number;
  /**
   * 'newbob' (halving on dev frame accuracy), 'constant', or 'exponential': the rate times
   * `halvingFactor` after every epoch, all maxEpochs epochs, the best dev epoch kept (no decision
   * depends on dev noise, so models that differ only in their targets get the same schedule).
   * Default 'newbob'.
   */
  schedule: 'newbob' | 'constant' | 'exponential';
  /** Learning-rate factor per halving epoch (newbob) or per epoch (exponential). Default 0.5. */
  halvingFactor: number;
  /** Stop after this many epochs without a new best dev accuracy. Default 3. */
  earlyStopPatience: number;
  /** Newbob: start halving once an epoch improves the best dev accuracy by less than this (absolute, 0.005 = 0.5 %). Default 0.005. */
  newbobStartImprovement: number;
  /** Newbob: stop, while halving, once the improvement is below this. Default 0.0005. */
  newbobStopImprovement: number;
  /** Shuffle buffer in (unspliced) frames: bounds the training memory. Default 100000. */
  shuffleBufferFrames: number;
  /** Split to train on. Default 'train'. */
  trainSplit: string;
  /** Split for newbob and early stopping; null: the running training accuracy. Default 'dev'. */
  devSplit: string | null;
  /**
   * The paper's Table 5: also train a baseline on this fraction of the training utterances
   * (e.g. 0.03); the distill stage then trains a student on the same fraction with the soft
   * targets of the ensemble trained on all of it. null: off. Default null.
   */
  smallFraction: number | null;
  /**
   * Train on the features stage's VTLP copies of the training split too. false: the baseline and
   * the members see the original recordings only, and the copies are left to the distill stage
   * (the student's transfer set, labelled by the ensemble). Default true.
   */
  vtlpCopies: boolean;
  /** Concurrent training workers; 0 = the number of CPU cores. Default 0. */
  maxWorkers: number;
  /** Keep the per-epoch checkpoints. Default false. */
  keepCheckpoints: boolean;
  /** Compute engine. Default 'auto' (the ladder: tfjs-node-gpu > native > tfjs-node > wasm > cpu). */
  backend: BackendName | 'auto';
  /** Weight averaging from the start of this epoch on; final/ is the mean (src/nnet/average.ts). Absent: off. */
  averageFromEpoch?: number;
}

export const DEFAULT_TRAIN_MODELS_OPTIONS: Readonly<TrainModelsOptions> = Object.freeze({
  hiddenLayers: 3,
  hiddenUnits: 1024,
  leftContext: 5,
  rightContext: 5,
  members: 10,
  optimizer: 'adam',
  l2: 0,
  batchSize: 256,
  maxEpochs: 20,
  minEpochs: 2,
  schedule: 'newbob',
  halvingFactor: 0.5,
  earlyStopPatience: 3,
  newbobStartImprovement: 0.005,
  newbobStopImprovement: 0.0005,
  shuffleBufferFrames: 100_000,
  trainSplit: 'train',
  devSplit: 'dev',
  smallFraction: null,
  vtlpCopies: true,
  maxWorkers: 0,
  keepCheckpoints: false,
  backend: 'auto',
});

export interface TrainAcousticModelsOptions extends Partial<TrainModelsOptions> {
  /** Output directory of the features stage. */
  featuresDir: string;
  /** Output directory of the align stage. */
  alignDir: string;
  outDir: string;
  /** Recipe seed. Default 0. */
  seed?: number;
  /** Resume from checkpoints in outDir (the CLI). Default true. */
  resume?: boolean;
  /** Train only this shard's block of the models (baseline, members, fraction baseline), listed alone in models.json. */
  shard?: ShardSpec;
  logger?: Logger;
}

export interface TrainAcousticModelsResult {
  file: ModelsFile;
  /** With `shard`: the models it trained (src/stages/shards.ts). */
  coverage: ShardCoverage[];
  /** Wall-clock seconds and training speed (not written: outputs stay byte-identical). */
  timing: {
    seconds: number;
    /** Per model; feed / engine frames/s: the training passes' frames over the seconds spent in the data feed / in the engine. */
    models: {
      name: string;
      seconds: number;
      framesPerSecond: number;
      feedFramesPerSecond: number | null;
      engineFramesPerSecond: number | null;
      peakBufferedFrames: number;
      peakRssBytes: number;
    }[];
  };
  skips: Record<string, unknown>;
}

export function resolveTrainModelsOptions(o: Partial<TrainModelsOptions>): TrainModelsOptions {
  const known = new Set(Object.keys(DEFAULT_TRAIN_MODELS_OPTIONS).concat('learningRate', 'averageFromEpoch'));
  for (const k of Object.keys(o))
    if (!known.has(k))
      throw new ConfigError('unknown train option', { keyPath: k, expected: [...known].sort().join(', '), found: k });
  const r = {
    ...DEFAULT_TRAIN_MODELS_OPTIONS,
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
  } as TrainModelsOptions;
  if (!Number.isInteger(r.members) || r.members < 1)
    throw new ConfigError('bad ensemble size', {
      keyPath: 'members',
      expected: 'an integer >= 1',
      found: String(r.members),
    });
  if (!Number.isInteger(r.maxWorkers) || r.maxWorkers < 0)
    throw new ConfigError('bad worker count', {
      keyPath: 'maxWorkers',
      expected: 'an integer >= 0 (0 = CPU cores)',
      found: String(r.maxWorkers),
    });
  if (r.smallFraction !== null && !(r.smallFraction > 0 && r.smallFraction < 1))
    throw new ConfigError('bad small fraction', {
      keyPath: 'smallFraction',
      expected: 'null or a number in (0, 1)',
      found: String(r.smallFraction),
    });
  return r;
}

/** The TrainConfig of every model (seed set per model). */
export function modelTrainConfig(
  o: TrainModelsOptions,
  inv: InventoryInfo,
  featureConfig: Record<string, unknown>,
  seed: number,
): Partial<TrainConfig> & { numSenones: number } {
  return {
    numSenones: inv.numSenones,
    senoneInventory: { id: inv.senoneInventoryId },
    featureConfig,
    hiddenLayers: o.hiddenLayers,
    hiddenUnits: o.hiddenUnits,
    splice: { leftContext: o.leftContext, rightContext: o.rightContext },
    seed,
    optimizer: {
      kind: o.optimizer,
      l2: o.l2,
      ...(o.learningRate !== undefined ? { learningRate: o.learningRate } : {}),
    },
    batchSize: o.batchSize,
    shuffleBufferFrames: o.shuffleBufferFrames,
    maxEpochs: o.maxEpochs,
    halvingFactor: o.halvingFactor,
    ...(o.averageFromEpoch !== undefined ? { averageFromEpoch: o.averageFromEpoch } : {}),
    ...(o.schedule === 'exponential'
      ? // src/nnet's newbob with a start threshold no improvement can reach (halving from epoch 2 on)
        // and no stop or early stop before maxEpochs.
        {
          schedule: 'newbob' as const,
          newbobStartImprovement: 1,
          newbobStopImprovement: 0,
          minEpochs: o.maxEpochs,
          earlyStopPatience: o.maxEpochs,
        }
      : {
          schedule: o.schedule,
          newbobStartImprovement: o.newbobStartImprovement,
          newbobStopImprovement: o.newbobStopImprovement,
          minEpochs: o.minEpochs,
          earlyStopPatience: o.earlyStopPatience,
        }),
  };
}

/** Train the baseline, the members (and the small-fraction baseline) into `outDir`. */
export async function trainAcousticModels(opts: TrainAcousticModelsOptions): Promise<TrainAcousticModelsResult> {
  const { featuresDir, alignDir, outDir, seed = 0, resume = true, logger = defaultLog, shard, ...rest } = opts;
  const o = resolveTrainModelsOptions(rest);
  const t0 = Date.now();
  const trainFiles = await findSplitFiles(featuresDir, alignDir, o.trainSplit, logger);
  const devFiles = o.devSplit ? await findSplitFiles(featuresDir, alignDir, o.devSplit, logger) : null;
  if (devFiles) await checkSameAlignment(trainFiles.alignments[0], devFiles.alignments[0]);
  const featMeta = await readFeatureMetadata(trainFiles.features[0]);
  const inventory: InventoryInfo = {
    ...(await inventoryOf(alignDir, trainFiles.alignments[0])),
    featureConfigHash: featMeta.configHash,
  };
  const featureConfig = featMeta.featureConfig as unknown as Record<string, unknown>;

  const subset: SubsetSpec | null = o.smallFraction !== null ? { fraction: o.smallFraction, seed } : null;
  const allModels: { name: string; role: ModelRole; seed: number; subset: SubsetSpec | null }[] = [
    { name: 'baseline', role: 'baseline', seed, subset: null },
    ...Array.from({ length: o.members }, (_, k) => ({
      name: `member-${k + 1}`,
      role: 'member' as const,
      seed: memberSeed(seed, k + 1),
      subset: null,
    })),
  ];
  if (subset) allModels.push({ name: 'fraction-baseline', role: 'fraction-baseline', seed, subset });
  const mine = shard ? shardSlice(allModels, shard, 'models') : null;
  const plan = mine?.items ?? allModels;

  const counts = new Map<string, { utterances: number; frames: number }>();
  counts.set('all', await countSource(await openDataSource(dataSpecOf(trainFiles, null, o.vtlpCopies))));
  if (!o.vtlpCopies)
    logger.info(
      `without VTLP copies: ${counts.get('all')!.utterances} utterances, ${counts.get('all')!.frames} frames`,
    );
  if (subset) {
    const c = await countSource(await openDataSource(dataSpecOf(trainFiles, subset, o.vtlpCopies)));
    if (c.frames === 0)
      throw new ConfigError('the small fraction selects no training utterance', {
        keyPath: 'smallFraction',
        expected: 'a fraction that keeps at least one utterance',
        found: `${o.smallFraction} of ${counts.get('all')!.utterances} utterances`,
      });
    counts.set('subset', c);
    logger.info(
      `small fraction ${o.smallFraction}: ${c.utterances} of ${counts.get('all')!.utterances} utterances, ${c.frames} frames`,
    );
  }

  const jobs: TrainJobArgs[] = plan.map((p) => ({
    kind: 'hard',
    outDir: join(outDir, p.name),
    train: dataSpecOf(trainFiles, p.subset, o.vtlpCopies),
    dev: devFiles ? dataSpecOf(devFiles) : null,
    config: modelTrainConfig(o, inventory, featureConfig, p.seed),
    backend: o.backend,
    resume,
  }));
  const workers = workerCount(o.maxWorkers, jobs.length);
  logger.info(
    `training ${jobs.length} models (${plan.map((p) => p.name).join(', ')}) ${o.hiddenLayers}x${o.hiddenUnits}, ${workers} worker(s)`,
  );
  const results = await runNetJobs(jobs, {
    stageJobs: allModels.length,
    maxWorkers: o.maxWorkers,
    logger,
    labels: plan.map((p) => p.name),
  });

  const models: ModelEntry[] = [];
  for (let i = 0; i < plan.length; i++) {
    const p = plan[i];
    const r = results[i];
    if (!o.keepCheckpoints) await fsp.rm(join(r.outDir, 'checkpoints'), { recursive: true, force: true });
    const c = counts.get(p.subset ? 'subset' : 'all')!;
    models.push(entryOf(p, r, outDir, await modelDirHash(r.finalDir), c));
  }
  const file: ModelsFile = {
    format: MODELS_FORMAT,
    version: 1,
    inventory,
    trainConfig: stripSeed(resolveTrainConfig(modelTrainConfig(o, inventory, featureConfig, seed))),
    data: { trainSplit: o.trainSplit, devSplit: o.devSplit, smallFraction: o.smallFraction, vtlpCopies: o.vtlpCopies },
    models,
  };
  await writeJsonAtomic(join(outDir, MODELS_JSON), file);
  for (const m of models)
    logger.info(
      `${m.name}: best epoch ${m.bestEpoch}, ${m.accuracyOn} frame accuracy ${(100 * m.bestAccuracy).toFixed(2)}%`,
    );
  return {
    file,
    coverage: mine ? [mine.coverage] : [],
    timing: { seconds: (Date.now() - t0) / 1000, models: plan.map((p, i) => timingOf(p.name, results[i])) },
    skips: Object.fromEntries(plan.map((p, i) => [p.name, results[i].skips])),
  };
}

function stripSeed(c: TrainConfig): ModelsFile['trainConfig'] {
  const { seed: _s, ...rest } = c;
  return rest;
}

export function entryOf(
  p: { name: string; role: ModelRole; seed: number; subset: SubsetSpec | null },
  r: TrainResult,
  stageDir: string,
  weightsHash: string,
  c: { utterances: number; frames: number },
): ModelEntry {
  return {
    name: p.name,
    role: p.role,
    dir: relative(stageDir, r.finalDir).split('\\').join('/'),
    seed: p.seed,
    weightsHash,
    bestEpoch: r.bestEpoch,
    bestAccuracy: r.bestAccuracy,
    accuracyOn: r.history[0]?.devAccuracy !== null && r.history[0]?.devAccuracy !== undefined ? 'dev' : 'train',
    epochs: r.history.length,
    stopReason: r.stopReason,
    subset: p.subset,
    trainFrames: c.frames,
    trainUtterances: c.utterances,
    ...(r.averaged ? { averaged: r.averaged } : {}),
  };
}

export function timingOf(name: string, r: TrainResult): TrainAcousticModelsResult['timing']['models'][number] {
  const fresh = r.history.filter((h) => h.epoch > r.resumedAfterEpoch);
  const frames = fresh.reduce((a, h) => a + h.frames, 0);
  const seconds = fresh.reduce((a, h) => a + h.seconds, 0);
  const split = fresh.filter((h) => h.feedSeconds !== undefined && h.computeSeconds !== undefined);
  const splitFrames = split.reduce((a, h) => a + h.frames, 0);
  const rate = (sec: number) => (split.length && sec > 0 ? splitFrames / sec : null);
  return {
    name,
    seconds,
    framesPerSecond: seconds > 0 ? frames / seconds : 0,
    feedFramesPerSecond: rate(split.reduce((a, h) => a + h.feedSeconds!, 0)),
    engineFramesPerSecond: rate(split.reduce((a, h) => a + h.computeSeconds!, 0)),
    peakBufferedFrames: Math.max(0, ...fresh.map((h) => h.peakBufferedFrames)),
    peakRssBytes: Math.max(0, ...fresh.map((h) => h.rssBytes)),
  };
}

export type TrainStageOptions = TrainModelsOptions;

const D = DEFAULT_TRAIN_MODELS_OPTIONS;

export const TRAIN_SCHEMA: Schema = {
  hiddenLayers: { type: 'number', integer: true, min: 0, default: D.hiddenLayers, doc: 'hidden ReLU layers (L)' },
  hiddenUnits: { type: 'number', integer: true, min: 1, default: D.hiddenUnits, doc: 'units per hidden layer (H)' },
  leftContext: {
    type: 'number',
    integer: true,
    min: 0,
    default: D.leftContext,
    unit: 'frames',
    doc: 'frames of left context in the splice window',
  },
  rightContext: {
    type: 'number',
    integer: true,
    min: 0,
    default: D.rightContext,
    unit: 'frames',
    doc: 'frames of right context in the splice window',
  },
  members: {
    type: 'number',
    integer: true,
    min: 1,
    default: D.members,
    doc: 'ensemble members K (differing in seed: initialisation and data order)',
  },
  optimizer: {
    type: 'string',
    enum: ['adam', 'sgd'],
    default: D.optimizer,
    doc: "'adam' or 'sgd' (with momentum 0.9)",
  },
  learningRate: { type: 'number', min: 0, optional: true, doc: 'initial learning rate (default 0.001 adam, 0.05 sgd)' },
  l2: { type: 'number', min: 0, default: D.l2, doc: 'L2 penalty per weight' },
  batchSize: {
    type: 'number',
    integer: true,
    min: 1,
    default: D.batchSize,
    unit: 'frames',
    doc: 'frames per minibatch',
  },
  maxEpochs: { type: 'number', integer: true, min: 1, default: D.maxEpochs, doc: 'upper limit of epochs' },
  minEpochs: {
    type: 'number',
    integer: true,
    min: 1,
    default: D.minEpochs,
    doc: 'no newbob stop before this many epochs',
  },
  schedule: {
    type: 'string',
    enum: ['newbob', 'constant', 'exponential'],
    default: D.schedule,
    doc: "learning-rate schedule: 'newbob' (halving on dev frame accuracy), 'constant', or 'exponential' (x halvingFactor every epoch, all maxEpochs, best dev epoch kept)",
  },
  halvingFactor: {
    type: 'number',
    min: 0.01,
    max: 0.99,
    default: D.halvingFactor,
    doc: 'learning-rate factor per halving epoch (newbob) or per epoch (exponential)',
  },
  earlyStopPatience: {
    type: 'number',
    integer: true,
    min: 1,
    default: D.earlyStopPatience,
    doc: 'stop after this many epochs without a new best dev accuracy',
  },
  newbobStartImprovement: {
    type: 'number',
    min: 0,
    default: D.newbobStartImprovement,
    doc: 'newbob: halve the learning rate once an epoch improves the best dev frame accuracy by less than this (0.005 = 0.5 % absolute)',
  },
  newbobStopImprovement: {
    type: 'number',
    min: 0,
    default: D.newbobStopImprovement,
    doc: 'newbob: stop, while halving, once the improvement is below this',
  },
  shuffleBufferFrames: {
    type: 'number',
    integer: true,
    min: 1,
    default: D.shuffleBufferFrames,
    unit: 'frames',
    doc: 'shuffle buffer (bounds the training memory)',
  },
  trainSplit: { type: 'string', default: D.trainSplit, doc: 'split to train on' },
  devSplit: {
    type: 'string',
    nullable: true,
    default: D.devSplit as string,
    doc: 'split for newbob and early stopping (null: training accuracy)',
  },
  smallFraction: {
    type: 'number',
    min: 0,
    max: 1,
    nullable: true,
    doc: 'Table 5: also a baseline (and a student) on this fraction of the training utterances, e.g. 0.03 (null: off)',
  },
  vtlpCopies: {
    type: 'boolean',
    default: D.vtlpCopies,
    doc: "train on the features stage's VTLP copies too (false: the original recordings only; the copies are then the student's transfer set alone)",
  },
  maxWorkers: {
    type: 'number',
    integer: true,
    min: 0,
    default: D.maxWorkers,
    affectsOutput: false,
    doc: 'parallel training threads (0 = CPU cores)',
  },
  keepCheckpoints: { type: 'boolean', default: D.keepCheckpoints, doc: 'keep the per-epoch checkpoints in the output' },
  averageFromEpoch: {
    type: 'number',
    integer: true,
    min: 1,
    optional: true,
    doc: 'weight averaging: a running mean of the weights after every step from the start of this epoch on becomes the final model instead of the best epoch (absent: off)',
  },
  backend: backendOption(D.backend),
} satisfies SchemaFor<TrainStageOptions>;

export const trainStage: StageDefinition<TrainStageOptions> = {
  name: 'train',
  doc: 'baseline + K ensemble members (DNN frame classifiers on spliced log-mel frames), trained in parallel workers',
  inputs: ['features', 'align'],
  schema: TRAIN_SCHEMA,
  netSeeded: true,

  async run(ctx) {
    const r = await trainInto(ctx);
    return trainStageResult(r.file, firstSkips(r), [r.timing]);
  },

  // Shards: blocks of the models (each an independent job); the merge joins models.json's lists.
  shards: {
    unit: 'models',
    async run(ctx, shard) {
      const r = await trainInto(ctx, shard);
      return { ...trainStageResult(r.file, firstSkips(r), [r.timing]), coverage: r.coverage };
    },
    async merge(ctx, shards) {
      const file = (await mergeListingShards(shards, MODELS_JSON, 'models', ctx.outDir)) as unknown as ModelsFile;
      return trainStageResult(
        file,
        firstBusyShardSkips(shards),
        shards.map((s) => s.details?.timing),
      );
    },
  },
};

/** Train (all models, or a shard's block) in the resume directory, so an interrupted run continues from each net's last epoch; then it becomes the output. */
async function trainInto(ctx: StageContext<TrainStageOptions>, shard?: ShardSpec): Promise<TrainAcousticModelsResult> {
  const r = await locateConfigError(ctx.recipe, 'stages.train', () =>
    trainAcousticModels({
      ...ctx.options,
      featuresDir: ctx.inputDir('features'),
      alignDir: ctx.inputDir('align'),
      outDir: ctx.resumeDir,
      seed: ctx.recipe.netSeed ?? ctx.recipe.seed,
      resume: true,
      logger: ctx.log,
      ...(shard ? { shard } : {}),
    }),
  );
  await adoptResumeDir(ctx);
  return r;
}

/** The training split's skips as the first model saw them (train and distill). */
export function firstSkips(r: { skips: Record<string, unknown> }): SkipSummary | undefined {
  const first = Object.values(r.skips)[0] as { train: SkipSummary } | undefined;
  return first ? mergeSkips([first.train]) : undefined;
}

function trainStageResult(f: ModelsFile, skipped: SkipSummary | undefined, timing: unknown[]): StageResult {
  return {
    counts: {
      models: f.models.length,
      members: f.models.filter((m) => m.role === 'member').length,
      senones: f.inventory.numSenones,
      trainFrames: f.models[0]?.trainFrames ?? 0,
    },
    ...(skipped ? { skipped } : {}),
    details: {
      accuracy: Object.fromEntries(
        f.models.map((m) => [m.name, { bestEpoch: m.bestEpoch, [m.accuracyOn]: m.bestAccuracy }]),
      ),
      timing: timing.length === 1 ? timing[0] : timing,
    },
  };
}
