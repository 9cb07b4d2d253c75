import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { trainAcousticModels } from '../../../src/stages/train.ts';
import { distillStudents } from '../../../src/stages/distill.ts';
import { join, resolve } from 'node:path';
import { trainStage, TRAIN_SCHEMA } from '../../../src/stages/train.ts';
import { targetsStage, TARGETS_SCHEMA } from '../../../src/stages/targets.ts';
import { distillStage, DISTILL_SCHEMA } from '../../../src/stages/distill.ts';
import { evalStage, EVAL_SCHEMA } from '../../../src/stages/eval.ts';
import { validateOptions, type Schema } from '../../../src/stages/schema.ts';
import { loadRecipe } from '../../../src/pipeline/recipe.ts';
import { defaultRegistry } from '../../../src/stages/index.ts';
import type { StageContext, StageDefinition } from '../../../src/stages/stage.ts';
import { ConfigError } from '../../../src/util/errors.ts';
import { captureLogger, tempDir, writeTinyCorpus } from './helpers.ts';

const ROOT = resolve(import.meta.dirname, '../../..');

/** Run a stage definition the way the runner does: validated options, upstream dirs, a fresh output dir. */
async function runStage(
  def: StageDefinition,
  schema: Schema,
  raw: Record<string, unknown>,
  expDir: string,
  locate?: (k: string) => { file: string; line?: number },
  log = captureLogger(),
) {
  const outDir = join(expDir, def.name);
  mkdirSync(outDir, { recursive: true });
  const ctx: StageContext = {
    recipe: { name: 't', seed: 3, sections: {}, locate },
    options: validateOptions(schema, raw),
    outDir,
    expDir,
    log,
    inputDir: (s) => join(expDir, s),
    resumeDir: resumeDirOf(expDir, def.name),
  };
  return def.run(ctx);
}

const resumeDirOf = (expDir: string, stage: string) => join(expDir, `.${stage}.resume`, 'key');

describe('runner stages train, targets, distill, eval (on a tiny generated corpus)', () => {
  const expDir = tempDir();
  beforeAll(async () => {
    const c = await writeTinyCorpus(join(expDir, 'corpus'), { splits: { train: 24, dev: 6, test: 6 } });
    // The stages read <expDir>/features and <expDir>/align.
    renameSync(c.featuresDir, join(expDir, 'features'));
    renameSync(c.alignDir, join(expDir, 'align'));
  });

  it('run in order and report counts for stage.json', async () => {
    const tiny = {
      hiddenLayers: 1,
      hiddenUnits: 8,
      leftContext: 1,
      rightContext: 1,
      members: 2,
      maxEpochs: 3,
      batchSize: 64,
      maxWorkers: 1,
      backend: 'wasm',
      schedule: 'exponential',
      halvingFactor: 0.5,
      learningRate: 0.004,
    };
    const t = await runStage(trainStage, TRAIN_SCHEMA, tiny, expDir);
    expect(t.counts).toMatchObject({ models: 3, members: 2, senones: 8 });
    // 'exponential': every epoch runs, the rate times halvingFactor after each.
    const side = JSON.parse(readFileSync(join(expDir, 'train', 'baseline', 'final', 'sidecar.json'), 'utf8'));
    expect(side.training.history.map((h: { learningRate: number }) => h.learningRate)).toEqual([0.004, 0.002, 0.001]);
    expect((t.details!.timing as { models: unknown[] }).models).toHaveLength(3);
    const g = await runStage(targetsStage, TARGETS_SCHEMA, { temperature: 2, topK: 4, backend: 'wasm' }, expDir);
    expect(g.counts).toMatchObject({ sets: 1, teachers: 2, k: 4 });
    const d = await runStage(distillStage, DISTILL_SCHEMA, { maxWorkers: 1, backend: 'wasm', maxEpochs: 2 }, expDir);
    const st = JSON.parse(readFileSync(join(expDir, 'distill', 'student', 'final', 'sidecar.json'), 'utf8'));
    expect(st.training.history.map((h: { learningRate: number }) => h.learningRate)).toEqual([0.004, 0.002]);
    expect(d.counts).toEqual({ students: 1, control: 1 });
    // The students' own schedule: another factor per epoch.
    rmSync(join(expDir, 'distill'), { recursive: true });
    await runStage(
      distillStage,
      DISTILL_SCHEMA,
      { maxWorkers: 1, backend: 'wasm', maxEpochs: 2, halvingFactor: 0.25, control: false },
      expDir,
    );
    const st2 = JSON.parse(readFileSync(join(expDir, 'distill', 'student', 'final', 'sidecar.json'), 'utf8'));
    expect(st2.training.history.map((h: { learningRate: number }) => h.learningRate)).toEqual([0.004, 0.001]);
    const e = await runStage(evalStage, EVAL_SCHEMA, { backend: 'wasm' }, expDir);
    expect(Object.keys(e.counts!)).toEqual(
      expect.arrayContaining(['test.baseline', 'test.ensemble', 'test.student', 'dev.student']),
    );
    expect(readFileSync(join(expDir, 'eval', 'eval.md'), 'utf8')).toMatch(/\| ensemble \|/);
  });

  // For the resume tests. A constant rate: with 'exponential' the stop epoch is part of the config,
  // so a shorter run is not an interrupted longer one (a real interruption keeps maxEpochs; the hash
  // then matches).
  const resumable = {
    hiddenLayers: 1,
    hiddenUnits: 8,
    leftContext: 1,
    rightContext: 1,
    members: 1,
    batchSize: 64,
    maxWorkers: 1,
    backend: 'wasm' as const,
    schedule: 'constant' as const,
    learningRate: 0.004,
  };
  /** A new experiment directory whose upstream stage outputs are links to those of `from`. */
  const linkedExp = (dir: string, from: string, stages: string[]) => {
    mkdirSync(dir, { recursive: true });
    for (const s of stages) symlinkSync(join(from, s), join(dir, s));
    return dir;
  };

  it('train resumes the checkpoints an interrupted run left in its resume directory, with the same result', async () => {
    const tiny = { ...resumable, maxEpochs: 3 };
    const fresh = linkedExp(join(expDir, 'fresh'), expDir, ['features', 'align']);
    const resumed = linkedExp(join(expDir, 'resumed'), expDir, ['features', 'align']);
    await runStage(trainStage, TRAIN_SCHEMA, tiny, fresh);
    // An interrupted run: two of three epochs done, checkpoints kept, no final model, no models.json.
    const partial = resumeDirOf(resumed, 'train');
    await trainAcousticModels({
      ...validateOptions(TRAIN_SCHEMA, { ...tiny, maxEpochs: 2, keepCheckpoints: true }),
      featuresDir: join(expDir, 'features'),
      alignDir: join(expDir, 'align'),
      outDir: partial,
      seed: 3,
      logger: captureLogger(),
    });
    rmSync(join(partial, 'models.json'));
    for (const m of ['baseline', 'member-1']) rmSync(join(partial, m, 'final'), { recursive: true });
    const log = captureLogger();
    await runStage(trainStage, TRAIN_SCHEMA, tiny, resumed, undefined, log);
    expect(log.lines.filter((l) => /resuming .* after epoch 2/.test(l))).toHaveLength(2);
    const models = (d: string) =>
      JSON.parse(readFileSync(join(d, 'train', 'models.json'), 'utf8')).models.map(
        (m: { name: string; weightsHash: string }) => [m.name, m.weightsHash],
      );
    expect(models(resumed)).toEqual(models(fresh));
    expect(existsSync(partial)).toBe(false); // adopted as the output
    expect(readdirSync(join(resumed, 'train', 'baseline')).sort()).toEqual(['final']);
  });

  it('distill resumes an interrupted run the same way', async () => {
    const base = linkedExp(join(expDir, 'distill-base'), expDir, ['features', 'align']);
    await runStage(trainStage, TRAIN_SCHEMA, { ...resumable, maxEpochs: 2 }, base);
    await runStage(targetsStage, TARGETS_SCHEMA, { temperature: 2, topK: 4, backend: 'wasm' }, base);
    const upstream = ['features', 'align', 'train', 'targets'];
    const fresh = linkedExp(join(expDir, 'distill-fresh'), base, upstream);
    const resumed = linkedExp(join(expDir, 'distill-resumed'), base, upstream);
    const opts = { maxWorkers: 1, backend: 'wasm', maxEpochs: 2, control: false };
    await runStage(distillStage, DISTILL_SCHEMA, opts, fresh);
    const partial = resumeDirOf(resumed, 'distill');
    await distillStudents({
      ...validateOptions(DISTILL_SCHEMA, { ...opts, maxEpochs: 1, keepCheckpoints: true }),
      modelsDir: join(base, 'train'),
      targetsDir: join(base, 'targets'),
      featuresDir: join(base, 'features'),
      alignDir: join(base, 'align'),
      outDir: partial,
      logger: captureLogger(),
    });
    rmSync(join(partial, 'students.json'));
    rmSync(join(partial, 'student', 'final'), { recursive: true });
    const log = captureLogger();
    await runStage(distillStage, DISTILL_SCHEMA, opts, resumed, undefined, log);
    expect(log.lines.filter((l) => /resuming .* after epoch 1/.test(l))).toHaveLength(1);
    const students = (d: string) =>
      JSON.parse(readFileSync(join(d, 'distill', 'students.json'), 'utf8')).students.map(
        (m: { name: string; weightsHash: string }) => [m.name, m.weightsHash],
      );
    expect(students(resumed)).toEqual(students(fresh));
    expect(existsSync(partial)).toBe(false);
  });

  it('re-raise a bad option found while running with the recipe key path and line', async () => {
    const err = await runStage(
      trainStage,
      TRAIN_SCHEMA,
      { smallFraction: 1, members: 1 },
      join(expDir, 'bad'),
      (k) => ({ file: 'r.yaml', line: k === 'stages.train.smallFraction' ? 12 : undefined }),
    ).catch((x) => x);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(
      /^r\.yaml:12, key 'stages\.train\.smallFraction': bad small fraction; expected null or a number in \(0, 1\), found 1$/,
    );
  });
});

describe("VTLP copies as the student's own transfer set (train vtlpCopies: false)", () => {
  it('trains baseline and members on the originals, targets cover the copies, and the student learns from both', async () => {
    const expDir = tempDir();
    const c = await writeTinyCorpus(join(expDir, 'corpus'), {
      splits: { train: 10, dev: 4, test: 4 },
      copies: { train: ['0.9', '1.1'] },
    });
    renameSync(c.featuresDir, join(expDir, 'features'));
    renameSync(c.alignDir, join(expDir, 'align'));
    const tiny = {
      hiddenLayers: 1,
      hiddenUnits: 8,
      leftContext: 1,
      rightContext: 1,
      members: 2,
      maxEpochs: 1,
      batchSize: 64,
      maxWorkers: 1,
      backend: 'wasm',
      schedule: 'constant',
      learningRate: 0.004,
    };
    const frames = (dir: string) =>
      JSON.parse(readFileSync(join(dir, 'final', 'sidecar.json'), 'utf8')).training.history[0].frames as number;
    await runStage(trainStage, TRAIN_SCHEMA, { ...tiny, vtlpCopies: false }, expDir);
    const models = JSON.parse(readFileSync(join(expDir, 'train', 'models.json'), 'utf8'));
    expect(models.data.vtlpCopies).toBe(false);
    expect(models.models.map((m: { trainUtterances: number }) => m.trainUtterances)).toEqual([10, 10, 10]);
    const origFrames = models.models[0].trainFrames as number;
    for (const m of ['baseline', 'member-1', 'member-2']) expect(frames(join(expDir, 'train', m))).toBe(origFrames);
    const g = await runStage(targetsStage, TARGETS_SCHEMA, { temperature: 2, topK: 4, backend: 'wasm' }, expDir);
    expect(g.counts).toMatchObject({ frames: 3 * origFrames });
    await runStage(distillStage, DISTILL_SCHEMA, { maxWorkers: 1, backend: 'wasm', control: false }, expDir);
    const st = JSON.parse(readFileSync(join(expDir, 'distill', 'students.json'), 'utf8')).students[0];
    expect(st).toMatchObject({ name: 'student', trainUtterances: 30, trainFrames: 3 * origFrames, vtlpCopies: true });
    expect(frames(join(expDir, 'distill', 'student'))).toBe(3 * origFrames);
    expect(st.loss).not.toHaveProperty('copiesHardWeight');
    // Soft targets only on the copies' frames: recorded in the loss, and another student.
    const plain = join(expDir, 'distill-plain');
    renameSync(join(expDir, 'distill'), plain);
    await runStage(
      distillStage,
      DISTILL_SCHEMA,
      { maxWorkers: 1, backend: 'wasm', copiesHardWeight: 0, control: false },
      expDir,
    );
    const stc = JSON.parse(readFileSync(join(expDir, 'distill', 'students.json'), 'utf8')).students[0];
    expect(stc).toMatchObject({
      trainFrames: 3 * origFrames,
      vtlpCopies: true,
      loss: { hardWeight: 0.5, copiesHardWeight: 0 },
    });
    expect(stc.weightsHash).not.toBe(st.weightsHash);
    rmSync(join(expDir, 'distill'), { recursive: true });
    renameSync(plain, join(expDir, 'distill'));
    // Training accuracy on what the baseline and the members trained on: the originals.
    await runStage(evalStage, EVAL_SCHEMA, { backend: 'wasm', splits: ['test'] }, expDir);
    const ev = JSON.parse(readFileSync(join(expDir, 'eval', 'eval.json'), 'utf8'));
    expect(ev.splits.train).toMatchObject({ utterances: 10, frames: origFrames, vtlpCopies: false });
    expect(ev.splits.test).not.toHaveProperty('vtlpCopies');
    expect(readFileSync(join(expDir, 'eval', 'eval.md'), 'utf8')).toContain(
      'train: the original recordings only (the baseline and the members did not train on the VTLP copies).',
    );
    // The control: the student on the originals only.
    rmSync(join(expDir, 'distill'), { recursive: true });
    await runStage(
      distillStage,
      DISTILL_SCHEMA,
      { maxWorkers: 1, backend: 'wasm', vtlpCopies: false, control: false },
      expDir,
    );
    const st2 = JSON.parse(readFileSync(join(expDir, 'distill', 'students.json'), 'utf8')).students[0];
    expect(st2).toMatchObject({ trainUtterances: 10, trainFrames: origFrames, vtlpCopies: false });
    // A weight for copies this student does not train on is a mistake, not a no-op.
    const errc = await runStage(
      distillStage,
      DISTILL_SCHEMA,
      { maxWorkers: 1, backend: 'wasm', vtlpCopies: false, copiesHardWeight: 0 },
      join(expDir, 'badc'),
    ).catch((x) => x);
    expect(errc).toBeInstanceOf(ConfigError);
    expect(errc.message).toMatch(
      /a hard-label weight for VTLP copies the student does not train on; expected absent when vtlpCopies is false, found 0/,
    );
    expect(frames(join(expDir, 'distill', 'student'))).toBe(origFrames);

    // The control's targets without the copies: a third of the frames, and the same student bytes
    // (the originals' targets do not depend on the copies: fixed k, per-speaker CMVN).
    const hashWithCopies = JSON.parse(readFileSync(join(expDir, 'targets', 'targets.json'), 'utf8')).sets[0].configHash;
    rmSync(join(expDir, 'targets'), { recursive: true });
    const g2 = await runStage(
      targetsStage,
      TARGETS_SCHEMA,
      { temperature: 2, topK: 4, backend: 'wasm', vtlpCopies: false },
      expDir,
    );
    expect(g2.counts).toMatchObject({ frames: origFrames });
    const tj = JSON.parse(readFileSync(join(expDir, 'targets', 'targets.json'), 'utf8'));
    expect(tj.vtlpCopies).toBe(false);
    expect(tj.sets[0]).toMatchObject({ utterances: 10, frames: origFrames });
    expect(tj.sets[0].configHash).not.toBe(hashWithCopies);
    rmSync(join(expDir, 'distill'), { recursive: true });
    await runStage(
      distillStage,
      DISTILL_SCHEMA,
      { maxWorkers: 1, backend: 'wasm', vtlpCopies: false, control: false },
      expDir,
    );
    const st3 = JSON.parse(readFileSync(join(expDir, 'distill', 'students.json'), 'utf8')).students[0];
    expect(st3).toMatchObject({
      trainUtterances: 10,
      trainFrames: origFrames,
      vtlpCopies: false,
      weightsHash: st2.weightsHash,
    });
    // A student that wants the copies stops, naming the option.
    rmSync(join(expDir, 'distill'), { recursive: true });
    const err = await runStage(distillStage, DISTILL_SCHEMA, { maxWorkers: 1, backend: 'wasm' }, expDir).catch(
      (x) => x,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(
      /key 'stages\.distill\.vtlpCopies': the soft targets leave out the VTLP copies this student would train on; expected false .*found true, and .*targets\.json made with vtlpCopies false/,
    );
  });

  it('a recipe whose student wants the copies the targets stage leaves out stops when loaded', () => {
    // The demo recipe has no VTLP of its own (fsdd-digits has copies, for the student only).
    const load = (sets: string[]) =>
      loadRecipe(join(ROOT, 'pipelines/demo.yaml'), { registry: defaultRegistry, cwd: ROOT, sets });
    const vtlp = 'stages.features.vtlp={warps: [0.9, 1.1]}';
    const err = (() => {
      try {
        load([vtlp, 'stages.targets.vtlpCopies=false']);
      } catch (e) {
        return e;
      }
    })() as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(
      /key 'stages\.distill\.vtlpCopies': the student would train on VTLP copies that the targets stage does not label; expected false when stages\.targets\.vtlpCopies is false, found true/,
    );
    expect(err.message).toContain('demo.yaml');
    const ok = load([vtlp, 'stages.targets.vtlpCopies=false', 'stages.distill.vtlpCopies=false']);
    expect(ok.stages.find((s) => s.name === 'targets')!.options.vtlpCopies).toBe(false);
    expect(() => load([vtlp, 'stages.distill.vtlpCopies=false'])).not.toThrow();
    // Without VTLP there are no copies to miss.
    expect(() => load(['stages.targets.vtlpCopies=false'])).not.toThrow();
    // A hard-label weight for copies that the features stage does not make.
    const errc = (() => {
      try {
        load(['stages.distill.copiesHardWeight=0']);
      } catch (e) {
        return e;
      }
    })() as ConfigError;
    expect(errc).toBeInstanceOf(ConfigError);
    expect(errc.message).toMatch(
      /key 'stages\.distill\.copiesHardWeight': a hard-label weight for VTLP copies, but the features stage makes none; expected absent, or stages\.features\.vtlp with warps, found 0/,
    );
    expect(
      load([vtlp, 'stages.distill.copiesHardWeight=0']).stages.find((s) => s.name === 'distill')!.options
        .copiesHardWeight,
    ).toBe(0);
    // fsdd-digits: copies for the student alone, labelled by the targets stage, soft targets only on them.
    const fsdd = loadRecipe(join(ROOT, 'pipelines/fsdd-digits.yaml'), { registry: defaultRegistry, cwd: ROOT });
    const opt = (name: string) => fsdd.stages.find((s) => s.name === name)!.options;
    expect(opt('train')).toMatchObject({ vtlpCopies: false, averageFromEpoch: 7 });
    expect(opt('targets').vtlpCopies).toBe(true);
    expect(opt('distill')).toMatchObject({ vtlpCopies: true, copiesHardWeight: 0, averageFromEpoch: 3 });
  });
});

describe('recipes', () => {
  it.each([
    'pipelines/demo.yaml',
    'pipelines/fsdd-digits.yaml',
    'pipelines/librispeech-100.yaml',
    'pipelines/timit.yaml',
  ])('%s is complete: every stage, prepare to report, with valid options', (file) => {
    const r = loadRecipe(join(ROOT, file), { registry: defaultRegistry, cwd: ROOT });
    expect(r.stages.map((s) => s.name)).toEqual(defaultRegistry.names());
  });
});
