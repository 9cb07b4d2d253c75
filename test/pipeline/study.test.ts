/**
 * Studies (src/pipeline/study.ts) through the real runner on stand-in stages: outer folds over
 * speakers, nested selection on an inner dev speaker, frozen settings and LM weights, seed
 * replicates that share the data stages, and study.json.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StageRegistry, type StageDefinition } from '../../src/stages/stage.ts';
import {
  runStudy,
  studyFolds,
  bestCandidate,
  devScore,
  foldChoices,
  runLabels,
  STUDY_JSON,
} from '../../src/pipeline/study.ts';
import { loadRecipe } from '../../src/pipeline/recipe.ts';
import { ConfigError, FormatError } from '../../src/util/errors.ts';
import { captureLogger } from './toy-stages.ts';

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

interface Speakers {
  trainSpeakers?: string[];
  devSpeakers?: string[];
  testSpeakers?: string[];
  devTakeFraction?: number;
  evalDir?: string;
}

/** prepare -> train (netSeeded) -> eval -> decode, each writing what the study reads. */
function studyRegistry(runs: Record<string, number>) {
  const json = (dir: string, name: string, v: unknown) => writeFileSync(join(dir, name), JSON.stringify(v));
  const read = (dir: string, name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8'));
  const strings = { type: 'array', items: { type: 'string', doc: '' }, optional: true, doc: '' } as const;
  const prepare: StageDefinition<Speakers> = {
    name: 'prepare',
    doc: 'speakers',
    inputs: [],
    schema: {
      trainSpeakers: strings,
      devSpeakers: strings,
      testSpeakers: strings,
      devTakeFraction: { type: 'number', optional: true, doc: '' },
      evalDir: { type: 'string', optional: true, doc: '' },
    },
    async run(ctx) {
      runs.prepare++;
      json(ctx.outDir, 'speakers.json', ctx.options);
      return { counts: {} };
    },
  };
  const train: StageDefinition<{ learningRate: number }> = {
    name: 'train',
    doc: 'nets',
    inputs: ['prepare'],
    netSeeded: true,
    schema: { learningRate: { type: 'number', default: 0.1, doc: '' } },
    async run(ctx) {
      runs.train++;
      json(ctx.outDir, 'model.json', {
        seed: ctx.recipe.netSeed ?? ctx.recipe.seed,
        learningRate: ctx.options.learningRate,
      });
      return { counts: {} };
    },
  };
  const evalStage: StageDefinition<{ splits: string[] }> = {
    name: 'eval',
    doc: 'accuracy',
    inputs: ['prepare', 'train'],
    schema: { splits: { type: 'array', items: { type: 'string', doc: '' }, default: ['dev', 'test'], doc: '' } },
    async run(ctx) {
      runs.eval++;
      const sp = read(ctx.inputDir('prepare'), 'speakers.json') as Speakers;
      const m = read(ctx.inputDir('train'), 'model.json');
      // Speaker 'b' as dev likes a learning rate of 0.2, every other dev speaker 0.05.
      const best = sp.testSpeakers?.[0] === 'b' ? 0.2 : 0.05;
      const acc = 0.5 - Math.abs(m.learningRate - best);
      json(ctx.outDir, 'eval.json', {
        format: 'am-distill.eval',
        version: 1,
        splits: Object.fromEntries(ctx.options.splits.map((s) => [s, { models: { student: { accuracy: acc } } }])),
      });
      return { counts: {} };
    },
  };
  const decode: StageDefinition<{
    tuneSplit: string | null;
    splits: string[];
    systemWeights?: Record<string, unknown>;
  }> = {
    name: 'decode',
    doc: 'weights',
    inputs: ['prepare', 'train'],
    schema: {
      tuneSplit: { type: 'string', nullable: true, default: 'dev', doc: '' },
      splits: { type: 'array', items: { type: 'string', doc: '' }, default: ['test'], doc: '' },
      systemWeights: {
        type: 'map',
        optional: true,
        values: {
          type: 'object',
          fields: { lmWeight: { type: 'number', doc: '' }, wordInsertionPenalty: { type: 'number', doc: '' } },
          doc: '',
        },
        doc: '',
      },
    },
    async run(ctx) {
      runs.decode++;
      const sp = read(ctx.inputDir('prepare'), 'speakers.json') as Speakers;
      const w = ctx.options.tuneSplit
        ? { lmWeight: sp.testSpeakers![0].charCodeAt(0) - 96, wordInsertionPenalty: -1 }
        : ((ctx.options.systemWeights?.student as { lmWeight: number; wordInsertionPenalty: number } | undefined) ?? {
            lmWeight: 0,
            wordInsertionPenalty: 0,
          });
      json(ctx.outDir, 'decode.json', {
        format: 'am-distill.decode',
        formatVersion: 1,
        systems: [{ name: 'student', ...w }],
      });
      return { counts: {} };
    },
  };
  return new StageRegistry()
    .register(prepare as StageDefinition)
    .register(train as StageDefinition)
    .register(evalStage as StageDefinition)
    .register(decode as StageDefinition);
}

const STUDY = `name: study
seed: 3
crossValidation:
  speakers: [a, b, c, d]
  folds: [a, c]
seeds: [1, 2]
selection:
  candidates:
    - {stages.train.learningRate: 0.05}
    - {stages.train.learningRate: 0.2}
stages:
  prepare: {devTakeFraction: 0.1}
  train: {}
  eval: {}
  decode: {}
`;

function setup(text = STUDY) {
  const dir = mkdtempSync(join(tmpdir(), 'amd-study-'));
  made.push(dir);
  writeFileSync(join(dir, 'study.yaml'), text);
  const runs = { prepare: 0, train: 0, eval: 0, decode: 0 };
  return { dir, file: join(dir, 'study.yaml'), runs, registry: studyRegistry(runs) };
}

describe('studies: cross-validation folds, nested selection, seeds', () => {
  it("chooses each fold's settings on an inner dev speaker, never the test speaker, and freezes them for every seed", async () => {
    const t = setup();
    const { log, lines } = captureLogger();
    const r = await runStudy(t.file, { registry: t.registry, cwd: t.dir, log });
    const exp = join(t.dir, 'exp', 'study');
    expect(r.folds.map((f) => [f.fold.label, f.fold.innerDev, f.fold.train])).toEqual([
      ['a', 'b', ['b', 'c', 'd']],
      ['c', 'd', ['a', 'b', 'd']],
    ]);
    // Inner runs: the final run with the inner dev speaker as test; the outer test speaker is nowhere.
    for (const [fold, dev, c] of [
      ['a', 'b', 0],
      ['a', 'b', 1],
      ['c', 'd', 0],
      ['c', 'd', 1],
    ] as const) {
      const sp = JSON.parse(readFileSync(join(exp, fold, `select-${c}`, 'prepare', 'speakers.json'), 'utf8'));
      expect(JSON.stringify(sp)).not.toContain(`"${fold}"`);
      expect(sp).toEqual({
        devTakeFraction: 0.1,
        trainSpeakers: ['a', 'b', 'c', 'd'].filter((x) => x !== fold && x !== dev),
        testSpeakers: [dev],
      });
    }
    // Dev b prefers 0.2, dev d 0.05: each fold's choice follows its own dev speaker.
    expect(r.folds.map((f) => f.chosen)).toEqual([1, 0]);
    expect(r.folds[0].candidates.map((c) => c.score)).toEqual([0.35, 0.5]);
    for (const [fold, lr, lmWeight] of [
      ['a', 0.2, 2],
      ['c', 0.05, 4],
    ] as const) {
      for (const seed of [1, 2]) {
        const d = join(exp, fold, `seed-${seed}`);
        expect(JSON.parse(readFileSync(join(d, 'train', 'model.json'), 'utf8'))).toEqual({ seed, learningRate: lr });
        const sp = JSON.parse(readFileSync(join(d, 'prepare', 'speakers.json'), 'utf8'));
        expect(sp).toEqual({
          devTakeFraction: 0.1,
          trainSpeakers: r.folds.find((f) => f.fold.label === fold)!.fold.train,
          testSpeakers: [fold],
        });
        // The LM weights tuned on the inner dev speaker, frozen.
        expect(JSON.parse(readFileSync(join(d, 'decode', 'decode.json'), 'utf8')).systems[0]).toEqual({
          name: 'student',
          lmWeight,
          wordInsertionPenalty: -1,
        });
      }
    }
    // Seed 2 reuses seed 1's prepare (same data); the candidates share their prepare too.
    expect(t.runs.prepare).toBe(2 * 2); // per fold: one inner, one final
    expect(t.runs.train).toBe(2 * 4);
    const study = JSON.parse(readFileSync(join(exp, STUDY_JSON), 'utf8'));
    expect(study.folds.map((f: { runs: { dir: string }[] }) => f.runs.map((x) => x.dir))).toEqual([
      ['a/seed-1', 'a/seed-2'],
      ['c/seed-1', 'c/seed-2'],
    ]);
    expect(lines.some((l) => /run 8\/8/.test(l))).toBe(true);
    // The pool's record of the choices: per fold every candidate's dev score, the choice, the frozen LM weights.
    const sel = { candidates: [], system: 'student', metric: 'frameAccuracy' as const, tuneLm: true };
    expect(foldChoices(r.folds, sel)).toEqual([
      {
        fold: 'a',
        innerDev: 'b',
        metric: 'frameAccuracy',
        system: 'student',
        candidates: [
          { settings: { 'stages.train.learningRate': 0.05 }, score: 0.35 },
          { settings: { 'stages.train.learningRate': 0.2 }, score: 0.5 },
        ],
        chosen: 1,
        lmWeights: { student: { lmWeight: 2, wordInsertionPenalty: -1 } },
      },
      expect.objectContaining({
        fold: 'c',
        innerDev: 'd',
        chosen: 0,
        lmWeights: { student: { lmWeight: 4, wordInsertionPenalty: -1 } },
      }),
    ]);
    expect(foldChoices(r.folds, undefined)).toBeUndefined();
    // Pool labels stay unique across folds although the run directories repeat (seed-1, seed-2).
    expect(runLabels(r.folds)).toEqual(['a/seed-1', 'a/seed-2', 'c/seed-1', 'c/seed-2']);
    // A rerun of the whole study runs nothing again.
    const before = { ...t.runs };
    await runStudy(t.file, { registry: t.registry, cwd: t.dir, log: captureLogger().log });
    expect(t.runs).toEqual(before);
    // A later invocation with another seed starts from a finished replicate's data stages.
    await runStudy(t.file, {
      registry: t.registry,
      cwd: t.dir,
      log: captureLogger().log,
      sets: ['seeds=[7]', 'selection.candidates=[]', 'selection.tuneLm=false'],
    });
    expect(t.runs.prepare).toBe(before.prepare);
    expect(t.runs.train).toBe(before.train + 2);
    expect(JSON.parse(readFileSync(join(exp, 'a', 'seed-7', 'train', 'model.json'), 'utf8'))).toEqual({
      seed: 7,
      learningRate: 0.1,
    });
  });

  it('checks the study keys: a repeated speaker, a fold outside the speakers, selection without cross-validation', () => {
    const t = setup();
    const load = (text: string) => {
      writeFileSync(t.file, text);
      const recipe = loadRecipe(t.file, { registry: t.registry, cwd: t.dir });
      return studyFolds(recipe, t.registry);
    };
    expect(() => load(STUDY.replace('[a, b, c, d]', '[a, b, b, d]'))).toThrow(/listed twice.*found b/);
    expect(() => load(STUDY.replace('folds: [a, c]', 'folds: [a, e]'))).toThrow(ConfigError);
    expect(() => load(STUDY.replace(/crossValidation:\n.*\n.*\n/, ''))).toThrow(
      /study\.yaml.*selection needs crossValidation/,
    );
    expect(load(STUDY.replace(/selection:[\s\S]*?stages:/, 'stages:')).map((f) => f.innerDev)).toEqual([null, null]);
    // With an evaluation directory (--eval-corpus-dir) every listed speaker trains, in one fold.
    expect(
      load(STUDY.replace('prepare: {devTakeFraction: 0.1}', 'prepare: {devTakeFraction: 0.1, evalDir: other}')),
    ).toEqual([{ label: 'eval', test: null, train: ['a', 'b', 'c', 'd'], innerDev: 'd' }]);
  });

  it('picks the highest accuracy or the lowest WER, the first on ties', () => {
    expect(bestCandidate([0.4, 0.5, 0.5], 'frameAccuracy')).toBe(1);
    expect(bestCandidate([9, 7, 7], 'wer')).toBe(1);
  });

  it("reads an inner run's dev score, and names the file when it is missing or not JSON", () => {
    const dir = mkdtempSync(join(tmpdir(), 'amd-study-score-'));
    made.push(dir);
    expect(() => devScore(dir, 'student', 'frameAccuracy', 'test')).toThrow(ConfigError);
    expect(() => devScore(dir, 'student', 'frameAccuracy', 'test')).toThrow(/eval\.json written by the eval stage/);
    mkdirSync(join(dir, 'eval'));
    writeFileSync(join(dir, 'eval', 'eval.json'), '{"splits": {"test": ');
    expect(() => devScore(dir, 'student', 'frameAccuracy', 'test')).toThrow(FormatError);
    writeFileSync(
      join(dir, 'eval', 'eval.json'),
      JSON.stringify({
        format: 'am-distill.eval',
        version: 1,
        splits: { test: { models: { student: { accuracy: 0.75 } } } },
      }),
    );
    expect(devScore(dir, 'student', 'frameAccuracy', 'test')).toBe(0.75);
    expect(() => devScore(dir, 'baseline', 'frameAccuracy', 'test')).toThrow(
      /no test frame accuracy for system 'baseline'/,
    );
  });
});
