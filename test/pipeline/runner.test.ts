import { describe, it, expect, afterAll } from 'vitest';
import {
  mkdtempSync,
  mkdirSync,
  writeFileSync,
  readFileSync,
  existsSync,
  readdirSync,
  rmSync,
  truncateSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRecipe } from '../../src/pipeline/recipe.ts';
import { runPipeline, readStageRecord, formatRunReport, type RunReport } from '../../src/pipeline/runner.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { toyRegistry, captureLogger, type ToyRuns } from './toy-stages.ts';

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function setup(recipeText = 'name: toy\nseed: 5\nstages:\n  count: {n: 4}\n  double: {}\n') {
  const dir = mkdtempSync(join(tmpdir(), 'amd-run-'));
  made.push(dir);
  const runs: ToyRuns = { count: 0, double: 0, fail: 0 };
  const registry = toyRegistry(runs);
  const { log, lines } = captureLogger();
  const run = async (
    opts: { sets?: string[]; fromStage?: string; toStage?: string; text?: string } = {},
  ): Promise<RunReport> => {
    const recipe = parseRecipe(opts.text ?? recipeText, 'toy.yaml', { registry, cwd: dir, sets: opts.sets });
    return runPipeline(recipe, { registry, log, fromStage: opts.fromStage, toStage: opts.toStage });
  };
  const statuses = (r: RunReport) => Object.fromEntries(r.stages.map((s) => [s.stage, s.status]));
  return { dir, expDir: join(dir, 'exp', 'toy'), runs, lines, run, statuses };
}

describe('pipeline runner', () => {
  it('runs stages in order and records config, hashes, timing, counts and skips next to the outputs', async () => {
    const t = setup();
    const report = await t.run();
    expect(t.statuses(report)).toEqual({ count: 'ran', double: 'ran' });
    expect(readFileSync(join(t.expDir, 'double', 'doubled.txt'), 'utf8').split('\n')).toHaveLength(4);
    const rec = readStageRecord(join(t.expDir, 'count'))!;
    expect(rec.stage).toBe('count');
    expect(rec.config).toEqual({ options: { n: 4, threads: 1 }, sections: { corpus: { label: 'toy' } }, seed: 5 });
    expect(rec.configHash).toMatch(/^[0-9a-f]{64}$/);
    expect(rec.outputHash).toMatch(/^[0-9a-f]{64}$/);
    expect(rec.output.files).toBe(1);
    expect(rec.counts).toEqual({ numbers: 4 });
    expect(rec.skipped).toMatchObject({ done: 4, skipped: 1 });
    expect(rec.durationSec).toBeGreaterThanOrEqual(0);
    const down = readStageRecord(join(t.expDir, 'double'))!;
    expect(down.inputs.upstream).toEqual({ count: rec.outputHash });
    expect(existsSync(join(t.expDir, 'recipe.json'))).toBe(true);
    expect(existsSync(join(t.expDir, '.lock'))).toBe(false);
    const text = formatRunReport(report);
    expect(text).toContain(`-> ${join(t.expDir, 'double')}`);
    expect(text).toContain('1 x too short (e.g. utt-bad)');
  });

  it('skips every stage on an unchanged rerun', async () => {
    const t = setup();
    await t.run();
    const stamp = readStageRecord(join(t.expDir, 'double'))!.finishedAt;
    const report = await t.run();
    expect(t.statuses(report)).toEqual({ count: 'up-to-date', double: 'up-to-date' });
    expect(t.runs).toMatchObject({ count: 1, double: 1 });
    expect(t.lines).toContain('skip count: up to date');
    expect(t.lines).toContain('skip double: up to date');
    expect(readStageRecord(join(t.expDir, 'double'))!.finishedAt).toBe(stamp);
    expect(formatRunReport(report)).toContain('up to date (skipped)');
  });

  it('reruns a stage whose config changed and every downstream stage whose inputs changed', async () => {
    const t = setup();
    await t.run();
    const before = readFileSync(join(t.expDir, 'double', 'doubled.txt'), 'utf8');
    const report = await t.run({ sets: ['stages.count.n=6'] });
    expect(t.statuses(report)).toEqual({ count: 'ran', double: 'ran' });
    expect(report.stages[0].reason).toBe('config changed');
    expect(report.stages[1].reason).toBe('inputs changed (count)');
    expect(readFileSync(join(t.expDir, 'double', 'doubled.txt'), 'utf8')).not.toBe(before);
    // The seed is part of every stage's config.
    expect(t.statuses(await t.run({ sets: ['stages.count.n=6', 'seed=6'] }))).toEqual({ count: 'ran', double: 'ran' });
  });

  it('reruns only the downstream stage when only its config changed', async () => {
    const t = setup();
    await t.run();
    const report = await t.run({ sets: ['stages.double.factor=3'] });
    expect(t.statuses(report)).toEqual({ count: 'up-to-date', double: 'ran' });
  });

  it('does not rerun for options that cannot change outputs', async () => {
    const t = setup();
    await t.run();
    expect(t.statuses(await t.run({ sets: ['stages.count.threads=4'] }))).toEqual({
      count: 'up-to-date',
      double: 'up-to-date',
    });
  });

  it('reruns when an external input file changes', async () => {
    const t = setup();
    const input = join(t.dir, 'extra.txt');
    writeFileSync(input, 'one');
    const sets = ['stages.count.inputFile=extra.txt'];
    await t.run({ sets });
    expect(readStageRecord(join(t.expDir, 'count'))!.inputs.external).toMatchObject([
      { path: input, mode: 'content', files: 1 },
    ]);
    expect(t.statuses(await t.run({ sets }))).toMatchObject({ count: 'up-to-date' });
    writeFileSync(input, 'two');
    const report = await t.run({ sets });
    expect(t.statuses(report)).toEqual({ count: 'ran', double: 'ran' });
    expect(report.stages[0].reason).toBe('inputs changed (external files)');
    // Content mode: rewriting the same bytes is not a change.
    writeFileSync(input, 'two');
    expect(t.statuses(await t.run({ sets }))).toEqual({ count: 'up-to-date', double: 'up-to-date' });
    rmSync(input);
    await expect(t.run({ sets })).rejects.toThrow(/extra\.txt: input not found/);
  });

  it('--from-stage forces a rerun from that stage; --to-stage stops after a stage', async () => {
    const t = setup();
    const first = await t.run({ toStage: 'count' });
    expect(t.statuses(first)).toEqual({ count: 'ran', double: 'after-to-stage' });
    expect(existsSync(join(t.expDir, 'double'))).toBe(false);
    expect(formatRunReport(first)).toContain('not run (after --to-stage)');
    await t.run();
    const forced = await t.run({ fromStage: 'double' });
    expect(t.statuses(forced)).toEqual({ count: 'before-from-stage', double: 'ran' });
    expect(forced.stages[1].reason).toBe('forced by --from-stage double');
    expect(t.runs).toMatchObject({ count: 1, double: 2 });
    const all = await t.run({ fromStage: 'count', toStage: 'count' });
    expect(t.statuses(all)).toEqual({ count: 'ran', double: 'after-to-stage' });
  });

  it('--from-stage needs the earlier stages to have run', async () => {
    const t = setup();
    await expect(t.run({ fromStage: 'double' })).rejects.toThrow(
      /'double' reads the output of 'count', which has not been run/,
    );
  });

  it('warns when a stage before --from-stage is out of date', async () => {
    const t = setup();
    await t.run();
    await t.run({ fromStage: 'double', sets: ['stages.count.n=2'] });
    expect(
      t.lines.some((l) =>
        l.includes('stage count is out of date (config changed) but is not run because of --from-stage double'),
      ),
    ).toBe(true);
  });

  it('rejects unknown or absent stage names in --from-stage/--to-stage, listing the stages', async () => {
    const t = setup();
    const err = await t.run({ fromStage: 'align' }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain("--from-stage align: unknown stage 'align'; expected one of count, double, fail");
    const absent = await t.run({ toStage: 'fail' }).catch((e) => e);
    expect(absent.message).toContain(
      "stage 'fail' is not in the recipe; expected one of the recipe's stages count, double",
    );
    const order = await t.run({ fromStage: 'double', toStage: 'count' }).catch((e) => e);
    expect(order.message).toContain('--from-stage comes after --to-stage');
  });

  it('leaves no output directory and no stage.json when a stage throws, and keeps earlier outputs', async () => {
    const t = setup();
    const text = 'name: toy\nstages:\n  count: {}\n  double: {}\n  fail: {}\n';
    await expect(t.run({ text })).rejects.toThrow('boom');
    expect(readdirSync(t.expDir).sort()).toEqual(['count', 'double', 'recipe.json']);
    expect(existsSync(join(t.expDir, 'fail'))).toBe(false);
    // A failing rerun of a stage that had succeeded before keeps the old outputs intact.
    await t.run({ text: 'name: toy\nstages:\n  count: {}\n  double: {}\n' });
    const old = readStageRecord(join(t.expDir, 'double'))!;
    const registryRun = await t
      .run({ text: 'name: toy\nstages:\n  count: {n: 9}\n  double: {}\n  fail: {message: again}\n' })
      .catch((e) => e);
    expect(registryRun.message).toBe('again');
    expect(readStageRecord(join(t.expDir, 'double'))!.outputHash).not.toBe(old.outputHash);
    expect(readdirSync(t.expDir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('removes the temp dirs of an interrupted run', async () => {
    const t = setup();
    await t.run();
    const stale = join(t.expDir, '.double.12345.deadbeef.tmp');
    mkdirSync(stale);
    writeFileSync(join(stale, 'doubled.txt'), 'half');
    await t.run();
    expect(existsSync(stale)).toBe(false);
  });

  it('removes nested temp dirs (an atomic write inside a stage temp dir, left by kill -9)', async () => {
    const t = setup();
    await t.run();
    const nested = join(t.expDir, '..double.12345.deadbeef.tmp.12345.0badf00d.tmp');
    mkdirSync(join(nested, 'lang'), { recursive: true });
    writeFileSync(join(nested, 'lang', 'phones.txt'), 'half');
    const foreign = join(t.expDir, '..other.12345.deadbeef.tmp.12345.0badf00d.tmp');
    mkdirSync(foreign);
    await t.run();
    expect(existsSync(nested)).toBe(false);
    expect(existsSync(foreign)).toBe(true); // not a stage of this recipe: left alone
  });

  it('reruns a stage whose recorded output was damaged after it finished (size, or the bytes at its end)', async () => {
    const t = setup();
    await t.run();
    const file = join(t.expDir, 'count', 'numbers.txt');
    const good = readFileSync(file);
    const rec = readStageRecord(join(t.expDir, 'count'))!;
    expect(rec.outputCheck).toEqual([
      { path: 'numbers.txt', bytes: good.length, tailSha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    ]);
    truncateSync(file, Math.floor(good.length / 2));
    const first = await t.run();
    expect(t.statuses(first)).toEqual({ count: 'ran', double: 'up-to-date' });
    expect(first.stages[0].reason).toBe(
      `output damaged (numbers.txt: ${Math.floor(good.length / 2)} bytes, recorded ${good.length})`,
    );
    expect(readFileSync(file).equals(good)).toBe(true);
    // The same size with other bytes at the end; then a file gone.
    writeFileSync(file, Buffer.concat([good.subarray(0, good.length - 1), Buffer.from('#')]));
    const second = await t.run();
    expect(second.stages[0].reason).toBe('output damaged (numbers.txt: the bytes at its end changed)');
    rmSync(join(t.expDir, 'double', 'doubled.txt'));
    const third = await t.run();
    expect(t.statuses(third)).toEqual({ count: 'up-to-date', double: 'ran' });
    expect(third.stages[1].reason).toBe('output damaged (doubled.txt: missing)');
    expect(t.runs).toMatchObject({ count: 3, double: 2 });
  });

  it('warns about a damaged stage before --from-stage, which it does not rerun', async () => {
    const t = setup();
    await t.run();
    truncateSync(join(t.expDir, 'count', 'numbers.txt'), 1);
    await t.run({ fromStage: 'double' });
    expect(
      t.lines.some((l) => l.includes('stage count is out of date (output damaged (numbers.txt: 1 bytes, recorded')),
    ).toBe(true);
  });

  it('checks the outputs of an older stage record by their file count and total size', async () => {
    const t = setup();
    await t.run();
    const recPath = join(t.expDir, 'count', 'stage.json');
    const { outputCheck: _dropped, ...old } = JSON.parse(readFileSync(recPath, 'utf8'));
    writeFileSync(recPath, JSON.stringify(old));
    expect(t.statuses(await t.run())).toEqual({ count: 'up-to-date', double: 'up-to-date' });
    truncateSync(join(t.expDir, 'count', 'numbers.txt'), 1);
    const r = await t.run();
    expect(r.stages[0].reason).toMatch(/^output damaged \(1 files of \d+ bytes, recorded 1 files of \d+ bytes\)$/);
  });

  it('fails a stage that produced nothing', async () => {
    const t = setup();
    const text = 'name: toy\nstages:\n  count: {}\n  double: {}\n  fail: {produceNothing: true}\n';
    await expect(t.run({ text })).rejects.toThrow("stage 'fail' produced no output");
    expect(existsSync(join(t.expDir, 'fail'))).toBe(false);
  });

  it('refuses a second concurrent run on the same experiment directory', async () => {
    const t = setup();
    await t.run();
    // A lock held by a live process (this one's parent) blocks; a stale lock is taken over.
    writeFileSync(join(t.expDir, '.lock'), `${process.ppid}\n`);
    await expect(t.run()).rejects.toThrow(/another am-distill run is using this experiment directory/);
    writeFileSync(join(t.expDir, '.lock'), '999999999\n');
    expect(t.statuses(await t.run())).toEqual({ count: 'up-to-date', double: 'up-to-date' });
  });

  it('resumes an interrupted stage from its resume directory and removes it once the stage is done', async () => {
    const t = setup();
    const text = 'name: toy\nseed: 3\nstages:\n  count: {}\n  steps: {n: 5, crashAfter: 2}\n';
    await expect(t.run({ text })).rejects.toThrow('crash after 2 steps');
    const root = join(t.expDir, '.steps.resume');
    const [key] = readdirSync(root);
    expect(readdirSync(join(root, key)).sort()).toEqual(['step-1.txt', 'step-2.txt']);
    expect(existsSync(join(t.expDir, 'steps'))).toBe(false);
    // crashAfter does not change the outputs, so the rerun has the same key: it does steps 3-5 only.
    t.runs.steps = 0;
    await t.run({ text, sets: ['stages.steps.crashAfter=0'] });
    expect(t.runs.steps).toBe(3);
    expect(t.lines.some((l) => l.includes(`resuming from ${join(root, key)}`))).toBe(true);
    expect(readdirSync(join(t.expDir, 'steps')).sort()).toEqual([
      'stage.json',
      'step-1.txt',
      'step-2.txt',
      'step-3.txt',
      'step-4.txt',
      'step-5.txt',
    ]);
    expect(existsSync(root)).toBe(false);
    // The same outputs as a run that was never interrupted.
    const u = setup();
    await u.run({ text, sets: ['stages.steps.crashAfter=0'] });
    expect(readStageRecord(join(u.expDir, 'steps'))!.outputHash).toBe(
      readStageRecord(join(t.expDir, 'steps'))!.outputHash,
    );
  });

  it('does not resume the leftovers of another config, and removes them', async () => {
    const t = setup();
    await expect(
      t.run({ text: 'name: toy\nseed: 3\nstages:\n  count: {}\n  steps: {n: 4, crashAfter: 1}\n' }),
    ).rejects.toThrow('crash after 1 steps');
    const root = join(t.expDir, '.steps.resume');
    const [oldKey] = readdirSync(root);
    t.runs.steps = 0;
    await expect(
      t.run({ text: 'name: toy\nseed: 3\nstages:\n  count: {}\n  steps: {n: 6, crashAfter: 2}\n' }),
    ).rejects.toThrow('crash after 2 steps');
    expect(t.runs.steps).toBe(2); // step 1 of the n = 4 run was not reused
    expect(readdirSync(root)).toHaveLength(1);
    expect(readdirSync(root)).not.toContain(oldKey);
  });

  it('gives identical outputs for the same config and seed', async () => {
    const a = setup();
    const b = setup();
    await a.run();
    await b.run();
    expect(readStageRecord(join(a.expDir, 'double'))!.outputHash).toBe(
      readStageRecord(join(b.expDir, 'double'))!.outputHash,
    );
  });
});
