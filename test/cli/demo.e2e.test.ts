/**
 * Slow end-to-end check (npm run test:e2e): the demo recipe through the real CLI, as
 * `npm run demo` runs it, into a temporary experiment directory; every output validated.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateFile } from '../../src/pipeline/validate.ts';
import { readCorpusInfo } from '../../src/corpus/manifest.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const exp = mkdtempSync(join(tmpdir(), 'amd-demo-'));
afterAll(() => rmSync(exp, { recursive: true, force: true }));

describe('npm run demo', () => {
  it('prepares the synthetic corpus and computes its features, then skips both on a rerun', async () => {
    const run = () => spawnSync(process.execPath, [join(repoRoot, 'bin/am-distill.js'), 'run', 'pipelines/demo.yaml', '--exp-dir', exp], { cwd: repoRoot, encoding: 'utf8' });
    const t0 = Date.now();
    const first = run();
    const seconds = (Date.now() - t0) / 1000;
    expect(first.stderr).not.toMatch(/error/i);
    expect(first.status).toBe(0);
    expect(first.stdout).toContain(`-> ${join(exp, 'features')}`);
    console.log(`demo prepare + features: ${seconds.toFixed(1)} s`);
    const info = await readCorpusInfo(join(exp, 'prepare'));
    for (const split of info.splits) {
      const summary = await validateFile(join(exp, 'features', `${split}.arrow`));
      expect(summary.kind).toBe('features');
    }
    await validateFile(join(exp, 'prepare'));
    await validateFile(join(exp, 'features'));
    expect(JSON.parse(readFileSync(join(exp, 'features', 'stage.json'), 'utf8')).counts.utterances).toBeGreaterThan(100);
    const second = run();
    expect(second.status).toBe(0);
    expect(second.stderr).toContain('skip prepare: up to date');
    expect(second.stderr).toContain('skip features: up to date');
  });
});
