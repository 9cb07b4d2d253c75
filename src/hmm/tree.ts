/**
 * Triphone context-dependency trees (Kaldi acc-tree-stats / build-tree / tree lookup).
 *
 * Statistics: one diagonal Gaussian's count, sum and sum of squares per (left, centre, right, pdf
 * class) seen in alignments. Roots: one per (centre phone, pdf class) with data (Kaldi's
 * "not-shared split" roots: states of different phones or positions never share a senone); the
 * word-position variants of a phone (AH_B, AH_E, AH_I, AH_S) share one root per pdf class
 * (Kaldi's "shared split"), and the tree may then ask about the centre phone (position 0) too.
 * Questions ask whether the left (position -1) or right (+1) neighbour, or the centre (0), is in a
 * phone set; phone 0 (utterance edge) is in no set. Splitting is greedy over all leaves of all roots: the split with the
 * largest log-likelihood gain anywhere is taken next, subject to a minimum occupancy on both sides,
 * until `maxLeaves` leaves or no split gains at least `minGain`. Leaves are the senones, numbered
 * by root (phone id, pdf class) then depth first, "yes" before "no".
 */
import { FormatError } from '../util/errors.ts';
import { phoneRoots, type PhoneSet } from '../lang/phones.ts';
import type { Frame } from './gmm.ts';
import { DiagGmm } from './gmm.ts';
import type { ContextDependency } from './context.ts';
import { TreeError } from './errors.ts';
import { MaxHeap } from './heap.ts';

const LOG_2PI = Math.log(2 * Math.PI);

/** Sufficient statistics of one diagonal Gaussian. */
export class GaussStats {
  count = 0;
  readonly sum: Float64Array;
  readonly sumSq: Float64Array;
  constructor(dim: number) {
    this.sum = new Float64Array(dim);
    this.sumSq = new Float64Array(dim);
  }
  get dim(): number {
    return this.sum.length;
  }
  add(x: Frame, w = 1): void {
    this.count += w;
    for (let j = 0; j < this.sum.length; j++) {
      this.sum[j] += w * x[j];
      this.sumSq[j] += w * x[j] * x[j];
    }
  }
  addStats(o: GaussStats, sign = 1): void {
    this.count += sign * o.count;
    for (let j = 0; j < this.sum.length; j++) {
      this.sum[j] += sign * o.sum[j];
      this.sumSq[j] += sign * o.sumSq[j];
    }
  }
  clone(): GaussStats {
    const g = new GaussStats(this.dim);
    g.addStats(this);
    return g;
  }
  /** Mean and variance (variance floored). */
  moments(varFloor: number): { mean: Float64Array; variance: Float64Array } {
    const d = this.dim,
      mean = new Float64Array(d),
      variance = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      mean[j] = this.sum[j] / this.count;
      variance[j] = Math.max(varFloor, this.sumSq[j] / this.count - mean[j] * mean[j]);
    }
    return { mean, variance };
  }
}

/**
 * Log-likelihood of the data under its own ML Gaussian (Kaldi GaussClusterable::Objf):
 * -0.5 n (D log 2pi + sum_d log var_d + D), variances floored at varFloor.
 */
export function gaussObjf(
  count: number,
  sum: ArrayLike<number>,
  sumSq: ArrayLike<number>,
  varFloor: number,
  off = 0,
  dim = sum.length,
): number {
  if (count <= 0) return 0;
  let logDet = 0;
  for (let j = 0; j < dim; j++) {
    const m = sum[off + j] / count;
    logDet += Math.log(Math.max(varFloor, sumSq[off + j] / count - m * m));
  }
  return -0.5 * count * (dim * (LOG_2PI + 1) + logDet);
}

/** Tree statistics keyed by (left, centre, right, pdfClass). */
export class TreeStats {
  readonly dim: number;
  readonly numPhoneIds: number;
  readonly entries = new Map<
    number,
    { left: number; centre: number; right: number; pdfClass: number; stats: GaussStats }
  >();

  constructor(dim: number, numPhoneIds: number) {
    this.dim = dim;
    this.numPhoneIds = numPhoneIds;
  }

  private key(l: number, c: number, r: number, pc: number): number {
    const P = this.numPhoneIds;
    return ((l * P + c) * P + r) * 16 + pc;
  }

  accumulate(left: number, centre: number, right: number, pdfClass: number, x: Frame, w = 1): void {
    const k = this.key(left, centre, right, pdfClass);
    let e = this.entries.get(k);
    if (!e) {
      e = { left, centre, right, pdfClass, stats: new GaussStats(this.dim) };
      this.entries.set(k, e);
    }
    e.stats.add(x, w);
  }

  /** Entries in a deterministic order (by key). */
  sorted(): { left: number; centre: number; right: number; pdfClass: number; stats: GaussStats }[] {
    return [...this.entries.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  }

  merge(o: TreeStats): void {
    for (const e of o.entries.values()) this.addContext(e.left, e.centre, e.right, e.pdfClass, e.stats);
  }

  /** Add the statistics of one context (copied where the context is new). */
  addContext(left: number, centre: number, right: number, pdfClass: number, g: GaussStats): void {
    const k = this.key(left, centre, right, pdfClass);
    const m = this.entries.get(k);
    if (m) m.stats.addStats(g);
    else this.entries.set(k, { left, centre, right, pdfClass, stats: g.clone() });
  }
}

/** A phonetic question: is the neighbour one of these phone ids? */
export interface Question {
  phones: number[];
  /** Where the question came from, e.g. "cluster", "silence", "class:nasal". */
  name?: string;
}

export type TreeNode = { leaf: number } | { position: QuestionPosition; phones: number[]; yes: TreeNode; no: TreeNode };

/** Which phone of the triphone a question asks about: left neighbour, centre, right neighbour. */
export type QuestionPosition = -1 | 0 | 1;

function validPhoneId(p: number, numPhoneIds: number): boolean {
  return Number.isInteger(p) && p >= 0 && p < numPhoneIds;
}

/** The phone a question at `position` looks at. */
function phoneAt(position: QuestionPosition, left: number, centre: number, right: number): number {
  return position === -1 ? left : position === 1 ? right : centre;
}

export interface TreeBuildOptions {
  /** Stop at this many leaves (senones) in all. Default 2000. */
  maxLeaves?: number;
  /** Both sides of a split need at least this many frames. Default 50. */
  minLeafOccupancy?: number;
  /** Stop when the best split gains less log-likelihood than this. Default 0 (any positive gain). */
  minGain?: number;
  /** Variance floor of the Gaussians used to score splits. Default 0.01 (Kaldi). */
  varianceFloor?: number;
}

interface Entry {
  left: number;
  centre: number;
  right: number;
  pdfClass: number;
  stats: GaussStats;
}
interface SplitInfo {
  gain: number;
  position: QuestionPosition;
  q: number;
}
interface Pending {
  root: number;
  path: TreeNode & { leaf: number };
  entries: Entry[];
  split: SplitInfo | null;
}

export interface TreeBuildResult {
  tree: ContextTree;
  /** Pooled statistics per leaf (senone), for initialising its Gaussian. */
  leafStats: GaussStats[];
  /** Log-likelihood gain of each accepted split, in order. */
  gains: number[];
}

/** What scoring a split needs: the question masks over phone ids, the sizes and the limits. */
interface SplitContext {
  qMasks: Uint8Array[];
  numPhoneIds: number;
  dim: number;
  minOcc: number;
  varFloor: number;
}

type RootKey = { phone: number; pdfClass: number };

/** Build the tree. `numPdfClasses(phone)` tells which roots exist for a phone. */
export function buildTree(
  stats: TreeStats,
  phones: PhoneSet,
  questions: Question[],
  numPdfClasses: (phone: number) => number,
  opts: TreeBuildOptions = {},
): TreeBuildResult {
  const maxLeaves = opts.maxLeaves ?? 2000;
  const minGain = opts.minGain ?? 0;
  const P = phones.symbols.length;
  const ctx: SplitContext = {
    qMasks: questionMasks(questions, P),
    numPhoneIds: P,
    dim: stats.dim,
    minOcc: opts.minLeafOccupancy ?? 50,
    varFloor: opts.varianceFloor ?? 0.01,
  };
  const rootOf = phoneRoots(phones.symbols);
  const byRoot = statsByRoot(stats, rootOf);
  const rootKeys = treeRoots(rootOf, byRoot, numPdfClasses, P);
  const grown = growTree(rootKeys, byRoot, questions, ctx, maxLeaves, minGain);
  const { leafStats, leafInfo } = numberLeaves(grown.rootNodes, rootKeys, grown.pendingLeaves, ctx.dim);
  const tree = new ContextTree(
    phones.symbols,
    rootKeys.map((rk, i) => ({ ...rk, node: grown.rootNodes[i] })),
    leafInfo,
  );
  return { tree, leafStats, gains: grown.gains };
}

/** Each question as a 0/1 mask over phone ids; a question naming phone 0 or an unknown id is an error. */
function questionMasks(questions: Question[], P: number): Uint8Array[] {
  return questions.map((q) => {
    const m = new Uint8Array(P);
    for (const p of q.phones) {
      if (!(p > 0 && p < P))
        throw new FormatError(`question '${q.name ?? ''}' has phone id ${p}`, {
          expected: `1..${P - 1}`,
          found: String(p),
        });
      m[p] = 1;
    }
    return m;
  });
}

/** The statistics grouped by root, keyed `sharedRoot(centre) * 16 + pdfClass`, in key order within each. */
function statsByRoot(stats: TreeStats, rootOf: Int32Array): Map<number, Entry[]> {
  const byRoot = new Map<number, Entry[]>();
  for (const e of stats.sorted()) {
    const k = rootOf[e.centre] * 16 + e.pdfClass;
    const l = byRoot.get(k);
    if (l) l.push(e);
    else byRoot.set(k, [e]);
  }
  return byRoot;
}

/** The roots: every pdf class of each shared root phone that has data in any of its pdf classes. */
function treeRoots(
  rootOf: Int32Array,
  byRoot: Map<number, Entry[]>,
  numPdfClasses: (phone: number) => number,
  P: number,
): RootKey[] {
  const rootKeys: RootKey[] = [];
  for (let ph = 1; ph < P; ph++) {
    if (rootOf[ph] !== ph) continue;
    let any = false;
    for (let pc = 0; pc < numPdfClasses(ph); pc++) if (byRoot.has(ph * 16 + pc)) any = true;
    if (!any) continue;
    for (let pc = 0; pc < numPdfClasses(ph); pc++) rootKeys.push({ phone: ph, pdfClass: pc });
  }
  return rootKeys;
}

/**
 * The best question for one leaf's statistics: the largest log-likelihood gain over all positions
 * and questions that leaves at least `minOcc` frames on each side; null when none does.
 */
function bestSplit(entries: Entry[], ctx: SplitContext): SplitInfo | null {
  const { qMasks, numPhoneIds: P, dim: D, minOcc, varFloor: vf } = ctx;
  const total = new GaussStats(D);
  for (const e of entries) total.addStats(e.stats);
  const parent = gaussObjf(total.count, total.sum, total.sumSq, vf);
  let best: SplitInfo | null = null;
  const cnt = new Float64Array(P),
    sum = new Float64Array(P * D),
    sq = new Float64Array(P * D);
  const yc = { n: 0 },
    ys = new Float64Array(D),
    yq = new Float64Array(D),
    ns = new Float64Array(D),
    nq = new Float64Array(D);
  // The centre is asked last: without shared roots every entry has the same centre (nothing to split).
  for (const position of [-1, 1, 0] as const) {
    cnt.fill(0);
    sum.fill(0);
    sq.fill(0);
    const present: number[] = [];
    for (const e of entries) {
      const p = phoneAt(position, e.left, e.centre, e.right);
      if (cnt[p] === 0) present.push(p);
      cnt[p] += e.stats.count;
      for (let j = 0; j < D; j++) {
        sum[p * D + j] += e.stats.sum[j];
        sq[p * D + j] += e.stats.sumSq[j];
      }
    }
    if (present.length < 2) continue;
    for (let qi = 0; qi < qMasks.length; qi++) {
      const m = qMasks[qi];
      yc.n = 0;
      ys.fill(0);
      yq.fill(0);
      for (const p of present) {
        if (!m[p]) continue;
        yc.n += cnt[p];
        for (let j = 0; j < D; j++) {
          ys[j] += sum[p * D + j];
          yq[j] += sq[p * D + j];
        }
      }
      const nn = total.count - yc.n;
      if (yc.n < minOcc || nn < minOcc) continue;
      for (let j = 0; j < D; j++) {
        ns[j] = total.sum[j] - ys[j];
        nq[j] = total.sumSq[j] - yq[j];
      }
      const gain = gaussObjf(yc.n, ys, yq, vf) + gaussObjf(nn, ns, nq, vf) - parent;
      if (!best || gain > best.gain) best = { gain, position, q: qi };
    }
  }
  return best;
}

/**
 * Greedy splitting over all leaves of all roots: the split with the largest gain anywhere is taken
 * next, until `maxLeaves` leaves or no split gains at least `minGain` (and more than 0).
 */
function growTree(
  rootKeys: RootKey[],
  byRoot: Map<number, Entry[]>,
  questions: Question[],
  ctx: SplitContext,
  maxLeaves: number,
  minGain: number,
): { rootNodes: TreeNode[]; pendingLeaves: Pending[]; gains: number[] } {
  const rootNodes: TreeNode[] = [];
  const heap = new MaxHeap<Pending>();
  const pendingLeaves: Pending[] = [];
  rootKeys.forEach((rk, ri) => {
    const leaf = { leaf: -1 };
    rootNodes.push(leaf);
    const entries = byRoot.get(rk.phone * 16 + rk.pdfClass) ?? [];
    const p: Pending = { root: ri, path: leaf, entries, split: entries.length ? bestSplit(entries, ctx) : null };
    pendingLeaves.push(p);
    if (p.split) heap.push(p.split.gain, p);
  });
  let numLeaves = rootNodes.length;
  const gains: number[] = [];
  while (numLeaves < maxLeaves && heap.size > 0) {
    const top = heap.pop()!.value;
    const sp = top.split!;
    if (sp.gain < minGain || sp.gain <= 0) break;
    const m = ctx.qMasks[sp.q];
    const yesE: Entry[] = [],
      noE: Entry[] = [];
    for (const e of top.entries) (m[phoneAt(sp.position, e.left, e.centre, e.right)] ? yesE : noE).push(e);
    const yesLeaf = { leaf: -1 },
      noLeaf = { leaf: -1 };
    // Turn the leaf object into an internal node in place.
    const node = top.path as unknown as Record<string, unknown>;
    delete node.leaf;
    Object.assign(node, {
      position: sp.position,
      phones: [...questions[sp.q].phones].sort((a, b) => a - b),
      yes: yesLeaf,
      no: noLeaf,
    });
    gains.push(sp.gain);
    numLeaves++;
    for (const [lf, es] of [
      [yesLeaf, yesE],
      [noLeaf, noE],
    ] as const) {
      const p: Pending = { root: top.root, path: lf, entries: es, split: bestSplit(es, ctx) };
      pendingLeaves.push(p);
      if (p.split) heap.push(p.split.gain, p);
    }
  }
  return { rootNodes, pendingLeaves, gains };
}

/** Number the leaves depth first ("yes" before "no") root by root, and pool each leaf's statistics. */
function numberLeaves(
  rootNodes: TreeNode[],
  rootKeys: RootKey[],
  pendingLeaves: Pending[],
  D: number,
): { leafStats: GaussStats[]; leafInfo: RootKey[] } {
  const leafStats: GaussStats[] = [];
  const statsOfLeaf = new Map<TreeNode, Entry[]>();
  for (const p of pendingLeaves) statsOfLeaf.set(p.path, p.entries);
  const leafInfo: RootKey[] = [];
  const number = (n: TreeNode, rk: RootKey): void => {
    if ('leaf' in n) {
      n.leaf = leafStats.length;
      const g = new GaussStats(D);
      for (const e of statsOfLeaf.get(n) ?? []) g.addStats(e.stats);
      leafStats.push(g);
      leafInfo.push(rk);
    } else {
      number(n.yes, rk);
      number(n.no, rk);
    }
  };
  rootNodes.forEach((n, i) => number(n, rootKeys[i]));
  return { leafStats, leafInfo };
}

export interface ContextTreeJson {
  format: 'am-distill-context-tree';
  version: 1;
  contextWidth: 3;
  /** Phone symbols by id (index 0 = `<eps>`). */
  phones: string[];
  numLeaves: number;
  roots: { phone: string; pdfClass: number; node: TreeNodeJson }[];
}

export type TreeNodeJson =
  { leaf: number } | { position: QuestionPosition; phones: string[]; yes: TreeNodeJson; no: TreeNodeJson };

/** A built tree: lookup (left, centre, right, pdfClass) -> senone. */
export class ContextTree implements ContextDependency {
  readonly contextWidth = 3 as const;
  readonly numPdfs: number;
  readonly phoneSymbols: readonly string[];
  readonly roots: { phone: number; pdfClass: number; node: TreeNode }[];
  /** Centre phone and pdf class of each senone. */
  readonly leafInfo: { phone: number; pdfClass: number }[];
  private readonly rootIndex = new Map<number, TreeNode>();
  /** Shared root of each phone id (phoneRoots): the word-position variants of a phone share its roots. */
  private readonly rootOf: Int32Array;
  private readonly masks = new Map<TreeNode, Uint8Array>();

  constructor(
    phoneSymbols: readonly string[],
    roots: { phone: number; pdfClass: number; node: TreeNode }[],
    leafInfo: { phone: number; pdfClass: number }[],
  ) {
    this.phoneSymbols = phoneSymbols;
    this.roots = roots;
    this.leafInfo = leafInfo;
    this.numPdfs = leafInfo.length;
    this.rootOf = phoneRoots(phoneSymbols);
    const P = phoneSymbols.length;
    const visit = (n: TreeNode): void => {
      if ('leaf' in n) {
        if (!(n.leaf >= 0 && n.leaf < this.numPdfs))
          throw new FormatError(`tree leaf id ${n.leaf} out of range`, {
            expected: `0..${this.numPdfs - 1}`,
            found: String(n.leaf),
          });
        return;
      }
      const m = new Uint8Array(P);
      for (const p of n.phones) m[p] = 1;
      this.masks.set(n, m);
      visit(n.yes);
      visit(n.no);
    };
    for (const r of roots) {
      this.rootIndex.set(r.phone * 16 + r.pdfClass, r.node);
      visit(r.node);
    }
  }

  pdf(left: number, centre: number, right: number, pdfClass: number): number {
    const P = this.phoneSymbols.length;
    // (Checked without allocating: this runs for every state of every graph the aligner and decoder compile.)
    if (!validPhoneId(left, P) || !validPhoneId(centre, P) || !validPhoneId(right, P)) {
      const [p, role] = !validPhoneId(left, P)
        ? [left, 'left']
        : !validPhoneId(centre, P)
          ? [centre, 'centre']
          : [right, 'right'];
      throw new TreeError(`unknown ${role} phone id ${p}`, { expected: `0..${P - 1}`, found: String(p) });
    }
    let n = this.rootIndex.get(this.rootOf[centre] * 16 + pdfClass);
    if (!n) {
      throw new TreeError(`phone '${this.phoneSymbols[centre]}' (pdf class ${pdfClass}) is missing from the tree`, {
        expected: 'a phone seen in the tree-building alignments',
        found: `no root for '${this.phoneSymbols[centre]}'`,
      });
    }
    while (!('leaf' in n)) n = this.masks.get(n)![phoneAt(n.position, left, centre, right)] ? n.yes : n.no;
    return n.leaf;
  }

  /** Phones that have a root (a shared root covers every word-position variant of its phone). */
  phonesCovered(): Set<string> {
    const rooted = new Set(this.roots.map((r) => r.phone));
    return new Set(this.phoneSymbols.filter((_, i) => i > 0 && rooted.has(this.rootOf[i])));
  }

  toJSON(): ContextTreeJson {
    const conv = (n: TreeNode): TreeNodeJson =>
      'leaf' in n
        ? { leaf: n.leaf }
        : { position: n.position, phones: n.phones.map((p) => this.phoneSymbols[p]), yes: conv(n.yes), no: conv(n.no) };
    return {
      format: 'am-distill-context-tree',
      version: 1,
      contextWidth: 3,
      phones: [...this.phoneSymbols],
      numLeaves: this.numPdfs,
      roots: this.roots.map((r) => ({ phone: this.phoneSymbols[r.phone], pdfClass: r.pdfClass, node: conv(r.node) })),
    };
  }

  static fromJSON(j: ContextTreeJson, file = 'tree.json'): ContextTree {
    if (j?.format !== 'am-distill-context-tree' || j.version !== 1) {
      throw new FormatError('not a context tree', {
        file,
        expected: 'format am-distill-context-tree version 1',
        found: `${j?.format} ${j?.version}`,
      });
    }
    const idOf = new Map(j.phones.map((p, i) => [p, i]));
    const pid = (p: string): number => {
      const i = idOf.get(p);
      if (i === undefined || i === 0)
        throw new FormatError(`tree refers to unknown phone '${p}'`, {
          file,
          expected: 'a phone of the tree phone list',
          found: p,
        });
      return i;
    };
    const leafInfo: { phone: number; pdfClass: number }[] = new Array(j.numLeaves);
    const conv = (n: TreeNodeJson, info: { phone: number; pdfClass: number }): TreeNode => {
      if ('leaf' in n) {
        leafInfo[n.leaf] = info;
        return { leaf: n.leaf };
      }
      if (n.position !== -1 && n.position !== 0 && n.position !== 1)
        throw new FormatError('bad question position', { file, expected: '-1, 0 or 1', found: String(n.position) });
      return { position: n.position, phones: n.phones.map(pid), yes: conv(n.yes, info), no: conv(n.no, info) };
    };
    const roots = j.roots.map((r) => {
      const info = { phone: pid(r.phone), pdfClass: r.pdfClass };
      return { ...info, node: conv(r.node, info) };
    });
    for (let i = 0; i < j.numLeaves; i++)
      if (!leafInfo[i])
        throw new FormatError(`leaf ${i} is missing from the tree`, {
          file,
          expected: `leaves 0..${j.numLeaves - 1}`,
          found: 'a gap',
        });
    return new ContextTree(j.phones, roots, leafInfo);
  }
}

/** Initial single-Gaussian GMM per leaf from pooled statistics (Kaldi gmm-init-model); `fallback` for empty leaves. */
export function leafGaussians(
  leafStats: GaussStats[],
  varFloor: number,
  fallback: (leaf: number) => DiagGmm,
): DiagGmm[] {
  return leafStats.map((s, i) => {
    if (s.count <= 0) return fallback(i);
    const { mean, variance } = s.moments(varFloor);
    return DiagGmm.single(mean, variance);
  });
}
