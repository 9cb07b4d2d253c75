/**
 * A recipe's job graph (./jobs.ts) as what a cluster needs (issue 33 item 3; `am-distill jobs`,
 * docs/cluster.md). No scheduler of our own: the jobs are grouped (a stage, its common job, the N
 * shards of a stage as one array, its merge) and each group becomes
 *
 * - Slurm: an sbatch script (the shards: `--array=0-(N-1)`, the task's shard from
 *   SLURM_ARRAY_TASK_ID), and `submit.sh`, which submits them in order, each with
 *   `--dependency=afterok:` on the groups it needs;
 * - Kubernetes: a batch/v1 Job (the shards: an Indexed Job, `completionMode: Indexed`, the pod's
 *   shard from JOB_COMPLETION_INDEX), the experiment directory on a PersistentVolumeClaim, and
 *   `apply.sh`, which applies them in order and waits for each to complete.
 *
 * Every job runs `am-distill job <recipe> <stage> [--shard i/N | --merge-shards N | --common]`,
 * which skips what is current: resubmitting after a failure reruns only the failed shards. The
 * requests come from the recipe's `resources` section (./resources.ts).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { passDirName, recipeArgv, type Job, type JobGraph, type JobKind } from './jobs.ts';
import { stageResources, type JobResources, type ResourcesSection } from './resources.ts';

/** Consecutive jobs of one stage and kind (and pass): one sbatch script / one Kubernetes Job. */
export interface JobGroup {
  /** `features`, `align-common`, `features-shards`, `features-merge`, `align-pass-003-shards`. */
  key: string;
  stage: string;
  kind: JobKind;
  /** The stage's pass (align's GMM training passes). */
  pass?: number;
  jobs: Job[];
  /** Keys of the groups it needs. */
  needs: string[];
}

export function jobGroups(graph: JobGraph): JobGroup[] {
  const groups: JobGroup[] = [];
  const groupOf = new Map<string, string>();
  for (const job of graph.jobs) {
    const pass = job.pass !== undefined ? `-${passDirName(job.pass)}` : '';
    const key = job.kind === 'stage' ? job.stage : `${job.stage}${pass}-${job.kind === 'shard' ? 'shards' : job.kind}`;
    let g = groups.find((x) => x.key === key);
    if (!g)
      groups.push(
        (g = {
          key,
          stage: job.stage,
          kind: job.kind,
          ...(job.pass !== undefined ? { pass: job.pass } : {}),
          jobs: [],
          needs: [],
        }),
      );
    g.jobs.push(job);
    groupOf.set(job.id, key);
    for (const n of job.needs) {
      const k = groupOf.get(n)!;
      if (k !== key && !g.needs.includes(k)) g.needs.push(k);
    }
  }
  return groups;
}

export interface ClusterOptions {
  /** The am-distill command on the nodes (argv). */
  command: string[];
  /** Working directory of the jobs (the recipe's relative paths). */
  cwd: string;
  resources?: Partial<ResourcesSection>;
  /** Slurm: --partition, --account. */
  partition?: string;
  account?: string;
  /** Kubernetes: the container image, namespace, and the PVC holding the experiment directory (mounted at mountPath). */
  image?: string;
  namespace?: string;
  pvc?: string;
  mountPath?: string;
}

/** A word for sh, quoted when it needs to be. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_/.,:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The `am-distill job` command of a group, the shard index from `indexVar` (an environment variable). */
function groupCommand(graph: JobGraph, g: JobGroup, o: ClusterOptions, indexVar: string): string {
  const head = [
    ...o.command,
    'job',
    ...recipeArgv(graph.recipeArgs),
    g.stage,
    ...(g.pass !== undefined ? ['--pass', String(g.pass)] : []),
  ]
    .map(shellQuote)
    .join(' ');
  const n = graph.shards;
  switch (g.kind) {
    case 'stage':
      return head;
    case 'common':
      return `${head} --common`;
    case 'shard':
      return `${head} --shard "\${${indexVar}}/${n}"`;
    case 'merge':
      return `${head} --merge-shards ${n}`;
  }
}

function checkResourceStages(graph: JobGraph, r: Partial<ResourcesSection> | undefined): void {
  const stages = new Set(graph.jobs.map((j) => j.stage));
  for (const s of Object.keys(r?.stages ?? {})) {
    if (!stages.has(s)) {
      throw new ConfigError(`resources for a stage the recipe does not run`, {
        keyPath: `resources.stages.${s}`,
        expected: `one of ${[...stages].join(', ')}`,
        found: s,
      });
    }
  }
}

/** `07-align-common.sbatch`: the group's place (two digits, or as many as the number of groups needs), key and extension. */
const numbered = (i: number, g: JobGroup, ext: string, of: number) =>
  `${String(i + 1).padStart(Math.max(2, String(of).length), '0')}-${g.key}.${ext}`;

/** Slurm: one sbatch script per group and submit.sh (file name -> text). */
export function slurmFiles(graph: JobGraph, o: ClusterOptions, outDir: string): Map<string, string> {
  checkResourceStages(graph, o.resources);
  const files = new Map<string, string>();
  const groups = jobGroups(graph);
  const vars = new Map<string, string>();
  const submit = [
    '#!/bin/bash',
    `# Submits the job graph of recipe '${graph.recipe}' (${graph.shards} shard(s) per sharded stage) to Slurm.`,
    '# Each group waits (--dependency=afterok) for the groups it reads; a rerun after a failure skips every current job.',
    'set -euo pipefail',
    'cd "$(dirname "$0")"',
    `mkdir -p ${shellQuote(join(outDir, 'logs'))}`,
  ];
  groups.forEach((g, i) => {
    const r = stageResources(o.resources, g.stage);
    const name = numbered(i, g, 'sbatch', groups.length);
    files.set(name, sbatchScript(graph, g, r, o, outDir));
    const v = `j${i + 1}`;
    vars.set(g.key, v);
    const dep = g.needs.length ? ` --dependency=afterok:${g.needs.map((k) => `$${vars.get(k)}`).join(':')}` : '';
    submit.push(`${v}=$(sbatch --parsable${dep} ${name}); ${v}=\${${v}%%;*}; echo "${g.key}: job $${v}"`);
  });
  submit.push(`echo "$${vars.get(groups[groups.length - 1].key)}" > last-job-id`);
  files.set('submit.sh', submit.join('\n') + '\n');
  return files;
}

function sbatchScript(graph: JobGraph, g: JobGroup, r: JobResources, o: ClusterOptions, outDir: string): string {
  const array = g.kind === 'shard';
  const lines = [
    '#!/bin/bash',
    `#SBATCH --job-name=${graph.recipe}-${g.key}`,
    ...(array ? [`#SBATCH --array=0-${graph.shards - 1}`] : []),
    `#SBATCH --cpus-per-task=${r.cpus}`,
    `#SBATCH --mem=${Math.ceil(r.memoryGb * 1024)}M`,
    `#SBATCH --time=${r.timeMinutes}`,
    ...(r.gpus > 0 ? [`#SBATCH --gres=gpu:${r.gpus}`] : []),
    ...(o.partition ? [`#SBATCH --partition=${o.partition}`] : []),
    ...(o.account ? [`#SBATCH --account=${o.account}`] : []),
    `#SBATCH --chdir=${o.cwd}`,
    `#SBATCH --output=${join(outDir, 'logs', array ? '%x-%a.out' : '%x.out')}`,
    'set -euo pipefail',
    `exec ${groupCommand(graph, g, o, 'SLURM_ARRAY_TASK_ID')}`,
  ];
  return lines.join('\n') + '\n';
}

/** A Kubernetes object name or label value (DNS-1123 label: lower case, digits, '-', at most 63 characters). */
function dnsLabel(text: string): string {
  const name = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return name.length <= 63 ? name : name.slice(0, 63).replace(/-+$/, '');
}

/** The batch/v1 Job of a group (an Indexed Job for the shards), as a plain object. */
export function k8sJob(graph: JobGraph, g: JobGroup, o: ClusterOptions): Record<string, unknown> {
  if (!o.image)
    throw new ConfigError('no container image for the Kubernetes Jobs', {
      file: '--image',
      expected: 'an image with am-distill installed',
    });
  if (!o.pvc)
    throw new ConfigError('no volume for the experiment directory', {
      file: '--pvc',
      expected: 'a PersistentVolumeClaim holding the experiment directory and the recipe',
    });
  const r = stageResources(o.resources, g.stage);
  const indexed = g.kind === 'shard';
  const memory = `${Math.ceil(r.memoryGb * 1024)}Mi`;
  const gpu = r.gpus > 0 ? { 'nvidia.com/gpu': String(r.gpus) } : {};
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: dnsLabel(`${graph.recipe}-${g.key}`),
      ...(o.namespace ? { namespace: o.namespace } : {}),
      labels: {
        'app.kubernetes.io/name': 'am-distill',
        'am-distill/recipe': dnsLabel(graph.recipe),
        'am-distill/stage': g.stage,
      },
    },
    spec: {
      ...(indexed
        ? { completionMode: 'Indexed', completions: graph.shards, parallelism: graph.shards, backoffLimitPerIndex: 1 }
        : { completions: 1, backoffLimit: 1 }),
      activeDeadlineSeconds: r.timeMinutes * 60,
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'am-distill',
              image: o.image,
              workingDir: o.cwd,
              command: ['sh', '-c', `exec ${groupCommand(graph, g, o, 'JOB_COMPLETION_INDEX')}`],
              resources: { requests: { cpu: String(r.cpus), memory, ...gpu }, limits: { memory, ...gpu } },
              volumeMounts: [{ name: 'experiment', mountPath: o.mountPath ?? o.cwd }],
            },
          ],
          volumes: [{ name: 'experiment', persistentVolumeClaim: { claimName: o.pvc } }],
        },
      },
    },
  };
}

/** Kubernetes: one Job manifest per group (JSON, which is YAML) and apply.sh (file name -> text). */
export function kubernetesFiles(graph: JobGraph, o: ClusterOptions): Map<string, string> {
  checkResourceStages(graph, o.resources);
  const files = new Map<string, string>();
  const ns = o.namespace ? ` -n ${shellQuote(o.namespace)}` : '';
  const apply = [
    '#!/bin/bash',
    `# Applies the Jobs of recipe '${graph.recipe}' (${graph.shards} shard(s) per sharded stage) in order, each after the previous one completed.`,
    '# A failed Job stops the script; delete it and run the script again: every current job is skipped.',
    'set -euo pipefail',
    'cd "$(dirname "$0")"',
    'wait_job() {',
    '  while :; do',
    `    s=$(kubectl${ns} get job "$1" -o 'jsonpath={.status.conditions[?(@.status=="True")].type}')`,
    '    case "$s" in *Complete*) return 0 ;; *Failed*) echo "job $1 failed" >&2; return 1 ;; esac',
    '    sleep 10',
    '  done',
    '}',
  ];
  const groups = jobGroups(graph);
  groups.forEach((g, i) => {
    const name = numbered(i, g, 'yaml', groups.length);
    const job = k8sJob(graph, g, o);
    files.set(name, JSON.stringify(job, null, 2) + '\n');
    apply.push(`kubectl${ns} apply -f ${name}`, `wait_job ${(job.metadata as { name: string }).name}`);
  });
  files.set('apply.sh', apply.join('\n') + '\n');
  return files;
}

/** Write the files (and jobs.json, the graph itself) into `outDir`; the scripts executable. */
export async function writeClusterFiles(
  outDir: string,
  graph: JobGraph,
  files: Map<string, string>,
): Promise<string[]> {
  await fsp.mkdir(outDir, { recursive: true });
  const all = new Map([...files, ['jobs.json', JSON.stringify(graph, null, 2) + '\n']]);
  for (const [name, text] of all) {
    await writeFileAtomic(join(outDir, name), text);
    if (name.endsWith('.sh') || name.endsWith('.sbatch')) await fsp.chmod(join(outDir, name), 0o755);
  }
  return [...all.keys()];
}
