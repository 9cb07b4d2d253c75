/**
 * `am-distill report --input report-input.json --out DIR [--replicates N] [--seed N] [--worst N]`
 * Writes DIR/report.json, report.md, report.html (+ plots/*.svg), as the report stage does from the
 * saved input alone, and prints the summary. Its option flags are the stage's schema
 * (src/stages/report.ts); each defaults to the input's reportOptions (the recipe's), else the schema's.
 */
import type { Command } from 'commander';
import { readReportInput } from '../../report/validate.ts';
import { writeReport } from '../../report/write.ts';
import { summarySentences } from '../../report/sections.ts';
import { REPORT_SCHEMA, type ReportStageOptions } from '../../stages/report.ts';
import { addStageFlags, givenStageOptions, integerArg, stageOptions, type StageFlags } from './flags.ts';

export const REPORT_FLAGS: StageFlags = {
  stage: 'report',
  schema: REPORT_SCHEMA,
  keys: {
    bootstrapReplicates: {
      flag: '--replicates',
      doc: 'bootstrap replicates for significance',
      defaultText: "the input's reportOptions, else 1000",
    },
    confidence: { doc: 'confidence level of the intervals', defaultText: "the input's reportOptions, else 0.95" },
    worstUtterances: {
      flag: '--worst',
      doc: 'worst utterances shown',
      defaultText: "the input's reportOptions, else 10",
    },
  },
};

export function register(program: Command): void {
  const cmd = program
    .command('report')
    .description(
      'comparison report (Table 1, significance, curves, per-speaker WER, most frequent errors, worst utterances) as json, md and html',
    )
    .requiredOption('--input <file>', 'report-input.json written by the pipeline')
    .requiredOption('--out <dir>', 'output directory')
    .option(
      '--seed <n>',
      "seed of the bootstrap (default: the input's reportOptions, i.e. the recipe seed, else 0)",
      integerArg('--seed', { min: 0 }),
    );
  addStageFlags(cmd, REPORT_FLAGS).action(async (o: { input: string; out: string; seed?: number }) => {
    const input = readReportInput(o.input);
    const d = input.reportOptions ?? {};
    const given = givenStageOptions(cmd).raw as Partial<ReportStageOptions>;
    const schema = (await stageOptions(cmd)).options as unknown as ReportStageOptions;
    const w = await writeReport(input, o.out, {
      bootstrapReplicates: given.bootstrapReplicates ?? d.bootstrapReplicates ?? schema.bootstrapReplicates,
      seed: o.seed ?? d.seed ?? 0,
      confidence: given.confidence ?? d.confidence ?? schema.confidence,
      maxWorstUtterances: given.worstUtterances ?? d.maxWorstUtterances ?? schema.worstUtterances,
    });
    process.stdout.write(summarySentences(w.report).join('\n') + '\n');
    process.stdout.write(`wrote ${w.htmlPath}\nwrote ${w.markdownPath}\nwrote ${w.jsonPath}\n`);
  });
}
