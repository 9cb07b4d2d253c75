/**
 * A stage's passes as jobs (issue 33 item 1; src/pipeline/jobs-passes.ts), on a toy stage whose
 * passes do what the align stage's GMM training does with its blocks: each pass's shards write a
 * statistics file per block (and pass 0 the blocks' state, which later passes read), the merge
 * sums them in block order into the state the next pass reads and removes the statistics; the
 * common job and the usual shards and merge follow. Checked: the graph, the same bytes as the
 * whole stage for any shard count, a failed pass shard rerun alone, and the merge's refusals.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRecipe, type Recipe } from '../../src/pipeline/recipe.ts';
import { runPipeline } from '../../src/pipeline/runner.ts';
import { buildJobGraph, jobArgs, shardsRoot, type Job } from '../../src/pipeline/jobs.ts';
import { runJob } from '../../src/pipeline/jobs-run.ts';
import { executionError, type JobPool } from '../../src/pipeline/executor.ts';
import { runRecipeInShards } from '../../src/pipeline/run-shards.ts';
import { copyShardEntries, shardRange, shardSlice } from '../../src/stages/shards.ts';
import { StageRegistry, type StageDefinition } from '../../src/stages/stage.ts';
import { ConfigError, FormatError } from '../../src/util/errors.ts';
import { captureLogger } from './toy-stages.ts';

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

interface Options {
  n: number;
  passes: number;
  /** Pass and shard that throw (run-time only). */
  failPass: number;
  failShard: number;
}

const BLOCKS = 4;
const blockItems = (n: number, b: number) => {
  const [s, e] = shardRange(n, { index: b, count: BLOCKS });
  return Array.from({ length: e - s }, (_, k) => s + k);
};
const read = (file: string) => Number(readFileSync(file, 'utf8'));

/** `acc`: per pass, each block's statistic is the sum of (item + state + offset) over its items; the state is the sum of them. */
function registry(runs: Record<string, number>): StageRegistry {
  const count = (what: string) => (runs[what] = (runs[what] ?? 0) + 1);
  const stat = (n: number, b: number, state: number, offset: number) =>
    blockItems(n, b).reduce((a, k) => a + (k + state + offset) * 0.1, 0);
  const finalFiles = (dir: string, state: number, ks: number[]) => {
    for (const k of ks) writeFileSync(join(dir, `item-${k}.txt`), `${state * k}\n`);
  };
  const acc: StageDefinition<Options> = {
    name: 'acc',
    doc: 'passes over blocks',
    inputs: [],
    schema: {
      n: { type: 'number', integer: true, min: 1, default: 7, doc: 'items' },
      passes: { type: 'number', integer: true, min: 1, default: 3, doc: 'passes' },
      failPass: { type: 'number', integer: true, default: -1, affectsOutput: false, doc: 'pass that fails' },
      failShard: { type: 'number', integer: true, default: -1, affectsOutput: false, doc: 'shard that fails' },
    },
    async run(ctx) {
      count('whole');
      const { n, passes } = ctx.options;
      let state = 0;
      for (let p = 0; p < passes; p++) {
        let sum = 0;
        for (let b = 0; b < BLOCKS; b++) sum += stat(n, b, state, p === 0 ? 0 : 1 + b);
        state += sum;
      }
      finalFiles(
        ctx.outDir,
        state,
        Array.from({ length: n }, (_, k) => k),
      );
      return {};
    },
    shards: {
      unit: 'items',
      passes: {
        unit: 'blocks',
        list: (o) => Array.from({ length: o.passes }, (_, p) => `pass ${p}`),
        reads: (_o, pass) => (pass > 0 ? 0 : null),
        async accumulate(ctx, pass, shard) {
          count(`pass-${pass}-shard-${shard.index}`);
          if (pass === ctx.options.failPass && shard.index === ctx.options.failShard)
            throw new FormatError('toy pass shard failure', { file: `pass ${pass} shard ${shard.index}` });
          const prev = ctx.mergeDir(pass - 1);
          const state = prev ? read(join(prev, 'state.txt')) : 0;
          const [b0, b1] = shardRange(BLOCKS, shard);
          for (let b = b0; b < b1; b++) {
            // Pass 0 writes each block's offset, the later passes read it (as align's alignments).
            const offset = pass === 0 ? 0 : read(join(ctx.shardDir(0), `offset-${b}.txt`));
            writeFileSync(join(ctx.outDir, `stats-${b}.txt`), String(stat(ctx.options.n, b, state, offset)));
            if (pass === 0) writeFileSync(join(ctx.outDir, `offset-${b}.txt`), String(1 + b));
          }
          return { coverage: [{ group: 'blocks', start: b0, end: b1, total: BLOCKS }] };
        },
        async merge(ctx, pass, shards) {
          count(`pass-${pass}-merge`);
          const prev = ctx.mergeDir(pass - 1);
          let state = prev ? read(join(prev, 'state.txt')) : 0;
          let sum = 0;
          for (const sh of shards)
            for (let b = sh.coverage[0].start; b < sh.coverage[0].end; b++) sum += read(join(sh.dir, `stats-${b}.txt`));
          state += sum;
          writeFileSync(join(ctx.outDir, 'state.txt'), String(state));
          return {};
        },
        consumed: (name) => name.startsWith('stats-'),
      },
      async common(ctx) {
        count('common');
        writeFileSync(join(ctx.outDir, 'state.txt'), readFileSync(join(ctx.lastPassDir!, 'state.txt')));
        return {};
      },
      async run(ctx, shard) {
        const mine = shardSlice(
          Array.from({ length: ctx.options.n }, (_, k) => k),
          shard,
          'items',
        );
        finalFiles(ctx.outDir, read(join(ctx.commonDir!, 'state.txt')), mine.items);
        return { coverage: [mine.coverage] };
      },
      async merge(ctx, shards) {
        await copyShardEntries(
          shards.map((s) => s.dir),
          ctx.outDir,
        );
        return {};
      },
    },
  };
  return new StageRegistry().register(acc);
}

const TEXT = 'name: toy\nseed: 3\nstages:\n  acc: {}\n';

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'amd-passes-'));
  made.push(dir);
  const runs: Record<string, number> = {};
  const reg = registry(runs);
  const { log } = captureLogger();
  writeFileSync(join(dir, 'toy.yaml'), TEXT);
  const recipe = (sets: string[] = [], expDir = join(dir, 'exp')): Recipe =>
    parseRecipe(TEXT, join(dir, 'toy.yaml'), { registry: reg, cwd: dir, sets, expDir });
  const pool = (r: Recipe): JobPool => ({ run: (job: Job) => runJob(r, reg, job, log), close: async () => {} });
  const execute = (shards: number, sets: string[] = [], expDir = join(dir, 'exp')) =>
    runRecipeInShards(
      { file: 'toy.yaml', sets, expDir },
      { registry: reg, shards, workers: 2, cwd: dir, log, pool: pool(recipe(sets, expDir)) },
    );
  const statuses = (rep: Awaited<ReturnType<typeof execute>>) =>
    Object.fromEntries(rep.jobs.map((j) => [j.id, j.status]));
  return { dir, runs, reg, log, recipe, execute, statuses };
}

const files = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f !== 'stage.json')
      .map((f) => [f, readFileSync(join(dir, f), 'utf8')]),
  );

describe("a stage's passes as jobs", () => {
  it('run per pass as shards and a merge, each pass after the one before, before the common job', () => {
    const t = setup();
    const g = buildJobGraph(t.recipe(['stages.acc.passes=2']), t.reg, { shards: 2, recipeArgs: { file: 'toy.yaml' } });
    expect(g.jobs.map((j) => [j.id, j.needs])).toEqual([
      ['acc.pass-000.shard-0-of-2', []],
      ['acc.pass-000.shard-1-of-2', []],
      ['acc.pass-000.merge-2', ['acc.pass-000.shard-0-of-2', 'acc.pass-000.shard-1-of-2']],
      ['acc.pass-001.shard-0-of-2', ['acc.pass-000.merge-2']],
      ['acc.pass-001.shard-1-of-2', ['acc.pass-000.merge-2']],
      ['acc.pass-001.merge-2', ['acc.pass-001.shard-0-of-2', 'acc.pass-001.shard-1-of-2']],
      ['acc.common', ['acc.pass-001.merge-2']],
      ['acc.shard-0-of-2', ['acc.common']],
      ['acc.shard-1-of-2', ['acc.common']],
      ['acc.merge-2', ['acc.shard-0-of-2', 'acc.shard-1-of-2']],
    ]);
    expect(jobArgs(g.jobs[4])).toEqual(['acc', '--pass', '1', '--shard', '1/2']);
    expect(jobArgs(g.jobs[5])).toEqual(['acc', '--pass', '1', '--merge-shards', '2']);
    expect(g.jobs[4].inputs).toEqual(['.shards/acc/pass-000/merge', '.shards/acc/pass-000/1-of-2']);
    expect(g.jobs[4].outputs).toEqual(['.shards/acc/pass-001/1-of-2']);
  });

  it('give the bytes of the whole stage whatever the number of shards, and the merge removes the shards', async () => {
    const t = setup();
    await runPipeline(t.recipe([], join(t.dir, 'whole')), { registry: t.reg, log: t.log });
    const whole = files(join(t.dir, 'whole', 'acc'));
    expect(Object.keys(whole)).toHaveLength(7);
    for (const shards of [2, 3, 5]) {
      const rep = await t.execute(shards, [], join(t.dir, `s${shards}`));
      expect(executionError(rep)).toBeNull();
      expect(files(join(t.dir, `s${shards}`, 'acc'))).toEqual(whole);
      expect(existsSync(shardsRoot(join(t.dir, `s${shards}`), 'acc'))).toBe(false);
    }
  });

  it('rerun a failed pass shard alone; the shards whose statistics a merge consumed stay done', async () => {
    const t = setup();
    const failed = await t.execute(3, ['stages.acc.failPass=1', 'stages.acc.failShard=1']);
    const st = t.statuses(failed);
    expect(st['acc.pass-001.shard-1-of-3']).toBe('failed');
    expect(st['acc.pass-001.shard-0-of-3']).toBe('ran');
    expect(st['acc.pass-001.merge-3']).toBe('blocked');
    expect(st['acc.common']).toBe('blocked');
    // The merge of pass 0 consumed its shards' statistics; their other files stay.
    const pass0 = join(shardsRoot(join(t.dir, 'exp'), 'acc'), 'pass-000', '0-of-3');
    expect(readdirSync(pass0).sort()).toEqual(['offset-0.txt', 'shard.json']);

    const again = await t.execute(3);
    const st2 = t.statuses(again);
    expect(
      Object.entries(st2)
        .filter(([, s]) => s === 'ran')
        .map(([id]) => id),
    ).toEqual([
      'acc.pass-001.shard-1-of-3',
      'acc.pass-001.merge-3',
      'acc.pass-002.shard-0-of-3',
      'acc.pass-002.shard-1-of-3',
      'acc.pass-002.shard-2-of-3',
      'acc.pass-002.merge-3',
      'acc.common',
      'acc.shard-0-of-3',
      'acc.shard-1-of-3',
      'acc.shard-2-of-3',
      'acc.merge-3',
    ]);
    expect(t.runs['pass-0-shard-0']).toBe(1);
    expect(t.runs['pass-1-shard-1']).toBe(2);
    expect(t.runs['pass-1-shard-0']).toBe(1);
  });

  it('rerun with another number of shards: the current merges stay, the shards later passes read are made again', async () => {
    const t = setup();
    const failed = await t.execute(3, ['stages.acc.failPass=2', 'stages.acc.failShard=0']);
    expect(t.statuses(failed)['acc.pass-002.merge-3']).toBe('blocked');
    const again = await t.execute(2);
    expect(executionError(again)).toBeNull();
    const st = t.statuses(again);
    // Pass 0's shards hold what the later passes read: made again for 2 shards; its merge is reused.
    expect([st['acc.pass-000.shard-0-of-2'], st['acc.pass-000.merge-2']]).toEqual(['ran', 'up-to-date']);
    // Pass 1's merge is current and nothing reads its shards: nothing to do.
    expect([st['acc.pass-001.shard-1-of-2'], st['acc.pass-001.merge-2']]).toEqual(['up-to-date', 'up-to-date']);
    expect(t.runs['pass-1-shard-1']).toBe(1);
    expect(st['acc.pass-002.merge-2']).toBe('ran');
    await runPipeline(t.recipe([], join(t.dir, 'whole')), { registry: t.reg, log: t.log });
    expect(files(join(t.dir, 'exp', 'acc'))).toEqual(files(join(t.dir, 'whole', 'acc')));
  });

  it('the merge of a pass refuses a missing, duplicated or stale shard, naming the file and the command', async () => {
    const t = setup();
    const r = t.recipe();
    const g = buildJobGraph(r, t.reg, { shards: 3, recipeArgs: { file: r.file } });
    for (const job of g.jobs.slice(0, 7)) await runJob(r, t.reg, job, t.log); // pass 0, pass 1's shards
    const root = join(shardsRoot(r.expDir, 'acc'), 'pass-001');
    const merge = (sets: string[] = []) =>
      runJob(t.recipe(sets), t.reg, { stage: 'acc', kind: 'merge', count: 3, pass: 1 }, t.log);

    const err = await merge(['stages.acc.n=8']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(String(err)).toMatch(/merge of pass 0 \(pass 0\) of stage acc is stale/);

    const record = join(root, '2-of-3', 'shard.json');
    const saved = readFileSync(record, 'utf8');
    cpSync(join(root, '1-of-3', 'shard.json'), record);
    await expect(merge()).rejects.toThrow(/duplicated shard: its record names another shard/);
    cpSync(join(shardsRoot(r.expDir, 'acc'), 'pass-000', '2-of-3', 'shard.json'), record);
    const other = await merge().catch((e: unknown) => e);
    expect(String(other)).toMatch(
      /duplicated shard.*expected stage acc pass 1 shard 2\/3, found stage acc pass 0 shard 2\/3/,
    );
    const rec = JSON.parse(saved);
    rec.coverage[0].start -= 1; // shard 2 (blocks 2, 3) claims shard 1's block too
    writeFileSync(record, JSON.stringify(rec));
    await expect(merge()).rejects.toThrow(/duplicated shards: blocks 1\.\.1 covered twice/);
    writeFileSync(record, saved);

    writeFileSync(join(root, '0-of-3', 'stats-0.txt'), '1e9');
    await expect(merge()).rejects.toThrow(/damaged shard/);
    rmSync(join(root, '0-of-3'), { recursive: true });
    const missing = await merge().catch((e: unknown) => e);
    expect(String(missing)).toMatch(/shards of stage acc pass 1 missing/);
    expect(String(missing)).toContain(root);
    expect(String(missing)).toMatch(/am-distill job \S+toy\.yaml acc --pass 1 --shard 0\/3/);
    expect((await runJob(r, t.reg, g.jobs[4], t.log)).status).toBe('ran');
    expect((await merge()).status).toBe('ran');
    await expect(
      runJob(r, t.reg, { stage: 'acc', kind: 'shard', shard: { index: 0, count: 3 }, pass: 3 }, t.log),
    ).rejects.toThrow(ConfigError);
  });
});
