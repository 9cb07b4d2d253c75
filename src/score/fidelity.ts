/**
 * Fidelity of a model to a teacher (Stanton et al. 2021, "Does knowledge distillation really
 * work?"): how closely a net reproduces the ensemble's output, apart from how often either is right.
 * Per frame, top-1 agreement (the model's argmax is the teacher's) and KL(teacher || model) at T = 1
 * in nats. A student that matches its teacher on the training voices but not on a new voice has
 * learnt the teacher's function only where the transfer set was.
 */
import { FormatError } from '../util/errors.ts';
import { logSoftmaxRows } from '../util/softmax.ts';
import { argmaxRows } from './frame-accuracy.ts';

/** Summed counts over frames (add utterances, then divide by frames). */
export interface FidelityCounts {
  frames: number;
  /** Frames whose argmax equals the teacher's. */
  agree: number;
  /** Sum over frames of KL(teacher || model) in nats. */
  klSum: number;
}

/** Fidelity over a split: shares and means from the counts. */
export interface Fidelity {
  frames: number;
  /** Share of frames on which the model's top senone is the teacher's, in [0, 1]. */
  agreement: number;
  /** Mean KL(teacher || model) per frame, nats. */
  klNats: number;
}

export const emptyFidelityCounts = (): FidelityCounts => ({ frames: 0, agree: 0, klSum: 0 });

/**
 * Add one utterance: `teacherProbs` (rows sum to 1, e.g. EnsembleAccumulator.finish()) and the
 * model's `logits`, both numFrames x numSenones row-major. Argmaxes the caller has already
 * computed may be passed instead of being recomputed; `uttId` names the utterance in errors.
 */
export function addFidelity(
  c: FidelityCounts,
  teacherProbs: ArrayLike<number>,
  logits: ArrayLike<number>,
  numFrames: number,
  numSenones: number,
  known: { uttId?: string; teacherArgmax?: Int32Array; modelArgmax?: Int32Array } = {},
): void {
  const { uttId } = known;
  const n = numFrames * numSenones;
  if (teacherProbs.length !== n || logits.length !== n) {
    throw new FormatError('teacher and model outputs differ in size', {
      uttId,
      expected: `${numFrames} frames x ${numSenones} senones = ${n} values each`,
      found: `teacher ${teacherProbs.length}, model ${logits.length}`,
    });
  }
  const tArg = known.teacherArgmax ?? argmaxRows(teacherProbs, numSenones, uttId);
  const mArg = known.modelArgmax ?? argmaxRows(logits, numSenones, uttId);
  const logQ = logSoftmaxRows(logits, numFrames, numSenones);
  let agree = 0,
    kl = 0;
  for (let t = 0; t < numFrames; t++) {
    if (tArg[t] === mArg[t]) agree++;
    const b = t * numSenones;
    for (let s = 0; s < numSenones; s++) {
      const p = teacherProbs[b + s];
      if (p > 0) kl += p * (Math.log(p) - logQ[b + s]);
    }
  }
  c.frames += numFrames;
  c.agree += agree;
  c.klSum += kl;
}

export function fidelityOf(c: FidelityCounts): Fidelity {
  return { frames: c.frames, agreement: c.frames ? c.agree / c.frames : 0, klNats: c.frames ? c.klSum / c.frames : 0 };
}
