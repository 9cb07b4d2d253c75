/**
 * Context dependency: maps (left phone, centre phone, right phone, pdf class) to a pdf id.
 * Phone ids are PhoneSet ids; 0 (`<eps>`) stands for "no phone" at utterance edges.
 * A monophone system ignores the context; a triphone system asks its decision tree (./tree.ts).
 */
import { Topology } from './topology.ts';
import { TreeError } from './errors.ts';
import { phoneRoots } from '../lang/phones.ts';

export interface ContextDependency {
  /** 1 for monophones, 3 for triphones. */
  readonly contextWidth: 1 | 3;
  readonly numPdfs: number;
  pdf(left: number, centre: number, right: number, pdfClass: number): number;
}

/**
 * Whether a model has pdfs for a centre phone (a tree: a root for it), memoised per phone. Models
 * trained on little data lack phones their training alignments never had.
 */
export function phoneCoverage(model: Pick<ContextDependency, 'pdf'>): (phone: number) => boolean {
  const known = new Map<number, boolean>();
  return (p) => {
    let v = known.get(p);
    if (v === undefined) {
      try {
        model.pdf(0, p, 0, 0);
        v = true;
      } catch {
        v = false;
      }
      known.set(p, v);
    }
    return v;
  };
}

/**
 * One pdf per (phone, pdf class), numbered phone-major (Kaldi's monophone tree); the word-position
 * variants of a phone share its pdfs (gmm-init-mono --shared-phones), so pdfInfo names the root.
 */
export class MonophoneContext implements ContextDependency {
  readonly contextWidth = 1 as const;
  readonly numPdfs: number;
  private readonly offset: Int32Array;
  /** (phone, pdfClass) of each pdf. */
  readonly pdfInfo: { phone: number; pdfClass: number }[] = [];

  constructor(topology: Topology) {
    const n = topology.phones.symbols.length;
    const roots = phoneRoots(topology.phones.symbols);
    this.offset = new Int32Array(n + 1);
    let k = 0;
    for (let p = 1; p < n; p++) {
      if (roots[p] !== p) {
        this.offset[p] = this.offset[roots[p]];
        continue;
      }
      this.offset[p] = k;
      const m = topology.numPdfClasses(p);
      for (let c = 0; c < m; c++) this.pdfInfo.push({ phone: p, pdfClass: c });
      k += m;
    }
    this.offset[n] = k;
    this.numPdfs = k;
  }

  pdf(_left: number, centre: number, _right: number, pdfClass: number): number {
    if (!(centre >= 1 && centre < this.offset.length - 1))
      throw new TreeError(`phone id ${centre} is not in the monophone model`, {
        expected: `1..${this.offset.length - 2}`,
        found: String(centre),
      });
    return this.offset[centre] + pdfClass;
  }
}
