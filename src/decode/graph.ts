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

export function compileSearchGraph(
  lex: DecoderLexicon,
  am: PhoneContextModel,
  opts: SearchGraphOptions = {},
): SearchGraph {
  const silProb = opts.silenceProb ?? 0.5;
  if (!(silProb >= 0 && silProb <= 1))
    throw new ConfigError('silenceProb out of range', {
      keyPath: 'silenceProb',
      expected: 'a probability in [0, 1]',
      found: String(silProb),
    });
  const P = am.numPhoneIds;
  const sil = am.silencePhone;
  const useSil = silProb > 0;
  if (useSil && !(sil >= 1 && sil < P))
    throw new ConfigError('silence phone id out of range', { expected: `1..${P - 1}`, found: String(sil) });
  if (lex.prons.length === 0)
    throw new FormatError('the lexicon has no pronunciations', { expected: 'at least one word', found: 'none' });

  const prons = sortedPronunciations(lex, P);
  const trie = buildPrefixTree(prons);
  const senones = new ContextSenones(am);
  const copies = expandContexts(trie, edgeContexts(prons, useSil ? sil : null), senones, P);
  const exits = buildExitClasses(copies, silProb, useSil ? sil : null);
  const states = flattenHmmStates(copies, senones);
  const successors = linkCopies(copies, trie);
  const numCopies = copies.count;
  return {
    numStates: states.numStates,
    statePdf: states.statePdf,
    stateCopy: states.stateCopy,
    arcStart: states.arcStart,
    arcTo: states.arcTo,
    arcWeight: states.arcWeight,
    exitWeight: states.exitWeight,
    numCopies,
    copyFirstState: states.copyFirstState.subarray(0, numCopies),
    copyPhone: Int32Array.from(copies.phone),
    copyTrieNode: Int32Array.from(copies.trieNode),
    copyChildStart: successors.copyChildStart,
    copyChildren: successors.copyChildren,
    copyExitClass: exits.copyExitClass,
    copyWordStart: successors.copyWordStart,
    copyWords: successors.copyWords,
    copyIsSilence: Uint8Array.from(copies.silence, (x, i) => (i >= copies.silenceStart && x ? 1 : 0)),
    exitClasses: exits.exitClasses,
    startClass: exits.startClass,
    numTrieNodes: trie.numNodes,
    trieParent: Int32Array.from(trie.parent),
    trieWordStart: trie.words.start,
    trieWords: trie.words.items,
    words: lex.words,
    silenceProb: silProb,
  };
}

type Pronunciation = { word: number; phones: readonly number[] };

/** 1. Validate, deduplicate and sort pronunciations by phone sequence. */
function sortedPronunciations(lex: DecoderLexicon, P: number): Pronunciation[] {
  const seen = new Set<string>();
  const prons: Pronunciation[] = [];
  for (const p of lex.prons) {
    const word = lex.words[p.word];
    if (word === undefined)
      throw new FormatError('pronunciation of an unknown word id', {
        expected: `0..${lex.words.length - 1}`,
        found: String(p.word),
      });
    if (p.phones.length === 0)
      throw new FormatError(`empty pronunciation for '${word}'`, { expected: 'at least one phone', found: 'none' });
    for (const ph of p.phones) {
      if (!(Number.isInteger(ph) && ph >= 1 && ph < P))
        throw new FormatError(`pronunciation of '${word}' has a phone id outside the acoustic model`, {
          expected: `1..${P - 1}`,
          found: String(ph),
        });
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
  return prons;
}

/** Items grouped by key, as CSR: the items of key k are items[start[k]..start[k+1]). */
interface Csr {
  start: Int32Array;
  items: Int32Array;
}

/** CSR of items grouped by key (stable: items keep their order within a key; negative keys are left out). */
function groupCsr(n: number, keys: ArrayLike<number>, values: (i: number) => number): Csr {
  const start = new Int32Array(n + 1);
  for (let i = 0; i < keys.length; i++) if (keys[i] >= 0) start[keys[i] + 1]++;
  for (let k = 0; k < n; k++) start[k + 1] += start[k];
  const fill = start.slice(0, n),
    items = new Int32Array(start[n]);
  for (let i = 0; i < keys.length; i++) if (keys[i] >= 0) items[fill[keys[i]]++] = values(i);
  return { start, items };
}

/** The lexical prefix tree over (phone, right phone in the word); parallel arrays per node. */
interface PrefixTree {
  numNodes: number;
  phone: number[];
  /** Next phone in the word (-1: word-final node). */
  right: number[];
  /** Previous phone in the word (-1: word-initial node). */
  left: number[];
  depth: number[];
  /** Parent node (-1: a root); parents come before their children. */
  parent: number[];
  /** Words ending at each node. */
  words: Csr;
  /** Children of each node, in id order. */
  children: Csr;
}

/**
 * 2. Prefix tree over (phone, right phone in word). In the sorted order the pronunciations through
 * a node are contiguous, so a node is either the previous pronunciation's at that depth or new
 * (node ids in order of first use; a node's children in id order).
 */
function buildPrefixTree(prons: readonly Pronunciation[]): PrefixTree {
  const tPhone: number[] = [],
    tRight: number[] = [],
    tLeft: number[] = [],
    tDepth: number[] = [],
    tParent: number[] = [];
  const pronEnd = new Int32Array(prons.length);
  const path: number[] = [];
  for (let i = 0; i < prons.length; i++) {
    const ph = prons[i].phones,
      prev = i > 0 ? prons[i - 1].phones : null;
    let parent = -1,
      shared = prev !== null;
    for (let d = 0; d < ph.length; d++) {
      const right = d + 1 < ph.length ? ph[d + 1] : -1;
      if (shared && d < prev!.length && prev![d] === ph[d] && (d + 1 < prev!.length ? prev![d + 1] : -1) === right) {
        parent = path[d];
        continue;
      }
      shared = false;
      const id = tPhone.length;
      tPhone.push(ph[d]);
      tRight.push(right);
      tLeft.push(d > 0 ? ph[d - 1] : -1);
      tDepth.push(d);
      tParent.push(parent);
      path[d] = id;
      parent = id;
    }
    pronEnd[i] = parent;
  }
  const numNodes = tPhone.length;
  return {
    numNodes,
    phone: tPhone,
    right: tRight,
    left: tLeft,
    depth: tDepth,
    parent: tParent,
    words: groupCsr(numNodes, pronEnd, (i) => prons[i].word),
    children: groupCsr(numNodes, tParent, (i) => i),
  };
}

/** Phones that can stand beside a word edge (0 = utterance start / end), sorted. */
interface EdgeContexts {
  /** Left of a word: the last phones of all words, silence, 0. */
  left: number[];
  /** Right of a word: the first phones of all words, silence, 0. */
  right: number[];
  /** Beside silence: words' phones and 0 only (silence cannot follow silence). */
  silenceLeft: number[];
  silenceRight: number[];
  /** The silence phone; null without optional silence. */
  silence: number | null;
}

/** Context sets at word edges. */
function edgeContexts(prons: readonly Pronunciation[], silence: number | null): EdgeContexts {
  const lastPhones = new Set<number>(),
    firstPhones = new Set<number>();
  for (const p of prons) {
    firstPhones.add(p.phones[0]);
    lastPhones.add(p.phones[p.phones.length - 1]);
  }
  const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
  const sil = silence !== null ? [silence] : [];
  return {
    left: sorted(new Set([0, ...lastPhones, ...sil])),
    right: sorted(new Set([0, ...firstPhones, ...sil])),
    silenceLeft: sorted(new Set([0, ...lastPhones])),
    silenceRight: sorted(new Set([0, ...firstPhones])),
    silence,
  };
}

/** The model's HMM state counts and senone sequences per (left, centre, right), checked and cached. */
class ContextSenones {
  readonly am: PhoneContextModel;
  private readonly numStatesOf = new Map<number, number>();
  // Senone sequences, one array per distinct (left, centre, right), shared by every copy in that context.
  private readonly pdfCache = new Map<number, number[]>();

  constructor(am: PhoneContextModel) {
    this.am = am;
  }

  hmmStates(phone: number): number {
    let n = this.numStatesOf.get(phone);
    if (n === undefined) {
      n = this.am.hmm(phone).numStates;
      if (!(n >= 1))
        throw new FormatError(`HMM of phone ${phone} has no states`, { expected: '>= 1 state', found: String(n) });
      this.numStatesOf.set(phone, n);
    }
    return n;
  }

  pdfSeq(l: number, c: number, r: number): number[] {
    const am = this.am,
      P = am.numPhoneIds;
    const key = (l * P + c) * P + r;
    let out = this.pdfCache.get(key);
    if (out) return out;
    const n = this.hmmStates(c);
    out = [];
    for (let k = 0; k < n; k++) {
      const pdf = am.pdf(l, c, r, k);
      if (!(Number.isInteger(pdf) && pdf >= 0 && pdf < am.numPdfs))
        throw new FormatError(`senone of phone ${c} state ${k} in context (${l}, ${r}) out of range`, {
          expected: `0..${am.numPdfs - 1}`,
          found: String(pdf),
        });
      out.push(pdf);
    }
    this.pdfCache.set(key, out);
    return out;
  }
}

/** One phone copy in context: its senones, and the left / right phones it stands for at a word edge (null inside a word). */
interface Copy {
  pdfs: number[];
  lefts: number[] | null;
  rights: number[] | null;
}

/** The copies in context, as parallel arrays (the context lists are shared between copies). */
interface Copies {
  count: number;
  trieNode: number[];
  phone: number[];
  pdfs: number[][];
  lefts: (number[] | null)[];
  rights: (number[] | null)[];
  silence: number[];
  /** Per trie node, its first copy (CSR over the word copies). */
  trieCopyStart: Int32Array;
  /** Index of the first silence copy (they come after every word copy). */
  silenceStart: number;
}

function groupBy<T>(items: number[], keyOf: (x: number) => string, make: (xs: number[]) => T): T[] {
  const m = new Map<string, number[]>();
  for (const x of items) {
    const k = keyOf(x);
    const l = m.get(k);
    if (l) l.push(x);
    else m.set(k, [x]);
  }
  return [...m.values()].map(make);
}

/** One-phone unit: copies per distinct (senone sequence, right group), each entered from its left phones. */
function edgeCopies(senones: ContextSenones, c: number, lefts: number[], rights: number[]): Copy[] {
  const byKey = new Map<string, Copy>();
  for (const l of lefts) {
    const groups = groupBy(
      rights,
      (r) => senones.pdfSeq(l, c, r).join(','),
      (rs) => rs,
    );
    for (const rs of groups) {
      const pdfs = senones.pdfSeq(l, c, rs[0]);
      const key = pdfs.join(',') + '|' + rs.join(',');
      const ex = byKey.get(key);
      if (ex) ex.lefts!.push(l);
      else byKey.set(key, { pdfs, lefts: [l], rights: rs });
    }
  }
  return [...byKey.values()];
}

/**
 * 3. Copies in context: one per trie node inside a word; at a word edge, one per group of
 * neighbouring phones with the same senone sequence; then the silence copies.
 */
function expandContexts(trie: PrefixTree, ctx: EdgeContexts, senones: ContextSenones, P: number): Copies {
  const copies: Copies = {
    count: 0,
    trieNode: [],
    phone: [],
    pdfs: [],
    lefts: [],
    rights: [],
    silence: [],
    trieCopyStart: new Int32Array(trie.numNodes + 1),
    silenceStart: 0,
  };
  const push = (trieId: number, c: number, x: Copy, isSilence: boolean): void => {
    copies.trieNode.push(trieId);
    copies.phone.push(c);
    copies.pdfs.push(x.pdfs);
    copies.lefts.push(x.lefts);
    copies.rights.push(x.rights);
    copies.silence.push(isSilence ? 1 : 0);
  };
  const pdfSeq = (l: number, c: number, r: number) => senones.pdfSeq(l, c, r);
  // Copies of a word edge depend only on the phone and its neighbour inside the word: computed once each.
  const edgeCache = new Map<number, Copy[]>();
  const cached = (key: number, make: () => Copy[]): Copy[] => {
    let v = edgeCache.get(key);
    if (!v) {
      v = make();
      edgeCache.set(key, v);
    }
    return v;
  };
  const PP = (P + 1) * (P + 1);
  for (let id = 0; id < trie.numNodes; id++) {
    copies.trieCopyStart[id] = copies.trieNode.length;
    const c = trie.phone[id],
      left = trie.left[id],
      right = trie.right[id];
    let list: Copy[];
    if (trie.depth[id] > 0 && right >= 0) {
      list = [{ pdfs: pdfSeq(left, c, right), lefts: null, rights: null }];
    } else if (trie.depth[id] > 0) {
      list = cached(c * (P + 1) + left + 1, () =>
        groupBy(
          ctx.right,
          (r) => pdfSeq(left, c, r).join(','),
          (rs) => ({ pdfs: pdfSeq(left, c, rs[0]), lefts: null, rights: rs }),
        ),
      );
    } else if (right >= 0) {
      list = cached(PP + c * (P + 1) + right + 1, () =>
        groupBy(
          ctx.left,
          (l) => pdfSeq(l, c, right).join(','),
          (ls) => ({ pdfs: pdfSeq(ls[0], c, right), lefts: ls, rights: null }),
        ),
      );
    } else {
      list = cached(2 * PP + c, () => edgeCopies(senones, c, ctx.left, ctx.right));
    }
    for (const x of list) push(id, c, x, false);
  }
  copies.trieCopyStart[trie.numNodes] = copies.trieNode.length;
  copies.silenceStart = copies.trieNode.length;
  const sil = ctx.silence;
  if (sil !== null) for (const x of edgeCopies(senones, sil, ctx.silenceLeft, ctx.silenceRight)) push(-1, sil, x, true);
  copies.count = copies.trieNode.length;
  return copies;
}

/**
 * 4. Exit classes (looked up by the shared right-context list first, by its content on a miss):
 * per word-final or silence copy, the word-initial copies (and silence) that may follow it, with
 * their weights, and the weight of ending the utterance there.
 */
function buildExitClasses(
  copies: Copies,
  silProb: number,
  silence: number | null,
): { copyExitClass: Int32Array; startClass: number; exitClasses: ExitClasses } {
  const numCopies = copies.count;
  const { phone: cPhone, lefts: cLefts, rights: cRights, silence: cSil } = copies;
  const useSil = silence !== null;
  const sil = silence ?? -1;
  // Word-initial copies by left phone.
  const rootsFor = new Map<number, number[]>();
  const silFor = new Map<number, number[]>();
  for (let ci = 0; ci < numCopies; ci++) {
    const lefts = cLefts[ci];
    if (!lefts) continue;
    const target = cSil[ci] ? silFor : rootsFor;
    for (const l of lefts) {
      const list = target.get(l);
      if (list) list.push(ci);
      else target.set(l, [ci]);
    }
  }
  const logWord = Math.log(1 - silProb),
    logSil = Math.log(silProb);
  const classKey = new Map<string, number>();
  const classByList = new Map<number[] | null, Map<number, number>>();
  const classEntries: { copy: number; w: number }[][] = [];
  const classFinal: number[] = [];
  const exitClassOf = (leftForNext: number, rights: number[] | null, afterSilence: boolean): number => {
    let byLeft = classByList.get(rights);
    if (!byLeft) {
      byLeft = new Map();
      classByList.set(rights, byLeft);
    }
    const k = 2 * leftForNext + (afterSilence ? 1 : 0);
    const hit = byLeft.get(k);
    if (hit !== undefined) return hit;
    const key = `${leftForNext}|${rights ? rights.join(',') : '*'}|${afterSilence ? 1 : 0}`;
    let id = classKey.get(key);
    if (id === undefined) {
      const allowed = rights ? new Set(rights) : null;
      const ok = (ph: number) => !allowed || allowed.has(ph);
      const wordW = afterSilence ? 0 : logWord;
      const entries: { copy: number; w: number }[] = [];
      if (wordW > -Infinity) {
        for (const ci of rootsFor.get(leftForNext) ?? []) if (ok(cPhone[ci])) entries.push({ copy: ci, w: wordW });
      }
      if (!afterSilence && useSil && logSil > -Infinity && ok(sil)) {
        for (const ci of silFor.get(leftForNext) ?? []) entries.push({ copy: ci, w: logSil });
      }
      id = classEntries.push(entries) - 1;
      classFinal.push(ok(0) ? wordW : -Infinity);
      classKey.set(key, id);
    }
    byLeft.set(k, id);
    return id;
  };
  const copyExitClass = new Int32Array(numCopies).fill(-1);
  for (let ci = 0; ci < numCopies; ci++) {
    const rights = cRights[ci];
    if (rights) copyExitClass[ci] = exitClassOf(cSil[ci] ? sil : cPhone[ci], rights, cSil[ci] === 1);
  }
  // At the start, a word directly or silence first, with the same weights as between words.
  const startClass = exitClassOf(0, null, false);
  const entryStart = new Int32Array(classEntries.length + 1);
  classEntries.forEach((l, i) => {
    entryStart[i + 1] = entryStart[i] + l.length;
  });
  return {
    copyExitClass,
    startClass,
    exitClasses: {
      entryStart,
      entryCopy: Int32Array.from(classEntries.flat().map((e) => e.copy)),
      entryWeight: Float64Array.from(classEntries.flat().map((e) => e.w)),
      finalWeight: Float64Array.from(classFinal),
    },
  };
}

type HmmStates = Pick<
  SearchGraph,
  'numStates' | 'statePdf' | 'stateCopy' | 'arcStart' | 'arcTo' | 'arcWeight' | 'exitWeight' | 'copyFirstState'
>;

/**
 * 5. Flatten the copies into HMM states with their intra-phone arcs (CSR) and exit weights.
 * `copyFirstState` has one more entry, the number of states. Per phone once: its HMM's arcs by
 * source state and exit weights.
 */
function flattenHmmStates(copies: Copies, senones: ContextSenones): HmmStates {
  const numCopies = copies.count;
  const { phone: cPhone, pdfs: cPdfs } = copies;
  const hmmOf = new Map<number, { from: Int32Array; to: Int32Array; w: Float64Array; exit: Float64Array }>();
  const phoneHmm = (phone: number) => {
    let h = hmmOf.get(phone);
    if (h) return h;
    const hmm = senones.am.hmm(phone),
      n = senones.hmmStates(phone);
    const byFrom: { to: number; w: number }[][] = Array.from({ length: n }, () => []);
    const exit = new Float64Array(n).fill(-Infinity);
    for (const a of hmm.arcs) {
      if (!(a.from >= 0 && a.from < n && a.to >= 0 && a.to <= n))
        throw new FormatError(`HMM arc of phone ${phone} out of range`, {
          expected: `states 0..${n - 1}, exit ${n}`,
          found: `${a.from} -> ${a.to}`,
        });
      if (a.logProb === -Infinity) continue;
      if (a.to === n) exit[a.from] = Math.max(exit[a.from], a.logProb);
      else byFrom[a.from].push({ to: a.to, w: a.logProb });
    }
    const flat = byFrom.flatMap((l, k) => l.map((a) => ({ from: k, ...a })));
    h = {
      from: Int32Array.from(flat, (a) => a.from),
      to: Int32Array.from(flat, (a) => a.to),
      w: Float64Array.from(flat, (a) => a.w),
      exit,
    };
    hmmOf.set(phone, h);
    return h;
  };
  let numStates = 0,
    numArcs = 0;
  const copyFirstState = new Int32Array(numCopies + 1);
  for (let ci = 0; ci < numCopies; ci++) {
    copyFirstState[ci] = numStates;
    numStates += cPdfs[ci].length;
    numArcs += phoneHmm(cPhone[ci]).to.length;
  }
  copyFirstState[numCopies] = numStates;
  const statePdf = new Int32Array(numStates),
    stateCopy = new Int32Array(numStates);
  const exitWeight = new Float64Array(numStates).fill(-Infinity);
  const arcStart = new Int32Array(numStates + 1);
  const arcTo = new Int32Array(numArcs),
    arcWeight = new Float64Array(numArcs);
  let na = 0;
  for (let ci = 0; ci < numCopies; ci++) {
    const h = phoneHmm(cPhone[ci]),
      pdfs = cPdfs[ci];
    const first = copyFirstState[ci];
    let j = 0;
    for (let k = 0; k < pdfs.length; k++) {
      const s = first + k;
      statePdf[s] = pdfs[k];
      stateCopy[s] = ci;
      exitWeight[s] = h.exit[k];
      arcStart[s] = na;
      for (; j < h.from.length && h.from[j] === k; j++) {
        arcTo[na] = first + h.to[j];
        arcWeight[na] = h.w[j];
        na++;
      }
    }
  }
  arcStart[numStates] = na;
  return { numStates, statePdf, stateCopy, arcStart, arcTo, arcWeight, exitWeight, copyFirstState };
}

/** Successor copies: the copies of the trie node's children; words: those of a word-final copy's node. */
function linkCopies(
  copies: Copies,
  trie: PrefixTree,
): Pick<SearchGraph, 'copyChildStart' | 'copyChildren' | 'copyWordStart' | 'copyWords'> {
  const numCopies = copies.count;
  const { trieNode: cTrie, rights: cRights, trieCopyStart } = copies;
  const tc = trie.children,
    tw = trie.words;
  const copyChildStart = new Int32Array(numCopies + 1),
    copyWordStart = new Int32Array(numCopies + 1);
  for (let ci = 0; ci < numCopies; ci++) {
    const t = cTrie[ci];
    let nc = 0,
      nw = 0;
    if (t >= 0) {
      for (let k = tc.start[t]; k < tc.start[t + 1]; k++)
        nc += trieCopyStart[tc.items[k] + 1] - trieCopyStart[tc.items[k]];
      if (cRights[ci]) nw = tw.start[t + 1] - tw.start[t];
    }
    copyChildStart[ci + 1] = copyChildStart[ci] + nc;
    copyWordStart[ci + 1] = copyWordStart[ci] + nw;
  }
  const copyChildren = new Int32Array(copyChildStart[numCopies]),
    copyWords = new Int32Array(copyWordStart[numCopies]);
  for (let ci = 0; ci < numCopies; ci++) {
    const t = cTrie[ci];
    if (t < 0) continue;
    let o = copyChildStart[ci];
    for (let k = tc.start[t]; k < tc.start[t + 1]; k++)
      for (let x = trieCopyStart[tc.items[k]]; x < trieCopyStart[tc.items[k] + 1]; x++) copyChildren[o++] = x;
    if (cRights[ci]) copyWords.set(tw.items.subarray(tw.start[t], tw.start[t + 1]), copyWordStart[ci]);
  }
  return { copyChildStart, copyChildren, copyWordStart, copyWords };
}
