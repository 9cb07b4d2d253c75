/**
 * The `lm` stage: a word n-gram LM (interpolated modified Kneser-Ney) from the training split's
 * transcripts only -> `<expDir>/lm/lm.arpa` (+ train.txt, lm.json), with its perplexity and OOV
 * rate on the other splits recorded in stage.json. See src/decode-stage/lm.ts.
 *
 * Recipe:
 *   stages:
 *     lm:
 *       order: 3              # n-gram order
 *       trainSplits: [train]  # never dev or test text
 *       evalSplits: [dev, test]   # default: every other split
 *       extraText: data/lm-corpus.txt   # optional extra training text, one sentence per line
 *       grammars:             # optional: splits decoded with a grammar over the LM's words instead
 *         test-isolated: one-word   # exactly one word per utterance (or word-loop: any sequence)
 */
import { trainCorpusLm } from '../decode-stage/lm.ts';
import { GRAMMAR_KINDS, type GrammarKind } from '../lm/grammar.ts';
import type { Schema, SchemaFor } from './schema.ts';
import type { StageDefinition } from './stage.ts';
import { relocateConfigError } from './decode.ts';

export interface LmStageOptions {
  /** n-gram order. Default 3. */
  order: number;
  /** Splits whose transcripts train the LM. Default [train]. */
  trainSplits: string[];
  /** Splits to report perplexity and OOV rate on. Default: every other split of the corpus. */
  evalSplits?: string[];
  /** Extra training text (one sentence per line). Default none. */
  extraText?: string;
  /** Splits decoded with a grammar over the LM's words (split -> one-word | word-loop). Default none. */
  grammars?: Record<string, GrammarKind>;
}

export const LM_SCHEMA: Schema = {
  order: { type: 'number', integer: true, min: 1, max: 10, default: 3, doc: 'n-gram order' },
  trainSplits: { type: 'array', items: { type: 'string', doc: 'split name' }, minItems: 1, default: ['train'], doc: 'splits whose transcripts train the LM (never dev/test)' },
  evalSplits: { type: 'array', items: { type: 'string', doc: 'split name' }, optional: true, doc: 'splits for perplexity and OOV rate (default: every other split)' },
  extraText: { type: 'string', path: true, optional: true, doc: 'extra LM training text, one sentence per line' },
  grammars: {
    type: 'map', optional: true,
    values: { type: 'string', enum: [...GRAMMAR_KINDS], doc: 'one-word: exactly one word per utterance; word-loop: any sequence of words' },
    doc: "splits the decode stage decodes with a grammar over the LM's words instead of the n-gram (split -> one-word | word-loop), e.g. {test-isolated: one-word}",
  },
} satisfies SchemaFor<LmStageOptions>;

export const lmStage: StageDefinition<LmStageOptions> = {
  name: 'lm',
  doc: 'word n-gram LM (modified Kneser-Ney) from the training transcripts [ARPA], perplexity and OOV rate on dev/test',
  inputs: ['prepare'],
  schema: LM_SCHEMA,

  async externalInputs(_recipe, options) {
    return options.extraText ? [{ path: options.extraText, mode: 'content' }] : [];
  },

  async run(ctx) {
    const o = ctx.options;
    const s = await relocateConfigError(ctx.recipe, 'stages.lm', () => trainCorpusLm({
      dataDir: ctx.inputDir('prepare'), outDir: ctx.outDir, order: o.order, trainSplits: o.trainSplits, evalSplits: o.evalSplits,
      extraText: o.extraText ?? null, grammars: o.grammars, logger: ctx.log,
    }));
    const counts: Record<string, number> = { order: s.order, sentences: s.sentences, tokens: s.tokens, vocabulary: s.vocabulary };
    for (const [split, e] of Object.entries(s.eval)) {
      counts[`${split}Ppl`] = Math.round(100 * e.ppl) / 100;
      counts[`${split}OovPercent`] = Math.round(100 * e.oovRate) / 100;
    }
    for (const [split, g] of Object.entries(s.grammars ?? {})) {
      counts[`${split}GrammarPpl`] = Math.round(100 * g.eval.ppl) / 100;
      counts[`${split}GrammarOovPercent`] = Math.round(100 * g.eval.oovRate) / 100;
    }
    return { counts, details: { ngrams: s.ngrams, stats: s.stats, eval: s.eval, ...(s.grammars ? { grammars: s.grammars } : {}) } };
  },
};
