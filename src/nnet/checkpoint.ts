/**
 * Checkpoints of frame-classifier training (./train.ts): one per epoch, and resume from the last.
 *
 *   <outDir>/checkpoints/epoch-NNNN/  model.json weights.bin sidecar.json optimizer.json optimizer.bin state.json
 *                                     (+ average.json average.bin with weight averaging)
 *   <outDir>/final/                   the best epoch's model.json weights.bin, with the run's sidecar
 *
 * Each checkpoint directory is written atomically, so every one present is complete; only the
 * newest and the best are kept.
 */
import { promises as fsp, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../util/errors.ts';
import { withAtomicOutput } from '../util/fs.ts';
import type { Logger } from '../util/log.ts';
import { MODEL_JSON, SIDECAR_JSON, WEIGHTS_BIN, loadModelDir, saveModelDir, type ModelSidecar } from './io.ts';
import { ModelError } from './errors.ts';
import { AVERAGE_BIN, AVERAGE_JSON, type WeightAverageHeader } from './average.ts';
import type { FrameClassifier } from './model.ts';
import type { OptimizerState } from './optim.ts';
import type { NetTrainer } from './trainer.ts';
import type { EpochReport, ScheduleState } from './train.ts';

export const CHECKPOINTS = 'checkpoints';
export const FINAL = 'final';
const STATE_JSON = 'state.json';
const OPT_JSON = 'optimizer.json';
const OPT_BIN = 'optimizer.bin';
const epochDirName = (e: number) => `epoch-${String(e).padStart(4, '0')}`;

/** Everything a checkpoint restores: the schedule's state plus history and optimizer moments. */
export interface TrainState extends ScheduleState {
  configHash: string;
  history: EpochReport[];
  optimizer: OptimizerState;
}

/** Completed checkpoints in outDir, oldest first (every directory present is complete: written atomically). */
export async function listCheckpoints(outDir: string): Promise<{ epoch: number; dir: string }[]> {
  const root = join(outDir, CHECKPOINTS);
  if (!existsSync(root)) return [];
  const names = await fsp.readdir(root);
  return names
    .map((n) => /^epoch-(\d{4,})$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ epoch: Number(m[1]), dir: join(root, m[0]) }))
    .sort((a, b) => a.epoch - b.epoch);
}

/** Where a training run keeps its checkpoints, and what decides whether one can be resumed. */
export interface CheckpointedRun {
  outDir: string;
  /** False: delete checkpoints/ and final/ and start over. */
  resume: boolean;
  /** Hash of everything that determines the weights: a checkpoint with another one is refused. */
  configHash: string;
  /** This run's epoch limit: a checkpoint that stopped at a lower limit trains on. */
  maxEpochs: number;
  /** Learning rate of a fresh start. */
  learningRate: number;
  /** Weight averaging from this epoch on (undefined: off); a resumed run then needs the checkpoint's average. */
  averageFromEpoch?: number;
}

/**
 * The trainer and state to continue from: the last checkpoint in `run.outDir` (unless `resume` is
 * false), else a fresh start with `freshClassifier()`. A checkpoint of another config is a ConfigError.
 */
export async function startOrResume(
  run: CheckpointedRun,
  makeTrainer: (c: FrameClassifier) => NetTrainer,
  freshClassifier: () => FrameClassifier,
  logger: Logger,
): Promise<{ trainer: NetTrainer; state: TrainState; resumedAfterEpoch: number }> {
  const { outDir } = run;
  const checkpoints = run.resume ? await listCheckpoints(outDir) : [];
  if (!run.resume && existsSync(join(outDir, CHECKPOINTS))) {
    await fsp.rm(join(outDir, CHECKPOINTS), { recursive: true, force: true });
    await fsp.rm(join(outDir, FINAL), { recursive: true, force: true });
  }
  const last = checkpoints.at(-1);
  if (last) {
    const { trainer, state } = await loadCheckpoint(last.dir, run, makeTrainer);
    const resumedAfterEpoch = state.epoch;
    if (state.stopReason === 'max-epochs' && state.epoch < run.maxEpochs) state.stopReason = null;
    logger.info(
      `resuming ${outDir} after epoch ${state.epoch}${state.stopReason ? ` (already stopped: ${state.stopReason})` : ''}`,
    );
    return { trainer, state, resumedAfterEpoch };
  }
  const trainer = makeTrainer(freshClassifier());
  if (run.averageFromEpoch !== undefined) trainer.enableAverage();
  const state: TrainState = {
    configHash: run.configHash,
    epoch: 0,
    learningRate: run.learningRate,
    halving: false,
    bestEpoch: 0,
    bestMetric: -Infinity,
    epochsSinceBest: 0,
    stopReason: null,
    history: [],
    optimizer: trainer.optimizerState().header,
  };
  return { trainer, state, resumedAfterEpoch: 0 };
}

/** One checkpoint's network, optimizer moments, weight average and state. */
async function loadCheckpoint(
  dir: string,
  run: CheckpointedRun,
  makeTrainer: (c: FrameClassifier) => NetTrainer,
): Promise<{ trainer: NetTrainer; state: TrainState }> {
  const statePath = join(dir, STATE_JSON);
  const state = JSON.parse(await fsp.readFile(statePath, 'utf8')) as TrainState;
  if (state.configHash !== run.configHash) {
    throw new ConfigError(
      'the checkpoints in this directory were trained with a different config; use another output directory or resume: false',
      {
        file: statePath,
        expected: `config hash ${run.configHash.slice(0, 12)}`,
        found: state.configHash.slice(0, 12),
      },
    );
  }
  const trainer = makeTrainer((await loadModelDir(dir)).classifier);
  const header = JSON.parse(await fsp.readFile(join(dir, OPT_JSON), 'utf8')) as OptimizerState;
  trainer.loadOptimizerState(header, new Uint8Array(await fsp.readFile(join(dir, OPT_BIN))), join(dir, OPT_BIN));
  if (run.averageFromEpoch !== undefined) {
    const avgJson = join(dir, AVERAGE_JSON);
    if (!existsSync(avgJson))
      throw new ModelError('the checkpoint has no weight average', {
        file: avgJson,
        expected: `${AVERAGE_JSON} and ${AVERAGE_BIN} (averageFromEpoch ${run.averageFromEpoch})`,
        found: 'no such file',
      });
    trainer.loadAverageState(
      JSON.parse(await fsp.readFile(avgJson, 'utf8')) as WeightAverageHeader,
      new Uint8Array(await fsp.readFile(join(dir, AVERAGE_BIN))),
      join(dir, AVERAGE_BIN),
    );
  }
  return { trainer, state };
}

/**
 * Write epoch `state.epoch`'s checkpoint (network, optimizer moments, weight average, state), then
 * keep only the newest and the best one.
 */
export async function saveCheckpoint(
  outDir: string,
  trainer: NetTrainer,
  sidecar: ModelSidecar,
  state: TrainState,
): Promise<void> {
  const opt = trainer.optimizerState();
  state.optimizer = opt.header;
  const avg = trainer.averageState();
  trainer.sync();
  await saveModelDir(join(outDir, CHECKPOINTS, epochDirName(state.epoch)), trainer.classifier, sidecar, {
    [OPT_JSON]: JSON.stringify(opt.header),
    [OPT_BIN]: opt.data,
    [STATE_JSON]: JSON.stringify(state, null, 2) + '\n',
    ...(avg ? { [AVERAGE_JSON]: JSON.stringify(avg.header), [AVERAGE_BIN]: avg.data } : {}),
  });
  await pruneCheckpoints(outDir, state.bestEpoch);
}

/** Keep the newest checkpoint and the best one; delete the rest. */
async function pruneCheckpoints(outDir: string, bestEpoch: number): Promise<void> {
  const all = await listCheckpoints(outDir);
  const newest = all.at(-1)?.epoch;
  for (const c of all)
    if (c.epoch !== newest && c.epoch !== bestEpoch) await fsp.rm(c.dir, { recursive: true, force: true });
}

/** final/ = the best epoch's network, with `sidecar` (the run's summary); written atomically. */
export async function copyBestToFinal(outDir: string, bestEpoch: number, sidecar: ModelSidecar): Promise<void> {
  const bestDir = join(outDir, CHECKPOINTS, epochDirName(bestEpoch));
  await withAtomicOutput(join(outDir, FINAL), async (tmp) => {
    await fsp.mkdir(tmp, { recursive: true });
    await fsp.copyFile(join(bestDir, MODEL_JSON), join(tmp, MODEL_JSON));
    await fsp.copyFile(join(bestDir, WEIGHTS_BIN), join(tmp, WEIGHTS_BIN));
    await fsp.writeFile(join(tmp, SIDECAR_JSON), JSON.stringify(sidecar, null, 2) + '\n');
  });
}
