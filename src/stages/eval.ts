/**
 * The `eval` stage: frame accuracy on dev and test (and train) of the baseline, every member, the
 * ensemble (combined at T = 1) and every student; the gain kept by the student; Table 5.
 * `<expDir>/eval/eval.json` + `eval.md`, through `evaluateAcousticModels` (src/train/eval.ts).
 *
 * Recipe:
 *   stages:
 *     eval:
 *       splits: [dev, test]
 *       trainAccuracy: true
 *       bootstrapReplicates: 1000   # CI of the gain kept (paired bootstrap over utterances, recipe seed)
 */
import { evaluateAcousticModels, DEFAULT_EVALUATE_MODELS_OPTIONS as D, type EvaluateModelsOptions } from '../train/eval.ts';
import type { Schema, SchemaFor } from './schema.ts';
import type { StageDefinition } from './stage.ts';
import { backendOption, locateOptionError } from './train.ts';

/** The bootstrap seed is the recipe's. */
export type EvalStageOptions = Omit<EvaluateModelsOptions, 'seed'>;

export const EVAL_SCHEMA: Schema = {
  splits: { type: 'array', items: { type: 'string', doc: 'split name' }, minItems: 1, default: [...D.splits], doc: 'splits to score' },
  trainAccuracy: { type: 'boolean', default: D.trainAccuracy, doc: 'also score the training split (training accuracy; Table 5)' },
  inferenceBatchSize: { type: 'number', integer: true, min: 1, default: D.inferenceBatchSize, affectsOutput: false, unit: 'frames', doc: 'frames per forward pass' },
  backend: backendOption(D.backend),
  bootstrapReplicates: { type: 'number', integer: true, min: 0, default: D.bootstrapReplicates, doc: 'paired bootstrap replicates for the confidence interval of the gain kept (0: none)' },
  confidence: { type: 'number', min: 0.5, max: 0.999, default: D.confidence, doc: 'two-sided confidence level of that interval' },
} satisfies SchemaFor<EvalStageOptions>;

export const evalStage: StageDefinition<EvalStageOptions> = {
  name: 'eval',
  doc: 'frame accuracy of baseline, members, ensemble and students on dev/test; gain kept; Table 5 [eval.json, eval.md]',
  inputs: ['features', 'align', 'train', 'distill'],
  schema: EVAL_SCHEMA,

  async run(ctx) {
    const r = await locateOptionError(ctx, 'eval', () => evaluateAcousticModels({
      ...ctx.options, seed: ctx.recipe.seed, modelsDir: ctx.inputDir('train'), studentsDir: ctx.inputDir('distill'), featuresDir: ctx.inputDir('features'), alignDir: ctx.inputDir('align'),
      outDir: ctx.outDir, logger: ctx.log,
    }));
    const f = r.file;
    const counts: Record<string, number> = { models: f.models.length };
    for (const [split, g] of Object.entries(f.summary)) {
      counts[`${split}.baseline`] = round4(g.baseline);
      counts[`${split}.ensemble`] = round4(g.ensemble);
      counts[`${split}.student`] = round4(g.student);
      if (g.gainKept !== null) counts[`${split}.gainKept`] = round4(g.gainKept);
    }
    return { counts, details: { summary: f.summary, table5: f.table5, timing: { seconds: r.seconds } } };
  },
};

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
