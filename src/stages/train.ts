/**
 * The `train` stage: features + alignments -> `<expDir>/train/` (baseline, K ensemble members
 * trained in parallel workers, optionally the Table 5 small-fraction baseline; models.json)
 * through `trainAcousticModels` (src/train/models.ts). Training speed and memory go to stage.json
 * (details.timing), so the outputs are byte-identical for the same config and seed.
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
import { trainAcousticModels, DEFAULT_TRAIN_MODELS_OPTIONS as D, type TrainModelsOptions } from '../train/models.ts';
import { ConfigError } from '../util/errors.ts';
import { type Schema, type SchemaFor, type StringSpec } from './schema.ts';
import { BACKEND_LADDER } from '../nnet/backend.ts';
import { adoptResumeDir, type StageDefinition } from './stage.ts';
import { mergeSkips } from './features.ts';

export type TrainStageOptions = TrainModelsOptions;

/** The `backend` option of the stages that run TF.js models: 'auto' or a rung of the ladder. */
export function backendOption(defaultValue: string): StringSpec {
  return { type: 'string', enum: ['auto', ...BACKEND_LADDER], default: defaultValue, affectsOutput: false, doc: 'compute engine (auto: the ladder tfjs-node-gpu > native (OpenBLAS) > tfjs-node > wasm > cpu)' };
}

export const TRAIN_SCHEMA: Schema = {
  hiddenLayers: { type: 'number', integer: true, min: 0, default: D.hiddenLayers, doc: 'hidden ReLU layers (L)' },
  hiddenUnits: { type: 'number', integer: true, min: 1, default: D.hiddenUnits, doc: 'units per hidden layer (H)' },
  leftContext: { type: 'number', integer: true, min: 0, default: D.leftContext, unit: 'frames', doc: 'frames of left context in the splice window' },
  rightContext: { type: 'number', integer: true, min: 0, default: D.rightContext, unit: 'frames', doc: 'frames of right context in the splice window' },
  members: { type: 'number', integer: true, min: 1, default: D.members, doc: 'ensemble members K (differing in seed: initialisation and data order)' },
  optimizer: { type: 'string', enum: ['adam', 'sgd'], default: D.optimizer, doc: "'adam' or 'sgd' (with momentum 0.9)" },
  learningRate: { type: 'number', min: 0, optional: true, doc: 'initial learning rate (default 0.001 adam, 0.05 sgd)' },
  l2: { type: 'number', min: 0, default: D.l2, doc: 'L2 penalty per weight' },
  batchSize: { type: 'number', integer: true, min: 1, default: D.batchSize, unit: 'frames', doc: 'frames per minibatch' },
  maxEpochs: { type: 'number', integer: true, min: 1, default: D.maxEpochs, doc: 'upper limit of epochs' },
  minEpochs: { type: 'number', integer: true, min: 1, default: D.minEpochs, doc: 'no newbob stop before this many epochs' },
  schedule: { type: 'string', enum: ['newbob', 'constant', 'exponential'], default: D.schedule, doc: "learning-rate schedule: 'newbob' (halving on dev frame accuracy), 'constant', or 'exponential' (x halvingFactor every epoch, all maxEpochs, best dev epoch kept)" },
  halvingFactor: { type: 'number', min: 0.01, max: 0.99, default: D.halvingFactor, doc: 'learning-rate factor per halving epoch (newbob) or per epoch (exponential)' },
  earlyStopPatience: { type: 'number', integer: true, min: 1, default: D.earlyStopPatience, doc: 'stop after this many epochs without a new best dev accuracy' },
  newbobStartImprovement: { type: 'number', min: 0, default: D.newbobStartImprovement, doc: 'newbob: halve the learning rate once an epoch improves the best dev frame accuracy by less than this (0.005 = 0.5 % absolute)' },
  newbobStopImprovement: { type: 'number', min: 0, default: D.newbobStopImprovement, doc: 'newbob: stop, while halving, once the improvement is below this' },
  shuffleBufferFrames: { type: 'number', integer: true, min: 1, default: D.shuffleBufferFrames, unit: 'frames', doc: 'shuffle buffer (bounds the training memory)' },
  trainSplit: { type: 'string', default: D.trainSplit, doc: 'split to train on' },
  devSplit: { type: 'string', nullable: true, default: D.devSplit as string, doc: 'split for newbob and early stopping (null: training accuracy)' },
  smallFraction: { type: 'number', min: 0, max: 1, nullable: true, doc: "Table 5: also a baseline (and a student) on this fraction of the training utterances, e.g. 0.03 (null: off)" },
  vtlpCopies: { type: 'boolean', default: D.vtlpCopies, doc: "train on the features stage's VTLP copies too (false: the original recordings only; the copies are then the student's transfer set alone)" },
  maxWorkers: { type: 'number', integer: true, min: 0, default: D.maxWorkers, affectsOutput: false, doc: 'parallel training threads (0 = CPU cores)' },
  keepCheckpoints: { type: 'boolean', default: D.keepCheckpoints, doc: 'keep the per-epoch checkpoints in the output' },
  averageFromEpoch: { type: 'number', integer: true, min: 1, optional: true, doc: 'weight averaging: a running mean of the weights after every step from the start of this epoch on becomes the final model instead of the best epoch (absent: off)' },
  backend: backendOption(D.backend),
} satisfies SchemaFor<TrainStageOptions>;

/** Re-raise a ConfigError of the library with the recipe location of `stages.<stage>.<key>`. */
export function locateOptionError<T>(ctx: { recipe: { locate?(k: string): { file: string; line?: number } } }, stage: string, fn: () => Promise<T>): Promise<T> {
  return fn().catch((err: unknown) => {
    if (err instanceof ConfigError && err.location.keyPath && !err.location.file && !err.location.keyPath.startsWith('stages.')) {
      const keyPath = `stages.${stage}.${err.location.keyPath}`;
      throw new ConfigError(err.detail, { ...(ctx.recipe.locate?.(keyPath) ?? {}), keyPath, expected: err.expected, found: err.found, cause: err });
    }
    throw err;
  });
}

export const trainStage: StageDefinition<TrainStageOptions> = {
  name: 'train',
  doc: 'baseline + K ensemble members (DNN frame classifiers on spliced log-mel frames), trained in parallel workers',
  inputs: ['features', 'align'],
  schema: TRAIN_SCHEMA,
  netSeeded: true,

  async run(ctx) {
    // Trained in the resume directory: an interrupted run continues from each net's last epoch.
    const r = await locateOptionError(ctx, 'train', () => trainAcousticModels({
      ...ctx.options, featuresDir: ctx.inputDir('features'), alignDir: ctx.inputDir('align'), outDir: ctx.resumeDir, seed: ctx.recipe.netSeed ?? ctx.recipe.seed, resume: true, logger: ctx.log,
    }));
    await adoptResumeDir(ctx);
    const f = r.file;
    const skips = Object.values(r.skips).map((s) => (s as { train: { done: number; skipped: number; reasons: { reason: string; count: number; examples: string[] }[] } }).train);
    return {
      counts: {
        models: f.models.length, members: f.models.filter((m) => m.role === 'member').length, senones: f.inventory.numSenones,
        trainFrames: f.models[0].trainFrames,
      },
      skipped: mergeSkips(skips.slice(0, 1)),
      details: {
        accuracy: Object.fromEntries(f.models.map((m) => [m.name, { bestEpoch: m.bestEpoch, [m.accuracyOn]: m.bestAccuracy }])),
        timing: r.timing,
      },
    };
  },
};
