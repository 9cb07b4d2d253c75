/**
 * `am-distill jobs` (issue 33 item 3): the demo recipe's job graph as Slurm sbatch scripts chained
 * by submit.sh (run here against a stand-in sbatch that records its arguments) and as Kubernetes
 * Jobs, validated with kubernetes-models' JSON schemas (validated, not run: no cluster here).
 */
import { describe, it, expect, afterAll } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Job as K8sJob } from 'kubernetes-models/batch/v1/Job';
import { loadRecipe } from '../../src/pipeline/recipe.ts';
import { buildJobGraph } from '../../src/pipeline/jobs.ts';
import { jobGroups, kubernetesFiles, shellQuote, slurmFiles, writeClusterFiles } from '../../src/pipeline/cluster.ts';
import { stageResources } from '../../src/pipeline/resources.ts';
import { defaultRegistry } from '../../src/stages/index.ts';
import { main } from '../../src/cli/main.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'amd-cluster-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const RESOURCES = [
  'resources={default: {cpus: 2, memoryGb: 3}, stages: {train: {cpus: 4, memoryGb: 8, gpus: 1}, distill: {gpus: 1, timeMinutes: 30}}}',
];

/** The file of a job group ('align-common' -> '079-align-common.sbatch': numbered in submission order). */
function fileOf(files: Map<string, string>, key: string, ext: string): string {
  const name = [...files.keys()].find((n) => n.endsWith(`-${key}.${ext}`) && /^\d+-/.test(n));
  expect(name, key).toBeDefined();
  return name!;
}

function graph(shards: number, sets: string[] = RESOURCES) {
  const recipe = loadRecipe(join(ROOT, 'pipelines/demo.yaml'), {
    registry: defaultRegistry,
    cwd: ROOT,
    sets,
    expDir: join(tmp, 'exp'),
  });
  return { recipe, graph: buildJobGraph(recipe, defaultRegistry, { shards, recipeArgs: { file: recipe.file, sets } }) };
}

describe('the recipe resources section', () => {
  it('gives each stage its requests over the default; a key it does not know is an error', () => {
    const { recipe } = graph(2);
    expect(stageResources(recipe.resources, 'train')).toEqual({ cpus: 4, memoryGb: 8, gpus: 1, timeMinutes: 240 });
    expect(stageResources(recipe.resources, 'lm')).toEqual({ cpus: 2, memoryGb: 3, gpus: 0, timeMinutes: 240 });
    expect(stageResources(undefined, 'lm')).toEqual({ cpus: 1, memoryGb: 4, gpus: 0, timeMinutes: 240 });
    expect(() => graph(2, ['resources={default: {cores: 2}}'])).toThrow(/resources\.default\.cores/);
    const other = graph(2, ['resources={stages: {trian: {gpus: 1}}}']);
    expect(() =>
      slurmFiles(other.graph, { command: ['am-distill'], cwd: ROOT, resources: other.recipe.resources }, tmp),
    ).toThrow(/resources\.stages\.trian/);
  });
});

describe('Slurm', () => {
  it('writes one sbatch script per stage, common job, shard array and merge, chained with afterok by submit.sh', async () => {
    const { recipe, graph: g } = graph(3);
    const out = join(tmp, 'slurm');
    const files = slurmFiles(
      g,
      { command: ['am-distill'], cwd: ROOT, resources: recipe.resources, partition: 'cpu' },
      out,
    );
    const names = await writeClusterFiles(out, g, files);
    expect(names).toContain('jobs.json');
    expect(JSON.parse(readFileSync(join(out, 'jobs.json'), 'utf8')).jobs).toHaveLength(g.jobs.length);
    const at = (key: string) => files.get(fileOf(files, key, 'sbatch'))!;
    const shards = at('align-shards');
    expect(shards).toContain('#SBATCH --array=0-2');
    expect(shards).toContain('#SBATCH --cpus-per-task=2');
    expect(shards).toContain('#SBATCH --mem=3072M');
    expect(shards).toContain('#SBATCH --partition=cpu');
    expect(shards).toMatch(
      /exec am-distill job \S+demo\.yaml --set 'resources=\{default: .*\}' --exp-dir \S+ align --shard "\$\{SLURM_ARRAY_TASK_ID\}\/3"\n$/,
    );
    expect(at('train-shards')).toContain('#SBATCH --gres=gpu:1');
    expect(at('align-common')).toMatch(/ align --common\n$/);
    expect(at('align-merge')).toMatch(/ align --merge-shards 3\n$/);
    expect(at('prepare')).not.toContain('--array');
    // The GMM training: per pass an array of shards (the E-step of their blocks) and a merge (the M-step).
    expect(at('align-pass-000-shards')).toContain('#SBATCH --array=0-2');
    expect(at('align-pass-000-shards')).toMatch(/ align --pass 0 --shard "\$\{SLURM_ARRAY_TASK_ID\}\/3"\n$/);
    expect(at('align-pass-074-merge')).toMatch(/ align --pass 74 --merge-shards 3\n$/);
    expect(fileOf(files, 'prepare', 'sbatch')).toBe('001-prepare.sbatch');
    for (const [name] of files) execFileSync('bash', ['-n', join(out, name)]);

    // submit.sh against a stand-in sbatch: the order of submission and each dependency.
    const bin = join(tmp, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    writeFileSync(
      join(bin, 'sbatch'),
      '#!/bin/bash\nn=$(( $(cat "$SBATCH_LOG" 2>/dev/null | wc -l) + 101 ))\necho "$n $*" >> "$SBATCH_LOG"\necho "$n;cluster"\n',
    );
    chmodSync(join(bin, 'sbatch'), 0o755);
    const log = join(tmp, 'sbatch.log');
    execFileSync('bash', [join(out, 'submit.sh')], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, SBATCH_LOG: log },
    });
    const calls = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    const groups = jobGroups(g);
    expect(calls.map((c) => c[c.length - 1])).toEqual(
      groups.map((x, i) => `${String(i + 1).padStart(3, '0')}-${x.key}.sbatch`),
    );
    const idOf = new Map(groups.map((x, i) => [x.key, calls[i][0]]));
    groups.forEach((x, i) => {
      const dep = calls[i].find((a) => a.startsWith('--dependency='));
      expect(dep).toBe(
        x.needs.length ? `--dependency=afterok:${x.needs.map((k) => idOf.get(k)).join(':')}` : undefined,
      );
    });
    const needs = (key: string) => groups.find((x) => x.key === key)!.needs;
    expect(needs('align-merge')).toEqual(['align-shards']);
    expect(needs('align-pass-000-shards')).toEqual(['prepare', 'features-merge']);
    expect(needs('align-pass-000-merge')).toEqual(['align-pass-000-shards']);
    expect(needs('align-pass-001-shards')).toEqual(['align-pass-000-merge']);
    expect(needs('align-common')).toEqual(['align-pass-074-merge']);
    // decode tunes on dev in a pass (system blocks), then its (system, split) shards read the common job.
    expect(needs('decode-pass-000-merge')).toEqual(['decode-pass-000-shards']);
    expect(needs('decode-common')).toEqual(['decode-pass-000-merge']);
    expect(needs('decode-shards')).toContain('decode-common');
    // The demo (mono 40 and tri1 35 iterations): 75 passes and decode's tuning pass, 2 groups each,
    // beside the 20 of the other jobs.
    expect(groups.filter((x) => x.pass !== undefined)).toHaveLength(152);
    expect(groups).toHaveLength(172);
    expect(readFileSync(join(out, 'last-job-id'), 'utf8').trim()).toBe(calls[calls.length - 1][0]);
  });

  it('quotes what the shell would split or expand', () => {
    expect(shellQuote('stages.train.members=2')).toBe('stages.train.members=2');
    expect(shellQuote("it's {a: 1}")).toBe(`'it'\\''s {a: 1}'`);
  });
});

describe('Kubernetes', () => {
  it('writes Jobs (Indexed for the shards) that validate against the Kubernetes schema, and apply.sh', async () => {
    const { recipe, graph: g } = graph(4);
    const out = join(tmp, 'k8s');
    const files = kubernetesFiles(g, {
      command: ['am-distill'],
      cwd: '/data/work',
      resources: recipe.resources,
      image: 'registry.example/am-distill:0.1',
      pvc: 'am-distill-data',
      namespace: 'speech',
    });
    await writeClusterFiles(out, g, files);
    const manifests = [...files].filter(([n]) => n.endsWith('.yaml'));
    expect(manifests).toHaveLength(jobGroups(g).length);
    for (const [name, text] of manifests) {
      const job = new K8sJob(JSON.parse(text));
      expect(() => job.validate(), name).not.toThrow();
    }
    const trainShards = fileOf(files, 'train-shards', 'yaml');
    const shards = JSON.parse(files.get(trainShards)!);
    expect(shards.spec).toMatchObject({ completionMode: 'Indexed', completions: 4, parallelism: 4 });
    const c = shards.spec.template.spec.containers[0];
    expect(c.command[2]).toMatch(/ train --shard "\$\{JOB_COMPLETION_INDEX\}\/4"$/);
    expect(c.resources.limits['nvidia.com/gpu']).toBe('1');
    expect(c.volumeMounts[0].mountPath).toBe('/data/work');
    expect(shards.spec.template.spec.volumes[0].persistentVolumeClaim.claimName).toBe('am-distill-data');
    expect(shards.metadata).toMatchObject({ name: 'demo-train-shards', namespace: 'speech' });
    expect(JSON.parse(files.get(fileOf(files, 'prepare', 'yaml'))!).spec.completionMode).toBeUndefined();
    const pass = JSON.parse(files.get(fileOf(files, 'align-pass-003-shards', 'yaml'))!);
    expect(pass.spec).toMatchObject({ completionMode: 'Indexed', completions: 4 });
    expect(pass.spec.template.spec.containers[0].command[2]).toMatch(
      / align --pass 3 --shard "\$\{JOB_COMPLETION_INDEX\}\/4"$/,
    );
    expect(pass.metadata.name).toBe('demo-align-pass-003-shards');
    const tune = JSON.parse(files.get(fileOf(files, 'decode-pass-000-shards', 'yaml'))!);
    expect(tune.spec).toMatchObject({ completionMode: 'Indexed', completions: 4 });
    expect(tune.spec.template.spec.containers[0].command[2]).toMatch(
      / decode --pass 0 --shard "\$\{JOB_COMPLETION_INDEX\}\/4"$/,
    );
    // A broken manifest does not validate (the check can fail).
    const broken = JSON.parse(files.get(trainShards)!);
    broken.spec.completionMode = 'Sharded';
    expect(() => new K8sJob(broken).validate()).toThrow(/completionMode/);
    const apply = files.get('apply.sh')!;
    expect(apply).toContain(`kubectl -n speech apply -f ${trainShards}\nwait_job demo-train-shards`);
    execFileSync('bash', ['-n', join(out, 'apply.sh')]);
    expect(() => kubernetesFiles(g, { command: ['am-distill'], cwd: '/', pvc: 'x' })).toThrow(/--image/);
  });
});

describe('am-distill jobs', () => {
  it('writes the scripts of a recipe from the command line', async () => {
    const out = join(tmp, 'cli');
    const code = await main([
      'node',
      'am-distill',
      'jobs',
      join(ROOT, 'pipelines/demo.yaml'),
      '--scheduler',
      'slurm',
      '--shards',
      '2',
      '--out',
      out,
      '--exp-dir',
      join(tmp, 'exp'),
    ]);
    expect(code).toBe(0);
    expect(readFileSync(join(out, 'submit.sh'), 'utf8')).toContain('002-features-shards.sbatch');
    expect(readFileSync(join(out, '002-features-shards.sbatch'), 'utf8')).toMatch(/bin\/am-distill\.js job /);
    expect(
      await main([
        'node',
        'am-distill',
        'jobs',
        join(ROOT, 'pipelines/demo.yaml'),
        '--scheduler',
        'pbs',
        '--shards',
        '2',
        '--out',
        out,
      ]),
    ).toBe(2);
    expect(
      await main([
        'node',
        'am-distill',
        'job',
        join(ROOT, 'pipelines/demo.yaml'),
        'features',
        '--shard',
        '0/2',
        '--merge-shards',
        '2',
      ]),
    ).toBe(2);
    // --pass names a pass's shard or merge, never a job of its own.
    expect(await main(['node', 'am-distill', 'job', join(ROOT, 'pipelines/demo.yaml'), 'align', '--pass', '3'])).toBe(
      2,
    );
  });
});
