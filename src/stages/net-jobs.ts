/**
 * Training jobs as plain data, run in src/nnet's worker pool (ModuleTrainJob) or on the main
 * thread with the same code: a net on hard labels (baseline, ensemble member, small-fraction
 * baseline) or a student on stored soft targets (whose loss is a function, which cannot be sent
 * to a worker; the worker rebuilds it from these arguments).
 */
import { availableParallelism } from 'node:os';
import { readAlignmentMetadata } from '../align/store.ts';
import type { DistillationLossOptions } from '../distill/loss.ts';
import { SoftTargetFrameSource } from '../distill/source.ts';
import { trainStudent } from '../distill/student.ts';
import { setDefaultComputeThreads, type BackendName } from '../nnet/backend.ts';
import { runTrainJobs, type ModuleTrainJob } from '../nnet/pool.ts';
import { openDataSource, type DataSpec } from '../nnet/split-data.ts';
import { trainFrameClassifier, type TrainConfig, type TrainResult } from '../nnet/train.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';

interface JobBase {
  outDir: string;
  train: DataSpec;
  dev?: DataSpec | null;
  config: Partial<TrainConfig> & { numSenones: number };
  backend?: BackendName | 'auto';
  resume?: boolean;
}

/** A frame classifier on the forced-alignment labels. */
export interface HardLabelJobArgs extends JobBase {
  kind: 'hard';
}

/** A student on soft targets: T^2 CE(soft) + w CE(hard) at the targets' temperature. */
export interface StudentJobArgs extends JobBase {
  kind: 'student';
  /** Soft-target files of the training split. */
  softTargets: string[];
  /** Loss settings (the temperature is the targets'). */
  loss: Partial<DistillationLossOptions>;
}

export type TrainJobArgs = HardLabelJobArgs | StudentJobArgs;

/** Run one job here (the worker calls this too). */
export async function runTrainJob(args: TrainJobArgs, ctx: { logger?: Logger } = {}): Promise<TrainResult> {
  const logger = ctx.logger ?? defaultLog;
  const train = await openDataSource(args.train);
  const dev = args.dev ? await openDataSource(args.dev) : undefined;
  if (args.kind === 'hard') {
    return trainFrameClassifier({
      outDir: args.outDir,
      train,
      dev,
      config: args.config,
      backend: args.backend,
      resume: args.resume,
      logger,
    });
  }
  const ali = await readAlignmentMetadata(args.train.alignments[0]);
  const source = await SoftTargetFrameSource.open(train, args.softTargets, {
    expect: {
      numSenones: args.config.numSenones,
      senoneInventoryId: args.config.senoneInventory?.id,
      featureConfigHash: train.featureConfigHash,
      alignmentConfigHash: ali.configHash,
      temperature: args.loss.temperature,
      names: {
        features: args.train.features[0],
        alignments: args.train.alignments[0],
        student: `student ${args.outDir}`,
      },
    },
  });
  try {
    return await trainStudent({
      outDir: args.outDir,
      train: source,
      dev,
      config: args.config,
      loss: args.loss,
      backend: args.backend,
      resume: args.resume,
      logger,
    });
  } finally {
    await source.close();
  }
}

/** The job as a src/nnet ModuleTrainJob (runs `runTrainJob(args)` in a worker thread). */
export function moduleJob(args: TrainJobArgs): ModuleTrainJob {
  return { kind: 'module', module: import.meta.url, args };
}

export function workerCount(maxWorkers: number, jobs: number): number {
  return Math.max(1, Math.min(jobs, maxWorkers === 0 ? availableParallelism() : maxWorkers));
}

/**
 * Train a stage's nets, or one shard's block of them: in worker threads when more than one, with
 * the compute threads the whole stage would give each net (the cores / the stage's concurrent
 * workers), on the main thread too, so a shard uses the cores as the stage would. (The results do
 * not depend on the thread count: the native engine tiles its GEMMs, docs/compute.md.)
 */
export async function runNetJobs(
  jobs: TrainJobArgs[],
  o: { stageJobs: number; maxWorkers: number; logger: Logger; labels: string[] },
): Promise<TrainResult[]> {
  if (jobs.length === 0) return [];
  const computeThreads = Math.max(1, Math.floor(availableParallelism() / workerCount(o.maxWorkers, o.stageJobs)));
  const workers = workerCount(o.maxWorkers, jobs.length);
  if (workers > 1 || jobs.length > 1) {
    return runTrainJobs(jobs.map(moduleJob), {
      maxWorkers: workers,
      logger: o.logger,
      labels: o.labels,
      computeThreads,
    });
  }
  setDefaultComputeThreads(computeThreads);
  try {
    return [await runTrainJob(jobs[0], { logger: o.logger })];
  } finally {
    setDefaultComputeThreads(null);
  }
}
