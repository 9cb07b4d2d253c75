/**
 * Worker-thread entry of the training pool (see pool.ts): trains one job and posts the result.
 * Messages to the parent: {type: 'log', line}, {type: 'done', result}, {type: 'error', error}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger, setLogLevel, type LogLevel } from '../util/log.ts';
import { trainFrameClassifier } from './train.ts';
import { openFrameSource } from './sources.ts';
import { serializeError, type TrainJob } from './pool.ts';

interface WorkerInput {
  job: TrainJob;
  label: string;
  logLevel: LogLevel;
}

const port = parentPort;
if (!port) throw new Error('src/nnet/worker.ts must run in a worker thread');
const { job, label, logLevel } = workerData as WorkerInput;
setLogLevel(logLevel);
const logger = createLogger({ prefix: label, stream: { write: (s: string) => port.postMessage({ type: 'log', line: s }) } });
try {
  const result = await trainFrameClassifier({
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
