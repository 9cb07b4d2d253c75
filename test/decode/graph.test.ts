import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/util/rng.ts';
import { compileSearchGraph, type SearchGraph } from '../../src/decode/graph.ts';
import type { DecoderLexicon } from '../../src/decode/types.ts';
import { SIL_ID, toyLexicon, toyModel } from './helpers.ts';

/** Phone sequence of each copy chain from a word-initial copy (for checking contexts). */
function copyPdfs(g: SearchGraph, c: number): number[] {
  const out: number[] = [];
  const next = c + 1 < g.numCopies ? g.copyFirstState[c + 1] : g.numStates;
  for (let s = g.copyFirstState[c]; s < next; s++) out.push(g.statePdf[s]);
  return out;
}

describe('compileSearchGraph', () => {
  it('shares pronunciation prefixes and keeps one copy per node for a monophone model', () => {
    const am = toyModel(6, 1);
    // CAT K AE T, CAB K AE B, CA K AE, DOG D AO G (phones as ids 2..6).
    const lex: DecoderLexicon = {
      words: ['CAT', 'CAB', 'CA', 'DOG'],
      prons: [
        { word: 0, phones: [2, 3, 4] },
        { word: 1, phones: [2, 3, 5] },
        { word: 2, phones: [2, 3] },
        { word: 3, phones: [6, 3, 4] },
      ],
    };
    const g = compileSearchGraph(lex, am);
    // Trie over (phone, next phone): K(AE) AE(T) T AE(B) B AE(end) ... : K and AE shared by CAT and CAB only where the right context agrees.
    // Nodes: K>AE, AE>T, T, AE>B, B, AE>end, D>AO, AO>G, G = 9.
    expect(g.numTrieNodes).toBe(9);
    // Monophone: one copy per trie node, plus one silence copy.
    expect(g.numCopies).toBe(10);
    expect(g.copyIsSilence.reduce((a, b) => a + b, 0)).toBe(1);
    // Each copy has the phone's HMM states: 3 per phone, 5 for silence.
    expect(g.numStates).toBe(9 * 3 + 5);
    // The words end where their pronunciation ends.
    const ends = new Map<string, number>();
    for (let c = 0; c < g.numCopies; c++)
      for (let k = g.copyWordStart[c]; k < g.copyWordStart[c + 1]; k++)
        ends.set(g.words[g.copyWords[k]], g.copyPhone[c]);
    expect(Object.fromEntries(ends)).toEqual({ CAT: 4, CAB: 5, CA: 3, DOG: 4 });
  });

  it('groups homophones at one word end', () => {
    const am = toyModel(4, 1);
    const g = compileSearchGraph(
      {
        words: ['TWO', 'TOO', 'TO'],
        prons: [
          { word: 0, phones: [2, 3] },
          { word: 1, phones: [2, 3] },
          { word: 2, phones: [2, 3] },
          { word: 2, phones: [2, 4] },
        ],
      },
      am,
    );
    const groups: string[][] = [];
    for (let c = 0; c < g.numCopies; c++) {
      const ws = Array.from(g.copyWords.subarray(g.copyWordStart[c], g.copyWordStart[c + 1]), (w) => g.words[w]);
      if (ws.length) groups.push(ws);
    }
    expect(groups).toEqual([['TWO', 'TOO', 'TO'], ['TO']]);
  });

  it('gives every copy the senones of its contexts, across word boundaries and silence', () => {
    const rng = new Rng('graph-ctx');
    const am = toyModel(7, 3);
    const lex = toyLexicon(rng, { numWords: 25, numPhones: 7, minLen: 1, maxLen: 4, altFraction: 0.3 });
    const g = compileSearchGraph(lex, am);
    const firsts = new Set(lex.prons.map((p) => p.phones[0]));
    const lasts = new Set(lex.prons.map((p) => p.phones[p.phones.length - 1]));
    // Walk: every exit class entry is a word-initial copy whose senones fit (left = the finishing unit's last phone).
    const ec = g.exitClasses;
    let checked = 0;
    for (let c = 0; c < g.numCopies; c++) {
      const cls = g.copyExitClass[c];
      if (cls < 0) continue;
      const left = g.copyIsSilence[c] ? SIL_ID : g.copyPhone[c];
      for (let k = ec.entryStart[cls]; k < ec.entryStart[cls + 1]; k++) {
        const d = ec.entryCopy[k];
        const ph = g.copyPhone[d];
        // The finishing copy's last state was built for this right phone.
        const lastPdf = g.statePdf[g.copyFirstState[c] + copyPdfs(g, c).length - 1];
        const n = am.hmm(g.copyPhone[c]).numStates;
        // Find the finishing copy's left context by its first senone (any left that produces it).
        const okRight = [...Array(am.numPhoneIds).keys()].some((l) => am.pdf(l, g.copyPhone[c], ph, n - 1) === lastPdf);
        expect(okRight).toBe(true);
        // The entered copy's first senone was built for this left phone.
        expect(g.statePdf[g.copyFirstState[d]]).toBe(am.pdf(left, ph, 0, 0));
        // Silence never follows silence; words only start with first phones.
        if (g.copyIsSilence[c]) expect(g.copyIsSilence[d]).toBe(0);
        if (!g.copyIsSilence[d]) expect(firsts.has(ph)).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
    // Silence copies: entered after a word's last phone or at the start; weights log 0.5 / log 0.5.
    const entryW = new Set(Array.from(ec.entryWeight, (w) => w.toFixed(6)));
    expect([...entryW].sort()).toEqual([Math.log(0.5).toFixed(6), (0).toFixed(6)].sort());
    expect(lasts.size).toBeGreaterThan(1);
  });

  it('merges contexts the senone tree does not tell apart', () => {
    const rng = new Rng('graph-merge');
    const lex = toyLexicon(rng, { numWords: 40, numPhones: 9, minLen: 2, maxLen: 4 });
    const mono = compileSearchGraph(lex, toyModel(9, 1));
    const tri = compileSearchGraph(lex, toyModel(9, 3));
    expect(mono.numCopies).toBe(mono.numTrieNodes + 1);
    // The toy tree has 3 context classes per side: at most 3 copies per word-edge node.
    expect(tri.numCopies).toBeGreaterThan(mono.numCopies);
    expect(tri.numCopies).toBeLessThanOrEqual(3 * tri.numTrieNodes + 9);
  });

  it('without silence (silenceProb 0) has no silence copies and free word-to-word entry', () => {
    const rng = new Rng('nosil');
    const lex = toyLexicon(rng, { numWords: 10, numPhones: 5 });
    const g = compileSearchGraph(lex, toyModel(5, 3), { silenceProb: 0 });
    expect(g.copyIsSilence.every((x) => x === 0)).toBe(true);
    expect(Array.from(g.exitClasses.entryWeight).every((w) => w === 0)).toBe(true);
  });
});
