/**
 * `am-distill pool EXP_DIR... --out DIR [--split test] [--labels a,b,...] [--replicates N] [--seed N] [--confidence X]`
 * One Table 1 over several experiments: cross-validation folds over test speakers (experiments
 * with the same test speakers are seed replicates of one fold, paired by recipe.json's netSeed or
 * seed). Pooled frame accuracy and WER, the differences between the systems averaged over paired
 * seeds with speaker-bootstrap intervals, then the gain kept; per system the mean and spread over
 * seeds. Writes DIR/pool.json and DIR/pool.md and prints pool.md.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { formatPoolMarkdown, writePool } from '../../report/pool.ts';
import { integerArg, numberArg } from './flags.ts';

export function register(program: Command): void {
  program
    .command('pool')
    .description(
      'pool experiments (folds over test speakers x seed replicates) into one Table 1: differences with speaker-bootstrap intervals, then the gain kept',
    )
    .argument(
      '<expDirs...>',
      'experiment directories, each with eval/<split>.utts.jsonl (and score/score.json for WER)',
    )
    .requiredOption('--out <dir>', 'output directory (pool.json, pool.md)')
    .option('--split <name>', 'split to pool (default: test)')
    .option('--labels <list>', 'comma-separated label per experiment (default: the directory names)')
    .option('--replicates <n>', 'bootstrap replicates (default: 1000)', integerArg('--replicates', { min: 1 }))
    .option('--seed <n>', 'seed of the bootstrap (default: 0)', integerArg('--seed', { min: 0 }))
    .option(
      '--confidence <x>',
      'confidence level of the intervals (default: 0.95)',
      numberArg('--confidence', { min: 0.5, below: 1 }),
    )
    .action(
      async (
        expDirs: string[],
        f: { out: string; split?: string; labels?: string; replicates?: number; seed?: number; confidence?: number },
      ) => {
        const p = await writePool(
          expDirs.map((d) => resolve(d)),
          resolve(f.out),
          {
            ...(f.split ? { split: f.split } : {}),
            ...(f.labels ? { labels: f.labels.split(',').map((x) => x.trim()) } : {}),
            ...(f.replicates !== undefined ? { replicates: f.replicates } : {}),
            ...(f.seed !== undefined ? { seed: f.seed } : {}),
            ...(f.confidence !== undefined ? { confidence: f.confidence } : {}),
          },
        );
        process.stdout.write(formatPoolMarkdown(p));
      },
    );
}
