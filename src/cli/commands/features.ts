/**
 * `am-distill features --data <dataDir> --out <dir> [--num-mel-bins N] [--split S] [--shard i/N]
 *  [--vtlp 0.9,1.1 [--vtlp-split train]]`:
 * the features stage as a command. Writes `<out>/<split>.arrow` + `<split>.cmvn.json`, or per
 * shard `<split>.<i>-of-<N>.*`; `--merge-shards N` then joins the shards of a split into the
 * unsharded files (byte-identical to an unsharded run). The stage's options (src/stages/features.ts)
 * are `--split`, `--num-mel-bins`, `--no-mfcc`, `--vtlp`, `--vtlp-split` and `--opt fbank.<key>=v`.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { mergeFeatureShards } from '../../features/compute.ts';
import { computeFeaturesForDataDir, FEATURES_SCHEMA, parseShard } from '../../stages/features.ts';
import { ConfigError } from '../../util/errors.ts';
import {
  addStageFlags,
  collect,
  givenStageOptions,
  integerArg,
  locateFlagError,
  parseListFlag,
  parseNumberFlag,
  type StageFlags,
} from './flags.ts';

export const FEATURES_FLAGS: StageFlags = {
  stage: 'features',
  schema: FEATURES_SCHEMA,
  opt: true,
  keys: {
    fbank: 'set by --num-mel-bins and --opt fbank.<option>=value',
    mfcc: 'set by --no-mfcc and --opt mfcc.<option>=value',
    splits: { flag: '--split', doc: 'one split (default: all)' },
    vtlp: 'set by --vtlp and --vtlp-split',
  },
};

interface FeaturesFlags {
  data?: string;
  out: string;
  numMelBins?: number;
  shard?: string;
  mfcc: boolean;
  mergeShards?: number;
  vtlp?: number[];
  vtlpSplit?: string[];
}

export function register(program: Command): void {
  const cmd = program
    .command('features')
    .description(
      'compute log-mel fbank (+ MFCC) features and CMVN stats of a prepared data dir, one Arrow file per split',
    )
    .option('--data <dataDir>', 'prepared data dir (corpus.json + <split>/*.jsonl)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--num-mel-bins <n>', 'mel bins of the fbank (default: 40)', integerArg('--num-mel-bins', { min: 1 }))
    .option('--shard <i/N>', 'only shard i of N of each split (0-based)')
    .option('--no-mfcc', 'no mfcc column')
    .option(
      '--vtlp <warps>',
      'VTLP copies: comma-separated warp factors, e.g. 0.9,1.1 (one copy of every utterance per factor)',
      (t) => parseVtlp(t),
    )
    .option('--vtlp-split <name>', 'split that gets the VTLP copies (repeatable; default: train)', collect)
    .option(
      '--merge-shards <N>',
      'merge the N shard outputs of each --split in --out instead of computing',
      integerArg('--merge-shards', { min: 1 }),
    );
  addStageFlags(cmd, FEATURES_FLAGS).action(async (f: FeaturesFlags) => {
    const out = resolve(f.out);
    const { raw, origins } = givenStageOptions(cmd, {
      'fbank.numMelBins': { value: f.numMelBins, flag: `--num-mel-bins ${f.numMelBins}` },
      mfcc: { value: f.mfcc ? undefined : false, flag: '--no-mfcc' },
      'vtlp.warps': { value: f.vtlp, flag: `--vtlp ${f.vtlp?.join(',')}` },
      'vtlp.splits': {
        value: f.vtlp ? f.vtlpSplit : undefined,
        flag: (f.vtlpSplit ?? []).map((s) => `--vtlp-split ${s}`).join(' '),
      },
    });
    const splits = raw.splits as string[] | undefined;
    if (f.mergeShards !== undefined) {
      if (!splits) throw new ConfigError('--merge-shards needs --split', { expected: '--split <name> (repeatable)' });
      for (const split of splits) {
        const r = await mergeFeatureShards(out, split, f.mergeShards);
        process.stdout.write(
          `merged ${f.mergeShards} shards of ${split}: ${r.metadata.counts.utterances} utterances, ${r.metadata.counts.frames} frames -> ${r.featuresPath}\n`,
        );
      }
      return;
    }
    if (!f.data) throw new ConfigError('missing --data', { expected: '--data <prepared data dir>' });
    if (f.vtlpSplit && !f.vtlp)
      throw new ConfigError('--vtlp-split needs --vtlp', {
        file: `--vtlp-split ${f.vtlpSplit[0]}`,
        expected: '--vtlp <warps>',
      });
    const results = await locateFlagError(origins, () =>
      computeFeaturesForDataDir({
        dataDir: resolve(f.data!),
        outDir: out,
        splits,
        shard: f.shard !== undefined ? parseShard(f.shard) : undefined,
        fbank: (raw.fbank ?? {}) as Record<string, unknown>,
        mfcc: (raw.mfcc ?? {}) as Record<string, unknown> | false,
        vtlp: raw.vtlp as Record<string, unknown> | undefined,
      }),
    );
    for (const r of results) {
      process.stdout.write(
        `${r.metadata.split}: ${r.utterances} utterances, ${r.frames} frames, ${r.skipped.skipped} skipped -> ${r.featuresPath}\n`,
      );
    }
  });
}

/** `--vtlp 0.9,1.1`: the warp factors (their range is the schema's check). */
function parseVtlp(text: string): number[] {
  try {
    return parseListFlag('--vtlp', text, (flag, x) => parseNumberFlag(flag, x));
  } catch {
    throw new ConfigError('bad --vtlp', {
      file: `--vtlp ${text}`,
      expected: 'comma-separated warp factors, e.g. 0.9,1.1',
      found: text,
    });
  }
}
