/**
 * Run one job of a recipe's job graph (./jobs.ts): what `am-distill job` does, on this machine,
 * in a worker of the local executor, or as a task of a Slurm array / Kubernetes Indexed Job.
 *
 * - A whole stage runs as the runner runs it (skipped when up to date, stage.json written).
 * - A shard (or the common job) runs into `<expDir>/.shards/<stage>/<i>-of-<N>/` atomically and
 *   records `shard.json`: the stage's config hash and input hash (plus the common output's hash),
 *   the units it covers and its output files' checks. It is skipped when that record is current
 *   and its outputs intact, so after a failure only the failed shards run again.
 * - The merge refuses, with the file and the command to rerun, a missing shard, a shard whose
 *   record does not match its directory or whose units overlap another's (duplicated), a stale
 *   shard (made with another config, other inputs or another common output) and a damaged one;
 *   then it writes `<expDir>/<stage>/` through the runner (stage.json included) and removes the
 *   shards.
 */
import { promises as fsp, existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ConfigError, FormatError } from '../util/errors.ts';
import { hashConfig } from '../util/hash.ts';
import { withAtomicOutput, writeJsonAtomic } from '../util/fs.ts';
import type { Logger } from '../util/log.ts';
import type { ShardCoverage, ShardOutput, ShardResult, ShardSpec } from '../stages/shards.ts';
import type { SkipSummary, StageContext, StageRegistry } from '../stages/stage.ts';
import { damagedOutput, hashDirContent, outputChecks, type OutputFileCheck } from './fingerprint.ts';
import { jobArgs, jobId, SHARD_RECORD, shardDirName, shardsRoot, type JobSpec } from './jobs.ts';
import { currentPassMerge, runPassMerge, runPassShard } from './jobs-passes.ts';
import type { Recipe } from './recipe.ts';
import {
  acquireLock,
  writeRecipeRecord,
  readStageRecord,
  rerunReason,
  runStage,
  stageConfig,
  stageInputs,
  type StageConfig,
  type StageDef,
  type StageInputs,
  type StageJobs,
} from './runner.ts';

export const SHARD_RECORD_FORMAT = 'am-distill.shard';

/** `<expDir>/.shards/<stage>/<i>-of-<N>/shard.json`: what produced a shard's outputs. */
export interface ShardRecord {
  format: typeof SHARD_RECORD_FORMAT;
  version: 1;
  stage: string;
  shard: ShardSpec | 'common' | 'merge';
  /** A pass's shard or merge: the pass. */
  pass?: number;
  configHash: string;
  /** The stage's input hash (upstream outputs, external inputs). */
  inputHash: string;
  /**
   * Output hash of what the shard read besides the stage's inputs (null: nothing): the common
   * job's directory; for a pass's shards and merge the previous merge's (and the shard's block
   * alignments'); for the common job after passes the last merge's.
   */
  commonHash: string | null;
  coverage: ShardCoverage[];
  outputHash: string;
  output: { files: number; bytes: number };
  outputCheck: OutputFileCheck[];
  startedAt: string;
  durationSec: number;
  counts: Record<string, number>;
  skipped: SkipSummary;
  details?: Record<string, unknown>;
}

export interface JobOutcome {
  id: string;
  status: 'ran' | 'up-to-date';
  /** Why it ran, or why nothing was done. */
  reason: string;
  durationSec: number;
}

/** Everything a job of `stage` needs to know about it now. */
export interface StageState {
  recipe: Recipe;
  def: StageDef;
  name: string;
  options: Record<string, unknown>;
  cfg: StageConfig;
  inputs: StageInputs;
  /** Why the whole stage must run; undefined when its output is up to date. */
  reason: string | undefined;
  log: Logger;
}

async function stageState(recipe: Recipe, registry: StageRegistry, name: string, log: Logger): Promise<StageState> {
  const st = recipe.stages.find((s) => s.name === name);
  if (!st) {
    throw new ConfigError(`stage '${name}' is not in the recipe`, {
      file: recipe.file,
      expected: `one of ${recipe.stages.map((s) => s.name).join(', ')}`,
      found: `'${name}'`,
    });
  }
  const def = registry.get(name);
  const cfg = stageConfig(recipe, def, registry.schemaOf(name, recipe), name, st.options);
  const records = new Map(def.inputs.map((i) => [i, readStageRecord(join(recipe.expDir, i))]));
  const inputs = await stageInputs(recipe, def, name, st.options, records, log);
  const dir = join(recipe.expDir, name);
  const reason = await rerunReason(dir, readStageRecord(dir), cfg.configHash, inputs, undefined);
  return { recipe, def, name, options: st.options, cfg, inputs, reason, log };
}

/** Run one job; a job whose outputs are current does nothing ('up-to-date'). Holds the job's lock while it runs. */
export async function runJob(recipe: Recipe, registry: StageRegistry, spec: JobSpec, log: Logger): Promise<JobOutcome> {
  const id = jobId(spec);
  const def = registry.get(spec.stage);
  if (spec.kind !== 'stage' && !def.shards) {
    throw new ConfigError(`stage '${spec.stage}' does not run in shards`, {
      file: `am-distill job ${jobArgs(spec).join(' ')}`,
      expected: 'the stage alone (no --shard, --merge-shards or --common)',
      found: spec.kind,
    });
  }
  if (spec.pass !== undefined && (!def.shards?.passes || (spec.kind !== 'shard' && spec.kind !== 'merge'))) {
    throw new ConfigError(`stage '${spec.stage}' has no passes`, {
      file: `am-distill job ${jobArgs(spec).join(' ')}`,
      expected: def.shards?.passes ? '--pass with --shard or --merge-shards' : 'no --pass',
      found: `--pass ${spec.pass}`,
    });
  }
  if (spec.kind === 'common' && !def.shards?.common) {
    throw new ConfigError(`stage '${spec.stage}' has no common job`, {
      file: `am-distill job ${jobArgs(spec).join(' ')}`,
      expected: 'its shards (--shard i/N)',
      found: '--common',
    });
  }
  const locks = join(recipe.expDir, '.jobs');
  await fsp.mkdir(locks, { recursive: true });
  const release = acquireLock(locks, `${id}.lock`);
  const t0 = Date.now();
  try {
    // recipe.json as `am-distill run` writes it (the report reads it); every job writes the same bytes.
    await writeRecipeRecord(recipe);
    const state = await stageState(recipe, registry, spec.stage, log);
    const outcome = (status: JobOutcome['status'], reason: string): JobOutcome => ({
      id,
      status,
      reason,
      durationSec: (Date.now() - t0) / 1000,
    });
    if (!state.reason) return outcome('up-to-date', `stage ${spec.stage} is up to date`);
    switch (spec.kind) {
      case 'stage':
        await runStage(recipe, def, spec.stage, state.options, state.cfg, state.inputs, log);
        return outcome('ran', state.reason);
      case 'common':
      case 'shard': {
        const why =
          spec.pass !== undefined
            ? await runPassShard(state, spec.pass, spec.shard!)
            : await runShard(state, spec.kind === 'common' ? 'common' : spec.shard!);
        return outcome(why === null ? 'up-to-date' : 'ran', why ?? 'shard is up to date');
      }
      case 'merge': {
        if (spec.pass === undefined) {
          await mergeShards(state, spec.count!);
          return outcome('ran', state.reason);
        }
        const why = await runPassMerge(state, spec.pass, spec.count!);
        return outcome(why === null ? 'up-to-date' : 'ran', why ?? 'merge is up to date');
      }
    }
  } finally {
    release();
  }
}

export function readShardRecord(dir: string): ShardRecord | null {
  const path = join(dir, SHARD_RECORD);
  if (!existsSync(path)) return null;
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as ShardRecord;
    return r.format === SHARD_RECORD_FORMAT && r.version === 1 ? r : null;
  } catch {
    return null;
  }
}

const isShardRecord = (rel: string): boolean => rel === SHARD_RECORD;

/**
 * The jobs recorded under a stage's shard root (its shards, common job, and every pass's shards
 * and merge): how many, and their run times summed, for the merged stage's record.
 */
export async function recordedJobs(root: string): Promise<StageJobs> {
  let count = 0;
  let seconds = 0;
  const entries = await fsp.readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const r = e.isFile() && e.name === SHARD_RECORD ? readShardRecord(e.parentPath) : null;
    if (r) {
      count++;
      seconds += r.durationSec;
    }
  }
  return { count, seconds: Math.round(seconds * 1000) / 1000 };
}

/** The rerun command of a job, for messages. */
export function rerunHint(s: StageState, spec: JobSpec): string {
  return `am-distill job ${s.recipe.file} ${jobArgs(spec).join(' ')}`;
}

/** What makes a shard's record stale: its config, inputs or common output (null: current). */
export function staleness(s: StageState, r: ShardRecord, commonHash: string | null): string | null {
  if (r.configHash !== s.cfg.configHash)
    return `config hash ${r.configHash.slice(0, 12)}, now ${s.cfg.configHash.slice(0, 12)}`;
  if (r.inputHash !== s.inputs.inputHash)
    return `input hash ${r.inputHash.slice(0, 12)}, now ${s.inputs.inputHash.slice(0, 12)}`;
  if (r.commonHash !== commonHash)
    return `common output ${String(r.commonHash).slice(0, 12)}, now ${String(commonHash).slice(0, 12)}`;
  return null;
}

/**
 * A recorded output directory (the common job's, a pass's merge) that other jobs read, checked
 * current (made with `commonHash`) and intact: its directory and output hash.
 */
export async function currentRecorded(
  s: StageState,
  dir: string,
  commonHash: string | null,
  what: string,
  rerun: string,
): Promise<{ dir: string; hash: string }> {
  const r = readShardRecord(dir);
  if (!r)
    throw new FormatError(`${what} is missing`, {
      file: join(dir, SHARD_RECORD),
      expected: `the record of a completed job (${rerun})`,
      found: 'none',
    });
  const stale = staleness(s, r, commonHash);
  if (stale)
    throw new FormatError(`${what} is stale`, {
      file: join(dir, SHARD_RECORD),
      expected: `a job run with this config and these inputs (${rerun})`,
      found: stale,
    });
  const damage = await damagedOutput(dir, r.outputCheck);
  if (damage)
    throw new FormatError(`${what} is damaged`, {
      file: dir,
      expected: `the files recorded (${rerun})`,
      found: damage,
    });
  return { dir, hash: r.outputHash };
}

/** What the common job reads besides the stage's inputs: the last pass's merge (nulls without passes). */
async function commonInput(s: StageState): Promise<{ dir: string | null; hash: string | null }> {
  const n = s.def.shards?.passes?.list(s.options).length ?? 0;
  return n ? currentPassMerge(s, n - 1) : { dir: null, hash: null };
}

/** The common job's directory and output hash, checked current; nulls for a stage without one. */
async function currentCommon(s: StageState): Promise<{ dir: string | null; hash: string | null }> {
  if (!s.def.shards?.common) return { dir: null, hash: null };
  const dir = join(shardsRoot(s.recipe.expDir, s.name), 'common');
  const input = await commonInput(s);
  return currentRecorded(
    s,
    dir,
    input.hash,
    `the common output of stage ${s.name}`,
    rerunHint(s, { stage: s.name, kind: 'common' }),
  );
}

/** The context of a job of the stage writing into `outDir`. */
export function stageContext(s: StageState, outDir: string, resumeDir: string): StageContext<Record<string, unknown>> {
  return {
    recipe: s.recipe,
    options: s.options,
    outDir,
    expDir: s.recipe.expDir,
    log: s.log,
    resumeDir,
    inputDir: (stage: string) => {
      if (!s.def.inputs.includes(stage))
        throw new Error(`stage '${s.name}' asked for '${stage}', which is not among its declared inputs`);
      return join(s.recipe.expDir, stage);
    },
  };
}

/** Why a recorded directory must be made again (null: its record is current for `commonHash` and its files intact). */
export async function recordedRerunReason(
  s: StageState,
  dir: string,
  commonHash: string | null,
): Promise<string | null> {
  const previous = readShardRecord(dir);
  const stale = previous ? staleness(s, previous, commonHash) : 'no previous output';
  const damage = previous && !stale ? await damagedOutput(dir, previous.outputCheck) : null;
  return stale ?? (damage ? `output damaged (${damage})` : null);
}

/**
 * Make `dir` atomically with `fill` (given a temporary directory and a resume directory) and
 * record it in its shard.json: the stage's hashes, `commonHash`, the units and a check of every file.
 */
export async function writeRecorded(
  s: StageState,
  dir: string,
  what: { shard: ShardRecord['shard']; pass?: number; commonHash: string | null },
  fill: (tmp: string, resumeDir: string) => Promise<ShardResult>,
): Promise<void> {
  const startedAt = new Date();
  const resumeRoot = join(dirname(dir), `.${basename(dir)}.resume`);
  const resumeDir = join(
    resumeRoot,
    hashConfig({ c: s.cfg.configHash, i: s.inputs.inputHash, m: what.commonHash }).slice(0, 16),
  );
  await withAtomicOutput(dir, async (tmp) => {
    await fsp.mkdir(tmp, { recursive: true });
    const result = await fill(tmp, resumeDir);
    const out = await hashDirContent(tmp, isShardRecord);
    const record: ShardRecord = {
      format: SHARD_RECORD_FORMAT,
      version: 1,
      stage: s.name,
      shard: what.shard,
      ...(what.pass !== undefined ? { pass: what.pass } : {}),
      configHash: s.cfg.configHash,
      inputHash: s.inputs.inputHash,
      commonHash: what.commonHash,
      coverage: result.coverage,
      outputHash: out.hash,
      output: { files: out.files, bytes: out.bytes },
      outputCheck: await outputChecks(tmp, isShardRecord),
      startedAt: startedAt.toISOString(),
      durationSec: (Date.now() - startedAt.getTime()) / 1000,
      counts: result.counts ?? {},
      skipped: result.skipped ?? { done: 0, skipped: 0, reasons: [] },
      ...(result.details ? { details: result.details } : {}),
    };
    await writeJsonAtomic(join(tmp, SHARD_RECORD), record);
  });
  await fsp.rm(resumeRoot, { recursive: true, force: true });
}

/** Run a shard (or the common job) unless its record is current; returns why it ran (null: it did not). */
async function runShard(s: StageState, shard: ShardSpec | 'common'): Promise<string | null> {
  const sharding = s.def.shards!;
  const common = shard === 'common' ? await commonInput(s) : await currentCommon(s);
  const dir = join(shardsRoot(s.recipe.expDir, s.name), shardDirName(shard));
  const why = await recordedRerunReason(s, dir, common.hash);
  if (!why) {
    s.log.info(`skip ${s.name} shard ${shardDirName(shard)}: up to date`);
    return null;
  }
  s.log.info(`${s.name} shard ${shardDirName(shard)}: running (${why})`);
  await writeRecorded(s, dir, { shard, commonHash: common.hash }, async (tmp, resumeDir) => {
    const ctx = stageContext(s, tmp, resumeDir);
    return shard === 'common'
      ? { ...(await sharding.common!({ ...ctx, lastPassDir: common.dir })), coverage: [] }
      : sharding.run({ ...ctx, commonDir: common.dir }, shard);
  });
  return why;
}

/**
 * The shard directories 0..count-1 under `root`, checked: present, records matching their
 * directories (stage, shard, pass), current (made with `commonHash(index)`), intact, and covering
 * every unit exactly once. `spec(index)`: the shard's job, for rerun hints.
 */
export async function checkShardDirs(
  s: StageState,
  root: string,
  count: number,
  opts: { pass?: number; commonHash: (index: number) => string | null; spec: (index: number) => JobSpec },
): Promise<ShardOutput[]> {
  const missing: number[] = [];
  const records: { dir: string; r: ShardRecord }[] = [];
  const name = (r: ShardRecord) =>
    `stage ${r.stage}${r.pass !== undefined ? ` pass ${r.pass}` : ''} shard ${typeof r.shard === 'string' ? r.shard : `${r.shard.index}/${r.shard.count}`}`;
  for (let index = 0; index < count; index++) {
    const dir = join(root, shardDirName({ index, count }));
    const r = readShardRecord(dir);
    if (!r) {
      missing.push(index);
      continue;
    }
    const file = join(dir, SHARD_RECORD);
    const rerun = rerunHint(s, opts.spec(index));
    if (
      r.stage !== s.name ||
      typeof r.shard === 'string' ||
      r.shard.index !== index ||
      r.shard.count !== count ||
      r.pass !== opts.pass
    ) {
      throw new FormatError('duplicated shard: its record names another shard than its directory', {
        file,
        expected: `stage ${s.name}${opts.pass !== undefined ? ` pass ${opts.pass}` : ''} shard ${index}/${count}`,
        found: name(r),
      });
    }
    const stale = staleness(s, r, opts.commonHash(index));
    if (stale)
      throw new FormatError('stale shard: made with another config or other inputs', {
        file,
        expected: `a shard of this config and these inputs (rerun: ${rerun})`,
        found: stale,
      });
    const damage = await damagedOutput(dir, r.outputCheck);
    if (damage)
      throw new FormatError('damaged shard', {
        file: dir,
        expected: `the files its record lists (rerun: ${rerun})`,
        found: damage,
      });
    records.push({ dir, r });
  }
  if (missing.length) {
    throw new FormatError(`shards of stage ${s.name}${opts.pass !== undefined ? ` pass ${opts.pass}` : ''} missing`, {
      file: root,
      expected: `all ${count} shards (0-based) completed`,
      found: `none for ${missing.map((i) => `${i}/${count}`).join(', ')} (run: ${missing.map((index) => rerunHint(s, opts.spec(index))).join('; ')})`,
    });
  }
  checkCoverage(records);
  return records.map(({ dir, r }) => ({
    dir,
    shard: r.shard as ShardSpec,
    coverage: r.coverage,
    counts: r.counts,
    skipped: r.skipped,
    ...(r.details ? { details: r.details } : {}),
  }));
}

/** Every group of units covered exactly once by the shards: an overlap is a duplicated shard, a gap a missing one. */
function checkCoverage(records: readonly { dir: string; r: ShardRecord }[]): void {
  const groups = new Map<string, { c: ShardCoverage; file: string }[]>();
  for (const { dir, r } of records) {
    for (const c of r.coverage)
      groups.set(c.group, [...(groups.get(c.group) ?? []), { c, file: join(dir, SHARD_RECORD) }]);
  }
  for (const [group, parts] of groups) {
    parts.sort((a, b) => a.c.start - b.c.start || a.c.end - b.c.end);
    let at = 0;
    for (let i = 0; i < parts.length; i++) {
      const { c, file } = parts[i];
      if (c.total !== parts[0].c.total)
        throw new FormatError(`shards disagree on the number of ${group}`, {
          file,
          expected: `${parts[0].c.total} (as ${parts[0].file})`,
          found: String(c.total),
        });
      if (c.start < at)
        throw new FormatError(`duplicated shards: ${group} ${c.start}..${at - 1} covered twice`, {
          file,
          expected: `${group} from ${at} on`,
          found: `${c.start}..${c.end - 1}, also in ${parts[i - 1].file}`,
        });
      if (c.start > at)
        throw new FormatError(`shards miss ${group} ${at}..${c.start - 1}`, {
          file,
          expected: `${group} from ${at} on`,
          found: `${c.start}..${c.end - 1}`,
        });
      at = c.end;
    }
    if (at !== parts[0].c.total)
      throw new FormatError(`shards miss ${group} ${at}..${parts[0].c.total - 1}`, {
        file: parts[parts.length - 1].file,
        expected: `all ${parts[0].c.total} ${group}`,
        found: `up to ${at - 1}`,
      });
  }
}

/** The merge job: checked shards -> `<expDir>/<stage>/` through the runner; then the shards go. */
async function mergeShards(s: StageState, count: number): Promise<void> {
  const common = await currentCommon(s);
  const shards = await checkShardDirs(s, shardsRoot(s.recipe.expDir, s.name), count, {
    commonHash: () => common.hash,
    spec: (index) => ({ stage: s.name, kind: 'shard', shard: { index, count } }),
  });
  const jobs = await recordedJobs(shardsRoot(s.recipe.expDir, s.name));
  await runStage(
    s.recipe,
    s.def,
    s.name,
    s.options,
    s.cfg,
    s.inputs,
    s.log,
    (ctx) => s.def.shards!.merge({ ...ctx, commonDir: common.dir }, shards),
    jobs,
  );
  await fsp.rm(shardsRoot(s.recipe.expDir, s.name), { recursive: true, force: true });
}
