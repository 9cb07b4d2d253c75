/**
 * How a stage splits into shard jobs (issue 33, docs/cluster.md). A stage whose work divides into
 * independent units (utterances of every split, models, target sets, splits, decoded systems)
 * declares `shards` in its StageDefinition: `run` does shard i of N of the units into its own
 * directory, `merge` joins the shard directories into the files the whole stage writes, byte for
 * byte (stage.json aside). A stage with work every shard needs first (align: the GMM-HMM) puts it
 * in `common`, a job of its own before the shards.
 *
 * Shards are 0-based (Slurm array and Kubernetes Indexed Job indices) and contiguous blocks of the
 * units in their order (shard i of N: units [floor(iM/N), floor((i+1)M/N))), the convention of
 * `am-distill features --shard`, so the shards' outputs in index order are the units in order.
 * Each shard records which units it covers (`ShardCoverage`); the merge checks that the shards tile
 * every group of units exactly once.
 */
import { promises as fsp, existsSync } from 'node:fs';
import { join } from 'node:path';
import { shardRange } from '../features/compute.ts';
import type { ShardSpec } from '../features/store.ts';
import { FormatError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import type { SkipSummary, StageContext, StageResult } from './stage.ts';

export type { ShardSpec } from '../features/store.ts';
export { shardRange } from '../features/compute.ts';

/** A shard's record (src/pipeline/jobs-run.ts), next to its outputs; never an output itself. */
export const SHARD_RECORD = 'shard.json';

/** Units [start, end) of `total` in one group (a split's utterances, the models) that a shard did. */
export interface ShardCoverage {
  group: string;
  start: number;
  end: number;
  total: number;
}

/** What a shard's run returns: the record's counts and which units it covered. */
export interface ShardResult extends StageResult {
  coverage: ShardCoverage[];
}

/** A completed shard, as the merge sees it: its directory and what its run returned. */
export interface ShardOutput extends StageResult {
  dir: string;
  shard: ShardSpec;
  coverage: ShardCoverage[];
}

/** A shard's context: the stage's, plus the common job's output directory (null without one). */
export interface ShardContext<O> extends StageContext<O> {
  commonDir: string | null;
}

/** The common job's context: the stage's, plus the last pass's merge directory (null without passes). */
export interface CommonContext<O> extends StageContext<O> {
  lastPassDir: string | null;
}

/** A pass job's context: the stage's, plus the directories of the earlier passes. */
export interface PassContext<O> extends StageContext<O> {
  /** The merge directory of pass `q` (null for q < 0). */
  mergeDir(q: number): string | null;
  /** This shard's directory of pass `q` (in a pass's shard job). */
  shardDir(q: number): string;
}

/**
 * Passes over the data before the common job, each N shard jobs and a merge: the align stage's
 * GMM training, whose every pass accumulates statistics per block of the training utterances
 * (the shards) and updates the model from their sum (the merge), as Kaldi's training scripts run
 * `gmm-acc-stats-ali JOB=1:nj` and `gmm-est` once per iteration. The passes are fixed by the
 * stage's options, so the job graph lists them.
 */
export interface StagePasses<O> {
  /** What a pass's shard holds ('blocks'). */
  unit: string;
  /** The passes' names, in order. */
  list(options: O): string[];
  /** The earlier pass whose shard directory (the same shard's) a shard of `pass` reads; null: none. */
  reads(options: O, pass: number): number | null;
  /** Shard `shard` of pass `pass` into ctx.outDir. */
  accumulate(ctx: PassContext<O>, pass: number, shard: ShardSpec): Promise<ShardResult>;
  /** The shards of pass `pass`, in index order, into ctx.outDir (the state the next pass reads). */
  merge(ctx: PassContext<O>, pass: number, shards: readonly ShardOutput[]): Promise<StageResult>;
  /** Files of a pass's shard directories that its merge consumed: removed once the merge is written. */
  consumed(name: string): boolean;
}

export interface StageSharding<O> {
  /** What one shard holds, for messages and docs ('utterances', 'models', 'systems', ...). */
  unit: string;
  /** Passes over the data before the common job (run only in shards; a whole stage does them in its run). */
  passes?: StagePasses<O>;
  /** Work every shard needs, once, before them (into ctx.outDir); after the passes where there are any. */
  common?(ctx: CommonContext<O>): Promise<StageResult>;
  /** Shard `shard` of the units into ctx.outDir (which may stay empty when the shard has no unit). */
  run(ctx: ShardContext<O>, shard: ShardSpec): Promise<ShardResult>;
  /** The shards, in index order, into ctx.outDir: the files of the whole stage's run. */
  merge(ctx: ShardContext<O>, shards: readonly ShardOutput[]): Promise<StageResult>;
}

/** The items of `items` that shard `shard` holds (a contiguous block), and its coverage record. */
export function shardSlice<T>(
  items: readonly T[],
  shard: ShardSpec,
  group: string,
): { items: T[]; coverage: ShardCoverage } {
  const [start, end] = shardRange(items.length, shard);
  return { items: items.slice(start, end), coverage: { group, start, end, total: items.length } };
}

/**
 * Copy every entry of each shard directory into `outDir` except `skip` (the shard's own summary
 * files); a name two shards both hold is a FormatError (their units overlap), unless it is listed
 * in `shared`, files every shard writes with the same bytes (the first is kept). Copied, not
 * moved, so that a merge that fails leaves the shards to merge again.
 */
export async function copyShardEntries(
  shardDirs: readonly string[],
  outDir: string,
  opts: { skip?: readonly string[]; shared?: readonly string[] } = {},
): Promise<void> {
  const skip = new Set([SHARD_RECORD, ...(opts.skip ?? [])]);
  const shared = new Set(opts.shared ?? []);
  const from = new Map<string, string>();
  for (const dir of shardDirs) {
    for (const entry of (await fsp.readdir(dir)).sort()) {
      if (skip.has(entry)) continue;
      const target = join(outDir, entry);
      if (existsSync(target)) {
        if (shared.has(entry)) continue;
        throw new FormatError('two shards wrote the same output', {
          file: join(dir, entry),
          expected: 'each output in one shard only',
          found: `also in ${from.get(entry) ?? outDir}`,
        });
      }
      from.set(entry, join(dir, entry));
      await fsp.cp(join(dir, entry), target, { recursive: true });
    }
  }
}

/**
 * A JSON summary that lists the stage's units (models.json `models`, students.json `students`,
 * targets.json `sets`): the shards' files joined, their lists in shard order, every other key the
 * same in all of them (else a FormatError naming the file), written as the whole stage writes it.
 * Shards without the file (no unit) are passed over.
 */
export async function mergeListedJson(
  shards: readonly ShardOutput[],
  file: string,
  listKey: string,
  outDir: string,
): Promise<Record<string, unknown>> {
  let merged: Record<string, unknown> | null = null;
  let firstPath = '';
  for (const s of shards) {
    const path = join(s.dir, file);
    if (!existsSync(path)) continue;
    const j = JSON.parse(await fsp.readFile(path, 'utf8')) as Record<string, unknown>;
    const list = j[listKey];
    if (!Array.isArray(list))
      throw new FormatError(`no list '${listKey}'`, { file: path, expected: `${file} with a '${listKey}' array` });
    if (!merged) {
      merged = j;
      firstPath = path;
      continue;
    }
    const rest = (x: Record<string, unknown>) => JSON.stringify({ ...x, [listKey]: null });
    if (rest(j) !== rest(merged)) {
      throw new FormatError(`shards disagree on ${file} besides its ${listKey}`, {
        file: path,
        expected: `the same as ${firstPath}`,
        found: 'other values',
      });
    }
    merged[listKey] = [...(merged[listKey] as unknown[]), ...list];
  }
  if (!merged)
    throw new FormatError(`no shard wrote ${file}`, {
      file: shards[0]?.dir ?? outDir,
      expected: `${file} in at least one shard`,
    });
  await writeJsonAtomic(join(outDir, file), merged);
  return merged;
}

/**
 * The merge of a stage whose shards each list their units in one JSON file (models.json,
 * students.json, targets.json): the lists joined (mergeListedJson) and every other output of the
 * shards copied (the model or target-set directories).
 */
export async function mergeListingShards(
  shards: readonly ShardOutput[],
  file: string,
  listKey: string,
  outDir: string,
): Promise<Record<string, unknown>> {
  const merged = await mergeListedJson(shards, file, listKey, outDir);
  await copyShardEntries(
    shards.map((s) => s.dir),
    outDir,
    { skip: [file] },
  );
  return merged;
}

/** The skips recorded by the first shard that had units (the training split as the first model saw it). */
export function firstBusyShardSkips(shards: readonly ShardOutput[]): SkipSummary | undefined {
  return shards.find((s) => s.coverage.some((c) => c.start < c.end))?.skipped;
}
