/**
 * Training a frame classifier on hard senone labels (or a caller's loss): minibatch SGD with
 * momentum or Adam, newbob learning-rate halving on dev frame accuracy, early stopping, one
 * checkpoint per epoch, resume from the last checkpoint, deterministic per seed.
 *
 * Output directory:
 *   checkpoints/epoch-NNNN/  model.json weights.bin sidecar.json optimizer.json optimizer.bin state.json
 *                            (the last one and the best one are kept)
 *   final/                   model.json weights.bin sidecar.json: the best epoch by dev accuracy,
 *                            or with averageFromEpoch the running mean of the weights (average.ts;
 *                            the checkpoints then carry average.json + average.bin)
 * (checkpoints, resume and final/'s copy of the best epoch: ./checkpoint.ts)
 */
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { Rng } from '../util/rng.ts';
import { ConfigError, FormatError, SkipCounter } from '../util/errors.ts';
import { hashConfig } from '../util/hash.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import { initBackend, isNativeActive, type BackendInfo, type BackendName } from './backend.ts';
import {
  DEFAULT_CMVN_OPTIONS,
  Minibatches,
  SpeakerCmvn,
  resolveBatchOptions,
  scanSource,
  senonePriors,
  splicedInputDim,
  type CmvnOptions,
  type FrameSource,
  type Minibatch,
  type SourceScan,
  type SpliceWindow,
  type Utterance,
} from './data.ts';
import { FrameClassifier, createFrameClassifier } from './model.ts';
import { defaultLearningRate, DEFAULT_OPTIMIZER_OPTIONS, type OptimizerOptions } from './optim.ts';
import { SIDECAR_KIND, SIDECAR_VERSION, saveModelDir, type ModelSidecar } from './io.ts';
import { ModelError } from './errors.ts';
import {
  FINAL,
  copyBestToFinal,
  saveCheckpoint,
  startOrResume,
  type CheckpointedRun,
  type TrainState,
} from './checkpoint.ts';
import { spliceFrameInto } from '../features/splice.ts';
import { NativeMlp } from './native-net.ts';
import {
  HARD_LABEL_LOSS,
  NativeTrainer,
  TfjsTrainer,
  evaluateFrameAccuracyNative,
  evaluateFrameAccuracyTf,
  type EvaluateOptions,
  type FrameAccuracy,
  type LossFn,
  type NetTrainer,
  type TrainLoss,
} from './trainer.ts';

export { listCheckpoints } from './checkpoint.ts';
export {
  hardLabelCrossEntropy,
  trainStep,
  HARD_LABEL_LOSS,
  type LossFn,
  type NativeLossFn,
  type TrainLoss,
  type EvaluateOptions,
} from './trainer.ts';

/** Everything that determines the trained weights (hashed for resume), plus maxEpochs. */
export interface TrainConfig {
  /** Output classes (senones). Required. */
  numSenones: number;
  /** Identity / names of the senone inventory, recorded in the sidecar. */
  senoneInventory?: { id?: string; names?: string[] };
  /** Feature config of the producer, recorded in the sidecar and compared later. Default null. */
  featureConfig: Record<string, unknown> | null;
  /** Hidden ReLU layers (L). Default 3. */
  hiddenLayers: number;
  /** Units per hidden layer (H). Default 1024. */
  hiddenUnits: number;
  /** Context window in frames. Default 5 left, 5 right (40 log-mel bins -> 440 inputs). */
  splice: SpliceWindow;
  /** Seed of initialisation and data order. Default 0. */
  seed: number;
  optimizer: Partial<OptimizerOptions>;
  /** Frames per minibatch. Default 256. */
  batchSize: number;
  /** Bounded shuffle buffer in frames. Default 100000. */
  shuffleBufferFrames: number;
  /** Upper limit of epochs. Default 20. Not part of the resume hash: raise it to train further. */
  maxEpochs: number;
  /** No newbob stop before this many epochs. Default 2. */
  minEpochs: number;
  /**
   * Learning-rate schedule. 'newbob' (Kaldi nnet1 style, on dev frame accuracy): once an epoch
   * improves the best accuracy by less than `newbobStartImprovement`, halve the rate every epoch;
   * stop when, while halving, the improvement is below `newbobStopImprovement`. 'constant': keep
   * the rate. Default 'newbob'.
   */
  schedule: 'newbob' | 'constant';
  /** Absolute frame-accuracy gain (0.005 = 0.5 %) below which halving starts. Default 0.005. */
  newbobStartImprovement: number;
  /** Absolute gain below which training stops while halving. Default 0.0005. */
  newbobStopImprovement: number;
  /** Learning-rate factor per halving epoch. Default 0.5. */
  halvingFactor: number;
  /** Stop after this many epochs without a new best dev accuracy. Default 3. */
  earlyStopPatience: number;
  cmvn: CmvnOptions;
  /** Floor (in frames) added to every senone count for the priors. Default 1. */
  priorFloorFrames: number;
  /**
   * Weight averaging (src/nnet/average.ts): from the start of this epoch on, keep a running mean
   * of the weights after every step, and make final/ that mean instead of the best epoch. Absent:
   * off (and absent from the config hash, so older runs keep theirs).
   */
  averageFromEpoch?: number;
}

export const DEFAULT_TRAIN_CONFIG: Readonly<Omit<TrainConfig, 'numSenones' | 'senoneInventory'>> = Object.freeze({
  featureConfig: null,
  hiddenLayers: 3,
  hiddenUnits: 1024,
  splice: Object.freeze({ leftContext: 5, rightContext: 5 }),
  seed: 0,
  optimizer: Object.freeze({}),
  batchSize: 256,
  shuffleBufferFrames: 100_000,
  maxEpochs: 20,
  minEpochs: 2,
  schedule: 'newbob',
  newbobStartImprovement: 0.005,
  newbobStopImprovement: 0.0005,
  halvingFactor: 0.5,
  earlyStopPatience: 3,
  cmvn: DEFAULT_CMVN_OPTIONS,
  priorFloorFrames: 1,
});

export interface EpochReport {
  epoch: number;
  learningRate: number;
  trainLoss: number;
  trainAccuracy: number;
  /** Dev frame accuracy (null without a dev source). */
  devAccuracy: number | null;
  devLoss: number | null;
  frames: number;
  seconds: number;
  framesPerSecond: number;
  /** Largest number of unspliced frames the shuffle buffer held. */
  peakBufferedFrames: number;
  /** Resident set size after the epoch. */
  rssBytes: number;
  /**
   * Seconds of the epoch's training pass spent in the data feed (reading, CMVN, shuffling,
   * splicing, batching) and in the engine (steps, weight averaging); dev evaluation is neither.
   */
  feedSeconds?: number;
  computeSeconds?: number;
}

export type StopReason = 'max-epochs' | 'newbob' | 'early-stop';

export interface TrainOptions {
  /** Output directory (checkpoints/, final/). */
  outDir: string;
  train: FrameSource;
  /** Dev source for newbob and early stopping; without it the running training accuracy is used. */
  dev?: FrameSource;
  config: Partial<TrainConfig> & { numSenones: number };
  /** Default 'auto' (the ladder). */
  backend?: BackendName | 'auto';
  /** Resume from the last checkpoint in outDir (default true); false starts over. */
  resume?: boolean;
  /**
   * The loss; default hard-label cross-entropy. A TrainLoss runs on every engine; a bare TF.js
   * LossFn only on the TF.js backends (the native engine refuses it).
   */
  loss?: LossFn | TrainLoss;
  logger?: Logger;
  /** Called after each epoch's checkpoint is on disk (a throw here aborts like a crash would). */
  onEpochEnd?: (report: EpochReport) => void | Promise<void>;
}

export interface TrainResult {
  outDir: string;
  /** Directory of the best model (model.json, weights.bin, sidecar.json). */
  finalDir: string;
  bestEpoch: number;
  /** Best dev frame accuracy (or training accuracy without dev). */
  bestAccuracy: number;
  stopReason: StopReason;
  history: EpochReport[];
  /** Epoch the run resumed after (0 = fresh start). */
  resumedAfterEpoch: number;
  backend: BackendInfo;
  sidecar: ModelSidecar;
  skips: { train: ReturnType<SkipCounter['toJSON']>; dev: ReturnType<SkipCounter['toJSON']> | null };
  /** With averageFromEpoch: the averaged final model (null when off, or nothing was averaged). */
  averaged: AveragedSummary | null;
}

export interface AveragedSummary {
  fromEpoch: number;
  toEpoch: number;
  /** Optimisation steps in the mean. */
  updates: number;
  /** Dev frame accuracy of the averaged weights (null without dev). */
  devAccuracy: number | null;
}

export function resolveTrainConfig(c: Partial<TrainConfig> & { numSenones: number }): TrainConfig {
  const known = new Set([...Object.keys(DEFAULT_TRAIN_CONFIG), 'numSenones', 'senoneInventory', 'averageFromEpoch']);
  for (const k of Object.keys(c)) {
    if (!known.has(k))
      throw new ConfigError('unknown training option', {
        keyPath: k,
        expected: [...known].sort().join(', '),
        found: k,
      });
  }
  const cfg: TrainConfig = {
    ...DEFAULT_TRAIN_CONFIG,
    ...c,
    splice: { ...DEFAULT_TRAIN_CONFIG.splice, ...c.splice },
    cmvn: { ...DEFAULT_TRAIN_CONFIG.cmvn, ...c.cmvn },
    optimizer: { ...DEFAULT_OPTIMIZER_OPTIONS, ...c.optimizer },
  } as TrainConfig;
  const opt = cfg.optimizer as OptimizerOptions;
  if (opt.learningRate === undefined) opt.learningRate = defaultLearningRate(opt.kind);
  const posInt = (k: keyof TrainConfig) => {
    const v = cfg[k] as number;
    if (!Number.isInteger(v) || v < 1)
      throw new ConfigError('bad training option', { keyPath: k, expected: 'an integer >= 1', found: String(v) });
  };
  (
    [
      'numSenones',
      'hiddenUnits',
      'batchSize',
      'shuffleBufferFrames',
      'maxEpochs',
      'minEpochs',
      'earlyStopPatience',
    ] as const
  ).forEach(posInt);
  if (!Number.isInteger(cfg.hiddenLayers) || cfg.hiddenLayers < 0)
    throw new ConfigError('bad training option', {
      keyPath: 'hiddenLayers',
      expected: 'an integer >= 0',
      found: String(cfg.hiddenLayers),
    });
  if (!(opt.learningRate! > 0))
    throw new ConfigError('bad learning rate', {
      keyPath: 'optimizer.learningRate',
      expected: '> 0',
      found: String(opt.learningRate),
    });
  if (cfg.averageFromEpoch === undefined) delete cfg.averageFromEpoch;
  else if (
    !Number.isInteger(cfg.averageFromEpoch) ||
    cfg.averageFromEpoch < 1 ||
    cfg.averageFromEpoch > cfg.maxEpochs
  ) {
    throw new ConfigError('bad weight-averaging start', {
      keyPath: 'averageFromEpoch',
      expected: `an integer epoch in 1..maxEpochs (${cfg.maxEpochs})`,
      found: String(cfg.averageFromEpoch),
    });
  }
  if (!(cfg.halvingFactor > 0 && cfg.halvingFactor < 1))
    throw new ConfigError('bad halving factor', {
      keyPath: 'halvingFactor',
      expected: 'in (0, 1)',
      found: String(cfg.halvingFactor),
    });
  if (cfg.schedule !== 'newbob' && cfg.schedule !== 'constant')
    throw new ConfigError('unknown schedule', {
      keyPath: 'schedule',
      expected: "'newbob' or 'constant'",
      found: String(cfg.schedule),
    });
  resolveBatchOptions({ batchSize: cfg.batchSize, shuffleBufferFrames: cfg.shuffleBufferFrames, splice: cfg.splice });
  return cfg;
}

/** Hash of everything that determines the weights (not maxEpochs, not where they go). */
export function trainConfigHash(cfg: TrainConfig): string {
  const { maxEpochs: _ignored, ...rest } = cfg;
  return hashConfig(rest);
}

function sourceNameForBatch(batch: Minibatch, max = 4): string {
  const shown = batch.uttIds.slice(0, max).join(', ');
  return batch.uttIds.length > max ? `${shown} (+${batch.uttIds.length - max} more)` : shown;
}

/** The loss to train with: hard-label cross-entropy by default; a bare TF.js loss has no native form. */
function resolveLoss(loss: TrainOptions['loss']): TrainLoss {
  return loss === undefined
    ? HARD_LABEL_LOSS
    : typeof loss === 'function'
      ? { name: 'custom TF.js loss', tf: loss, native: null }
      : loss;
}

/** One pass over each source's statistics: what training and the sidecar need from the data. */
interface DataScan {
  train: SourceScan;
  dev: SourceScan | null;
  /** Senone priors from the training counts. */
  priors: Float64Array;
  /** Spliced input dimension of the network. */
  inputDim: number;
}

/**
 * Check the sources against the config (senone count, feature dimension) and scan them once: CMVN
 * statistics per speaker, senone counts for the priors. No usable training frame is a ConfigError.
 */
async function scanTrainingData(train: FrameSource, dev: FrameSource | undefined, cfg: TrainConfig): Promise<DataScan> {
  // Sources that know their senone count (alignment metadata) must agree with the model's.
  for (const src of [train, dev]) {
    const n = (src as { numSenones?: number | null } | undefined)?.numSenones;
    if (src && typeof n === 'number' && n !== cfg.numSenones) {
      throw new FormatError('the alignments have another senone count than the model', {
        file: src.name,
        keyPath: 'numSenones',
        expected: String(cfg.numSenones),
        found: String(n),
      });
    }
  }
  const trainScan = await scanSource(train, { numSenones: cfg.numSenones, cmvn: cfg.cmvn });
  if (trainScan.numFrames === 0) {
    throw new ConfigError('no usable training frames', {
      file: train.name,
      expected: 'at least one labelled utterance',
      found: trainScan.skips.summary(),
    });
  }
  const devScan = dev ? await scanSource(dev, { numSenones: cfg.numSenones, cmvn: cfg.cmvn }) : null;
  const priors = senonePriors(trainScan.senoneCounts, cfg.priorFloorFrames);
  const inputDim = splicedInputDim(train.featureDim, cfg.splice);
  if (dev && dev.featureDim !== train.featureDim) {
    throw new ConfigError('dev and train features differ in dimension', {
      file: dev.name,
      expected: String(train.featureDim),
      found: String(dev.featureDim),
    });
  }
  return { train: trainScan, dev: devScan, priors, inputDim };
}

/** The sidecar every checkpoint and final/ share (the training summary is added to it). */
function baseSidecarOf(
  cfg: TrainConfig,
  train: FrameSource,
  shape: ModelSidecar['shape'],
  priors: Float64Array,
): ModelSidecar {
  return {
    kind: SIDECAR_KIND,
    formatVersion: SIDECAR_VERSION,
    shape,
    senones: { numSenones: cfg.numSenones, ...cfg.senoneInventory },
    featureConfig: cfg.featureConfig ?? (train as { featureConfig?: Record<string, unknown> }).featureConfig ?? null,
    featureDim: train.featureDim,
    splice: cfg.splice,
    cmvn: cfg.cmvn,
    priors: Array.from(priors),
    output: 'posteriors',
  };
}

/** Train (or resume training) a frame classifier. */
export async function trainFrameClassifier(opts: TrainOptions): Promise<TrainResult> {
  const logger = opts.logger ?? defaultLog;
  const cfg = resolveTrainConfig(opts.config);
  const configHash = trainConfigHash(cfg);
  const backend = await initBackend({ backend: opts.backend ?? 'auto', logger });
  const loss = resolveLoss(opts.loss);
  const makeTrainer = (c: FrameClassifier): NetTrainer =>
    backend.name === 'native' ? new NativeTrainer(c, cfg.optimizer, loss) : new TfjsTrainer(c, cfg.optimizer, loss);
  const { train, dev } = opts;
  const scan = await scanTrainingData(train, dev, cfg);
  const shape = {
    inputDim: scan.inputDim,
    hiddenLayers: cfg.hiddenLayers,
    hiddenUnits: cfg.hiddenUnits,
    numSenones: cfg.numSenones,
  };
  const baseSidecar = baseSidecarOf(cfg, train, shape, scan.priors);

  const run: CheckpointedRun = {
    outDir: opts.outDir,
    resume: opts.resume !== false,
    configHash,
    maxEpochs: cfg.maxEpochs,
    learningRate: cfg.optimizer.learningRate!,
    averageFromEpoch: cfg.averageFromEpoch,
  };
  const { trainer, state, resumedAfterEpoch } = await startOrResume(
    run,
    makeTrainer,
    () => createFrameClassifier(shape, cfg.seed),
    logger,
  );
  logger.info(
    `model ${scan.inputDim}-${cfg.hiddenUnits}x${cfg.hiddenLayers}-${cfg.numSenones} (${trainer.classifier.numParams} parameters), ` +
      `train ${scan.train.numFrames} frames / ${scan.train.numUtterances} utterances` +
      (scan.dev ? `, dev ${scan.dev.numFrames} frames` : ''),
  );

  const devScan = scan.dev;
  const evaluateDev = async (): Promise<{ accuracy: number; loss: number } | null> =>
    dev && devScan
      ? trainer.evaluate(dev, {
          cmvn: devScan.cmvn,
          splice: cfg.splice,
          numSenones: cfg.numSenones,
          batchSize: Math.max(cfg.batchSize, 512),
        })
      : null;
  // final/ = the best epoch (or the weight average), with the training summary in its sidecar.
  const finalDir = join(opts.outDir, FINAL);
  let training: Record<string, unknown>;
  let averaged: AveragedSummary | null = null;
  try {
    while (state.stopReason === null) {
      if (state.epoch >= cfg.maxEpochs) {
        state.stopReason = 'max-epochs';
        break;
      }
      const epoch = state.epoch + 1;
      const report = await trainEpoch(trainer, train, scan.train, cfg, epoch, state.learningRate, evaluateDev, logger);
      const { devAccuracy, trainAccuracy } = report;
      // Schedule decisions (newbob on dev accuracy; training accuracy without dev).
      state.history.push(report);
      Object.assign(state, scheduleAfterEpoch(state, epoch, devAccuracy ?? trainAccuracy, cfg));
      const sidecar: ModelSidecar = {
        ...baseSidecar,
        training: { epoch, seed: cfg.seed, configHash, backend: backend.name, devAccuracy, trainAccuracy },
      };
      await saveCheckpoint(opts.outDir, trainer, sidecar, state);
      if (opts.onEpochEnd) await opts.onEpochEnd(report);
    }
    training = trainingSummary(cfg, configHash, backend.name, state, dev ? 'dev' : 'train');
    if (trainer.averaging && trainer.averageUpdates() === 0) {
      logger.warn(
        `${opts.outDir}: training stopped (${state.stopReason}) after epoch ${state.epoch}, before averageFromEpoch ${cfg.averageFromEpoch}: final/ is the best epoch, not an average`,
      );
    } else if (trainer.averaging) {
      trainer.assignAverage();
      averaged = {
        fromEpoch: trainer.averageFromEpoch()!,
        toEpoch: state.epoch,
        updates: trainer.averageUpdates(),
        devAccuracy: (await evaluateDev())?.accuracy ?? null,
      };
      training.averaged = averaged;
      await saveModelDir(finalDir, trainer.classifier, { ...baseSidecar, training });
    }
  } finally {
    trainer.dispose();
  }
  const sidecar: ModelSidecar = { ...baseSidecar, training };
  if (averaged) {
    logger.info(
      `weights averaged over epochs ${averaged.fromEpoch}-${averaged.toEpoch} (${averaged.updates} steps)` +
        (averaged.devAccuracy !== null ? `: dev frame accuracy ${(100 * averaged.devAccuracy).toFixed(2)}%` : '') +
        ` (best single epoch ${state.bestEpoch}: ${(100 * state.bestMetric).toFixed(2)}%) -> ${finalDir}`,
    );
  } else {
    await copyBestToFinal(opts.outDir, state.bestEpoch, sidecar);
    logger.info(
      `best epoch ${state.bestEpoch}: ${dev ? 'dev' : 'train'} frame accuracy ${(100 * state.bestMetric).toFixed(2)}% (stopped: ${state.stopReason}) -> ${finalDir}`,
    );
  }
  return {
    outDir: opts.outDir,
    finalDir,
    bestEpoch: state.bestEpoch,
    bestAccuracy: state.bestMetric,
    stopReason: state.stopReason!,
    history: state.history,
    resumedAfterEpoch,
    backend,
    sidecar,
    skips: { train: scan.train.skips.toJSON(), dev: devScan ? devScan.skips.toJSON() : null },
    averaged,
  };
}

/**
 * One epoch: a shuffled pass over the training data at learning rate `lr` (seeded per epoch), the
 * dev evaluation, and the epoch's report (progress line included).
 */
async function trainEpoch(
  trainer: NetTrainer,
  train: FrameSource,
  trainScan: SourceScan,
  cfg: TrainConfig,
  epoch: number,
  lr: number,
  evaluateDev: () => Promise<{ accuracy: number; loss: number } | null>,
  logger: Logger,
): Promise<EpochReport> {
  const t0 = Date.now();
  const batches = new Minibatches(train, {
    batchSize: cfg.batchSize,
    shuffle: true,
    shuffleBufferFrames: cfg.shuffleBufferFrames,
    seed: new Rng(`${cfg.seed}:epoch:${epoch}`).nextUint32(),
    splice: cfg.splice,
    numSenones: cfg.numSenones,
    cmvn: trainScan.cmvn,
  });
  const progress = logger.progress(`epoch ${epoch} (lr ${lr.toPrecision(3)})`, trainScan.numFrames, 'frames');
  let lossSum = 0,
    correct = 0,
    frames = 0,
    batchIndex = 0,
    feedMs = 0,
    computeMs = 0;
  let mark = performance.now();
  for await (const batch of batches) {
    const fed = performance.now();
    feedMs += fed - mark;
    batchIndex++;
    const { loss: batchLoss, numCorrect } = trainer.step(
      batch,
      lr,
      () => `epoch ${epoch}, batch ${batchIndex} (${batch.size} frames of ${sourceNameForBatch(batch)})`,
    );
    if (trainer.averaging && epoch >= cfg.averageFromEpoch!) trainer.averageUpdate(epoch);
    mark = performance.now();
    computeMs += mark - fed;
    lossSum += batchLoss * batch.size;
    correct += numCorrect;
    frames += batch.size;
    progress.tick(batch.size);
  }
  const trainLoss = lossSum / Math.max(1, frames);
  const trainAccuracy = correct / Math.max(1, frames);
  const ev = await evaluateDev();
  const devAccuracy = ev?.accuracy ?? null,
    devLoss = ev?.loss ?? null;
  const seconds = (Date.now() - t0) / 1000;
  const report: EpochReport = {
    epoch,
    learningRate: lr,
    trainLoss,
    trainAccuracy,
    devAccuracy,
    devLoss,
    frames,
    seconds,
    framesPerSecond: frames / Math.max(seconds, 1e-9),
    peakBufferedFrames: batches.stats.peakBufferedFrames,
    rssBytes: process.memoryUsage().rss,
    feedSeconds: feedMs / 1000,
    computeSeconds: computeMs / 1000,
  };
  progress.done(
    `loss ${trainLoss.toFixed(4)}, train acc ${(100 * trainAccuracy).toFixed(2)}%` +
      (devAccuracy !== null ? `, dev acc ${(100 * devAccuracy).toFixed(2)}%` : '') +
      `; feed ${(frames / Math.max(feedMs / 1000, 1e-9)).toFixed(0)} frames/s, engine ${(frames / Math.max(computeMs / 1000, 1e-9)).toFixed(0)} frames/s`,
  );
  return report;
}

/** The training summary of the final sidecar (the history without timings and memory). */
function trainingSummary(
  cfg: TrainConfig,
  configHash: string,
  backend: string,
  state: TrainState,
  accuracyOn: 'dev' | 'train',
): Record<string, unknown> {
  return {
    seed: cfg.seed,
    configHash,
    backend,
    bestEpoch: state.bestEpoch,
    bestAccuracy: state.bestMetric,
    accuracyOn,
    epochs: state.epoch,
    stopReason: state.stopReason,
    history: state.history.map(
      ({ rssBytes: _r, seconds: _s, framesPerSecond: _f, feedSeconds: _fs, computeSeconds: _cs, ...h }) => h,
    ),
  };
}

/** The part of the training state the schedule decides on. */
export interface ScheduleState {
  /** Epochs completed. */
  epoch: number;
  /** Learning rate for the next epoch. */
  learningRate: number;
  halving: boolean;
  bestEpoch: number;
  bestMetric: number;
  epochsSinceBest: number;
  stopReason: StopReason | null;
}

/**
 * Decisions after epoch `epoch` with accuracy `metric` (newbob + early stopping), as a pure
 * function of the previous state. The improvement is measured against the best accuracy so far.
 */
export function scheduleAfterEpoch(
  prev: ScheduleState,
  epoch: number,
  metric: number,
  cfg: Pick<
    TrainConfig,
    | 'schedule'
    | 'newbobStartImprovement'
    | 'newbobStopImprovement'
    | 'halvingFactor'
    | 'earlyStopPatience'
    | 'minEpochs'
    | 'maxEpochs'
  >,
): ScheduleState {
  const s: ScheduleState = { ...prev, epoch };
  const improvement = metric - (Number.isFinite(prev.bestMetric) ? prev.bestMetric : 0);
  if (metric > prev.bestMetric) {
    s.bestMetric = metric;
    s.bestEpoch = epoch;
    s.epochsSinceBest = 0;
  } else {
    s.epochsSinceBest = prev.epochsSinceBest + 1;
  }
  if (cfg.schedule === 'newbob') {
    // At the last epoch the stop is 'max-epochs' whatever the improvement (a newbob stop then changes nothing).
    if (s.halving && improvement < cfg.newbobStopImprovement && epoch >= cfg.minEpochs && epoch < cfg.maxEpochs)
      s.stopReason = 'newbob';
    if (improvement < cfg.newbobStartImprovement) s.halving = true;
    if (s.halving) s.learningRate = prev.learningRate * cfg.halvingFactor;
  }
  if (s.stopReason === null && s.epochsSinceBest >= cfg.earlyStopPatience) s.stopReason = 'early-stop';
  if (s.stopReason === null && epoch >= cfg.maxEpochs) s.stopReason = 'max-epochs';
  return s;
}

/**
 * Frame accuracy (argmax vs alignment) and mean cross-entropy over a source, in corpus order, on
 * the active engine (the native engine when it is active, else TF.js).
 */
export async function evaluateFrameAccuracy(
  classifier: FrameClassifier,
  source: FrameSource,
  opts: EvaluateOptions,
): Promise<FrameAccuracy & { skips: SkipCounter }> {
  return isNativeActive()
    ? evaluateFrameAccuracyNative(nativeNetOf(classifier), source, opts)
    : evaluateFrameAccuracyTf(classifier, source, opts);
}

/** Native copies of loaded (frozen) classifiers' weights, made on first use. */
const nativeNets = new WeakMap<FrameClassifier, NativeMlp>();

/**
 * The native network holding a classifier's weights as they were at the first call: for models
 * loaded for inference (targets, eval, decode), which do not change afterwards.
 */
export function nativeNetOf(classifier: FrameClassifier): NativeMlp {
  let net = nativeNets.get(classifier);
  if (!net) {
    net = NativeMlp.fromClassifier(classifier);
    nativeNets.set(classifier, net);
  }
  return net;
}

/**
 * Logits of every frame of one utterance, [numFrames x numSenones] row-major (features are
 * normalised with `cmvn` and spliced with edge replication). For soft targets: softmax(logits / T).
 */
export function utteranceLogits(
  classifier: FrameClassifier,
  utt: Utterance,
  opts: { cmvn?: SpeakerCmvn; splice: SpliceWindow; batchSize?: number },
): Float32Array {
  const { inputDim, numSenones } = classifier.shape;
  const want = splicedInputDim(utt.dim, opts.splice);
  if (want !== inputDim) {
    throw new ModelError('spliced feature dimension does not match the model input', {
      uttId: utt.uttId,
      expected: String(inputDim),
      found: `${want} (${utt.dim} x ${opts.splice.leftContext + 1 + opts.splice.rightContext})`,
    });
  }
  const feats = opts.cmvn ? opts.cmvn.apply(utt) : utt.feats;
  const mat = { numFrames: utt.numFrames, dim: utt.dim, data: feats };
  const bs = opts.batchSize ?? 512;
  const out = new Float32Array(utt.numFrames * numSenones);
  const x = new Float32Array(bs * inputDim);
  const net = isNativeActive() ? nativeNetOf(classifier) : null;
  for (let start = 0; start < utt.numFrames; start += bs) {
    const n = Math.min(bs, utt.numFrames - start);
    for (let i = 0; i < n; i++)
      spliceFrameInto(mat, start + i, opts.splice.leftContext, opts.splice.rightContext, x, i * inputDim);
    if (net) {
      out.set(net.forward(x, n), start * numSenones);
      continue;
    }
    const z = tf.tidy(() => classifier.logits(tf.tensor2d(x.subarray(0, n * inputDim), [n, inputDim])));
    out.set(z.dataSync(), start * numSenones);
    z.dispose();
  }
  return out;
}
