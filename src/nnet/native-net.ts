/**
 * The frame classifier on the native CPU engine: the same network as model.ts (spliced frames ->
 * L ReLU layers -> logits), its weights in plain Float32Arrays that the addon reads and updates in
 * place. Forward, backward, the optimizer (Adam, SGD-momentum: the formulas of optim.ts) and the
 * weight average (average.ts) run in native code; GEMMs in the BLAS.
 *
 * The TF.js model stays the format: weights come from and go back to a FrameClassifier in its
 * variable order (kernel [in, out], bias [out], per layer), and optimizer and average state are
 * serialised exactly as optim.ts and average.ts do, so checkpoints move between engines.
 */
import * as tf from '@tensorflow/tfjs';
import type { FrameClassifier, FrameClassifierShape } from './model.ts';
import { nativeAddon, type NativeAddon } from './native.ts';
import { ModelError } from './errors.ts';
import {
  DEFAULT_OPTIMIZER_OPTIONS,
  checkOptimizerState,
  concatFloat32,
  splitFloat32,
  type OptimizerOptions,
  type OptimizerState,
} from './optim.ts';
import { checkWeightAverageState, type WeightAverageHeader } from './average.ts';

/** Layer sizes [in, h, ..., h, out] of a shape. */
export function layerDims(s: FrameClassifierShape): number[] {
  return [s.inputDim, ...Array<number>(s.hiddenLayers).fill(s.hiddenUnits), s.numSenones];
}

export class NativeMlp {
  readonly shape: FrameClassifierShape;
  readonly dims: number[];
  /** Parameters in TF.js variable order: kernel0, bias0, kernel1, bias1, ... */
  readonly params: Float32Array[];
  /** Gradients, same layout as params. */
  readonly grads: Float32Array[];
  private readonly addon: NativeAddon;
  /** acts[l]: output of layer l (post-ReLU for hidden layers, logits for the last), capacity rows. */
  private acts: Float32Array[] = [];
  private delta: [Float32Array, Float32Array] = [new Float32Array(0), new Float32Array(0)];
  private capacity = 0;
  private readonly maxWidth: number;

  constructor(shape: FrameClassifierShape, params?: Float32Array[]) {
    this.addon = nativeAddon();
    this.shape = shape;
    this.dims = layerDims(shape);
    this.maxWidth = Math.max(...this.dims);
    this.params = [];
    for (let l = 0; l + 1 < this.dims.length; l++)
      this.params.push(new Float32Array(this.dims[l] * this.dims[l + 1]), new Float32Array(this.dims[l + 1]));
    this.grads = this.params.map((p) => new Float32Array(p.length));
    if (params) this.setParams(params);
  }

  /** A native copy of a TF.js classifier's weights. */
  static fromClassifier(c: FrameClassifier): NativeMlp {
    return new NativeMlp(c.shape, c.weightArrays());
  }

  get numLayers(): number {
    return this.dims.length - 1;
  }

  setParams(params: readonly Float32Array[]): void {
    if (params.length !== this.params.length)
      throw new ModelError('weights do not fit the native network', {
        expected: `${this.params.length} arrays`,
        found: String(params.length),
      });
    params.forEach((p, i) => {
      if (p.length !== this.params[i].length)
        throw new ModelError('weights do not fit the native network', {
          expected: `${this.params[i].length} values in array ${i}`,
          found: String(p.length),
        });
      this.params[i].set(p);
    });
  }

  /** Copy the weights into a TF.js classifier of the same shape (for saving). */
  copyTo(c: FrameClassifier): void {
    const vars = c.variables;
    if (vars.length !== this.params.length)
      throw new ModelError('classifier does not fit the native network', {
        expected: `${this.params.length} variables`,
        found: String(vars.length),
      });
    const ts = this.params.map((p, i) => tf.tensor(p, vars[i].shape));
    c.model.setWeights(ts);
    tf.dispose(ts);
  }

  private ensureCapacity(n: number): void {
    if (n <= this.capacity) return;
    const cap = Math.max(n, this.capacity * 2);
    this.acts = this.dims.slice(1).map((d) => new Float32Array(cap * d));
    this.delta = [new Float32Array(cap * this.maxWidth), new Float32Array(cap * this.maxWidth)];
    this.capacity = cap;
  }

  /** Logits of n rows of x [n x inputDim]; a view into the network's buffer, valid until the next call. */
  forward(x: Float32Array, n: number): Float32Array {
    this.ensureCapacity(n);
    const a = this.addon;
    let input = x;
    for (let l = 0; l < this.numLayers; l++) {
      const din = this.dims[l],
        dout = this.dims[l + 1];
      const out = this.acts[l].subarray(0, n * dout);
      a.gemm(false, false, n, dout, din, 1, input.subarray(0, n * din), this.params[2 * l], 0, out);
      a.biasAct(out, this.params[2 * l + 1], n, dout, l + 1 < this.numLayers);
      input = out;
    }
    return input;
  }

  /** The buffer the loss writes dL/dlogits into, [n x numSenones]. */
  logitGradBuffer(n: number): Float32Array {
    this.ensureCapacity(n);
    return this.delta[0].subarray(0, n * this.shape.numSenones);
  }

  /**
   * Gradients of every parameter after `forward(x, n)`, from dL/dlogits in `logitGradBuffer(n)`.
   * The forward activations must be those of the same x.
   */
  backward(x: Float32Array, n: number): void {
    const a = this.addon;
    let cur = 0;
    for (let l = this.numLayers - 1; l >= 0; l--) {
      const din = this.dims[l],
        dout = this.dims[l + 1];
      const dz = this.delta[cur].subarray(0, n * dout);
      const input = l === 0 ? x.subarray(0, n * din) : this.acts[l - 1].subarray(0, n * din);
      a.gemm(true, false, din, dout, n, 1, input, dz, 0, this.grads[2 * l]);
      a.colSum(dz, n, dout, this.grads[2 * l + 1]);
      if (l > 0) {
        const dh = this.delta[1 - cur].subarray(0, n * din);
        a.gemm(false, true, n, din, dout, 1, dz, this.params[2 * l], 0, dh);
        a.reluBackward(dh, input, n * din);
        cur = 1 - cur;
      }
    }
  }
}

/** Adam / SGD-momentum on a NativeMlp's params, state laid out as optim.ts's Optimizer. */
export class NativeOptimizer {
  readonly options: OptimizerOptions;
  step = 0;
  private readonly slots: Float32Array[];
  private readonly addon: NativeAddon;

  constructor(
    private readonly net: NativeMlp,
    opts: Partial<OptimizerOptions> = {},
  ) {
    this.addon = nativeAddon();
    this.options = { ...DEFAULT_OPTIMIZER_OPTIONS, ...opts };
    const perVar = this.options.kind === 'adam' ? 2 : 1;
    this.slots = [];
    for (let k = 0; k < perVar; k++) for (const p of net.params) this.slots.push(new Float32Array(p.length));
  }

  /** One update with the net's current gradients. */
  apply(learningRate: number): void {
    const o = this.options;
    this.step++;
    const { params, grads } = this.net;
    const n = params.length;
    if (o.kind === 'sgd') {
      for (let i = 0; i < n; i++) this.addon.sgd(params[i], grads[i], this.slots[i], learningRate, o.momentum, o.l2);
      return;
    }
    const c1 = 1 - Math.pow(o.beta1, this.step);
    const c2 = 1 - Math.pow(o.beta2, this.step);
    const stepSize = (learningRate * Math.sqrt(c2)) / c1;
    const epsHat = o.epsilon * Math.sqrt(c2);
    for (let i = 0; i < n; i++)
      this.addon.adam(params[i], grads[i], this.slots[i], this.slots[n + i], stepSize, o.beta1, o.beta2, epsHat, o.l2);
  }

  saveState(): { header: OptimizerState; data: Uint8Array } {
    return {
      header: { kind: this.options.kind, step: this.step, shapes: this.slotShapes() },
      data: concatFloat32(this.slots),
    };
  }

  loadState(header: OptimizerState, data: Uint8Array, where: string): void {
    checkOptimizerState(header, this.options.kind, this.slotShapes(), where);
    splitFloat32(
      this.slots.map((a) => a.length),
      data,
      where,
      'optimizer state',
      (i, v) => this.slots[i].set(v),
    );
    this.step = header.step;
  }

  private slotShapes(): number[][] {
    const shapes = paramShapes(this.net);
    return this.options.kind === 'adam' ? [...shapes, ...shapes] : shapes;
  }
}

/** Running mean of a NativeMlp's params (average.ts's WeightAverager, same state format). */
export class NativeWeightAverager {
  private readonly avg: Float32Array[];
  private readonly addon: NativeAddon;
  updates = 0;
  fromEpoch: number | null = null;

  constructor(private readonly net: NativeMlp) {
    this.addon = nativeAddon();
    this.avg = net.params.map((p) => new Float32Array(p.length));
  }

  update(epoch: number): void {
    this.updates++;
    if (this.fromEpoch === null) this.fromEpoch = epoch;
    const rate = 1 / this.updates;
    this.net.params.forEach((p, i) => this.addon.averageInto(this.avg[i], p, rate));
  }

  /** Make the average the net's weights. */
  assign(): void {
    if (this.updates === 0)
      throw new ModelError('no weights averaged yet', { expected: 'at least one averaged step', found: '0' });
    this.net.setParams(this.avg);
  }

  saveState(): { header: WeightAverageHeader; data: Uint8Array } {
    return {
      header: { updates: this.updates, fromEpoch: this.fromEpoch, shapes: paramShapes(this.net) },
      data: concatFloat32(this.avg),
    };
  }

  loadState(header: WeightAverageHeader, data: Uint8Array, where: string): void {
    checkWeightAverageState(header, data, paramShapes(this.net), where);
    splitFloat32(
      this.avg.map((a) => a.length),
      data,
      where,
      'weight average',
      (i, v) => this.avg[i].set(v),
    );
    this.updates = header.updates;
    this.fromEpoch = header.fromEpoch;
  }

  /** Nothing to free (plain arrays); for the trainer's Averager interface. */
  dispose(): void {}
}

function paramShapes(net: NativeMlp): number[][] {
  const shapes: number[][] = [];
  for (let l = 0; l < net.numLayers; l++) shapes.push([net.dims[l], net.dims[l + 1]], [net.dims[l + 1]]);
  return shapes;
}
