/**
 * Worker processes for the local executor (./executor.ts): up to `size` child processes, each
 * running ./job-worker.ts, which runs one job at a time (the code of `am-distill job`) and stays
 * up for the next, so a run pays the start of Node, TF.js and the native engine once per worker,
 * not per job. A job's log lines go to the parent's stderr, prefixed with the job id, and to
 * `<expDir>/.jobs/<job id>.log`. A worker that dies fails its job and is replaced.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AmDistillError } from '../util/errors.ts';
import type { JobPool } from './executor.ts';
import type { Job, RecipeArgs } from './jobs.ts';
import type { JobOutcome } from './jobs-run.ts';
import type { JobSpec } from './jobs.ts';

const require = createRequire(import.meta.url);

/** Parent -> worker: run this job. */
export interface WorkerRequest {
  type: 'run';
  recipeArgs: RecipeArgs & { cwd: string };
  spec: JobSpec;
}

/** Worker -> parent, after the job (and after JOB_END_MARKER on stderr). */
export type WorkerReply =
  { type: 'done'; outcome: JobOutcome } | { type: 'failed'; error: { message: string; code?: string; stack?: string } };

/** The line a worker writes to stderr after each job's output. */
export const JOB_END_MARKER = '\u0000am-distill job end';

/** The worker's entry and the Node flags it needs (tsx's loader when this project runs from its TypeScript sources). */
function workerEntry(): { path: string; execArgv: string[] } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { path: fileURLToPath(new URL('./job-worker.js', here)), execArgv: [] };
  return {
    path: fileURLToPath(new URL('./job-worker.ts', here)),
    execArgv: ['--import', pathToFileURL(require.resolve('tsx/esm')).href],
  };
}

interface Worker {
  child: ChildProcess;
  /**
   * The job it runs, with its settle functions; settled once both its reply and the end marker on
   * stderr arrived (pipes and the IPC channel are not ordered with each other).
   */
  job: {
    id: string;
    resolve(o: JobOutcome): void;
    reject(e: Error): void;
    reply?: WorkerReply;
    ended?: boolean;
  } | null;
  /** Partial last lines of stdout / stderr. */
  pending: { out: string; err: string };
}

export class ProcessJobPool implements JobPool {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private readonly logDir: string;

  constructor(
    private readonly recipeArgs: RecipeArgs & { cwd: string },
    private readonly opts: { expDir: string; write?: (text: string) => void },
  ) {
    this.logDir = join(opts.expDir, '.jobs');
    mkdirSync(this.logDir, { recursive: true });
  }

  run(job: Job): Promise<JobOutcome> {
    const w = this.idle.pop() ?? this.start();
    return new Promise<JobOutcome>((resolve, reject) => {
      w.job = { id: job.id, resolve, reject };
      appendFileSync(this.logFile(job.id), `--- ${new Date().toISOString()} ${job.id}\n`);
      const msg: WorkerRequest = {
        type: 'run',
        recipeArgs: this.recipeArgs,
        spec: { stage: job.stage, kind: job.kind, shard: job.shard, count: job.count, pass: job.pass },
      };
      w.child.send(msg);
    });
  }

  async close(): Promise<void> {
    const exits = [...this.all].map(
      (w) =>
        new Promise<void>((res) => {
          if (w.child.exitCode !== null || w.child.signalCode !== null) return res();
          w.child.once('exit', () => res());
          w.child.disconnect();
        }),
    );
    await Promise.all(exits);
  }

  private logFile(id: string): string {
    return join(this.logDir, `${id}.log`);
  }

  private start(): Worker {
    const entry = workerEntry();
    const child = fork(entry.path, [], {
      cwd: this.recipeArgs.cwd,
      execArgv: entry.execArgv,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const w: Worker = { child, job: null, pending: { out: '', err: '' } };
    this.all.add(w);
    child.stdout!.on('data', (b: Buffer) => this.output(w, 'out', b.toString()));
    child.stderr!.on('data', (b: Buffer) => this.output(w, 'err', b.toString()));
    child.on('message', (m: WorkerReply) => {
      if (!w.job) return;
      w.job.reply = m;
      this.settle(w);
    });
    child.on('exit', (code, signal) => {
      this.all.delete(w);
      const i = this.idle.indexOf(w);
      if (i >= 0) this.idle.splice(i, 1);
      const job = w.job;
      if (!job) return;
      this.flush(w);
      w.job = null;
      job.reject(
        new Error(
          `the worker process running ${job.id} exited (${signal ?? `code ${code}`}); its log: ${this.logFile(job.id)}`,
        ),
      );
    });
    return w;
  }

  /** The job's reply and end marker both in: the job settles, the worker is free. */
  private settle(w: Worker): void {
    const job = w.job;
    if (!job?.reply || !job.ended) return;
    this.flush(w);
    w.job = null;
    this.idle.push(w);
    const m = job.reply;
    if (m.type === 'done') return job.resolve(m.outcome);
    const e = m.error.code ? new AmDistillError(m.error.code, m.error.message) : new Error(m.error.message);
    job.reject(Object.assign(e, { stack: m.error.stack }));
  }

  /** Whole lines of a worker's output: to the job's log file and, prefixed, to the parent's stderr. */
  private output(w: Worker, stream: 'out' | 'err', text: string): void {
    const all = w.pending[stream] + text;
    const cut = all.lastIndexOf('\n') + 1;
    w.pending[stream] = all.slice(cut);
    if (cut === 0) return;
    const lines = all.slice(0, cut);
    const end = stream === 'err' ? lines.indexOf(JOB_END_MARKER + '\n') : -1;
    if (end < 0) return this.emit(w, lines);
    if (end > 0) this.emit(w, lines.slice(0, end));
    if (w.job) w.job.ended = true;
    this.settle(w);
    const rest = lines.slice(end + JOB_END_MARKER.length + 1);
    if (rest) this.emit(w, rest);
  }

  private flush(w: Worker): void {
    for (const stream of ['out', 'err'] as const) {
      if (w.pending[stream]) this.emit(w, w.pending[stream] + '\n');
      w.pending[stream] = '';
    }
  }

  private emit(w: Worker, lines: string): void {
    const id = w.job?.id ?? 'worker';
    appendFileSync(this.logFile(id), lines);
    const write = this.opts.write ?? ((t: string) => process.stderr.write(t));
    write(lines.replace(/^(?=.)/gm, `[${id}] `));
  }
}
