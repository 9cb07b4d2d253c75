/**
 * `am-distill run <recipe.yaml>`: run a recipe's stages in order, skipping the ones whose
 * config and inputs are unchanged since their recorded run.
 */
import type { Command } from 'commander';
import { runStudyFile, formatStudyReport, defaultRegistry, describeSchema, TOP_LEVEL } from '../../pipeline/index.ts';
import { collect, integerArg } from './flags.ts';
import { ConfigError } from '../../util/errors.ts';
import { runRecipeInShards } from '../../pipeline/run-shards.ts';
import { executionError, formatExecutionReport } from '../../pipeline/executor.ts';

function stagesHelp(): string {
  const lines = [
    '',
    'Top-level keys (crossValidation, seeds and selection make the recipe a study: every fold, seed and candidate runs, then a pooled Table 1):',
  ];
  lines.push(describeSchema(TOP_LEVEL, '  '));
  lines.push('', 'Stages (in pipeline order; a recipe lists the ones it runs under `stages:`):');
  for (const name of defaultRegistry.names()) {
    const def = defaultRegistry.get(name);
    lines.push(`  ${name.padEnd(10)} ${def.doc}${def.inputs.length ? ` (reads ${def.inputs.join(', ')})` : ''}`);
    for (const [key, spec] of Object.entries(def.sections ?? {})) {
      lines.push(`      (top-level section '${key}') ${spec.doc}`);
      if (spec.type === 'object') lines.push(describeSchema(spec.fields, '        '));
    }
    if (typeof def.schema !== 'function') {
      const doc = describeSchema(def.schema, '      ');
      if (doc) lines.push(doc);
    } else {
      lines.push(
        "      options depend on the recipe (prepare: the corpus adapter's options, see `am-distill corpus list`)",
      );
    }
  }
  lines.push(
    '',
    'Example: am-distill run pipelines/demo.yaml --set stages.features.fbank.numMelBins=23 --to-stage features',
  );
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('run')
    .description(
      'run a recipe (pipelines/*.yaml); up-to-date stages are skipped. A recipe with crossValidation, seeds or selection runs every fold, seed and candidate, and pools them',
    )
    .argument('<recipe>', 'recipe YAML file')
    .option('--exp-dir <dir>', "experiment directory (default: the recipe's expDir, or exp/<name>)")
    .option('--from-stage <stage>', 'rerun this stage and all later ones, even if up to date')
    .option('--to-stage <stage>', 'stop after this stage')
    .option('--set <key=value>', 'override a recipe value by dotted path (value parsed as YAML); repeatable', collect)
    .option('--corpus-dir <dir>', 'override corpus.dir')
    .option(
      '--eval-corpus-dir <dir>',
      'test split from this corpus directory (other speakers, same layout; corpora with evalDir: fsdd); sets stages.prepare.evalDir',
    )
    .option(
      '--shards <N>',
      'run the recipe as a job graph: every sharded stage in N shards and their merge, on --workers worker processes (docs/cluster.md)',
      integerArg('--shards', { min: 1 }),
    )
    .option('--workers <W>', 'worker processes of --shards (default N)', integerArg('--workers', { min: 1 }))
    .addHelpText('after', stagesHelp)
    .action(
      async (
        file: string,
        opts: {
          expDir?: string;
          fromStage?: string;
          toStage?: string;
          set?: string[];
          corpusDir?: string;
          evalCorpusDir?: string;
          shards?: number;
          workers?: number;
        },
      ) => {
        if (opts.shards !== undefined) return runInShards(file, opts);
        const report = await runStudyFile(file, {
          expDir: opts.expDir,
          fromStage: opts.fromStage,
          toStage: opts.toStage,
          sets: opts.set ?? [],
          corpusDir: opts.corpusDir,
          evalCorpusDir: opts.evalCorpusDir,
        });
        process.stdout.write(formatStudyReport(report) + '\n');
      },
    );
}

/** `am-distill run <recipe> --shards N [--workers W]`: the job graph on this machine; fails as its first failed job did. */
async function runInShards(
  file: string,
  f: {
    shards?: number;
    workers?: number;
    fromStage?: string;
    toStage?: string;
    expDir?: string;
    set?: string[];
    corpusDir?: string;
    evalCorpusDir?: string;
  },
): Promise<void> {
  if (f.fromStage !== undefined || f.toStage !== undefined) {
    throw new ConfigError('--from-stage and --to-stage do not combine with --shards', {
      file: f.fromStage !== undefined ? '--from-stage' : '--to-stage',
      expected: 'the whole recipe (up-to-date jobs are skipped), or run without --shards',
    });
  }
  const report = await runRecipeInShards(
    { file, sets: f.set ?? [], expDir: f.expDir, corpusDir: f.corpusDir, evalCorpusDir: f.evalCorpusDir },
    { registry: defaultRegistry, shards: f.shards!, workers: f.workers },
  );
  process.stdout.write(formatExecutionReport(report) + '\n');
  const err = executionError(report);
  if (err) throw err;
}
