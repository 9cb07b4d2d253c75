/**
 * Running average of a model's weights over the last part of training (stochastic weight
 * averaging, Izmailov et al. 2018; icefall's averaged model): after every optimisation step from
 * the start of epoch `averageFromEpoch` on, avg += (w - avg) / n. The final model is the average,
 * which sits nearer the centre of the flat region the late, small-step updates wander in than any
 * one end-of-epoch point. The classifier has no batch normalisation, so the averaged weights need
 * no statistics re-estimated.
 *
 * The state goes into every checkpoint (average.json + average.bin, float32 concatenated in
 * variable order), so a resumed run ends with the same bytes as an uninterrupted one.
 */
import * as tf from '@tensorflow/tfjs';
import { ModelError } from './errors.ts';
import { packFloat32, sameShapes, unpackFloat32Into } from './optim.ts';

export const AVERAGE_JSON = 'average.json';
export const AVERAGE_BIN = 'average.bin';

export interface WeightAverageHeader {
  /** Optimisation steps averaged so far. */
  updates: number;
  /** Epoch of the first averaged step (null before any). */
  fromEpoch: number | null;
  shapes: number[][];
}

/**
 * Throw ModelError (naming `where`) unless a saved weight average has these variable shapes, a
 * valid update count and exactly their floats. For both engines' averages (same state format).
 */
export function checkWeightAverageState(
  header: WeightAverageHeader,
  data: Uint8Array,
  shapes: readonly number[][],
  where: string,
): void {
  if (!sameShapes(header.shapes, shapes) || !Number.isInteger(header.updates) || header.updates < 0) {
    throw new ModelError('weight average does not fit this model', {
      file: where,
      expected: `${shapes.length} variables of shapes ${shapes.map((s) => s.join('x')).join(', ')}`,
      found: `${header.shapes.length} variables, ${header.updates} updates`,
    });
  }
  const need = shapes.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
  if (data.byteLength !== 4 * need)
    throw new ModelError('weight average is truncated', {
      file: where,
      expected: `${need} floats`,
      found: String(data.byteLength / 4),
    });
}

export class WeightAverager {
  private avg: tf.Variable[];
  updates = 0;
  fromEpoch: number | null = null;

  constructor(vars: tf.Variable[]) {
    this.avg = vars.map((v) => tf.variable(tf.zerosLike(v), false));
  }

  /** Fold the current weights into the average (one optimisation step of epoch `epoch`). */
  update(vars: tf.Variable[], epoch: number): void {
    if (vars.length !== this.avg.length)
      throw new ModelError('weight average does not fit the model', {
        expected: `${this.avg.length} variables`,
        found: String(vars.length),
      });
    this.updates++;
    if (this.fromEpoch === null) this.fromEpoch = epoch;
    const rate = 1 / this.updates;
    tf.tidy(() => {
      for (let i = 0; i < vars.length; i++)
        this.avg[i].assign(tf.add(this.avg[i], tf.mul(tf.sub(vars[i], this.avg[i]), rate)));
    });
  }

  /** Copy the average into `vars` (the model's weights). */
  assignTo(vars: tf.Variable[]): void {
    if (this.updates === 0)
      throw new ModelError('no weights averaged yet', { expected: 'at least one averaged step', found: '0' });
    for (let i = 0; i < vars.length; i++) vars[i].assign(this.avg[i]);
  }

  saveState(): { header: WeightAverageHeader; data: Uint8Array } {
    return {
      header: { updates: this.updates, fromEpoch: this.fromEpoch, shapes: this.avg.map((a) => a.shape) },
      data: packFloat32(this.avg),
    };
  }

  loadState(header: WeightAverageHeader, data: Uint8Array, where: string): void {
    checkWeightAverageState(
      header,
      data,
      this.avg.map((a) => a.shape),
      where,
    );
    unpackFloat32Into(this.avg, data, where, 'weight average');
    this.updates = header.updates;
    this.fromEpoch = header.fromEpoch;
  }

  dispose(): void {
    tf.dispose(this.avg);
    this.avg = [];
  }
}
