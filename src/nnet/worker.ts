/**
 * Worker-thread entry of the training pool (see pool.ts): trains one job and posts the result.
 * Messages to the parent: {type: 'log', line}, {type: 'done', result}, {type: 'error', error}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger, setLogLevel, type LogLevel } from '../util/log.ts';
import { trainFrameClassifier } from './train.ts';
import { openFrameSource } from './sources.ts';
import { isModuleTrainJob, serializeError, type AnyTrainJob } from './pool.ts';
import type { TrainResult } from './train.ts';
import { ConfigError } from '../util/errors.ts';
import { setDefaultComputeThreads } from './backend.ts';

interface WorkerInput {
  job: AnyTrainJob;
  label: string;
  logLevel: LogLevel;
  /** Compute threads for this worker's model (cores / concurrent workers). */
  computeThreads?: number;
}

const port = parentPort;
if (!port) throw new Error('src/nnet/worker.ts must run in a worker thread');
const { job, label, logLevel, computeThreads } = workerData as WorkerInput;
setLogLevel(logLevel);
if (computeThreads) setDefaultComputeThreads(computeThreads);
const logger = createLogger({
  prefix: label,
  stream: { write: (s: string) => port.postMessage({ type: 'log', line: s }) },
});
try {
  let result: TrainResult;
  if (isModuleTrainJob(job)) {
    const mod = (await import(job.module)) as {
      runTrainJob?: (args: unknown, ctx: { logger: typeof logger }) => Promise<TrainResult>;
    };
    if (typeof mod.runTrainJob !== 'function')
      throw new ConfigError('a module training job must export runTrainJob(args, ctx)', {
        file: job.module,
        expected: 'export async function runTrainJob',
        found: Object.keys(mod).join(', ') || 'no exports',
      });
    result = await mod.runTrainJob(job.args, { logger });
  } else
    result = await trainFrameClassifier({
      outDir: job.outDir,
      train: await openFrameSource(job.train),
      dev: job.dev ? await openFrameSource(job.dev) : undefined,
      config: job.config,
      backend: job.backend,
      resume: job.resume,
      logger,
    });
  port.postMessage({ type: 'done', result });
} catch (err) {
  port.postMessage({ type: 'error', error: serializeError(err) });
}
