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

function floatOption(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new ConfigError(`bad value for --${name}`, { expected: `a number in [${min}, ${max}]`, found: JSON.stringify(v) });
    return n;
  };
}

export function register(program: Command): void {
  program.command('report')
    .description('comparison report (Table 1, significance, curves, per-speaker WER, most frequent errors, worst utterances) as json, md and html')
    .requiredOption('--input <file>', 'report-input.json written by the pipeline')
    .requiredOption('--out <dir>', 'output directory')
    .option('--replicates <n>', "bootstrap replicates for significance (default: the input's reportOptions, else 1000)", intOption('replicates', 1))
    .option('--seed <n>', "seed of the bootstrap (default: the input's reportOptions, i.e. the recipe seed, else 0)", intOption('seed', 0))
    .option('--confidence <x>', "confidence level of the intervals (default: the input's reportOptions, else 0.95)", floatOption('confidence', 0.5, 0.9999))
    .option('--worst <n>', "worst utterances shown (default: the input's reportOptions, else 10)", intOption('worst', 0))
    .action(async (o: { input: string; out: string; replicates?: number; seed?: number; confidence?: number; worst?: number }) => {
      const input = readReportInput(o.input);
      const d = input.reportOptions ?? {};
      const w = await writeReport(input, o.out, {
        bootstrapReplicates: o.replicates ?? d.bootstrapReplicates ?? 1000, seed: o.seed ?? d.seed ?? 0,
        confidence: o.confidence ?? d.confidence ?? 0.95, maxWorstUtterances: o.worst ?? d.maxWorstUtterances ?? 10,
      });
      process.stdout.write(summarySentences(w.report).join('\n') + '\n');
      process.stdout.write(`wrote ${w.htmlPath}\nwrote ${w.markdownPath}\nwrote ${w.jsonPath}\n`);
    });
}
