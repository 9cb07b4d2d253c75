/**
 * `am-distill targets --models M --features F --align A --out O [--temperature T] [--top-k auto|N]`:
 * the targets stage as a command: ensemble soft targets of the training split at T, top k per
 * frame, Arrow (`<out>/<split>.arrow`, `T<t>/` for --sweep, `dense/` for --dense) + targets.json.
 * Its option flags are the stage's schema (src/stages/targets.ts); `--opt key=value` sets any of them.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { makeSoftTargetSets, TARGETS_SCHEMA, type MakeSoftTargetSetsOptions } from '../../stages/targets.ts';
import { addStageFlags, parseIntegerFlag, runWithStageOptions, type StageFlags } from './flags.ts';

export const TARGETS_FLAGS: StageFlags = {
  stage: 'targets',
  schema: TARGETS_SCHEMA,
  opt: true,
  keys: {
    topK: {
      value: '<k>',
      doc: "senones kept per frame: 'auto' (calibrated to --target-kept-mass) or a number",
      parse: (t) => (t === 'auto' ? t : parseIntegerFlag('--top-k', t, { min: 1 })),
    },
    sweepTemperatures: { flag: '--sweep', value: '<T,T,...>' },
  },
};

export function register(program: Command): void {
  const cmd = program
    .command('targets')
    .description('ensemble soft targets of the training split at temperature T, top k per frame, in Arrow')
    .requiredOption('--models <dir>', 'train stage output (models.json)')
    .requiredOption('--features <dir>', 'features stage output')
    .requiredOption('--align <dir>', 'align stage output')
    .requiredOption('--out <dir>', 'output directory');
  addStageFlags(cmd, TARGETS_FLAGS).action(
    async (f: { models: string; features: string; align: string; out: string }) => {
      const r = await runWithStageOptions(cmd, (o) =>
        makeSoftTargetSets({
          ...(o as Partial<MakeSoftTargetSetsOptions>),
          modelsDir: resolve(f.models),
          featuresDir: resolve(f.features),
          alignDir: resolve(f.align),
          outDir: resolve(f.out),
        }),
      );
      for (const s of r.file.sets) {
        process.stdout.write(
          `${s.name}: T ${s.temperature}, k ${s.k} (${s.kChosenBy}), mean kept mass ${s.meanKeptMass.toFixed(4)}, ${s.bytesPerFrame.toFixed(1)} bytes/frame ` +
            `(dense float32 ${s.denseBytesPerFrame}), ensemble train frame accuracy ${(100 * s.ensembleFrameAccuracy).toFixed(2)}% -> ${resolve(f.out, s.file)}\n`,
        );
      }
    },
  );
}
