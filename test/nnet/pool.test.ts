import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { memberSeed, trainEnsemble, runTrainJobs, type TrainJob } from '../../src/nnet/pool.ts';
import { trainFrameClassifier } from '../../src/nnet/train.ts';
import { SyntheticFrameSource } from '../../src/nnet/synthetic.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { captureLogger, tempDir, TINY_DEV, TINY_MODEL, TINY_TRAIN } from './helpers.ts';

const trainOpts = { ...TINY_TRAIN, numUtterances: 20 };
const job: Omit<TrainJob, 'outDir'> = {
  train: { kind: 'synthetic', options: trainOpts },
  dev: { kind: 'synthetic', options: TINY_DEV },
  backend: 'wasm',
  config: { ...TINY_MODEL, hiddenUnits: 16, maxEpochs: 2, schedule: 'constant', seed: 5 },
};

describe('memberSeed', () => {
  it('gives seed replicates 1..20 with 10 members each 220 distinct net seeds (baselines included), the same every call', () => {
    const all: number[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      all.push(seed);
      for (let k = 1; k <= 10; k++) all.push(memberSeed(seed, k));
    }
    expect(new Set(all).size).toBe(all.length);
    expect(all.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 31)).toBe(true);
    expect(memberSeed(1, 1)).toBe(memberSeed(1, 1));
    expect(memberSeed(2, 1)).not.toBe(memberSeed(1, 2));
  });
});

describe('parallel ensemble training in worker threads', () => {
  it('trains K members with hashed seeds memberSeed(seed, k), each identical to the same training on the main thread', async () => {
    const outDir = tempDir();
    const logger = captureLogger();
    const results = await trainEnsemble({ members: 2, outDir, job, maxWorkers: 2, logger });
    expect(results.map((r) => r.finalDir)).toEqual([
      join(outDir, 'member-1', 'final'),
      join(outDir, 'member-2', 'final'),
    ]);
    expect(results.map((r) => r.sidecar.training?.seed)).toEqual([memberSeed(5, 1), memberSeed(5, 2)]);
    expect(results.every((r) => r.backend.name === 'wasm' && r.history.length === 2)).toBe(true);
    const w0 = readFileSync(join(outDir, 'member-1', 'final', 'weights.bin'));
    const w1 = readFileSync(join(outDir, 'member-2', 'final', 'weights.bin'));
    expect(w0.equals(w1)).toBe(false);
    // Worker log lines reach the parent, labelled per member.
    expect(logger.lines.some((l) => l.startsWith('[member 1] ') && l.includes('nnet backend: wasm'))).toBe(true);

    const mainDir = tempDir();
    await trainFrameClassifier({
      outDir: mainDir,
      train: new SyntheticFrameSource(trainOpts),
      dev: new SyntheticFrameSource(TINY_DEV),
      backend: 'wasm',
      config: { ...job.config, seed: memberSeed(5, 2) },
      logger: captureLogger(),
    });
    expect(readFileSync(join(mainDir, 'final', 'weights.bin')).equals(w1)).toBe(true);
  });

  it("rejects with the failing member's typed error", async () => {
    const outDir = tempDir();
    const bad: TrainJob = { ...job, outDir: join(outDir, 'bad'), config: { ...job.config, hiddenUnits: 0 } };
    const err = await runTrainJobs([bad], { maxWorkers: 1, labels: ['member 3'], logger: captureLogger() }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/^member 3: .*key 'hiddenUnits'.*expected an integer >= 1, found 0/);
  });

  it('validates the pool size', async () => {
    await expect(runTrainJobs([], { maxWorkers: 0 })).rejects.toThrow(/maxWorkers/);
    await expect(trainEnsemble({ members: 0, outDir: tempDir(), job })).rejects.toThrow(/members/);
  });
});
