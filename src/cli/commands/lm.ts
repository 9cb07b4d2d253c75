/**
 * `am-distill lm train --data D --out DIR [--order N] [--train-split S] ...`: the lm stage as a
 *   command (trainCorpusLm, src/stages/lm.ts): lm.arpa, lm.json (perplexity and OOV rate of the
 *   other splits) and train.txt from a prepared data dir's transcripts; flags from the stage's schema.
 * `am-distill lm train --text F --order N --out lm.arpa`: an ARPA LM from one text file (src/lm).
 * `am-distill lm ppl --lm lm.arpa --text F [--json]`
 */
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadLm, perplexityOfFile, trainLm } from '../../lm/train.ts';
import { LM_SCHEMA, trainCorpusLm, type CorpusLmOptions } from '../../stages/lm.ts';
import { ConfigError } from '../../util/errors.ts';
import { withAtomicOutput } from '../../util/fs.ts';
import { addStageFlags, requireWith, runWithStageOptions, type StageFlags } from './flags.ts';

/** `--grammar test-isolated=one-word` (the kind is the schema's check). */
function parseGrammar(text: string, previous: unknown): Record<string, string> {
  const i = text.indexOf('=');
  if (i <= 0 || i === text.length - 1)
    throw new ConfigError('bad --grammar', {
      file: `--grammar ${text}`,
      expected: '<split>=<kind>, e.g. test-isolated=one-word',
      found: text,
    });
  return { ...(previous as Record<string, string> | undefined), [text.slice(0, i)]: text.slice(i + 1) };
}

export const LM_FLAGS: StageFlags = {
  stage: 'lm',
  schema: LM_SCHEMA,
  keys: {
    trainSplits: { flag: '--train-split', doc: 'split whose transcripts train the LM (never dev/test; --data)' },
    evalSplits: { flag: '--eval-split', doc: 'split for perplexity and OOV rate (default: every other split; --data)' },
    extraText: { value: '<file>', doc: 'extra LM training text, one sentence per line (--data)' },
    grammars: {
      flag: '--grammar',
      value: '<split=kind>',
      repeatable: true,
      parse: parseGrammar,
      doc: "a split decoded with a grammar over the LM's words: one-word or word-loop (--data)",
    },
  },
};

/** The flags that only the stage (--data) reads. */
const DATA_ONLY = ['--train-split', '--eval-split', '--extra-text', '--grammar'];

function registerTrain(lm: Command): void {
  const cmd = lm
    .command('train')
    .description(
      'estimate an n-gram LM (the lm stage) from the transcripts of a prepared data dir (--data: <out>/lm.arpa, lm.json, train.txt), or from one text file (--text: <out> is the ARPA file)',
    )
    .option('--data <dataDir>', 'prepared data dir (corpus.json + <split>/*.jsonl): the lm stage')
    .option('--text <file>', 'training text, one sentence per line, instead of --data')
    .requiredOption('--out <path>', 'output directory (--data, replaced atomically) or ARPA file (--text)');
  addStageFlags(cmd, LM_FLAGS).action(async (f: { data?: string; text?: string; out: string }) => {
    if ((f.data === undefined) === (f.text === undefined)) {
      throw new ConfigError('lm train needs one input', {
        file: f.data ? `--data ${f.data}` : 'lm train',
        expected: 'either --data <dataDir> or --text <file>',
        found: f.data ? `both, --text ${f.text}` : 'neither',
      });
    }
    if (f.text !== undefined) {
      requireWith(cmd, DATA_ONLY, '--data');
      const r = await runWithStageOptions(cmd, (o) =>
        trainLm({ textPath: f.text!, outPath: f.out, order: o.order as number }),
      );
      const counts = r.stats.map((s) => `${s.order}-grams ${s.ngrams}`).join(', ');
      process.stderr.write(`lm train: ${r.sentences} sentences, ${r.tokens} words -> ${r.outPath} (${counts})\n`);
      for (const s of r.stats) {
        process.stderr.write(
          `  order ${s.order}: n1..n4 ${s.countOfCounts.join(' ')}; D1 D2 D3+ ${s.discounts.map((d) => d.toFixed(4)).join(' ')}${s.fallback ? ' (fallback)' : ''}\n`,
        );
      }
      return;
    }
    const out = resolve(f.out);
    const s = await withAtomicOutput(out, async (tmp) => {
      await fsp.mkdir(tmp, { recursive: true });
      return runWithStageOptions(cmd, (o) =>
        trainCorpusLm({
          ...(o as Omit<CorpusLmOptions, 'dataDir' | 'outDir'>),
          dataDir: resolve(f.data!),
          outDir: tmp,
        }),
      );
    });
    const counts = s.stats.map((x) => `${x.order}-grams ${x.ngrams}`).join(', ');
    process.stdout.write(
      `order ${s.order}: ${s.sentences} sentences, ${s.tokens} words of ${s.trainSplits.join(', ')}${s.extraText ? ' + extra text' : ''} (${counts}) -> ${join(out, 'lm.arpa')}\n`,
    );
    for (const [split, e] of Object.entries(s.eval))
      process.stdout.write(`${split}: ppl ${e.ppl.toFixed(2)}, ${e.oovs} OOVs (${e.oovRate.toFixed(2)}%)\n`);
    for (const [split, g] of Object.entries(s.grammars ?? {}))
      process.stdout.write(`${split} (${g.kind} grammar): ppl ${g.eval.ppl.toFixed(2)} -> ${join(out, g.file)}\n`);
  });
}

export function register(program: Command): void {
  const lm = program.command('lm').description('word n-gram language model (interpolated modified Kneser-Ney, ARPA)');
  registerTrain(lm);
  lm.command('ppl')
    .description('perplexity and OOV count of a text (SRILM convention: </s> counted, OOVs skipped)')
    .requiredOption('--lm <file>', 'ARPA language model (.arpa or .arpa.gz)')
    .requiredOption('--text <file>', 'text, one sentence per line')
    .option('--json', 'print {"ppl","logprob","words","oovs",...} as JSON', false)
    .action(async (o: { lm: string; text: string; json: boolean }) => {
      const r = perplexityOfFile(await loadLm(o.lm), o.text);
      if (o.json) {
        process.stdout.write(
          JSON.stringify({
            ppl: r.ppl,
            logprob: r.logprob,
            words: r.words,
            oovs: r.oovs,
            sentences: r.sentences,
            ppl1: r.ppl1,
          }) + '\n',
        );
      } else {
        process.stdout.write(
          `${o.text}: ${r.sentences} sentences, ${r.words} words, ${r.oovs} OOVs\n` +
            `logprob= ${r.logprob.toFixed(4)} ppl= ${r.ppl.toFixed(4)} ppl1= ${r.ppl1.toFixed(4)}\n`,
        );
      }
    });
}
