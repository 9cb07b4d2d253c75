import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import {
  SOFT_IDS,
  SOFT_PROBS,
  SOFT_RESIDUAL,
  batchSoftTargets,
  distillationLoss,
  distillationLossFn,
  distillationLossTerms,
  meanTargetEntropy,
  rowHardWeights,
  type BatchSoftTargets,
  type DistillationLossOptions,
} from '../../src/distill/loss.ts';
import { sparseToDense, type SparseBatchTargets } from '../../src/distill/store.ts';
import { softmaxRows } from '../../src/util/softmax.ts';
import { topKRows } from '../../src/distill/topk.ts';
import { initBackend, type BackendName } from '../../src/nnet/backend.ts';
import type { Minibatch } from '../../src/nnet/data.ts';
import { ConfigError, FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { expectClose, randomLogits } from './helpers.ts';

const n = 5,
  S = 7,
  k = 3;

/** Float64 reference of the loss (the formula, written out). */
function referenceLoss(
  z: ArrayLike<number>,
  P: ArrayLike<number>,
  labels: ArrayLike<number> | null,
  o: DistillationLossOptions,
): number {
  const T = o.temperature;
  const lqT = Array.from(softmaxRows(z, n, S, T), Math.log);
  const lq1 = Array.from(softmaxRows(z, n, S, 1), Math.log);
  let soft = 0,
    hard = 0,
    h = 0;
  for (let f = 0; f < n; f++) {
    for (let s = 0; s < S; s++) {
      const p = P[f * S + s];
      soft -= p * lqT[f * S + s];
      if (p > 0) h -= p * Math.log(p);
    }
    if (labels) hard -= lq1[f * S + labels[f]];
  }
  soft /= n;
  hard /= n;
  if (o.softTerm === 'kl') soft -= h / n;
  const total = T * T * soft + o.hardWeight * hard;
  return o.normalisation === 'convex' ? total / (1 + o.hardWeight) : total;
}

/** Float64 reference with a hard-label weight per frame (the copiesHardWeight formula, written out). */
function referenceRowLoss(
  z: ArrayLike<number>,
  P: ArrayLike<number>,
  labels: ArrayLike<number>,
  w: ArrayLike<number>,
  o: DistillationLossOptions,
): number {
  const T = o.temperature;
  const lqT = Array.from(softmaxRows(z, n, S, T), Math.log);
  const lq1 = Array.from(softmaxRows(z, n, S, 1), Math.log);
  let total = 0;
  for (let f = 0; f < n; f++) {
    let soft = 0,
      h = 0;
    for (let s = 0; s < S; s++) {
      const p = P[f * S + s];
      soft -= p * lqT[f * S + s];
      if (p > 0) h -= p * Math.log(p);
    }
    if (o.softTerm === 'kl') soft -= h;
    const row = T * T * soft - w[f] * lq1[f * S + labels[f]];
    total += o.normalisation === 'convex' ? row / (1 + w[f]) : row;
  }
  return total / n;
}

function fullOptions(o: Partial<DistillationLossOptions>): DistillationLossOptions {
  return { temperature: 1, hardWeight: 0.5, normalisation: 'sum', softTerm: 'cross-entropy', densify: 'device', ...o };
}

/** Sparse top-k targets of a random teacher distribution, renormalised or with the residual. */
function sparseTargets(rng: Rng, withResidual: boolean): SparseBatchTargets {
  const p = softmaxRows(randomLogits(rng, n, S, 2), n, S);
  const top = topKRows(p, n, S, k);
  const probs = new Float32Array(n * k);
  for (let f = 0; f < n; f++)
    for (let j = 0; j < k; j++)
      probs[f * k + j] = withResidual ? top.probs[f * k + j] : top.probs[f * k + j] / top.keptMass[f];
  return { k, ids: top.ids, probs, residual: withResidual ? Float32Array.from(top.keptMass, (m) => 1 - m) : null };
}

function dense(t: BatchSoftTargets): Float32Array {
  return 'dense' in t ? t.dense : sparseToDense(t, S);
}

function gradOf(
  z: Float32Array,
  t: BatchSoftTargets,
  labels: Int32Array | null,
  o: Partial<DistillationLossOptions>,
): Float32Array {
  const g = tf.grad((x: tf.Tensor) => distillationLoss(x as tf.Tensor2D, t, labels, o));
  const zt = tf.tensor2d(z, [n, S]);
  const out = g(zt);
  const v = out.dataSync() as Float32Array;
  tf.dispose([zt, out]);
  return Float32Array.from(v);
}

function rowGradOf(
  z: Float32Array,
  t: BatchSoftTargets,
  labels: Int32Array | null,
  o: Partial<DistillationLossOptions>,
  w: Float32Array,
): Float32Array {
  const g = tf.grad((x: tf.Tensor) => distillationLoss(x as tf.Tensor2D, t, labels, o, w));
  const zt = tf.tensor2d(z, [n, S]);
  const out = g(zt);
  const v = out.dataSync() as Float32Array;
  tf.dispose([zt, out]);
  return Float32Array.from(v);
}

function lossOf(
  z: Float32Array,
  t: BatchSoftTargets,
  labels: Int32Array | null,
  o: Partial<DistillationLossOptions>,
  w: Float32Array | null = null,
): number {
  const zt = tf.tensor2d(z, [n, S]);
  const l = distillationLoss(zt, t, labels, o, w);
  const v = l.dataSync()[0];
  tf.dispose([zt, l]);
  return v;
}

describe.each(['cpu', 'wasm'] as BackendName[])('distillation loss on the %s backend', (backend) => {
  beforeAll(async () => {
    await initBackend({ backend, quiet: true });
  });
  const rng = new Rng(21);
  const z = randomLogits(rng, n, S, 1.5);
  const labels = Int32Array.from({ length: n }, () => rng.int(S));
  const targets: [string, BatchSoftTargets][] = [
    ['dense', { dense: Float32Array.from(softmaxRows(randomLogits(rng, n, S, 2), n, S)) }],
    ['top-k renormalised', sparseTargets(rng, false)],
    ['top-k with residual', sparseTargets(rng, true)],
  ];

  it('equals the formula T^2 CE(p, softmax(z/T)) + w CE(y, softmax(z)) (float64 reference)', () => {
    for (const [name, t] of targets) {
      for (const o of [
        { temperature: 1, hardWeight: 0.5 },
        { temperature: 2, hardWeight: 0.5 },
        { temperature: 5, hardWeight: 0 },
        { temperature: 2, hardWeight: 0.5, normalisation: 'convex' as const },
        { temperature: 2, softTerm: 'kl' as const },
      ]) {
        const want = referenceLoss(z, dense(t), labels, fullOptions(o));
        expect(Math.abs(lossOf(z, t, labels, o) - want), `${name} ${JSON.stringify(o)}`).toBeLessThan(
          2e-6 * Math.max(1, Math.abs(want)),
        );
      }
    }
  });

  it('has TF.js gradients equal to finite differences of the reference', () => {
    const eps = 1e-5;
    for (const [name, t] of targets) {
      for (const o of [
        { temperature: 1, hardWeight: 0.5 },
        { temperature: 2, hardWeight: 0.5, normalisation: 'convex' as const },
        { temperature: 5, hardWeight: 0.3 },
      ]) {
        const full = fullOptions(o);
        const fd = new Float64Array(n * S);
        const P = dense(t);
        for (let i = 0; i < n * S; i++) {
          const zp = Float64Array.from(z),
            zm = Float64Array.from(z);
          zp[i] += eps;
          zm[i] -= eps;
          fd[i] = (referenceLoss(zp, P, labels, full) - referenceLoss(zm, P, labels, full)) / (2 * eps);
        }
        expectClose(gradOf(z, t, labels, o), fd, 2e-6, `gradient, ${name}, ${JSON.stringify(o)}`);
      }
    }
  });

  it("has the soft term's gradient T (softmax(z/T) - p) per frame (with the T^2 factor)", () => {
    for (const [name, t] of targets) {
      for (const T of [1, 2, 5, 10]) {
        const q = softmaxRows(z, n, S, T);
        const P = dense(t);
        const want = Array.from(q, (qi, i) => (T * (qi - P[i])) / n); // mean over the n frames
        expectClose(gradOf(z, t, null, { temperature: T, hardWeight: 0 }), want, 2e-7 * T, `${name}, T = ${T}`);
      }
    }
  });

  it('gives the same loss and gradients for sparse targets densified on the device or in JS', () => {
    for (const [name, t] of targets.slice(1)) {
      const o = { temperature: 2 };
      expectClose(
        gradOf(z, t, labels, { ...o, densify: 'cpu' }),
        gradOf(z, t, labels, { ...o, densify: 'device' }),
        1e-7,
        name,
      );
      expect(lossOf(z, t, labels, { ...o, densify: 'cpu' })).toBeCloseTo(
        lossOf(z, t, labels, { ...o, densify: 'device' }),
        6,
      );
    }
  });

  it("reports KL = CE - H(p) with 'kl' (0 for a student that matches the targets), with the same gradient", () => {
    const t = targets[2][1];
    const terms = distillationLossTerms(tf.tensor2d(z, [n, S]), t, labels, { temperature: 2, softTerm: 'kl' });
    const ce = distillationLossTerms(tf.tensor2d(z, [n, S]), t, labels, { temperature: 2 });
    expect(ce.soft.dataSync()[0] - terms.soft.dataSync()[0]).toBeCloseTo(meanTargetEntropy(t, n, S), 5);
    expectClose(
      gradOf(z, t, labels, { temperature: 2, softTerm: 'kl' }),
      gradOf(z, t, labels, { temperature: 2 }),
      1e-7,
      'kl vs ce gradient',
    );
    // A student whose softmax(z/T) is exactly p: KL 0.
    const p = dense(targets[0][1]);
    const zMatch = Float32Array.from(p, (v) => 2 * Math.log(v));
    expect(
      Math.abs(lossOf(zMatch, targets[0][1], null, { temperature: 2, hardWeight: 0, softTerm: 'kl' })),
    ).toBeLessThan(1e-5);
    tf.dispose([terms.soft, terms.total, terms.hard!, ce.soft, ce.total, ce.hard!]);
  });

  it("plugs into the src/nnet trainer as a LossFn reading the minibatch's soft-target arrays", () => {
    const t = targets[2][1] as SparseBatchTargets;
    const batch: Minibatch = {
      size: n,
      x: new Float32Array(0),
      inputDim: 0,
      labels,
      uttIds: ['u'],
      rowUtt: new Int32Array(n),
      rowFrame: Int32Array.from({ length: n }, (_, i) => i),
      extras: {
        [SOFT_IDS]: { dim: k, data: Int32Array.from(t.ids) },
        [SOFT_PROBS]: { dim: k, data: t.probs },
        [SOFT_RESIDUAL]: { dim: 1, data: t.residual! },
      },
    };
    const fn = distillationLossFn({ temperature: 2 }, k);
    const zt = tf.tensor2d(z, [n, S]);
    const l = fn(zt, batch);
    expect(l.dataSync()[0]).toBeCloseTo(lossOf(z, t, labels, { temperature: 2 }), 6);
    expect(() => distillationLossFn({ temperature: 2 }, k + 1)(zt, batch)).toThrow(
      /another top-k width; expected k = 4, found k = 3/,
    );
    expect(() => batchSoftTargets({ ...batch, extras: {} })).toThrow(ConfigError);
    tf.dispose([zt, l]);
  });

  it("gives the VTLP copies' frames their own hard-label weight (per-row formula, float64 reference and finite differences)", () => {
    // Rows 0, 2 and 4 belong to copies (vtlp0.9-a, vtlp1.1-b), rows 1 and 3 to the original a.
    const batch = { size: n, uttIds: ['vtlp0.9-a', 'a', 'vtlp1.1-b'], rowUtt: Int32Array.from([0, 1, 2, 1, 0]) };
    const w = rowHardWeights(fullOptions({ hardWeight: 0.5, copiesHardWeight: 0 }), batch)!;
    expect(Array.from(w)).toEqual([0, 0.5, 0, 0.5, 0]);
    expect(rowHardWeights(fullOptions({ hardWeight: 0.5 }), batch), 'absent: the scalar formula').toBeNull();
    expect(
      rowHardWeights(fullOptions({ hardWeight: 0.5, copiesHardWeight: 0.5 }), batch),
      'equal: the scalar formula',
    ).toBeNull();
    const eps = 1e-5;
    for (const [name, t] of targets) {
      const P = dense(t);
      for (const o of [
        { temperature: 2, hardWeight: 0.5 },
        { temperature: 1, hardWeight: 0.3, normalisation: 'convex' as const },
        { temperature: 2, hardWeight: 0.5, softTerm: 'kl' as const },
        { temperature: 2, hardWeight: 0.5, normalisation: 'convex' as const, softTerm: 'kl' as const },
      ]) {
        const full = fullOptions(o);
        const want = referenceRowLoss(z, P, labels, w, full);
        expect(Math.abs(lossOf(z, t, labels, o, w) - want), `${name} ${JSON.stringify(o)}`).toBeLessThan(
          2e-6 * Math.max(1, Math.abs(want)),
        );
        const fd = new Float64Array(n * S);
        for (let i = 0; i < n * S; i++) {
          const zp = Float64Array.from(z),
            zm = Float64Array.from(z);
          zp[i] += eps;
          zm[i] -= eps;
          fd[i] = (referenceRowLoss(zp, P, labels, w, full) - referenceRowLoss(zm, P, labels, w, full)) / (2 * eps);
        }
        expectClose(rowGradOf(z, t, labels, o, w), fd, 2e-6, `row-weight gradient, ${name}, ${JSON.stringify(o)}`);
        // Every row at the same weight: the scalar formula, to float precision.
        const same = new Float32Array(n).fill(o.hardWeight);
        expect(lossOf(z, t, labels, o, same)).toBeCloseTo(lossOf(z, t, labels, o), 5);
        expectClose(rowGradOf(z, t, labels, o, same), gradOf(z, t, labels, o), 1e-7, `uniform row weights, ${name}`);
      }
      // Weight 0 on a copy's row: its label does not matter; on an original's row it does.
      const moved = Int32Array.from(labels);
      moved[0] = (labels[0] + 1) % S;
      expect(lossOf(z, t, moved, { temperature: 2 }, w)).toBeCloseTo(lossOf(z, t, labels, { temperature: 2 }, w), 6);
      moved[1] = (labels[1] + 1) % S;
      expect(
        Math.abs(lossOf(z, t, moved, { temperature: 2 }, w) - lossOf(z, t, labels, { temperature: 2 }, w)),
      ).toBeGreaterThan(1e-4);
    }
    // All rows at weight 0 need no labels.
    expect(Number.isFinite(lossOf(z, targets[0][1], null, { temperature: 2 }, new Float32Array(n)))).toBe(true);
  });

  it("applies copiesHardWeight through the LossFn from the minibatch's utterance ids", () => {
    const t = targets[2][1] as SparseBatchTargets;
    const batch: Minibatch = {
      size: n,
      x: new Float32Array(0),
      inputDim: 0,
      labels,
      uttIds: ['vtlp0.9-a', 'a'],
      rowUtt: Int32Array.from([0, 1, 0, 1, 1]),
      rowFrame: Int32Array.from({ length: n }, (_, i) => i),
      extras: {
        [SOFT_IDS]: { dim: k, data: Int32Array.from(t.ids) },
        [SOFT_PROBS]: { dim: k, data: t.probs },
        [SOFT_RESIDUAL]: { dim: 1, data: t.residual! },
      },
    };
    const zt = tf.tensor2d(z, [n, S]);
    const l = distillationLossFn({ temperature: 2, copiesHardWeight: 0 }, k)(zt, batch);
    expect(l.dataSync()[0]).toBeCloseTo(
      referenceRowLoss(z, dense(t), labels, [0, 0.5, 0, 0.5, 0.5], fullOptions({ temperature: 2 })),
      5,
    );
    const plain = distillationLossFn({ temperature: 2 }, k)(zt, batch);
    expect(Math.abs(plain.dataSync()[0] - l.dataSync()[0])).toBeGreaterThan(1e-4);
    tf.dispose([zt, l, plain]);
  });

  it('rejects bad options and inconsistent targets with typed errors', () => {
    const zt = tf.tensor2d(z, [n, S]);
    const t = targets[1][1] as SparseBatchTargets;
    expect(() => distillationLoss(zt, t, null, { hardWeight: 0.5 })).toThrow(/hard-label term needs labels/);
    expect(() => distillationLoss(zt, t, labels, { temperature: -1 })).toThrow(ConfigError);
    expect(() => distillationLoss(zt, t, labels, { hardWeigth: 1 } as never)).toThrow(
      /unknown distillation loss option/,
    );
    expect(() => distillationLoss(zt, t, labels, { normalisation: 'mean' as never })).toThrow(ConfigError);
    expect(() => distillationLoss(zt, { ...t, ids: t.ids.map(() => S) }, labels)).toThrow(FormatError);
    expect(() => distillationLoss(zt, { ...t, probs: t.probs.subarray(1) }, labels)).toThrow(/wrong size/);
    expect(() => distillationLoss(zt, { dense: new Float32Array(3) }, labels)).toThrow(FormatError);
    expect(() => distillationLoss(zt, t, labels, { copiesHardWeight: -1 })).toThrow(
      /bad hard-label weight of the VTLP copies/,
    );
    expect(() => distillationLoss(zt, t, labels, { copiesHardWeight: Number.NaN })).toThrow(ConfigError);
    expect(() => distillationLoss(zt, t, labels, {}, new Float32Array(n - 1))).toThrow(
      /per-row hard-label weights and logits differ in rows/,
    );
    expect(() => distillationLoss(zt, t, null, {}, Float32Array.from([0, 0, 0.5, 0, 0]))).toThrow(
      /hard-label term needs labels/,
    );
    zt.dispose();
  });
});
