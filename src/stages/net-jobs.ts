/**
 * Training jobs as plain data, run in src/nnet's worker pool (ModuleTrainJob) or on the main
 * thread with the same code: a net on hard labels (baseline, ensemble member, small-fraction
 * baseline) or a student on stored soft targets (whose loss is a function, which cannot be sent
 * to a worker; the worker rebuilds it from these arguments).
 */
import type { Logger } from '../util/log.ts';
import { log as defaultLog } from '../util/log.ts';
import type { BackendName } from '../nnet/backend.ts';
import { trainFrameClassifier, type TrainConfig, type TrainResult } from '../nnet/train.ts';
import type { ModuleTrainJob } from '../nnet/pool.ts';
import { readAlignmentMetadata } from '../align/store.ts';
import { SoftTargetFrameSource } from '../distill/source.ts';
import { trainStudent } from '../distill/student.ts';
import type { DistillationLossOptions } from '../distill/loss.ts';
import { openDataSource, type DataSpec } from '../nnet/split-data.ts';

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
