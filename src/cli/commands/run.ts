/**
 * `am-distill run <recipe.yaml>`: run a recipe's stages in order, skipping the ones whose
 * config and inputs are unchanged since their recorded run.
 */
import type { Command } from 'commander';
import { runStudyFile, formatStudyReport, defaultRegistry, describeSchema, TOP_LEVEL } from '../../pipeline/index.ts';
import { collect } from './flags.ts';
import { countFlag, runInShards } from './job.ts';

function stagesHelp(): string {
  const lines = ['', 'Top-level keys (crossValidation, seeds and selection make the recipe a study: every fold, seed and candidate runs, then a pooled Table 1):'];
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
      lines.push('      options depend on the recipe (prepare: the corpus adapter\'s options, see `am-distill corpus list`)');
    }
  }
  lines.push('', 'Example: am-distill run pipelines/demo.yaml --set stages.features.fbank.numMelBins=23 --to-stage features');
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('run')
    .description('run a recipe (pipelines/*.yaml); up-to-date stages are skipped. A recipe with crossValidation, seeds or selection runs every fold, seed and candidate, and pools them')
    .argument('<recipe>', 'recipe YAML file')
    .option('--exp-dir <dir>', 'experiment directory (default: the recipe\'s expDir, or exp/<name>)')
    .option('--from-stage <stage>', 'rerun this stage and all later ones, even if up to date')
    .option('--to-stage <stage>', 'stop after this stage')
    .option('--set <key=value>', 'override a recipe value by dotted path (value parsed as YAML); repeatable', collect)
    .option('--corpus-dir <dir>', 'override corpus.dir')
    .option('--eval-corpus-dir <dir>', 'test split from this corpus directory (other speakers, same layout; corpora with evalDir: fsdd); sets stages.prepare.evalDir')
    .option('--shards <N>', 'run the recipe as a job graph: every sharded stage in N shards and their merge, on --workers worker processes (docs/cluster.md)', countFlag('--shards'))
    .option('--workers <W>', 'worker processes of --shards (default N)', countFlag('--workers'))
    .addHelpText('after', stagesHelp)
    .action(async (file: string, opts: { expDir?: string; fromStage?: string; toStage?: string; set?: string[]; corpusDir?: string; evalCorpusDir?: string; shards?: number; workers?: number }) => {
      if (opts.shards !== undefined) return runInShards(file, opts);
      const report = await runStudyFile(file, {
        expDir: opts.expDir, fromStage: opts.fromStage, toStage: opts.toStage, sets: opts.set ?? [], corpusDir: opts.corpusDir, evalCorpusDir: opts.evalCorpusDir,
      });
      process.stdout.write(formatStudyReport(report) + '\n');
    });
}
