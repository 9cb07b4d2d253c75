/**
 * The pipeline runner. Stages run in registration order; each writes `<expDir>/<stage>/`
 * atomically (temp dir + rename) together with `stage.json`, the record of what produced it.
 *
 * Skip rule: a stage is skipped ("skip <stage>: up to date") when its recorded config hash and
 * input hash equal the current ones and its recorded outputs are intact (each file's size and the
 * hash of the bytes at its end, see fingerprint.ts; a damaged output reruns the stage). The input hash covers the recorded output hashes of the
 * upstream stages it reads and the fingerprints of its external inputs (corpus directories), so
 * a changed stage reruns, and every stage downstream of it whose inputs changed reruns too.
 * `--from-stage S` forces S and everything after it to rerun; `--to-stage S` stops after S.
 */
import { promises as fsp, existsSync, readFileSync, writeFileSync, unlinkSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, AmDistillError, FormatError } from '../util/errors.ts';
import { hashConfig } from '../util/hash.ts';
import { tempOwner, withAtomicOutput, writeJsonAtomic } from '../util/fs.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import { outputRelevant, type Schema } from '../stages/schema.ts';
import type { Recipe } from './recipe.ts';
import type { StageRegistry, StageResult, SkipSummary } from '../stages/stage.ts';
import { CORPUS_INFO_FILE } from '../corpus/manifest.ts';
import { validateCorpusDir } from '../corpus/validate.ts';
import {
  damagedOutput,
  damagedOutputTotals,
  fingerprintInput,
  hashDirContent,
  outputChecks,
  type OutputFileCheck,
} from './fingerprint.ts';

export const STAGE_RECORD = 'stage.json';
export const STAGE_RECORD_VERSION = 1;

/** `<expDir>/<stage>/stage.json`: what produced the outputs next to it. */
export interface StageRecord {
  formatVersion: number;
  stage: string;
  recipe: { name: string; file: string };
  /** Effective config (options, owned sections, seed), exactly what was hashed plus run-time knobs. */
  config: { options: Record<string, unknown>; sections: Record<string, unknown>; seed: number; netSeed?: number };
  configHash: string;
  inputs: {
    /** Recorded output hash of every upstream stage read. */
    upstream: Record<string, string>;
    external: { path: string; mode: 'stat' | 'content'; hash: string; files: number; bytes: number }[];
  };
  inputHash: string;
  /** Content hash of the stage's output files (stage.json excluded). */
  outputHash: string;
  output: { files: number; bytes: number };
  /**
   * Per output file its size and the hash of its tail, checked on every rerun (absent in records
   * of older runs: their file count and total size are checked instead).
   */
  outputCheck?: OutputFileCheck[];
  startedAt: string;
  finishedAt: string;
  durationSec: number;
  counts: Record<string, number>;
  skipped: SkipSummary;
  details?: Record<string, unknown>;
  /**
   * A stage made by shard jobs (`am-distill job`): how many jobs wrote the shards, passes and
   * common part it merged, and their seconds summed. `durationSec` is then the merge's own time.
   */
  jobs?: StageJobs;
}

/** The shard jobs behind a merged stage: their number and their run times summed (seconds). */
export interface StageJobs {
  count: number;
  seconds: number;
}

export type StageStatus = 'ran' | 'up-to-date' | 'before-from-stage' | 'after-to-stage';

export interface StageReport {
  stage: string;
  status: StageStatus;
  /** Final output directory. */
  dir: string;
  /** Why the stage ran ('no previous output', 'config changed', ...). */
  reason?: string;
  durationSec?: number;
  counts?: Record<string, number>;
  skipped?: SkipSummary;
}

export interface RunReport {
  recipe: string;
  expDir: string;
  stages: StageReport[];
}

export interface RunOptions {
  registry: StageRegistry;
  /** Force this stage and all later ones to rerun; earlier ones are not run. */
  fromStage?: string;
  /** Stop after this stage. */
  toStage?: string;
  log?: Logger;
}

/** Read a stage record; null when absent or unreadable (the stage then reruns). */
export function readStageRecord(stageDir: string): StageRecord | null {
  const path = join(stageDir, STAGE_RECORD);
  if (!existsSync(path)) return null;
  try {
    const rec = JSON.parse(readFileSync(path, 'utf8')) as StageRecord;
    if (
      rec.formatVersion !== STAGE_RECORD_VERSION ||
      typeof rec.configHash !== 'string' ||
      typeof rec.outputHash !== 'string'
    )
      return null;
    return rec;
  } catch {
    return null;
  }
}

/**
 * `am-distill validate` of a stage output dir: its record, and the outputs' hash against it (a
 * prepare dir's corpus too). Returns the summary lines.
 */
export async function validateStageDir(dir: string): Promise<string[]> {
  const rec = readStageRecord(dir);
  if (!rec)
    throw new FormatError('missing or unreadable stage record', {
      file: join(dir, STAGE_RECORD),
      expected: 'a stage.json written by am-distill run',
      found: 'none or malformed',
    });
  const out = await hashDirContent(dir, (rel) => rel === STAGE_RECORD);
  if (out.hash !== rec.outputHash) {
    throw new FormatError('stage outputs changed since they were recorded', {
      file: dir,
      expected: `output hash ${rec.outputHash} (${rec.output.files} files)`,
      found: `${out.hash} (${out.files} files)`,
    });
  }
  const lines = [
    `stage '${rec.stage}' of recipe '${rec.recipe.name}': outputs intact (${out.files} files, ${(out.bytes / 1e6).toFixed(1)} MB)`,
    `  ran ${rec.startedAt} for ${rec.durationSec.toFixed(1)} s; ${Object.entries(rec.counts)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  ];
  if (rec.skipped.skipped > 0)
    lines.push(
      `  skipped ${rec.skipped.skipped}: ${rec.skipped.reasons.map((r) => `${r.count} x ${r.reason}`).join('; ')}`,
    );
  if (rec.stage === 'prepare' && existsSync(join(dir, CORPUS_INFO_FILE))) lines.push(...(await validateCorpusDir(dir)));
  return lines;
}

function stageIndex(recipe: Recipe, registry: StageRegistry, name: string, flag: string): number {
  if (!registry.has(name)) {
    throw new ConfigError(`unknown stage '${name}'`, {
      file: `${flag} ${name}`,
      expected: `one of ${registry.names().join(', ')}`,
      found: `'${name}'`,
    });
  }
  const i = recipe.stages.findIndex((s) => s.name === name);
  if (i < 0) {
    throw new ConfigError(`stage '${name}' is not in the recipe`, {
      file: `${flag} ${name}`,
      expected: `one of the recipe's stages ${recipe.stages.map((s) => s.name).join(', ')}`,
      found: `'${name}'`,
    });
  }
  return i;
}

/** Run a validated recipe. */
export async function runPipeline(recipe: Recipe, opts: RunOptions): Promise<RunReport> {
  const { registry } = opts;
  const log = opts.log ?? defaultLog;
  const from = opts.fromStage !== undefined ? stageIndex(recipe, registry, opts.fromStage, '--from-stage') : 0;
  const to =
    opts.toStage !== undefined ? stageIndex(recipe, registry, opts.toStage, '--to-stage') : recipe.stages.length - 1;
  if (from > to) {
    throw new ConfigError('--from-stage comes after --to-stage', {
      expected: `stage order ${recipe.stages.map((s) => s.name).join(' -> ')}`,
      found: `--from-stage ${opts.fromStage} --to-stage ${opts.toStage}`,
    });
  }
  const releaseLock = await openExperiment(recipe, log);
  try {
    const records = new Map<string, StageRecord | null>();
    const reports: StageReport[] = [];
    const n = recipe.stages.length;
    for (let i = 0; i < n; i++) {
      const { name, options } = recipe.stages[i];
      const def = registry.get(name);
      const dir = join(recipe.expDir, name);
      if (i > to) {
        reports.push({ stage: name, status: 'after-to-stage', dir });
        continue;
      }
      const cfg = stageConfig(recipe, def, registry.schemaOf(name, recipe), name, options);
      const { configHash } = cfg;
      const previous = readStageRecord(dir);
      if (i < from) {
        records.set(name, previous);
        const stale = !previous
          ? null
          : previous.configHash !== configHash
            ? 'config changed'
            : await damageOf(dir, previous);
        if (stale)
          log.warn(`stage ${name} is out of date (${stale}) but is not run because of --from-stage ${opts.fromStage}`);
        reports.push({
          stage: name,
          status: 'before-from-stage',
          dir,
          ...(previous ? { counts: previous.counts } : {}),
        });
        continue;
      }
      const inputs = await stageInputs(recipe, def, name, options, records, log);
      const reason = await rerunReason(dir, previous, configHash, inputs, opts.fromStage);
      if (!reason && previous) {
        log.info(`skip ${name}: up to date`);
        records.set(name, previous);
        reports.push({ stage: name, status: 'up-to-date', dir, counts: previous.counts, skipped: previous.skipped });
        continue;
      }

      log.info(`stage ${i + 1}/${n} ${name}: running (${reason})`);
      const record = await runStage(recipe, def, name, options, cfg, inputs, log);
      records.set(name, record);
      log.info(`done ${name} in ${record.durationSec.toFixed(1)} s -> ${dir}`);
      reports.push({
        stage: name,
        status: 'ran',
        dir,
        reason,
        durationSec: record.durationSec,
        counts: record.counts,
        skipped: record.skipped,
      });
    }
    return { recipe: recipe.name, expDir: recipe.expDir, stages: reports };
  } finally {
    releaseLock();
  }
}

/**
 * Take the experiment directory's lock (made if absent), remove the leftovers of interrupted runs
 * and write recipe.json: how a run starts (`am-distill run`, with or without shards). Returns the
 * lock's release.
 */
export async function openExperiment(recipe: Recipe, log: Logger): Promise<() => void> {
  await fsp.mkdir(recipe.expDir, { recursive: true });
  const release = acquireLock(recipe.expDir);
  try {
    await removeStaleTemps(
      recipe.expDir,
      recipe.stages.map((s) => s.name),
      log,
    );
    await writeRecipeRecord(recipe);
    return release;
  } catch (err) {
    release();
    throw err;
  }
}

/** `<expDir>/recipe.json`: the recipe as run (also written by the job executor, src/pipeline/executor.ts). */
export async function writeRecipeRecord(recipe: Recipe): Promise<void> {
  await writeJsonAtomic(join(recipe.expDir, 'recipe.json'), {
    name: recipe.name,
    file: recipe.file,
    description: recipe.description,
    seed: recipe.seed,
    ...(recipe.netSeed !== undefined ? { netSeed: recipe.netSeed } : {}),
    sections: recipe.sections,
    stages: Object.fromEntries(recipe.stages.map((s) => [s.name, s.options])),
  });
}

const isRecord = (rel: string): boolean => rel === STAGE_RECORD;

/** A registered stage (the registry's StageDefinition). */
export type StageDef = ReturnType<StageRegistry['get']>;

/** A stage's effective config: its options, the recipe sections it owns, seeds, and the hash of what affects its outputs. */
export interface StageConfig {
  sections: Record<string, unknown>;
  netSeed: { netSeed?: number };
  configHash: string;
}

export function stageConfig(
  recipe: Recipe,
  def: StageDef,
  schema: Schema,
  name: string,
  options: Record<string, unknown>,
): StageConfig {
  const sections: Record<string, unknown> = {};
  const relevantSections: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(def.sections ?? {})) {
    const v = recipe.sections[key];
    if (v === undefined) continue;
    sections[key] = v;
    relevantSections[key] = spec.type === 'object' ? outputRelevant(spec.fields, v) : v;
  }
  const netSeed = def.netSeeded && recipe.netSeed !== undefined ? { netSeed: recipe.netSeed } : {};
  const configHash = hashConfig({
    stage: name,
    options: outputRelevant(schema, options),
    sections: relevantSections,
    seed: recipe.seed,
    ...netSeed,
  });
  return { sections, netSeed, configHash };
}

/** What a stage reads: the recorded output hashes of its upstream stages and the fingerprints of its external inputs. */
export interface StageInputs {
  upstream: Record<string, string>;
  external: StageRecord['inputs']['external'];
  inputHash: string;
}

export async function stageInputs(
  recipe: Recipe,
  def: StageDef,
  name: string,
  options: Record<string, unknown>,
  records: Map<string, StageRecord | null>,
  log: Logger,
): Promise<StageInputs> {
  const upstream: Record<string, string> = {};
  for (const input of def.inputs) {
    const rec = records.get(input);
    if (!rec) {
      throw new ConfigError(`stage '${name}' reads the output of '${input}', which has not been run`, {
        file: join(recipe.expDir, input, STAGE_RECORD),
        expected: 'a completed stage record',
        found: 'nothing',
      });
    }
    upstream[input] = rec.outputHash;
  }
  const external: StageRecord['inputs']['external'] = [];
  for (const ext of (await def.externalInputs?.(recipe, options, log)) ?? []) {
    external.push({ path: ext.path, mode: ext.mode, ...(await fingerprintInput(ext.path, ext.mode)) });
  }
  const inputHash = hashConfig({ upstream, external: external.map((e) => [e.path, e.mode, e.hash]) });
  return { upstream, external, inputHash };
}

/** Why a stage must run (forced, no record, config or inputs changed, output damaged); undefined when it is up to date. */
export async function rerunReason(
  dir: string,
  previous: StageRecord | null,
  configHash: string,
  inputs: StageInputs,
  fromStage: string | undefined,
): Promise<string | undefined> {
  if (fromStage !== undefined) return `forced by --from-stage ${fromStage}`;
  if (!previous) return existsSync(dir) ? 'no valid stage record' : 'no previous output';
  if (previous.configHash !== configHash) return 'config changed';
  if (previous.inputHash !== inputs.inputHash) {
    const changed = Object.keys(inputs.upstream).filter((k) => previous.inputs?.upstream?.[k] !== inputs.upstream[k]);
    return changed.length ? `inputs changed (${changed.join(', ')})` : 'inputs changed (external files)';
  }
  return (await damageOf(dir, previous)) ?? undefined;
}

/**
 * Run one stage into `<expDir>/<name>/` (atomically, with its resume directory) and write its
 * stage record; a stage that writes nothing fails. `run`: instead of the stage's run function
 * (the merge of its shards, src/pipeline/jobs-run.ts).
 */
export async function runStage(
  recipe: Recipe,
  def: StageDef,
  name: string,
  options: Record<string, unknown>,
  cfg: StageConfig,
  inputs: StageInputs,
  log: Logger,
  run?: StageDef['run'],
  jobs?: StageJobs,
): Promise<StageRecord> {
  const dir = join(recipe.expDir, name);
  const { sections, netSeed, configHash } = cfg;
  const { upstream, external, inputHash } = inputs;
  const startedAt = new Date();
  const resumeRoot = join(recipe.expDir, `.${name}.resume`);
  const resumeDir = join(resumeRoot, hashConfig({ configHash, inputHash }).slice(0, 16));
  await removeOtherResumeDirs(resumeRoot, resumeDir, log);
  const record = await withAtomicOutput(dir, async (tmp) => {
    await fsp.mkdir(tmp, { recursive: true });
    const result: StageResult = await (run ?? def.run.bind(def))({
      recipe,
      options,
      outDir: tmp,
      expDir: recipe.expDir,
      log,
      resumeDir,
      inputDir: (stage: string) => {
        if (!def.inputs.includes(stage))
          throw new Error(`stage '${name}' asked for '${stage}', which is not among its declared inputs`);
        return join(recipe.expDir, stage);
      },
    });
    const out = await hashDirContent(tmp, isRecord);
    if (out.files === 0) {
      throw new AmDistillError('E_EMPTY_STAGE', `stage '${name}' produced no output`, {
        file: dir,
        expected: 'at least one output file',
        found: 'none',
      });
    }
    const finishedAt = new Date();
    const rec: StageRecord = {
      formatVersion: STAGE_RECORD_VERSION,
      stage: name,
      recipe: { name: recipe.name, file: recipe.file },
      config: { options, sections, seed: recipe.seed, ...netSeed },
      configHash,
      inputs: { upstream, external },
      inputHash,
      outputHash: out.hash,
      output: { files: out.files, bytes: out.bytes },
      outputCheck: await outputChecks(tmp, isRecord),
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationSec: (finishedAt.getTime() - startedAt.getTime()) / 1000,
      counts: result.counts ?? {},
      skipped: result.skipped ?? { done: 0, skipped: 0, reasons: [] },
      ...(result.details ? { details: result.details } : {}),
      ...(jobs ? { jobs } : {}),
    };
    await writeJsonAtomic(join(tmp, STAGE_RECORD), rec);
    return rec;
  });
  await fsp.rm(resumeRoot, { recursive: true, force: true });
  return record;
}

/** 'output damaged (...)' when a recorded output file is missing, resized or changed at its end. */
export async function damageOf(dir: string, rec: StageRecord): Promise<string | null> {
  const what = Array.isArray(rec.outputCheck)
    ? await damagedOutput(dir, rec.outputCheck)
    : rec.output
      ? await damagedOutputTotals(dir, rec.output, isRecord)
      : null;
  return what ? `output damaged (${what})` : null;
}

/**
 * The resume directories of a stage other than `keep` (left by an interrupted run of another
 * config or other inputs): they can never be resumed, since a stage resumes only its own key.
 */
async function removeOtherResumeDirs(root: string, keep: string, log: Logger): Promise<void> {
  if (!existsSync(root)) return;
  for (const entry of await fsp.readdir(root)) {
    const path = join(root, entry);
    if (path === keep) {
      log.info(`resuming from ${path} (left by an interrupted run with this config)`);
      continue;
    }
    log.debug(`removing the resume directory of another config: ${path}`);
    await fsp.rm(path, { recursive: true, force: true });
  }
}

/**
 * Temp dirs of stages interrupted by a crash, Ctrl-C or kill -9 (`.<stage>.<pid>.<hex>.tmp`, and
 * the nested temps of atomic writes of such a dir, see tempOwner). Only called while holding the
 * lock, so no live run owns them.
 */
export async function removeStaleTemps(expDir: string, stages: string[], log: Logger): Promise<void> {
  const names = new Set(stages);
  for (const entry of await fsp.readdir(expDir)) {
    const owner = tempOwner(entry);
    if (owner !== null && names.has(owner)) {
      log.debug(`removing the leftovers of an interrupted run: ${join(expDir, entry)}`);
      await fsp.rm(join(expDir, entry), { recursive: true, force: true });
    }
  }
}

/**
 * One run per experiment directory at a time: `<expDir>/.lock` holds the pid. A lock left by a
 * process that no longer exists is taken over.
 */
export function acquireLock(expDir: string, name = '.lock'): () => void {
  const path = join(expDir, name);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeFileSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          unlinkSync(path);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new ConfigError('another am-distill run is using this experiment directory', {
          file: path,
          expected: 'no other run',
          found: `process ${pid}`,
        });
      }
      try {
        unlinkSync(path);
      } catch {
        /* raced */
      }
    }
  }
  throw new ConfigError('cannot lock the experiment directory', { file: path });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The end-of-run summary: where the outputs are, what ran, what was skipped and why. */
export function formatRunReport(report: RunReport): string {
  const lines = [`experiment ${report.recipe}: ${report.expDir}`];
  const w = Math.max(...report.stages.map((s) => s.stage.length));
  for (const s of report.stages) {
    const what = {
      ran: `ran in ${(s.durationSec ?? 0).toFixed(1)} s (${s.reason})`,
      'up-to-date': 'up to date (skipped)',
      'before-from-stage': 'not run (before --from-stage)',
      'after-to-stage': 'not run (after --to-stage)',
    }[s.status];
    const counts =
      s.counts && Object.keys(s.counts).length
        ? '  ' +
          Object.entries(s.counts)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')
        : '';
    lines.push(`  ${s.stage.padEnd(w)}  ${what}${counts}`);
    if (s.status === 'ran' || s.status === 'up-to-date' || (s.status === 'before-from-stage' && s.counts))
      lines.push(`  ${''.padEnd(w)}  -> ${s.dir}`);
    if (s.skipped && s.skipped.skipped > 0) {
      lines.push(
        `  ${''.padEnd(w)}  skipped ${s.skipped.skipped} of ${s.skipped.done + s.skipped.skipped} utterances:`,
      );
      for (const r of s.skipped.reasons)
        lines.push(`  ${''.padEnd(w)}    ${r.count} x ${r.reason} (e.g. ${r.examples.join(', ')})`);
    }
  }
  return lines.join('\n');
}
