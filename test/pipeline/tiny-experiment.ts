/**
 * A finished tiny experiment: the demo recipe shrunk with --set (4 synthetic speakers, tiny nets),
 * run through the real runner from synthesis to the targets stage (about 10 s on one core). It
 * makes every optional part of the Arrow files appear: VTLP copies of the training split
 * (features `am_distill.vtlp_warps`), soft targets with a stored residual, a temperature sweep and
 * dense targets. Used by test/pipeline/finished-experiment.test.ts and by the pyarrow golden of
 * docs/arrow-schema.md (test/golden/arrow-schema/HOW-GENERATED.md).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadRecipe } from '../../src/pipeline/recipe.ts';
import { runPipeline } from '../../src/pipeline/runner.ts';
import { defaultRegistry } from '../../src/stages/index.ts';
import type { Logger } from '../../src/util/log.ts';

const ROOT = resolve(import.meta.dirname, '../..');

export const TINY_EXPERIMENT_SETS: readonly string[] = [
  'stages.prepare.numSpeakers=4',
  'stages.prepare.utterancesPerSpeaker=6',
  'stages.prepare.splits={train: 2, dev: 1, test: 1}',
  'stages.features.fbank.numMelBins=10',
  'stages.features.vtlp.warps=[0.9]',
  'stages.align.numLeaves=40',
  'stages.align.monoIters=8',
  'stages.align.triIters=6',
  'stages.train.hiddenLayers=1',
  'stages.train.hiddenUnits=8',
  'stages.train.leftContext=1',
  'stages.train.rightContext=1',
  'stages.train.members=2',
  'stages.train.maxEpochs=1',
  'stages.train.maxWorkers=1',
  'stages.train.smallFraction=null',
  'stages.train.backend=wasm',
  'stages.targets.topK=3',
  'stages.targets.residual=store',
  'stages.targets.sweepTemperatures=[1]',
  'stages.targets.dense=true',
  'stages.targets.backend=wasm',
];

/**
 * The demo recipe shrunk for every stage to the report (test/pipeline/tiny-e2e.test.ts and the
 * sharded run of test/pipeline/shards-tiny.test.ts): 4 speakers, tiny nets, a narrow decode grid,
 * a two-point temperature sweep whose second student is decoded too.
 */
export const TINY_PIPELINE_SETS: readonly string[] = [
  'stages.prepare.numSpeakers=4',
  'stages.prepare.utterancesPerSpeaker=6',
  'stages.prepare.splits={train: 2, dev: 1, test: 1}',
  'stages.align.numLeaves=40',
  'stages.align.monoIters=8',
  'stages.align.triIters=6',
  'stages.train.hiddenLayers=1',
  'stages.train.hiddenUnits=32',
  'stages.train.leftContext=2',
  'stages.train.rightContext=2',
  'stages.train.members=2',
  'stages.train.maxEpochs=2',
  'stages.train.maxWorkers=1',
  'stages.train.smallFraction=null',
  'stages.distill.maxWorkers=1',
  'stages.decode.lmWeights=[8]',
  'stages.decode.wordInsertionPenalties=[0]',
  'stages.decode.beam=10',
  'stages.report.bootstrapReplicates=50',
  'stages.eval.bootstrapReplicates=50',
  'stages.targets.sweepTemperatures=[1]',
  'stages.decode.systems=[baseline, ensemble, student, student-T1, control]',
];

/** Run the tiny experiment into `expDir` (prepare ... targets). */
export async function runTinyExperiment(expDir: string, log: Logger): Promise<void> {
  const recipe = loadRecipe(join(ROOT, 'pipelines/demo.yaml'), {
    registry: defaultRegistry,
    cwd: ROOT,
    expDir,
    sets: [...TINY_EXPERIMENT_SETS],
  });
  await runPipeline(recipe, { registry: defaultRegistry, log, toStage: 'targets' });
}

/** The Arrow files of the tiny experiment, relative to its directory. */
export const TINY_EXPERIMENT_ARROW_FILES: readonly string[] = [
  'features/train.arrow',
  'features/dev.arrow',
  'features/test.arrow',
  'align/train.arrow',
  'align/dev.arrow',
  'align/test.arrow',
  'targets/train.arrow',
  'targets/T1/train.arrow',
  'targets/dense/train.arrow',
];

/**
 * Every output file of an experiment as base64 (stage records and dot entries such as the shards,
 * job logs and locks left out), with the report's stage wall times and shard jobs removed: what two runs of the
 * same recipe must share byte for byte (test/pipeline/shards-tiny.test.ts, slurm.e2e.test.ts).
 */
export function experimentOutputs(expDir: string): Map<string, string> {
  const out = experimentFiles(expDir);
  for (const f of ['report/report.json', 'report/report-input.json']) {
    const j = JSON.parse(readFileSync(join(expDir, f), 'utf8'));
    delete j.stages;
    delete j.stageJobs;
    delete j.totalSec;
    out.set(f, JSON.stringify(j));
  }
  // The same numbers rendered with the wall times.
  for (const f of ['report/report.md', 'report/report.html', 'report/plots/stage-times.svg']) out.delete(f);
  return out;
}

/** Every output file of an experiment as base64, stage records and dot entries left out. */
export function experimentFiles(expDir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const e of readdirSync(join(expDir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.name.startsWith('.') || e.name === 'stage.json') continue;
      if (e.isDirectory()) walk(r);
      else out.set(r, readFileSync(join(expDir, r)).toString('base64'));
    }
  };
  walk('');
  return out;
}
