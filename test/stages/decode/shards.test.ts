/**
 * The decode stage in shards per (system, split) (issue 33; src/stages/decode-shards.ts), on the
 * toy experiment of ./fixtures.ts: with a tuning split (a 'tune' pass of system blocks, a common
 * job, then the test split's units) and with fixed weights (dev and test units only), the jobs run
 * in this process give decode/ the whole stage's bytes; the merge refuses a (system, split)
 * decoded twice or never and a shared file two parts wrote differently.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseRecipe } from '../../../src/pipeline/recipe.ts';
import { runPipeline } from '../../../src/pipeline/runner.ts';
import { buildJobGraph } from '../../../src/pipeline/jobs.ts';
import { runJob } from '../../../src/pipeline/jobs-run.ts';
import { initBackend } from '../../../src/nnet/backend.ts';
import { assembleDecodeSummary, copyDecodeParts } from '../../../src/stages/decode-shards.ts';
import type { DecodeSummary } from '../../../src/formats/decode.ts';
import { FormatError } from '../../../src/util/errors.ts';
import { createLogger } from '../../../src/util/log.ts';
import { TinyWorld, makeSplits, toyDecodeRecipe, toyDecodeRegistry } from './fixtures.ts';

const registry = () =>
  toyDecodeRegistry(() => {
    const world = new TinyWorld({ sigma: 2, seed: 'shards' });
    return { world, splits: makeSplits(world) };
  });
const log = createLogger({ stream: { write: () => true } });
let root: string;

beforeAll(async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  root = mkdtempSync(join(tmpdir(), 'amd-decshards-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Every file under `dir` but stage.json, relative path -> bytes (as text). */
function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || e.name === 'stage.json') continue;
    const p = join(e.parentPath, e.name);
    out.set(relative(dir, p), readFileSync(p, 'utf8'));
  }
  return out;
}

/** decode/ of the whole stage and of `shards` shard jobs run in order here; the decode job ids. */
async function wholeAndSharded(decode: string, shards: number) {
  const reg = registry();
  const parse = (exp: string) =>
    parseRecipe(toyDecodeRecipe('{order: 2}', decode), 'r.yaml', {
      registry: reg,
      cwd: root,
      sets: [`expDir=${join(root, exp)}`],
    });
  const whole = parse(`${shards}-whole`);
  await runPipeline(whole, { registry: reg, log });
  const sharded = parse(`${shards}-sharded`);
  const g = buildJobGraph(sharded, reg, { shards, recipeArgs: { file: 'r.yaml' } });
  let shard1: string[] = [];
  for (const job of g.jobs) {
    if (job.id === `decode.merge-${shards}`)
      shard1 = readdirSync(join(sharded.expDir, '.shards', 'decode', `1-of-${shards}`)).sort();
    await runJob(sharded, reg, job, log);
  }
  return {
    shard1,
    whole: files(join(whole.expDir, 'decode')),
    sharded: files(join(sharded.expDir, 'decode')),
    ids: g.jobs.map((j) => j.id).filter((id) => id.startsWith('decode')),
  };
}

describe('the decode stage in shards per system and split', () => {
  it('tunes each system in a pass, then decodes the (system, split) units: the whole stage bytes', async () => {
    const r = await wholeAndSharded('{backend: cpu, lmWeights: [0.5, 1, 2], wordInsertionPenalties: [0, 1]}', 4);
    expect(r.ids).toEqual([
      ...[0, 1, 2, 3].map((i) => `decode.pass-000.shard-${i}-of-4`),
      'decode.pass-000.merge-4',
      'decode.common',
      ...[0, 1, 2, 3].map((i) => `decode.shard-${i}-of-4`),
      'decode.merge-4',
    ]);
    expect([...r.sharded.keys()].sort()).toEqual([...r.whole.keys()].sort());
    expect(r.whole.has('student/tuning.json')).toBe(true);
    expect(r.shard1).toEqual(['baseline', 'shard.json']); // units [0, 1) of 3 (shard 0 has none)
    expect([...r.whole.keys()].filter((k) => r.whole.get(k) !== r.sharded.get(k))).toEqual([]);
  }, 120_000);

  it('with fixed weights decodes only (system, split) units, a shard spanning two systems', async () => {
    const r = await wholeAndSharded('{backend: cpu, tuneSplit: null, splits: [dev, test], lmWeight: 1}', 4);
    expect(r.ids.some((id) => id.includes('pass'))).toBe(false);
    // Units 1..2 of 6: baseline on test, ensemble on dev, one part per system.
    expect(r.shard1).toEqual(['baseline', 'ensemble', 'shard.json']);
    const summary = JSON.parse(r.sharded.get('decode.json')!) as DecodeSummary;
    expect(summary.systems.map((s) => Object.keys(s.splits))).toEqual(Array(3).fill(['dev', 'test']));
    expect([...r.sharded.keys()].sort()).toEqual([...r.whole.keys()].sort());
    expect([...r.whole.keys()].filter((k) => r.whole.get(k) !== r.sharded.get(k))).toEqual([]);
  }, 120_000);

  it('fails, as the whole stage, when only an absent optional system is asked for: no output', async () => {
    await expect(wholeAndSharded('{backend: cpu, systems: [control]}', 2)).rejects.toThrow(/2-whole.*no output/);
    const reg = registry();
    const r = parseRecipe(toyDecodeRecipe('{order: 2}', '{backend: cpu, systems: [control]}'), 'r.yaml', {
      registry: reg,
      cwd: root,
      sets: [`expDir=${join(root, 'none-sharded')}`],
    });
    const jobs = buildJobGraph(r, reg, { shards: 2, recipeArgs: { file: 'r.yaml' } }).jobs;
    for (const job of jobs.slice(0, -2)) await runJob(r, reg, job, log);
    expect(jobs.at(-2)!.id).toBe('decode.merge-2');
    await expect(runJob(r, reg, jobs.at(-2)!, log)).rejects.toThrow(/none-sharded.decode.*no output/);
  }, 60_000);

  it('refuses a (system, split) decoded twice or never, and a shared file written differently', async () => {
    const summary = (systems: [string, string[]][]) =>
      ({
        format: 'am-distill.decode',
        search: { beam: 13 },
        lexicon: { words: 3 },
        tuneSplit: null,
        splits: [],
        systems: systems.map(([name, splits]) => ({
          name,
          lmWeight: 1,
          splits: Object.fromEntries(splits.map((s) => [s, { decoded: 1 }])),
        })),
        skipped: Object.fromEntries(systems.flatMap(([, s]) => s).map((s) => [s, { done: 1 }])),
      }) as unknown as DecodeSummary;
    const order = { systems: ['a', 'b'], tuneSplit: null, splits: ['test'], where: 'shards' };
    const a = { file: 'p0/decode.json', summary: summary([['a', ['test']]]) };
    const ok = assembleDecodeSummary([a, { file: 'p1/decode.json', summary: summary([['b', ['test']]]) }], order);
    expect(ok.systems.map((s) => s.name)).toEqual(['a', 'b']);
    expect(Object.keys(ok)).toEqual(['format', 'search', 'lexicon', 'tuneSplit', 'splits', 'systems', 'skipped']);
    const twice = () =>
      assembleDecodeSummary([a, { file: 'p1/decode.json', summary: summary([['a', ['test']]]) }], order);
    expect(twice).toThrow(FormatError);
    expect(twice).toThrow(/p1\/decode.json: system 'a' decoded on 'test' twice.*also in p0\/decode.json/);
    expect(() => assembleDecodeSummary([a], order)).toThrow(/no shard decoded system 'b' on 'test'/);
    const other = summary([['b', ['test']]]);
    (other as unknown as { search: unknown }).search = { beam: 20 };
    expect(() => assembleDecodeSummary([a, { file: 'p1/decode.json', summary: other }], order)).toThrow(
      /p1\/decode.json: decode parts disagree on the search/,
    );

    const dir = join(root, 'parts');
    const put = (rel: string, text: string) => {
      mkdirSync(join(dir, rel, '..'), { recursive: true });
      writeFileSync(join(dir, rel), text);
    };
    put('p0/refs/test.trn', 'x (u1)\n');
    put('p0/a/test.trn', 'x (u1)\n');
    put('p1/refs/test.trn', 'x (u1)\n');
    put('p1/b/test.trn', 'y (u1)\n');
    await copyDecodeParts([join(dir, 'p0'), join(dir, 'p1')], join(dir, 'out'));
    expect(readFileSync(join(dir, 'out', 'b', 'test.trn'), 'utf8')).toBe('y (u1)\n');
    put('p2/refs/test.trn', 'z (u1)\n');
    await expect(copyDecodeParts([join(dir, 'p0'), join(dir, 'p2')], join(dir, 'out2'))).rejects.toThrow(
      /p2\/refs\/test.trn: two decode parts wrote the same file differently/,
    );
    put('p3/a/test.trn', 'x (u1)\n');
    await expect(copyDecodeParts([join(dir, 'p0'), join(dir, 'p3')], join(dir, 'out3'))).rejects.toThrow(
      /two decode parts wrote the same output/,
    );
  });
});
