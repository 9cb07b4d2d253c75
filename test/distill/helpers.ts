/** Shared helpers of the distill tests: the float comparison, temp dirs, a quiet logger, Arrow fixtures. */
import { expect } from 'vitest';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { RecordBatchFileWriter, Schema, tableFromIPC, type Table } from 'apache-arrow';
import { Rng } from '../../src/util/rng.ts';
import { FeatureFileWriter, type FeatureConfig } from '../../src/features/store.ts';
import { fbankOptions } from '../../src/features/options.ts';
import { AlignmentFileWriter } from '../../src/align/store.ts';
import type { Utterance } from '../../src/nnet/data.ts';
import { captureLogger, tempDir as sharedTempDir } from '../helpers.ts';

/** The one float comparison of these tests: max |actual - expected| <= tol, with a readable failure. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what = 'values',
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1,
    worstD = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worstD)) {
      worstD = Number.isNaN(d) ? Infinity : d;
      worst = i;
    }
  }
  if (!(worstD <= tol))
    expect.fail(
      `${what}: max abs difference ${worstD} > ${tol} (at index ${worst}: ${actual[worst]} vs ${expected[worst]})`,
    );
}

export { captureLogger };

export const tempDir = (prefix = 'distill-'): string => sharedTempDir(prefix);

/** Random logits, rows x cols, N(0, scale^2). */
export function randomLogits(rng: Rng, rows: number, cols: number, scale = 1): Float32Array {
  return Float32Array.from({ length: rows * cols }, () => scale * rng.gauss());
}

export function featureConfig(dim: number): FeatureConfig {
  const fbank = fbankOptions({ numMelBins: dim });
  return {
    sampleRateHz: 16000,
    frameShiftMs: fbank.frameShiftMs,
    frameLengthMs: fbank.frameLengthMs,
    numMelBins: dim,
    fbankDim: dim,
    mfccDim: null,
    fbank,
    mfcc: null,
  };
}

/** Feature and alignment files of utterances (as the features and align stages write them). */
export async function writeArrowCorpus(
  dir: string,
  utts: readonly Utterance[],
  opts: { numSenones: number; featureHash?: string; alignHash?: string; name?: string },
): Promise<{ features: string; alignments: string }> {
  const name = opts.name ?? 'train';
  const features = join(dir, `${name}.feats.arrow`);
  const alignments = join(dir, `${name}.ali.arrow`);
  const featureHash = opts.featureHash ?? 'feature-hash-1';
  const fw = await FeatureFileWriter.open(features, {
    configHash: featureHash,
    featureConfig: featureConfig(utts[0].dim),
    split: name,
  });
  for (const u of utts) fw.add(u.uttId, { numFrames: u.numFrames, dim: u.dim, data: u.feats });
  await fw.finish();
  const aw = await AlignmentFileWriter.open(alignments, {
    configHash: opts.alignHash ?? 'align-hash-1',
    featureConfigHash: featureHash,
    numSenones: opts.numSenones,
    frameShiftMs: 10,
    phones: ['<eps>', 'SIL'],
    split: name,
  });
  for (const u of utts) {
    const n = u.numFrames;
    aw.add({
      uttId: u.uttId,
      senone: u.labels!,
      phone: new Int32Array(n).fill(1),
      hmmState: new Int32Array(n),
      word: new Int32Array(n).fill(-1),
    });
  }
  await aw.finish();
  return { features, alignments };
}

/** Rewrite an Arrow file through arrow-js with another batching, schema metadata or column bytes; returns `dst`. */
export function rewriteArrow(
  src: string,
  dst: string,
  opts: { batchRows?: number; metadata?: (m: Map<string, string>) => void; mutate?: (t: Table) => void } = {},
): string {
  const table = tableFromIPC(readFileSync(src));
  opts.mutate?.(table);
  const md = new Map(table.schema.metadata);
  opts.metadata?.(md);
  const writer = new RecordBatchFileWriter();
  writer.reset(undefined, new Schema(table.schema.fields, md));
  for (const rb of table.batches) {
    const step = opts.batchRows ?? rb.numRows;
    for (let s = 0; s < rb.numRows; s += step) writer.write(rb.slice(s, Math.min(rb.numRows, s + step)));
  }
  writer.finish();
  writeFileSync(dst, writer.toUint8Array(true));
  return dst;
}
