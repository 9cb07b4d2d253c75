/**
 * The fixed blocks of the GMM training utterances (issue 33; docs/cluster.md, docs/decisions.md):
 * the training splits' feature files, in order, each in its file order (VTLP copies left out where
 * they inherit their source's alignment), cut into GMM_TRAINING_BLOCKS contiguous blocks, block b
 * holding utterances [floor(b M / B), floor((b + 1) M / B)) of M. Every pass of the GMM training
 * (src/hmm/trainer.ts) accumulates each block on its own and sums the blocks in block order, so
 * the models are the same bytes whether one process runs them all or shard jobs run some blocks
 * each: the blocks do not depend on the number of shards, and with more shards than blocks the
 * extra shards have nothing to do.
 */
import { FeatureFileReader } from '../features/store.ts';
import { isVtlpCopy } from '../features/perturb.ts';
import { shardRange } from '../features/compute.ts';
import { CorpusError } from '../util/errors.ts';
import type { SplitData } from './source.ts';

/** Blocks of the training utterances: the unit of the statistics' sums and of the training shards. */
export const GMM_TRAINING_BLOCKS = 32;

export interface TrainingSplitBlocks {
  data: SplitData;
  /** Its training utterances in file order, and their dictionary indices in the feature file. */
  ids: string[];
  indices: Int32Array;
  /** Position of its first utterance among all training utterances. */
  offset: number;
}

export interface TrainingBlocks {
  count: number;
  /** Training utterances in all. */
  total: number;
  /** VTLP copies were left out. */
  inherit: boolean;
  splits: TrainingSplitBlocks[];
  /** The block of the utterance at position `i`. */
  blockAt(i: number): number;
  /** Positions [start, end) of blocks [from, to). */
  positions(from: number, to: number): [number, number];
  /** Blocks that hold utterances, ascending. */
  nonEmpty: number[];
}

/** Cut `total` positions into `count` blocks. */
export function cutBlocks(
  total: number,
  count: number,
): Pick<TrainingBlocks, 'count' | 'total' | 'blockAt' | 'positions' | 'nonEmpty'> {
  const start = (b: number) => (b >= count ? total : shardRange(total, { index: b, count })[0]);
  const end = (b: number) => start(b + 1);
  const nonEmpty: number[] = [];
  for (let b = 0; b < count; b++) if (end(b) > start(b)) nonEmpty.push(b);
  return {
    count,
    total,
    // The last block whose start is at or before i: ceil((i + 1) B / M) - 1.
    blockAt: (i) => Math.ceil(((i + 1) * count) / total) - 1,
    positions: (from, to) => [start(from), to > from ? end(to - 1) : start(from)],
    nonEmpty,
  };
}

/** The blocks of the training splits' utterances, from their feature files' utterance lists. */
export async function trainingBlocks(
  splits: readonly SplitData[],
  inherit: boolean,
  count = GMM_TRAINING_BLOCKS,
): Promise<TrainingBlocks> {
  const out: TrainingSplitBlocks[] = [];
  const seen = new Map<string, string>();
  let offset = 0;
  for (const data of splits) {
    const reader = await FeatureFileReader.open(data.featuresPath, { mfcc: true });
    let all: readonly string[];
    try {
      all = reader.uttIds;
    } finally {
      await reader.close();
    }
    const warps = inherit ? data.featureMeta.vtlpWarps : [];
    const ids: string[] = [];
    const indices: number[] = [];
    all.forEach((id, index) => {
      if (isVtlpCopy(id, warps)) return;
      const other = seen.get(id);
      if (other !== undefined)
        throw new CorpusError('utterance id occurs in two training sets', {
          file: data.featuresPath,
          uttId: id,
          expected: 'unique utterance ids across the training corpora',
          found: `also in ${other}`,
        });
      seen.set(id, data.featuresPath);
      ids.push(id);
      indices.push(index);
    });
    out.push({ data, ids, indices: Int32Array.from(indices), offset });
    offset += ids.length;
  }
  return { ...cutBlocks(offset, count), inherit, splits: out };
}
