import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/util/rng.ts';
import { TreeStats, buildTree, ContextTree, type Question } from '../../src/hmm/tree.ts';
import { TreeError } from '../../src/hmm/errors.ts';
import { FormatError } from '../../src/util/errors.ts';
import { clusterPhoneQuestions, arpabetClassQuestions } from '../../src/hmm/questions.ts';
import { PhoneSet } from '../../src/lang/phones.ts';
import { toyPhones, expectClose } from './helpers.ts';

const phones = toyPhones();
const id = (p: string) => phones.id(p);
const [AA, B, IY, K, S, T, SIL] = ['AA', 'B', 'IY', 'K', 'S', 'T', 'SIL'].map(id);

/** Log-likelihood of samples under their own ML diagonal Gaussian, computed sample by sample. */
function mlLogLike(xs: number[][]): number {
  const d = xs[0].length,
    n = xs.length;
  const mean = Array.from({ length: d }, (_, j) => xs.reduce((s, x) => s + x[j], 0) / n);
  const v = Array.from({ length: d }, (_, j) => Math.max(0.01, xs.reduce((s, x) => s + (x[j] - mean[j]) ** 2, 0) / n));
  let ll = 0;
  for (const x of xs)
    for (let j = 0; j < d; j++) ll += -0.5 * Math.log(2 * Math.PI * v[j]) - (x[j] - mean[j]) ** 2 / (2 * v[j]);
  return ll;
}

/**
 * Data for centre AA, state 0: the left neighbour moves the mean (B, K: +0; S: +1.5; T: +4),
 * the right neighbour moves it a little (IY: +0.5).
 */
function constructed(rng: Rng): { stats: TreeStats; samples: Map<string, number[][]> } {
  const stats = new TreeStats(2, phones.symbols.length);
  const samples = new Map<string, number[][]>();
  const leftShift: Record<number, number> = { [B]: 0, [K]: 0, [S]: 1.5, [T]: 4 };
  for (const l of [B, K, S, T]) {
    for (const r of [IY, SIL]) {
      const list: number[][] = [];
      for (let i = 0; i < 60; i++) {
        const x = [leftShift[l] + (r === IY ? 0.5 : 0) + rng.gauss(), rng.gauss()];
        stats.accumulate(l, AA, r, 0, x);
        list.push(x);
      }
      samples.set(`${l},${r}`, list);
    }
  }
  return { stats, samples };
}

describe('decision-tree building', () => {
  const questions: Question[] = [
    { phones: [B, K], name: 'BK' },
    { phones: [B, K, S], name: 'BKS' },
    { phones: [T], name: 'T' },
    { phones: [S, T], name: 'ST' },
    { phones: [IY], name: 'IY' },
  ];

  it('splits on the question with the highest likelihood gain, computed sample by sample', () => {
    const { stats, samples } = constructed(new Rng(4));
    const all = [...samples.values()].flat();
    const parent = mlLogLike(all);
    // Brute-force gain of every (question, position).
    let best = { gain: -Infinity, name: '', position: 0 };
    for (const q of questions) {
      for (const position of [-1, 1]) {
        const yes: number[][] = [],
          no: number[][] = [];
        for (const [key, xs] of samples) {
          const [l, r] = key.split(',').map(Number);
          (q.phones.includes(position === -1 ? l : r) ? yes : no).push(...xs);
        }
        if (yes.length === 0 || no.length === 0) continue;
        const gain = mlLogLike(yes) + mlLogLike(no) - parent;
        if (gain > best.gain) best = { gain, name: q.name!, position };
      }
    }
    expect(best.name).toBe('BKS'); // T (+4) is farthest from the others
    const { tree, gains } = buildTree(stats, phones, questions, (p) => (p === AA ? 1 : 3), {
      maxLeaves: 2,
      minLeafOccupancy: 1,
    });
    const root = tree.roots.find((r) => r.phone === AA)!.node;
    expect('position' in root && root.position).toBe(best.position);
    // {B,K,S} and {T} make the same partition of the seen left phones (same gain); either is right.
    const yesSide = 'phones' in root ? [B, K, S, T].filter((p) => root.phones.includes(p)) : [];
    expect([[B, K, S].join(), [T].join()]).toContain(yesSide.join());
    expectClose(gains[0], best.gain, 1e-6 * Math.abs(best.gain), 'gain of the first split');
    expect(tree.numPdfs).toBe(2);
  });

  it('grows to maxLeaves by best gain anywhere and respects the minimum occupancy', () => {
    const { stats } = constructed(new Rng(4));
    const big = buildTree(stats, phones, questions, () => 1, { maxLeaves: 4, minLeafOccupancy: 1 });
    expect(big.tree.numPdfs).toBe(4);
    expect(big.gains).toHaveLength(3);
    for (let i = 1; i < big.gains.length; i++) expect(big.gains[i]).toBeLessThanOrEqual(big.gains[0]);
    // A minimum occupancy of 240 frames (of 480) allows only 240/240 splits: left-context pairs.
    const occ = buildTree(stats, phones, questions, () => 1, { maxLeaves: 10, minLeafOccupancy: 240 });
    const root = occ.tree.roots[0].node;
    expect('phones' in root && root.phones.length).toBe(2);
    expect(occ.leafStats.every((s) => s.count >= 240)).toBe(true);
  });

  it('looks up unseen contexts through the question answers, and names a phone missing from the tree', () => {
    const { stats } = constructed(new Rng(4));
    const { tree } = buildTree(stats, phones, questions, () => 1, { maxLeaves: 3, minLeafOccupancy: 1 });
    const leafT = tree.pdf(T, AA, SIL, 0);
    expect(tree.pdf(T, AA, IY, 0)).toBe(leafT);
    // Utterance edge (0) and a never-seen left phone answer "no" to every question.
    expect(tree.pdf(0, AA, SIL, 0)).toBe(tree.pdf(AA, AA, SIL, 0));
    expect(() => tree.pdf(B, IY, B, 0)).toThrow(TreeError);
    expect(() => tree.pdf(B, IY, B, 0)).toThrow(/phone 'IY' \(pdf class 0\) is missing from the tree/);
    expect(() => tree.pdf(99, AA, B, 0)).toThrow(/unknown left phone id 99/);
  });

  it('round-trips through JSON with identical lookups, and rejects a corrupt file', () => {
    const { stats } = constructed(new Rng(4));
    const { tree } = buildTree(stats, phones, questions, () => 1, { maxLeaves: 4, minLeafOccupancy: 1 });
    const back = ContextTree.fromJSON(JSON.parse(JSON.stringify(tree.toJSON())));
    for (const l of [0, B, K, S, T, IY])
      for (const r of [0, IY, SIL, T]) expect(back.pdf(l, AA, r, 0)).toBe(tree.pdf(l, AA, r, 0));
    expect(back.leafInfo).toEqual(tree.leafInfo);
    const j = tree.toJSON();
    expect(() => ContextTree.fromJSON({ ...j, format: 'x' as never })).toThrow(FormatError);
    expect(() => ContextTree.fromJSON({ ...j, roots: [{ ...j.roots[0], phone: 'QQ' }] })).toThrow(/unknown phone 'QQ'/);
    expect(() => ContextTree.fromJSON({ ...j, numLeaves: j.numLeaves + 1 })).toThrow(/leaf 4 is missing/);
  });
});

describe('phonetic questions', () => {
  it('clusters phones bottom-up: phones with close statistics merge first', () => {
    const rng = new Rng(2);
    const stats = new TreeStats(1, phones.symbols.length);
    const centre: Record<number, number> = { [AA]: 0, [IY]: 0.3, [B]: 10, [K]: 10.4, [S]: 20, [T]: 30 };
    for (const [p, m] of Object.entries(centre))
      for (let i = 0; i < 200; i++) stats.accumulate(0, Number(p), 0, 1, [m + 0.1 * rng.gauss()]);
    const qs = clusterPhoneQuestions(stats, phones);
    const sets = qs.map((q) => q.phones.join(','));
    expect(sets).toContain([AA, IY].sort((a, b) => a - b).join(','));
    expect(sets).toContain([B, K].sort((a, b) => a - b).join(','));
    expect(sets).toContain(String(T)); // singletons are questions too
    expect(sets).not.toContain([AA, B].sort((a, b) => a - b).join(','));
    expect(qs.find((q) => q.name === 'silence')!.phones).toEqual([SIL, id('SPN')]);
  });
  it('has an ARPAbet class table restricted to the phone set', () => {
    const qs = arpabetClassQuestions(PhoneSet.arpabet());
    const nasal = qs.find((q) => q.name === 'class:nasal')!;
    expect(nasal.phones.map((p) => PhoneSet.arpabet().symbol(p))).toEqual(['M', 'N', 'NG']);
    const toy = arpabetClassQuestions(phones);
    expect(toy.find((q) => q.name === 'class:stop')!.phones).toEqual([B, K, T].sort((a, b) => a - b));
  });
});
