/**
 * Transition model: one probability per (phone, HMM state, outgoing transition), initialised from the
 * topology and re-estimated from alignment counts (Kaldi's TransitionModel::MleUpdate with a floor).
 * A "transition id" (tid) numbers every (phone, state, transition) triple, 0-based; an alignment
 * stores, per frame, the tid of the transition taken out of that frame's state (Kaldi convention).
 * Transition states are keyed by (phone, state), not by pdf: in a triphone system all contexts of a
 * phone share its transition probabilities (documented in docs/decisions.md).
 */
import { FormatError } from '../util/errors.ts';
import { Topology } from './topology.ts';

export interface TransitionUpdateOptions {
  /** Probabilities are floored at this value, then renormalised. Default 0.01 (Kaldi). */
  floor?: number;
  /** A state with fewer counts than this keeps its old probabilities. Default 5 (Kaldi). */
  minCount?: number;
}

export interface TidInfo {
  phone: number;
  hmmState: number;
  /** Index of the transition in the topology state's list. */
  transIdx: number;
  /** Destination state within the phone (`numStates` = exit). */
  to: number;
  isSelfLoop: boolean;
  isExit: boolean;
}

export class TransitionModel {
  readonly topology: Topology;
  /** tid of (phone, state, 0); index by tstate = stateOffset[phone] + state. */
  private readonly tidOffset: Int32Array;
  private readonly stateOffset: Int32Array;
  /** Probabilities by tid. */
  readonly probs: Float64Array;
  readonly tids: TidInfo[];

  constructor(topology: Topology, probs?: Float64Array) {
    this.topology = topology;
    const numPhones = topology.phones.symbols.length;
    this.stateOffset = new Int32Array(numPhones + 1);
    const tidOff: number[] = [];
    const tids: TidInfo[] = [];
    const p: number[] = [];
    let ts = 0;
    for (let ph = 0; ph < numPhones; ph++) {
      this.stateOffset[ph] = ts;
      if (ph === 0) continue;
      const topo = topology.forPhone(ph);
      topo.states.forEach((st, s) => {
        tidOff.push(tids.length);
        st.transitions.forEach((tr, k) => {
          tids.push({
            phone: ph,
            hmmState: s,
            transIdx: k,
            to: tr.to,
            isSelfLoop: tr.to === s,
            isExit: tr.to === topo.numStates,
          });
          p.push(tr.prob);
        });
        ts++;
      });
    }
    this.stateOffset[numPhones] = ts;
    tidOff.push(tids.length);
    this.tidOffset = Int32Array.from(tidOff);
    this.tids = tids;
    if (probs) {
      if (probs.length !== p.length)
        throw new FormatError('transition probabilities do not match the topology', {
          expected: `${p.length} values`,
          found: `${probs.length}`,
        });
      this.probs = Float64Array.from(probs);
    } else {
      this.probs = Float64Array.from(p);
    }
  }

  get numTids(): number {
    return this.tids.length;
  }

  get numTransitionStates(): number {
    return this.tidOffset.length - 1;
  }

  tstate(phone: number, hmmState: number): number {
    return this.stateOffset[phone] + hmmState;
  }

  tid(phone: number, hmmState: number, transIdx: number): number {
    return this.tidOffset[this.tstate(phone, hmmState)] + transIdx;
  }

  logProb(tid: number): number {
    return Math.log(this.probs[tid]);
  }

  /** Self-loop probability of a (phone, state), 0 if it has none. */
  selfLoopProb(phone: number, hmmState: number): number {
    const t0 = this.tidOffset[this.tstate(phone, hmmState)];
    const t1 = this.tidOffset[this.tstate(phone, hmmState) + 1];
    for (let t = t0; t < t1; t++) if (this.tids[t].isSelfLoop) return this.probs[t];
    return 0;
  }

  /** Zeroed count vector, indexed by tid. */
  newCounts(): Float64Array {
    return new Float64Array(this.numTids);
  }

  /** Add one count per frame of an alignment given as tids. */
  static accumulate(counts: Float64Array, tids: ArrayLike<number>, weight = 1): void {
    for (let i = 0; i < tids.length; i++) counts[tids[i]] += weight;
  }

  /**
   * Maximum-likelihood update from counts (Kaldi MleUpdate): per transition state with at least
   * `minCount` counts, p = count / total, floored at `floor` and renormalised.
   * Returns the average log-likelihood improvement per count (objective change) and the total count.
   */
  update(counts: Float64Array, opts: TransitionUpdateOptions = {}): { objfImpr: number; count: number } {
    const floor = opts.floor ?? 0.01;
    const minCount = opts.minCount ?? 5;
    let impr = 0,
      total = 0;
    for (let ts = 0; ts < this.numTransitionStates; ts++) {
      const a = this.tidOffset[ts],
        b = this.tidOffset[ts + 1];
      let c = 0;
      for (let t = a; t < b; t++) c += counts[t];
      total += c;
      if (c < minCount || b - a < 2) continue;
      const np = new Float64Array(b - a);
      for (let t = a; t < b; t++) np[t - a] = Math.max(floor, counts[t] / c);
      let s = 0;
      for (const v of np) s += v;
      for (let t = a; t < b; t++) {
        const v = np[t - a] / s;
        if (counts[t] > 0) impr += counts[t] * (Math.log(v) - Math.log(this.probs[t]));
        this.probs[t] = v;
      }
    }
    return { objfImpr: total > 0 ? impr / total : 0, count: total };
  }

  toJSON(): { probs: number[] } {
    return { probs: Array.from(this.probs) };
  }
}
