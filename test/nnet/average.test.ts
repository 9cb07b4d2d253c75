import { describe, it, expect } from 'vitest';
import { readFileSync, rmSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { WeightAverager, AVERAGE_JSON } from '../../src/nnet/average.ts';
import {
  trainFrameClassifier,
  resolveTrainConfig,
  trainConfigHash,
  evaluateFrameAccuracy,
  type TrainOptions,
} from '../../src/nnet/train.ts';
import { SyntheticFrameSource } from '../../src/nnet/synthetic.ts';
import { scanSource } from '../../src/nnet/data.ts';
import { loadModelDir, readSidecar } from '../../src/nnet/io.ts';
import { ModelError } from '../../src/nnet/errors.ts';
import { ConfigError } from '../../src/util/errors.ts';
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

const floats = (file: string) => {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

describe('weight averager', () => {
  it('holds the running mean of the weights it is shown, and restores it from its saved state', async () => {
    await initBackend({ backend: 'wasm', logger: captureLogger() });
    const w: tf.Variable[] = [
      tf.variable(
        tf.tensor2d([
          [1, 2],
          [3, 4],
        ]),
      ),
      tf.variable(tf.tensor1d([10, -10])),
    ];
    const avg = new WeightAverager(w);
    const steps = [
      [
        [1, 2, 3, 4],
        [10, -10],
      ],
      [
        [3, 2, 1, 0],
        [0, 0],
      ],
      [
        [5, 8, -1, 2],
        [2, 4],
      ],
    ];
    for (const [k, b] of steps) {
      w[0].assign(tf.tensor2d(k, [2, 2]));
      w[1].assign(tf.tensor1d(b));
      avg.update(w, 5);
    }
    expect(avg.updates).toBe(3);
    expect(avg.fromEpoch).toBe(5);
    const saved = avg.saveState();
    avg.assignTo(w);
    expectRelClose(w[0].dataSync(), [3, 4, 1, 2], 1e-6, 'kernel mean');
    expectRelClose(w[1].dataSync(), [4, -2], 1e-6, 'bias mean');

    const back = new WeightAverager(w);
    back.loadState(saved.header, saved.data, 'x/average.bin');
    w[0].assign(tf.zeros([2, 2]));
    back.assignTo(w);
    expectRelClose(w[0].dataSync(), [3, 4, 1, 2], 1e-6, 'restored mean');
    expect(back.updates).toBe(3);

    const other = new WeightAverager([w[0]]);
    expect(() => other.loadState(saved.header, saved.data, 'ckpt/average.bin')).toThrow(ModelError);
    expect(() => other.loadState(saved.header, saved.data, 'ckpt/average.bin')).toThrow(
      /ckpt\/average\.bin: weight average does not fit this model/,
    );
    expect(() => back.loadState(saved.header, saved.data.subarray(0, 8), 'ckpt/average.bin')).toThrow(/truncated/);
    expect(() => other.assignTo([w[0]])).toThrow(/no weights averaged yet/);
    [avg, back, other].forEach((a) => a.dispose());
    tf.dispose(w);
  });
});

describe('training with weight averaging (averageFromEpoch)', () => {
  it('makes final/ the mean of the weights after each step from that epoch on (one step per epoch: the mean of two checkpoints)', async () => {
    const dir = tempDir();
    const seen = tempDir();
    // One minibatch per epoch (the whole corpus), so the averaged steps are the epoch ends.
    const r = await trainFrameClassifier(
      opts(
        dir,
        {
          onEpochEnd: (rep) => {
            mkdirSync(join(seen, String(rep.epoch)), { recursive: true });
            copyFileSync(
              join(dir, 'checkpoints', `epoch-000${rep.epoch}`, 'weights.bin'),
              join(seen, String(rep.epoch), 'weights.bin'),
            );
          },
        },
        { batchSize: 100_000, averageFromEpoch: 2, optimizer: { learningRate: 0.01 } },
      ),
    );
    expect(r.averaged).toMatchObject({ fromEpoch: 2, toEpoch: 3, updates: 2 });
    const w2 = floats(join(seen, '2', 'weights.bin')),
      w3 = floats(join(seen, '3', 'weights.bin'));
    const mean = w2.map((v, i) => (v + w3[i]) / 2);
    expectRelClose(floats(join(dir, 'final', 'weights.bin')), mean, 1e-6, 'final = mean of epochs 2 and 3');
    expect(floats(join(dir, 'final', 'weights.bin'))).not.toEqual(w3);
    // Its dev accuracy is the averaged model's, recorded in the sidecar next to the best epoch's.
    const sidecar = await readSidecar(join(dir, 'final'));
    expect(sidecar.training?.averaged).toEqual(r.averaged);
    const { classifier } = await loadModelDir(join(dir, 'final'));
    const devScan = await scanSource(dev, { numSenones: 8 });
    const ev = await evaluateFrameAccuracy(classifier, dev, {
      cmvn: devScan.cmvn,
      splice: sidecar.splice,
      numSenones: 8,
      batchSize: 100_000,
    });
    classifier.dispose();
    expect(r.averaged!.devAccuracy).toBe(ev.accuracy);
  });

  it('averages every step (not only epoch ends), and a run resumed after a crash ends with the same bytes', async () => {
    const dirA = tempDir(),
      dirB = tempDir();
    const a = await trainFrameClassifier(opts(dirA, {}, { averageFromEpoch: 2 }));
    const stepsPerEpoch = (e: number) => Math.ceil(a.history[e - 1].frames / TINY_MODEL.batchSize);
    expect(a.averaged!.updates).toBe(stepsPerEpoch(2) + stepsPerEpoch(3));
    expect(a.averaged!.updates).toBeGreaterThan(2);
    const crash = new Error('simulated crash');
    await expect(
      trainFrameClassifier(
        opts(
          dirB,
          {
            onEpochEnd: (r) => {
              if (r.epoch === 2) throw crash;
            },
          },
          { averageFromEpoch: 2 },
        ),
      ),
    ).rejects.toBe(crash);
    const b = await trainFrameClassifier(opts(dirB, {}, { averageFromEpoch: 2 }));
    expect(b.resumedAfterEpoch).toBe(2);
    expect(b.averaged).toEqual(a.averaged);
    expect(
      readFileSync(join(dirB, 'final', 'weights.bin')).equals(readFileSync(join(dirA, 'final', 'weights.bin'))),
    ).toBe(true);

    // A checkpoint that lost its average cannot be resumed into an averaged model.
    rmSync(join(dirB, 'checkpoints', 'epoch-0003', AVERAGE_JSON));
    const err = await trainFrameClassifier(opts(dirB, {}, { averageFromEpoch: 2, maxEpochs: 4 })).catch((e) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect(err.message).toMatch(/epoch-0003\/average\.json: the checkpoint has no weight average/);
  });

  it('checks the start epoch, and leaves the config hash of runs without it unchanged', async () => {
    expect(() => resolveTrainConfig({ ...TINY_MODEL, maxEpochs: 3, averageFromEpoch: 4 })).toThrow(ConfigError);
    expect(() => resolveTrainConfig({ ...TINY_MODEL, maxEpochs: 3, averageFromEpoch: 0 })).toThrow(
      /averageFromEpoch.*1\.\.maxEpochs \(3\)/,
    );
    const plain = trainConfigHash(resolveTrainConfig({ ...TINY_MODEL }));
    expect(trainConfigHash(resolveTrainConfig({ ...TINY_MODEL, averageFromEpoch: undefined }))).toBe(plain);
    expect(trainConfigHash(resolveTrainConfig({ ...TINY_MODEL, averageFromEpoch: 2 }))).not.toBe(plain);
  });
});
