/**
 * The alignment chain mono -> tri1 -> tri2b (LDA+MLLT) -> tri3b (SAT) on a tiny synth corpus:
 * every stage summarised, the transforms' auxiliary functions increase, the label quality of every
 * split against the synthesiser's word timings, and the saved model (transform + speaker-independent
 * alignment model) aligns another run's split to the same bytes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareSynth } from '../../corpora/synth/index.ts';
import { computeFeatures } from '../../src/features/compute.ts';
import { alignCorpus, type AlignCorpusOptions, type AlignCorpusResult } from '../../src/align/corpus.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { readAlignmentFile } from '../../src/align/store.ts';
import { quietLogger } from '../hmm/helpers.ts';

let root: string;
let dataDir: string;
let featuresDir: string;
let tri3: AlignCorpusResult;
let tri1: AlignCorpusResult;

const opts = (outDir: string, lastModel: AlignCorpusOptions['lastModel']): AlignCorpusOptions => ({
  dataDir,
  featuresDir,
  outDir,
  lastModel,
  numLeaves: 60,
  minLeafOccupancy: 10,
  monoIters: 15,
  monoGaussians: 150,
  triIters: 12,
  triGaussians: 150,
  adaptedIters: 12,
  seed: 3,
  logger: quietLogger,
});

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'amd-chain-'));
  dataDir = join(root, 'data');
  featuresDir = join(root, 'features');
  await prepareSynth(dataDir, {
    numSpeakers: 5,
    utterancesPerSpeaker: 12,
    splits: { train: 3, dev: 1, test: 1 },
    seed: 7,
    logger: quietLogger,
  });
  for (const split of ['train', 'dev', 'test'])
    await computeFeatures({ dataDir, split, outDir: featuresDir, logger: quietLogger });
  tri1 = await alignCorpus(opts(join(root, 'tri1'), 'tri1'));
  tri3 = await alignCorpus(opts(join(root, 'tri3b'), 'tri3b'));
}, 240_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('alignment chain mono -> tri1 -> tri2b -> tri3b', () => {
  it('trains every stage of the chain and summarises each', () => {
    const models = tri3.summary.training!.models;
    expect(models.map((m) => m.name)).toEqual(['mono', 'tri1', 'tri2b', 'tri3b']);
    expect(tri1.summary.training!.models.map((m) => m.name)).toEqual(['mono', 'tri1']);
    const [, , tri2b, tri3b] = models;
    // LDA to 40 dimensions from 7 spliced frames of 13 MFCCs, then MLLT updates that each raise the auxiliary function.
    expect(tri2b.transforms!.lda).toMatchObject({ dim: 40, inDim: 91 });
    expect(tri2b.transforms!.updates.map((u) => u.iter)).toEqual([2, 4, 6]);
    for (const u of tri2b.transforms!.updates) expect(u.gainPerFrame).toBeGreaterThan(0);
    // fMLLR: the initial estimate (iteration 0) and re-estimates, for the 3 training speakers.
    expect(tri3b.transforms!.updates.map((u) => u.iter)).toEqual([0, 2, 4, 6]);
    for (const u of tri3b.transforms!.updates) {
      expect(u.speakers).toBe(3);
      expect(u.gainPerFrame).toBeGreaterThanOrEqual(0);
    }
    expect(tri3b.transforms!.updates[0].gainPerFrame).toBeGreaterThan(0);
    // In the LDA+MLLT space the frames are far more likely than with deltas (40 vs 39 dims, whitened).
    expect(tri2b.logLikePerFrame).toBeGreaterThan(models[1].logLikePerFrame);
    for (const f of ['transform.json', 'alignment-model.json'])
      expect(existsSync(join(root, 'tri3b', f)), f).toBe(true);
    expect(existsSync(join(root, 'tri1', 'transform.json'))).toBe(false);
  });

  it('aligns every split with per-speaker fMLLR from a first pass, and scores it against the reference timings', () => {
    for (const split of ['train', 'dev', 'test']) {
      const s = tri3.summary.splits[split];
      expect(s.failed, split).toBe(0);
      expect(s.speakerAdaptation!.speakers, split).toBe(split === 'train' ? 3 : 1);
      expect(s.speakerAdaptation!.updated, split).toBe(s.speakerAdaptation!.speakers);
      expect(s.labelQuality!.boundariesWithin50ms, split).toBeGreaterThan(80);
      expect(s.labelQuality!.startsWithin50ms, split).toBeGreaterThan(80);
      expect(s.labelQuality!.silenceOutsidePauses, split).toBeLessThan(10);
      expect(tri1.summary.splits[split].speakerAdaptation).toBeUndefined();
      expect(tri1.summary.splits[split].labelQuality, split).toBeDefined();
    }
  });

  it("aligns with a saved tri3b model directory (transform and alignment model) to the training run's labels", async () => {
    const out = join(root, 'reuse');
    const r = await alignCorpus({
      dataDir,
      featuresDir,
      outDir: out,
      modelDir: join(root, 'tri3b'),
      splits: ['test'],
      logger: quietLogger,
    });
    expect(r.summary.splits.test.speakerAdaptation!.updated).toBe(1);
    const labels = async (f: string) => {
      const out: string[] = [];
      for await (const a of readAlignmentFile(f)) out.push(`${a.uttId} ${Array.from(a.senone).join(',')}`);
      return out;
    };
    const again = await labels(join(out, 'test.arrow'));
    expect(again.length).toBeGreaterThan(0);
    expect(again).toEqual(await labels(join(root, 'tri3b', 'test.arrow')));
  });

  it('refuses an unknown last model', async () => {
    await expect(alignCorpus({ ...opts(join(root, 'bad'), 'tri4' as never) })).rejects.toThrow(ConfigError);
    await expect(alignCorpus({ ...opts(join(root, 'bad'), 'tri4' as never) })).rejects.toThrow(/lastModel/);
  });
});
