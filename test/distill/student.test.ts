import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { trainStudent, DISTILL_JSON } from '../../src/distill/student.ts';
import { loadEnsembleMember, writeSoftTargets, type EnsembleMember } from '../../src/distill/generate.ts';
import { SoftTargetFrameSource } from '../../src/distill/source.ts';
import { trainFrameClassifier, evaluateFrameAccuracy } from '../../src/nnet/train.ts';
import { SyntheticFrameSource } from '../../src/nnet/synthetic.ts';
import { scanSource } from '../../src/nnet/data.ts';
import { loadModelDir } from '../../src/nnet/io.ts';
import { ConfigError, FormatError } from '../../src/util/errors.ts';
import { captureLogger, tempDir } from './helpers.ts';
import { loadNativeEngine } from '../../src/nnet/native.ts';

const S = 8;
const shape = { featureDim: 13, numSenones: S, minFrames: 30, maxFrames: 80 };
const train = new SyntheticFrameSource({ ...shape, numUtterances: 40, dataSeed: 2, idPrefix: 'train' });
const dev = new SyntheticFrameSource({ ...shape, numUtterances: 12, dataSeed: 3, idPrefix: 'dev' });
const model = {
  numSenones: S,
  hiddenLayers: 1,
  hiddenUnits: 24,
  batchSize: 64,
  splice: { leftContext: 2, rightContext: 2 },
  schedule: 'constant' as const,
};

describe('student training on ensemble soft targets (teachers -> targets -> student)', () => {
  let dir = '';
  let targets = '';
  const teacherAccuracy: number[] = [];

  beforeAll(async () => {
    dir = tempDir();
    const members: EnsembleMember[] = [];
    const cmvn = (await scanSource(train, { numSenones: S })).cmvn;
    for (const seed of [0, 1]) {
      const r = await trainFrameClassifier({
        outDir: join(dir, `teacher-${seed}`),
        train,
        dev,
        backend: 'wasm',
        logger: captureLogger(),
        config: { ...model, seed, maxEpochs: 2 },
      });
      teacherAccuracy.push(r.bestAccuracy);
      members.push(await loadEnsembleMember(r.finalDir, { cmvn }));
    }
    targets = join(dir, 'targets', 'train.arrow');
    await writeSoftTargets({
      source: train,
      members,
      numSenones: S,
      output: targets,
      logger: captureLogger(),
      provenance: { alignmentConfigHash: 'synthetic', featureConfigHash: 'synthetic' },
      config: { temperature: 2, targetKeptMass: 0.99 },
    });
    members.forEach((m) => m.dispose?.());
  });

  it('trains a student with T^2 CE(soft) + w CE(hard) that learns the task, evaluated at T = 1', async () => {
    const src = await SoftTargetFrameSource.open(train, [targets]);
    const out = join(dir, 'student');
    const r = await trainStudent({
      outDir: out,
      train: src,
      dev,
      backend: 'wasm',
      logger: captureLogger(),
      config: { ...model, seed: 5, maxEpochs: 2 },
      loss: { hardWeight: 0.5 },
    });
    expect(r.history.length).toBe(2);
    expect(r.history[1].trainLoss).toBeLessThan(r.history[0].trainLoss);
    expect(r.bestAccuracy).toBeGreaterThan(0.5); // chance is 1/8
    for (const a of teacherAccuracy) expect(a).toBeGreaterThan(0.5);
    expect(r.distillation.loss).toMatchObject({ temperature: 2, hardWeight: 0.5, normalisation: 'sum' });
    expect(JSON.parse(readFileSync(join(out, DISTILL_JSON), 'utf8')).k).toBe(src.metadata.k);
    const { classifier, sidecar } = await loadModelDir(r.finalDir);
    const ev = await evaluateFrameAccuracy(classifier, dev, {
      cmvn: (await scanSource(dev, { numSenones: S })).cmvn,
      splice: sidecar.splice,
      numSenones: S,
    });
    expect(ev.accuracy).toBe(r.bestAccuracy);
    classifier.dispose();
    // Resuming the same directory with other distillation settings is refused.
    await expect(
      trainStudent({
        outDir: out,
        train: src,
        dev,
        backend: 'wasm',
        logger: captureLogger(),
        config: { ...model, seed: 5, maxEpochs: 2 },
        loss: { hardWeight: 0.1 },
      }),
    ).rejects.toThrow(/trained with other soft targets or loss settings/);
    await src.close();
  });

  it.skipIf(!loadNativeEngine().ok)(
    'trains the same student on the native engine as on wasm (loss and accuracy within float noise; needs the native engine)',
    async () => {
      const src = await SoftTargetFrameSource.open(train, [targets]);
      const run = (backend: 'wasm' | 'native') =>
        trainStudent({
          outDir: join(dir, `student-${backend}`),
          train: src,
          dev,
          backend,
          logger: captureLogger(),
          config: { ...model, seed: 5, maxEpochs: 2 },
          loss: { hardWeight: 0.5, temperature: 2, copiesHardWeight: 0.25, softTerm: 'kl' },
        });
      const w = await run('wasm');
      const n = await run('native');
      expect(n.backend.name).toBe('native');
      n.history.forEach((h, i) => {
        expect(h.trainLoss).toBeCloseTo(w.history[i].trainLoss, 3);
        expect(Math.abs(h.devAccuracy! - w.history[i].devAccuracy!)).toBeLessThan(0.01);
      });
      await src.close();
    },
  );

  it('refuses a student for another senone inventory or at another temperature', async () => {
    const src = await SoftTargetFrameSource.open(train, [targets]);
    const out = join(dir, 'student-bad');
    await expect(
      trainStudent({
        outDir: out,
        train: src,
        backend: 'wasm',
        logger: captureLogger(),
        config: { ...model, numSenones: S + 2 },
      }),
    ).rejects.toThrow(FormatError);
    await expect(
      trainStudent({
        outDir: out,
        train: src,
        backend: 'wasm',
        logger: captureLogger(),
        config: { ...model, numSenones: S + 2 },
      }),
    ).rejects.toThrow(
      /soft targets and student differ in senone inventory; expected 10 senones \(student config\), found 8 senones/,
    );
    await expect(
      trainStudent({
        outDir: out,
        train: src,
        backend: 'wasm',
        logger: captureLogger(),
        config: model,
        loss: { temperature: 1 },
      }),
    ).rejects.toThrow(ConfigError);
    expect(existsSync(out)).toBe(false);
    await src.close();
  });
});
