/**
 * The `targets` stage: the train stage's members -> ensemble soft targets of the training split
 * at temperature T, top k per frame, Arrow (`<expDir>/targets/<split>.arrow` + targets.json),
 * through `makeSoftTargetSets` (src/train/targets.ts, which calls src/distill).
 *
 * Recipe:
 *   stages:
 *     targets:
 *       temperature: 2            # T (the paper tried 1, 2, 5, 10)
 *       topK: auto                # or a number; auto: smallest k with mean kept mass >= targetKeptMass
 *       targetKeptMass: 0.99
 *       sweepTemperatures: [1, 5] # more target sets, one student each (the temperature sweep)
 *       dense: true               # dense float32 targets too (top-k vs dense comparison)
 *       vtlpCopies: true          # label the VTLP copies too (false with stages.distill.vtlpCopies false)
 */
import { ConfigError } from '../util/errors.ts';
import { makeSoftTargetSets, DEFAULT_MAKE_TARGETS_OPTIONS as D, type MakeTargetsOptions } from '../train/targets.ts';
import type { Schema, SchemaFor } from './schema.ts';
import type { StageDefinition } from './stage.ts';
import { backendOption, locateOptionError } from './train.ts';

export type TargetsStageOptions = MakeTargetsOptions;

export const TARGETS_SCHEMA: Schema = {
  temperature: { type: 'number', min: 1e-6, default: D.temperature, doc: 'temperature T of the softened member distributions' },
  combination: { type: 'string', enum: ['arithmetic', 'geometric'], default: D.combination, doc: "combination rule: 'arithmetic' mean of probabilities (the paper) or normalised 'geometric' mean" },
  topK: {
    type: 'custom', expected: "'auto' or an integer >= 1", default: D.topK, doc: "senones kept per frame ('auto': calibrated to targetKeptMass)",
    jsonSchema: { anyOf: [{ const: 'auto' }, { type: 'integer', minimum: 1 }] },
    validate: (v, keyPath) => {
      if (v === undefined || v === 'auto') return 'auto';
      if (typeof v === 'number' && Number.isInteger(v) && v >= 1) return v;
      throw new ConfigError('bad top-k', { keyPath, expected: "'auto' or an integer >= 1", found: JSON.stringify(v) });
    },
  } as Schema[string],
  targetKeptMass: { type: 'number', min: 1e-6, max: 1, default: D.targetKeptMass, doc: "mean kept probability mass that 'auto' must reach" },
  maxK: { type: 'number', integer: true, min: 1, nullable: true, doc: "upper limit of 'auto' (null: all senones)" },
  residual: { type: 'string', enum: ['renormalise', 'store'], default: D.residual, doc: "mass outside the top k: 'renormalise' the kept ones or 'store' it (spread uniformly by the loss)" },
  probType: { type: 'string', enum: ['float16', 'float32'], default: D.probType, doc: 'stored probability type' },
  calibrationFrames: { type: 'number', integer: true, min: 1, default: D.calibrationFrames, unit: 'frames', doc: "frames of the calibration sample of topK 'auto'" },
  sweepTemperatures: { type: 'array', items: { type: 'number', min: 1e-6, doc: 'temperature' }, default: [], doc: 'further temperatures: one target set and one student each' },
  dense: { type: 'boolean', default: D.dense, doc: 'also dense float32 targets at T (k = all senones), for the top-k vs dense comparison' },
  vtlpCopies: { type: 'boolean', default: D.vtlpCopies, doc: "label the features stage's VTLP copies too (false: the original recordings only, for students with distill vtlpCopies false)" },
  split: { type: 'string', optional: true, doc: "split to make targets for (default: the train stage's training split)" },
  inferenceBatchSize: { type: 'number', integer: true, min: 1, default: D.inferenceBatchSize, affectsOutput: false, unit: 'frames', doc: 'frames per forward pass' },
  backend: backendOption(D.backend),
} satisfies SchemaFor<TargetsStageOptions>;

export const targetsStage: StageDefinition<TargetsStageOptions> = {
  name: 'targets',
  doc: 'ensemble soft targets of the training split at temperature T, top k per frame [Arrow]',
  inputs: ['features', 'align', 'train'],
  schema: TARGETS_SCHEMA,

  async run(ctx) {
    const r = await locateOptionError(ctx, 'targets', () => makeSoftTargetSets({
      ...ctx.options, modelsDir: ctx.inputDir('train'), featuresDir: ctx.inputDir('features'), alignDir: ctx.inputDir('align'), outDir: ctx.outDir, logger: ctx.log,
    }));
    const main = r.file.sets[0];
    return {
      counts: { sets: r.file.sets.length, teachers: r.file.teachers.length, frames: main.frames, k: main.k },
      details: {
        sets: r.file.sets.map((s) => ({ name: s.name, temperature: s.temperature, k: s.k, meanKeptMass: s.meanKeptMass, bytesPerFrame: s.bytesPerFrame, denseBytesPerFrame: s.denseBytesPerFrame, ensembleFrameAccuracy: s.ensembleFrameAccuracy })),
        timing: { seconds: r.seconds },
      },
    };
  },
};
