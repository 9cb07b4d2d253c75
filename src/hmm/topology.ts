/**
 * HMM topologies, as Kaldi's default topo (utils/gen_topo.pl):
 *  - non-silence phones: 3 emitting states, left to right with self-loops, 0.75 self / 0.25 forward;
 *  - silence phones: 5 emitting states; state 0 -> {0,1,2,3}, states 1..3 -> {1,2,3,4} (0.25 each),
 *    state 4 -> {4 (0.75), exit (0.25)}.
 * A transition to `numStates` means leaving the phone (Kaldi's non-emitting final state).
 * pdfClass equals the state index (each state has its own pdf in a monophone system).
 */
import { PhoneSet } from '../lang/phones.ts';

export interface HmmTransition {
  /** Destination state; `numStates` = exit. */
  to: number;
  prob: number;
}

export interface HmmStateDef {
  pdfClass: number;
  transitions: HmmTransition[];
}

export interface PhoneTopology {
  numStates: number;
  states: HmmStateDef[];
  /** Fewest frames a pass through this HMM takes. */
  minFrames: number;
}

export interface TopologyOptions {
  /** Emitting states of a non-silence phone. Default 3. */
  numStatesNonSilence?: number;
  /** Emitting states of a silence phone. Default 5. */
  numStatesSilence?: number;
}

/** Left-to-right topology with self-loops (Kaldi's non-silence topo). */
export function leftToRightTopology(n: number, selfLoopProb = 0.75): PhoneTopology {
  const states: HmmStateDef[] = [];
  for (let s = 0; s < n; s++) {
    states.push({
      pdfClass: s,
      transitions: [
        { to: s, prob: selfLoopProb },
        { to: s + 1, prob: 1 - selfLoopProb },
      ],
    });
  }
  return { numStates: n, states, minFrames: n };
}

/** Kaldi's silence topo for n >= 3 emitting states (gen_topo.pl); n = 1 gives a single looping state. */
export function silenceTopology(n: number): PhoneTopology {
  if (n < 3) return leftToRightTopology(n);
  const states: HmmStateDef[] = [];
  const p0 = 1 / (n - 1);
  const first: HmmTransition[] = [];
  for (let t = 0; t < n - 1; t++) first.push({ to: t, prob: p0 });
  states.push({ pdfClass: 0, transitions: first });
  for (let s = 1; s < n - 1; s++) {
    const tr: HmmTransition[] = [];
    for (let t = 1; t < n; t++) tr.push({ to: t, prob: 1 / (n - 1) });
    states.push({ pdfClass: s, transitions: tr });
  }
  states.push({
    pdfClass: n - 1,
    transitions: [
      { to: n - 1, prob: 0.75 },
      { to: n, prob: 0.25 },
    ],
  });
  return { numStates: n, states, minFrames: shortestPass(states) };
}

function shortestPass(states: HmmStateDef[]): number {
  const n = states.length;
  const dist = new Array<number>(n + 1).fill(Infinity);
  dist[0] = 1;
  const queue = [0];
  while (queue.length) {
    const s = queue.shift()!;
    for (const t of states[s].transitions) {
      const d = t.to === n ? dist[s] : dist[s] + 1;
      if (d < dist[t.to]) {
        dist[t.to] = d;
        if (t.to < n) queue.push(t.to);
      }
    }
  }
  return dist[n];
}

/** The topology of every phone of a phone set. */
export class Topology {
  readonly phones: PhoneSet;
  private readonly byPhone: PhoneTopology[];

  constructor(phones: PhoneSet, opts: TopologyOptions = {}) {
    const nNon = opts.numStatesNonSilence ?? 3;
    const nSil = opts.numStatesSilence ?? 5;
    const non = leftToRightTopology(nNon);
    const sil = silenceTopology(nSil);
    this.phones = phones;
    this.byPhone = phones.symbols.map((p, id) => (id === 0 ? non : phones.isSilence(p) ? sil : non));
  }

  forPhone(phoneId: number): PhoneTopology {
    const t = this.byPhone[phoneId];
    if (!t || phoneId === 0) throw new RangeError(`no topology for phone id ${phoneId}`);
    return t;
  }

  numPdfClasses(phoneId: number): number {
    return this.forPhone(phoneId).numStates;
  }

  /** Kaldi topo text (for inspection / interop). */
  toKaldiText(): string {
    const groups = new Map<PhoneTopology, number[]>();
    for (let id = 1; id < this.byPhone.length; id++) {
      const t = this.byPhone[id];
      const g = groups.get(t);
      if (g) g.push(id);
      else groups.set(t, [id]);
    }
    let out = '<Topology>\n';
    for (const [t, ids] of groups) {
      out += `<TopologyEntry>\n<ForPhones>\n${ids.join(' ')}\n</ForPhones>\n`;
      t.states.forEach((s, i) => {
        out += `<State> ${i} <PdfClass> ${s.pdfClass} ${s.transitions.map((tr) => `<Transition> ${tr.to} ${tr.prob}`).join(' ')} </State>\n`;
      });
      out += `<State> ${t.numStates} </State>\n</TopologyEntry>\n`;
    }
    return out + '</Topology>\n';
  }
}
