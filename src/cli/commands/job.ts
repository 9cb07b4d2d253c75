/**
 * `am-distill job <recipe> <stage> [--shard i/N | --merge-shards N | --common]`: one job of the
 * recipe's job graph (docs/cluster.md): a whole stage, one shard of a sharded stage, the work its
 * shards share, or the merge of its N shards. What a Slurm array task or a Kubernetes Indexed Job
 * pod runs, and what `am-distill run --shards N` runs in its worker processes.
 */
import type { Command } from 'commander';
import { ConfigError } from '../../util/errors.ts';
import { log } from '../../util/log.ts';
import { defaultRegistry } from '../../stages/index.ts';
import { parseShard } from '../../stages/features.ts';
import { loadRecipe } from '../../pipeline/recipe.ts';
import { runJob } from '../../pipeline/jobs-run.ts';
import type { JobSpec } from '../../pipeline/jobs.ts';
import { addRecipeFlags, integerArg } from './flags.ts';

interface JobFlags {
  shard?: string;
  mergeShards?: number;
  common?: boolean;
  expDir?: string;
  set?: string[];
  corpusDir?: string;
  evalCorpusDir?: string;
}

function jobSpec(stage: string, f: JobFlags): JobSpec {
  const given = [
    f.shard !== undefined && '--shard',
    f.mergeShards !== undefined && '--merge-shards',
    f.common && '--common',
  ].filter(Boolean);
  if (given.length > 1)
    throw new ConfigError('more than one kind of job', {
      file: given.join(' '),
      expected: 'one of --shard, --merge-shards, --common (or none: the whole stage)',
    });
  if (f.shard !== undefined) return { stage, kind: 'shard', shard: parseShard(f.shard) };
  if (f.mergeShards !== undefined) return { stage, kind: 'merge', count: f.mergeShards };
  if (f.common) return { stage, kind: 'common' };
  return { stage, kind: 'stage' };
}

export function register(program: Command): void {
  addRecipeFlags(
    program
      .command('job')
      .description(
        'run one job of a recipe: a whole stage, one shard of a sharded stage (--shard i/N), the work its shards share (--common) or their merge (--merge-shards N); skipped when its outputs are current',
      )
      .argument('<recipe>', 'recipe YAML file')
      .argument('<stage>', 'stage name')
      .option('--shard <i/N>', 'shard i of N (0-based, as Slurm array and Kubernetes Indexed Job indices)')
      .option(
        '--merge-shards <N>',
        'merge the N shards into <expDir>/<stage>/',
        integerArg('--merge-shards', { min: 1 }),
      )
      .option('--common', 'the work every shard of the stage needs first (align: the GMM-HMM)'),
  ).action(async (file: string, stage: string, f: JobFlags) => {
    const spec = jobSpec(stage, f);
    const recipe = loadRecipe(file, {
      registry: defaultRegistry,
      sets: f.set ?? [],
      expDir: f.expDir,
      corpusDir: f.corpusDir,
      evalCorpusDir: f.evalCorpusDir,
    });
    const o = await runJob(recipe, defaultRegistry, spec, log);
    process.stdout.write(
      `${o.id}: ${o.status === 'ran' ? `ran in ${o.durationSec.toFixed(1)} s (${o.reason})` : `up to date (${o.reason})`}\n`,
    );
  });
}
