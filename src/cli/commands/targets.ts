/**
 * `am-distill targets --models M --features F --align A --out O [--temperature T] [--top-k auto|N]`:
 * the targets stage as a command: ensemble soft targets of the training split at T, top k per
 * frame, Arrow (`<out>/<split>.arrow`, `T<t>/` for --sweep, `dense/` for --dense) + targets.json.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { makeSoftTargetSets, type MakeTargetsOptions } from '../../stages/targets.ts';
import { TARGETS_SCHEMA } from '../../stages/targets.ts';
import { ConfigError } from '../../util/errors.ts';
import { collect, numFlag, optionsFromFlags } from './train.ts';

export function register(program: Command): void {
  program
    .command('targets')
    .description('ensemble soft targets of the training split at temperature T, top k per frame, in Arrow')
    .requiredOption('--models <dir>', 'train stage output (models.json)')
    .requiredOption('--features <dir>', 'features stage output')
    .requiredOption('--align <dir>', 'align stage output')
    .requiredOption('--out <dir>', 'output directory')
    .option('--temperature <T>', 'temperature (default 2)')
    .option('--top-k <k>', "'auto' (default: mean kept mass >= 0.99) or a number")
    .option('--sweep <T,T,...>', 'more temperatures, one target set each')
    .option('--dense', 'also dense float32 targets (k = all senones)')
    .option('--backend <name>', 'compute engine: auto, tfjs-node-gpu, native, tfjs-node, wasm or cpu')
    .option('--opt <key=value>', 'any option of the recipe\'s stages.targets; repeatable', collect, [] as string[])
    .action(async (f: { models: string; features: string; align: string; out: string; temperature?: string; topK?: string; sweep?: string; dense?: boolean; backend?: string; opt: string[] }) => {
      const topK = f.topK === undefined || f.topK === 'auto' ? f.topK : numFlag('--top-k', f.topK, { integer: true, min: 1 });
      const sweep = f.sweep === undefined ? undefined : f.sweep.split(',').map((t) => numFlag('--sweep', t.trim(), { min: 0 })!);
      if (sweep?.some((t) => !(t > 0))) throw new ConfigError('bad --sweep', { file: `--sweep ${f.sweep}`, expected: 'temperatures > 0, comma-separated', found: f.sweep });
      const o = optionsFromFlags(TARGETS_SCHEMA, { temperature: numFlag('--temperature', f.temperature, { min: 0 }), topK, sweepTemperatures: sweep, dense: f.dense, backend: f.backend }, f.opt) as unknown as MakeTargetsOptions;
      const r = await makeSoftTargetSets({ ...o, modelsDir: resolve(f.models), featuresDir: resolve(f.features), alignDir: resolve(f.align), outDir: resolve(f.out) });
      for (const s of r.file.sets) {
        process.stdout.write(`${s.name}: T ${s.temperature}, k ${s.k} (${s.kChosenBy}), mean kept mass ${s.meanKeptMass.toFixed(4)}, ${s.bytesPerFrame.toFixed(1)} bytes/frame ` +
          `(dense float32 ${s.denseBytesPerFrame}), ensemble train frame accuracy ${(100 * s.ensembleFrameAccuracy).toFixed(2)}% -> ${resolve(f.out, s.file)}\n`);
      }
    });
}
