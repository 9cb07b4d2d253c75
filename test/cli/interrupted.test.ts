/**
 * A run killed with SIGKILL in the middle of the align stage (issue 32): the next run on the same
 * experiment directory sweeps every temp dir it left, the nested one of the align library's own
 * atomic write included. Then a damaged stage output: --from-stage names the damage in our words,
 * and a plain rerun rebuilds the damaged stage.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadRecipe } from '../../src/pipeline/recipe.ts';
import { runPipeline } from '../../src/pipeline/runner.ts';
import { defaultRegistry } from '../../src/stages/index.ts';
import { FormatError } from '../../src/util/errors.ts';
import { captureLogger } from '../helpers.ts';
import { makeKaldiCorpus, tinyRecipe } from './fixtures.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const NESTED_ALIGN_TEMP = /^\.\.align\.\d+\.[0-9a-f]+\.tmp\.\d+\.[0-9a-f]+\.tmp$/;
let root: string, dataDir: string, recipePath: string, expDir: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'amd-interrupted-'));
  dataDir = await makeKaldiCorpus(root, 1, 4);
  recipePath = join(root, 'tiny.yaml');
  // Many iterations: the align stage runs long enough to be caught in the middle (it is killed there).
  writeFileSync(recipePath, tinyRecipe() + '  align:\n    monoIters: 400\n    triIters: 400\n');
  expDir = join(root, 'exp');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const load = () => loadRecipe(recipePath, { registry: defaultRegistry, expDir, corpusDir: dataDir });

/** Run the CLI in a child process and SIGKILL it once `expDir` holds an entry matching `when`. */
async function killWhen(when: RegExp): Promise<string> {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin/am-distill.js'), 'run', recipePath, '--exp-dir', expDir, '--corpus-dir', dataDir],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, AM_DISTILL_LOG: 'warn' },
    },
  );
  let stderr = '';
  child.stderr!.on('data', (b) => {
    stderr += String(b);
  });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  let found: string | undefined;
  let done = false;
  void exited.then(() => {
    done = true;
  });
  while (!found && !done) {
    await new Promise((r) => setTimeout(r, 5));
    found = existsSync(expDir) ? readdirSync(expDir).find((e) => when.test(e)) : undefined;
  }
  if (found) child.kill('SIGKILL');
  await exited;
  if (!found)
    throw new Error(
      `the run ended before ${when} appeared in ${expDir} (the align stage no longer writes a nested temp dir?): ${stderr}`,
    );
  return found;
}

describe('a run killed with SIGKILL during align', () => {
  it('leaves a nested temp dir that the next run removes', async () => {
    const nested = await killWhen(NESTED_ALIGN_TEMP);
    expect(existsSync(join(expDir, nested))).toBe(true);
    expect(existsSync(join(expDir, '.lock'))).toBe(true); // the killed run's
    const r = await runPipeline(load(), { registry: defaultRegistry, log: captureLogger(), toStage: 'features' });
    expect(r.stages.map((s) => s.status)).toEqual(['up-to-date', 'up-to-date', 'after-to-stage']);
    expect(readdirSync(expDir).filter((e) => e.endsWith('.tmp'))).toEqual([]);
  }, 60_000);

  it('then: a damaged feature file is named in our words with --from-stage, and a plain rerun rebuilds it', async () => {
    const file = join(expDir, 'features', 'train.arrow');
    const good = readFileSync(file);
    truncateSync(file, Math.floor(good.length / 2));
    const log = captureLogger();
    const err = await runPipeline(load(), { registry: defaultRegistry, log, fromStage: 'align' }).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toContain(`${file}: truncated or damaged Arrow IPC file: no footer`);
    expect(err.message).not.toMatch(/Cannot read properties|fieldsLength/);
    expect(log.lines.join('')).toContain(
      `stage features is out of date (output damaged (train.arrow: ${statSync(file).size} bytes, recorded ${good.length})) but is not run because of --from-stage align`,
    );
    const r = await runPipeline(load(), { registry: defaultRegistry, log, toStage: 'features' });
    expect(r.stages.map((s) => [s.status, s.reason])).toEqual([
      ['up-to-date', undefined],
      ['ran', `output damaged (train.arrow: ${Math.floor(good.length / 2)} bytes, recorded ${good.length})`],
      ['after-to-stage', undefined],
    ]);
    expect(readFileSync(file).equals(good)).toBe(true);
  }, 60_000);
});
