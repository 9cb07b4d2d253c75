/** Option fragments and error handling that several stage modules share. */
import { BACKEND_LADDER } from '../nnet/backend.ts';
import { ConfigError } from '../util/errors.ts';
import { type NumberSpec, type StringSpec } from './schema.ts';
import type { RecipeHead, SkipSummary } from './stage.ts';

/** Sum skip summaries of several splits. */
export function mergeSkips(parts: SkipSummary[]): SkipSummary {
  const byReason = new Map<string, { count: number; examples: string[] }>();
  let done = 0;
  let skipped = 0;
  for (const p of parts) {
    done += p.done;
    skipped += p.skipped;
    for (const r of p.reasons) {
      const e = byReason.get(r.reason) ?? { count: 0, examples: [] };
      e.count += r.count;
      for (const x of r.examples) if (e.examples.length < 5) e.examples.push(x);
      byReason.set(r.reason, e);
    }
  }
  const reasons = [...byReason.entries()]
    .map(([reason, e]) => ({ reason, count: e.count, examples: e.examples }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  return { done, skipped, reasons };
}

/** The `backend` option of the stages that run TF.js models: 'auto' or a rung of the ladder. */
export function backendOption(defaultValue: string): StringSpec {
  return {
    type: 'string',
    enum: ['auto', ...BACKEND_LADDER],
    default: defaultValue,
    affectsOutput: false,
    doc: 'compute engine (auto: the ladder tfjs-node-gpu > native (OpenBLAS) > tfjs-node > wasm > cpu)',
  };
}

/** The frames per forward pass of a stage that runs the nets for inference (no effect on the outputs). */
export function inferenceBatchSizeOption(defaultValue: number): NumberSpec {
  return {
    type: 'number',
    integer: true,
    min: 1,
    default: defaultValue,
    affectsOutput: false,
    unit: 'frames',
    doc: 'frames per forward pass',
  };
}

/**
 * Run `fn`; a ConfigError it throws that names an option key but no file (a library's check of
 * one option) is re-thrown with the key's full path (`<prefix>.<key>`, e.g.
 * `stages.decode.splits`, unless it is already under `stages.`) and the recipe file and line the
 * path points at.
 */
export async function locateConfigError<T>(recipe: RecipeHead, prefix: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ConfigError && err.location.keyPath && !err.location.file) {
      const keyPath = err.location.keyPath.startsWith('stages.')
        ? err.location.keyPath
        : `${prefix}.${err.location.keyPath}`;
      throw new ConfigError(err.detail, {
        ...(recipe.locate?.(keyPath) ?? {}),
        keyPath,
        expected: err.expected,
        found: err.found,
        cause: err,
      });
    }
    throw err;
  }
}
