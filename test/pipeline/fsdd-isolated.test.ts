/**
 * pipelines/fsdd-digits.yaml, shrunk with --set, on the FSDD stand-in (4 speakers of noise bursts,
 * 2 takes per digit) through the real stages up to score: the isolated-digit split is prepared,
 * decoded with its one-digit grammar and scored for every system (issue 29 item 7). The stand-in's
 * WER means nothing; that it exists per system, with one word per hypothesis, is the point.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadRecipe } from '../../src/pipeline/recipe.ts';
import { runPipeline } from '../../src/pipeline/runner.ts';
import { defaultRegistry } from '../../src/stages/index.ts';
import { readTrn } from '../../src/score/trn.ts';
import { makeFsddDir } from '../corpora/helpers/fixtures.ts';
import { captureLogger } from '../helpers.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'amd-fsdd-iso-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SETS = [
  'stages.prepare.numUtterancesPerSpeaker=4',
  'stages.align.numLeaves=20',
  'stages.align.monoIters=4',
  'stages.align.triIters=3',
  'stages.train.hiddenLayers=1',
  'stages.train.hiddenUnits=16',
  'stages.train.leftContext=1',
  'stages.train.rightContext=1',
  'stages.train.members=2',
  'stages.train.maxEpochs=1',
  'stages.train.maxWorkers=1',
  'stages.train.smallFraction=null',
  'stages.train.averageFromEpoch=1',
  'stages.distill.maxEpochs=1',
  'stages.distill.averageFromEpoch=0',
  'stages.distill.maxWorkers=1',
  'stages.eval.bootstrapReplicates=20',
  'stages.decode.beam=10',
  'stages.score.bootstrapReplicates=20',
];

describe('fsdd-digits on the FSDD stand-in: the isolated-digit WER', () => {
  it("prepares test-isolated from the test speaker's takes, decodes it with the one-digit grammar and scores every system", async () => {
    const corpus = makeFsddDir(join(dir, 'fsdd'), ['alice', 'bob', 'carol', 'dave'], 2);
    const recipe = loadRecipe(join(ROOT, 'pipelines/fsdd-digits.yaml'), {
      registry: defaultRegistry,
      cwd: ROOT,
      expDir: join(dir, 'exp'),
      corpusDir: corpus,
      sets: SETS,
    });
    await runPipeline(recipe, { registry: defaultRegistry, log: captureLogger(), toStage: 'score' });
    const exp = join(dir, 'exp');
    const json = (...p: string[]) => JSON.parse(readFileSync(join(exp, ...p), 'utf8'));

    const info = json('prepare', 'corpus.json');
    expect(info.splits).toContain('test-isolated');
    expect(info.counts['test-isolated']).toMatchObject({ supervisions: 20, speakers: 1 });
    expect(json('lm', 'lm.json').grammars['test-isolated']).toMatchObject({ kind: 'one-word', words: 10 });

    const dec = json('decode', 'decode.json');
    expect(dec.splits).toEqual(['test', 'test-isolated']);
    expect(dec.splitLms['test-isolated'].file).toBe('lm/grammars/test-isolated.arpa');
    const iso = json('score', 'score.json').results.filter((r: { split: string }) => r.split === 'test-isolated');
    expect(iso.map((r: { system: string }) => r.system)).toEqual(dec.systems.map((s: { name: string }) => s.name));
    expect(iso.map((r: { system: string }) => r.system)).toEqual(
      expect.arrayContaining(['baseline', 'ensemble', 'student']),
    );
    for (const r of iso) {
      expect(r.refWords).toBe(20);
      expect(r.wer).toBeGreaterThanOrEqual(0);
      expect(r.wer).toBeLessThanOrEqual(100);
      expect(readTrn(join(exp, 'decode', r.system, 'test-isolated.trn')).every((h) => h.words.length === 1)).toBe(true);
    }
  }, 300_000);
});
