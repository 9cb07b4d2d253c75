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
import { ConfigError } from '../../util/errors.ts';
import { numFlag } from './train.ts';

function confidenceFlag(v: string): number {
  const n = Number(v);
  if (!(n >= 0.5 && n < 1)) throw new ConfigError('bad --confidence', { file: `--confidence ${v}`, expected: 'a number in [0.5, 1)', found: v });
  return n;
}

export function register(program: Command): void {
  program
    .command('pool')
    .description('pool experiments (folds over test speakers x seed replicates) into one Table 1: differences with speaker-bootstrap intervals, then the gain kept')
    .argument('<expDirs...>', 'experiment directories, each with eval/<split>.utts.jsonl (and score/score.json for WER)')
    .requiredOption('--out <dir>', 'output directory (pool.json, pool.md)')
    .option('--split <name>', 'split to pool (default test)')
    .option('--labels <list>', 'comma-separated label per experiment (default: the directory names)')
    .option('--replicates <n>', 'bootstrap replicates (default 1000)')
    .option('--seed <n>', 'seed of the bootstrap (default 0)')
    .option('--confidence <x>', 'confidence level of the intervals (default 0.95)')
    .action(async (expDirs: string[], f: { out: string; split?: string; labels?: string; replicates?: string; seed?: string; confidence?: string }) => {
      const p = await writePool(expDirs.map((d) => resolve(d)), resolve(f.out), {
        ...(f.split ? { split: f.split } : {}),
        ...(f.labels ? { labels: f.labels.split(',').map((x) => x.trim()) } : {}),
        ...(f.replicates !== undefined ? { replicates: numFlag('--replicates', f.replicates, { min: 1, integer: true })! } : {}),
        ...(f.seed !== undefined ? { seed: numFlag('--seed', f.seed, { min: 0, integer: true })! } : {}),
        ...(f.confidence !== undefined ? { confidence: confidenceFlag(f.confidence) } : {}),
      });
      process.stdout.write(formatPoolMarkdown(p));
    });
}
