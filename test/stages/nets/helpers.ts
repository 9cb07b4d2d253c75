/** Helpers of the train tests: a tiny pipeline-layout corpus (features + align dirs) generated with a seeded Rng. */
import { expect } from 'vitest';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FeatureFileWriter, type FeatureConfig } from '../../../src/features/store.ts';
import { fbankOptions } from '../../../src/features/options.ts';
import { writeCmvnFile } from '../../../src/features/cmvn-file.ts';
import { AlignmentFileWriter } from '../../../src/align/store.ts';
import { SyntheticFrameSource, type SyntheticCorpusOptions } from '../../../src/nnet/synthetic.ts';
import { captureLogger, tempDir as sharedTempDir } from '../../helpers.ts';

export { captureLogger };

export const tempDir = (prefix = 'train-'): string => sharedTempDir(prefix);

/** The one float comparison of these tests. */
export function expectNear(actual: number, expected: number, tol: number, what = 'value'): void {
  if (!(Math.abs(actual - expected) <= tol))
    expect.fail(`${what}: ${actual} differs from ${expected} by more than ${tol}`);
}

export function featureConfig(dim: number, extra: Record<string, unknown> = {}): FeatureConfig {
  const fbank = fbankOptions({ numMelBins: dim, ...extra });
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

export interface TinyCorpusOptions {
  /** Feature config hash written into the feature files (and named by the alignments). */
  featureHash: string;
  /** Alignment config hash. */
  alignHash: string;
  /** Content of tree.json (the senone inventory's identity). */
  tree: string;
  numSenones: number;
  featureDim: number;
  /** Utterances per split. */
  splits: Record<string, number>;
  /** Fbank options that differ from Kaldi's defaults (another feature config). */
  fbank: Record<string, unknown>;
  /** VTLP-style copies per split: `vtlp<w>-<utt>` for each warp w, same labels, scaled features. */
  copies: Record<string, string[]>;
  /** Utterance length range in frames. */
  minFrames: number;
  maxFrames: number;
}

export const TINY_CORPUS: Readonly<TinyCorpusOptions> = Object.freeze({
  featureHash: 'feat-hash-1',
  alignHash: 'align-hash-1',
  tree: '{"tree": 1}',
  numSenones: 8,
  featureDim: 13,
  splits: Object.freeze({ train: 40, dev: 10, test: 10 }) as Record<string, number>,
  fbank: Object.freeze({}) as Record<string, unknown>,
  copies: Object.freeze({}) as Record<string, string[]>,
  minFrames: 30,
  maxFrames: 70,
});

/**
 * `<root>/features/<split>.arrow` + `<split>.cmvn.json` (utt2spk) and `<root>/align/<split>.arrow`
 * + tree.json + senones.json, as the features and align stages lay them out; utterances from
 * src/nnet's SyntheticFrameSource (Gaussian senones with speaker offsets), one data seed per split.
 */
export async function writeTinyCorpus(
  root: string,
  o: Partial<TinyCorpusOptions> = {},
): Promise<{ featuresDir: string; alignDir: string }> {
  const c = { ...TINY_CORPUS, ...o };
  const featuresDir = join(root, 'features'),
    alignDir = join(root, 'align');
  mkdirSync(featuresDir, { recursive: true });
  mkdirSync(alignDir, { recursive: true });
  writeFileSync(join(alignDir, 'tree.json'), c.tree);
  writeFileSync(join(alignDir, 'senones.json'), JSON.stringify({ numSenones: c.numSenones }));
  let seed = 10;
  for (const [split, n] of Object.entries(c.splits)) {
    const opts: Partial<SyntheticCorpusOptions> = {
      featureDim: c.featureDim,
      numSenones: c.numSenones,
      numUtterances: n,
      numSpeakers: 4,
      minFrames: c.minFrames,
      maxFrames: c.maxFrames,
      dataSeed: seed++,
      idPrefix: split,
      noise: 1.5,
    };
    const src = new SyntheticFrameSource(opts);
    const fw = await FeatureFileWriter.open(join(featuresDir, `${split}.arrow`), {
      configHash: c.featureHash,
      featureConfig: featureConfig(c.featureDim, c.fbank),
      split,
      vtlpWarps: (c.copies[split] ?? []).map(Number),
    });
    const aw = await AlignmentFileWriter.open(join(alignDir, `${split}.arrow`), {
      configHash: c.alignHash,
      featureConfigHash: c.featureHash,
      numSenones: c.numSenones,
      frameShiftMs: 10,
      phones: ['<eps>', 'SIL'],
      split,
    });
    const utt2spk = new Map<string, string>();
    for await (const u of src.utterances()) {
      fw.add(u.uttId, { numFrames: u.numFrames, dim: u.dim, data: u.feats });
      aw.add({
        uttId: u.uttId,
        senone: u.labels!,
        phone: new Int32Array(u.numFrames).fill(1),
        hmmState: new Int32Array(u.numFrames),
        word: new Int32Array(u.numFrames).fill(-1),
      });
      utt2spk.set(u.uttId, u.speaker!);
      for (const w of c.copies[split] ?? []) {
        const id = `vtlp${w}-${u.uttId}`;
        fw.add(id, { numFrames: u.numFrames, dim: u.dim, data: u.feats.map((x) => x * Number(w)) });
        aw.add({
          uttId: id,
          senone: u.labels!,
          phone: new Int32Array(u.numFrames).fill(1),
          hmmState: new Int32Array(u.numFrames),
          word: new Int32Array(u.numFrames).fill(-1),
        });
        utt2spk.set(id, `vtlp${w}-${u.speaker!}`);
      }
    }
    await fw.finish();
    await aw.finish();
    await writeCmvnFile(join(featuresDir, `${split}.cmvn.json`), {
      configHash: c.featureHash,
      split,
      shard: null,
      utt2spk,
      streams: new Map(),
    });
  }
  return { featuresDir, alignDir };
}

/** A tiny model and schedule: seconds per model on one core. */
export const TINY_TRAIN = Object.freeze({
  hiddenLayers: 1,
  hiddenUnits: 16,
  leftContext: 1,
  rightContext: 1,
  members: 2,
  maxEpochs: 2,
  batchSize: 64,
  schedule: 'constant' as const,
  learningRate: 0.003,
  maxWorkers: 2,
  backend: 'wasm' as const,
});
