/**
 * `am-distill corpus ...`: the prepare stage as commands.
 *   corpus prepare <name> <dir> --out <dataDir> [--opt key=value ...]
 *   corpus synth --out <dataDir> [--num-speakers N] [--utterances-per-speaker N] [--seed S] [--opt key=value ...]
 *   corpus download <name> <subset...> --dest <dir> [--base-url U] [--keep-archive]
 *   corpus list
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { adapters, getAdapter, type CorpusAdapter } from '../../../corpora/index.ts';
import { synthAdapter } from '../../../corpora/synth/index.ts';
import { prepareCorpusDir, downloadCorpus, synthesizeCorpusDir } from '../../stages/prepare.ts';
import { collect, integerArg } from './flags.ts';

function adapterHelp(a: CorpusAdapter): string {
  const lines = [`  ${a.name}${a.download ? ' (downloadable)' : ''}: ${a.description}`];
  for (const [k, doc] of Object.entries(a.optionsDoc)) lines.push(`      ${k}: ${doc}`);
  return lines.join('\n');
}

function adaptersHelp(): string {
  const lines = ['', 'Corpora (options for --opt key=value; values are parsed as YAML):'];
  for (const name of Object.keys(adapters).sort()) lines.push(adapterHelp(adapters[name]));
  return lines.join('\n');
}

export function register(program: Command): void {
  const corpus = program.command('corpus').description('prepare (and download) corpora as manifests');

  corpus
    .command('prepare')
    .description('read a corpus with its adapter and write a validated data dir (corpus.json + <split>/*.jsonl)')
    .argument('<name>', `corpus adapter: ${Object.keys(adapters).sort().join(', ')}`)
    .argument('<dir>', 'the corpus directory as distributed')
    .requiredOption('--out <dataDir>', 'output data directory')
    .option('--opt <key=value>', 'adapter option (value parsed as YAML); repeatable', collect)
    .addHelpText('after', adaptersHelp)
    .action(async (name: string, dir: string, opts: { out: string; opt?: string[] }) => {
      const info = await prepareCorpusDir(name, resolve(dir), resolve(opts.out), opts.opt ?? []);
      const total = Object.values(info.counts).reduce((n, c) => n + c.supervisions, 0);
      process.stdout.write(
        `prepared ${info.corpus}: ${total} utterances in ${info.splits.join(', ')} at ${info.sampleRateHz} Hz -> ${resolve(opts.out)}\n`,
      );
    });

  corpus
    .command('synth')
    .description('synthesise the embedded corpus (espeak-ng read speech, offline) into a data dir')
    .requiredOption('--out <dataDir>', 'output data directory (replaced atomically)')
    .option('--num-speakers <n>', 'synthetic speakers (default: 16)', integerArg('--num-speakers'))
    .option(
      '--utterances-per-speaker <n>',
      'sentences per speaker (default: 25)',
      integerArg('--utterances-per-speaker'),
    )
    .option('--seed <n>', 'seed of every random choice (default: 0)', integerArg('--seed'))
    .option('--sample-rate-hz <hz>', 'output sample rate (default: 16000)', integerArg('--sample-rate-hz'))
    .option('--opt <key=value>', 'any other synth option (value parsed as YAML); repeatable', collect)
    .addHelpText('after', () => adapterHelp(synthAdapter))
    .action(
      async (opts: {
        out: string;
        numSpeakers?: number;
        utterancesPerSpeaker?: number;
        seed?: number;
        sampleRateHz?: number;
        opt?: string[];
      }) => {
        const { out, opt, ...given } = opts;
        // The synth adapter checks the ranges (its options' schema), as for --opt.
        const base = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
        const info = await synthesizeCorpusDir(resolve(out), opt ?? [], base);
        const total = Object.values(info.counts).reduce((n, c) => n + c.supervisions, 0);
        process.stdout.write(
          `synthesised ${total} utterances in ${info.splits.join(', ')} at ${info.sampleRateHz} Hz -> ${resolve(out)}\n`,
        );
      },
    );

  corpus
    .command('download')
    .description('download public corpus subsets (checksums verified, archives extracted safely)')
    .argument(
      '<name>',
      `corpus: ${Object.keys(adapters)
        .filter((n) => adapters[n].download)
        .sort()
        .join(', ')}`,
    )
    .argument('<subsets...>', 'subsets, e.g. train-clean-100 dev-clean')
    .requiredOption('--dest <dir>', 'destination directory')
    .option('--base-url <url>', 'mirror base URL')
    .option('--keep-archive', 'keep the downloaded archives')
    .action(
      async (name: string, subsets: string[], opts: { dest: string; baseUrl?: string; keepArchive?: boolean }) => {
        getAdapter(name);
        const dir = await downloadCorpus(name, resolve(opts.dest), {
          subsets,
          baseUrl: opts.baseUrl,
          keepArchive: opts.keepArchive,
        });
        process.stdout.write(`downloaded ${name} ${subsets.join(', ')} -> ${dir}\n`);
      },
    );

  corpus
    .command('list')
    .description('list the corpus adapters and their options')
    .action(() => {
      process.stdout.write(adaptersHelp().trimStart() + '\n');
    });
}
