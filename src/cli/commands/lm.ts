/**
 * `am-distill lm train --text F --order N --out lm.arpa`
 * `am-distill lm ppl --lm lm.arpa --text F [--json]`
 */
import { Command, InvalidArgumentError } from 'commander';
import { trainLm, loadLm, perplexityOfFile } from '../../lm/train.ts';

function intArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function register(program: Command): void {
  const lm = program.command('lm').description('word n-gram language model (interpolated modified Kneser-Ney, ARPA)');
  lm.command('train')
    .description('estimate an n-gram LM from a text (one sentence per line) and write it as ARPA')
    .requiredOption('--text <file>', 'training text, one sentence per line')
    .requiredOption('--out <file>', 'output ARPA file')
    .option('--order <n>', 'n-gram order', intArg, 3)
    .action(async (o: { text: string; out: string; order: number }) => {
      const r = await trainLm({ textPath: o.text, outPath: o.out, order: o.order });
      const counts = r.stats.map((s) => `${s.order}-grams ${s.ngrams}`).join(', ');
      process.stderr.write(`lm train: ${r.sentences} sentences, ${r.tokens} words -> ${r.outPath} (${counts})\n`);
      for (const s of r.stats) {
        process.stderr.write(`  order ${s.order}: n1..n4 ${s.countOfCounts.join(' ')}; D1 D2 D3+ ${s.discounts.map((d) => d.toFixed(4)).join(' ')}${s.fallback ? ' (fallback)' : ''}\n`);
      }
    });
  lm.command('ppl')
    .description('perplexity and OOV count of a text (SRILM convention: </s> counted, OOVs skipped)')
    .requiredOption('--lm <file>', 'ARPA language model (.arpa or .arpa.gz)')
    .requiredOption('--text <file>', 'text, one sentence per line')
    .option('--json', 'print {"ppl","logprob","words","oovs",...} as JSON', false)
    .action(async (o: { lm: string; text: string; json: boolean }) => {
      const r = perplexityOfFile(await loadLm(o.lm), o.text);
      if (o.json) {
        process.stdout.write(JSON.stringify({ ppl: r.ppl, logprob: r.logprob, words: r.words, oovs: r.oovs, sentences: r.sentences, ppl1: r.ppl1 }) + '\n');
      } else {
        process.stdout.write(`${o.text}: ${r.sentences} sentences, ${r.words} words, ${r.oovs} OOVs\n` +
          `logprob= ${r.logprob.toFixed(4)} ppl= ${r.ppl.toFixed(4)} ppl1= ${r.ppl1.toFixed(4)}\n`);
      }
    });
}
