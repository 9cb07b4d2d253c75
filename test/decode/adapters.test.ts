import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/util/rng.ts';
import { PhoneSet, markWordPositions, phoneRoots } from '../../src/lang/phones.ts';
import { Lexicon } from '../../src/lang/lexicon.ts';
import { Topology } from '../../src/hmm/topology.ts';
import { TransitionModel } from '../../src/hmm/transitions.ts';
import { MonophoneContext, type ContextDependency } from '../../src/hmm/context.ts';
import { ContextTree, type TreeNode } from '../../src/hmm/tree.ts';
import { compileGraph } from '../../src/hmm/graph.ts';
import { transitionWeights, viterbi } from '../../src/hmm/align.ts';
import { parseArpa } from '../../src/lm/arpa.ts';
import { Decoder } from '../../src/decode/decoder.ts';
import { SearchLm } from '../../src/decode/search-lm.ts';
import { coveredPronunciations, decoderLexicon, phoneContextModel } from '../../src/decode/adapters.ts';
import { randomScores, expectClose } from './helpers.ts';

const phones = new PhoneSet(['SIL', 'SPN', 'AA', 'B', 'IY', 'K', 'S', 'T']);
const lexicon = new Lexicon();
lexicon.add('BAA', ['B', 'AA']);
lexicon.add('KIY', ['K', 'IY']);
lexicon.add('SIT', ['S', 'IY', 'T']);
lexicon.add('TAB', ['T', 'AA', 'B']);
lexicon.add('TAB', ['T', 'AA', 'B', 'S']);
lexicon.add('BIKS', ['B', 'IY', 'K', 'S']);
lexicon.add('A', ['AA']);
lexicon.add('<UNK>', ['SPN']);
const topo = new Topology(phones);
const tm = new TransitionModel(topo);

/** A hand-made triphone tree: first states ask about the left phone, last states about the right (no root for SPN). */
function handTree(): ContextTree {
  const vowels = [phones.id('AA'), phones.id('IY')];
  const sil = [phones.id('SIL')];
  const roots: { phone: number; pdfClass: number; node: TreeNode }[] = [];
  const leafInfo: { phone: number; pdfClass: number }[] = [];
  const leaf = (phone: number, pdfClass: number): TreeNode => ({ leaf: leafInfo.push({ phone, pdfClass }) - 1 });
  for (let p = 1; p < phones.symbols.length; p++) {
    if (phones.symbol(p) === 'SPN') continue;
    const n = topo.numPdfClasses(p);
    for (let k = 0; k < n; k++) {
      let node: TreeNode;
      if (k === 0)
        node = {
          position: -1,
          phones: vowels,
          yes: leaf(p, k),
          no: { position: -1, phones: sil, yes: leaf(p, k), no: leaf(p, k) },
        };
      else if (k === n - 1)
        node = {
          position: 1,
          phones: vowels,
          yes: leaf(p, k),
          no: { position: 1, phones: sil, yes: leaf(p, k), no: leaf(p, k) },
        };
      else node = leaf(p, k);
      roots.push({ phone: p, pdfClass: k, node });
    }
  }
  return new ContextTree(phones.symbols, roots, leafInfo);
}

/** A bigram LM that allows only `words` in this order (log10 1 on the chain, -99 elsewhere). */
function forcedLm(vocab: string[], words: string[]): SearchLm {
  const uni = ['<s>', '</s>', ...vocab].map((w) => `-99\t${w}\t0`);
  const chain = ['<s>', ...words, '</s>'];
  const bi = chain.slice(1).map((w, i) => `0\t${chain[i]} ${w}`);
  return new SearchLm(
    parseArpa(
      `\\data\\\nngram 1=${uni.length}\nngram 2=${bi.length}\n\n\\1-grams:\n${uni.join('\n')}\n\n\\2-grams:\n${bi.join('\n')}\n\n\\end\\\n`,
    ),
  );
}

/** A positional version of the toy set (every non-silence phone as _B _E _I _S) and lexicon. */
const posPhones = new PhoneSet([
  'SIL',
  'SPN',
  ...['AA', 'B', 'IY', 'K', 'S', 'T'].flatMap((p) => ['B', 'E', 'I', 'S'].map((w) => `${p}_${w}`)),
]);
const posLexicon = new Lexicon();
for (const w of lexicon.words())
  for (const pr of lexicon.get(w)!) posLexicon.add(w, markWordPositions(pr, posPhones.silencePhones));
const posTopo = new Topology(posPhones);
const posTm = new TransitionModel(posTopo);

/**
 * A hand-made tree with shared roots: one root per base phone and pdf class (named by its first
 * variant); the middle state asks the centre phone's word position (word-initial or not), the others
 * their neighbours as handTree does.
 */
function sharedRootTree(): ContextTree {
  const initial = posPhones.phones.filter((p) => /_[BS]$/.test(p)).map((p) => posPhones.id(p));
  const vowels = posPhones.phones.filter((p) => /^(AA|IY)_/.test(p)).map((p) => posPhones.id(p));
  const roots: { phone: number; pdfClass: number; node: TreeNode }[] = [];
  const leafInfo: { phone: number; pdfClass: number }[] = [];
  const leaf = (phone: number, pdfClass: number): TreeNode => ({ leaf: leafInfo.push({ phone, pdfClass }) - 1 });
  const rootOf = phoneRoots(posPhones.symbols);
  for (let p = 1; p < posPhones.symbols.length; p++) {
    if (rootOf[p] !== p || posPhones.symbol(p) === 'SPN') continue;
    const n = posTopo.numPdfClasses(p);
    for (let k = 0; k < n; k++) {
      const node: TreeNode =
        k === 0
          ? { position: -1, phones: vowels, yes: leaf(p, k), no: leaf(p, k) }
          : k === n - 1
            ? { position: 1, phones: vowels, yes: leaf(p, k), no: leaf(p, k) }
            : { position: 0, phones: initial, yes: leaf(p, k), no: leaf(p, k) };
      roots.push({ phone: p, pdfClass: k, node });
    }
  }
  return new ContextTree(posPhones.symbols, roots, leafInfo);
}

/** Decoding with a forced LM must give the forced alignment's words, path score and word segmentation. */
function checkForced(name: string, ph: PhoneSet, lx: Lexicon, tmodel: TransitionModel, ctx: ContextDependency): void {
  const rng = new Rng(`forced-${name}`);
  const am = phoneContextModel(ctx, tmodel);
  const { lexicon: lex, droppedWords } = coveredPronunciations(decoderLexicon(lx, ph), am);
  if (ctx.contextWidth === 3) expect(droppedWords).toEqual(['<UNK>']);
  const tw = transitionWeights(tmodel, {});
  let checked = 0;
  for (const transcript of [
    ['TAB', 'KIY', 'A'],
    ['BIKS', 'SIT'],
    ['A', 'BAA', 'TAB', 'SIT'],
  ]) {
    const T = 40 + rng.int(20);
    const scores = randomScores(rng, T, am.numPdfs, 2);
    const graph = compileGraph('u', transcript, { phones: ph, lexicon: lx }, ctx, tmodel, { optionalSilenceProb: 0.5 });
    if ('ok' in graph) throw new Error(graph.message);
    const ref = viterbi(graph, T, (t, lp) => scores.data[t * am.numPdfs + graph.localPdfs[lp]], tw, 1e9, 1);
    expect(ref).not.toBeNull();
    const dec = new Decoder(
      lex,
      am,
      forcedLm(
        lex.words.filter((w) => w !== '<UNK>'),
        transcript,
      ),
      { silenceProb: 0.5, missingLmWords: 'drop' },
    );
    const r = dec.decode('u', scores, { beam: 1e9, maxActive: 1e9, lmWeight: 1 });
    expect(r.words).toEqual(transcript);
    // Same best path score: the LM adds log 1 on the only allowed sequence.
    expectClose(r.score, ref!.score, 1e-6, `${transcript.join(' ')} path score`);
    // Same word segmentation.
    transcript.forEach((_, wi) => {
      const frames = [...ref!.states].map((s, t) => (graph.word[s] === wi ? t : -1)).filter((t) => t >= 0);
      expect([r.times[wi].startFrame, r.times[wi].endFrame]).toEqual([frames[0], frames[frames.length - 1]]);
    });
    checked++;
  }
  expect(checked).toBe(3);
}

describe('decoding with src/lang and src/hmm models', () => {
  for (const [name, ctx] of [
    ['monophone', new MonophoneContext(topo)],
    ['triphone tree', handTree()],
  ] as [string, ContextDependency][]) {
    it(`with a forced LM reproduces the forced alignment of src/hmm (${name})`, () =>
      checkForced(name, phones, lexicon, tm, ctx));
  }
  it('with a forced LM reproduces the forced alignment with word-position phones and shared tree roots asking the centre position', () => {
    const tree = sharedRootTree();
    // The position question is live: a word-initial and a word-final AA get different middle-state pdfs.
    expect(tree.pdf(0, posPhones.id('AA_B'), 0, 1)).not.toBe(tree.pdf(0, posPhones.id('AA_E'), 0, 1));
    expect(tree.pdf(0, posPhones.id('AA_B'), 0, 1)).toBe(tree.pdf(0, posPhones.id('AA_S'), 0, 1));
    checkForced('word positions', posPhones, posLexicon, posTm, tree);
  });

  it('maps words, pronunciation variants and Kaldi-scaled transitions', () => {
    const lex = decoderLexicon(lexicon, phones, ['TAB', 'A', 'NOPE']);
    expect(lex.words).toEqual(['TAB', 'A']);
    expect(lex.prons.map((p) => p.phones.map((i) => phones.symbol(i)).join(' '))).toEqual(['T AA B', 'T AA B S', 'AA']);
    const am = phoneContextModel(new MonophoneContext(topo), tm, { selfLoopScale: 1 });
    const h = am.hmm(phones.id('AA'));
    expect(h.numStates).toBe(3);
    const self = h.arcs.find((a) => a.from === 1 && a.to === 1)!;
    expectClose(self.logProb, Math.log(0.75), 1e-12, 'self-loop');
    expect(am.hmm(phones.id('SIL')).numStates).toBe(5);
    expect(am.silencePhone).toBe(phones.id('SIL'));
  });
});
