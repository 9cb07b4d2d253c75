import { describe, it, expect } from 'vitest';
import { parseRecipe } from '../../src/pipeline/recipe.ts';
import { defaultRegistry } from '../../src/stages/index.ts';
import { ConfigError } from '../../src/util/errors.ts';

const FSDD = `name: fsdd-test
corpus:
  name: fsdd
  dir: /data/fsdd
stages:
  prepare:
    mode: connected
`;

describe('--eval-corpus-dir', () => {
  it('sets the prepare stage evalDir so the test split comes from the second corpus', () => {
    const r = parseRecipe(FSDD, 'pipelines/fsdd.yaml', {
      registry: defaultRegistry,
      cwd: '/work',
      evalCorpusDir: '/data/fsdd-eval',
    });
    const prepare = r.stages.find((s) => s.name === 'prepare');
    expect(prepare?.options.evalDir).toBe('/data/fsdd-eval');
  });
  it('is rejected, naming the flag, for an adapter without an evaluation directory', () => {
    const synth = 'name: s\ncorpus:\n  name: synth\nstages:\n  prepare: {}\n';
    let err: unknown;
    try {
      parseRecipe(synth, 'pipelines/s.yaml', { registry: defaultRegistry, cwd: '/work', evalCorpusDir: '/data/x' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('evalDir');
  });
});
