/**
 * `am-distill train --features F --align A --out O [--members K] [--hidden-layers L] ...`: the train
 * stage as a command (baseline + K ensemble members in parallel workers; `--small-fraction` adds
 * the Table 5 baseline). A rerun with the same options resumes from the checkpoints in --out
 * (`--keep-checkpoints` keeps them after the run, so a higher --max-epochs continues training).
 * Its option flags are the stage's schema (src/stages/train.ts); `--opt key=value` sets any of them.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { trainAcousticModels, TRAIN_SCHEMA, type TrainAcousticModelsOptions } from '../../stages/train.ts';
import { ConfigError } from '../../util/errors.ts';
import { addStageFlags, integerArg, runWithStageOptions, type StageFlags } from './flags.ts';

export const TRAIN_FLAGS: StageFlags = {
  stage: 'train',
  schema: TRAIN_SCHEMA,
  opt: true,
  keys: {
    leftContext: 'set by --context left,right',
    rightContext: 'set by --context left,right',
  },
};

/** `--context 5,5`: left and right context in frames. */
function parseContext(text: string): { left: number; right: number } {
  const m = /^(\d+),(\d+)$/.exec(text);
  if (!m)
    throw new ConfigError('bad --context', {
      file: `--context ${text}`,
      expected: 'left,right in frames, e.g. 5,5',
      found: text,
    });
  return { left: Number(m[1]), right: Number(m[2]) };
}

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description(
      'train the baseline and K ensemble members (DNN frame classifiers) on features + forced alignments, in parallel workers',
    )
    .requiredOption('--features <dir>', 'features stage output (<split>.arrow, <split>.cmvn.json)')
    .requiredOption('--align <dir>', 'align stage output (<split>.arrow, tree.json, senones.json)')
    .requiredOption('--out <dir>', 'output directory (models.json, baseline/, member-<k>/)')
    .option('--context <left,right>', 'splice window in frames (default: 5,5)', parseContext)
    .option('--seed <n>', 'seed of the nets (default: 0)', integerArg('--seed', { min: 0 }));
  addStageFlags(cmd, TRAIN_FLAGS).action(
    async (f: {
      features: string;
      align: string;
      out: string;
      context?: { left: number; right: number };
      seed?: number;
    }) => {
      const context = `--context ${f.context?.left},${f.context?.right}`;
      const r = await runWithStageOptions(
        cmd,
        (o) =>
          trainAcousticModels({
            ...(o as Partial<TrainAcousticModelsOptions>),
            featuresDir: resolve(f.features),
            alignDir: resolve(f.align),
            outDir: resolve(f.out),
            seed: f.seed ?? 0,
          }),
        {
          leftContext: { value: f.context?.left, flag: context },
          rightContext: { value: f.context?.right, flag: context },
        },
      );
      for (const m of r.file.models) {
        process.stdout.write(
          `${m.name}: best epoch ${m.bestEpoch} of ${m.epochs}, ${m.accuracyOn} frame accuracy ${(100 * m.bestAccuracy).toFixed(2)}% -> ${resolve(f.out, m.dir)}\n`,
        );
      }
      for (const t of r.timing.models) {
        const feed =
          t.feedFramesPerSecond !== null
            ? ` (data feed ${t.feedFramesPerSecond.toFixed(0)}, engine ${t.engineFramesPerSecond!.toFixed(0)} frames/s)`
            : '';
        process.stdout.write(
          `${t.name}: ${t.framesPerSecond.toFixed(0)} frames/s${feed}, peak RSS ${(t.peakRssBytes / 2 ** 20).toFixed(0)} MiB, shuffle buffer peak ${t.peakBufferedFrames} frames\n`,
        );
      }
      process.stdout.write(`done in ${r.timing.seconds.toFixed(1)} s -> ${resolve(f.out, 'models.json')}\n`);
    },
  );
}
