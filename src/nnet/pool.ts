/**
 * Parallel training in worker threads. The wasm backend computes on one thread in Node, so K
 * ensemble members train K-at-a-time in separate workers (each has its own TF.js and wasm
 * instance; memory per worker ~ one model + its optimizer state + one shuffle buffer).
 * Results are identical to training the same job on the main thread (same seed -> same bytes).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { sha256Hex } from '../util/hash.ts';
import { pathToFileURL } from 'node:url';
import { AmDistillError, ConfigError, FormatError, NumericError, CorpusError } from '../util/errors.ts';
import { getLogLevel, log as defaultLog, type Logger } from '../util/log.ts';
import { BackendUnavailableError, ModelError } from './errors.ts';
import type { BackendName } from './backend.ts';
import type { FrameSourceSpec } from './sources.ts';
import type { TrainConfig, TrainResult } from './train.ts';

/** One training run as plain data (what a worker receives). */
export interface TrainJob {
  outDir: string;
  train: FrameSourceSpec;
  dev?: FrameSourceSpec;
  config: Partial<TrainConfig> & { numSenones: number };
  backend?: BackendName | 'auto';
  resume?: boolean;
}

/**
 * A training run that a module of this project performs inside the worker: for sources or losses
 * that are not plain data (e.g. a student on soft targets, whose loss is a function). The module
 * (a file:// URL; .ts works, the worker registers tsx) exports
 * `runTrainJob(args, ctx: { logger: Logger }): Promise<TrainResult>`; `args` must be structured-clonable.
 */
export interface ModuleTrainJob {
  kind: 'module';
  /** file:// URL of the module, e.g. `new URL('./job.ts', import.meta.url).href`. */
  module: string;
  /** Plain data handed to `runTrainJob`. */
  args: unknown;
}

export type AnyTrainJob = TrainJob | ModuleTrainJob;

export function isModuleTrainJob(job: AnyTrainJob): job is ModuleTrainJob {
  return (job as ModuleTrainJob).kind === 'module';
}

export interface PoolOptions {
  /** Concurrent workers. Default: the number of CPU cores (os.availableParallelism()). */
  maxWorkers?: number;
  logger?: Logger;
  /** Names of the jobs in logs and errors. Default 'job <i>'. */
  labels?: string[];
  /** Compute threads of each worker. Default: the cores / the workers computing at once. */
  computeThreads?: number;
}

export interface SerializedError {
  name: string;
  code?: string;
  message: string;
  backend?: string;
  stack?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof AmDistillError)
    return {
      name: err.name,
      code: err.code,
      message: err.message,
      backend: (err as BackendUnavailableError).backend,
      stack: err.stack,
    };
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { name: 'Error', message: String(err) };
}

/** Rebuild a typed error from a worker, prefixed with the job's label. */
export function reviveError(e: SerializedError, label: string): Error {
  const message = `${label}: ${e.message}`;
  let out: Error;
  switch (e.code) {
    case 'E_CONFIG':
      out = new ConfigError(message);
      break;
    case 'E_FORMAT':
      out = new FormatError(message);
      break;
    case 'E_NUMERIC':
      out = new NumericError(message);
      break;
    case 'E_CORPUS':
      out = new CorpusError(message);
      break;
    case 'E_MODEL':
      out = new ModelError(message);
      break;
    case 'E_BACKEND':
      out = Object.assign(new AmDistillError('E_BACKEND', message), { backend: e.backend });
      break;
    default:
      out = e.code ? new AmDistillError(e.code, message) : new Error(message);
  }
  if (e.stack) out.stack = `${out.name}: ${message}\n  [in worker] ${e.stack}`;
  return out;
}

const require = createRequire(import.meta.url);

/** URL of tsx's ESM registration API, so a worker can load this TypeScript source. */
function tsxApiUrl(): string {
  const pkgDir = dirname(require.resolve('tsx/package.json'));
  return pathToFileURL(join(pkgDir, 'dist', 'esm', 'api', 'index.mjs')).href;
}

/**
 * Start a worker thread on a module of this project. TypeScript sources (run through tsx) need
 * the loader registered inside the worker, which does not inherit the parent's loader.
 */
export function startModuleWorker(entry: URL, workerData: unknown): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  const code = `import(${JSON.stringify(tsxApiUrl())}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(code, { eval: true, workerData });
}

function startWorker(data: unknown): Worker {
  const here = import.meta.url;
  return startModuleWorker(new URL(here.endsWith('.ts') ? './worker.ts' : './worker.js', here), data);
}

/**
 * Run training jobs (plain TrainJobs or ModuleTrainJobs) in worker threads, at most `maxWorkers` at a time. Resolves with the results
 * in job order; the first failure terminates the running workers and rejects with that job's
 * typed error (checkpoints of every job stay on disk, so a rerun resumes).
 */
export async function runTrainJobs(jobs: AnyTrainJob[], opts: PoolOptions = {}): Promise<TrainResult[]> {
  const maxWorkers = opts.maxWorkers ?? availableParallelism();
  if (!Number.isInteger(maxWorkers) || maxWorkers < 1)
    throw new ConfigError('bad worker count', {
      keyPath: 'maxWorkers',
      expected: 'an integer >= 1',
      found: String(maxWorkers),
    });
  const logger = opts.logger ?? defaultLog;
  const labels = jobs.map((_, i) => opts.labels?.[i] ?? `job ${i}`);
  const results: TrainResult[] = new Array(jobs.length);
  // Models computing at once share the cores: each worker's BLAS gets cores / concurrent workers.
  const computeThreads =
    opts.computeThreads ??
    Math.max(1, Math.floor(availableParallelism() / Math.max(1, Math.min(maxWorkers, jobs.length))));
  const running = new Set<Worker>();
  let next = 0;
  let failed = false;

  return new Promise<TrainResult[]>((resolve, reject) => {
    let finished = 0;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      for (const w of running) void w.terminate();
      reject(err);
    };
    const launch = () => {
      while (!failed && running.size < maxWorkers && next < jobs.length) {
        const i = next++;
        const label = labels[i];
        let settled = false;
        const w = startWorker({ job: jobs[i], label, logLevel: getLogLevel(), computeThreads });
        running.add(w);
        w.on('message', (m: { type: string; line?: string; result?: TrainResult; error?: SerializedError }) => {
          if (m.type === 'log') writeLine(logger, m.line!);
          else if (m.type === 'done') {
            settled = true;
            results[i] = m.result!;
          } else if (m.type === 'error') {
            settled = true;
            fail(reviveError(m.error!, label));
          }
        });
        w.on('error', (err) => fail(Object.assign(err, { message: `${label}: worker failed: ${err.message}` })));
        w.on('exit', (code) => {
          running.delete(w);
          if (failed) return;
          if (!settled) {
            fail(new Error(`${label}: worker exited with code ${code} before finishing`));
            return;
          }
          finished++;
          if (finished === jobs.length) resolve(results);
          else launch();
        });
      }
    };
    if (jobs.length === 0) resolve([]);
    else launch();
  });
}

function writeLine(logger: Logger, line: string): void {
  // Lines arrive already formatted (prefix, level tag); pass them through unchanged.
  logger.info(line.replace(/\n$/, ''));
}

export interface EnsembleOptions extends PoolOptions {
  /** Number of members K (paper: 10). */
  members: number;
  /** Member k trains in <outDir>/member-<k> with seed memberSeed(config.seed, k) (init and data order differ). */
  outDir: string;
  job: Omit<TrainJob, 'outDir'>;
}

/**
 * Seed of ensemble member k (1-based) for the base seed `seed`: 31 bits of sha256(`${seed}:member-${k}`).
 * Hashed, not `seed + k`, so replicates with nearby base seeds share no net (with `seed + k`, base
 * seed 2's baseline was base seed 1's member-1, and consecutive ensembles shared K-1 members).
 */
export function memberSeed(seed: number, k: number): number {
  return parseInt(sha256Hex(`${seed}:member-${k}`).slice(0, 8), 16) >>> 1;
}

/** Train K ensemble members in parallel workers. */
export async function trainEnsemble(opts: EnsembleOptions): Promise<TrainResult[]> {
  if (!Number.isInteger(opts.members) || opts.members < 1)
    throw new ConfigError('bad ensemble size', {
      keyPath: 'members',
      expected: 'an integer >= 1',
      found: String(opts.members),
    });
  const baseSeed = opts.job.config.seed ?? 0;
  const jobs: TrainJob[] = Array.from({ length: opts.members }, (_, k) => ({
    ...opts.job,
    outDir: join(opts.outDir, `member-${k + 1}`),
    config: { ...opts.job.config, seed: memberSeed(baseSeed, k + 1) },
  }));
  return runTrainJobs(jobs, { ...opts, labels: opts.labels ?? jobs.map((_, k) => `member ${k + 1}`) });
}
