/**
 * The features and align stages in 3 shards against the unsharded stages, on the tiny experiment
 * (VTLP copies in the training split) in the align variants the tiny recipe of
 * test/pipeline/shards-tiny.test.ts does not reach: tri3b (a shard aligns whole splits: its
 * speaker transforms need whole speakers), and VTLP copies realigned with reference-timing
 * constraints; the GMM training runs as pass jobs in both (tri3b: its LDA, MLLT, fMLLR and
 * speaker-independent passes too). The same bytes, stage.json aside.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadRecipe } from '../../src/pipeline/recipe.ts';
import { runPipeline } from '../../src/pipeline/runner.ts';
import { runJob } from '../../src/pipeline/jobs-run.ts';
import { buildJobGraph } from '../../src/pipeline/jobs.ts';
import { defaultRegistry } from '../../src/stages/index.ts';
import { captureLogger } from '../helpers.ts';
import { experimentFiles, TINY_EXPERIMENT_SETS } from './tiny-experiment.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'amd-shards-align-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function compare(name: string, extra: string[]) {
  const sets = [...TINY_EXPERIMENT_SETS, ...extra];
  const recipe = (dir: string) =>
    loadRecipe(join(ROOT, 'pipelines/demo.yaml'), {
      registry: defaultRegistry,
      cwd: ROOT,
      expDir: join(tmp, name, dir),
      sets,
    });
  const log = captureLogger();
  await runPipeline(recipe('whole'), { registry: defaultRegistry, log, toStage: 'align' });
  const r = recipe('sharded');
  const graph = buildJobGraph(r, defaultRegistry, { shards: 3, recipeArgs: { file: r.file, sets } });
  const upToAlign = graph.jobs.slice(0, graph.jobs.findIndex((j) => j.id === 'align.merge-3') + 1);
  for (const job of upToAlign) await runJob(r, defaultRegistry, job, log);
  expect(upToAlign.map((j) => j.id)).toContain('align.common');
  const a = experimentFiles(join(tmp, name, 'whole'));
  const b = experimentFiles(join(tmp, name, 'sharded'));
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  expect([...a.keys()].filter((k) => a.get(k) !== b.get(k))).toEqual([]);
  expect(a.has('align/train.arrow') && a.has('features/train.cmvn.json')).toBe(true);
}

describe('features and align in shards', () => {
  it('tri3b: the same bytes as unsharded', () =>
    compare('tri3b', ['stages.align.lastModel=tri3b', 'stages.align.adaptedIters=3']));
  it('VTLP copies realigned, reference timings constraining: the same bytes as unsharded', () =>
    compare('realign', ['stages.align.vtlpCopies=realign', 'stages.align.referenceTimings=constrain']));
});
