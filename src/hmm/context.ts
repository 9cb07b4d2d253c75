/**
 * Context dependency: maps (left phone, centre phone, right phone, pdf class) to a pdf id.
 * Phone ids are PhoneSet ids; 0 (`<eps>`) stands for "no phone" at utterance edges.
 * A monophone system ignores the context; a triphone system asks its decision tree (./tree.ts).
 */
import { Topology } from './topology.ts';
import { TreeError } from './errors.ts';

export interface ContextDependency {
  /** 1 for monophones, 3 for triphones. */
  readonly contextWidth: 1 | 3;
  readonly numPdfs: number;
  pdf(left: number, centre: number, right: number, pdfClass: number): number;
}

/** One pdf per (phone, pdf class), numbered phone-major (Kaldi's monophone tree). */
export class MonophoneContext implements ContextDependency {
  readonly contextWidth = 1 as const;
  readonly numPdfs: number;
  private readonly offset: Int32Array;
  /** (phone, pdfClass) of each pdf. */
  readonly pdfInfo: { phone: number; pdfClass: number }[] = [];

  constructor(topology: Topology) {
    const n = topology.phones.symbols.length;
    this.offset = new Int32Array(n + 1);
    let k = 0;
    for (let p = 1; p < n; p++) {
      this.offset[p] = k;
      const m = topology.numPdfClasses(p);
      for (let c = 0; c < m; c++) this.pdfInfo.push({ phone: p, pdfClass: c });
      k += m;
    }
    this.offset[n] = k;
    this.numPdfs = k;
  }

  pdf(_left: number, centre: number, _right: number, pdfClass: number): number {
    if (!(centre >= 1 && centre < this.offset.length - 1)) throw new TreeError(`phone id ${centre} is not in the monophone model`, { expected: `1..${this.offset.length - 2}`, found: String(centre) });
    return this.offset[centre] + pdfClass;
  }
}
