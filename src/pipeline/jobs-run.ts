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
import { join } from 'node:path';
import { ConfigError, FormatError } from '../util/errors.ts';
import { hashConfig } from '../util/hash.ts';
import { withAtomicOutput, writeJsonAtomic } from '../util/fs.ts';
import type { Logger } from '../util/log.ts';
import type { ShardContext, ShardCoverage, ShardOutput, ShardResult, ShardSpec } from '../stages/shards.ts';
import type { SkipSummary, StageContext, StageRegistry } from '../stages/stage.ts';
import { damagedOutput, hashDirContent, outputChecks, type OutputFileCheck } from './fingerprint.ts';
import { jobArgs, jobId, SHARD_RECORD, shardDirName, shardsRoot, type JobSpec } from './jobs.ts';
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
} from './runner.ts';

export const SHARD_RECORD_FORMAT = 'am-distill.shard';

/** `<expDir>/.shards/<stage>/<i>-of-<N>/shard.json`: what produced a shard's outputs. */
export interface ShardRecord {
  format: typeof SHARD_RECORD_FORMAT;
  version: 1;
  stage: string;
  shard: ShardSpec | 'common';
  configHash: string;
  /** The stage's input hash (upstream outputs, external inputs). */
  inputHash: string;
  /** Output hash of the common job's directory the shard used (null: none). */
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
interface StageState {
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
        const why = await runShard(state, spec.kind === 'common' ? 'common' : spec.shard!);
        return outcome(why === null ? 'up-to-date' : 'ran', why ?? 'shard is up to date');
      }
      case 'merge':
        await mergeShards(state, spec.count!);
        return outcome('ran', state.reason);
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

/** The rerun command of a job, for messages. */
function rerunHint(s: StageState, spec: JobSpec): string {
  return `am-distill job ${s.recipe.file} ${jobArgs(spec).join(' ')}`;
}

/** What makes a shard's record stale: its config, inputs or common output (null: current). */
function staleness(s: StageState, r: ShardRecord, commonHash: string | null): string | null {
  if (r.configHash !== s.cfg.configHash)
    return `config hash ${r.configHash.slice(0, 12)}, now ${s.cfg.configHash.slice(0, 12)}`;
  if (r.inputHash !== s.inputs.inputHash)
    return `input hash ${r.inputHash.slice(0, 12)}, now ${s.inputs.inputHash.slice(0, 12)}`;
  if (r.commonHash !== commonHash)
    return `common output ${String(r.commonHash).slice(0, 12)}, now ${String(commonHash).slice(0, 12)}`;
  return null;
}

/** The common job's directory and output hash, checked current; nulls for a stage without one. */
async function currentCommon(s: StageState): Promise<{ dir: string | null; hash: string | null }> {
  if (!s.def.shards?.common) return { dir: null, hash: null };
  const dir = join(shardsRoot(s.recipe.expDir, s.name), 'common');
  const r = readShardRecord(dir);
  const rerun = rerunHint(s, { stage: s.name, kind: 'common' });
  if (!r)
    throw new FormatError(`the common output of stage ${s.name} is missing`, {
      file: join(dir, SHARD_RECORD),
      expected: `the record of a completed common job (${rerun})`,
      found: 'none',
    });
  const stale = staleness(s, r, null);
  if (stale)
    throw new FormatError(`the common output of stage ${s.name} is stale`, {
      file: join(dir, SHARD_RECORD),
      expected: `a common job run with this config and these inputs (${rerun})`,
      found: stale,
    });
  const damage = await damagedOutput(dir, r.outputCheck);
  if (damage)
    throw new FormatError(`the common output of stage ${s.name} is damaged`, {
      file: dir,
      expected: `the files recorded (${rerun})`,
      found: damage,
    });
  return { dir, hash: r.outputHash };
}

function shardContext(
  s: StageState,
  outDir: string,
  resumeDir: string,
  commonDir: string | null,
): ShardContext<Record<string, unknown>> {
  const ctx: StageContext<Record<string, unknown>> = {
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
  return { ...ctx, commonDir };
}

/** Run a shard (or the common job) unless its record is current; returns why it ran (null: it did not). */
async function runShard(s: StageState, shard: ShardSpec | 'common'): Promise<string | null> {
  const sharding = s.def.shards!;
  const common = shard === 'common' ? { dir: null, hash: null } : await currentCommon(s);
  const root = shardsRoot(s.recipe.expDir, s.name);
  const dir = join(root, shardDirName(shard));
  const previous = readShardRecord(dir);
  const stale = previous ? staleness(s, previous, common.hash) : 'no previous output';
  const damage = previous && !stale ? await damagedOutput(dir, previous.outputCheck) : null;
  if (!stale && !damage) {
    s.log.info(`skip ${s.name} shard ${shardDirName(shard)}: up to date`);
    return null;
  }
  const why = stale ?? `output damaged (${damage})`;
  s.log.info(`${s.name} shard ${shardDirName(shard)}: running (${why})`);
  const startedAt = new Date();
  const resumeDir = join(
    root,
    `.${shardDirName(shard)}.resume`,
    hashConfig({ c: s.cfg.configHash, i: s.inputs.inputHash, m: common.hash }).slice(0, 16),
  );
  await withAtomicOutput(dir, async (tmp) => {
    await fsp.mkdir(tmp, { recursive: true });
    const ctx = shardContext(s, tmp, resumeDir, common.dir);
    const result: ShardResult =
      shard === 'common' ? { ...(await sharding.common!(ctx)), coverage: [] } : await sharding.run(ctx, shard);
    const out = await hashDirContent(tmp, isShardRecord);
    const record: ShardRecord = {
      format: SHARD_RECORD_FORMAT,
      version: 1,
      stage: s.name,
      shard,
      configHash: s.cfg.configHash,
      inputHash: s.inputs.inputHash,
      commonHash: common.hash,
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
  await fsp.rm(join(root, `.${shardDirName(shard)}.resume`), { recursive: true, force: true });
  return why;
}

/**
 * The shard directories 0..count-1 of a stage, checked: present, records matching their
 * directories, current, intact, and covering every unit exactly once.
 */
async function checkShards(s: StageState, count: number, commonHash: string | null): Promise<ShardOutput[]> {
  const root = shardsRoot(s.recipe.expDir, s.name);
  const missing: number[] = [];
  const records: { dir: string; r: ShardRecord }[] = [];
  for (let index = 0; index < count; index++) {
    const dir = join(root, shardDirName({ index, count }));
    const r = readShardRecord(dir);
    if (!r) {
      missing.push(index);
      continue;
    }
    const file = join(dir, SHARD_RECORD);
    const rerun = rerunHint(s, { stage: s.name, kind: 'shard', shard: { index, count } });
    if (r.stage !== s.name || r.shard === 'common' || r.shard.index !== index || r.shard.count !== count) {
      throw new FormatError('duplicated shard: its record names another shard than its directory', {
        file,
        expected: `stage ${s.name} shard ${index}/${count}`,
        found: `stage ${r.stage} shard ${r.shard === 'common' ? 'common' : `${r.shard.index}/${r.shard.count}`}`,
      });
    }
    const stale = staleness(s, r, commonHash);
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
    throw new FormatError(`shards of stage ${s.name} missing`, {
      file: root,
      expected: `all ${count} shards (0-based) completed`,
      found: `none for ${missing.map((i) => `${i}/${count}`).join(', ')} (run: ${missing.map((index) => rerunHint(s, { stage: s.name, kind: 'shard', shard: { index, count } })).join('; ')})`,
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
  const shards = await checkShards(s, count, common.hash);
  await runStage(s.recipe, s.def, s.name, s.options, s.cfg, s.inputs, s.log, (ctx) =>
    s.def.shards!.merge({ ...ctx, commonDir: common.dir }, shards),
  );
  await fsp.rm(shardsRoot(s.recipe.expDir, s.name), { recursive: true, force: true });
}
