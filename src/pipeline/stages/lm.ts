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
 */
import { trainCorpusLm } from '../../decode-stage/lm.ts';
import type { Schema, SchemaFor } from '../schema.ts';
import type { StageDefinition } from '../stage.ts';
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
}

export const LM_SCHEMA: Schema = {
  order: { type: 'number', integer: true, min: 1, max: 10, default: 3, doc: 'n-gram order' },
  trainSplits: { type: 'array', items: { type: 'string', doc: 'split name' }, minItems: 1, default: ['train'], doc: 'splits whose transcripts train the LM (never dev/test)' },
  evalSplits: { type: 'array', items: { type: 'string', doc: 'split name' }, optional: true, doc: 'splits for perplexity and OOV rate (default: every other split)' },
  extraText: { type: 'string', path: true, optional: true, doc: 'extra LM training text, one sentence per line' },
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
      extraText: o.extraText ?? null, logger: ctx.log,
    }));
    const counts: Record<string, number> = { order: s.order, sentences: s.sentences, tokens: s.tokens, vocabulary: s.vocabulary };
    for (const [split, e] of Object.entries(s.eval)) {
      counts[`${split}Ppl`] = Math.round(100 * e.ppl) / 100;
      counts[`${split}OovPercent`] = Math.round(100 * e.oovRate) / 100;
    }
    return { counts, details: { ngrams: s.ngrams, stats: s.stats, eval: s.eval } };
  },
};
