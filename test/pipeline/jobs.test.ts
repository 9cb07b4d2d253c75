/**
 * Shard jobs (issue 33): the job graph as data, the executor, shard records, reruns of a failed
 * shard alone, and the merge's refusals (missing, duplicated, stale, damaged shards), on toy
 * stages: `items` writes one file per item (with a common job before its shards), `total` reads
 * them. The tiny recipe's byte-identity with and without shards is test/pipeline/shards-tiny.test.ts.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRecipe, type Recipe } from '../../src/pipeline/recipe.ts';
import { runPipeline } from '../../src/pipeline/runner.ts';
import { buildJobGraph, jobArgs, recipeArgv, shardsRoot, type Job } from '../../src/pipeline/jobs.ts';
import { runJob, readShardRecord } from '../../src/pipeline/jobs-run.ts';
import { executionError, formatExecutionReport, type JobPool } from '../../src/pipeline/executor.ts';
import { runRecipeInShards } from '../../src/pipeline/run-shards.ts';
import { ProcessJobPool } from '../../src/pipeline/job-pool.ts';
import { copyShardEntries, mergeListedJson, shardSlice } from '../../src/stages/shards.ts';
import { StageRegistry, type StageDefinition } from '../../src/stages/stage.ts';
import { AmDistillError, FormatError } from '../../src/util/errors.ts';
import { captureLogger } from './toy-stages.ts';

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

interface ItemsOptions {
  n: number;
  /** Shard index that throws (run-time only: the config hash ignores it). */
  failShard: number;
}

/** `items` writes item-<k>.txt (the common job's salt in each) and items.json; `total` sums them. */
function registry(runs: Record<string, number>): StageRegistry {
  const count = (what: string) => (runs[what] = (runs[what] ?? 0) + 1);
  const write = (dir: string, salt: string, ks: number[]) => {
    for (const k of ks) writeFileSync(join(dir, `item-${k}.txt`), `${salt}:${k * k}\n`);
    writeFileSync(join(dir, 'items.json'), JSON.stringify({ format: 'toy.items', items: ks }, null, 2) + '\n');
  };
  const items: StageDefinition<ItemsOptions> = {
    name: 'items',
    doc: 'one file per item',
    inputs: [],
    schema: {
      n: { type: 'number', integer: true, min: 1, default: 5, doc: 'items' },
      failShard: { type: 'number', integer: true, default: -1, affectsOutput: false, doc: 'shard that fails' },
    },
    async run(ctx) {
      count('items');
      write(
        ctx.outDir,
        `salt${ctx.recipe.seed}`,
        Array.from({ length: ctx.options.n }, (_, k) => k),
      );
      return { counts: { items: ctx.options.n } };
    },
    shards: {
      unit: 'items',
      async common(ctx) {
        count('common');
        writeFileSync(join(ctx.outDir, 'salt.txt'), `salt${ctx.recipe.seed}`);
        return {};
      },
      async run(ctx, shard) {
        count(`shard-${shard.index}`);
        if (shard.index === ctx.options.failShard)
          throw new FormatError('toy shard failure', { file: `shard ${shard.index}` });
        const all = Array.from({ length: ctx.options.n }, (_, k) => k);
        const mine = shardSlice(all, shard, 'items');
        write(ctx.outDir, readFileSync(join(ctx.commonDir!, 'salt.txt'), 'utf8'), mine.items);
        return { coverage: [mine.coverage], counts: { items: mine.items.length } };
      },
      async merge(ctx, shards) {
        count('merge');
        const merged = await mergeListedJson(shards, 'items.json', 'items', ctx.outDir);
        await copyShardEntries(
          shards.map((s) => s.dir),
          ctx.outDir,
          { skip: ['items.json'] },
        );
        return { counts: { items: (merged.items as number[]).length } };
      },
    },
  };
  const total: StageDefinition<Record<string, never>> = {
    name: 'total',
    doc: 'sums the items',
    inputs: ['items'],
    schema: {},
    async run(ctx) {
      count('total');
      const dir = ctx.inputDir('items');
      const sum = readdirSync(dir)
        .filter((f) => f.startsWith('item-'))
        .reduce((a, f) => a + Number(readFileSync(join(dir, f), 'utf8').split(':')[1]), 0);
      writeFileSync(join(ctx.outDir, 'total.txt'), `${sum}\n`);
      return {};
    },
  };
  return new StageRegistry().register(items).register(total);
}

const TEXT = 'name: toy\nseed: 3\nstages:\n  items: {n: 5}\n  total: {}\n';

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'amd-jobs-'));
  made.push(dir);
  const runs: Record<string, number> = {};
  const reg = registry(runs);
  const { log, lines } = captureLogger();
  writeFileSync(join(dir, 'toy.yaml'), TEXT);
  const recipe = (sets: string[] = [], expDir = join(dir, 'exp')): Recipe =>
    parseRecipe(TEXT, join(dir, 'toy.yaml'), { registry: reg, cwd: dir, sets, expDir });
  /** The jobs run here (the executor's pool interface without processes). */
  const pool = (r: Recipe): JobPool => ({ run: (job: Job) => runJob(r, reg, job, log), close: async () => {} });
  const execute = async (shards: number, sets: string[] = [], expDir = join(dir, 'exp')) =>
    runRecipeInShards(
      { file: 'toy.yaml', sets, expDir },
      { registry: reg, shards, workers: 2, cwd: dir, log, pool: pool(recipe(sets, expDir)) },
    );
  const statuses = (rep: Awaited<ReturnType<typeof execute>>) =>
    Object.fromEntries(rep.jobs.map((j) => [j.id, j.status]));
  return { dir, runs, reg, log, lines, recipe, execute, statuses };
}

/** Every file under `dir` but records, locks, logs and shards, with its bytes. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!e.name.startsWith('.')) walk(r);
      } else if (e.name !== 'stage.json' && !e.name.startsWith('.')) out[r] = readFileSync(join(dir, r), 'utf8');
    }
  };
  walk('');
  return out;
}

describe('the job graph', () => {
  it('is one job per stage with one shard, else common -> shards -> merge for a sharded stage, each after what it reads', () => {
    const t = setup();
    const one = buildJobGraph(t.recipe(), t.reg, { shards: 1, recipeArgs: { file: 'toy.yaml' } });
    expect(one.jobs.map((j) => [j.id, j.needs])).toEqual([
      ['items', []],
      ['total', ['items']],
    ]);
    const g = buildJobGraph(t.recipe(), t.reg, { shards: 3, recipeArgs: { file: 'toy.yaml', sets: ['seed=4'] } });
    expect(g.jobs.map((j) => [j.id, j.needs])).toEqual([
      ['items.common', []],
      ['items.shard-0-of-3', ['items.common']],
      ['items.shard-1-of-3', ['items.common']],
      ['items.shard-2-of-3', ['items.common']],
      ['items.merge-3', ['items.shard-0-of-3', 'items.shard-1-of-3', 'items.shard-2-of-3']],
      ['total', ['items.merge-3']],
    ]);
    expect(g.jobs[1].outputs).toEqual(['.shards/items/0-of-3']);
    expect(g.jobs[4].inputs).toContain('.shards/items/common');
    expect(jobArgs(g.jobs[2])).toEqual(['items', '--shard', '1/3']);
    expect(jobArgs(g.jobs[4])).toEqual(['items', '--merge-shards', '3']);
    expect(jobArgs(g.jobs[0])).toEqual(['items', '--common']);
    expect(recipeArgv(g.recipeArgs)).toEqual(['toy.yaml', '--set', 'seed=4', '--exp-dir', g.expDir]);
    expect(() => buildJobGraph(t.recipe(), t.reg, { shards: 0, recipeArgs: { file: 'toy.yaml' } })).toThrow(
      /shard count/,
    );
  });
});

describe('sharded runs', () => {
  it('give the files of the unsharded run, whatever the number of shards', async () => {
    const t = setup();
    await runPipeline(t.recipe([], join(t.dir, 'whole')), { registry: t.reg, log: t.log });
    const whole = tree(join(t.dir, 'whole'));
    expect(Object.keys(whole)).toContain('items/item-4.txt');
    for (const shards of [1, 2, 3, 7]) {
      const rep = await t.execute(shards, [], join(t.dir, `s${shards}`));
      expect(executionError(rep)).toBeNull();
      expect(tree(join(t.dir, `s${shards}`))).toEqual(whole);
      // The merge removed the shards.
      expect(existsSync(shardsRoot(join(t.dir, `s${shards}`), 'items'))).toBe(false);
    }
  });

  it('rerun only the failed shard and what comes after it; a current shard is not run again', async () => {
    const t = setup();
    const failed = await t.execute(3, ['stages.items.failShard=1']);
    expect(t.statuses(failed)).toEqual({
      'items.common': 'ran',
      'items.shard-0-of-3': 'ran',
      'items.shard-1-of-3': 'failed',
      'items.shard-2-of-3': 'ran',
      'items.merge-3': 'blocked',
      total: 'blocked',
    });
    const err = executionError(failed)!;
    expect(err).toBeInstanceOf(AmDistillError);
    expect(err.code).toBe('E_FORMAT');
    expect(err.message).toContain('items.shard-1-of-3');
    expect(formatExecutionReport(failed)).toMatch(/items\.merge-3\s+blocked: needs items\.shard-1-of-3/);
    expect(t.runs).toMatchObject({ common: 1, 'shard-0': 1, 'shard-1': 1, 'shard-2': 1 });

    const again = await t.execute(3);
    expect(t.statuses(again)).toEqual({
      'items.common': 'up-to-date',
      'items.shard-0-of-3': 'up-to-date',
      'items.shard-1-of-3': 'ran',
      'items.shard-2-of-3': 'up-to-date',
      'items.merge-3': 'ran',
      total: 'ran',
    });
    expect(t.runs).toMatchObject({ common: 1, 'shard-0': 1, 'shard-1': 2, 'shard-2': 1, merge: 1, total: 1 });
    const third = await t.execute(3);
    expect(new Set(third.jobs.map((j) => j.status))).toEqual(new Set(['up-to-date']));
  });
});

describe('the merge', () => {
  /** Shards 0..2 of 3 done, merge not run: returns a function that runs the merge alone. */
  async function shardsDone() {
    const t = setup();
    const r = t.recipe();
    for (const job of buildJobGraph(r, t.reg, { shards: 3, recipeArgs: { file: r.file } }).jobs.slice(0, 4))
      await runJob(r, t.reg, job, t.log);
    const root = shardsRoot(r.expDir, 'items');
    const merge = (sets: string[] = []) =>
      runJob(t.recipe(sets), t.reg, { stage: 'items', kind: 'merge', count: 3 }, t.log);
    return { t, root, merge };
  }

  it('refuses a missing shard, naming it and the command that makes it', async () => {
    const { root, merge } = await shardsDone();
    rmSync(join(root, '2-of-3'), { recursive: true });
    const err = await merge().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(String(err)).toMatch(/shards of stage items missing/);
    expect(String(err)).toContain(root);
    expect(String(err)).toContain('2/3');
    expect(String(err)).toMatch(/am-distill job \S+toy\.yaml items --shard 2\/3/);
  });

  it("refuses a duplicated shard: a record in another shard's directory, or units covered twice", async () => {
    const { root, merge } = await shardsDone();
    const record = join(root, '2-of-3', 'shard.json');
    const saved = readFileSync(record, 'utf8');
    cpSync(join(root, '1-of-3', 'shard.json'), record);
    await expect(merge()).rejects.toThrow(/duplicated shard: its record names another shard than its directory/);
    const r = JSON.parse(saved);
    r.coverage[0].start -= 1; // shard 2 claims the last item of shard 1 too
    writeFileSync(record, JSON.stringify(r));
    const err = await merge().catch((e: unknown) => e);
    expect(String(err)).toMatch(/duplicated shards: items 2\.\.2 covered twice/);
    expect(String(err)).toContain(record);
  });

  it('refuses a stale shard (another config) and a damaged one; the shard job then runs it again', async () => {
    const { t, root, merge } = await shardsDone();
    const err = await merge(['stages.items.n=6']).catch((e: unknown) => e);
    expect(String(err)).toMatch(/stale/);
    writeFileSync(join(root, '0-of-3', 'item-0.txt'), 'tampered\n');
    await expect(merge()).rejects.toThrow(/damaged shard/);
    const r = t.recipe();
    const redo = await runJob(r, t.reg, { stage: 'items', kind: 'shard', shard: { index: 0, count: 3 } }, t.log);
    expect(redo.status).toBe('ran');
    expect(redo.reason).toMatch(/output damaged/);
    expect((await merge()).status).toBe('ran');
    expect(readShardRecord(join(root, '1-of-3'))).toBeNull();
    expect(readFileSync(join(r.expDir, 'items', 'item-0.txt'), 'utf8')).toBe('salt3:0\n');
  });

  it('refuses a shard made with another common output', async () => {
    const { t, root, merge } = await shardsDone();
    const r = t.recipe();
    writeFileSync(join(root, 'common', 'salt.txt'), 'other');
    await expect(merge()).rejects.toThrow(/common output of stage items is damaged/);
    rmSync(join(root, 'common'), { recursive: true });
    await runJob(r, t.reg, { stage: 'items', kind: 'common' }, t.log);
    const rec = readShardRecord(join(root, 'common'))!;
    const shard = readShardRecord(join(root, '0-of-3'))!;
    expect(shard.commonHash).toBe(rec.outputHash); // the same bytes again: the shards stay current
    expect((await merge()).status).toBe('ran');
  });
});

describe('jobs that cannot run', () => {
  it('a shard or merge of a stage that does not shard is a ConfigError naming the command', async () => {
    const t = setup();
    const r = t.recipe();
    await expect(
      runJob(r, t.reg, { stage: 'total', kind: 'shard', shard: { index: 0, count: 2 } }, t.log),
    ).rejects.toThrow(/am-distill job total --shard 0\/2: stage 'total' does not run in shards/);
    await expect(
      runJob(r, t.reg, { stage: 'items', kind: 'shard', shard: { index: 0, count: 2 } }, t.log),
    ).rejects.toThrow(/common output of stage items is missing.*--common/);
  });

  it("in a worker process: the job's error comes back typed, its output goes to its log file", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'amd-pool-'));
    made.push(dir);
    const written: string[] = [];
    const pool = new ProcessJobPool(
      { file: join(dir, 'missing.yaml'), cwd: dir },
      { expDir: dir, write: (t) => written.push(t) },
    );
    try {
      const job = {
        id: 'prepare',
        stage: 'prepare',
        kind: 'stage' as const,
        needs: [],
        inputs: [],
        outputs: ['prepare'],
      };
      const err = await pool.run(job).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AmDistillError);
      expect((err as AmDistillError).code).toBe('E_CONFIG');
      expect(String(err)).toMatch(/cannot read recipe/);
      expect(readFileSync(join(dir, '.jobs', 'prepare.log'), 'utf8')).toMatch(/^--- \S+ prepare\n/);
    } finally {
      await pool.close();
    }
  });
});
