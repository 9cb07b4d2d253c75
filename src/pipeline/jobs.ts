/**
 * A recipe as a job graph (issue 33, docs/cluster.md): plain data that the local executor
 * (./executor.ts, `am-distill run --shards N`) runs and the cluster writers (./cluster.ts,
 * `am-distill jobs`) turn into Slurm array jobs or Kubernetes Indexed Jobs. Every job is one
 * `am-distill job` command:
 *
 *   <stage>                       a stage that does not shard, whole (`am-distill job <recipe> <stage>`)
 *   <stage>.common                the work every shard needs first (align: the GMM-HMM; --common)
 *   <stage>.shard-<i>-of-<N>      shard i of N (--shard i/N; 0-based)
 *   <stage>.merge-<N>             the merge into <expDir>/<stage>/ (--merge-shards N)
 *
 * A stage's first jobs need the last job of every stage it reads; its merge needs all its shards.
 * Shard outputs live in `<expDir>/.shards/<stage>/<i>-of-<N>/` (common: `.../common/`), each with
 * a `shard.json` record; the merge removes them once the stage is complete.
 */
import { join } from 'node:path';
import { ConfigError } from '../util/errors.ts';
import type { ShardSpec } from '../stages/shards.ts';
import type { StageRegistry } from '../stages/stage.ts';
import type { Recipe } from './recipe.ts';

export type JobKind = 'stage' | 'common' | 'shard' | 'merge';

/** What one job does: the arguments of `am-distill job` after the recipe's. */
export interface JobSpec {
  stage: string;
  kind: JobKind;
  /** Shard jobs: which shard. */
  shard?: ShardSpec;
  /** Merge jobs: how many shards. */
  count?: number;
}

export interface Job extends JobSpec {
  id: string;
  /** Ids of the jobs that must have succeeded first. */
  needs: string[];
  /** Directories read and written, relative to the experiment directory. */
  inputs: string[];
  outputs: string[];
}

/** How a job reloads the recipe: the file and its overrides (the flags of `am-distill run`). */
export interface RecipeArgs {
  file: string;
  sets?: readonly string[];
  expDir?: string;
  corpusDir?: string;
  evalCorpusDir?: string;
}

export interface JobGraph {
  recipe: string;
  /** Absolute experiment directory (a shared file system on a cluster). */
  expDir: string;
  shards: number;
  recipeArgs: RecipeArgs;
  /** In an order that runs: every job after the jobs it needs. */
  jobs: Job[];
}

/** Where shard outputs of a stage live, relative to the experiment directory. */
export const SHARDS_DIR = '.shards';
export { SHARD_RECORD } from '../stages/shards.ts';

export function shardsRoot(expDir: string, stage: string): string {
  return join(expDir, SHARDS_DIR, stage);
}

/** A shard's directory name (`2-of-4`), or 'common'. */
export function shardDirName(shard: ShardSpec | 'common'): string {
  return shard === 'common' ? 'common' : `${shard.index}-of-${shard.count}`;
}

export function jobId(spec: JobSpec): string {
  switch (spec.kind) {
    case 'stage':
      return spec.stage;
    case 'common':
      return `${spec.stage}.common`;
    case 'shard':
      return `${spec.stage}.shard-${spec.shard!.index}-of-${spec.shard!.count}`;
    case 'merge':
      return `${spec.stage}.merge-${spec.count}`;
  }
}

/** `am-distill job` arguments of a job after the recipe's (`align --shard 2/4`). */
export function jobArgs(spec: JobSpec): string[] {
  switch (spec.kind) {
    case 'stage':
      return [spec.stage];
    case 'common':
      return [spec.stage, '--common'];
    case 'shard':
      return [spec.stage, '--shard', `${spec.shard!.index}/${spec.shard!.count}`];
    case 'merge':
      return [spec.stage, '--merge-shards', String(spec.count)];
  }
}

/** The recipe's arguments of `am-distill job` / `run`: file, then the overrides. */
export function recipeArgv(r: RecipeArgs): string[] {
  return [
    r.file,
    ...(r.sets ?? []).flatMap((s) => ['--set', s]),
    ...(r.expDir !== undefined ? ['--exp-dir', r.expDir] : []),
    ...(r.corpusDir !== undefined ? ['--corpus-dir', r.corpusDir] : []),
    ...(r.evalCorpusDir !== undefined ? ['--eval-corpus-dir', r.evalCorpusDir] : []),
  ];
}

/** The jobs of one stage: whole, or [common,] shards 0..N-1 and their merge. */
function stageJobs(
  stage: string,
  sharded: boolean,
  hasCommon: boolean,
  count: number,
  inputs: string[],
  needs: string[],
): Job[] {
  const job = (spec: JobSpec, jobNeeds: string[], ins: string[], outs: string[]): Job => ({
    ...spec,
    id: jobId(spec),
    needs: jobNeeds,
    inputs: ins,
    outputs: outs,
  });
  if (!sharded || count === 1) return [job({ stage, kind: 'stage' }, needs, inputs, [stage])];
  const rel = (name: string) => join(SHARDS_DIR, stage, name);
  const out: Job[] = [];
  const shardNeeds = [...needs];
  const shardInputs = [...inputs];
  if (hasCommon) {
    const common = job({ stage, kind: 'common' }, needs, inputs, [rel('common')]);
    out.push(common);
    shardNeeds.push(common.id);
    shardInputs.push(rel('common'));
  }
  const shards: Job[] = [];
  for (let index = 0; index < count; index++) {
    const shard = { index, count };
    shards.push(job({ stage, kind: 'shard', shard }, shardNeeds, shardInputs, [rel(shardDirName(shard))]));
  }
  out.push(...shards);
  out.push(
    job(
      { stage, kind: 'merge', count },
      shards.map((s) => s.id),
      [...shardInputs, ...shards.map((s) => s.outputs[0])],
      [stage],
    ),
  );
  return out;
}

/**
 * The job graph of a recipe with `shards` shards per sharded stage (1: one job per stage). A
 * study recipe (crossValidation, seeds, selection) is many experiments: refused.
 */
export function buildJobGraph(
  recipe: Recipe,
  registry: StageRegistry,
  opts: { shards: number; recipeArgs: RecipeArgs },
): JobGraph {
  if (!Number.isInteger(opts.shards) || opts.shards < 1) {
    throw new ConfigError('bad shard count', {
      file: `--shards ${opts.shards}`,
      expected: 'an integer >= 1',
      found: String(opts.shards),
    });
  }
  if (recipe.study) {
    throw new ConfigError('a study recipe cannot run as one job graph', {
      file: recipe.file,
      expected: "a recipe without crossValidation, seeds or selection (run each fold's recipe instead)",
      found: 'a study',
    });
  }
  const inRecipe = new Set(recipe.stages.map((s) => s.name));
  const last = new Map<string, string>();
  const jobs: Job[] = [];
  for (const { name } of recipe.stages) {
    const def = registry.get(name);
    const reads = def.inputs.filter((i) => inRecipe.has(i));
    const js = stageJobs(
      name,
      !!def.shards,
      !!def.shards?.common,
      opts.shards,
      reads,
      reads.map((i) => last.get(i)!),
    );
    jobs.push(...js);
    last.set(name, js[js.length - 1].id);
  }
  return {
    recipe: recipe.name,
    expDir: recipe.expDir,
    shards: opts.shards,
    recipeArgs: { ...opts.recipeArgs, expDir: recipe.expDir },
    jobs,
  };
}
