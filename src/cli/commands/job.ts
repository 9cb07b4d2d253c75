/**
 * `am-distill job <recipe> <stage> [--pass p] [--shard i/N | --merge-shards N | --common]`: one job
 * of the recipe's job graph (docs/cluster.md): a whole stage, one shard of a sharded stage, the
 * work its shards share, the merge of its N shards, or a shard or the merge of one of its passes
 * (align: the GMM training's E-step per block and M-step). What a Slurm array task or a Kubernetes
 * Indexed Job pod runs, and what `am-distill run --shards N` runs in its worker processes.
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
  pass?: number;
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
  const pass = f.pass !== undefined ? { pass: f.pass } : {};
  if (f.pass !== undefined && f.shard === undefined && f.mergeShards === undefined)
    throw new ConfigError('--pass without --shard or --merge-shards', {
      file: `--pass ${f.pass}`,
      expected: "--pass p with --shard i/N (the pass's shard) or --merge-shards N (its merge)",
    });
  if (f.shard !== undefined) return { stage, kind: 'shard', shard: parseShard(f.shard), ...pass };
  if (f.mergeShards !== undefined) return { stage, kind: 'merge', count: f.mergeShards, ...pass };
  if (f.common) return { stage, kind: 'common' };
  return { stage, kind: 'stage' };
}

export function register(program: Command): void {
  addRecipeFlags(
    program
      .command('job')
      .description(
        "run one job of a recipe: a whole stage, one shard of a sharded stage (--shard i/N), the work its shards share (--common), their merge (--merge-shards N), or a shard or the merge of one of the stage's passes (--pass p: align's GMM training passes); skipped when its outputs are current",
      )
      .argument('<recipe>', 'recipe YAML file')
      .argument('<stage>', 'stage name')
      .option('--shard <i/N>', 'shard i of N (0-based, as Slurm array and Kubernetes Indexed Job indices)')
      .option(
        '--merge-shards <N>',
        'merge the N shards into <expDir>/<stage>/',
        integerArg('--merge-shards', { min: 1 }),
      )
      .option(
        '--pass <p>',
        "with --shard or --merge-shards: pass p (0-based) of the stage's passes before its common job (align: the E-step of one GMM training pass per shard, and the merge that sums the statistics and updates the model)",
        integerArg('--pass', { min: 0 }),
      )
      .option('--common', 'the work every shard of the stage needs first (align: the trained GMM-HMM)'),
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
