import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync, existsSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  trainFrameClassifier,
  scheduleAfterEpoch,
  evaluateFrameAccuracy,
  utteranceLogits,
  DEFAULT_TRAIN_CONFIG,
  type ScheduleState,
  type TrainOptions,
} from '../../src/nnet/train.ts';
import { SyntheticFrameSource } from '../../src/nnet/synthetic.ts';
import { scanSource } from '../../src/nnet/data.ts';
import { loadModelDir, checkCompatible, readSidecar } from '../../src/nnet/io.ts';
import { ModelError } from '../../src/nnet/errors.ts';
import { ConfigError, FormatError, NumericError } from '../../src/util/errors.ts';
import { initBackend } from '../../src/nnet/backend.ts';
import { captureLogger, expectRelClose, tempDir, TINY_DEV, TINY_MODEL, TINY_TRAIN } from './helpers.ts';

const train = new SyntheticFrameSource(TINY_TRAIN);
const dev = new SyntheticFrameSource(TINY_DEV);

function opts(
  outDir: string,
  extra: Partial<TrainOptions> = {},
  config: Partial<TrainOptions['config']> = {},
): TrainOptions {
  return {
    outDir,
    train,
    dev,
    backend: 'wasm',
    logger: captureLogger(),
    ...extra,
    config: { ...TINY_MODEL, maxEpochs: 3, schedule: 'constant', ...config },
  };
}

const bytes = (dir: string, file: string) => readFileSync(join(dir, file));

describe('training a frame classifier', () => {
  let dirA: string;
  let resultA: Awaited<ReturnType<typeof trainFrameClassifier>>;

  beforeAll(async () => {
    dirA = tempDir();
    resultA = await trainFrameClassifier(opts(dirA));
  });

  it('learns the synthetic senones far above chance and keeps the best epoch in final/', async () => {
    expect(resultA.history.length).toBe(3);
    expect(resultA.stopReason).toBe('max-epochs');
    expect(resultA.bestAccuracy).toBeGreaterThan(0.6); // chance is 1/8
    expect(resultA.history[2].trainLoss).toBeLessThan(resultA.history[0].trainLoss);
    expect(readdirSync(join(dirA, 'final')).sort()).toEqual(['model.json', 'sidecar.json', 'weights.bin']);
    // Only the newest and the best checkpoints are kept.
    expect(readdirSync(join(dirA, 'checkpoints'))).toContain(`epoch-000${resultA.bestEpoch}`);
    expect(readdirSync(join(dirA, 'checkpoints')).length).toBeLessThanOrEqual(2);
  });

  it('writes a sidecar with the senone inventory, splice window, CMVN and priors', async () => {
    const s = await readSidecar(join(dirA, 'final'));
    expect(s.shape).toEqual({ inputDim: 13 * 5, hiddenLayers: 2, hiddenUnits: 24, numSenones: 8 });
    expect(s.senones.numSenones).toBe(8);
    expect(s.splice).toEqual({ leftContext: 2, rightContext: 2 });
    expect(s.featureDim).toBe(13);
    expect(s.cmvn).toEqual({ mode: 'speaker', normVars: true });
    const scan = await scanSource(train, { numSenones: 8 });
    const total = scan.senoneCounts.reduce((a, b) => a + b, 0);
    expectRelClose(
      s.priors,
      Array.from(scan.senoneCounts, (c) => (c + 1) / (total + 8)),
      1e-12,
      'priors',
    );
    expect(s.training?.bestEpoch).toBe(resultA.bestEpoch);
  });

  it('saves a model that loads back with the same dev accuracy, and logits whose softmax is the saved output', async () => {
    const { classifier, sidecar } = await loadModelDir(join(dirA, 'final'));
    const devScan = await scanSource(dev, { numSenones: 8 });
    const ev = await evaluateFrameAccuracy(classifier, dev, {
      cmvn: devScan.cmvn,
      splice: sidecar.splice,
      numSenones: 8,
    });
    expect(ev.accuracy).toBe(resultA.bestAccuracy);
    const u = dev.utterance(0);
    const z = utteranceLogits(classifier, u, { cmvn: devScan.cmvn, splice: sidecar.splice, batchSize: 7 });
    expect(z.length).toBe(u.numFrames * 8);
    const fromLogits = tf.tidy(() => tf.softmax(tf.tensor2d(z, [u.numFrames, 8])).dataSync());
    // The saved model's own output (softmax layer) on the same spliced frames.
    const rows: number[][] = [];
    const feats = devScan.cmvn.apply(u);
    for (let t = 0; t < u.numFrames; t++) {
      const r: number[] = [];
      for (let j = -2; j <= 2; j++) {
        const f = Math.min(u.numFrames - 1, Math.max(0, t + j));
        r.push(...feats.subarray(f * 13, (f + 1) * 13));
      }
      rows.push(r);
    }
    const post = tf.tidy(() => (classifier.model.predict(tf.tensor2d(rows)) as tf.Tensor).dataSync());
    expectRelClose(fromLogits, post, 1e-5, 'softmax(logits) vs model output');
    const t2 = tf.tidy(() => classifier.posteriors(tf.tensor2d(rows), 2).dataSync());
    const soft = tf.tidy(() => tf.softmax(tf.div(tf.tensor2d(z, [u.numFrames, 8]), 2)).dataSync());
    expectRelClose(t2, soft, 1e-5, 'posteriors at T = 2');
    classifier.dispose();
  });

  it('resumes after a crash to exactly the weights of an uninterrupted run (same seed)', async () => {
    const dirB = tempDir();
    const crash = new Error('simulated crash');
    await expect(
      trainFrameClassifier(
        opts(dirB, {
          onEpochEnd: (r) => {
            if (r.epoch === 2) throw crash;
          },
        }),
      ),
    ).rejects.toBe(crash);
    expect(existsSync(join(dirB, 'checkpoints', 'epoch-0002'))).toBe(true);
    expect(existsSync(join(dirB, 'final'))).toBe(false);
    const resumed = await trainFrameClassifier(opts(dirB));
    expect(resumed.resumedAfterEpoch).toBe(2);
    for (const f of ['weights.bin', 'optimizer.bin', 'model.json']) {
      expect(
        bytes(join(dirB, 'checkpoints', 'epoch-0003'), f).equals(bytes(join(dirA, 'checkpoints', 'epoch-0003'), f)),
        f,
      ).toBe(true);
    }
    expect(bytes(join(dirB, 'final'), 'weights.bin').equals(bytes(join(dirA, 'final'), 'weights.bin'))).toBe(true);
    const strip = (h: typeof resumed.history) =>
      h.map(({ seconds: _a, framesPerSecond: _b, rssBytes: _c, feedSeconds: _d, computeSeconds: _e, ...rest }) => rest);
    expect(strip(resumed.history)).toEqual(strip(resultA.history));
  });

  it('does nothing for a finished run, continues when maxEpochs grows, and refuses a changed config', async () => {
    const again = await trainFrameClassifier(opts(dirA));
    expect(again.resumedAfterEpoch).toBe(3);
    expect(again.history.length).toBe(3);
    const more = await trainFrameClassifier(opts(dirA, {}, { maxEpochs: 4 }));
    expect(more.resumedAfterEpoch).toBe(3);
    expect(more.history.length).toBe(4);
    const err = await trainFrameClassifier(opts(dirA, {}, { hiddenUnits: 25, maxEpochs: 4 })).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/state\.json.*different config/);
  });

  it('gives different weights for a different seed', async () => {
    const dirC = tempDir();
    await trainFrameClassifier(opts(dirC, {}, { seed: 1, maxEpochs: 1 }));
    const dirD = tempDir();
    await trainFrameClassifier(opts(dirD, {}, { seed: 0, maxEpochs: 1 }));
    expect(bytes(join(dirC, 'final'), 'weights.bin').equals(bytes(join(dirD, 'final'), 'weights.bin'))).toBe(false);
  });
});

describe('training failures', () => {
  it('stops on a non-finite loss with a NumericError naming the batch, leaving earlier checkpoints intact', async () => {
    const dir = tempDir();
    const err = await trainFrameClassifier(
      opts(dir, {}, { optimizer: { kind: 'sgd', learningRate: 1e6, momentum: 0.9 }, maxEpochs: 2 }),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(NumericError);
    expect(err.code).toBe('E_NUMERIC');
    expect(err.message).toMatch(/training loss is not finite at epoch 1, batch \d+ \(64 frames of train-\d+, /);
    expect(err.found === 'NaN' || err.found === 'Infinity').toBe(true);
    expect(existsSync(join(dir, 'checkpoints', 'epoch-0001'))).toBe(false);
  });

  it('rejects unknown options and bad values as config errors', async () => {
    const dir = tempDir();
    await expect(trainFrameClassifier(opts(dir, {}, { hiddenUnitz: 3 } as never))).rejects.toThrow(
      /key 'hiddenUnitz'.*unknown training option/,
    );
    await expect(
      trainFrameClassifier(opts(dir, {}, { optimizer: { kind: 'adam', learningRate: -1 } })),
    ).rejects.toThrow(ConfigError);
    await expect(trainFrameClassifier(opts(dir, {}, { optimizer: { kind: 'rmsprop' as never } }))).rejects.toThrow(
      /optimizer.kind/,
    );
  });
});

describe('newbob schedule and early stopping', () => {
  const cfg = { ...DEFAULT_TRAIN_CONFIG, minEpochs: 2, maxEpochs: 20, earlyStopPatience: 3 };
  const s0: ScheduleState = {
    epoch: 0,
    learningRate: 0.1,
    halving: false,
    bestEpoch: 0,
    bestMetric: -Infinity,
    epochsSinceBest: 0,
    stopReason: null,
  };

  it('keeps the rate while dev accuracy improves by at least the start threshold', () => {
    const s1 = scheduleAfterEpoch(s0, 1, 0.4, cfg);
    const s2 = scheduleAfterEpoch(s1, 2, 0.45, cfg);
    expect([s1.learningRate, s2.learningRate, s2.halving, s2.bestEpoch]).toEqual([0.1, 0.1, false, 2]);
  });

  it('halves from the first small improvement on, and stops when halving no longer helps', () => {
    const s1 = scheduleAfterEpoch(s0, 1, 0.4, cfg);
    const s2 = scheduleAfterEpoch(s1, 2, 0.403, cfg); // +0.3 % < 0.5 %: start halving
    expect([s2.halving, s2.learningRate, s2.stopReason]).toEqual([true, 0.05, null]);
    const s3 = scheduleAfterEpoch(s2, 3, 0.41, cfg); // still halving even with a good gain
    expect([s3.learningRate, s3.stopReason]).toEqual([0.025, null]);
    const s4 = scheduleAfterEpoch(s3, 4, 0.4102, cfg); // +0.02 % < 0.05 % while halving: stop
    expect(s4.stopReason).toBe('newbob');
    expect(s4.bestEpoch).toBe(4);
  });

  it("calls a stop at the last epoch 'max-epochs' even when the newbob stop rule also holds there", () => {
    const c = { ...cfg, maxEpochs: 4, minEpochs: 2 };
    let s = scheduleAfterEpoch(s0, 1, 0.4, c);
    s = scheduleAfterEpoch(s, 2, 0.401, c); // start halving
    s = scheduleAfterEpoch(s, 3, 0.41, c);
    expect(s.stopReason).toBeNull();
    s = scheduleAfterEpoch(s, 4, 0.39, c); // worse at the last epoch
    expect(s.stopReason).toBe('max-epochs');
  });

  it('stops early after `earlyStopPatience` epochs without a new best', () => {
    let s = scheduleAfterEpoch(s0, 1, 0.5, { ...cfg, schedule: 'constant' });
    for (let e = 2; e <= 4; e++) s = scheduleAfterEpoch(s, e, 0.49, { ...cfg, schedule: 'constant' });
    expect([s.stopReason, s.bestEpoch, s.epochsSinceBest, s.learningRate]).toEqual(['early-stop', 1, 3, 0.1]);
  });
});

describe('model directories', () => {
  let dir: string;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
    dir = tempDir();
    await trainFrameClassifier(
      opts(
        dir,
        {},
        { maxEpochs: 1, senoneInventory: { id: 'tree-abc' }, featureConfig: { numMelBins: 13, frameShiftMs: 10 } },
      ),
    );
  });

  it('refuse a truncated weights file, naming it', async () => {
    const d = join(dir, 'final');
    const w = bytes(d, 'weights.bin');
    writeFileSync(join(d, 'weights.bin'), w.subarray(0, w.length - 4));
    const err = await loadModelDir(d).catch((e) => e);
    writeFileSync(join(d, 'weights.bin'), w);
    expect(err).toBeInstanceOf(ModelError);
    expect(err.message).toMatch(
      /weights\.bin: weights file size does not match the manifest.*expected \d+ bytes, found \d+ bytes/,
    );
  });

  it('refuse a directory that is not a model', async () => {
    await expect(loadModelDir(tempDir())).rejects.toThrow(/sidecar\.json: cannot read model sidecar/);
  });

  it('check senone inventory, feature config and splice window against the data (teacher/student mismatch)', async () => {
    const s = await readSidecar(join(dir, 'final'));
    expect(() =>
      checkCompatible(
        s,
        {
          senones: { numSenones: 8, id: 'tree-abc' },
          featureConfig: { frameShiftMs: 10, numMelBins: 13 },
          featureDim: 13,
          splice: { leftContext: 2, rightContext: 2 },
        },
        'same',
      ),
    ).not.toThrow();
    const bad = () =>
      checkCompatible(
        s,
        {
          senones: { numSenones: 9, id: 'tree-xyz' },
          featureConfig: { numMelBins: 40, frameShiftMs: 10 },
          splice: { leftContext: 5, rightContext: 5 },
        },
        'teacher vs student',
      );
    expect(bad).toThrow(FormatError);
    expect(bad).toThrow(
      /teacher vs student.*senone count 8 vs 9; senone inventory tree-abc vs tree-xyz; feature config .* vs .*; splice window -2\/\+2 vs -5\/\+5/,
    );
  });
});
