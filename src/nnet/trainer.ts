/**
 * One training loop, two engines. trainFrameClassifier (train.ts) drives a NetTrainer: a step on
 * a minibatch, dev evaluation, optimizer and weight-average state for checkpoints, and the TF.js
 * classifier that is saved. TfjsTrainer computes with TF.js (wasm, cpu, tfjs-node); NativeTrainer
 * with the native engine (native-net.ts), syncing its weights into the classifier only to save.
 * Both start from the same seeded weights and write the same files.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, NumericError, SkipCounter } from '../util/errors.ts';
import { Minibatches, type FrameSource, type Minibatch, type SpeakerCmvn, type SpliceWindow } from './data.ts';
import type { FrameClassifier } from './model.ts';
import { Optimizer, type OptimizerOptions, type OptimizerState } from './optim.ts';
import { WeightAverager, type WeightAverageHeader } from './average.ts';
import { NativeMlp, NativeOptimizer, NativeWeightAverager } from './native-net.ts';
import { nativeAddon, type NativeAddon } from './native.ts';

/** A training loss on a batch in TF.js: logits [n, S] (and the batch: labels, extras) -> scalar. */
export type LossFn = (logits: tf.Tensor2D, batch: Minibatch) => tf.Scalar;

/**
 * The same loss on the native engine: the mean loss over the batch's rows, and (when `dz` is
 * given) its gradient with respect to the logits written into dz [n x S]; `numCorrect` counts the
 * rows whose argmax is the label (0 without labels).
 */
export type NativeLossFn = (
  addon: NativeAddon,
  logits: Float32Array,
  dz: Float32Array | null,
  batch: Minibatch,
  numSenones: number,
) => { loss: number; numCorrect: number };

/** A loss for both engines. */
export interface TrainLoss {
  name: string;
  tf: LossFn;
  /** null: TF.js only (training on the native engine then refuses it). */
  native: NativeLossFn | null;
}

function requireLabels(batch: Minibatch): Int32Array {
  if (!batch.labels)
    throw new ConfigError('hard-label training needs labels', {
      expected: 'a source with alignments',
      found: 'unlabelled frames',
    });
  return batch.labels;
}

/** Mean cross-entropy against the hard senone labels. */
export const hardLabelCrossEntropy: LossFn = (logits, batch) => {
  const labels = requireLabels(batch);
  const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), logits.shape[1]);
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
};

const scratch = new Float64Array(4);

export const nativeHardLabelCrossEntropy: NativeLossFn = (addon, z, dz, batch, numSenones) => {
  const labels = requireLabels(batch);
  addon.xentHard(z, batch.size, numSenones, labels, dz, 1 / batch.size, scratch);
  return { loss: scratch[0] / batch.size, numCorrect: scratch[1] };
};

export const HARD_LABEL_LOSS: TrainLoss = {
  name: 'hard-label cross-entropy',
  tf: hardLabelCrossEntropy,
  native: nativeHardLabelCrossEntropy,
};

export interface EvaluateOptions {
  cmvn?: SpeakerCmvn;
  splice: SpliceWindow;
  numSenones: number;
  /** Frames per forward pass. Default 512. */
  batchSize?: number;
}

export interface FrameAccuracy {
  frames: number;
  correct: number;
  accuracy: number;
  loss: number;
  skips: SkipCounter;
}

/** The state a checkpoint holds besides the weights. */
export interface SerialisedState<H> {
  header: H;
  data: Uint8Array;
}

export interface NetTrainer {
  readonly engine: 'tfjs' | 'native';
  /** The TF.js model that is saved; its weights are current after `sync()`. */
  readonly classifier: FrameClassifier;
  /** One optimisation step; throws NumericError (weights untouched) on a non-finite loss. */
  step(batch: Minibatch, learningRate: number, describeBatch: () => string): { loss: number; numCorrect: number };
  evaluate(source: FrameSource, opts: EvaluateOptions): Promise<FrameAccuracy>;
  sync(): void;
  optimizerState(): SerialisedState<OptimizerState>;
  loadOptimizerState(header: OptimizerState, data: Uint8Array, where: string): void;
  /** Weight averaging (null until enabled). */
  enableAverage(): void;
  readonly averaging: boolean;
  averageUpdate(epoch: number): void;
  averageUpdates(): number;
  averageFromEpoch(): number | null;
  averageState(): SerialisedState<WeightAverageHeader> | null;
  loadAverageState(header: WeightAverageHeader, data: Uint8Array, where: string): void;
  /** Make the average the model's weights (and sync). */
  assignAverage(): void;
  dispose(): void;
}

function nonFinite(lossValue: number, batch: Minibatch, describeBatch: () => string): NumericError {
  return new NumericError(
    `training loss is not finite at ${describeBatch()}; the last checkpoint is intact (lower the learning rate?)`,
    {
      uttId: batch.uttIds[0],
      expected: 'a finite loss',
      found: String(lossValue),
    },
  );
}

/**
 * One optimisation step in TF.js. The loss is read before the update: a non-finite loss stops
 * training with a NumericError naming the batch, and the weights stay as they were.
 */
export function trainStep(
  classifier: FrameClassifier,
  optimizer: Optimizer,
  vars: tf.Variable[],
  lossFn: LossFn,
  batch: Minibatch,
  learningRate: number,
  describeBatch: () => string,
): { loss: number; numCorrect: number } {
  const x = tf.tensor2d(batch.x, [batch.size, batch.inputDim]);
  let numCorrect = 0;
  let lossValue: number;
  try {
    const { value, grads } = tf.variableGrads(() => {
      const logits = classifier.logits(x, true);
      if (batch.labels) {
        const pred = tf.argMax(logits, 1).dataSync();
        for (let i = 0; i < batch.size; i++) if (pred[i] === batch.labels[i]) numCorrect++;
      }
      return lossFn(logits, batch);
    }, vars);
    lossValue = value.dataSync()[0];
    value.dispose();
    const ordered = vars.map((v) => grads[v.name]);
    try {
      if (!Number.isFinite(lossValue)) throw nonFinite(lossValue, batch, describeBatch);
      optimizer.apply(ordered, learningRate);
    } finally {
      tf.dispose(ordered);
    }
  } finally {
    x.dispose();
  }
  return { loss: lossValue, numCorrect };
}

/**
 * Frame accuracy (argmax vs alignment) and mean cross-entropy over a source in corpus order;
 * `score` gives a batch's summed cross-entropy and its rows whose argmax is the label.
 */
async function evaluateFrameAccuracyWith(
  source: FrameSource,
  opts: EvaluateOptions,
  score: (batch: Minibatch) => { lossSum: number; correct: number },
): Promise<FrameAccuracy> {
  const batches = new Minibatches(source, {
    batchSize: opts.batchSize ?? 512,
    shuffle: false,
    splice: opts.splice,
    numSenones: opts.numSenones,
    cmvn: opts.cmvn,
  });
  let frames = 0,
    correct = 0,
    lossSum = 0;
  for await (const batch of batches) {
    const r = score(batch);
    lossSum += r.lossSum;
    correct += r.correct;
    frames += batch.size;
  }
  return {
    frames,
    correct,
    accuracy: frames ? correct / frames : 0,
    loss: frames ? lossSum / frames : NaN,
    skips: batches.skips,
  };
}

/** Frame accuracy and mean cross-entropy over a source, in TF.js. */
export function evaluateFrameAccuracyTf(
  classifier: FrameClassifier,
  source: FrameSource,
  opts: EvaluateOptions,
): Promise<FrameAccuracy> {
  return evaluateFrameAccuracyWith(source, opts, (batch) => {
    const [pred, ce] = tf.tidy(() => {
      const logits = classifier.logits(tf.tensor2d(batch.x, [batch.size, batch.inputDim]));
      const oneHot = tf.oneHot(tf.tensor1d(batch.labels!, 'int32'), opts.numSenones);
      return [tf.argMax(logits, 1), tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits))))];
    });
    const p = pred.dataSync();
    const lossSum = ce.dataSync()[0];
    tf.dispose([pred, ce]);
    let correct = 0;
    for (let i = 0; i < batch.size; i++) if (p[i] === batch.labels![i]) correct++;
    return { lossSum, correct };
  });
}

/** Frame accuracy and mean cross-entropy over a source, on the native engine. */
export function evaluateFrameAccuracyNative(
  net: NativeMlp,
  source: FrameSource,
  opts: EvaluateOptions,
): Promise<FrameAccuracy> {
  const addon = nativeAddon();
  const out = new Float64Array(2);
  return evaluateFrameAccuracyWith(source, opts, (batch) => {
    addon.xentHard(net.forward(batch.x, batch.size), batch.size, opts.numSenones, batch.labels!, null, 1, out);
    return { lossSum: out[0], correct: out[1] };
  });
}

/** What both engines' weight averages offer the training loop. */
interface Averager {
  readonly updates: number;
  readonly fromEpoch: number | null;
  update(epoch: number): void;
  saveState(): SerialisedState<WeightAverageHeader>;
  loadState(header: WeightAverageHeader, data: Uint8Array, where: string): void;
  /** Make the average the model's weights. */
  assign(): void;
  dispose(): void;
}

/** The weight-averaging half of a NetTrainer, the same for both engines. */
abstract class AveragingTrainer {
  private averager: Averager | null = null;
  protected abstract newAverager(): Averager;
  abstract sync(): void;

  enableAverage(): void {
    this.averager ??= this.newAverager();
  }

  get averaging(): boolean {
    return this.averager !== null;
  }

  averageUpdate(epoch: number): void {
    this.averager!.update(epoch);
  }

  averageUpdates(): number {
    return this.averager?.updates ?? 0;
  }

  averageFromEpoch(): number | null {
    return this.averager?.fromEpoch ?? null;
  }

  averageState(): SerialisedState<WeightAverageHeader> | null {
    return this.averager?.saveState() ?? null;
  }

  loadAverageState(header: WeightAverageHeader, data: Uint8Array, where: string): void {
    this.enableAverage();
    this.averager!.loadState(header, data, where);
  }

  assignAverage(): void {
    this.averager!.assign();
    this.sync();
  }

  protected disposeAverager(): void {
    this.averager?.dispose();
    this.averager = null;
  }
}

export class TfjsTrainer extends AveragingTrainer implements NetTrainer {
  readonly engine = 'tfjs' as const;
  private readonly vars: tf.Variable[];
  private readonly optimizer: Optimizer;

  constructor(
    readonly classifier: FrameClassifier,
    optimizer: Partial<OptimizerOptions>,
    private readonly loss: TrainLoss,
  ) {
    super();
    this.vars = classifier.variables;
    this.optimizer = new Optimizer(this.vars, optimizer);
  }

  step(batch: Minibatch, learningRate: number, describeBatch: () => string) {
    return trainStep(this.classifier, this.optimizer, this.vars, this.loss.tf, batch, learningRate, describeBatch);
  }

  evaluate(source: FrameSource, opts: EvaluateOptions) {
    return evaluateFrameAccuracyTf(this.classifier, source, opts);
  }

  sync(): void {}

  optimizerState() {
    return this.optimizer.saveState();
  }

  loadOptimizerState(header: OptimizerState, data: Uint8Array, where: string): void {
    this.optimizer.loadState(header, data, where);
  }

  protected newAverager(): Averager {
    const avg = new WeightAverager(this.vars);
    const vars = this.vars;
    return {
      get updates() {
        return avg.updates;
      },
      get fromEpoch() {
        return avg.fromEpoch;
      },
      update: (epoch) => avg.update(vars, epoch),
      saveState: () => avg.saveState(),
      loadState: (h, d, w) => avg.loadState(h, d, w),
      assign: () => avg.assignTo(vars),
      dispose: () => avg.dispose(),
    };
  }

  dispose(): void {
    this.optimizer.dispose();
    this.disposeAverager();
    this.classifier.dispose();
  }
}

export class NativeTrainer extends AveragingTrainer implements NetTrainer {
  readonly engine = 'native' as const;
  readonly net: NativeMlp;
  private readonly optimizer: NativeOptimizer;
  private readonly addon: NativeAddon;
  private readonly lossFn: NativeLossFn;

  constructor(
    readonly classifier: FrameClassifier,
    optimizer: Partial<OptimizerOptions>,
    loss: TrainLoss,
  ) {
    super();
    if (!loss.native) {
      throw new ConfigError('this training loss has no native implementation', {
        keyPath: 'backend',
        expected: "a TF.js backend (e.g. 'wasm') for this loss",
        found: `'native' with loss '${loss.name}'`,
      });
    }
    this.lossFn = loss.native;
    this.addon = nativeAddon();
    this.net = NativeMlp.fromClassifier(classifier);
    this.optimizer = new NativeOptimizer(this.net, optimizer);
  }

  step(batch: Minibatch, learningRate: number, describeBatch: () => string) {
    const n = batch.size;
    const z = this.net.forward(batch.x, n);
    const dz = this.net.logitGradBuffer(n);
    const { loss, numCorrect } = this.lossFn(this.addon, z, dz, batch, this.net.shape.numSenones);
    if (!Number.isFinite(loss)) throw nonFinite(loss, batch, describeBatch);
    this.net.backward(batch.x, n);
    this.optimizer.apply(learningRate);
    return { loss, numCorrect };
  }

  evaluate(source: FrameSource, opts: EvaluateOptions) {
    return evaluateFrameAccuracyNative(this.net, source, opts);
  }

  sync(): void {
    this.net.copyTo(this.classifier);
  }

  optimizerState() {
    return this.optimizer.saveState();
  }

  loadOptimizerState(header: OptimizerState, data: Uint8Array, where: string): void {
    this.optimizer.loadState(header, data, where);
  }

  protected newAverager(): Averager {
    return new NativeWeightAverager(this.net);
  }

  dispose(): void {
    this.disposeAverager();
    this.classifier.dispose();
  }
}
