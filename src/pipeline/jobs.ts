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
 * A stage with passes (align: the GMM training, src/stages/shards.ts StagePasses) runs them before
 * its common job, each as N shards and a merge, pass p after pass p - 1:
 *
 *   <stage>.pass-<ppp>.shard-<i>-of-<N>   shard i of pass p (--pass p --shard i/N)
 *   <stage>.pass-<ppp>.merge-<N>          the merge of pass p (--pass p --merge-shards N)
 *
 * A stage's first jobs need the last job of every stage it reads; its merge needs all its shards.
 * Shard outputs live in `<expDir>/.shards/<stage>/<i>-of-<N>/` (common: `.../common/`; passes:
 * `.../pass-<ppp>/<i>-of-<N>/` and `.../pass-<ppp>/merge/`), each with a `shard.json` record; the
 * merge removes them once the stage is complete.
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
  /** Shards and merges of a stage's pass (0-based). */
  pass?: number;
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

/** A shard's directory name (`2-of-4`), 'common', or 'merge' (a pass's). */
export function shardDirName(shard: ShardSpec | 'common' | 'merge'): string {
  return typeof shard === 'string' ? shard : `${shard.index}-of-${shard.count}`;
}

/** A pass's directory name under the stage's shards (`pass-017`). */
export function passDirName(pass: number): string {
  return `pass-${String(pass).padStart(3, '0')}`;
}

export function jobId(spec: JobSpec): string {
  const pass = spec.pass !== undefined ? `.${passDirName(spec.pass)}` : '';
  switch (spec.kind) {
    case 'stage':
      return spec.stage;
    case 'common':
      return `${spec.stage}.common`;
    case 'shard':
      return `${spec.stage}${pass}.shard-${spec.shard!.index}-of-${spec.shard!.count}`;
    case 'merge':
      return `${spec.stage}${pass}.merge-${spec.count}`;
  }
}

/** `am-distill job` arguments of a job after the recipe's (`align --shard 2/4`, `align --pass 3 --merge-shards 4`). */
export function jobArgs(spec: JobSpec): string[] {
  const pass = spec.pass !== undefined ? ['--pass', String(spec.pass)] : [];
  switch (spec.kind) {
    case 'stage':
      return [spec.stage];
    case 'common':
      return [spec.stage, '--common'];
    case 'shard':
      return [spec.stage, ...pass, '--shard', `${spec.shard!.index}/${spec.shard!.count}`];
    case 'merge':
      return [spec.stage, ...pass, '--merge-shards', String(spec.count)];
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

function makeJob(spec: JobSpec, needs: string[], inputs: string[], outputs: string[]): Job {
  return { ...spec, id: jobId(spec), needs, inputs, outputs };
}

/**
 * The passes of a stage: per pass, N shards (needing the merge of the pass before) and their
 * merge. Returns the jobs and the last merge.
 */
function passJobs(
  stage: string,
  passes: { count: number; reads: (pass: number) => number | null },
  count: number,
  inputs: string[],
  needs: string[],
): { jobs: Job[]; last: Job | null } {
  const rel = (...names: string[]) => join(SHARDS_DIR, stage, ...names);
  const jobs: Job[] = [];
  let last: Job | null = null;
  for (let pass = 0; pass < passes.count; pass++) {
    const shards: Job[] = [];
    const src = passes.reads(pass);
    for (let index = 0; index < count; index++) {
      const shard = { index, count };
      shards.push(
        makeJob(
          { stage, kind: 'shard', shard, pass },
          last ? [last.id] : [...needs],
          [
            ...inputs,
            ...(last ? last.outputs : []),
            ...(src !== null ? [rel(passDirName(src), shardDirName(shard))] : []),
          ],
          [rel(passDirName(pass), shardDirName(shard))],
        ),
      );
    }
    last = makeJob(
      { stage, kind: 'merge', count, pass },
      shards.map((s) => s.id),
      [...inputs, ...shards.map((s) => s.outputs[0])],
      [rel(passDirName(pass), 'merge')],
    );
    jobs.push(...shards, last);
  }
  return { jobs, last };
}

/** The jobs of one stage: whole, or [passes, common,] shards 0..N-1 and their merge. */
function stageJobs(
  stage: string,
  sharding: {
    sharded: boolean;
    hasCommon: boolean;
    passes: { count: number; reads: (pass: number) => number | null } | null;
  },
  count: number,
  inputs: string[],
  needs: string[],
): Job[] {
  const job = makeJob;
  if (!sharding.sharded || count === 1) return [job({ stage, kind: 'stage' }, needs, inputs, [stage])];
  const rel = (name: string) => join(SHARDS_DIR, stage, name);
  const out: Job[] = [];
  const shardNeeds = [...needs];
  const shardInputs = [...inputs];
  const passes = sharding.passes ? passJobs(stage, sharding.passes, count, inputs, needs) : null;
  if (passes) out.push(...passes.jobs);
  if (sharding.hasCommon) {
    const last = passes?.last;
    const common = job(
      { stage, kind: 'common' },
      last ? [last.id] : needs,
      last ? [...inputs, ...last.outputs] : inputs,
      [rel('common')],
    );
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
  for (const { name, options } of recipe.stages) {
    const def = registry.get(name);
    const reads = def.inputs.filter((i) => inRecipe.has(i));
    const passes = def.shards?.passes;
    const js = stageJobs(
      name,
      {
        sharded: !!def.shards,
        hasCommon: !!def.shards?.common,
        passes: passes ? { count: passes.list(options).length, reads: (pass) => passes.reads(options, pass) } : null,
      },
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
