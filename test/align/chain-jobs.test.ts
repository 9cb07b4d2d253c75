/**
 * The GMM training chain in shards (issue 33 item 1; src/align/chain-jobs.ts): on a tiny synth
 * corpus, every pass of mono -> tri1 -> tri2b -> tri3b (init, iter, tree, lda, mllt, fmllr, si)
 * accumulated by 3 shard jobs gives, summed from their files, the in-process statistics byte for
 * byte, and the merges the in-process models; the merge refuses statistics that are missing or
 * belong to another pass, block or configuration.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareSynth } from '../../corpora/synth/index.ts';
import { computeFeatures, shardRange } from '../../src/features/compute.ts';
import { chainInputs, planAlignment, type AlignPlan } from '../../src/align/corpus.ts';
import { chainTrainer, trainChain } from '../../src/align/chain.ts';
import {
  accumulateChainPass,
  blockSourcePass,
  chainPasses,
  estimateChainPass,
  finishChainPasses,
  passStatsFile,
  type ChainPassJob,
} from '../../src/align/chain-jobs.ts';
import { GMM_TRAINING_BLOCKS } from '../../src/align/blocks.ts';
import { accumulateBlocks } from '../../src/hmm/train.ts';
import { addStats, type BlockState } from '../../src/hmm/trainer.ts';
import { unpackPassStats } from '../../src/hmm/pass-stats.ts';
import { modelToJson } from '../../src/hmm/model.ts';
import type { GmmHmmModel } from '../../src/hmm/train.ts';
import { packValue, readPacked } from '../../src/util/packed.ts';
import { FormatError } from '../../src/util/errors.ts';
import { quietLogger } from '../hmm/helpers.ts';

const SHARDS = 3;
let root: string;
let plan: AlignPlan;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'amd-chain-jobs-'));
  const dataDir = join(root, 'data');
  const featuresDir = join(root, 'features');
  await prepareSynth(dataDir, {
    numSpeakers: 3,
    utterancesPerSpeaker: 6,
    splits: { train: 2, dev: 1 },
    seed: 5,
    logger: quietLogger,
  });
  await computeFeatures({ dataDir, split: 'train', outDir: featuresDir, logger: quietLogger });
  plan = await planAlignment({
    dataDir,
    featuresDir,
    outDir: join(root, 'align'),
    splits: ['train'],
    lastModel: 'tri3b',
    numLeaves: 30,
    minLeafOccupancy: 5,
    monoIters: 4,
    monoGaussians: 60,
    triIters: 3,
    triGaussians: 60,
    adaptedIters: 3,
    seed: 2,
    logger: quietLogger,
  });
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const passDir = (pass: number, name: string) => join(root, 'passes', `pass-${pass}`, name);

function job(pass: number): ChainPassJob {
  return {
    ...chainInputs(plan),
    pass,
    stateDir: pass > 0 ? passDir(pass - 1, 'merge') : null,
    configHash: plan.configHash,
    outDir: passDir(pass, 'merge'),
    logger: quietLogger,
  };
}

/** Shard `index` of pass `pass` into its directory (as `am-distill job align --pass p --shard i/3`). */
async function accumulate(pass: number, index: number): Promise<void> {
  const outDir = passDir(pass, `${index}`);
  mkdirSync(outDir, { recursive: true });
  const src = blockSourcePass(chainPasses(chainInputs(plan).o), pass);
  await accumulateChainPass(
    { ...job(pass), outDir },
    { index, count: SHARDS },
    src === null ? null : passDir(src, `${index}`),
  );
}

const shardsOf = (pass: number) =>
  Array.from({ length: SHARDS }, (_, index) => ({
    dir: passDir(pass, `${index}`),
    blocks: shardRange(GMM_TRAINING_BLOCKS, { index, count: SHARDS }) as [number, number],
  }));

async function estimate(pass: number): Promise<string> {
  mkdirSync(passDir(pass, 'merge'), { recursive: true });
  return estimateChainPass(job(pass), shardsOf(pass));
}

const modelBytes = (m: GmmHmmModel | null) => (m ? JSON.stringify(modelToJson(m)) : 'none');

describe('the GMM training chain in shards', () => {
  it('sums the same statistics from the shards as in one process, pass by pass, and trains the same models', async () => {
    const c = chainInputs(plan);
    const passes = chainPasses(c.o);
    expect(new Set(passes.map((p) => p.kind))).toEqual(new Set(['init', 'iter', 'tree', 'lda', 'mllt', 'fmllr', 'si']));
    // In one process, pass by pass, beside the shards.
    const { trainer, blocks, source } = await chainTrainer(c.data, c.lang, c.o);
    expect(blocks.total).toBe(12);
    const states = new Map<number, BlockState>();
    const stateOf = (b: number) =>
      states.get(b) ??
      (states.set(b, { alignments: new Map(), trainable: new Set(), failures: new Map(), pdfsOf: '' }), states.get(b)!);
    for (const p of passes) {
      trainer.beginPass(p);
      for (const b of blocks.nonEmpty) trainer.beginBlock(p, stateOf(b));
      const total = trainer.newStats(p);
      await accumulateBlocks(trainer, p, source, blocks.nonEmpty, stateOf, (_b, s) => addStats(total, s));

      for (let i = 0; i < SHARDS; i++) await accumulate(p.index, i);
      const fromFiles = trainer.newStats(p);
      for (const sh of shardsOf(p.index))
        for (const f of readdirSync(sh.dir)
          .filter((x) => x.startsWith('stats-'))
          .sort())
          addStats(fromFiles, unpackPassStats((readPacked(join(sh.dir, f)) as { stats: unknown }).stats, p.kind));
      expect(packValue(fromFiles.pack()).equals(packValue(total.pack())), p.name).toBe(true);

      trainer.estimate(p, total);
      await estimate(p.index);
    }
    const sharded = await finishChainPasses({ ...c, logger: quietLogger }, passDir(passes.length - 1, 'merge'));
    const whole = await trainChain(c.data, c.lang, c.o, quietLogger);
    expect(modelBytes(sharded.model)).toBe(modelBytes(whole.model));
    expect(modelBytes(sharded.model)).toBe(modelBytes(trainer.state.model));
    expect(modelBytes(sharded.alignmentModel)).toBe(modelBytes(whole.alignmentModel));
    expect(JSON.stringify(sharded.transform!.toJSON())).toBe(JSON.stringify(whole.transform!.toJSON()));
    expect(packValue([...sharded.transform!.speakers]).equals(packValue([...whole.transform!.speakers]))).toBe(true);
    expect(JSON.stringify(sharded.summary)).toBe(JSON.stringify(whole.summary));
    expect(sharded.summary.models.map((m) => m.name)).toEqual(['mono', 'tri1', 'tri2b', 'tri3b']);
  }, 120_000);

  it('refuses statistics that are missing or of another pass, block or configuration, naming the file', async () => {
    const last = chainPasses(chainInputs(plan).o).length - 1;
    const dir = passDir(last, '1');
    const own = join(
      dir,
      readdirSync(dir).find((f) => f.startsWith('stats-'))!,
    );
    const block = Number(/stats-(\d+)/.exec(own)![1]);
    const saved = join(root, 'saved.pack');
    copyFileSync(own, saved);
    // Another pass's statistics of the same block.
    copyFileSync(join(passDir(last - 1, '1'), passStatsFile(block)), own);
    const err = await estimate(last).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(String(err)).toMatch(/statistics of another pass, block or configuration/);
    expect(String(err)).toContain(own);
    expect(String(err)).toContain(`pass ${last} block ${block}`);
    // Another configuration.
    copyFileSync(saved, own);
    await expect(estimateChainPass({ ...job(last), configHash: 'f'.repeat(64) }, shardsOf(last))).rejects.toThrow(
      /another pass, block or configuration/,
    );
    // Missing.
    rmSync(own);
    await expect(estimate(last)).rejects.toThrow(new RegExp(`statistics of block ${block} missing`));
    copyFileSync(saved, own);
    await expect(estimate(last)).resolves.toMatch(/speaker-independent/);
  }, 60_000);
});
