/**
 * Issue 33's acceptance on the tiny recipe (the demo shrunk, every stage to the report): the job
 * graph run by the local executor in worker processes with one shard and with four gives the same
 * bytes in every output, stage.json aside, and the report's stage wall times aside; with four, the
 * align stage's GMM training runs as shard jobs too (per pass: 4 shards and a merge), and decode
 * per system and split (a tuning pass of system blocks on dev, then the test split's units).
 */
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runRecipeInShards } from '../../src/pipeline/run-shards.ts';
import { executionError } from '../../src/pipeline/executor.ts';
import { defaultRegistry } from '../../src/stages/index.ts';
import type { ReportJson } from '../../src/report/types.ts';
import { captureLogger } from '../helpers.ts';
import { experimentOutputs, TINY_PIPELINE_SETS } from './tiny-experiment.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'amd-shards-tiny-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the tiny recipe as a job graph', () => {
  it('gives the same bytes with --shards 1 and --shards 4 (worker processes)', async () => {
    const run = (shards: number) =>
      runRecipeInShards(
        { file: 'pipelines/demo.yaml', sets: TINY_PIPELINE_SETS, expDir: join(tmp, `s${shards}`) },
        { registry: defaultRegistry, shards, cwd: ROOT, log: captureLogger(), write: () => {} },
      );
    const one = await run(1);
    expect(executionError(one)).toBeNull();
    expect(one.jobs.every((j) => !j.id.includes('.'))).toBe(true);
    const four = await run(4);
    expect(executionError(four)).toBeNull();
    expect(four.workers).toBe(4);
    const ids = four.jobs.map((j) => j.id);
    for (const stage of ['features', 'align', 'train', 'targets', 'distill', 'eval', 'decode']) {
      expect(ids).toContain(`${stage}.shard-3-of-4`);
      expect(ids).toContain(`${stage}.merge-4`);
    }
    // align's GMM training in shards: 14 passes (mono 8 iterations, tri1 6), each 4 shards and a merge.
    expect(ids.filter((id) => id.startsWith('align.pass-'))).toHaveLength(14 * 5);
    expect(ids).toContain('align.pass-013.shard-3-of-4');
    expect(four.jobs.find((j) => j.id === 'align.pass-007.merge-4')!.status).toBe('ran');
    for (const id of ['decode.pass-000.shard-3-of-4', 'decode.pass-000.merge-4', 'decode.common'])
      expect(four.jobs.find((j) => j.id === id)!.status).toBe('ran');

    // The merged stages record their shard jobs (the merge's own time is the stage's), the report shows them.
    const jobsOf = (dir: string) =>
      (JSON.parse(readFileSync(join(dir, 'report', 'report.json'), 'utf8')) as ReportJson).stageJobs;
    expect(jobsOf(join(tmp, 's1'))).toBeUndefined();
    const merged = jobsOf(join(tmp, 's4'))!;
    for (const stage of ['features', 'align', 'train', 'targets', 'distill', 'eval', 'decode']) {
      const made = ids.filter((id) => id.startsWith(`${stage}.`) && id !== `${stage}.merge-4`);
      expect(merged[stage].count, stage).toBe(made.length);
      expect(merged[stage].seconds, stage).toBeGreaterThan(0);
    }
    expect(merged.prepare).toBeUndefined();
    expect(readFileSync(join(tmp, 's4', 'report', 'report.md'), 'utf8')).toMatch(
      /\| align \|[^\n]*\| 75 \| \d+\.\d \|/,
    );

    const a = experimentOutputs(join(tmp, 's1'));
    const b = experimentOutputs(join(tmp, 's4'));
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    expect(a.size).toBeGreaterThan(100);
    const differ = [...a.keys()].filter((k) => a.get(k) !== b.get(k));
    expect(differ).toEqual([]);
  }, 240_000);
});
