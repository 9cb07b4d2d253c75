/** The `align` stage in the runner: prepare (synth) -> features -> align from a recipe. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRecipe } from '../../src/pipeline/recipe.ts';
import { runPipeline } from '../../src/pipeline/runner.ts';
import { createDefaultRegistry } from '../../src/stages/index.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { createLogger } from '../../src/util/log.ts';

const registry = createDefaultRegistry();
const log = createLogger({ stream: { write: () => true } });
let root: string;

const recipe = (align: string) => `name: t
seed: 2
corpus: {name: synth}
stages:
  prepare: {numSpeakers: 4, utterancesPerSpeaker: 6, splits: {train: 2, dev: 1, test: 1}}
  features: {}
  align: ${align}
`;
const parse = (text: string) =>
  parseRecipe(text, 'r.yaml', { registry, cwd: root, sets: [`expDir=${join(root, 'exp')}`] });

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'amd-alignstage-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('align stage', () => {
  it('is registered after features and reads prepare and features', () => {
    const names = registry.names();
    expect(names.indexOf('align')).toBe(names.indexOf('features') + 1);
  });

  it('checks its options at load time with the recipe line', () => {
    let err: unknown;
    try {
      parse(recipe('{numLeaves: 0}'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).location).toMatchObject({ file: 'r.yaml', line: 7, keyPath: 'stages.align.numLeaves' });
  });

  it('runs after prepare and features, records speed in stage.json only, and is up to date on a rerun', async () => {
    // Trained on all three splits: a 12-utterance model does not reliably align unseen voices, and
    // this test is about the runner (held-out alignment is tested in corpus.test.ts).
    const text = recipe(
      '{trainSplits: [train, dev, test], numLeaves: 130, minLeafOccupancy: 10, monoIters: 6, monoGaussians: 120, triIters: 4, triGaussians: 130}',
    );
    const first = await runPipeline(parse(text), { registry, log });
    const a = first.stages.find((s) => s.stage === 'align')!;
    expect(a.status).toBe('ran');
    const dir = join(root, 'exp', 'align');
    for (const f of [
      'train.arrow',
      'dev.arrow',
      'test.arrow',
      'senones.json',
      'tree.json',
      'model.json',
      'summary.json',
    ])
      expect(existsSync(join(dir, f)), f).toBe(true);
    expect(existsSync(join(dir, 'timing.json'))).toBe(false);
    const record = JSON.parse(readFileSync(join(dir, 'stage.json'), 'utf8'));
    expect(record.details.timing.framesPerSec).toBeGreaterThan(0);
    expect(record.counts.senones).toBe(JSON.parse(readFileSync(join(dir, 'senones.json'), 'utf8')).numSenones);
    expect(record.counts.utterances + record.counts.failed).toBe(24);
    const again = await runPipeline(parse(text), { registry, log });
    expect(again.stages.find((s) => s.stage === 'align')!.status).toBe('up-to-date');
  }, 90_000);
});
