/**
 * `am-distill distill --models M --targets T --features F --align A --out O [--hard-weight w] [--copies-hard-weight wc]`:
 * the distill stage as a command: one student per target set (+ the Table 5 student), trained on
 * the stored soft targets with T^2 CE(soft) + w CE(hard), in parallel workers; students.json.
 * Its option flags are the stage's schema (src/stages/distill.ts); `--opt key=value` sets any of them.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { distillStudents, DISTILL_SCHEMA, type DistillStudentsStageOptions } from '../../stages/distill.ts';
import { addStageFlags, runWithStageOptions, type StageFlags } from './flags.ts';

export const DISTILL_FLAGS: StageFlags = {
  stage: 'distill',
  schema: DISTILL_SCHEMA,
  opt: true,
  keys: {
    // `--set` names one target set (repeatable), as in the recipe's `sets`; unrelated to `run --set`.
    sets: { flag: '--set', doc: 'target set to train a student on (main, T<t>, dense; default: all)' },
  },
};

export function register(program: Command): void {
  const cmd = program
    .command('distill')
    .description('train students of the same size as a member on the stored soft targets (T^2 * soft CE + w * hard CE)')
    .requiredOption('--models <dir>', 'train stage output (models.json)')
    .requiredOption('--targets <dir>', 'targets stage output (targets.json)')
    .requiredOption('--features <dir>', 'features stage output')
    .requiredOption('--align <dir>', 'align stage output')
    .requiredOption('--out <dir>', 'output directory');
  addStageFlags(cmd, DISTILL_FLAGS).action(
    async (f: { models: string; targets: string; features: string; align: string; out: string }) => {
      const dirs = {
        modelsDir: resolve(f.models),
        targetsDir: resolve(f.targets),
        featuresDir: resolve(f.features),
        alignDir: resolve(f.align),
        outDir: resolve(f.out),
      };
      const r = await runWithStageOptions(cmd, (o) =>
        distillStudents({ ...(o as Partial<DistillStudentsStageOptions>), ...dirs }),
      );
      for (const s of r.file.students) {
        process.stdout.write(
          `${s.name} (set ${s.targetSet}, T ${s.temperature}, k ${s.k}): best epoch ${s.bestEpoch} of ${s.epochs}, ${s.accuracyOn} frame accuracy ${(100 * s.bestAccuracy).toFixed(2)}% -> ${resolve(f.out, s.dir)}\n`,
        );
      }
    },
  );
}
