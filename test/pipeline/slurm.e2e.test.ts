/**
 * Issue 33 item 4: a real Slurm. Starts a single-node Slurm on this machine (scripts/slurm-local.sh:
 * munged, slurmctld, slurmd; needs root and `apt-get install slurmctld slurmd slurm-client munge`),
 * writes the tiny recipe's jobs with `am-distill jobs --scheduler slurm --shards 3` (align's GMM
 * training passes included: per pass an array of 3 and a merge), submits them
 * with the generated submit.sh, waits for the queue to drain, checks that every job and array task
 * COMPLETED, and compares the outputs with an unsharded local run of the same recipe: the same
 * bytes (stage.json and the report's wall times aside). Skipped, saying so, where Slurm is not
 * installed or the test does not run as root.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadRecipe } from '../../src/pipeline/recipe.ts';
import { runPipeline } from '../../src/pipeline/runner.ts';
import { defaultRegistry } from '../../src/stages/index.ts';
import { main } from '../../src/cli/main.ts';
import { jobGroups } from '../../src/pipeline/cluster.ts';
import type { JobGraph } from '../../src/pipeline/jobs.ts';
import { captureLogger } from '../helpers.ts';
import { experimentOutputs, TINY_PIPELINE_SETS } from './tiny-experiment.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const SLURM = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue'].every(have) && process.getuid?.() === 0;
if (!SLURM) console.warn('slurm.e2e: skipped (needs root and apt-get install slurmctld slurmd slurm-client munge)');

const tmp = mkdtempSync(join(tmpdir(), 'amd-slurm-e2e-'));
const cluster = join(tmp, 'cluster');
const env = { ...process.env, SLURM_CONF: join(cluster, 'slurm.conf') };
const SETS = [...TINY_PIPELINE_SETS, 'resources={default: {cpus: 1, memoryGb: 2, timeMinutes: 30}}'];

describe.skipIf(!SLURM)('the tiny recipe on a single-node Slurm', () => {
  beforeAll(() => {
    execFileSync('bash', [join(ROOT, 'scripts/slurm-local.sh'), 'start', cluster], { stdio: 'inherit' });
  });
  afterAll(() => {
    spawnSync('bash', [join(ROOT, 'scripts/slurm-local.sh'), 'stop', cluster], { stdio: 'inherit' });
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs the jobs of am-distill jobs --scheduler slurm --shards 3 to the same bytes as an unsharded run', async () => {
    const t0 = Date.now();
    const out = join(tmp, 'jobs');
    const sharded = join(tmp, 'sharded');
    const code = await main([
      'node',
      'am-distill',
      'jobs',
      join(ROOT, 'pipelines/demo.yaml'),
      ...SETS.flatMap((s) => ['--set', s]),
      '--exp-dir',
      sharded,
      '--scheduler',
      'slurm',
      '--shards',
      '3',
      '--out',
      out,
    ]);
    expect(code).toBe(0);
    const submitted = execFileSync('bash', [join(out, 'submit.sh')], { env, encoding: 'utf8' });
    const ids = [...submitted.matchAll(/: job (\d+)$/gm)].map((m) => m[1]);
    const graph = JSON.parse(readFileSync(join(out, 'jobs.json'), 'utf8')) as JobGraph;
    const groups = jobGroups(graph);
    expect(ids.length).toBe(groups.length);
    // align's GMM training: 14 passes (mono 8 iterations, tri1 6), and decode's tuning pass, each an
    // array of 3 and a merge.
    expect(groups.filter((g) => g.pass !== undefined)).toHaveLength(30);
    expect(groups).toHaveLength(50);

    // Wait for the queue to drain (a failed job cancels what depends on it: kill_invalid_depend).
    for (;;) {
      const queued = execFileSync('squeue', ['-h', '-o', '%i'], { env, encoding: 'utf8' }).trim();
      if (!queued) break;
      if (Date.now() - t0 > 30 * 60_000) throw new Error(`still queued after 30 minutes: ${queued}`);
      await new Promise((r) => setTimeout(r, 3000));
    }
    const slurmSec = (Date.now() - t0) / 1000;
    const states = execFileSync('squeue', ['-h', '-t', 'all', '-o', '%i %j %T'], { env, encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter((l) => l.includes(' demo-'));
    // One line per job of the graph: 13 single jobs, 7 arrays of 3 tasks, 15 passes' arrays of 3 and merges.
    const jobs = graph.jobs;
    expect(jobs).toHaveLength(94);
    expect(states).toHaveLength(jobs.length);
    const notDone = states.filter((l) => !l.endsWith(' COMPLETED'));
    if (notDone.length) {
      const logs = join(out, 'logs');
      throw new Error(
        `jobs not COMPLETED: ${notDone.join('; ')} (logs in ${logs}: ${readFileSync(join(tmp, 'cluster', 'slurmctld.log'), 'utf8').slice(-2000)})`,
      );
    }

    const whole = join(tmp, 'whole');
    const recipe = loadRecipe(join(ROOT, 'pipelines/demo.yaml'), {
      registry: defaultRegistry,
      cwd: ROOT,
      expDir: whole,
      sets: SETS,
    });
    await runPipeline(recipe, { registry: defaultRegistry, log: captureLogger() });
    const a = experimentOutputs(whole);
    const b = experimentOutputs(sharded);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    expect([...a.keys()].filter((k) => a.get(k) !== b.get(k))).toEqual([]);
    console.log(
      `slurm.e2e: ${groups.length} groups (${jobs.length} jobs and array tasks) ran on Slurm in ${slurmSec.toFixed(0)} s; the whole test ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
  });
});
