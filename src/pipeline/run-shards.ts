/**
 * `am-distill run <recipe> --shards N`: the recipe's job graph (./jobs.ts) run on this machine by
 * the executor (./executor.ts) with worker processes (./job-pool.ts). Opens the experiment as
 * `am-distill run` does (its lock, held for the whole run; recipe.json).
 */
import { isAbsolute, resolve } from 'node:path';
import { log as defaultLog, type Logger } from '../util/log.ts';
import type { StageRegistry } from '../stages/stage.ts';
import { executeJobGraph, type ExecutionReport, type JobPool } from './executor.ts';
import { ProcessJobPool } from './job-pool.ts';
import { buildJobGraph, type RecipeArgs } from './jobs.ts';
import { loadRecipe } from './recipe.ts';
import { openExperiment } from './runner.ts';

export interface RunShardsOptions {
  registry: StageRegistry;
  shards: number;
  /** Worker processes. Default: `shards`. */
  workers?: number;
  /** Base of relative paths (default: process.cwd()). */
  cwd?: string;
  log?: Logger;
  /** Where the jobs' log lines go (default: stderr, prefixed with the job id). */
  write?: (text: string) => void;
  /** Instead of worker processes (tests). */
  pool?: JobPool;
}

/** Load the recipe, build its job graph and run it here; the report says what each job did. */
export async function runRecipeInShards(args: RecipeArgs, opts: RunShardsOptions): Promise<ExecutionReport> {
  const log = opts.log ?? defaultLog;
  const cwd = opts.cwd ?? process.cwd();
  const file = isAbsolute(args.file) ? args.file : resolve(cwd, args.file);
  const recipe = loadRecipe(file, {
    registry: opts.registry,
    cwd,
    sets: args.sets,
    expDir: args.expDir,
    corpusDir: args.corpusDir,
    evalCorpusDir: args.evalCorpusDir,
  });
  const graph = buildJobGraph(recipe, opts.registry, { shards: opts.shards, recipeArgs: { ...args, file } });
  const release = await openExperiment(recipe, log);
  const pool =
    opts.pool ?? new ProcessJobPool({ ...graph.recipeArgs, cwd }, { expDir: recipe.expDir, write: opts.write });
  try {
    log.info(
      `${graph.jobs.length} jobs, ${opts.shards} shard(s) per sharded stage, ${opts.workers ?? opts.shards} worker(s)`,
    );
    return await executeJobGraph(graph, { workers: opts.workers ?? opts.shards, pool, log });
  } finally {
    await pool.close();
    release();
  }
}
