/**
 * Adapters from the project's language and HMM types (src/lang, src/hmm) to the decoder's small
 * interfaces (./types.ts).
 */
import type { Lexicon } from '../lang/lexicon.ts';
import { SIL, type PhoneSet } from '../lang/phones.ts';
import { phoneCoverage, type ContextDependency } from '../hmm/context.ts';
import type { TransitionModel } from '../hmm/transitions.ts';
import { transitionWeights } from '../hmm/align.ts';
import type { DecoderLexicon, DecoderPronunciation, PhoneContextModel, PhoneHmm } from './types.ts';

/** The decoder lexicon of a src/lang Lexicon (all pronunciations), optionally restricted to `words`. */
export function decoderLexicon(lexicon: Lexicon, phones: PhoneSet, words?: Iterable<string>): DecoderLexicon {
  const list = words ? [...new Set(words)].filter((w) => lexicon.has(w)) : lexicon.words();
  const prons: DecoderPronunciation[] = [];
  list.forEach((w, i) => {
    for (const p of lexicon.get(w) ?? []) prons.push({ word: i, phones: p.map((ph) => phones.id(ph)) });
  });
  return { words: list, prons };
}

export interface HmmContextOptions {
  /** Kaldi mkgraph --transition-scale. Default 1. */
  transitionScale?: number;
  /** Kaldi mkgraph --self-loop-scale. Default 0.1. */
  selfLoopScale?: number;
  /** The optional-silence phone. Default 'SIL'. */
  silencePhone?: string;
}

/**
 * A PhoneContextModel from a context-dependency tree (or monophone context) and a transition
 * model. Transition weights are scaled as in Kaldi's decoding graphs (and src/hmm's aligner).
 */
export function phoneContextModel(
  ctx: ContextDependency,
  tm: TransitionModel,
  opts: HmmContextOptions = {},
): PhoneContextModel {
  const topo = tm.topology;
  const phones = topo.phones;
  const w = transitionWeights(tm, opts);
  const hmms = new Map<number, PhoneHmm>();
  return {
    numPhoneIds: phones.symbols.length,
    numPdfs: ctx.numPdfs,
    silencePhone: phones.id(opts.silencePhone ?? SIL),
    pdf: (l, c, r, k) =>
      ctx.pdf(ctx.contextWidth === 3 ? l : 0, c, ctx.contextWidth === 3 ? r : 0, topo.forPhone(c).states[k].pdfClass),
    hmm: (phone) => {
      let h = hmms.get(phone);
      if (!h) {
        const t = topo.forPhone(phone);
        const arcs = t.states.flatMap((st, s) =>
          st.transitions.map((tr, k) => ({ from: s, to: tr.to, logProb: w[tm.tid(phone, s, k)] })),
        );
        h = { numStates: t.numStates, arcs };
        hmms.set(phone, h);
      }
      return h;
    },
  };
}

/**
 * Pronunciations whose phones the acoustic model can score (a triphone tree has no root for a phone
 * never seen in training), and the words that lost all their pronunciations.
 */
export function coveredPronunciations(
  lex: DecoderLexicon,
  am: PhoneContextModel,
): { lexicon: DecoderLexicon; droppedWords: string[] } {
  const covered = phoneCoverage(am);
  const prons = lex.prons.filter((p) => p.phones.every(covered));
  const kept = new Set(prons.map((p) => p.word));
  const had = new Set(lex.prons.map((p) => p.word));
  return {
    lexicon: { words: lex.words, prons },
    droppedWords: [...had].filter((w) => !kept.has(w)).map((w) => lex.words[w]),
  };
}
