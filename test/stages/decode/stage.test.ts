/**
 * The lm, decode and score stages in the runner, after toy upstream stages (prepare, features,
 * align, train, distill) that write the tiny experiment's files under the real stage names.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRecipe } from '../../../src/pipeline/recipe.ts';
import { runPipeline } from '../../../src/pipeline/runner.ts';
import { createDefaultRegistry } from '../../../src/stages/index.ts';
import { initBackend } from '../../../src/nnet/backend.ts';
import { ConfigError } from '../../../src/util/errors.ts';
import { createLogger } from '../../../src/util/log.ts';
import { TinyWorld, makeSplits, toyDecodeRecipe, toyDecodeRegistry } from './fixtures.ts';

const tiny = () => {
  const world = new TinyWorld({ sigma: 2, seed: 'stage' });
  return { world, splits: makeSplits(world) };
};
const registry = () => toyDecodeRegistry(tiny);

const log = createLogger({ stream: { write: () => true } });
let root: string;
const recipe = (decode = '{backend: cpu, lmWeights: [0.5, 1, 2], wordInsertionPenalties: [0, 1]}', lm = '{order: 2}') =>
  toyDecodeRecipe(lm, decode);
const parse = (text: string, sets: string[] = []) =>
  parseRecipe(text, 'r.yaml', { registry: registry(), cwd: root, sets: [`expDir=${join(root, 'exp')}`, ...sets] });

beforeAll(async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  root = mkdtempSync(join(tmpdir(), 'amd-decstage-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('lm, decode and score stages', () => {
  it('are registered after the model stages, decode reading train and distill', () => {
    const r = createDefaultRegistry();
    const names = r.names();
    expect(names.slice(names.indexOf('lm'), names.indexOf('score') + 1)).toEqual(['lm', 'decode', 'score']);
    expect(names.indexOf('lm')).toBeGreaterThan(names.indexOf('distill'));
    expect(r.get('decode').inputs).toEqual(['prepare', 'features', 'align', 'lm', 'train', 'distill']);
    expect(r.get('score').inputs).toEqual(['decode']);
  });

  it('run after the model stages, record LM perplexity, chosen weights, WER and speed, and are up to date on a rerun', async () => {
    const first = await runPipeline(parse(recipe()), { registry: registry(), log });
    expect(first.stages.map((s) => s.status)).toEqual(Array(8).fill('ran'));
    const exp = join(root, 'exp');
    const rec = (stage: string) => JSON.parse(readFileSync(join(exp, stage, 'stage.json'), 'utf8'));

    const lm = rec('lm');
    expect(existsSync(join(exp, 'lm', 'lm.arpa'))).toBe(true);
    expect(Object.keys(lm.details.eval)).toEqual(['dev', 'test']);
    expect(lm.counts.devPpl).toBeGreaterThan(1);
    expect(lm.counts.testOovPercent).toBe(0);

    const dec = rec('decode');
    expect(Object.keys(dec.details.weights)).toEqual(['baseline', 'ensemble', 'student']);
    for (const w of Object.values(dec.details.weights) as {
      lmWeight: number;
      wordInsertionPenalty: number;
      from: string;
    }[]) {
      expect([0.5, 1, 2]).toContain(w.lmWeight);
      expect(w.from).toBe('tuning');
    }
    expect(dec.details.timing.systems.student.test.searchRtf).toBeGreaterThan(0);
    expect(existsSync(join(exp, 'decode', 'timing.json'))).toBe(false);
    expect(dec.counts.noPath).toBe(0);
    expect(dec.counts.decoded).toBe(3 * (12 + 12));
    const decodeJson = JSON.parse(readFileSync(join(exp, 'decode', 'decode.json'), 'utf8'));
    expect(decodeJson.systems[1].models).toEqual([
      'train/member-1/final',
      'train/member-2/final',
      'train/member-3/final',
    ]);
    expect(decodeJson.lm.file).toBe('lm/lm.arpa');

    const score = JSON.parse(readFileSync(join(exp, 'score', 'score.json'), 'utf8'));
    expect(score.results.map((r: { system: string; split: string }) => `${r.system}/${r.split}`)).toEqual([
      'baseline/dev',
      'ensemble/dev',
      'student/dev',
      'baseline/test',
      'ensemble/test',
      'student/test',
    ]);
    expect(rec('score').counts['student.test.wer']).toBeCloseTo(score.results[5].wer, 2);
    expect(score.comparisons[0]).toMatchObject({ a: 'student', b: 'baseline', split: 'dev', replicates: 100 });
    expect(dec.counts['student.test.wer']).toBeCloseTo(score.results[5].wer, 2);

    const again = await runPipeline(parse(recipe()), { registry: registry(), log });
    expect(again.stages.map((s) => s.status)).toEqual(Array(8).fill('up-to-date'));
    // A new beam reruns decode (and score, whose input changed only if the hypotheses did), not lm.
    const third = await runPipeline(parse(recipe(), ['stages.decode.beam=20']), { registry: registry(), log });
    expect(third.stages.find((s) => s.stage === 'lm')!.status).toBe('up-to-date');
    expect(third.stages.find((s) => s.stage === 'decode')!.status).toBe('ran');
  }, 60_000);

  it('decode with stages.decode.lexicon: another lexicon file (an input of the stage), its unusable words counted in stage.json', async () => {
    writeFileSync(
      join(root, 'other.txt'),
      'a AA1\nbaa B AA1\nbiks B IY1 K S\nkiy K IY\nsit S IY T\ntab T AA B\ntab T AA B S\nzoo Z UW\n',
    );
    const text = recipe('{backend: cpu, systems: [student], tuneSplit: null, splits: [test], lexicon: other.txt}');
    const sets = [`expDir=${join(root, 'exp-lexicon')}`];
    await runPipeline(parse(text, sets), { registry: registry(), log, toStage: 'decode' });
    const dec = JSON.parse(readFileSync(join(root, 'exp-lexicon', 'decode', 'stage.json'), 'utf8'));
    expect(dec.counts).toMatchObject({
      words: 6,
      lexiconWordsRead: 7,
      lexiconUnusableWords: 1,
      lexiconUnknownPhonePronunciations: 1,
      lexiconUntrainedPhoneWords: 0,
      decoded: 12,
    });
    expect(dec.details.lexicon.file).toMatchObject({
      file: '../other.txt',
      unknownPhones: { Z: 1, UW: 1 },
      unusableExamples: ['ZOO'],
    });
    // The lexicon is an input: changing it reruns decode.
    writeFileSync(join(root, 'other.txt'), readFileSync(join(root, 'other.txt'), 'utf8').replace('zoo Z UW\n', ''));
    const again = await runPipeline(parse(text, sets), { registry: registry(), log, toStage: 'decode' });
    expect(again.stages.find((s) => s.stage === 'decode')!.status).toBe('ran');
    expect(
      JSON.parse(readFileSync(join(root, 'exp-lexicon', 'decode', 'stage.json'), 'utf8')).counts.lexiconUnusableWords,
    ).toBe(0);
  }, 60_000);

  it('checks the recipe: unknown systems and splits, and dev text for the LM, with the recipe line', async () => {
    let err = await runPipeline(parse(recipe('{backend: cpu, systems: [baseline, teacher]}')), {
      registry: registry(),
      log,
      fromStage: 'decode',
      toStage: 'decode',
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.location).toMatchObject({ file: 'r.yaml', line: 10, keyPath: 'stages.decode.systems' });
    expect(err.message).toMatch(
      /no acoustic model 'teacher'.*some of baseline, member-1, member-2, member-3, student, ensemble, members/,
    );
    err = await runPipeline(parse(recipe('{backend: cpu, splits: [eval]}')), {
      registry: registry(),
      log,
      fromStage: 'decode',
      toStage: 'decode',
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.location).toMatchObject({ line: 10, keyPath: 'stages.decode.splits' });
    err = await runPipeline(parse(recipe(undefined, '{trainSplits: [train], evalSplits: [train, test]}')), {
      registry: registry(),
      log,
      fromStage: 'lm',
      toStage: 'lm',
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.location).toMatchObject({ file: 'r.yaml', line: 9, keyPath: 'stages.lm.evalSplits' });
    // Priors from posteriors must come from a split this stage does not decode.
    err = await runPipeline(parse(recipe('{backend: cpu, priors: posteriors, priorSplit: test}')), {
      registry: registry(),
      log,
      fromStage: 'decode',
      toStage: 'decode',
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.location).toMatchObject({ file: 'r.yaml', line: 10, keyPath: 'stages.decode.priorSplit' });
    expect(err.message).toMatch(/priors would be estimated on a split this stage decodes/);
    expect(() => parse(recipe('{priors: counts}'))).toThrow(/stages.decode.priors/);
    // An LM trained on dev text may exist, but decoding dev (or test) with it is refused.
    await runPipeline(parse(recipe(undefined, '{trainSplits: [train, dev]}')), {
      registry: registry(),
      log,
      fromStage: 'lm',
      toStage: 'lm',
    });
    err = await runPipeline(parse(recipe(undefined, '{trainSplits: [train, dev]}')), {
      registry: registry(),
      log,
      fromStage: 'decode',
      toStage: 'decode',
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.location).toMatchObject({ file: 'r.yaml', line: 9, keyPath: 'stages.lm.trainSplits' });
    expect(err.message).toMatch(/trained on the text of 'dev'/);
    expect(() => parse(recipe('{lmWeights: []}'))).toThrow(/stages.decode.lmWeights/);
  }, 60_000);
});
