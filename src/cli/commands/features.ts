/**
 * `am-distill features --data <dataDir> --out <dir> [--num-mel-bins N] [--split S] [--shard i/N]
 *  [--vtlp 0.9,1.1 [--vtlp-split train]]`:
 * the features stage as a command. Writes `<out>/<split>.arrow` + `<split>.cmvn.json`, or per
 * shard `<split>.<i>-of-<N>.*`; `--merge-shards N` then joins the shards of a split into the
 * unsharded files (byte-identical to an unsharded run).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { mergeFeatureShards } from '../../features/compute.ts';
import { computeFeaturesForDataDir, parseShard } from '../../stages/features.ts';
import { parseSetArgument } from '../../stages/schema.ts';
import { ConfigError } from '../../util/errors.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function register(program: Command): void {
  program
    .command('features')
    .description('compute log-mel fbank (+ MFCC) features and CMVN stats of a prepared data dir, one Arrow file per split')
    .option('--data <dataDir>', 'prepared data dir (corpus.json + <split>/*.jsonl)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--num-mel-bins <n>', 'mel bins of the fbank (default 40)')
    .option('--split <name>', 'one split (repeatable; default: all)', collect, [] as string[])
    .option('--shard <i/N>', 'only shard i of N of each split (0-based)')
    .option('--no-mfcc', 'no mfcc column')
    .option('--opt <key=value>', 'any fbank.* / mfcc.* option, e.g. fbank.dither=1 (value parsed as YAML); repeatable', collect, [] as string[])
    .option('--vtlp <warps>', 'VTLP copies: comma-separated warp factors, e.g. 0.9,1.1 (one copy of every utterance per factor)')
    .option('--vtlp-split <name>', 'split that gets the VTLP copies (repeatable; default train)', collect, [] as string[])
    .option('--merge-shards <N>', 'merge the N shard outputs of each --split in --out instead of computing')
    .action(async (opts: { data?: string; out: string; numMelBins?: string; split: string[]; shard?: string; mfcc: boolean; opt: string[]; mergeShards?: string; vtlp?: string; vtlpSplit: string[] }) => {
      const out = resolve(opts.out);
      if (opts.mergeShards !== undefined) {
        const count = Number(opts.mergeShards);
        if (!Number.isInteger(count) || count < 1) throw new ConfigError('bad shard count', { file: `--merge-shards ${opts.mergeShards}`, expected: 'a positive integer', found: opts.mergeShards });
        if (opts.split.length === 0) throw new ConfigError('--merge-shards needs --split', { expected: '--split <name> (repeatable)' });
        for (const split of opts.split) {
          const r = await mergeFeatureShards(out, split, count);
          process.stdout.write(`merged ${count} shards of ${split}: ${r.metadata.counts.utterances} utterances, ${r.metadata.counts.frames} frames -> ${r.featuresPath}\n`);
        }
        return;
      }
      if (!opts.data) throw new ConfigError('missing --data', { expected: '--data <prepared data dir>' });
      const fbank: Record<string, unknown> = {};
      const mfcc: Record<string, unknown> = {};
      if (opts.numMelBins !== undefined) {
        const n = Number(opts.numMelBins);
        if (!Number.isInteger(n) || n < 1) throw new ConfigError('bad --num-mel-bins', { file: `--num-mel-bins ${opts.numMelBins}`, expected: 'a positive integer', found: opts.numMelBins });
        fbank.numMelBins = n;
      }
      for (const a of opts.opt) {
        const { keyPath, value } = parseSetArgument(a);
        const [group, key, ...rest] = keyPath.split('.');
        if ((group !== 'fbank' && group !== 'mfcc') || !key || rest.length) {
          throw new ConfigError('bad --opt key', { file: `--opt ${a}`, expected: 'fbank.<option> or mfcc.<option>', found: keyPath });
        }
        (group === 'fbank' ? fbank : mfcc)[key] = value;
      }
      let vtlp: Record<string, unknown> | undefined;
      if (opts.vtlp !== undefined) {
        const warps = opts.vtlp.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
        if (warps.some((w) => !Number.isFinite(w))) throw new ConfigError('bad --vtlp', { file: `--vtlp ${opts.vtlp}`, expected: 'comma-separated warp factors, e.g. 0.9,1.1', found: opts.vtlp });
        vtlp = { warps, ...(opts.vtlpSplit.length ? { splits: opts.vtlpSplit } : {}) };
      } else if (opts.vtlpSplit.length) {
        throw new ConfigError('--vtlp-split needs --vtlp', { file: `--vtlp-split ${opts.vtlpSplit[0]}`, expected: '--vtlp <warps>' });
      }
      const results = await computeFeaturesForDataDir({
        dataDir: resolve(opts.data), outDir: out,
        splits: opts.split.length ? opts.split : undefined,
        shard: opts.shard !== undefined ? parseShard(opts.shard) : undefined,
        fbank, mfcc: opts.mfcc ? mfcc : false, vtlp,
      });
      for (const r of results) {
        process.stdout.write(`${r.metadata.split}: ${r.utterances} utterances, ${r.frames} frames, ${r.skipped.skipped} skipped -> ${r.featuresPath}\n`);
      }
    });
}
