/**
 * `am-distill train --features F --align A --out O [--members K] [--hidden-layers L] ...`: the train
 * stage as a command (baseline + K ensemble members in parallel workers; `--small-fraction` adds
 * the Table 5 baseline). A rerun with the same options resumes from the checkpoints in --out
 * (`--keep-checkpoints` keeps them after the run, so a higher --max-epochs continues training).
 * Every option of the recipe's `stages.train` is also settable as `--opt key=value`.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { trainAcousticModels, type TrainModelsOptions } from '../../stages/train.ts';
import { TRAIN_SCHEMA } from '../../stages/train.ts';
import { validateOptions, type Schema } from '../../stages/schema.ts';
import { parseSetArgument } from '../../stages/schema.ts';
import { ConfigError } from '../../util/errors.ts';

export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** A numeric flag: integer (>= min) or any finite number. */
export function numFlag(flag: string, v: string | undefined, opts: { integer?: boolean; min?: number } = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  const ok = Number.isFinite(n) && (!opts.integer || Number.isInteger(n)) && (opts.min === undefined || n >= opts.min);
  if (!ok) throw new ConfigError(`bad ${flag}`, { file: `${flag} ${v}`, expected: `${opts.integer ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}`, found: v });
  return n;
}

/**
 * Options from explicit flags plus `--opt key=value` pairs, validated with the stage's schema
 * (same defaults and messages as a recipe; key paths name the flag).
 */
export function optionsFromFlags(schema: Schema, flags: Record<string, unknown>, opt: string[]): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) raw[k] = v;
  for (const a of opt) {
    const { keyPath, value } = parseSetArgument(a);
    if (keyPath.includes('.') || !(keyPath in schema)) throw new ConfigError('bad --opt key', { file: `--opt ${a}`, expected: `one of ${Object.keys(schema).join(', ')}`, found: keyPath });
    raw[keyPath] = value;
  }
  return validateOptions(schema, raw);
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train the baseline and K ensemble members (DNN frame classifiers) on features + forced alignments, in parallel workers')
    .requiredOption('--features <dir>', 'features stage output (<split>.arrow, <split>.cmvn.json)')
    .requiredOption('--align <dir>', 'align stage output (<split>.arrow, tree.json, senones.json)')
    .requiredOption('--out <dir>', 'output directory (models.json, baseline/, member-<k>/)')
    .option('--members <K>', 'ensemble members (default 10)')
    .option('--hidden-layers <L>', 'hidden ReLU layers (default 3)')
    .option('--hidden-units <H>', 'units per hidden layer (default 1024)')
    .option('--context <left,right>', 'splice window in frames (default 5,5)')
    .option('--max-epochs <n>', 'epoch limit (default 20)')
    .option('--learning-rate <lr>', 'initial learning rate (default 0.001 adam)')
    .option('--batch-size <n>', 'frames per minibatch (default 256)')
    .option('--small-fraction <f>', "Table 5: also a baseline on this fraction of the training utterances (e.g. 0.03)")
    .option('--max-workers <n>', 'parallel training threads (default: CPU cores)')
    .option('--backend <name>', 'compute engine: auto, tfjs-node-gpu, native, tfjs-node, wasm or cpu')
    .option('--seed <n>', 'seed (default 0)')
    .option('--keep-checkpoints', 'keep the per-epoch checkpoints')
    .option('--opt <key=value>', 'any option of the recipe\'s stages.train (value parsed as YAML); repeatable', collect, [] as string[])
    .action(async (f: { features: string; align: string; out: string; members?: string; hiddenLayers?: string; hiddenUnits?: string; context?: string; maxEpochs?: string; learningRate?: string; batchSize?: string; smallFraction?: string; maxWorkers?: string; backend?: string; seed?: string; keepCheckpoints?: boolean; opt: string[] }) => {
      let leftContext: number | undefined, rightContext: number | undefined;
      if (f.context !== undefined) {
        const m = /^(\d+),(\d+)$/.exec(f.context);
        if (!m) throw new ConfigError('bad --context', { file: `--context ${f.context}`, expected: 'left,right in frames, e.g. 5,5', found: f.context });
        leftContext = Number(m[1]);
        rightContext = Number(m[2]);
      }
      const o = optionsFromFlags(TRAIN_SCHEMA, {
        members: numFlag('--members', f.members, { integer: true, min: 1 }),
        hiddenLayers: numFlag('--hidden-layers', f.hiddenLayers, { integer: true, min: 0 }),
        hiddenUnits: numFlag('--hidden-units', f.hiddenUnits, { integer: true, min: 1 }),
        leftContext, rightContext,
        maxEpochs: numFlag('--max-epochs', f.maxEpochs, { integer: true, min: 1 }),
        learningRate: numFlag('--learning-rate', f.learningRate, { min: 0 }),
        batchSize: numFlag('--batch-size', f.batchSize, { integer: true, min: 1 }),
        smallFraction: numFlag('--small-fraction', f.smallFraction, { min: 0 }),
        maxWorkers: numFlag('--max-workers', f.maxWorkers, { integer: true, min: 0 }),
        backend: f.backend,
        keepCheckpoints: f.keepCheckpoints,
      }, f.opt) as unknown as TrainModelsOptions;
      const r = await trainAcousticModels({ ...o, featuresDir: resolve(f.features), alignDir: resolve(f.align), outDir: resolve(f.out), seed: numFlag('--seed', f.seed, { integer: true, min: 0 }) ?? 0 });
      for (const m of r.file.models) {
        process.stdout.write(`${m.name}: best epoch ${m.bestEpoch} of ${m.epochs}, ${m.accuracyOn} frame accuracy ${(100 * m.bestAccuracy).toFixed(2)}% -> ${resolve(f.out, m.dir)}\n`);
      }
      for (const t of r.timing.models) process.stdout.write(`${t.name}: ${t.framesPerSecond.toFixed(0)} frames/s` + (t.feedFramesPerSecond !== null ? ` (data feed ${t.feedFramesPerSecond.toFixed(0)}, engine ${t.engineFramesPerSecond!.toFixed(0)} frames/s)` : '') + `, peak RSS ${(t.peakRssBytes / 2 ** 20).toFixed(0)} MiB, shuffle buffer peak ${t.peakBufferedFrames} frames\n`);
      process.stdout.write(`done in ${r.timing.seconds.toFixed(1)} s -> ${resolve(f.out, 'models.json')}\n`);
    });
}
