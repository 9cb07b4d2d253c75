/**
 * Toy stages for the runner tests: small, deterministic, and observable (they count their runs).
 *   count  -> writes n seeded numbers (optionally reading an external file)
 *   double -> reads count's numbers, writes them times `factor`
 *   fail   -> writes a partial file, then throws
 *   steps  -> n steps, each a file in its resume directory; crashes after `crashAfter` new steps
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../src/util/rng.ts';
import { SkipCounter } from '../../src/util/errors.ts';
import { createLogger, type Logger } from '../../src/util/log.ts';
import { StageRegistry, adoptResumeDir, type StageDefinition } from '../../src/stages/stage.ts';

export interface ToyRuns {
  count: number;
  double: number;
  fail: number;
  steps?: number;
}

export function toyRegistry(runs: ToyRuns = { count: 0, double: 0, fail: 0 }): StageRegistry {
  const count: StageDefinition<{ n: number; threads: number; inputFile?: string }> = {
    name: 'count',
    doc: 'writes n seeded numbers',
    inputs: [],
    sections: {
      corpus: {
        type: 'object',
        doc: 'where data comes from',
        fields: {
          dir: { type: 'string', optional: true, path: true, doc: 'a data directory' },
          label: { type: 'string', default: 'toy', doc: 'a label' },
        },
      },
    },
    schema: {
      n: { type: 'number', integer: true, default: 3, min: 1, doc: 'how many numbers' },
      threads: { type: 'number', integer: true, default: 1, affectsOutput: false, doc: 'run-time only' },
      inputFile: { type: 'string', optional: true, path: true, doc: 'an external input file' },
    },
    async externalInputs(_recipe, options) {
      return options.inputFile ? [{ path: options.inputFile, mode: 'content' as const }] : [];
    },
    async run(ctx) {
      runs.count++;
      const rng = new Rng(ctx.recipe.seed);
      const extra = ctx.options.inputFile ? readFileSync(ctx.options.inputFile, 'utf8').trim() : '';
      const nums = Array.from({ length: ctx.options.n }, () => rng.int(100));
      writeFileSync(join(ctx.outDir, 'numbers.txt'), nums.join('\n') + '\n' + extra);
      const skips = new SkipCounter();
      skips.done = nums.length;
      skips.skip('utt-bad', 'too short');
      return { counts: { numbers: nums.length }, skipped: skips.toJSON() };
    },
  };
  const double: StageDefinition<{ factor: number }> = {
    name: 'double',
    doc: 'multiplies by factor',
    inputs: ['count'],
    schema: { factor: { type: 'number', default: 2, doc: 'multiplier' } },
    async run(ctx) {
      runs.double++;
      const nums = readFileSync(join(ctx.inputDir('count'), 'numbers.txt'), 'utf8')
        .split('\n')
        .filter((l) => /^\d+$/.test(l))
        .map(Number);
      writeFileSync(join(ctx.outDir, 'doubled.txt'), nums.map((x) => x * ctx.options.factor).join('\n'));
      return { counts: { numbers: nums.length } };
    },
  };
  const fail: StageDefinition<{ message: string; produceNothing: boolean }> = {
    name: 'fail',
    doc: 'fails',
    inputs: ['double'],
    schema: {
      message: { type: 'string', default: 'boom', doc: 'error message' },
      produceNothing: { type: 'boolean', default: false, doc: 'return without writing instead of throwing' },
    },
    async run(ctx) {
      runs.fail++;
      if (ctx.options.produceNothing) return {};
      writeFileSync(join(ctx.outDir, 'partial.txt'), 'half');
      throw new Error(ctx.options.message);
    },
  };
  const steps: StageDefinition<{ n: number; crashAfter: number }> = {
    name: 'steps',
    doc: 'n resumable steps',
    inputs: ['count'],
    schema: {
      n: { type: 'number', integer: true, default: 5, min: 1, doc: 'steps' },
      crashAfter: {
        type: 'number',
        integer: true,
        default: 0,
        min: 0,
        affectsOutput: false,
        doc: 'throw after this many new steps (0: never)',
      },
    },
    async run(ctx) {
      mkdirSync(ctx.resumeDir, { recursive: true });
      let fresh = 0;
      for (let k = 1; k <= ctx.options.n; k++) {
        const f = join(ctx.resumeDir, `step-${k}.txt`);
        if (existsSync(f)) continue;
        if (ctx.options.crashAfter > 0 && fresh === ctx.options.crashAfter)
          throw new Error(`crash after ${fresh} steps`);
        writeFileSync(f, `${k * ctx.recipe.seed}\n`);
        fresh++;
        runs.steps = (runs.steps ?? 0) + 1;
      }
      await adoptResumeDir(ctx);
      return { counts: { steps: ctx.options.n } };
    },
  };
  return new StageRegistry().register(count).register(double).register(fail).register(steps);
}

/** A logger that records lines instead of printing them. */
export function captureLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({
    stream: {
      write: (s: string) => {
        lines.push(...s.split('\n').filter(Boolean));
        return true;
      },
      isTTY: false,
    },
  });
  return { log, lines };
}
