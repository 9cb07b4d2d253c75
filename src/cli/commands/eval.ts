/**
 * `am-distill eval --models M [--students S] --features F --align A --out O [--split dev --split test]`:
 * the eval stage as a command: frame accuracy of baseline, members, ensemble (T = 1) and students,
 * the gain the student keeps, Table 5; eval.json + eval.md in --out (eval.md is also printed).
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { evaluateAcousticModels, type EvaluateModelsOptions } from '../../stages/eval.ts';
import { EVAL_MD } from '../../formats/eval.ts';
import { EVAL_SCHEMA } from '../../stages/eval.ts';
import { collect, numFlag, optionsFromFlags } from './train.ts';

export function register(program: Command): void {
  program
    .command('eval')
    .description('frame accuracy of baseline, members, ensemble and students on dev/test; gain kept by the student; Table 5')
    .requiredOption('--models <dir>', 'train stage output (models.json)')
    .option('--students <dir>', 'distill stage output (students.json)')
    .requiredOption('--features <dir>', 'features stage output')
    .requiredOption('--align <dir>', 'align stage output')
    .requiredOption('--out <dir>', 'output directory (eval.json, eval.md)')
    .option('--split <name>', 'split to score (repeatable; default dev and test)', collect, [] as string[])
    .option('--no-train-accuracy', 'do not score the training split')
    .option('--backend <name>', 'compute engine: auto, tfjs-node-gpu, native, tfjs-node, wasm or cpu')
    .option('--replicates <n>', 'bootstrap replicates for the confidence interval of the gain kept (0: none; default 1000)')
    .option('--seed <n>', 'seed of the bootstrap (default 0)')
    .action(async (f: { models: string; students?: string; features: string; align: string; out: string; split: string[]; trainAccuracy: boolean; backend?: string; replicates?: string; seed?: string }) => {
      const o = optionsFromFlags(EVAL_SCHEMA, { splits: f.split.length ? f.split : undefined, trainAccuracy: f.trainAccuracy, backend: f.backend, bootstrapReplicates: f.replicates === undefined ? undefined : numFlag('--replicates', f.replicates, { min: 0, integer: true }) }, []) as unknown as EvaluateModelsOptions;
      o.seed = f.seed === undefined ? 0 : numFlag('--seed', f.seed, { integer: true })!;
      const out = resolve(f.out);
      await evaluateAcousticModels({ ...o, modelsDir: resolve(f.models), studentsDir: f.students ? resolve(f.students) : null, featuresDir: resolve(f.features), alignDir: resolve(f.align), outDir: out });
      process.stdout.write(await readFile(join(out, EVAL_MD), 'utf8'));
    });
}
