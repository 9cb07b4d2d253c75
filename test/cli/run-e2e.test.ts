/**
 * The one end-to-end check in `npm test`: the real CLI (`node bin/am-distill.js`, a separate
 * process) runs prepare + features on a tiny generated corpus, and a second run skips both.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateFile } from '../../src/pipeline/validate.ts';
import { readFeatureMetadata } from '../../src/features/store.ts';
import { makeKaldiCorpus, tinyRecipe } from './fixtures.ts';

const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/am-distill.js');

let root: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'amd-e2e-'));
  await makeKaldiCorpus(root);
  writeFileSync(join(root, 'tiny.yaml'), tinyRecipe());
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function amDistill(...args: string[]) {
  // Relative paths in the recipe (corpus.dir: data) and the default exp/<name> resolve against cwd.
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, AM_DISTILL_LOG: 'info' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('am-distill run through the real CLI', () => {
  it('prepares a corpus and computes valid features, then skips both stages on a rerun', async () => {
    const first = amDistill('run', 'tiny.yaml');
    expect(first.stderr).not.toMatch(/error/i);
    expect(first.code).toBe(0);
    const exp = join(root, 'exp', 'tiny');
    expect(first.stdout).toContain(`experiment tiny: ${exp}`);
    expect(first.stdout).toContain(`-> ${join(exp, 'features')}`);

    for (const p of ['prepare', 'features', 'prepare/corpus.json', 'features/train.arrow', 'features/test.arrow']) {
      expect((await validateFile(join(exp, p))).lines.length, p).toBeGreaterThan(0);
    }
    const meta = await readFeatureMetadata(join(exp, 'features', 'train.arrow'));
    expect(meta.counts.utterances).toBe(3);
    expect(meta.featureConfig).toMatchObject({ numMelBins: 23, sampleRateHz: 16000 });
    const record = JSON.parse(readFileSync(join(exp, 'features', 'stage.json'), 'utf8'));
    expect(record.counts).toMatchObject({ splits: 2, utterances: 6 });
    expect(record.inputs.upstream.prepare).toBe(
      JSON.parse(readFileSync(join(exp, 'prepare', 'stage.json'), 'utf8')).outputHash,
    );

    const second = amDistill('run', 'tiny.yaml');
    expect(second.code).toBe(0);
    expect(second.stderr).toContain('skip prepare: up to date');
    expect(second.stderr).toContain('skip features: up to date');
    expect(existsSync(join(exp, '.lock'))).toBe(false);
  });
});
