/**
 * The distillation loss (Hinton et al. 2015, sections 2 and 4) in TF.js:
 *
 *   L = T^2 * E_soft + w * E_hard                      normalisation 'sum' (default)
 *   L = (T^2 * E_soft + w * E_hard) / (1 + w)          normalisation 'convex'
 *
 *   E_soft = mean over the batch's frames of CE(p, softmax(z / T)) = -sum_s p_s log softmax(z / T)_s
 *   E_hard = mean over the batch's frames of CE(onehot(y), softmax(z)) = -log softmax(z)_y
 *
 * p are the ensemble's soft targets at temperature T, y the forced-alignment senone, z the
 * student's logits. The T^2 factor keeps the soft term's gradients at the scale of the hard term's
 * (d E_soft / dz = (softmax(z/T) - p) / T per frame, so d(T^2 E_soft)/dz = T (softmax(z/T) - p)).
 * The paper puts a relative weight of 0.5 on the hard term: w = 0.5. 'convex' divides by 1 + w so
 * the overall gradient scale (and a good learning rate) does not change with w.
 * `softTerm: 'kl'` reports KL(p || q) = CE - H(p) instead of CE: same gradients, and 0 when the
 * student matches the targets. `softTerm: 'none'` drops the soft term: L = w E_hard (divided by
 * 1 + w when 'convex'), the targets unread. With w = 1 and 'sum' that is hard-label cross-entropy,
 * the loss of the distill stage's control (a baseline trained exactly as the student, soft targets
 * aside).
 *
 * `copiesHardWeight` gives the frames of VTLP copies (utterance ids `vtlp<w>-<source>`) their own
 * hard-label weight w_c, the other frames keeping w: per row r of the batch, with w_r its weight,
 *
 *   L = T^2 * mean_r CE_soft(r) + mean_r w_r CE_hard(r)                       'sum'
 *   L = mean_r (T^2 CE_soft(r) + w_r CE_hard(r)) / (1 + w_r)                  'convex'
 *
 * which is the formula above when every w_r = w. The copies' labels are their source's alignment
 * (stages.align.vtlpCopies inherit) or a GMM's on warped audio: w_c = 0 makes the copies a pure
 * transfer set (soft targets only) while the real recordings keep their hard labels.
 *
 * Sparse top-k targets are scattered to a dense [n, S] target per batch, on the device with
 * tf.scatterND (default) or in JS. (Gathering log-probabilities at the ids would avoid the dense
 * tensor, but the gradient of tf.gather needs UnsortedSegmentSum, which the wasm backend lacks;
 * the dense target is the size of the logits anyway.) A stored residual mass is spread uniformly
 * over the S - k senones not kept.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, FormatError } from '../util/errors.ts';
import type { LossFn, NativeLossFn, TrainLoss } from '../nnet/train.ts';
import type { Minibatch } from '../nnet/data.ts';
import type { SparseBatchTargets } from './store.ts';
import { vtlpSourceId } from '../features/perturb.ts';

/** Names of the per-frame arrays a soft-target source adds to utterances and minibatches. */
export const SOFT_IDS = 'soft_ids';
export const SOFT_PROBS = 'soft_probs';
export const SOFT_RESIDUAL = 'soft_residual';

export type LossNormalisation = 'sum' | 'convex';

export interface DistillationLossOptions {
  /** Temperature T of the soft term; must be the targets' T. Default 1. */
  temperature: number;
  /** Weight w of the hard-label term. Default 0.5 (the paper's relative weight). 0 drops it. */
  hardWeight: number;
  /** 'sum': T^2 E_soft + w E_hard (default); 'convex': the same divided by (1 + w). */
  normalisation: LossNormalisation;
  /** Value of the soft term: 'cross-entropy' (default), 'kl' (CE - H(p); same gradient) or 'none' (no soft term). */
  softTerm: 'cross-entropy' | 'kl' | 'none';
  /** Where sparse targets become dense: 'device' (tf.scatterND, default) or 'cpu'. */
  densify: 'device' | 'cpu';
  /**
   * Hard-label weight of the frames of VTLP copies (`vtlp<w>-<utt>`); absent: w, like every frame.
   * Absent from the resolved options unless set, so settings recorded before it stay the same.
   */
  copiesHardWeight?: number;
}

export const DEFAULT_DISTILLATION_LOSS_OPTIONS: Readonly<DistillationLossOptions> = Object.freeze({
  temperature: 1,
  hardWeight: 0.5,
  normalisation: 'sum',
  softTerm: 'cross-entropy',
  densify: 'device',
});

const LOSS_OPTION_KEYS = [...Object.keys(DEFAULT_DISTILLATION_LOSS_OPTIONS), 'copiesHardWeight'];

export function resolveDistillationLossOptions(o: Partial<DistillationLossOptions> = {}): DistillationLossOptions {
  for (const k of Object.keys(o)) {
    if (!LOSS_OPTION_KEYS.includes(k))
      throw new ConfigError('unknown distillation loss option', {
        keyPath: k,
        expected: LOSS_OPTION_KEYS.join(', '),
        found: k,
      });
  }
  const r: DistillationLossOptions = { ...DEFAULT_DISTILLATION_LOSS_OPTIONS, ...o };
  if (r.copiesHardWeight === undefined || r.copiesHardWeight === null) delete r.copiesHardWeight;
  else if (!(r.copiesHardWeight >= 0 && Number.isFinite(r.copiesHardWeight)))
    throw new ConfigError('bad hard-label weight of the VTLP copies', {
      keyPath: 'copiesHardWeight',
      expected: 'a finite number >= 0, or absent (the same as hardWeight)',
      found: String(r.copiesHardWeight),
    });
  if (!(r.temperature > 0 && Number.isFinite(r.temperature)))
    throw new ConfigError('bad temperature', {
      keyPath: 'temperature',
      expected: 'a finite number > 0',
      found: String(r.temperature),
    });
  if (!(r.hardWeight >= 0 && Number.isFinite(r.hardWeight)))
    throw new ConfigError('bad hard-label weight', {
      keyPath: 'hardWeight',
      expected: 'a finite number >= 0',
      found: String(r.hardWeight),
    });
  if (r.normalisation !== 'sum' && r.normalisation !== 'convex')
    throw new ConfigError('unknown loss normalisation', {
      keyPath: 'normalisation',
      expected: "'sum' or 'convex'",
      found: String(r.normalisation),
    });
  if (r.softTerm !== 'cross-entropy' && r.softTerm !== 'kl' && r.softTerm !== 'none')
    throw new ConfigError('unknown soft term', {
      keyPath: 'softTerm',
      expected: "'cross-entropy', 'kl' or 'none'",
      found: String(r.softTerm),
    });
  if (r.softTerm === 'none' && !(r.hardWeight > 0 || (r.copiesHardWeight ?? 0) > 0)) {
    throw new ConfigError('no loss: no soft term and no hard-label weight', {
      keyPath: 'hardWeight',
      expected: "a hard-label weight > 0 with softTerm 'none'",
      found: `hardWeight ${r.hardWeight}${r.copiesHardWeight !== undefined ? `, copiesHardWeight ${r.copiesHardWeight}` : ''}`,
    });
  }
  if (r.densify !== 'device' && r.densify !== 'cpu')
    throw new ConfigError('unknown densify mode', {
      keyPath: 'densify',
      expected: "'device' or 'cpu'",
      found: String(r.densify),
    });
  return r;
}

/** Soft targets of a batch: sparse top-k (rows x k) or dense (rows x S). */
export type BatchSoftTargets = SparseBatchTargets | { dense: Float32Array };

function isDense(t: BatchSoftTargets): t is { dense: Float32Array } {
  return (t as { dense?: Float32Array }).dense !== undefined;
}

/** Sizes of sparse targets against the batch's rows and the model's senones (FormatError). */
function checkSparseTargetShape(t: SparseBatchTargets, numRows: number, numSenones: number): void {
  if (t.ids.length !== numRows * t.k || t.probs.length !== numRows * t.k) {
    throw new FormatError('sparse soft targets have the wrong size', {
      expected: `${numRows} rows x k = ${t.k}`,
      found: `ids ${t.ids.length}, probs ${t.probs.length}`,
    });
  }
  if (t.k > numSenones)
    throw new FormatError('soft targets keep more senones than the model has', {
      expected: `k <= ${numSenones}`,
      found: `k = ${t.k}`,
    });
  if (t.residual && t.residual.length !== numRows)
    throw new FormatError('residual has the wrong size', {
      expected: `${numRows} rows`,
      found: String(t.residual.length),
    });
}

/**
 * Whether the hard term needs labels (some row weight > 0), checking that they are there and
 * one per row (ConfigError / FormatError).
 */
function checkHardLabels(
  o: DistillationLossOptions,
  labels: Int32Array | null | undefined,
  numRows: number,
  rowWeights: Float32Array | null,
): boolean {
  const needLabels = rowWeights ? rowWeights.some((w) => w > 0) : o.hardWeight > 0;
  if (needLabels) {
    if (!labels)
      throw new ConfigError('the hard-label term needs labels', {
        keyPath: 'hardWeight',
        expected: 'frames with forced-alignment labels, or hardWeight 0',
        found: `hardWeight ${rowWeights ? Math.max(...rowWeights) : o.hardWeight} and no labels`,
      });
    if (labels.length !== numRows)
      throw new FormatError('labels and logits differ in rows', {
        expected: String(numRows),
        found: String(labels.length),
      });
  }
  return needLabels;
}

/** Dense [n, S] target tensor from batch targets (see the module comment for the residual). */
export function denseTargets(
  t: BatchSoftTargets,
  numRows: number,
  numSenones: number,
  densify: 'device' | 'cpu' = 'device',
): tf.Tensor2D {
  if (isDense(t)) {
    if (t.dense.length !== numRows * numSenones)
      throw new FormatError('dense soft targets have the wrong size', {
        expected: `${numRows} x ${numSenones}`,
        found: `${t.dense.length} values`,
      });
    return tf.tensor2d(t.dense, [numRows, numSenones]);
  }
  const { k } = t;
  checkSparseTargetShape(t, numRows, numSenones);
  for (let i = 0; i < t.ids.length; i++) {
    const id = t.ids[i];
    if (!(id >= 0 && id < numSenones))
      throw new FormatError("soft-target senone id outside the model's outputs", {
        expected: `0 <= id < ${numSenones}`,
        found: `${id} in row ${Math.floor(i / k)}`,
      });
  }
  const spread = t.residual && numSenones > k ? Float32Array.from(t.residual, (r) => r / (numSenones - k)) : null;
  if (densify === 'cpu') {
    const out = new Float32Array(numRows * numSenones);
    for (let i = 0; i < numRows; i++) {
      if (spread) out.fill(spread[i], i * numSenones, (i + 1) * numSenones);
      for (let j = 0; j < k; j++) out[i * numSenones + t.ids[i * k + j]] = t.probs[i * k + j];
    }
    return tf.tensor2d(out, [numRows, numSenones]);
  }
  const indices = new Int32Array(numRows * k * 2);
  const updates = new Float32Array(numRows * k);
  for (let i = 0; i < numRows; i++) {
    for (let j = 0; j < k; j++) {
      const r = i * k + j;
      indices[2 * r] = i;
      indices[2 * r + 1] = t.ids[r];
      updates[r] = spread ? t.probs[r] - spread[i] : t.probs[r];
    }
  }
  return tf.tidy(() => {
    const scattered = tf.scatterND(tf.tensor2d(indices, [numRows * k, 2], 'int32'), tf.tensor1d(updates), [
      numRows,
      numSenones,
    ]) as tf.Tensor2D;
    return spread ? (tf.add(scattered, tf.tensor2d(spread, [numRows, 1])) as tf.Tensor2D) : scattered;
  });
}

/** Mean entropy (nats) of the batch's target distributions, float64 (for softTerm 'kl'). */
export function meanTargetEntropy(t: BatchSoftTargets, numRows: number, numSenones: number): number {
  let h = 0;
  for (const v of targetEntropyRows(t, numRows, numSenones)) h += v;
  return h / numRows;
}

/** H(p) of each row's target distribution (nats), the residual spread over the other senones. */
export function targetEntropyRows(t: BatchSoftTargets, numRows: number, numSenones: number): Float64Array {
  const h = new Float64Array(numRows);
  const plogp = (p: number) => (p > 0 ? p * Math.log(p) : 0);
  if (isDense(t)) {
    for (let i = 0; i < t.dense.length; i++) h[Math.floor(i / numSenones)] -= plogp(t.dense[i]);
  } else {
    for (let i = 0; i < t.probs.length; i++) h[Math.floor(i / t.k)] -= plogp(t.probs[i]);
    if (t.residual && numSenones > t.k) {
      const others = numSenones - t.k;
      for (let i = 0; i < numRows; i++) h[i] -= others * plogp(t.residual[i] / others);
    }
  }
  return h;
}

/** Mean over rows of CE(p, softmax(z / T)) for a dense target tensor. */
export function softCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const logq = tf.logSoftmax(temperature === 1 ? logits : tf.div(logits, temperature));
    return tf.neg(tf.mean(tf.sum(tf.mul(targets, logq), 1))) as tf.Scalar;
  });
}

/** Mean over rows of CE(onehot(y), softmax(z)). */
export function hardCrossEntropy(logits: tf.Tensor2D, labels: Int32Array): tf.Scalar {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), logits.shape[1]);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  });
}

/** The two terms and the total, as scalars (the caller disposes them). */
export interface DistillationLossTerms {
  soft: tf.Scalar;
  hard: tf.Scalar | null;
  total: tf.Scalar;
}

/** CE(onehot(y), softmax(z)) per row. */
function hardCrossEntropyRows(logits: tf.Tensor2D, labels: Int32Array): tf.Tensor1D {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), logits.shape[1]);
    return tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1)) as tf.Tensor1D;
  });
}

/**
 * Per-row hard-label weights of a batch: `copiesHardWeight` on the rows of VTLP copies, hardWeight
 * on the others. null when the options give every row the same weight (the scalar formula).
 */
export function rowHardWeights(
  o: DistillationLossOptions,
  batch: Pick<Minibatch, 'size' | 'uttIds' | 'rowUtt'>,
): Float32Array | null {
  if (o.copiesHardWeight === undefined || o.copiesHardWeight === o.hardWeight) return null;
  const isCopy = batch.uttIds.map((u) => vtlpSourceId(u) !== null);
  const w = new Float32Array(batch.size);
  for (let r = 0; r < batch.size; r++) w[r] = isCopy[batch.rowUtt[r]] ? o.copiesHardWeight : o.hardWeight;
  return w;
}

/** softTerm 'none': the hard term alone, mean_r w_r CE_hard(r) (each row divided by 1 + w_r when 'convex'); soft is 0. */
function hardOnlyLossTerms(
  logits: tf.Tensor2D,
  labels: Int32Array,
  o: DistillationLossOptions,
  rowWeights: Float32Array | null,
): DistillationLossTerms {
  return tf.tidy(() => {
    const hardRows = hardCrossEntropyRows(logits, labels);
    const w = rowWeights ? tf.tensor1d(rowWeights) : tf.scalar(o.hardWeight);
    let rows = tf.mul(hardRows, w);
    if (o.normalisation === 'convex') rows = tf.div(rows, tf.add(w, 1));
    return { soft: tf.scalar(0), hard: tf.mean(hardRows), total: tf.mean(rows) } as unknown as tf.TensorContainerObject;
  }) as unknown as DistillationLossTerms;
}

/**
 * The loss terms of a batch. `rowWeights` (rowHardWeights) replaces w by a weight per row; without
 * it every row has weight w. `targets` may be null with softTerm 'none' (they are not read).
 */
export function distillationLossTerms(
  logits: tf.Tensor2D,
  targets: BatchSoftTargets | null,
  labels: Int32Array | null | undefined,
  opts: Partial<DistillationLossOptions> = {},
  rowWeights: Float32Array | null = null,
): DistillationLossTerms {
  const o = resolveDistillationLossOptions(opts);
  const [n, S] = logits.shape;
  if (rowWeights && rowWeights.length !== n)
    throw new FormatError('per-row hard-label weights and logits differ in rows', {
      expected: String(n),
      found: String(rowWeights.length),
    });
  const needLabels = checkHardLabels(o, labels, n, rowWeights);
  if (o.softTerm === 'none') return hardOnlyLossTerms(logits, labels!, o, rowWeights);
  if (!targets)
    throw new ConfigError('the soft term needs soft targets', {
      keyPath: 'softTerm',
      expected: "soft targets, or softTerm 'none'",
      found: `softTerm '${o.softTerm}' and no targets`,
    });
  const T = o.temperature;
  const kl = o.softTerm === 'kl' ? meanTargetEntropy(targets, n, S) : 0;
  if (rowWeights) {
    return tf.tidy(() => {
      const p = denseTargets(targets, n, S, o.densify);
      const logq = tf.logSoftmax(T === 1 ? logits : tf.div(logits, T));
      const softRows = tf.neg(tf.sum(tf.mul(p, logq), 1));
      let soft = tf.mean(softRows) as tf.Scalar;
      if (kl !== 0) soft = tf.sub(soft, kl) as tf.Scalar;
      const w = tf.tensor1d(rowWeights);
      const hardRows = needLabels ? hardCrossEntropyRows(logits, labels!) : null;
      const hard = hardRows ? (tf.mean(hardRows) as tf.Scalar) : null;
      let rows = tf.mul(softRows, T * T);
      if (hardRows) rows = tf.add(rows, tf.mul(hardRows, w));
      if (o.normalisation === 'convex') rows = tf.div(rows, tf.add(w, 1));
      let total = tf.mean(rows) as tf.Scalar;
      // The KL report subtracts each row's target entropy from its soft term (a constant: same gradients).
      if (kl !== 0) {
        const hRows = tf.tensor1d(Float32Array.from(targetEntropyRows(targets, n, S)));
        total = tf.sub(
          total,
          tf.mean(o.normalisation === 'convex' ? tf.div(tf.mul(hRows, T * T), tf.add(w, 1)) : tf.mul(hRows, T * T)),
        ) as tf.Scalar;
      }
      return { soft, hard, total } as unknown as tf.TensorContainerObject;
    }) as unknown as DistillationLossTerms;
  }
  return tf.tidy(() => {
    const p = denseTargets(targets, n, S, o.densify);
    let soft = softCrossEntropy(logits, p, T);
    if (kl !== 0) soft = tf.sub(soft, kl) as tf.Scalar;
    const hard = o.hardWeight > 0 ? hardCrossEntropy(logits, labels!) : null;
    let total = tf.mul(soft, T * T) as tf.Scalar;
    if (hard) total = tf.add(total, tf.mul(hard, o.hardWeight)) as tf.Scalar;
    if (o.normalisation === 'convex') total = tf.div(total, 1 + o.hardWeight) as tf.Scalar;
    return { soft, hard, total } as unknown as tf.TensorContainerObject;
  }) as unknown as DistillationLossTerms;
}

/** The distillation loss of a batch (see the module comment). */
export function distillationLoss(
  logits: tf.Tensor2D,
  targets: BatchSoftTargets | null,
  labels: Int32Array | null | undefined,
  opts: Partial<DistillationLossOptions> = {},
  rowWeights: Float32Array | null = null,
): tf.Scalar {
  const t = distillationLossTerms(logits, targets, labels, opts, rowWeights);
  t.soft.dispose();
  t.hard?.dispose();
  return t.total;
}

/** The soft targets a minibatch carries (extras SOFT_IDS / SOFT_PROBS [/ SOFT_RESIDUAL]). */
export function batchSoftTargets(batch: Minibatch, expectK?: number): SparseBatchTargets {
  const ids = batch.extras[SOFT_IDS];
  const probs = batch.extras[SOFT_PROBS];
  if (!ids || !probs) {
    throw new ConfigError('the minibatch carries no soft targets', {
      expected: `per-frame arrays '${SOFT_IDS}' and '${SOFT_PROBS}' (a SoftTargetFrameSource)`,
      found: Object.keys(batch.extras).join(', ') || 'none',
    });
  }
  if (ids.dim !== probs.dim)
    throw new FormatError('soft-target ids and probabilities differ in width', {
      uttId: batch.uttIds[0],
      expected: String(ids.dim),
      found: String(probs.dim),
    });
  if (expectK !== undefined && ids.dim !== expectK)
    throw new FormatError('soft targets have another top-k width', {
      uttId: batch.uttIds[0],
      expected: `k = ${expectK}`,
      found: `k = ${ids.dim}`,
    });
  if (!(ids.data instanceof Int32Array) || !(probs.data instanceof Float32Array)) {
    throw new FormatError('soft-target arrays have the wrong element type', {
      expected: 'Int32Array ids, Float32Array probs',
      found: `${ids.data.constructor.name}, ${probs.data.constructor.name}`,
    });
  }
  const res = batch.extras[SOFT_RESIDUAL];
  return { k: ids.dim, ids: ids.data, probs: probs.data, residual: res ? (res.data as Float32Array) : null };
}

/**
 * A src/nnet LossFn: the distillation loss of a minibatch from its soft-target extras and labels.
 * `expectK` (optional) checks the width of every batch's targets.
 */
export function distillationLossFn(opts: Partial<DistillationLossOptions> = {}, expectK?: number): LossFn {
  const o = resolveDistillationLossOptions(opts);
  return (logits, batch) =>
    distillationLoss(
      logits,
      o.softTerm === 'none' ? null : batchSoftTargets(batch, expectK),
      batch.labels,
      o,
      rowHardWeights(o, batch),
    );
}

/**
 * The same loss on the native engine (native/engine.cc xentDistill): per row the soft and hard
 * cross-entropies and dL/dz in one pass over the logits, the sparse targets used as they are
 * (no dense [n, S] target). Errors as distillationLossTerms: missing labels, wrong widths.
 */
export function distillationNativeLossFn(opts: Partial<DistillationLossOptions> = {}, expectK?: number): NativeLossFn {
  const o = resolveDistillationLossOptions(opts);
  const out = new Float64Array(4);
  // softTerm 'none': no kept senone and no residual, so p = 0 and the soft term and its gradient
  // are 0; at T = 1 the kernel takes the one softmax the hard term needs.
  const none = o.softTerm === 'none';
  const noTargets: SparseBatchTargets = { k: 0, ids: new Int32Array(0), probs: new Float32Array(0), residual: null };
  return (addon, z, dz, batch, numSenones) => {
    const n = batch.size;
    const t = none ? noTargets : batchSoftTargets(batch, expectK);
    const rowWeights = rowHardWeights(o, batch);
    checkHardLabels(o, batch.labels, n, rowWeights);
    checkSparseTargetShape(t, n, numSenones);
    const labels = batch.labels ?? null;
    addon.xentDistill(
      z,
      n,
      numSenones,
      none ? 1 : o.temperature,
      t.ids,
      t.probs,
      t.k,
      t.residual,
      labels,
      rowWeights,
      o.hardWeight,
      o.normalisation === 'convex',
      dz,
      1 / n,
      out,
    );
    let total = out[2] / n;
    if (o.softTerm === 'kl') {
      // KL = CE - H(p) per row: a constant per row, the same gradients.
      const h = targetEntropyRows(t, n, numSenones);
      const T2 = o.temperature * o.temperature;
      let sub = 0;
      for (let r = 0; r < n; r++)
        sub += (T2 * h[r]) / (o.normalisation === 'convex' ? 1 + (rowWeights ? rowWeights[r] : o.hardWeight) : 1);
      total -= sub / n;
    }
    return { loss: total, numCorrect: labels ? out[3] : 0 };
  };
}

/** The distillation loss for trainFrameClassifier, on every engine. */
export function distillationTrainLoss(opts: Partial<DistillationLossOptions> = {}, expectK?: number): TrainLoss {
  return {
    name: 'distillation',
    tf: distillationLossFn(opts, expectK),
    native: distillationNativeLossFn(opts, expectK),
  };
}
