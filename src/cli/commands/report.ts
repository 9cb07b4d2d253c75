/**
 * `am-distill report --input report-input.json --out DIR [--replicates N] [--seed N] [--worst N]`
 * Writes DIR/report.json, report.md, report.html (+ plots/*.svg) and prints the summary.
 */
import type { Command } from 'commander';
import { readReportInput } from '../../report/validate.ts';
import { writeReport } from '../../report/write.ts';
import { summarySentences } from '../../report/sections.ts';
import { ConfigError } from '../../util/errors.ts';

function intOption(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new ConfigError(`bad value for --${name}`, { expected: `an integer >= ${min}`, found: JSON.stringify(v) });
    return n;
  };
}

export function register(program: Command): void {
  program.command('report')
    .description('comparison report (Table 1, significance, curves, per-speaker WER, worst utterances) as json, md and html')
    .requiredOption('--input <file>', 'report-input.json written by the pipeline')
    .requiredOption('--out <dir>', 'output directory')
    .option('--replicates <n>', 'bootstrap replicates for significance', intOption('replicates', 1), 1000)
    .option('--seed <n>', 'seed of the bootstrap', intOption('seed', 0), 0)
    .option('--worst <n>', 'worst utterances shown', intOption('worst', 0), 10)
    .action(async (o: { input: string; out: string; replicates: number; seed: number; worst: number }) => {
      const input = readReportInput(o.input);
      const w = await writeReport(input, o.out, { bootstrapReplicates: o.replicates, seed: o.seed, maxWorstUtterances: o.worst });
      process.stdout.write(summarySentences(w.report).join('\n') + '\n');
      process.stdout.write(`wrote ${w.htmlPath}\nwrote ${w.markdownPath}\nwrote ${w.jsonPath}\n`);
    });
}
