/**
 * `am-distill distill --models M --targets T --features F --align A --out O [--hard-weight w] [--copies-hard-weight wc]`:
 * the distill stage as a command: one student per target set (+ the Table 5 student), trained on
 * the stored soft targets with T^2 CE(soft) + w CE(hard), in parallel workers; students.json.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { distillStudents, type DistillStudentsOptions } from '../../stages/distill.ts';
import { DISTILL_SCHEMA } from '../../stages/distill.ts';
import { collect, numFlag, optionsFromFlags } from './train.ts';

export function register(program: Command): void {
  program
    .command('distill')
    .description('train students of the same size as a member on the stored soft targets (T^2 * soft CE + w * hard CE)')
    .requiredOption('--models <dir>', 'train stage output (models.json)')
    .requiredOption('--targets <dir>', 'targets stage output (targets.json)')
    .requiredOption('--features <dir>', 'features stage output')
    .requiredOption('--align <dir>', 'align stage output')
    .requiredOption('--out <dir>', 'output directory')
    .option('--hard-weight <w>', 'weight of the hard-label term (default 0.5)')
    .option('--copies-hard-weight <w>', "hard-label weight on the VTLP copies' frames (default: --hard-weight; 0: soft targets only on the copies)")
    .option('--normalisation <n>', "'sum' (default) or 'convex'")
    .option('--max-epochs <n>', "epoch limit (default: the members')")
    .option('--learning-rate <lr>', "initial learning rate (default: the members')")
    .option('--set <name>', 'target set to train a student on (repeatable; default: all)', collect, [] as string[])
    .option('--max-workers <n>', 'parallel training threads (default: CPU cores)')
    .option('--backend <name>', 'compute engine: auto, tfjs-node-gpu, native, tfjs-node, wasm or cpu')
    .option('--keep-checkpoints', 'keep the per-epoch checkpoints')
    .option('--opt <key=value>', 'any option of the recipe\'s stages.distill; repeatable', collect, [] as string[])
    .action(async (f: { models: string; targets: string; features: string; align: string; out: string; hardWeight?: string; copiesHardWeight?: string; normalisation?: string; maxEpochs?: string; learningRate?: string; set: string[]; maxWorkers?: string; backend?: string; keepCheckpoints?: boolean; opt: string[] }) => {
      const o = optionsFromFlags(DISTILL_SCHEMA, {
        hardWeight: numFlag('--hard-weight', f.hardWeight, { min: 0 }), copiesHardWeight: numFlag('--copies-hard-weight', f.copiesHardWeight, { min: 0 }), normalisation: f.normalisation,
        maxEpochs: numFlag('--max-epochs', f.maxEpochs, { integer: true, min: 1 }), learningRate: numFlag('--learning-rate', f.learningRate, { min: 0 }),
        sets: f.set.length ? f.set : undefined, maxWorkers: numFlag('--max-workers', f.maxWorkers, { integer: true, min: 0 }), backend: f.backend, keepCheckpoints: f.keepCheckpoints,
      }, f.opt) as unknown as DistillStudentsOptions;
      const r = await distillStudents({ ...o, modelsDir: resolve(f.models), targetsDir: resolve(f.targets), featuresDir: resolve(f.features), alignDir: resolve(f.align), outDir: resolve(f.out) });
      for (const s of r.file.students) {
        process.stdout.write(`${s.name} (set ${s.targetSet}, T ${s.temperature}, k ${s.k}): best epoch ${s.bestEpoch} of ${s.epochs}, ${s.accuracyOn} frame accuracy ${(100 * s.bestAccuracy).toFixed(2)}% -> ${resolve(f.out, s.dir)}\n`);
      }
    });
}
