/**
 * The local executor of a job graph (issue 33; `am-distill run <recipe> --shards N`): at most
 * `workers` jobs at a time, each started as soon as every job it needs has succeeded, in graph
 * order among the ready ones. A failed job blocks the jobs that need it; independent jobs go on,
 * so one run does all the work it can. Running the same command again skips every job whose
 * outputs are current (a whole stage, or a shard with its record), so only the failed jobs and
 * those after them run.
 *
 * The jobs run through a JobPool: ./job-pool.ts starts worker processes, each running
 * `am-distill job`'s entry (./jobs-run.ts) on one job at a time.
 */
import { AmDistillError } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import type { Job, JobGraph } from './jobs.ts';
import type { JobOutcome } from './jobs-run.ts';

/** Runs one job somewhere; rejects with the job's error. */
export interface JobPool {
  run(job: Job): Promise<JobOutcome>;
  close(): Promise<void>;
}

export type JobStatus = 'ran' | 'up-to-date' | 'failed' | 'blocked';

export interface JobReport {
  id: string;
  status: JobStatus;
  reason?: string;
  durationSec?: number;
  /** failed: the error message; blocked: the failed job it waited for. */
  error?: string;
  code?: string;
}

export interface ExecutionReport {
  recipe: string;
  expDir: string;
  shards: number;
  workers: number;
  wallSec: number;
  jobs: JobReport[];
}

/** Run the graph's jobs with at most `workers` at a time; never rejects for a job's failure (see the report). */
export async function executeJobGraph(
  graph: JobGraph,
  opts: { workers: number; pool: JobPool; log: Logger },
): Promise<ExecutionReport> {
  const t0 = Date.now();
  const workers = Math.max(1, Math.floor(opts.workers));
  const reports = new Map<string, JobReport>();
  const running = new Map<string, Promise<void>>();
  const waiting = [...graph.jobs];
  const finished = (id: string) => reports.get(id)?.status;
  const start = (job: Job) => {
    opts.log.info(`job ${job.id}: started (${running.size + 1} running)`);
    const p = opts.pool
      .run(job)
      .then(
        (o) => {
          reports.set(job.id, { id: job.id, status: o.status, reason: o.reason, durationSec: o.durationSec });
          opts.log.info(
            `job ${job.id}: ${o.status === 'ran' ? `done in ${o.durationSec.toFixed(1)} s` : 'up to date'}`,
          );
        },
        (err: unknown) => {
          const e = err as Error & { code?: string };
          reports.set(job.id, { id: job.id, status: 'failed', error: e.message, ...(e.code ? { code: e.code } : {}) });
          opts.log.error(`job ${job.id} failed: ${e.message}`);
        },
      )
      .finally(() => running.delete(job.id));
    running.set(job.id, p);
  };
  for (;;) {
    for (let i = 0; i < waiting.length;) {
      const job = waiting[i];
      const blocker = job.needs.find((n) => finished(n) === 'failed' || finished(n) === 'blocked');
      if (blocker) {
        reports.set(job.id, { id: job.id, status: 'blocked', error: `needs ${blocker}, which did not succeed` });
        waiting.splice(i, 1);
        continue;
      }
      const ready = job.needs.every((n) => finished(n) === 'ran' || finished(n) === 'up-to-date');
      if (ready && running.size < workers) {
        waiting.splice(i, 1);
        start(job);
        continue;
      }
      i++;
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  if (waiting.length)
    throw new Error(`job graph: ${waiting.map((j) => j.id).join(', ')} can never start (a need is not in the graph)`);
  return {
    recipe: graph.recipe,
    expDir: graph.expDir,
    shards: graph.shards,
    workers,
    wallSec: (Date.now() - t0) / 1000,
    jobs: graph.jobs.map((j) => reports.get(j.id)!),
  };
}

/** The error of a run with failed jobs: the first failure's code (so the exit code is that job's), every failure named. */
export function executionError(r: ExecutionReport): AmDistillError | null {
  const failed = r.jobs.filter((j) => j.status === 'failed');
  if (!failed.length) return null;
  const blocked = r.jobs.filter((j) => j.status === 'blocked').length;
  return new AmDistillError(
    failed[0].code ?? 'E_JOB',
    `${failed.length} job(s) failed${blocked ? `, ${blocked} not started` : ''}: ${failed.map((j) => `${j.id} (${j.error})`).join('; ')}`,
    {
      file: r.expDir,
      expected: 'every job done; the same command reruns only the failed jobs and those after them',
    },
  );
}

/** The end-of-run summary: one line per job. */
export function formatExecutionReport(r: ExecutionReport): string {
  const lines = [
    `experiment ${r.recipe}: ${r.expDir} (${r.shards} shard(s), ${r.workers} worker(s), ${r.wallSec.toFixed(1)} s)`,
  ];
  const w = Math.max(...r.jobs.map((j) => j.id.length));
  for (const j of r.jobs) {
    const what =
      j.status === 'ran'
        ? `ran in ${(j.durationSec ?? 0).toFixed(1)} s (${j.reason})`
        : j.status === 'up-to-date'
          ? 'up to date (skipped)'
          : `${j.status}: ${j.error}`;
    lines.push(`  ${j.id.padEnd(w)}  ${what}`);
  }
  return lines.join('\n');
}
