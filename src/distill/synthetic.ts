/**
 * Synthetic ensemble outputs with the shape of real acoustic-model posteriors, for tests and the
 * storage measurements: S senones in "phone" groups of confusable states; per frame a true senone
 * with a random confidence margin (some frames confident, some not), a boost for the other states
 * of its phone, Gaussian background logits, and independent noise per member (the members differ).
 * Deterministic per seed. The defaults give, for 2000 senones and 4 members: member frame accuracy
 * about 49 %, ensemble 58 %, mean top-1 probability 0.6 at T = 1, and top-k needing k = 15 at
 * T = 1, about 130 at T = 2 and about 1900 at T = 5 for 99 % mean kept mass.
 */
import { Rng } from '../util/rng.ts';

export interface SyntheticEnsembleOptions {
  /** Senones (S). Default 2000. */
  numSenones: number;
  /** Members (K). Default 10. */
  numMembers: number;
  /** Frames. Default 2000. */
  numFrames: number;
  /** Senones per confusable group ("phone"). Default 48. */
  groupSize: number;
  /** Range of the true senone's logit margin over its group, uniform per frame. Default 4..14. */
  marginMin: number;
  marginMax: number;
  /** Logit boost of the true senone's group (mean). Default 14. */
  groupBoost: number;
  /** Standard deviation of the group members' logits around the boost, shared by the members. Default 2.5. */
  groupStd: number;
  /** Standard deviation of the background logits shared by the members. Default 2. */
  backgroundStd: number;
  /** Standard deviation of each member's own logit noise. Default 2. */
  memberStd: number;
  /** Default 1. */
  seed: number;
}

export const DEFAULT_SYNTHETIC_ENSEMBLE: Readonly<SyntheticEnsembleOptions> = Object.freeze({
  numSenones: 2000,
  numMembers: 10,
  numFrames: 2000,
  groupSize: 48,
  marginMin: 4,
  marginMax: 14,
  groupBoost: 14,
  groupStd: 2.5,
  backgroundStd: 2,
  memberStd: 2,
  seed: 1,
});

export interface SyntheticEnsembleOutputs {
  options: SyntheticEnsembleOptions;
  /** True senone per frame. */
  labels: Int32Array;
  /** Per member, numFrames x numSenones logits. */
  logits: Float32Array[];
}

export function syntheticEnsembleLogits(opts: Partial<SyntheticEnsembleOptions> = {}): SyntheticEnsembleOutputs {
  const o = { ...DEFAULT_SYNTHETIC_ENSEMBLE, ...opts };
  const S = o.numSenones,
    n = o.numFrames;
  const rng = new Rng(`${o.seed}:synthetic-ensemble`);
  const labels = new Int32Array(n);
  const base = new Float32Array(n * S);
  for (let f = 0; f < n; f++) {
    const c = rng.int(S);
    labels[f] = c;
    const g0 = Math.floor(c / o.groupSize) * o.groupSize;
    const margin = rng.uniform(o.marginMin, o.marginMax);
    for (let s = 0; s < S; s++) base[f * S + s] = o.backgroundStd * rng.gauss();
    for (let s = g0; s < Math.min(S, g0 + o.groupSize); s++) base[f * S + s] += o.groupBoost + o.groupStd * rng.gauss();
    base[f * S + c] += margin;
  }
  const logits: Float32Array[] = [];
  for (let m = 0; m < o.numMembers; m++) {
    const r = new Rng(`${o.seed}:member:${m}`);
    const z = new Float32Array(n * S);
    for (let i = 0; i < n * S; i++) z[i] = base[i] + o.memberStd * r.gauss();
    logits.push(z);
  }
  return { options: o, labels, logits };
}
