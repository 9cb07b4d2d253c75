/**
 * The frame classifier: spliced log-mel frames -> L hidden ReLU layers of H units -> senone logits
 * -> softmax. The saved TF.js model outputs posteriors (layer 'posteriors'); the layer 'logits'
 * is exposed so soft targets at temperature T are softmax(logits / T).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/rng.ts';
import { ConfigError } from '../util/errors.ts';
import { ModelError } from './errors.ts';

export interface FrameClassifierShape {
  /** Spliced input dimension, featureDim x (left + 1 + right). */
  inputDim: number;
  /** Hidden ReLU layers (L). */
  hiddenLayers: number;
  /** Units per hidden layer (H). */
  hiddenUnits: number;
  /** Output classes (senones). */
  numSenones: number;
}

export const INPUT_NAME = 'frames';
export const LOGITS_LAYER = 'logits';
export const POSTERIORS_LAYER = 'posteriors';
export const hiddenLayerName = (i: number): string => `hidden${i + 1}`;

/** A model plus a view of it that stops at the logits (same weights). */
export class FrameClassifier {
  readonly model: tf.LayersModel;
  readonly logitsModel: tf.LayersModel;
  readonly shape: FrameClassifierShape;

  constructor(model: tf.LayersModel) {
    this.model = model;
    let logitsLayer: tf.layers.Layer;
    try {
      logitsLayer = model.getLayer(LOGITS_LAYER);
    } catch {
      throw new ModelError(`model has no '${LOGITS_LAYER}' layer`, {
        expected: `layers ${hiddenLayerName(0)}.., ${LOGITS_LAYER}, ${POSTERIORS_LAYER}`,
        found: model.layers.map((l) => l.name).join(', '),
      });
    }
    this.logitsModel = tf.model({ inputs: model.inputs, outputs: logitsLayer.output as tf.SymbolicTensor });
    const inputDim = model.inputs[0].shape[1] as number;
    const hidden = model.layers.filter((l) => /^hidden\d+$/.test(l.name));
    const numSenones = (logitsLayer.outputShape as number[])[1];
    this.shape = {
      inputDim,
      hiddenLayers: hidden.length,
      hiddenUnits: hidden.length ? (hidden[0].outputShape as number[])[1] : 0,
      numSenones,
    };
  }

  /** Trainable variables in layer order (kernel, bias per layer). */
  get variables(): tf.Variable[] {
    return this.model.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  /** Logits for a batch [n, inputDim] -> [n, numSenones]. */
  logits(x: tf.Tensor2D, training = false): tf.Tensor2D {
    return this.logitsModel.apply(x, { training }) as tf.Tensor2D;
  }

  /** Posteriors at temperature T: softmax(logits / T). T = 1 is the model's own output. */
  posteriors(x: tf.Tensor2D, temperature = 1): tf.Tensor2D {
    return tf.tidy(() => {
      const z = this.logits(x);
      return tf.softmax(temperature === 1 ? z : tf.div(z, temperature)) as tf.Tensor2D;
    });
  }

  /** Number of parameters. */
  get numParams(): number {
    return this.model.countParams();
  }

  /** Copies of all weights as float32 arrays, layer order (for comparisons and checksums). */
  weightArrays(): Float32Array[] {
    return this.model
      .getWeights()
      .map((w) => w.dataSync() as Float32Array)
      .map((a) => Float32Array.from(a));
  }

  dispose(): void {
    this.model.dispose();
  }
}

export function validateShape(s: FrameClassifierShape): void {
  for (const k of ['inputDim', 'hiddenUnits', 'numSenones'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1)
      throw new ConfigError('bad model size', { keyPath: k, expected: 'an integer >= 1', found: String(s[k]) });
  }
  if (!Number.isInteger(s.hiddenLayers) || s.hiddenLayers < 0)
    throw new ConfigError('bad model size', {
      keyPath: 'hiddenLayers',
      expected: 'an integer >= 0',
      found: String(s.hiddenLayers),
    });
}

/** The layer graph with fixed names, weights uninitialised (zeros). */
export function buildTopology(s: FrameClassifierShape): tf.LayersModel {
  validateShape(s);
  const input = tf.input({ shape: [s.inputDim], name: INPUT_NAME });
  let h: tf.SymbolicTensor = input;
  for (let i = 0; i < s.hiddenLayers; i++) {
    h = tf.layers
      .dense({ units: s.hiddenUnits, activation: 'relu', name: hiddenLayerName(i), kernelInitializer: 'zeros' })
      .apply(h) as tf.SymbolicTensor;
  }
  const logits = tf.layers
    .dense({ units: s.numSenones, activation: 'linear', name: LOGITS_LAYER, kernelInitializer: 'zeros' })
    .apply(h) as tf.SymbolicTensor;
  const post = tf.layers
    .activation({ activation: 'softmax', name: POSTERIORS_LAYER })
    .apply(logits) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: post, name: 'frame_classifier' });
}

/**
 * A new classifier with seeded weights: Glorot-uniform kernels (limit sqrt(6 / (fanIn + fanOut)),
 * as Keras' default) drawn from our own Rng so the same seed gives the same bytes on every backend;
 * zero biases.
 */
export function createFrameClassifier(s: FrameClassifierShape, seed: number): FrameClassifier {
  const model = buildTopology(s);
  const rng = new Rng(`${seed}:init`);
  const dims = [s.inputDim, ...Array<number>(s.hiddenLayers).fill(s.hiddenUnits), s.numSenones];
  const weights: tf.Tensor[] = [];
  for (let l = 0; l + 1 < dims.length; l++) {
    const fanIn = dims[l],
      fanOut = dims[l + 1];
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    const k = new Float32Array(fanIn * fanOut);
    for (let i = 0; i < k.length; i++) k[i] = (rng.next() * 2 - 1) * limit;
    weights.push(tf.tensor2d(k, [fanIn, fanOut]), tf.zeros([fanOut]));
  }
  model.setWeights(weights);
  tf.dispose(weights);
  return new FrameClassifier(model);
}
