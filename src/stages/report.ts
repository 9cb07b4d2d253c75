/**
 * The `report` stage: the paper's Table 1 for this corpus. Reads what the earlier stages measured
 * (eval.json frame accuracies, score.json WER counts, targets.json, the models' training curves,
 * every stage.json's wall time) into `report-input.json`, then writes `report.json`, `report.md`,
 * `report.html` and `plots/*.svg` into `<expDir>/report/` (src/report).
 *
 * `am-distill report --input <expDir>/report/report-input.json --out DIR` rebuilds the report
 * from the saved input alone.
 *
 * The report records the stages' wall times, so unlike the other stages its bytes change from run
 * to run; nothing downstream reads it.
 *
 * Recipe:
 *   stages:
 *     report:
 *       bootstrapReplicates: 1000   # paired bootstrap of the WER differences
 *       worstUtterances: 10
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.ts';
import { reportInputFromExperiment } from '../report/experiment.ts';
import { writeReport } from '../report/write.ts';
import { summarySentences } from '../report/sections.ts';
import type { Schema, SchemaFor } from './schema.ts';
import type { StageDefinition } from './stage.ts';

export interface ReportStageOptions {
  /** Paired-bootstrap replicates. Default 1000. */
  bootstrapReplicates: number;
  /** Confidence level of the intervals. Default 0.95. */
  confidence: number;
  /** Worst utterances shown (the student's). Default 10. */
  worstUtterances: number;
}

export const REPORT_SCHEMA: Schema = {
  bootstrapReplicates: {
    type: 'number',
    integer: true,
    min: 1,
    default: 1000,
    doc: 'paired bootstrap replicates of the significance tests',
  },
  confidence: {
    type: 'number',
    min: 0.5,
    max: 0.9999,
    default: 0.95,
    doc: 'confidence level of the bootstrap intervals',
  },
  worstUtterances: {
    type: 'number',
    integer: true,
    min: 0,
    default: 10,
    doc: "the student's worst utterances shown with (REF->HYP) diffs",
  },
} satisfies SchemaFor<ReportStageOptions>;

export const REPORT_INPUTS = [
  'prepare',
  'features',
  'align',
  'train',
  'targets',
  'distill',
  'eval',
  'lm',
  'score',
] as const;

export const reportStage: StageDefinition<ReportStageOptions> = {
  name: 'report',
  doc: "the paper's Table 1 for this corpus: frame accuracy, WER, gain kept, significance, curves [report.json, report.md, report.html]",
  inputs: REPORT_INPUTS,
  schema: REPORT_SCHEMA,

  async run(ctx) {
    const recipePath = join(ctx.expDir, 'recipe.json');
    const recipe = existsSync(recipePath)
      ? (JSON.parse(readFileSync(recipePath, 'utf8')) as { stages?: Record<string, unknown> })
      : {};
    const stageNames = Object.keys(recipe.stages ?? {}).filter((s) => s !== 'report');
    const dir = (s: (typeof REPORT_INPUTS)[number]) => ctx.inputDir(s);
    const input = reportInputFromExperiment(
      {
        expDir: ctx.expDir,
        prepare: dir('prepare'),
        features: dir('features'),
        align: dir('align'),
        train: dir('train'),
        targets: dir('targets'),
        distill: dir('distill'),
        eval: dir('eval'),
        lm: dir('lm'),
        score: dir('score'),
      },
      { stageNames, corpusName: ctx.recipe.name },
    );
    const o = ctx.options;
    input.reportOptions = {
      bootstrapReplicates: o.bootstrapReplicates,
      confidence: o.confidence,
      seed: ctx.recipe.seed,
      maxWorstUtterances: o.worstUtterances,
    };
    await writeFileAtomic(join(ctx.outDir, 'report-input.json'), JSON.stringify(input, null, 2) + '\n');
    // Written into the stage's temp dir, which the runner renames to <expDir>/report.
    const w = await writeReport(input, ctx.outDir, {
      ...input.reportOptions,
      logger: ctx.log,
      finalDir: join(ctx.expDir, 'report'),
    });
    for (const line of summarySentences(w.report)) ctx.log.info(line);
    const r = w.report;
    const counts: Record<string, number> = {};
    for (const name of ['baseline', 'ensemble', 'student']) {
      const s = r.systems[name];
      if (s?.frameAccuracy.test !== null && s?.frameAccuracy.test !== undefined)
        counts[`${name}.test.frameAccuracy`] = round4(s.frameAccuracy.test);
      if (s?.wer.test !== null && s?.wer.test !== undefined) counts[`${name}.test.wer`] = round4(s.wer.test);
    }
    if (r.gainRecovered.frameAccuracy !== null)
      counts['gainRecovered.frameAccuracy'] = round4(r.gainRecovered.frameAccuracy);
    if (r.gainRecovered.wer !== null) counts['gainRecovered.wer'] = round4(r.gainRecovered.wer);
    return { counts, details: { files: ['report.json', 'report.md', 'report.html', 'report-input.json'] } };
  },
};

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
