/**
 * Word-position-dependent phones (Kaldi prepare_lang.sh --position-dependent-phones): marking,
 * the phone set, shared monophone pdfs, shared tree roots with a centre-position question, and
 * the position questions.
 */
import { describe, it, expect } from 'vitest';
import { buildLang } from '../../src/lang/lang.ts';
import { PhoneSet, basePhone, markWordPositions, phoneRoots } from '../../src/lang/phones.ts';
import { Topology } from '../../src/hmm/topology.ts';
import { MonophoneContext } from '../../src/hmm/context.ts';
import { ContextTree, TreeStats, buildTree } from '../../src/hmm/tree.ts';
import { arpabetClassQuestions, clusterPhoneQuestions, wordPositionQuestions } from '../../src/hmm/questions.ts';
import { Rng } from '../../src/util/rng.ts';

describe('word-position phones', () => {
  it('marks pronunciations B/I/E, S for one-phone words, and leaves silence phones alone', () => {
    const sil = new Set(['SIL', 'SPN']);
    expect(markWordPositions(['K', 'AE', 'T'], sil)).toEqual(['K_B', 'AE_I', 'T_E']);
    expect(markWordPositions(['AH', 'N'], sil)).toEqual(['AH_B', 'N_E']);
    expect(markWordPositions(['AH'], sil)).toEqual(['AH_S']);
    expect(markWordPositions(['SPN'], sil)).toEqual(['SPN']);
    expect(basePhone('AH_B')).toBe('AH');
    expect(basePhone('SIL')).toBe('SIL');
  });

  it('builds a lang with the 4 x 39 position phones and marked pronunciations (CMUdict)', async () => {
    const lang = await buildLang(['THE', 'CAT', 'A', 'A'], { wordPositionPhones: true });
    expect(lang.phones.size).toBe(2 + 4 * 39);
    expect(lang.phones.wordPositions).toBe(true);
    expect(lang.phones.has('AH')).toBe(false);
    expect(lang.lexicon.get('CAT')).toEqual([['K_B', 'AE_I', 'T_E']]);
    expect(lang.lexicon.get('A')!.every((p) => p.length === 1 && p[0].endsWith('_S'))).toBe(true);
    expect(lang.lexicon.get('<UNK>')).toEqual([['SPN']]);
    expect(lang.options.wordPositionPhones).toBe(true);
    const plain = await buildLang(['CAT']);
    expect(plain.phones.wordPositions).toBe(false);
    expect(plain.lexicon.get('CAT')).toEqual([['K', 'AE', 'T']]);
    expect('wordPositionPhones' in plain.options).toBe(false);
  });

  it("shares a phone's monophone pdfs among its position variants", () => {
    const pos = PhoneSet.arpabet({ wordPositions: true });
    const mono = new MonophoneContext(new Topology(pos));
    const plain = new MonophoneContext(new Topology(PhoneSet.arpabet()));
    expect(mono.numPdfs).toBe(plain.numPdfs);
    for (const k of [0, 1, 2]) {
      const b = mono.pdf(0, pos.id('AH_B'), 0, k);
      for (const v of ['AH_E', 'AH_I', 'AH_S']) expect(mono.pdf(0, pos.id(v), 0, k)).toBe(b);
      expect(mono.pdf(0, pos.id('N_B'), 0, k)).not.toBe(b);
    }
    expect(Array.from(phoneRoots(PhoneSet.arpabet().symbols))).toEqual(PhoneSet.arpabet().symbols.map((_, i) => i));
  });

  it('builds one root per base phone and splits it on the centre position where the data differ, through JSON', () => {
    const phones = new PhoneSet([
      'SIL',
      'SPN',
      ...['AH', 'N'].flatMap((p) => ['B', 'E', 'I', 'S'].map((w) => `${p}_${w}`)),
    ]);
    const id = (s: string) => phones.id(s);
    const rng = new Rng(9);
    const stats = new TreeStats(1, phones.symbols.length);
    // AH at a word's start sounds different (mean 3) from AH elsewhere (mean 0); the neighbours do not matter.
    for (const c of ['AH_B', 'AH_S', 'AH_E', 'AH_I']) {
      for (let i = 0; i < 100; i++)
        stats.accumulate(id('N_E'), id(c), id('N_B'), 0, [(/_[BS]$/.test(c) ? 3 : 0) + 0.3 * rng.gauss()]);
    }
    for (let i = 0; i < 100; i++) stats.accumulate(id('AH_E'), id('N_B'), id('AH_E'), 0, [-2 + 0.3 * rng.gauss()]);
    const questions = wordPositionQuestions(phones);
    expect(questions.map((q) => q.name)).toEqual([
      'position:B',
      'position:E',
      'position:I',
      'position:S',
      'position:word-initial',
      'position:word-final',
    ]);
    const { tree } = buildTree(stats, phones, questions, () => 1, { maxLeaves: 3, minLeafOccupancy: 10 });
    // Roots: AH (named by AH_B) and N (N_B), not one per variant.
    expect(tree.roots.map((r) => phones.symbol(r.phone))).toEqual(['AH_B', 'N_B']);
    expect(tree.numPdfs).toBe(3);
    const json = JSON.parse(JSON.stringify(tree.toJSON()));
    expect(json.roots[0].node).toMatchObject({ position: 0, phones: ['AH_B', 'AH_S', 'N_B', 'N_S'] });
    for (const t of [tree, ContextTree.fromJSON(json)]) {
      const initial = t.pdf(0, id('AH_B'), 0, 0);
      expect(t.pdf(0, id('AH_S'), 0, 0)).toBe(initial);
      expect(t.pdf(0, id('AH_E'), 0, 0)).not.toBe(initial);
      expect(t.pdf(0, id('AH_I'), 0, 0)).toBe(t.pdf(0, id('AH_E'), 0, 0));
      // N_S never occurred: its root N covers it.
      expect(t.pdf(0, id('N_S'), 0, 0)).toBe(t.pdf(0, id('N_B'), 0, 0));
    }
  });

  it('asks class and cluster questions over every variant of their base phones', () => {
    const pos = PhoneSet.arpabet({ wordPositions: true });
    const nasal = arpabetClassQuestions(pos).find((q) => q.name === 'class:nasal')!;
    expect(nasal.phones.map((p) => pos.symbol(p))).toEqual([
      'M_B',
      'M_E',
      'M_I',
      'M_S',
      'N_B',
      'N_E',
      'N_I',
      'N_S',
      'NG_B',
      'NG_E',
      'NG_I',
      'NG_S',
    ]);
    expect(arpabetClassQuestions(pos).some((q) => q.name === 'position:word-final')).toBe(true);
    const stats = new TreeStats(1, pos.symbols.length);
    const rng = new Rng(2);
    for (const c of ['AA_B', 'AA_E', 'IY_B', 'S_E'])
      for (let i = 0; i < 20; i++) stats.accumulate(0, pos.id(c), 0, 1, [rng.gauss() + (c.startsWith('S') ? 5 : 0)]);
    const qs = clusterPhoneQuestions(stats, pos);
    // Every cluster holds all four variants of its phones.
    for (const q of qs.filter((x) => x.name === 'cluster'))
      expect(q.phones.length % 4, q.phones.map((p) => pos.symbol(p)).join(' ')).toBe(0);
    expect(
      qs.find((q) => q.name === 'cluster' && q.phones.length === 4 && pos.symbol(q.phones[0]) === 'AA_B'),
    ).toBeDefined();
  });
});
