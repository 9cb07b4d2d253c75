/**
 * The `distill` stage: one student (the architecture of one member) per target set, trained on
 * the stored soft targets with T^2 CE(soft) + w CE(hard), evaluated at T = 1; plus the Table 5
 * student when the train stage has a small fraction. Through `distillStudents` (src/train/distill.ts).
 *
 * Recipe:
 *   stages:
 *     distill:
 *       hardWeight: 0.5       # w (the paper's relative weight)
 *       normalisation: sum    # T^2 E_soft + w E_hard; 'convex' divides by 1 + w
 *       maxEpochs: 8          # default: the members'
 *       vtlpCopies: true      # transfer set with the features stage's VTLP copies (if any)
 *       copiesHardWeight: 0   # hard-label weight on the copies' frames (default: hardWeight)
 *       seed: 101             # students' seed (default: the baseline's)
 *       averageFromEpoch: 3   # final student = mean weights from epoch 3 on (default: the members'; 0 off)
 *       control: true         # also the control: the student's training with hard labels only (model 'control')
 */
import { distillStudents, DEFAULT_DISTILL_STUDENTS_OPTIONS as D, type DistillStudentsOptions } from '../train/distill.ts';
import { OptionError, type Schema, type SchemaFor } from './schema.ts';
import { adoptResumeDir, type StageDefinition } from './stage.ts';
import { mergeSkips } from './features.ts';
import { backendOption, locateOptionError } from './train.ts';

export type DistillStageOptions = DistillStudentsOptions;

export const DISTILL_SCHEMA: Schema = {
  hardWeight: { type: 'number', min: 0, default: D.hardWeight, doc: 'weight w of the hard-label term (the paper: 0.5)' },
  normalisation: { type: 'string', enum: ['sum', 'convex'], default: D.normalisation, doc: "'sum': T^2 E_soft + w E_hard; 'convex': the same divided by 1 + w" },
  learningRate: { type: 'number', min: 0, optional: true, doc: "students' initial learning rate (default: the members')" },
  maxEpochs: { type: 'number', integer: true, min: 1, optional: true, doc: "students' epoch limit (default: the members')" },
  halvingFactor: { type: 'number', min: 0.01, max: 0.99, optional: true, doc: "students' learning-rate factor per epoch (exponential) or per halving (newbob) (default: the members')" },
  sets: { type: 'array', items: { type: 'string', doc: 'target set name' }, minItems: 1, optional: true, doc: 'target sets to train students on (main, T<t>, dense; default: all)' },
  averageFromEpoch: { type: 'number', integer: true, min: 0, optional: true, doc: "students' weight averaging: the running mean of the weights from the start of this epoch on is the final student (0: off; default: the members')" },
  seed: { type: 'number', integer: true, min: 0, optional: true, doc: "students' seed: initial weights and data order (default: the baseline's, so student and baseline differ in their targets only; the members use recipe seed + 1..K)" },
  fractionStudent: { type: 'boolean', default: D.fractionStudent, doc: 'train the Table 5 student when the train stage has a small-fraction baseline' },
  vtlpCopies: { type: 'boolean', default: D.vtlpCopies, doc: "the transfer set includes the features stage's VTLP copies (false: the original recordings only)" },
  copiesHardWeight: { type: 'number', min: 0, optional: true, doc: "hard-label weight on the VTLP copies' frames (default: hardWeight; 0: soft targets only on the copies, hard labels on the real recordings)" },
  control: { type: 'boolean', default: D.control, doc: "train the control 'control': the main student's transfer set (VTLP copies included, with their alignment labels), learning rate, schedule, averaging and seed, hard-label cross-entropy only (student - control = the soft targets' gain)" },
  maxWorkers: { type: 'number', integer: true, min: 0, default: D.maxWorkers, affectsOutput: false, doc: 'parallel training threads (0 = CPU cores)' },
  keepCheckpoints: { type: 'boolean', default: D.keepCheckpoints, doc: 'keep the per-epoch checkpoints in the output' },
  backend: backendOption(D.backend),
} satisfies SchemaFor<DistillStageOptions>;

export const distillStage: StageDefinition<DistillStageOptions> = {
  name: 'distill',
  doc: 'student of the same size trained on the soft targets: T^2 * soft CE + w * hard CE, evaluated at T = 1; and its control on hard labels alone',
  inputs: ['features', 'align', 'train', 'targets'],
  schema: DISTILL_SCHEMA,

  checkInputs(options, inputOptions) {
    const copies = ((inputOptions('features')?.vtlp as { warps?: number[] } | undefined)?.warps?.length ?? 0) > 0;
    if (options.copiesHardWeight !== undefined && !copies) {
      throw new OptionError('a hard-label weight for VTLP copies, but the features stage makes none', {
        keyPath: 'stages.distill.copiesHardWeight', expected: 'absent, or stages.features.vtlp with warps', found: String(options.copiesHardWeight),
      });
    }
    if (copies && options.vtlpCopies && inputOptions('targets')?.vtlpCopies === false) {
      throw new OptionError('the student would train on VTLP copies that the targets stage does not label', {
        keyPath: 'stages.distill.vtlpCopies', expected: 'false when stages.targets.vtlpCopies is false', found: 'true',
      });
    }
  },

  async run(ctx) {
    const r = await locateOptionError(ctx, 'distill', () => distillStudents({
      ...ctx.options, modelsDir: ctx.inputDir('train'), targetsDir: ctx.inputDir('targets'), featuresDir: ctx.inputDir('features'), alignDir: ctx.inputDir('align'),
      outDir: ctx.resumeDir, resume: true, logger: ctx.log, // an interrupted run continues from each student's last epoch
    }));
    await adoptResumeDir(ctx);
    const skips = Object.values(r.skips).map((s) => (s as { train: { done: number; skipped: number; reasons: { reason: string; count: number; examples: string[] }[] } }).train);
    return {
      counts: { students: r.file.students.filter((s) => s.role !== 'control').length, ...(ctx.options.control ? { control: 1 } : {}) },
      skipped: mergeSkips(skips.slice(0, 1)),
      details: {
        accuracy: Object.fromEntries(r.file.students.map((s) => [s.name, { bestEpoch: s.bestEpoch, [s.accuracyOn]: s.bestAccuracy, temperature: s.temperature, k: s.k }])),
        timing: r.timing,
      },
    };
  },
};
