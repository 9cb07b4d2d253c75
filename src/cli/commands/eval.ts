/**
 * `am-distill eval --models M [--students S] --features F --align A --out O [--split dev --split test]`:
 * the eval stage as a command: frame accuracy of baseline, members, ensemble (T = 1) and students,
 * the gain the student keeps, Table 5; eval.json + eval.md in --out (eval.md is also printed).
 * Its option flags are the stage's schema (src/stages/eval.ts).
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { evaluateAcousticModels, EVAL_SCHEMA, type EvaluateModelsStageOptions } from '../../stages/eval.ts';
import { EVAL_MD } from '../../formats/eval.ts';
import { addStageFlags, integerArg, runWithStageOptions, type StageFlags } from './flags.ts';

export const EVAL_FLAGS: StageFlags = {
  stage: 'eval',
  schema: EVAL_SCHEMA,
  keys: {
    splits: { flag: '--split' },
    trainAccuracy: { flag: '--no-train-accuracy', doc: 'do not score the training split' },
    bootstrapReplicates: { flag: '--replicates' },
  },
};

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .description(
      'frame accuracy of baseline, members, ensemble and students on dev/test; gain kept by the student; Table 5',
    )
    .requiredOption('--models <dir>', 'train stage output (models.json)')
    .option('--students <dir>', 'distill stage output (students.json)')
    .requiredOption('--features <dir>', 'features stage output')
    .requiredOption('--align <dir>', 'align stage output')
    .requiredOption('--out <dir>', 'output directory (eval.json, eval.md)')
    .option('--seed <n>', 'seed of the bootstrap (default: 0)', integerArg('--seed'));
  addStageFlags(cmd, EVAL_FLAGS).action(
    async (f: { models: string; students?: string; features: string; align: string; out: string; seed?: number }) => {
      const out = resolve(f.out);
      const dirs = {
        modelsDir: resolve(f.models),
        studentsDir: f.students ? resolve(f.students) : null,
        featuresDir: resolve(f.features),
        alignDir: resolve(f.align),
        outDir: out,
      };
      await runWithStageOptions(cmd, (o) =>
        evaluateAcousticModels({ ...(o as Partial<EvaluateModelsStageOptions>), seed: f.seed ?? 0, ...dirs }),
      );
      process.stdout.write(await readFile(join(out, EVAL_MD), 'utf8'));
    },
  );
}
