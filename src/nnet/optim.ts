/**
 * Optimizers with state that can be saved and restored bit-exactly (for resume): SGD with
 * (heavy-ball) momentum, as PyTorch's SGD (v = mu v + g; w -= lr v), and Adam (Kingma & Ba 2015,
 * with bias correction). The learning rate is a plain number per step, so schedules (newbob)
 * just pass a new value.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../util/errors.ts';
import { ModelError } from './errors.ts';

export interface OptimizerOptions {
  /** 'sgd' (with momentum) or 'adam'. Default 'adam'. */
  kind: 'sgd' | 'adam';
  /** Initial learning rate. Default 0.001 (adam) / 0.05 (sgd) when not given. */
  learningRate?: number;
  /** SGD momentum. Default 0.9. */
  momentum: number;
  /** Adam decay rates and epsilon. Defaults 0.9, 0.999, 1e-8. */
  beta1: number;
  beta2: number;
  epsilon: number;
  /** L2 penalty added to the gradient (weight decay), per weight. Default 0. */
  l2: number;
}

export const DEFAULT_OPTIMIZER_OPTIONS: Readonly<OptimizerOptions> = Object.freeze({
  kind: 'adam',
  momentum: 0.9,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
  l2: 0,
});

export function defaultLearningRate(kind: OptimizerOptions['kind']): number {
  return kind === 'adam' ? 0.001 : 0.05;
}

/** Serialised optimizer state: JSON header + float32 slot values in one buffer. */
export interface OptimizerState {
  kind: OptimizerOptions['kind'];
  step: number;
  /** Slot shapes, in order (adam: m then v per variable; sgd: velocity per variable). */
  shapes: number[][];
}

/** Float32 arrays concatenated in order, as bytes (checkpoint state: optimizer slots, weight average). */
export function concatFloat32(arrays: readonly Float32Array[]): Uint8Array {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  let off = 0;
  for (const a of arrays) {
    out.set(a, off);
    off += a.length;
  }
  return new Uint8Array(out.buffer);
}

/**
 * Split `concatFloat32` bytes into consecutive pieces of the given sizes, handing each to `take`.
 * Throws a ModelError naming `where` (`what` is truncated) when the data ends before the pieces do.
 */
export function splitFloat32(
  sizes: readonly number[],
  data: Uint8Array,
  where: string,
  what: string,
  take: (i: number, values: Float32Array) => void,
): void {
  const floats = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  let off = 0;
  sizes.forEach((size, i) => {
    if (off + size > floats.length)
      throw new ModelError(`${what} is truncated`, {
        file: where,
        expected: `>= ${off + size} floats`,
        found: String(floats.length),
      });
    take(i, floats.subarray(off, off + size));
    off += size;
  });
}

/** Tensors' float32 values concatenated in order, as bytes. */
export function packFloat32(tensors: tf.Tensor[]): Uint8Array {
  return concatFloat32(tensors.map((t) => t.dataSync() as Float32Array));
}

/** Assign `packFloat32` bytes back to variables of the same shapes, in order (see splitFloat32). */
export function unpackFloat32Into(vars: tf.Variable[], data: Uint8Array, where: string, what: string): void {
  splitFloat32(
    vars.map((v) => v.size),
    data,
    where,
    what,
    (i, values) => tf.tidy(() => vars[i].assign(tf.tensor(values, vars[i].shape))),
  );
}

export const sameShapes = (a: readonly number[][], b: readonly number[][]): boolean =>
  a.length === b.length && a.every((sh, i) => sh.join('x') === b[i].join('x'));

/**
 * Throw ModelError (naming `where`) unless a saved optimizer state is of `kind` with these slot
 * shapes. For both engines' optimizers (same state format).
 */
export function checkOptimizerState(
  header: OptimizerState,
  kind: OptimizerOptions['kind'],
  slotShapes: readonly number[][],
  where: string,
): void {
  if (header.kind !== kind || !sameShapes(header.shapes, slotShapes)) {
    throw new ModelError('optimizer state does not fit this model and optimizer', {
      file: where,
      expected: `${kind} with ${slotShapes.length} slots`,
      found: `${header.kind} with ${header.shapes.length} slots`,
    });
  }
}

export class Optimizer {
  readonly options: OptimizerOptions;
  private readonly vars: tf.Variable[];
  private slots: tf.Variable[];
  step = 0;

  constructor(vars: tf.Variable[], opts: Partial<OptimizerOptions> = {}) {
    this.options = { ...DEFAULT_OPTIMIZER_OPTIONS, ...opts };
    if (this.options.kind !== 'sgd' && this.options.kind !== 'adam') {
      throw new ConfigError('unknown optimizer', {
        keyPath: 'optimizer.kind',
        expected: "'sgd' or 'adam'",
        found: String(this.options.kind),
      });
    }
    this.vars = vars;
    const perVar = this.options.kind === 'adam' ? 2 : 1;
    this.slots = [];
    for (let k = 0; k < perVar; k++) for (const v of vars) this.slots.push(tf.variable(tf.zerosLike(v), false));
  }

  /** One update with gradients in the order of the variables. */
  apply(grads: tf.Tensor[], learningRate: number): void {
    const o = this.options;
    this.step++;
    tf.tidy(() => {
      const n = this.vars.length;
      for (let i = 0; i < n; i++) {
        const w = this.vars[i];
        let g = grads[i];
        if (o.l2 > 0) g = tf.add(g, tf.mul(w, o.l2));
        if (o.kind === 'sgd') {
          const v = this.slots[i];
          const vNew = tf.add(tf.mul(v, o.momentum), g);
          v.assign(vNew);
          w.assign(tf.sub(w, tf.mul(vNew, learningRate)));
        } else {
          const m = this.slots[i],
            v = this.slots[n + i];
          const mNew = tf.add(tf.mul(m, o.beta1), tf.mul(g, 1 - o.beta1));
          const vNew = tf.add(tf.mul(v, o.beta2), tf.mul(tf.square(g), 1 - o.beta2));
          m.assign(mNew);
          v.assign(vNew);
          const c1 = 1 - Math.pow(o.beta1, this.step);
          const c2 = 1 - Math.pow(o.beta2, this.step);
          const stepSize = (learningRate * Math.sqrt(c2)) / c1;
          w.assign(tf.sub(w, tf.mul(tf.div(mNew, tf.add(tf.sqrt(vNew), o.epsilon * Math.sqrt(c2))), stepSize)));
        }
      }
    });
  }

  /** State for a checkpoint: header (JSON) and slot values (float32, concatenated). */
  saveState(): { header: OptimizerState; data: Uint8Array } {
    return {
      header: { kind: this.options.kind, step: this.step, shapes: this.slots.map((s) => s.shape) },
      data: packFloat32(this.slots),
    };
  }

  loadState(header: OptimizerState, data: Uint8Array, where: string): void {
    checkOptimizerState(
      header,
      this.options.kind,
      this.slots.map((s) => s.shape),
      where,
    );
    unpackFloat32Into(this.slots, data, where, 'optimizer state');
    this.step = header.step;
  }

  dispose(): void {
    tf.dispose(this.slots);
    this.slots = [];
  }
}
