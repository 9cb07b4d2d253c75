/**
 * `am-distill jobs <recipe> --scheduler slurm|k8s --shards N --out DIR`: the recipe's job graph as
 * what a cluster needs (docs/cluster.md): Slurm sbatch scripts (shards as array jobs) chained with
 * --dependency=afterok by submit.sh, or Kubernetes Jobs (shards as Indexed Jobs) applied in order by
 * apply.sh; jobs.json holds the graph itself. Writes files only; submits nothing.
 */
import { isAbsolute, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultRegistry } from '../../stages/index.ts';
import { loadRecipe } from '../../pipeline/recipe.ts';
import { buildJobGraph } from '../../pipeline/jobs.ts';
import { kubernetesFiles, slurmFiles, writeClusterFiles, type ClusterOptions } from '../../pipeline/cluster.ts';
import { packageRoot } from '../../util/package-root.ts';
import { addRecipeFlags, integerArg, parseChoiceFlag } from './flags.ts';

type JobsFlags = Pick<ClusterOptions, 'partition' | 'account' | 'image' | 'namespace' | 'pvc' | 'mountPath'> & {
  scheduler: 'slurm' | 'k8s';
  shards: number;
  out: string;
  command?: string;
  expDir?: string;
  set?: string[];
  corpusDir?: string;
  evalCorpusDir?: string;
};

export function register(program: Command): void {
  addRecipeFlags(
    program
      .command('jobs')
      .description(
        'write the recipe as cluster jobs: Slurm sbatch scripts (shards as array jobs, --dependency=afterok chains, submit.sh) or Kubernetes Indexed Jobs (apply.sh); submits nothing',
      )
      .argument('<recipe>', 'recipe YAML file')
      .requiredOption('--scheduler <name>', 'slurm or k8s', (t: string) =>
        parseChoiceFlag('--scheduler', t, ['slurm', 'k8s'] as const),
      )
      .requiredOption('--shards <N>', 'shards per sharded stage', integerArg('--shards', { min: 1 }))
      .requiredOption('--out <dir>', 'directory for the scripts or manifests')
      .option('--command <cmd>', 'am-distill on the nodes (default slurm: this node and checkout, k8s: am-distill)')
      .option('--partition <name>', 'slurm: --partition of every job')
      .option('--account <name>', 'slurm: --account of every job')
      .option('--image <image>', 'k8s: container image with am-distill')
      .option('--namespace <ns>', 'k8s: namespace of the Jobs')
      .option('--pvc <claim>', 'k8s: PersistentVolumeClaim holding the experiment directory and the recipe')
      .option('--mount-path <dir>', 'k8s: where the claim is mounted (default: the working directory)'),
  ).action(async (file: string, f: JobsFlags) => {
    const cwd = process.cwd();
    const abs = isAbsolute(file) ? file : resolve(cwd, file);
    const args = {
      file: abs,
      sets: f.set ?? [],
      expDir: f.expDir,
      corpusDir: f.corpusDir,
      evalCorpusDir: f.evalCorpusDir,
    };
    const recipe = loadRecipe(abs, { registry: defaultRegistry, ...args });
    const graph = buildJobGraph(recipe, defaultRegistry, { shards: f.shards, recipeArgs: args });
    const here = [process.execPath, join(packageRoot(), 'bin', 'am-distill.js')];
    const o: ClusterOptions = {
      command: f.command ? f.command.trim().split(/\s+/) : f.scheduler === 'slurm' ? here : ['am-distill'],
      cwd,
      resources: recipe.resources,
      partition: f.partition,
      account: f.account,
      image: f.image,
      namespace: f.namespace,
      pvc: f.pvc,
      mountPath: f.mountPath,
    };
    const out = resolve(cwd, f.out);
    const files = f.scheduler === 'slurm' ? slurmFiles(graph, o, out) : kubernetesFiles(graph, o);
    const written = await writeClusterFiles(out, graph, files);
    const run = f.scheduler === 'slurm' ? 'submit.sh' : 'apply.sh';
    process.stdout.write(
      `${graph.jobs.length} jobs in ${written.length - 2} ${f.scheduler === 'slurm' ? 'sbatch scripts' : 'Job manifests'} -> ${out}\nrun: ${join(out, run)}\n`,
    );
  });
}
