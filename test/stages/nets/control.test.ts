/**
 * The distill stage's control (issue 29 item 4): the main student's training (transfer set with the
 * VTLP copies, learning rate, schedule, seed) with hard-label cross-entropy alone.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { trainAcousticModels } from '../../../src/stages/train.ts';
import { makeSoftTargetSets } from '../../../src/stages/targets.ts';
import { CONTROL_LOSS, distillStudents } from '../../../src/stages/distill.ts';
import { type StudentsFile } from '../../../src/formats/models.ts';
import { evaluateAcousticModels } from '../../../src/stages/eval.ts';
import { DISTILL_SCHEMA } from '../../../src/stages/distill.ts';
import { outputRelevant, validateOptions } from '../../../src/stages/schema.ts';
import { hashConfig } from '../../../src/util/hash.ts';
import { DEFAULT_SYSTEMS, experimentModels, selectSystems } from '../../../src/stages/decode.ts';
import {
  distillationLossTerms,
  distillationNativeLossFn,
  resolveDistillationLossOptions,
} from '../../../src/distill/loss.ts';
import { hardLabelCrossEntropy, nativeHardLabelCrossEntropy } from '../../../src/nnet/trainer.ts';
import { loadNativeEngine } from '../../../src/nnet/native.ts';
import type { Minibatch } from '../../../src/nnet/data.ts';
import { ConfigError } from '../../../src/util/errors.ts';
import { Rng } from '../../../src/util/rng.ts';
import { captureLogger, tempDir, TINY_TRAIN, writeTinyCorpus } from './helpers.ts';

const json = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
const history = (dir: string) =>
  json(join(dir, 'final', 'sidecar.json')).training.history.map((h: { learningRate: number; frames: number }) => [
    h.learningRate,
    h.frames,
  ]);

describe("the control: the student's training on hard labels alone", () => {
  const root = tempDir('control-');
  const logger = captureLogger();
  let dirs: { featuresDir: string; alignDir: string };
  let students: StudentsFile;
  // The student's own transfer set and schedule: copies the baseline never saw, another rate and epoch count.
  const distill = {
    learningRate: 0.006,
    maxEpochs: 2,
    copiesHardWeight: 0,
    fractionStudent: false,
    maxWorkers: 2,
    backend: 'wasm' as const,
    logger,
  };

  beforeAll(async () => {
    dirs = await writeTinyCorpus(join(root, 'corpus'), {
      splits: { train: 10, dev: 4, test: 4 },
      copies: { train: ['0.9', '1.1'] },
    });
    await trainAcousticModels({
      ...dirs,
      outDir: join(root, 'train'),
      seed: 3,
      ...TINY_TRAIN,
      hiddenUnits: 8,
      members: 1,
      maxEpochs: 1,
      vtlpCopies: false,
      logger,
    });
    await makeSoftTargetSets({
      ...dirs,
      modelsDir: join(root, 'train'),
      outDir: join(root, 'targets'),
      temperature: 2,
      topK: 4,
      backend: 'wasm',
      logger,
    });
    students = (
      await distillStudents({
        ...dirs,
        ...distill,
        modelsDir: join(root, 'train'),
        targetsDir: join(root, 'targets'),
        outDir: join(root, 'distill'),
      })
    ).file;
  });

  it("trains on the student's utterances (copies included) with its rate, epochs and seed, recorded with role 'control'", () => {
    expect(students.students.map((s) => [s.name, s.role])).toEqual([
      ['student', 'student'],
      ['control', 'control'],
    ]);
    const [student, control] = students.students;
    const baseline = json(join(root, 'train', 'models.json')).models[0];
    expect(baseline.trainUtterances).toBe(10);
    expect(control).toMatchObject({
      trainUtterances: 30,
      trainFrames: 3 * baseline.trainFrames,
      seed: student.seed,
      vtlpCopies: true,
      targetSet: 'main',
      epochs: student.epochs,
    });
    expect(student).toMatchObject({ trainUtterances: 30, trainFrames: control.trainFrames });
    expect(control.loss).toEqual(resolveDistillationLossOptions({ temperature: 2, ...CONTROL_LOSS }));
    expect(control.loss).toMatchObject({ softTerm: 'none', hardWeight: 1, normalisation: 'sum' });
    // Per epoch: the student's learning rate and the same frames.
    expect(history(join(root, 'distill', 'control'))).toEqual(history(join(root, 'distill', 'student')));
    expect(history(join(root, 'distill', 'control'))[0][0]).toBe(0.006);
    expect(control.weightsHash).not.toBe(student.weightsHash);
  });

  it('does not read the soft targets: other targets give the same control bytes (and another student); same seed, same bytes', async () => {
    await makeSoftTargetSets({
      ...dirs,
      modelsDir: join(root, 'train'),
      outDir: join(root, 'targets-other'),
      temperature: 5,
      topK: 2,
      backend: 'wasm',
      logger,
    });
    const other = (
      await distillStudents({
        ...dirs,
        ...distill,
        modelsDir: join(root, 'train'),
        targetsDir: join(root, 'targets-other'),
        outDir: join(root, 'distill-other'),
      })
    ).file;
    const weights = (d: string, m: string) => readFileSync(join(root, d, m, 'final', 'weights.bin'));
    expect(weights('distill-other', 'control').equals(weights('distill', 'control'))).toBe(true);
    expect(weights('distill-other', 'student').equals(weights('distill', 'student'))).toBe(false);
    expect(other.students[1].weightsHash).toBe(students.students[1].weightsHash);
  });

  it('is off with control: false; the option is in the stage config hash (default true)', async () => {
    const off = (
      await distillStudents({
        ...dirs,
        ...distill,
        control: false,
        modelsDir: join(root, 'train'),
        targetsDir: join(root, 'targets'),
        outDir: join(root, 'distill-off'),
      })
    ).file;
    expect(off.students.map((s) => s.name)).toEqual(['student']);
    expect(off.students[0].weightsHash).toBe(students.students[0].weightsHash);
    const hash = (raw: Record<string, unknown>) =>
      hashConfig({ stage: 'distill', options: outputRelevant(DISTILL_SCHEMA, validateOptions(DISTILL_SCHEMA, raw)) });
    expect(validateOptions(DISTILL_SCHEMA, {}).control).toBe(true);
    expect(hash({ control: false })).not.toBe(hash({}));
    // Decoded by default where present, skipped where absent; any other unknown name stays an error.
    const names = async (distillDir: string) =>
      selectSystems(
        await experimentModels({ train: join(root, 'train'), distill: join(root, distillDir) }),
        DEFAULT_SYSTEMS,
      ).map((s) => s.name);
    expect(await names('distill')).toEqual(['baseline', 'ensemble', 'student', 'control']);
    expect(await names('distill-off')).toEqual(['baseline', 'ensemble', 'student']);
    const exp = await experimentModels({ train: join(root, 'train'), distill: join(root, 'distill-off') });
    expect(() => selectSystems(exp, ['baseline', 'student-T5'])).toThrow(ConfigError);
  });

  it('is scored by eval like any model, outside the students table', async () => {
    const ev = (
      await evaluateAcousticModels({
        ...dirs,
        modelsDir: join(root, 'train'),
        studentsDir: join(root, 'distill'),
        outDir: join(root, 'eval'),
        splits: ['test'],
        bootstrapReplicates: 0,
        backend: 'wasm',
        logger,
      })
    ).file;
    expect(ev.models.find((m) => m.name === 'control')).toMatchObject({ role: 'control', targetSet: 'main' });
    expect(ev.splits.test.models.control.accuracy).toBeGreaterThan(0);
    expect(ev.splits.test.fidelity?.control).toBeDefined();
    expect(ev.students.map((s) => s.name)).toEqual(['student']);
  });
});

describe("the distillation loss with softTerm 'none' (the control's loss)", () => {
  const n = 6,
    S = 5;
  const rng = new Rng(4);
  const z = Float32Array.from({ length: n * S }, () => 3 * (rng.next() - 0.5));
  const labels = Int32Array.from({ length: n }, () => rng.int(S));
  const uttIds = ['a', 'vtlp0.9-a'];
  const rowUtt = Int32Array.from({ length: n }, (_, r) => r % 2);
  const batch = { size: n, labels, uttIds, rowUtt, extras: {} } as unknown as Minibatch;

  it('is hard-label cross-entropy with w = 1, the targets unread, the same gradient (TF.js)', () => {
    const o = { temperature: 2, ...CONTROL_LOSS };
    const zt = tf.tensor2d(z, [n, S]);
    const t = distillationLossTerms(zt, null, labels, o);
    const ref = hardLabelCrossEntropy(zt, batch);
    expect(t.total.dataSync()[0]).toBeCloseTo(ref.dataSync()[0], 6);
    expect(t.soft.dataSync()[0]).toBe(0);
    const g = tf
      .grad((x: tf.Tensor) => distillationLossTerms(x as tf.Tensor2D, null, labels, o).total)(zt)
      .dataSync();
    const gRef = tf
      .grad((x: tf.Tensor) => hardLabelCrossEntropy(x as tf.Tensor2D, batch))(zt)
      .dataSync();
    g.forEach((v, i) => expect(v).toBeCloseTo(gRef[i], 6));
    // Per-row weights and 'convex' as for the other soft terms: the copies' rows weigh 0 here.
    const w = distillationLossTerms(
      zt,
      null,
      labels,
      { ...o, hardWeight: 0.5, copiesHardWeight: 0, normalisation: 'convex' },
      Float32Array.from(rowUtt, (u) => (u ? 0 : 0.5)),
    ).total.dataSync()[0];
    const rows = Array.from({ length: n }, (_, r) => {
      const lse = Math.log(Array.from({ length: S }, (_, s) => Math.exp(z[r * S + s])).reduce((a, b) => a + b));
      return lse - z[r * S + labels[r]];
    });
    expect(w).toBeCloseTo(rows.reduce((a, h, r) => a + (rowUtt[r] ? 0 : (0.5 * h) / 1.5), 0) / n, 5);
    expect(() => resolveDistillationLossOptions({ softTerm: 'none', hardWeight: 0 })).toThrow(
      /no loss: no soft term and no hard-label weight/,
    );
  });

  it.skipIf(!loadNativeEngine().ok)(
    'is hard-label cross-entropy on the native engine too, without soft targets in the batch (needs the native engine)',
    () => {
      const e = loadNativeEngine();
      if (!e.ok) return;
      const addon = e.addon;
      const dz = new Float32Array(n * S),
        dzRef = new Float32Array(n * S);
      const r = distillationNativeLossFn({ temperature: 2, ...CONTROL_LOSS })(addon, z, dz, batch, S);
      const ref = nativeHardLabelCrossEntropy(addon, z, dzRef, batch, S);
      expect(r.loss).toBeCloseTo(ref.loss, 6);
      expect(r.numCorrect).toBe(ref.numCorrect);
      dz.forEach((v, i) => expect(v).toBeCloseTo(dzRef[i], 7));
    },
  );
});
