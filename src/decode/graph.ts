/**
 * The static half of the search space: a context-dependent lexical prefix tree (lexicon x HMM x
 * phonetic context) with exact cross-word triphone context. The n-gram LM is applied on the fly by
 * the decoder (word-conditioned tree copies, see ./decoder.ts and docs/decisions.md "Decoder").
 *
 * Construction:
 *  1. Pronunciations sorted by phone sequence make a prefix tree over (phone, next phone) pairs,
 *     so every tree node knows its phone's right context inside the word, and every node covers a
 *     contiguous range of pronunciations (used for LM look-ahead).
 *  2. Context at word edges is expanded, not approximated: a word-initial node gets one copy per
 *     group of possible left phones (the last phones of all words, silence, 0 = utterance start)
 *     that map to the same senone sequence; a word-final node gets one copy per group of possible
 *     right phones (first phones of all words, silence, 0 = utterance end). A one-phone word gets
 *     copies per (left phone, group of right phones). Groups merge contexts that the senone tree
 *     does not tell apart, so a monophone model has exactly one copy of everything.
 *  3. A word-final copy leaves through an "exit class": the next word may only start with a
 *     phone in the copy's right group, and its initial copy must be the one for this word's last
 *     phone as left context. Optional silence between words is a one-phone pseudo-word (no LM
 *     score, no LM state change) with the same treatment; silence cannot follow silence.
 *  4. Everything is flattened into typed arrays of HMM states for the search's inner loop.
 */
import { ConfigError, FormatError } from '../util/errors.ts';
import type { DecoderLexicon, PhoneContextModel } from './types.ts';

export interface SearchGraphOptions {
  /**
   * Probability of optional silence between words and at the utterance edges (Kaldi
   * prepare_lang --sil-prob). Default 0.5. 0 disables silence; 1 forces it between words.
   */
  silenceProb?: number;
}

/** Where a finished word (or silence) can go next. */
export interface ExitClasses {
  /** Per class: range into entryCopy/entryWeight (word-initial copies that may follow). */
  entryStart: Int32Array;
  entryCopy: Int32Array;
  entryWeight: Float64Array;
  /** Log weight of ending the utterance here; -Infinity if the context forbids it. */
  finalWeight: Float64Array;
}

export interface SearchGraph {
  /** Number of HMM states. */
  numStates: number;
  /** Per HMM state. */
  statePdf: Int32Array;
  stateCopy: Int32Array;
  /** Intra-phone arcs of each state (CSR: arcStart[s]..arcStart[s+1]). */
  arcStart: Int32Array;
  arcTo: Int32Array;
  arcWeight: Float64Array;
  /** Log weight of leaving the phone from a state; -Infinity if it cannot. */
  exitWeight: Float64Array;

  /** Number of phone copies (tree nodes in context). */
  numCopies: number;
  copyFirstState: Int32Array;
  copyPhone: Int32Array;
  /** Prefix-tree node of the copy (for LM look-ahead); -1 for silence. */
  copyTrieNode: Int32Array;
  /** Successor copies inside the word (CSR). */
  copyChildStart: Int32Array;
  copyChildren: Int32Array;
  /** Exit class of a word-final or silence copy; -1 inside a word. */
  copyExitClass: Int32Array;
  /** Words (decoder word ids) ending at a word-final copy (CSR); none for silence. */
  copyWordStart: Int32Array;
  copyWords: Int32Array;
  /** True for silence copies. */
  copyIsSilence: Uint8Array;

  exitClasses: ExitClasses;
  /** Exit class used at the utterance start. */
  startClass: number;

  /** Prefix tree, parents before children (for bottom-up look-ahead). */
  numTrieNodes: number;
  trieParent: Int32Array;
  /** Words ending at each trie node (CSR). */
  trieWordStart: Int32Array;
  trieWords: Int32Array;

  /** The lexicon words (index = decoder word id). */
  words: readonly string[];
  silenceProb: number;
}

interface TrieNode {
  phone: number;
  /** Next phone in the word, -1 at the word end. */
  right: number;
  left: number; // previous phone in the word, -1 at depth 0
  depth: number;
  parent: number;
  children: Map<number, number>;
  words: number[];
}

interface CopySpec {
  trie: number; // -1 for silence
  phone: number;
  pdfs: number[];
  lefts: number[] | null; // word-initial: left phones that enter this copy
  rights: number[] | null; // word-final: allowed right phones
  isSilence: boolean;
}

export function compileSearchGraph(lex: DecoderLexicon, am: PhoneContextModel, opts: SearchGraphOptions = {}): SearchGraph {
  const silProb = opts.silenceProb ?? 0.5;
  if (!(silProb >= 0 && silProb <= 1)) throw new ConfigError('silenceProb out of range', { keyPath: 'silenceProb', expected: 'a probability in [0, 1]', found: String(silProb) });
  const P = am.numPhoneIds;
  const sil = am.silencePhone;
  const useSil = silProb > 0;
  if (useSil && !(sil >= 1 && sil < P)) throw new ConfigError('silence phone id out of range', { expected: `1..${P - 1}`, found: String(sil) });
  if (lex.prons.length === 0) throw new FormatError('the lexicon has no pronunciations', { expected: 'at least one word', found: 'none' });

  // 1. Validate, deduplicate and sort pronunciations by phone sequence.
  const seen = new Set<string>();
  const prons: { word: number; phones: readonly number[] }[] = [];
  for (const p of lex.prons) {
    const word = lex.words[p.word];
    if (word === undefined) throw new FormatError('pronunciation of an unknown word id', { expected: `0..${lex.words.length - 1}`, found: String(p.word) });
    if (p.phones.length === 0) throw new FormatError(`empty pronunciation for '${word}'`, { expected: 'at least one phone', found: 'none' });
    for (const ph of p.phones) {
      if (!(Number.isInteger(ph) && ph >= 1 && ph < P)) throw new FormatError(`pronunciation of '${word}' has a phone id outside the acoustic model`, { expected: `1..${P - 1}`, found: String(ph) });
    }
    const key = `${p.word}:${p.phones.join(' ')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    prons.push(p);
  }
  prons.sort((a, b) => {
    const n = Math.min(a.phones.length, b.phones.length);
    for (let i = 0; i < n; i++) if (a.phones[i] !== b.phones[i]) return a.phones[i] - b.phones[i];
    return a.phones.length - b.phones.length || a.word - b.word;
  });

  // 2. Prefix tree over (phone, right phone in word).
  const trie: TrieNode[] = [];
  const roots = new Map<number, number>();
  for (const p of prons) {
    let parent = -1;
    for (let d = 0; d < p.phones.length; d++) {
      const right = d + 1 < p.phones.length ? p.phones[d + 1] : -1;
      const key = p.phones[d] * (P + 1) + (right + 1);
      const map = parent < 0 ? roots : trie[parent].children;
      let id = map.get(key);
      if (id === undefined) {
        id = trie.push({ phone: p.phones[d], right, left: d > 0 ? p.phones[d - 1] : -1, depth: d, parent, children: new Map(), words: [] }) - 1;
        map.set(key, id);
      }
      parent = id;
    }
    trie[parent].words.push(p.word);
  }

  // Context sets at word edges.
  const lastPhones = new Set<number>(), firstPhones = new Set<number>();
  for (const p of prons) { firstPhones.add(p.phones[0]); lastPhones.add(p.phones[p.phones.length - 1]); }
  const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
  const leftSet = sorted(new Set([0, ...lastPhones, ...(useSil ? [sil] : [])]));
  const rightSet = sorted(new Set([0, ...firstPhones, ...(useSil ? [sil] : [])]));
  const silLeftSet = sorted(new Set([0, ...lastPhones]));
  const silRightSet = sorted(new Set([0, ...firstPhones]));

  const numStatesOf = new Map<number, number>();
  const hmmStates = (phone: number): number => {
    let n = numStatesOf.get(phone);
    if (n === undefined) {
      n = am.hmm(phone).numStates;
      if (!(n >= 1)) throw new FormatError(`HMM of phone ${phone} has no states`, { expected: '>= 1 state', found: String(n) });
      numStatesOf.set(phone, n);
    }
    return n;
  };
  const pdfSeq = (l: number, c: number, r: number): number[] => {
    const n = hmmStates(c), out: number[] = [];
    for (let k = 0; k < n; k++) {
      const pdf = am.pdf(l, c, r, k);
      if (!(Number.isInteger(pdf) && pdf >= 0 && pdf < am.numPdfs)) throw new FormatError(`senone of phone ${c} state ${k} in context (${l}, ${r}) out of range`, { expected: `0..${am.numPdfs - 1}`, found: String(pdf) });
      out.push(pdf);
    }
    return out;
  };

  // 3. Copies in context.
  const copies: CopySpec[] = [];
  const trieCopies: number[][] = trie.map(() => []);
  const groupBy = <T>(items: number[], keyOf: (x: number) => string, make: (xs: number[]) => T): T[] => {
    const m = new Map<string, number[]>();
    for (const x of items) {
      const k = keyOf(x);
      const l = m.get(k);
      if (l) l.push(x); else m.set(k, [x]);
    }
    return [...m.values()].map(make);
  };
  const edgeCopies = (trieId: number, c: number, lefts: number[], rights: number[], isSilence: boolean): void => {
    // One-phone unit: copies per distinct (senone sequence, right group), each entered from its left phones.
    const byKey = new Map<string, CopySpec>();
    for (const l of lefts) {
      const groups = groupBy(rights, (r) => pdfSeq(l, c, r).join(','), (rs) => rs);
      for (const rs of groups) {
        const pdfs = pdfSeq(l, c, rs[0]);
        const key = pdfs.join(',') + '|' + rs.join(',');
        const ex = byKey.get(key);
        if (ex) ex.lefts!.push(l);
        else byKey.set(key, { trie: trieId, phone: c, pdfs, lefts: [l], rights: rs, isSilence });
      }
    }
    for (const cs of byKey.values()) {
      if (trieId >= 0) trieCopies[trieId].push(copies.length);
      copies.push(cs);
    }
  };
  trie.forEach((n, id) => {
    const c = n.phone;
    if (n.depth > 0 && n.right >= 0) {
      trieCopies[id].push(copies.length);
      copies.push({ trie: id, phone: c, pdfs: pdfSeq(n.left, c, n.right), lefts: null, rights: null, isSilence: false });
    } else if (n.depth > 0) {
      for (const rs of groupBy(rightSet, (r) => pdfSeq(n.left, c, r).join(','), (rs) => rs)) {
        trieCopies[id].push(copies.length);
        copies.push({ trie: id, phone: c, pdfs: pdfSeq(n.left, c, rs[0]), lefts: null, rights: rs, isSilence: false });
      }
    } else if (n.right >= 0) {
      for (const ls of groupBy(leftSet, (l) => pdfSeq(l, c, n.right).join(','), (ls) => ls)) {
        trieCopies[id].push(copies.length);
        copies.push({ trie: id, phone: c, pdfs: pdfSeq(ls[0], c, n.right), lefts: ls, rights: null, isSilence: false });
      }
    } else {
      edgeCopies(id, c, leftSet, rightSet, false);
    }
  });
  const silCopyStart = copies.length;
  if (useSil) edgeCopies(-1, sil, silLeftSet, silRightSet, true);
  const numCopies = copies.length;

  // Word-initial copies by left phone.
  const rootsFor = new Map<number, number[]>();
  const silFor = new Map<number, number[]>();
  for (let ci = 0; ci < numCopies; ci++) {
    const cs = copies[ci];
    if (!cs.lefts) continue;
    const target = cs.isSilence ? silFor : rootsFor;
    for (const l of cs.lefts) {
      const list = target.get(l);
      if (list) list.push(ci); else target.set(l, [ci]);
    }
  }

  // 4. Exit classes.
  const logWord = Math.log(1 - silProb), logSil = Math.log(silProb);
  const classKey = new Map<string, number>();
  const classEntries: { copy: number; w: number }[][] = [];
  const classFinal: number[] = [];
  const exitClassOf = (leftForNext: number, rights: number[] | null, afterSilence: boolean): number => {
    const key = `${leftForNext}|${rights ? rights.join(',') : '*'}|${afterSilence ? 1 : 0}`;
    let id = classKey.get(key);
    if (id !== undefined) return id;
    const allowed = rights ? new Set(rights) : null;
    const ok = (ph: number) => !allowed || allowed.has(ph);
    const wordW = afterSilence ? 0 : logWord;
    const entries: { copy: number; w: number }[] = [];
    if (wordW > -Infinity) {
      for (const ci of rootsFor.get(leftForNext) ?? []) if (ok(copies[ci].phone)) entries.push({ copy: ci, w: wordW });
    }
    if (!afterSilence && useSil && logSil > -Infinity && ok(sil)) {
      for (const ci of silFor.get(leftForNext) ?? []) entries.push({ copy: ci, w: logSil });
    }
    id = classEntries.push(entries) - 1;
    classFinal.push(ok(0) ? wordW : -Infinity);
    classKey.set(key, id);
    return id;
  };
  const copyExitClass = new Int32Array(numCopies).fill(-1);
  for (let ci = 0; ci < numCopies; ci++) {
    const cs = copies[ci];
    if (cs.rights) copyExitClass[ci] = exitClassOf(cs.isSilence ? sil : cs.phone, cs.rights, cs.isSilence);
  }
  const startClass = exitClassOf(0, null, false);
  // At the start, a word directly or silence first, with the same weights as between words.

  // 5. Flatten.
  let numStates = 0;
  const copyFirstState = new Int32Array(numCopies + 1);
  for (let ci = 0; ci < numCopies; ci++) { copyFirstState[ci] = numStates; numStates += copies[ci].pdfs.length; }
  copyFirstState[numCopies] = numStates;
  const statePdf = new Int32Array(numStates), stateCopy = new Int32Array(numStates);
  const exitWeight = new Float64Array(numStates).fill(-Infinity);
  const arcStart = new Int32Array(numStates + 1);
  const arcTo: number[] = [], arcWeight: number[] = [];
  const hmmCache = new Map<number, ReturnType<PhoneContextModel['hmm']>>();
  for (let ci = 0; ci < numCopies; ci++) {
    const cs = copies[ci];
    let hmm = hmmCache.get(cs.phone);
    if (!hmm) { hmm = am.hmm(cs.phone); hmmCache.set(cs.phone, hmm); }
    const first = copyFirstState[ci], n = cs.pdfs.length;
    const byFrom: { to: number; w: number }[][] = Array.from({ length: n }, () => []);
    for (const a of hmm.arcs) {
      if (!(a.from >= 0 && a.from < n && a.to >= 0 && a.to <= n)) throw new FormatError(`HMM arc of phone ${cs.phone} out of range`, { expected: `states 0..${n - 1}, exit ${n}`, found: `${a.from} -> ${a.to}` });
      if (a.logProb === -Infinity) continue;
      if (a.to === n) exitWeight[first + a.from] = Math.max(exitWeight[first + a.from], a.logProb);
      else byFrom[a.from].push({ to: first + a.to, w: a.logProb });
    }
    for (let k = 0; k < n; k++) {
      const s = first + k;
      statePdf[s] = cs.pdfs[k];
      stateCopy[s] = ci;
      arcStart[s] = arcTo.length;
      for (const a of byFrom[k]) { arcTo.push(a.to); arcWeight.push(a.w); }
    }
  }
  arcStart[numStates] = arcTo.length;

  const childLists: number[][] = copies.map((cs) => (cs.trie >= 0 ? [...trie[cs.trie].children.values()].flatMap((t) => trieCopies[t]) : []));
  const csr = (lists: number[][]): { start: Int32Array; items: Int32Array } => {
    const start = new Int32Array(lists.length + 1);
    lists.forEach((l, i) => { start[i + 1] = start[i] + l.length; });
    return { start, items: Int32Array.from(lists.flat()) };
  };
  const ch = csr(childLists);
  const cw = csr(copies.map((cs) => (cs.trie >= 0 && cs.rights ? trie[cs.trie].words : [])));
  const ent = csr(classEntries.map((l) => l.map((e) => e.copy)));
  const tw = csr(trie.map((n) => n.words));
  return {
    numStates, statePdf, stateCopy, arcStart, arcTo: Int32Array.from(arcTo), arcWeight: Float64Array.from(arcWeight), exitWeight,
    numCopies,
    copyFirstState: copyFirstState.subarray(0, numCopies),
    copyPhone: Int32Array.from(copies, (c) => c.phone),
    copyTrieNode: Int32Array.from(copies, (c) => c.trie),
    copyChildStart: ch.start, copyChildren: ch.items,
    copyExitClass,
    copyWordStart: cw.start, copyWords: cw.items,
    copyIsSilence: Uint8Array.from(copies, (c, i) => (i >= silCopyStart && c.isSilence ? 1 : 0)),
    exitClasses: {
      entryStart: ent.start, entryCopy: ent.items,
      entryWeight: Float64Array.from(classEntries.flat().map((e) => e.w)),
      finalWeight: Float64Array.from(classFinal),
    },
    startClass,
    numTrieNodes: trie.length,
    trieParent: Int32Array.from(trie, (n) => n.parent),
    trieWordStart: tw.start, trieWords: tw.items,
    words: lex.words,
    silenceProb: silProb,
  };
}
