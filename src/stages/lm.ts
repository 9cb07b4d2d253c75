/**
 * The `lm` stage: a word n-gram LM (interpolated modified Kneser-Ney,
 * src/lm) from the transcripts of the training splits only, written as ARPA, with its perplexity
 * and OOV rate on the evaluation splits (SRILM `ngram -ppl` convention: `</s>` counted, OOV words
 * skipped and counted).
 *
 * Output directory:
 *   train.txt    the training text, one sentence per line (plus extra text, if any)
 *   lm.arpa      the LM
 *   lm.json      order, counts, discounts, and perplexity / OOV rate per evaluation split
 *   grammars/<split>.arpa   with `grammars`: the grammar (src/lm/grammar.ts) over the LM's words that
 *                the decode stage uses for that split instead of lm.arpa (e.g. one-word for isolated digits)
 *
 * Its run function is `trainCorpusLm`, which `am-distill lm train` calls too.
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
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatArpa, parseArpa } from '../lm/arpa.ts';
import { GRAMMAR_KINDS, grammarModel, grammarWords, type GrammarKind } from '../lm/grammar.ts';
import { estimateKneserNey, type OrderStats } from '../lm/kneser-ney.ts';
import { BackoffLm } from '../lm/model.ts';
import { parseSentences, type Sentence } from '../lm/text.ts';
import { checkSplits, readSplitTranscripts } from '../score/references.ts';
import { ConfigError, CorpusError } from '../util/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import { locateConfigError } from './common.ts';
import type { Schema, SchemaFor } from './schema.ts';
import type { StageDefinition } from './stage.ts';

export interface CorpusLmOptions {
  /** Prepared data dir (corpus.json + <split>/supervisions.jsonl). */
  dataDir: string;
  /** Output directory (the caller makes it atomic). */
  outDir: string;
  /** n-gram order. Default 3. */
  order?: number;
  /** Splits whose transcripts are the training text. Default ['train']. */
  trainSplits?: string[];
  /** Splits to measure perplexity and OOV rate on. Default: every other split of the corpus. */
  evalSplits?: string[];
  /** More training text (one sentence per line, e.g. LibriSpeech's LM corpus). Default none. */
  extraText?: string | null;
  /**
   * Splits decoded with a grammar over the LM's words instead of the n-gram: split -> kind
   * (`one-word`, `word-loop`). Written to `grammars/<split>.arpa`, listed in lm.json. Default none.
   */
  grammars?: Record<string, GrammarKind>;
  logger?: Logger;
}

/** Where the grammar of a split lives, relative to the lm output directory. */
export function grammarFile(split: string): string {
  return join('grammars', `${split}.arpa`);
}

export interface GrammarSummary {
  kind: GrammarKind;
  /** The ARPA file, relative to the lm output directory. */
  file: string;
  /** Words the grammar allows (the LM vocabulary without <s>, </s>, <unk>). */
  words: number;
  /** Perplexity and OOV rate of the split's transcripts under the grammar. */
  eval: LmEvalSummary;
}

export interface LmEvalSummary {
  sentences: number;
  words: number;
  oovs: number;
  /** Percent of the words not in the LM vocabulary. */
  oovRate: number;
  ppl: number;
  ppl1: number;
  logprob: number;
}

export interface CorpusLmSummary {
  format: 'am-distill.lm';
  formatVersion: 1;
  order: number;
  trainSplits: string[];
  extraText: string | null;
  sentences: number;
  tokens: number;
  /** Vocabulary of the LM (including <s>, </s>, <unk>). */
  vocabulary: number;
  ngrams: number[];
  stats: OrderStats[];
  eval: Record<string, LmEvalSummary>;
  /** Per split decoded with a grammar (absent when none). */
  grammars?: Record<string, GrammarSummary>;
}

/** Train the LM of a prepared corpus; see the module comment. */
export async function trainCorpusLm(opts: CorpusLmOptions): Promise<CorpusLmSummary> {
  const logger = opts.logger ?? defaultLog;
  const order = opts.order ?? 3;
  if (!(Number.isInteger(order) && order >= 1))
    throw new ConfigError('bad LM order', { keyPath: 'order', expected: 'an integer >= 1', found: String(order) });
  const trainSplits = opts.trainSplits ?? ['train'];
  if (trainSplits.length === 0)
    throw new ConfigError('no training split for the LM', {
      keyPath: 'trainSplits',
      expected: 'at least one split',
      found: 'none',
    });
  const all = await checkSplits(opts.dataDir, trainSplits, 'trainSplits');
  const evalSplits = opts.evalSplits ?? all.filter((s) => !trainSplits.includes(s));
  await checkSplits(opts.dataDir, evalSplits, 'evalSplits');
  const overlap = evalSplits.filter((s) => trainSplits.includes(s));
  if (overlap.length) {
    throw new ConfigError('an evaluation split is also LM training text', {
      keyPath: 'evalSplits',
      expected: 'splits disjoint from trainSplits (never train the LM on dev/test text)',
      found: overlap.join(', '),
    });
  }

  const sentences: Sentence[] = [];
  const lines: string[] = [];
  for (const split of trainSplits) {
    for (const r of (await readSplitTranscripts(opts.dataDir, split)).refs) {
      if (r.words.length === 0) continue;
      sentences.push({ words: r.words, line: sentences.length + 1 });
      lines.push(r.words.join(' '));
    }
  }
  if (opts.extraText) {
    let text: string;
    try {
      text = readFileSync(opts.extraText, 'utf8');
    } catch (err) {
      throw new ConfigError('cannot read the extra LM text', {
        file: opts.extraText,
        keyPath: 'extraText',
        cause: err,
        expected: 'a text file, one sentence per line',
        found: (err as NodeJS.ErrnoException).code ?? 'unreadable',
      });
    }
    for (const s of parseSentences(text, opts.extraText)) {
      sentences.push({ words: s.words, line: sentences.length + 1 });
      lines.push(s.words.join(' '));
    }
  }
  if (sentences.length === 0) {
    throw new CorpusError('no LM training text', {
      file: opts.dataDir,
      expected: `non-empty transcripts in ${trainSplits.join(', ')}`,
      found: 'none',
    });
  }
  await writeFileAtomic(join(opts.outDir, 'train.txt'), lines.join('\n') + '\n');
  const model = estimateKneserNey(sentences, { order, logger });
  const arpaText = formatArpa(model);
  const arpaPath = join(opts.outDir, 'lm.arpa');
  await writeFileAtomic(arpaPath, arpaText);
  const lm = new BackoffLm(parseArpa(arpaText, arpaPath), arpaPath);
  logger.info(
    `lm: order ${order} on ${model.sentences} sentences, ${model.tokens} words of ${trainSplits.join(', ')}${opts.extraText ? ' + extra text' : ''}: ${model.stats.map((s) => `${s.ngrams} ${s.order}-grams`).join(', ')}`,
  );

  const evaluate = async (model: BackoffLm, split: string, what: string): Promise<LmEvalSummary> => {
    const refs = (await readSplitTranscripts(opts.dataDir, split)).refs.filter((r) => r.words.length > 0);
    const r = model.perplexity(refs.map((x) => ({ words: x.words, line: x.line })));
    const e = {
      sentences: r.sentences,
      words: r.words,
      oovs: r.oovs,
      oovRate: r.words > 0 ? (100 * r.oovs) / r.words : 0,
      ppl: r.ppl,
      ppl1: r.ppl1,
      logprob: r.logprob,
    };
    logger.info(
      `lm: ${split}${what}: ${r.sentences} sentences, ${r.words} words, ${r.oovs} OOVs (${e.oovRate.toFixed(2)}%), ppl ${r.ppl.toFixed(2)}`,
    );
    return e;
  };
  const evalOut: Record<string, LmEvalSummary> = {};
  for (const split of evalSplits) evalOut[split] = await evaluate(lm, split, '');
  const grammars = await writeGrammars(opts, lm.vocab, evaluate);
  const summary: CorpusLmSummary = {
    format: 'am-distill.lm',
    formatVersion: 1,
    order,
    trainSplits,
    extraText: opts.extraText ?? null,
    sentences: model.sentences,
    tokens: model.tokens,
    vocabulary: lm.vocab.length,
    ngrams: model.stats.map((s) => s.ngrams),
    stats: model.stats,
    eval: evalOut,
    ...(grammars ? { grammars } : {}),
  };
  await writeJsonAtomic(join(opts.outDir, 'lm.json'), summary);
  return summary;
}

/** The grammars of `opts.grammars` over the LM's words, each written and evaluated on its split. */
async function writeGrammars(
  opts: CorpusLmOptions,
  vocab: readonly string[],
  evaluate: (model: BackoffLm, split: string, what: string) => Promise<LmEvalSummary>,
): Promise<Record<string, GrammarSummary> | null> {
  const splits = Object.keys(opts.grammars ?? {}).sort();
  if (splits.length === 0) return null;
  await checkSplits(opts.dataDir, splits, 'grammars');
  const out: Record<string, GrammarSummary> = {};
  for (const split of splits) {
    const kind = opts.grammars![split];
    const g = grammarModel(kind, vocab);
    const file = grammarFile(split);
    const text = formatArpa(g);
    await writeFileAtomic(join(opts.outDir, file), text);
    const model = new BackoffLm(parseArpa(text, file), file);
    out[split] = {
      kind,
      file,
      words: grammarWords(vocab).length,
      eval: await evaluate(model, split, ` (${kind} grammar)`),
    };
  }
  return out;
}

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
  trainSplits: {
    type: 'array',
    items: { type: 'string', doc: 'split name' },
    minItems: 1,
    default: ['train'],
    doc: 'splits whose transcripts train the LM (never dev/test)',
  },
  evalSplits: {
    type: 'array',
    items: { type: 'string', doc: 'split name' },
    optional: true,
    doc: 'splits for perplexity and OOV rate (default: every other split)',
  },
  extraText: { type: 'string', path: true, optional: true, doc: 'extra LM training text, one sentence per line' },
  grammars: {
    type: 'map',
    optional: true,
    values: {
      type: 'string',
      enum: [...GRAMMAR_KINDS],
      doc: 'one-word: exactly one word per utterance; word-loop: any sequence of words',
    },
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
    const s = await locateConfigError(ctx.recipe, 'stages.lm', () =>
      trainCorpusLm({
        dataDir: ctx.inputDir('prepare'),
        outDir: ctx.outDir,
        order: o.order,
        trainSplits: o.trainSplits,
        evalSplits: o.evalSplits,
        extraText: o.extraText ?? null,
        grammars: o.grammars,
        logger: ctx.log,
      }),
    );
    const counts: Record<string, number> = {
      order: s.order,
      sentences: s.sentences,
      tokens: s.tokens,
      vocabulary: s.vocabulary,
    };
    for (const [split, e] of Object.entries(s.eval)) {
      counts[`${split}Ppl`] = Math.round(100 * e.ppl) / 100;
      counts[`${split}OovPercent`] = Math.round(100 * e.oovRate) / 100;
    }
    for (const [split, g] of Object.entries(s.grammars ?? {})) {
      counts[`${split}GrammarPpl`] = Math.round(100 * g.eval.ppl) / 100;
      counts[`${split}GrammarOovPercent`] = Math.round(100 * g.eval.oovRate) / 100;
    }
    return {
      counts,
      details: { ngrams: s.ngrams, stats: s.stats, eval: s.eval, ...(s.grammars ? { grammars: s.grammars } : {}) },
    };
  },
};
