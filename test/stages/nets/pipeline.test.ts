import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, readFileSync, cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trainAcousticModels, type TrainAcousticModelsResult } from '../../../src/stages/train.ts';
import { makeSoftTargetSets } from '../../../src/stages/targets.ts';
import { distillStudents } from '../../../src/stages/distill.ts';
import { evaluateAcousticModels } from '../../../src/stages/eval.ts';
import { type EvalFile } from '../../../src/formats/eval.ts';
import { readSidecar } from '../../../src/nnet/io.ts';
import { memberSeed } from '../../../src/nnet/pool.ts';
import { readSoftTargetMetadata } from '../../../src/distill/store.ts';
import { FormatError, NumericError, ConfigError } from '../../../src/util/errors.ts';
import { captureLogger, expectNear, tempDir, TINY_TRAIN, writeTinyCorpus } from './helpers.ts';

describe('train -> targets -> distill -> eval on a tiny generated corpus', () => {
  const root = tempDir();
  const a = join(root, 'a');
  let dirs: { featuresDir: string; alignDir: string };
  let trained: TrainAcousticModelsResult;
  let evalFile: EvalFile;
  const logger = captureLogger();

  beforeAll(async () => {
    dirs = await writeTinyCorpus(join(root, 'corpus'));
    trained = await trainAcousticModels({
      ...dirs,
      outDir: join(a, 'train'),
      seed: 3,
      ...TINY_TRAIN,
      smallFraction: 0.3,
      logger,
    });
    await makeSoftTargetSets({
      ...dirs,
      modelsDir: join(a, 'train'),
      outDir: join(a, 'targets'),
      temperature: 2,
      sweepTemperatures: [1, 2],
      dense: true,
      backend: 'wasm',
      logger,
    });
    await distillStudents({
      ...dirs,
      modelsDir: join(a, 'train'),
      targetsDir: join(a, 'targets'),
      outDir: join(a, 'distill'),
      maxWorkers: 2,
      backend: 'wasm',
      logger,
    });
    evalFile = (
      await evaluateAcousticModels({
        ...dirs,
        modelsDir: join(a, 'train'),
        studentsDir: join(a, 'distill'),
        outDir: join(a, 'eval'),
        backend: 'wasm',
        logger,
      })
    ).file;
  });

  it('trains the baseline, K members (hashed seeds memberSeed(seed, k)) and the small-fraction baseline, recorded in models.json', () => {
    const f = JSON.parse(readFileSync(join(a, 'train', 'models.json'), 'utf8'));
    expect(f.models.map((m: { name: string }) => m.name)).toEqual([
      'baseline',
      'member-1',
      'member-2',
      'fraction-baseline',
    ]);
    expect(f.models.map((m: { seed: number }) => m.seed)).toEqual([3, memberSeed(3, 1), memberSeed(3, 2), 3]);
    expect(f.inventory.numSenones).toBe(8);
    expect(f.trainConfig.hiddenUnits).toBe(16);
    const frac = f.models[3];
    expect(frac.subset).toEqual({ fraction: 0.3, seed: 3 });
    expect(frac.trainUtterances).toBeGreaterThan(0);
    expect(frac.trainUtterances).toBeLessThan(f.models[0].trainUtterances);
    for (const m of f.models) {
      expect(existsSync(join(a, 'train', m.dir, 'weights.bin'))).toBe(true);
      expect(existsSync(join(a, 'train', m.name, 'checkpoints'))).toBe(false);
    }
    // Worker threads trained them (log lines labelled per model).
    expect(logger.lines.some((l) => l.startsWith('[member-1] '))).toBe(true);
    expect(trained.timing.models).toHaveLength(4);
  });

  it('writes one target set per temperature plus dense targets, with storage and kept mass recorded', async () => {
    const t = JSON.parse(readFileSync(join(a, 'targets', 'targets.json'), 'utf8'));
    expect(t.sets.map((s: { name: string }) => s.name)).toEqual(['main', 'T1', 'dense']);
    expect(t.teachers.map((x: { name: string }) => x.name)).toEqual(['member-1', 'member-2']);
    const [main, t1, dense] = t.sets;
    expect(main.temperature).toBe(2);
    expect(t1.temperature).toBe(1);
    expect(main.meanKeptMass).toBeGreaterThanOrEqual(0.99 - 1e-9);
    expect(dense.k).toBe(8);
    expectNear(dense.meanKeptMass, 1, 1e-9, 'dense kept mass');
    expect(main.bytesPerFrame).toBeGreaterThan(0);
    expect(main.denseBytesPerFrame).toBe(8 + 4 * 8);
    const meta = await readSoftTargetMetadata(join(a, 'targets', main.file));
    // Teachers are named, not located: the bytes do not depend on where the experiment lives.
    expect(meta.teachers.map((x) => x.id)).toEqual(['member-1', 'member-2']);
    expect(meta.temperature).toBe(2);
  });

  it("trains a student of the members' architecture per target set and the Table 5 student", async () => {
    const s = JSON.parse(readFileSync(join(a, 'distill', 'students.json'), 'utf8'));
    expect(s.students.map((x: { name: string }) => x.name)).toEqual([
      'student',
      'student-T1',
      'student-dense',
      'fraction-student',
      'control',
    ]);
    expect(s.students.map((x: { temperature: number }) => x.temperature)).toEqual([2, 1, 2, 2, 2]);
    expect(s.students[4]).toMatchObject({ role: 'control', seed: 3, loss: { softTerm: 'none', hardWeight: 1 } });
    expect(s.students[0].loss).toMatchObject({ temperature: 2, hardWeight: 0.5, normalisation: 'sum' });
    expect(s.students[3].subset).toEqual({ fraction: 0.3, seed: 3 });
    const student = await readSidecar(join(a, 'distill', 'student', 'final'));
    const member = await readSidecar(join(a, 'train', 'member-1', 'final'));
    expect(student.shape).toEqual(member.shape);
    expect(student.senones).toEqual(member.senones);
  });

  it('scores every model and the ensemble on train, dev and test; gain kept and Table 5 follow from the scores', () => {
    expect(Object.keys(evalFile.splits)).toEqual(['train', 'dev', 'test']);
    const test = evalFile.splits.test;
    expect(Object.keys(test.models)).toEqual([
      'baseline',
      'member-1',
      'member-2',
      'fraction-baseline',
      'student',
      'student-T1',
      'student-dense',
      'fraction-student',
      'control',
      'ensemble',
    ]);
    for (const sc of Object.values(test.models)) {
      expect(sc.frames).toBe(test.frames);
      expectNear(sc.accuracy, sc.correct / sc.frames, 1e-12, 'accuracy');
    }
    const g = evalFile.summary.test;
    expect(g.baseline).toBe(test.models.baseline.accuracy);
    expect(g.ensemble).toBe(test.models.ensemble.accuracy);
    if (g.gainKept !== null)
      expectNear(g.gainKept, (g.student - g.baseline) / (g.ensemble - g.baseline), 1e-12, 'gain kept');
    if (g.ensemble > g.memberMean)
      expectNear(
        g.gainKeptVsMemberMean!,
        (g.student - g.memberMean) / (g.ensemble - g.memberMean),
        1e-12,
        'gain kept vs member mean',
      );
    // The bootstrap resamples the scored test utterances.
    expect(g.gainKeptCi).toMatchObject({ replicates: 1000, confidence: 0.95, utterances: test.utterances });
    if (g.gainKept !== null && g.gainKeptCi!.low !== null) {
      expect(g.gainKeptCi!.low).toBeLessThanOrEqual(g.gainKeptCi!.high!);
    }
    expect(evalFile.students.map((s) => s.name)).toEqual(['student', 'student-T1', 'student-dense']);
    expect(Object.keys(evalFile.students[1].gainKeptCi!)).toEqual(Object.keys(evalFile.students[1].accuracy));
    const t5 = evalFile.table5!;
    expect(t5.fraction).toBe(0.3);
    expect(t5.rows.map((r) => r.model)).toEqual(['baseline', 'fraction-baseline', 'fraction-student']);
    expect(t5.rows[1].trainAccuracy).toBe(evalFile.splits.train.subset!['fraction-baseline'].accuracy);
    expect(readFileSync(join(a, 'eval', 'eval.md'), 'utf8')).toMatch(/Table 5: 30% of the training data/);
  });

  it('measures each net outside the ensemble against it (agreement bounds the accuracy difference, KL >= 0) and splits its gain over the baseline by what the ensemble did', () => {
    for (const split of ['train', 'dev', 'test']) {
      const sp = evalFile.splits[split];
      expect(Object.keys(sp.fidelity!)).toEqual([
        'baseline',
        'fraction-baseline',
        'student',
        'student-T1',
        'student-dense',
        'fraction-student',
        'control',
      ]);
      for (const [name, f] of Object.entries(sp.fidelity!)) {
        expect(f.frames).toBe(sp.frames);
        expect(f.agreement).toBeGreaterThanOrEqual(0);
        expect(f.agreement).toBeLessThanOrEqual(1);
        expect(f.klNats).toBeGreaterThanOrEqual(0);
        // On a frame where a net and the ensemble agree both are right or both wrong, so their
        // accuracies differ by at most the share of frames where they disagree.
        expect(Math.abs(sp.models[name].accuracy - sp.models.ensemble.accuracy)).toBeLessThanOrEqual(
          1 - f.agreement + 1e-12,
        );
      }
      // A distilled student is closer to its teacher than the baseline on the frames it was trained on.
      if (split === 'train') expect(sp.fidelity!.student.klNats).toBeLessThan(sp.fidelity!.baseline.klNats);
    }
    for (const split of ['train', 'dev', 'test']) {
      const sp = evalFile.splits[split],
        g = sp.gainSources!,
        c = (n: string) => sp.models[n].correct;
      expect(g.ensembleWins - g.ensembleLosses).toBe(c('ensemble') - c('baseline'));
      expect(Object.keys(g.nets)).toEqual([
        'fraction-baseline',
        'student',
        'student-T1',
        'student-dense',
        'fraction-student',
        'control',
      ]);
      for (const [n, x] of Object.entries(g.nets)) {
        expect(x.capturedWins - x.copiedLosses + x.ownWins - x.ownLosses).toBe(c(n) - c('baseline'));
        expect(x.capturedWins).toBeLessThanOrEqual(g.ensembleWins);
        expect(x.copiedLosses).toBeLessThanOrEqual(g.ensembleLosses);
        expect(Math.min(x.capturedWins, x.copiedLosses, x.ownWins, x.ownLosses)).toBeGreaterThanOrEqual(0);
      }
    }
    for (const split of ['train', 'dev', 'test']) {
      const sp = evalFile.splits[split],
        v = sp.memberVotes!;
      expect(v.members).toBe(2);
      expect(v.frames.reduce((a, x) => a + x, 0)).toBe(sp.frames);
      expect(Object.keys(v.correct)).toEqual([
        'baseline',
        'fraction-baseline',
        'student',
        'student-T1',
        'student-dense',
        'fraction-student',
        'control',
        'ensemble',
      ]);
      for (const [n, c] of Object.entries(v.correct)) {
        expect(c.reduce((a, x) => a + x, 0)).toBe(sp.models[n].correct);
        c.forEach((x, k) => expect(x).toBeLessThanOrEqual(v.frames[k]));
      }
      // Where every member is right, so is their mean (each member's top is the aligned senone).
      expect(v.correct.ensemble[2]).toBe(v.frames[2]);
      // The members' own counts: sum over k of k * frames[k] is every member's correct frames.
      expect(v.frames.reduce((a, x, k) => a + k * x, 0)).toBe(
        sp.models['member-1'].correct + sp.models['member-2'].correct,
      );
    }
    expect(readFileSync(join(a, 'eval', 'eval.md'), 'utf8')).toMatch(/## Accuracy by the number of members right/);
    expect(readFileSync(join(a, 'eval', 'eval.md'), 'utf8')).toMatch(
      /## Where the gain over the baseline comes from \(frames\)/,
    );
    expect(readFileSync(join(a, 'eval', 'eval.md'), 'utf8')).toMatch(
      /## Fidelity to the ensemble\n\n\| System \| train agreement \| train KL \| dev agreement/,
    );
  });

  it('gives the same bytes for the same seed (soft targets and student weights)', async () => {
    const b = join(root, 'b');
    await makeSoftTargetSets({
      ...dirs,
      modelsDir: join(a, 'train'),
      outDir: join(b, 'targets'),
      temperature: 2,
      backend: 'wasm',
      logger: captureLogger(),
    });
    await distillStudents({
      ...dirs,
      modelsDir: join(a, 'train'),
      targetsDir: join(b, 'targets'),
      outDir: join(b, 'distill'),
      sets: ['main'],
      fractionStudent: false,
      control: false,
      maxWorkers: 1,
      backend: 'wasm',
      logger: captureLogger(),
    });
    expect(
      readFileSync(join(b, 'targets', 'train.arrow')).equals(readFileSync(join(a, 'targets', 'train.arrow'))),
    ).toBe(true);
    // Trained on the main thread here, in a worker in the first run: same bytes.
    expect(
      readFileSync(join(b, 'distill', 'student', 'final', 'weights.bin')).equals(
        readFileSync(join(a, 'distill', 'student', 'final', 'weights.bin')),
      ),
    ).toBe(true);
  });

  it("trains the students from another seed when asked (default: the baseline's), recorded per student", async () => {
    const first = JSON.parse(readFileSync(join(a, 'distill', 'students.json'), 'utf8'));
    expect(first.students[0].seed).toBe(3);
    const c = join(root, 'c');
    await distillStudents({
      ...dirs,
      modelsDir: join(a, 'train'),
      targetsDir: join(a, 'targets'),
      outDir: join(c, 'distill'),
      sets: ['main'],
      fractionStudent: false,
      control: false,
      seed: 11,
      maxWorkers: 1,
      backend: 'wasm',
      logger: captureLogger(),
    });
    const s = JSON.parse(readFileSync(join(c, 'distill', 'students.json'), 'utf8'));
    expect(s.students[0].seed).toBe(11);
    expect(
      readFileSync(join(c, 'distill', 'student', 'final', 'weights.bin')).equals(
        readFileSync(join(a, 'distill', 'student', 'final', 'weights.bin')),
      ),
    ).toBe(false);
  });

  it("averages the students' weights when asked (recorded per student), off with 0, and refuses a members' start past the students' last epoch", async () => {
    const d = join(root, 'avg');
    const base = {
      ...dirs,
      modelsDir: join(a, 'train'),
      targetsDir: join(a, 'targets'),
      sets: ['main'],
      fractionStudent: false,
      control: false,
      maxWorkers: 1,
      backend: 'wasm' as const,
      logger: captureLogger(),
    };
    await distillStudents({ ...base, outDir: join(d, 'on'), averageFromEpoch: 2 });
    const s = JSON.parse(readFileSync(join(d, 'on', 'students.json'), 'utf8'));
    expect(s.students[0].averaged).toMatchObject({ fromEpoch: 2, toEpoch: 2 });
    expect(s.students[0].averaged.updates).toBeGreaterThan(1);
    const plain = readFileSync(join(a, 'distill', 'student', 'final', 'weights.bin'));
    expect(readFileSync(join(d, 'on', 'student', 'final', 'weights.bin')).equals(plain)).toBe(false);
    await distillStudents({ ...base, outDir: join(d, 'off'), averageFromEpoch: 0 });
    expect(readFileSync(join(d, 'off', 'student', 'final', 'weights.bin')).equals(plain)).toBe(true);
    expect(JSON.parse(readFileSync(join(d, 'off', 'students.json'), 'utf8')).students[0].averaged).toBeUndefined();

    // The train stage's setting: every model averaged, recorded in models.json; the students inherit it.
    const t = await trainAcousticModels({
      ...dirs,
      outDir: join(d, 'train2'),
      seed: 3,
      ...TINY_TRAIN,
      members: 1,
      averageFromEpoch: 2,
      logger: captureLogger(),
    });
    expect(t.file.trainConfig.averageFromEpoch).toBe(2);
    for (const m of t.file.models) expect(m.averaged, m.name).toMatchObject({ fromEpoch: 2, toEpoch: 2 });
    await makeSoftTargetSets({
      ...dirs,
      modelsDir: join(d, 'train2'),
      outDir: join(d, 'targets2'),
      temperature: 2,
      backend: 'wasm',
      logger: captureLogger(),
    });
    const inherited = await distillStudents({
      ...base,
      modelsDir: join(d, 'train2'),
      targetsDir: join(d, 'targets2'),
      outDir: join(d, 'inherited'),
    });
    expect(inherited.file.students[0].averaged).toMatchObject({ fromEpoch: 2, toEpoch: 2 });

    // Members averaged from epoch 5: students with 2 epochs must say what they do.
    cpSync(join(a, 'train'), join(d, 'train5'), { recursive: true });
    const mf = JSON.parse(readFileSync(join(d, 'train5', 'models.json'), 'utf8'));
    mf.trainConfig.averageFromEpoch = 5;
    mf.trainConfig.maxEpochs = 6;
    writeFileSync(join(d, 'train5', 'models.json'), JSON.stringify(mf));
    const err = await distillStudents({
      ...base,
      modelsDir: join(d, 'train5'),
      outDir: join(d, 'x'),
      maxEpochs: 2,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(
      /members' weight-averaging start is past the students' last epoch.*stages\.distill\.averageFromEpoch in 1\.\.2/,
    );
  });

  describe('bad input is fatal with a clear message', () => {
    it('teachers of another senone inventory than the alignments', async () => {
      const other = await writeTinyCorpus(join(root, 'other-tree'), { tree: '{"tree": 2}' });
      const err = await makeSoftTargetSets({
        ...other,
        modelsDir: join(a, 'train'),
        outDir: join(root, 'x1'),
        backend: 'wasm',
        logger: captureLogger(),
      }).catch((e) => e);
      expect(err).toBeInstanceOf(FormatError);
      expect(err.message).toMatch(
        /align\/train\.arrow: the teachers were trained on another senone inventory than these alignments; expected inventory [0-9a-f]+ \(8 senones/,
      );
      const err2 = await distillStudents({
        ...other,
        modelsDir: join(a, 'train'),
        targetsDir: join(a, 'targets'),
        outDir: join(root, 'x2'),
        logger: captureLogger(),
      }).catch((e) => e);
      expect(err2).toBeInstanceOf(FormatError);
      expect(err2.message).toMatch(/student \(train stage config\) and alignments differ in senone inventory/);
    });

    it('features of another config than the teachers were trained on', async () => {
      const other = await writeTinyCorpus(join(root, 'other-feats'), {
        featureHash: 'feat-hash-2',
        fbank: { dither: 1 },
      });
      const err = await makeSoftTargetSets({
        ...other,
        modelsDir: join(a, 'train'),
        outDir: join(root, 'x3'),
        backend: 'wasm',
        logger: captureLogger(),
      }).catch((e) => e);
      expect(err).toBeInstanceOf(FormatError);
      expect(err.message).toMatch(
        /model and data do not match \(member-1 .* vs features .*other-feats\/features\/train\.arrow\).*feature config .*"dither":0.* vs .*"dither":1/,
      );
    });

    it('soft targets made from other alignments', async () => {
      const other = await writeTinyCorpus(join(root, 'other-ali'), { alignHash: 'align-hash-2' });
      const err = await distillStudents({
        ...other,
        modelsDir: join(a, 'train'),
        targetsDir: join(a, 'targets'),
        outDir: join(root, 'x4'),
        sets: ['main'],
        fractionStudent: false,
        backend: 'wasm',
        logger: captureLogger(),
      }).catch((e) => e);
      expect(err).toBeInstanceOf(FormatError);
      expect(err.message).toMatch(
        /targets\/train\.arrow: soft targets were made from other alignments; expected alignment config hash align-hash-2 .*found align-hash-1/,
      );
    });

    it('a non-finite loss stops training and names the epoch and batch', async () => {
      const err = await trainAcousticModels({
        ...dirs,
        outDir: join(root, 'nan'),
        seed: 3,
        ...TINY_TRAIN,
        members: 1,
        learningRate: 1e30,
        logger: captureLogger(),
      }).catch((e) => e);
      expect(err).toBeInstanceOf(NumericError);
      expect(err.message).toMatch(
        /^(baseline|member-1): .*training loss is not finite at epoch 1, batch \d+ \(64 frames of train-\d+/,
      );
    });

    it('unknown options and a missing split', async () => {
      await expect(
        trainAcousticModels({
          ...dirs,
          outDir: join(root, 'x5'),
          ...TINY_TRAIN,
          devSplit: 'nodev',
          logger: captureLogger(),
        }),
      ).rejects.toThrow(/no features for split 'nodev'.*found splits dev, test, train/);
      await expect(
        trainAcousticModels({
          ...dirs,
          outDir: join(root, 'x6'),
          ...({ hiddenUnitz: 3 } as object),
          logger: captureLogger(),
        }),
      ).rejects.toBeInstanceOf(ConfigError);
    });
  });
});
