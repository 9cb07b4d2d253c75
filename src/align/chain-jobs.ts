/**
 * The GMM training chain (./chain.ts) as shard jobs, as Kaldi runs each training iteration
 * (issue 33; docs/cluster.md): per pass, N shard jobs accumulate the statistics of their blocks of
 * the training utterances (./blocks.ts; Kaldi's `gmm-acc-stats-ali JOB=1:nj`, with the realignment
 * `gmm-align-compiled` in the same job), then one merge job sums every block's statistics in block
 * order and updates the model (`gmm-sum-accs` + `gmm-est`). The pass's trainer state after the
 * update goes to the merge's directory, the blocks' alignments to the shards' directories of the
 * passes that change them, and the blocks' statistics to one file each:
 *
 *   <shard dir of pass p>/stats-<block>.pack   one block's statistics (removed once merged)
 *   <shard dir of pass p>/blocks.pack          the shard's blocks' alignments after pass p (passes that change them)
 *   <merge dir of pass p>/state.pack           the trainer after pass p's M-step
 *
 * The in-process training (./chain.ts trainChain) runs the same passes over the same blocks and
 * sums in the same order: the same bytes for any number of shards.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import { readPacked, writePackedAtomic } from '../util/packed.ts';
import { shardRange } from '../features/compute.ts';
import type { ShardSpec } from '../features/store.ts';
import type { LangModel } from '../hmm/graph.ts';
import { accumulateBlocks, iterationLabel } from '../hmm/train.ts';
import {
  addStats,
  emptyBlockState,
  planPasses,
  type BlockState,
  type GmmTrainer,
  type PassInfo,
} from '../hmm/trainer.ts';
import { unpackPassStats } from '../hmm/pass-stats.ts';
import { packBlockStates, packTrainerState, restoreTrainerState, unpackBlockStates } from '../hmm/trainer-io.ts';
import {
  chainSpecs,
  chainTrainer,
  logTrainingData,
  trainedChain,
  type ChainOptions,
  type TrainedChain,
  type TrainingData,
} from './chain.ts';
import { GMM_TRAINING_BLOCKS } from './blocks.ts';

export const PASS_STATE_FILE = 'state.pack';
export const PASS_BLOCKS_FILE = 'blocks.pack';
const STATS_FORMAT = 'am-distill.gmm-block-stats';

/** The statistics file of one block in a pass's shard directory. */
export function passStatsFile(block: number): string {
  return `stats-${String(block).padStart(3, '0')}.pack`;
}

/** Whether a file of a pass's shard directory is statistics (which the merge consumes). */
export function isPassStatsFile(name: string): boolean {
  return /^stats-\d+\.pack$/.test(name);
}

/** The chain's passes for these options (fixed by the iteration counts and the last model). */
export function chainPasses(
  o: Pick<ChainOptions, 'lastModel' | 'monoIters' | 'triIters' | 'adaptedIters'>,
): PassInfo[] {
  const sizes = { monoGaussians: 1, triGaussians: 1, numLeaves: 1, minLeafOccupancy: 0, questions: 'cluster' as const };
  return planPasses(chainSpecs({ ...sizes, spliceContext: 0, ldaDim: 1, optionalSilenceProb: 0.5, seed: 0, ...o }, 0));
}

/** The last pass before `pass` that wrote the blocks' alignments (null: none, the blocks start empty). */
export function blockSourcePass(passes: readonly PassInfo[], pass: number): number | null {
  for (let q = pass - 1; q >= 0; q--) if (passes[q].writesBlocks) return q;
  return null;
}

/** What a pass job is given: the chain, the pass, the directories it reads. */
export interface ChainPassJob {
  data: TrainingData;
  lang: LangModel;
  o: ChainOptions;
  pass: number;
  /** The merge directory of the pass before (null: pass 0). */
  stateDir: string | null;
  configHash: string;
  outDir: string;
  logger: Logger;
}

/** A trainer restored to the state after pass `job.pass - 1`, its pass `job.pass` begun. */
async function trainerAt(job: ChainPassJob, range?: [number, number]) {
  const t = await chainTrainer(job.data, job.lang, job.o, range);
  const p = t.trainer.passes[job.pass];
  if (!p)
    throw new FormatError(`no GMM training pass ${job.pass}`, {
      expected: `a pass of 0..${t.trainer.passes.length - 1}`,
      found: String(job.pass),
    });
  if (job.stateDir) restoreState(t.trainer, job.stateDir);
  if (t.trainer.state.next !== job.pass)
    throw new FormatError(`the training state is not the one before pass ${job.pass}`, {
      file: job.stateDir ? join(job.stateDir, PASS_STATE_FILE) : undefined,
      expected: `the state after pass ${job.pass - 1}`,
      found: `the state before pass ${t.trainer.state.next}`,
    });
  t.trainer.beginPass(p);
  return { ...t, p };
}

function restoreState(trainer: GmmTrainer, dir: string): void {
  const file = join(dir, PASS_STATE_FILE);
  if (!existsSync(file))
    throw new FormatError('no training state', { file, expected: "the state written by the previous pass's merge" });
  restoreTrainerState(trainer, readPacked(file), file);
}

/**
 * One shard of a pass: its blocks' statistics, one file each, and (where the pass changes them)
 * its blocks' alignments. `blocksDir`: the shard's directory of the pass that last wrote them.
 */
export async function accumulateChainPass(
  job: ChainPassJob,
  shard: ShardSpec,
  blocksDir: string | null,
): Promise<{ blocks: [number, number]; count: number; aligned: number }> {
  const [b0, b1] = shardRange(GMM_TRAINING_BLOCKS, shard);
  const { trainer, blocks, source, p } = await trainerAt(job, [b0, b1]);
  if (job.pass === 0) logTrainingData(job.data, job.logger);
  const mine = blocks.nonEmpty.filter((b) => b >= b0 && b < b1);
  const states = blocksDir ? readBlockStates(blocksDir, mine) : new Map<number, BlockState>();
  const stateOf = (b: number) => {
    let st = states.get(b);
    if (!st) states.set(b, (st = emptyBlockState()));
    return st;
  };
  for (const b of mine) trainer.beginBlock(p, stateOf(b));
  const prog = job.logger.progress(p.kind === 'iter' ? iterationLabel(p) : p.name, mine.length, 'blocks');
  await accumulateBlocks(trainer, p, source, mine, stateOf, async (b, stats) => {
    await writePackedAtomic(join(job.outDir, passStatsFile(b)), {
      format: STATS_FORMAT,
      version: 1,
      pass: job.pass,
      name: p.name,
      block: b,
      configHash: job.configHash,
      stats: stats.pack(),
    });
    prog.tick();
  });
  prog.done();
  if (p.writesBlocks)
    await writePackedAtomic(
      join(job.outDir, PASS_BLOCKS_FILE),
      packBlockStates(mine.map((b) => ({ block: b, state: stateOf(b) }))),
    );
  return { blocks: [b0, b1], count: blocks.count, aligned: mine.reduce((n, b) => n + stateOf(b).alignments.size, 0) };
}

function readBlockStates(dir: string, blocks: readonly number[]): Map<number, BlockState> {
  const file = join(dir, PASS_BLOCKS_FILE);
  if (!existsSync(file))
    throw new FormatError('no block alignments', { file, expected: 'the alignments written by an earlier pass' });
  const states = unpackBlockStates(readPacked(file), file);
  const missing = blocks.filter((b) => !states.has(b));
  if (missing.length)
    throw new FormatError('block alignments missing', {
      file,
      expected: `blocks ${blocks.join(', ')}`,
      found: `none for ${missing.join(', ')}`,
    });
  return states;
}

/**
 * The merge of a pass: every block's statistics from the shards' directories (in shard order,
 * which is block order), summed in block order, the M-step, the state written. Returns its log line.
 */
export async function estimateChainPass(
  job: ChainPassJob,
  shards: readonly { dir: string; blocks: [number, number] }[],
): Promise<string> {
  const { trainer, blocks, p } = await trainerAt(job);
  const total = trainer.newStats(p);
  for (const sh of shards) {
    for (const b of blocks.nonEmpty.filter((x) => x >= sh.blocks[0] && x < sh.blocks[1])) {
      const file = join(sh.dir, passStatsFile(b));
      if (!existsSync(file))
        throw new FormatError(`statistics of block ${b} missing`, {
          file,
          expected: `the statistics of pass ${job.pass} (${p.name}) for block ${b}`,
          found: 'no file',
        });
      const v = readPacked(file) as Record<string, unknown>;
      if (v.format !== STATS_FORMAT || v.pass !== job.pass || v.block !== b || v.configHash !== job.configHash)
        throw new FormatError('statistics of another pass, block or configuration', {
          file,
          expected: `pass ${job.pass} block ${b}, config ${job.configHash.slice(0, 12)}`,
          found: `pass ${String(v.pass)} block ${String(v.block)}, config ${String(v.configHash).slice(0, 12)}`,
        });
      addStats(total, unpackPassStats(v.stats, p.kind));
    }
  }
  const message = trainer.estimate(p, total);
  await writePackedAtomic(join(job.outDir, PASS_STATE_FILE), packTrainerState(trainer));
  const line = p.kind === 'iter' ? `${iterationLabel(p)}: ${message}` : message;
  job.logger.info(line);
  return line;
}

/** The trained chain from the last pass's merge directory (what the common job writes out). */
export async function finishChainPasses(
  job: Pick<ChainPassJob, 'data' | 'lang' | 'o' | 'logger'>,
  stateDir: string,
): Promise<TrainedChain> {
  const { trainer } = await chainTrainer(job.data, job.lang, job.o);
  restoreState(trainer, stateDir);
  if (!trainer.finished)
    throw new FormatError('the GMM training has passes left', {
      file: join(stateDir, PASS_STATE_FILE),
      expected: `the state after all ${trainer.passes.length} passes`,
      found: `the state before pass ${trainer.state.next}`,
    });
  return trainedChain(trainer, job.data, job.logger);
}
