/**
 * The `distill` stage: one student per target set of the targets stage, of the same architecture
 * as one member (the train stage's config), trained on the stored soft targets with
 * L = T^2 CE(soft) + w CE(hard) at the set's temperature and evaluated (newbob, early stopping,
 * best epoch) on dev at T = 1; with the train stage's smallFraction also the Table 5 student on
 * that fraction (soft targets of the ensemble trained on all of the data). Students train in
 * parallel worker threads.
 *
 * Each student starts from the baseline's seed (same initial weights and data order), so student
 * and baseline differ in their targets only. Option `seed` replaces it (seed replicates of the
 * students on the same teachers: how much of a student's score is its own training's spread).
 *
 * The control (option `control`, default true): the main student's training with the soft term
 * off and hard weight 1 on every frame (loss softTerm 'none'), i.e. a baseline trained on the
 * student's transfer set (VTLP copies with their inherited alignment labels included) with the
 * student's learning rate, schedule, epochs, averaging, seed and size. Student - control is the
 * soft targets' gain alone.
 *
 * Output directory:
 *   students.json                 one entry per student (target set, T, loss, accuracy)
 *   student/final/                on the main target set
 *   student-<set>/final/          sweep (student-T5, ...) and dense (student-dense) sets
 *   fraction-student/final/       Table 5
 *   control/final/                the control (role 'control')
 *
 * Its run function is `distillStudents`, which the CLI command of the same name calls too.
 *
 * Recipe:
 *   stages:
 *     distill:
 *       hardWeight: 0.5       # w (the paper's relative weight)
 *       normalisation: sum    # T^2 E_soft + w E_hard; 'convex' divides by 1 + w
 *       maxEpochs: 8          # default: the members'
 *       vtlpCopies: true      # transfer set with the features stage's VTLP copies (if any)
 *       copiesHardWeight: 0   # hard-label weight on the copies' frames (default: hardWeight)
 *       seed: 101             # students' seed (default: the baseline's)
 *       averageFromEpoch: 3   # final student = mean weights from epoch 3 on (default: the members'; 0 off)
 *       control: true         # also the control: the student's training with hard labels only (model 'control')
 */
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { modelDirHash } from '../distill/generate.ts';
import {
  resolveDistillationLossOptions,
  type DistillationLossOptions,
  type LossNormalisation,
} from '../distill/loss.ts';
import { readSoftTargetMetadata } from '../distill/store.ts';
import {
  readModelsFile,
  STUDENTS_FORMAT,
  STUDENTS_JSON,
  type StudentEntry,
  type StudentsFile,
} from '../formats/models.ts';
import { readTargetsFile } from '../formats/targets.ts';
import type { BackendName } from '../nnet/backend.ts';
import {
  countSource,
  dataSpecOf,
  findSplitFiles,
  inventoryOf,
  openDataSource,
  type SubsetSpec,
} from '../nnet/split-data.ts';
import type { TrainConfig, TrainResult } from '../nnet/train.ts';
import { ConfigError, FormatError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import { runNetJobs, workerCount, type StudentJobArgs } from './net-jobs.ts';
import { OptionError, type Schema, type SchemaFor } from './schema.ts';
import { firstBusyShardSkips, mergeListingShards, shardSlice, type ShardCoverage, type ShardSpec } from './shards.ts';
import {
  adoptResumeDir,
  type SkipSummary,
  type StageContext,
  type StageDefinition,
  type StageResult,
} from './stage.ts';
import { entryOf, firstSkips, timingOf, type TrainAcousticModelsResult } from './train.ts';
import { backendOption, locateConfigError } from './common.ts';

export interface DistillStudentsOptions {
  /** Weight w of the hard-label term. Default 0.5 (the paper's relative weight). */
  hardWeight: number;
  /** 'sum': T^2 E_soft + w E_hard (default, the formula); 'convex': divided by 1 + w. */
  normalisation: LossNormalisation;
  /** Learning rate of the students. Default: the members'. */
  learningRate?: number;
  /** Epoch limit of the students. Default: the members'. */
  maxEpochs?: number;
  /** Learning-rate factor per epoch (exponential) or per halving (newbob) of the students. Default: the members'. */
  halvingFactor?: number;
  /** Target sets to train a student on (names in targets.json: main, T5, dense). Default: all. */
  sets?: string[];
  /** Students' seed (initial weights and data order). Default: the baseline's, so student and baseline differ in their targets only. */
  seed?: number;
  /** Weight averaging from the start of this epoch on (src/nnet/average.ts); 0: off. Default: the members'. */
  averageFromEpoch?: number;
  /** Train the Table 5 student when the train stage has a small-fraction baseline. Default true. */
  fractionStudent: boolean;
  /**
   * The transfer set includes the features stage's VTLP copies of the training split (soft targets
   * from the ensemble, hard labels from the alignment). false: the original recordings only.
   * Default true. With the train stage's vtlpCopies false, the copies are the student's alone.
   */
  vtlpCopies: boolean;
  /**
   * Hard-label weight on the frames of the VTLP copies (the loss's copiesHardWeight); absent: hardWeight.
   * 0 makes the copies a transfer set of soft targets only. Needs vtlpCopies.
   */
  copiesHardWeight?: number;
  /**
   * Train the control: a baseline on the main student's transfer set with its schedule and seed,
   * hard labels only (CONTROL_LOSS), named `control` with role 'control'. Default true.
   */
  control: boolean;
  /** Concurrent workers; 0 = CPU cores. Default 0. */
  maxWorkers: number;
  /** Keep per-epoch checkpoints. Default false. */
  keepCheckpoints: boolean;
  /** Default 'auto'. */
  backend: BackendName | 'auto';
}

export const DEFAULT_DISTILL_STUDENTS_OPTIONS: Readonly<DistillStudentsOptions> = Object.freeze({
  hardWeight: 0.5,
  normalisation: 'sum',
  fractionStudent: true,
  vtlpCopies: true,
  control: true,
  maxWorkers: 0,
  keepCheckpoints: false,
  backend: 'auto',
});

/**
 * The control's loss: hard-label cross-entropy on every frame (copies included), no soft term.
 * The temperature is the targets' (checked by trainStudent) and has no effect.
 */
export const CONTROL_LOSS: Readonly<Pick<DistillationLossOptions, 'hardWeight' | 'normalisation' | 'softTerm'>> =
  Object.freeze({ hardWeight: 1, normalisation: 'sum', softTerm: 'none' });

export interface DistillStudentsStageOptions extends Partial<DistillStudentsOptions> {
  modelsDir: string;
  targetsDir: string;
  featuresDir: string;
  alignDir: string;
  outDir: string;
  resume?: boolean;
  /** Train only this shard's block of the students, listed alone in students.json. */
  shard?: ShardSpec;
  logger?: Logger;
}

export function resolveDistillStudentsOptions(o: Partial<DistillStudentsOptions>): DistillStudentsOptions {
  const known = new Set([
    ...Object.keys(DEFAULT_DISTILL_STUDENTS_OPTIONS),
    'learningRate',
    'maxEpochs',
    'halvingFactor',
    'sets',
    'copiesHardWeight',
    'seed',
    'averageFromEpoch',
  ]);
  for (const k of Object.keys(o))
    if (!known.has(k))
      throw new ConfigError('unknown distill option', { keyPath: k, expected: [...known].sort().join(', '), found: k });
  const r = {
    ...DEFAULT_DISTILL_STUDENTS_OPTIONS,
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
  } as DistillStudentsOptions;
  resolveDistillationLossOptions({
    hardWeight: r.hardWeight,
    normalisation: r.normalisation,
    copiesHardWeight: r.copiesHardWeight,
  });
  if (r.copiesHardWeight !== undefined && !r.vtlpCopies) {
    throw new ConfigError('a hard-label weight for VTLP copies the student does not train on', {
      keyPath: 'copiesHardWeight',
      expected: 'absent when vtlpCopies is false',
      found: String(r.copiesHardWeight),
    });
  }
  return r;
}

type ModelsFile = Awaited<ReturnType<typeof readModelsFile>>;
type TargetsFile = Awaited<ReturnType<typeof readTargetsFile>>;
type TargetSet = TargetsFile['sets'][number];
type SplitFiles = Awaited<ReturnType<typeof findSplitFiles>>;
type StudentConfig = Partial<TrainConfig> & { numSenones: number };

/** One student to train: its name and role, its target set and (Table 5) its subset of the data. */
interface StudentPlan {
  name: string;
  role: 'student' | 'fraction-student' | 'control';
  set: TargetSet;
  subset: SubsetSpec | null;
}

/** Train the students into `outDir` and write students.json. */
export async function distillStudents(opts: DistillStudentsStageOptions): Promise<{
  file: StudentsFile;
  timing: TrainAcousticModelsResult['timing'];
  skips: Record<string, unknown>;
  coverage: ShardCoverage[];
}> {
  const {
    modelsDir,
    targetsDir,
    featuresDir,
    alignDir,
    outDir,
    resume = true,
    logger = defaultLog,
    shard,
    ...rest
  } = opts;
  const o = resolveDistillStudentsOptions(rest);
  const t0 = Date.now();
  const models = await readModelsFile(modelsDir);
  const targets = await readTargetsFile(targetsDir);
  const baseline = models.models.find((m) => m.role === 'baseline');
  const seed = o.seed ?? baseline?.seed ?? 0;
  checkTeachers(models, targets, targetsDir, o);
  const trainFiles = await findSplitFiles(featuresDir, alignDir, targets.split, logger);
  const devFiles = models.data.devSplit
    ? await findSplitFiles(featuresDir, alignDir, models.data.devSplit, logger)
    : null;
  await checkInventory(models, alignDir, trainFiles);

  const plan = planStudents(models, targets, o);
  // A shard of the stage (src/stages/shards.ts) trains its block of the students only.
  const stageJobs = plan.length;
  const mine = shard ? shardSlice(plan, shard, 'students') : null;
  if (mine) plan.splice(0, plan.length, ...mine.items);

  const config = studentConfig(models, o);
  const jobs: StudentJobArgs[] = [];
  for (const p of plan) {
    const file = join(targetsDir, p.set.file);
    if (!existsSync(file))
      throw new FormatError('a target set listed in targets.json is missing', {
        file,
        expected: 'the soft-target file',
        found: 'no such file',
      });
    const meta = await readSoftTargetMetadata(file);
    jobs.push({
      kind: 'student',
      outDir: join(outDir, p.name),
      train: dataSpecOf(trainFiles, p.subset, o.vtlpCopies),
      dev: devFiles ? dataSpecOf(devFiles) : null,
      softTargets: [file],
      config: config(seed),
      backend: o.backend,
      resume,
      loss:
        p.role === 'control'
          ? { temperature: meta.temperature, ...CONTROL_LOSS }
          : {
              temperature: meta.temperature,
              hardWeight: o.hardWeight,
              normalisation: o.normalisation,
              ...(o.copiesHardWeight !== undefined ? { copiesHardWeight: o.copiesHardWeight } : {}),
            },
    });
  }
  const workers = workerCount(o.maxWorkers, jobs.length);
  logger.info(
    `distilling ${jobs.length} student(s) (${plan.map((p) => (p.role === 'control' ? `${p.name}: hard labels only` : `${p.name}: T ${p.set.temperature}, k ${p.set.k}`)).join('; ')}), ${workers} worker(s)`,
  );
  const results = await runNetJobs(jobs, {
    stageJobs,
    maxWorkers: o.maxWorkers,
    logger,
    labels: plan.map((p) => p.name),
  });

  const students = await studentEntries(plan, jobs, results, { outDir, seed, trainFiles, o, logger });
  const file: StudentsFile = { format: STUDENTS_FORMAT, version: 1, teachers: targets.teachers, students };
  await writeJsonAtomic(join(outDir, STUDENTS_JSON), file);
  return {
    file,
    coverage: mine ? [mine.coverage] : [],
    timing: { seconds: (Date.now() - t0) / 1000, models: plan.map((p, i) => timingOf(p.name, results[i])) },
    skips: Object.fromEntries(plan.map((p, i) => [p.name, results[i].skips])),
  };
}

/** The soft targets must come from the trained members, and hold the VTLP copies when the students train on them. */
function checkTeachers(models: ModelsFile, targets: TargetsFile, targetsDir: string, o: DistillStudentsOptions): void {
  const teachersNow = models.models
    .filter((m) => m.role === 'member')
    .map((m) => ({ name: m.name, weightsHash: m.weightsHash }));
  if (JSON.stringify(teachersNow) !== JSON.stringify(targets.teachers)) {
    throw new FormatError('the soft targets were made by other teachers than the trained members', {
      file: join(targetsDir, 'targets.json'),
      expected: JSON.stringify(teachersNow),
      found: JSON.stringify(targets.teachers),
    });
  }
  if (o.vtlpCopies && targets.vtlpCopies === false) {
    throw new ConfigError('the soft targets leave out the VTLP copies this student would train on', {
      keyPath: 'vtlpCopies',
      expected: 'false (the original recordings only), or soft targets made with the targets option vtlpCopies true',
      found: `true, and ${join(targetsDir, 'targets.json')} made with vtlpCopies false`,
    });
  }
}

/** The alignments must be for the senone inventory the members (and so the students) were built with. */
async function checkInventory(models: ModelsFile, alignDir: string, trainFiles: SplitFiles): Promise<void> {
  const inv = await inventoryOf(alignDir, trainFiles.alignments[0]);
  if (inv.senoneInventoryId !== models.inventory.senoneInventoryId || inv.numSenones !== models.inventory.numSenones) {
    throw new FormatError('student (train stage config) and alignments differ in senone inventory', {
      file: trainFiles.alignments[0],
      expected: `inventory ${models.inventory.senoneInventoryId}, ${models.inventory.numSenones} senones`,
      found: `inventory ${inv.senoneInventoryId}, ${inv.numSenones} senones`,
    });
  }
}

/**
 * The students: one per wanted target set (`student` on main, `student-<set>` on the others), the
 * Table 5 fraction student on the main set, and the control, which reads the main set like the
 * main student.
 */
function planStudents(models: ModelsFile, targets: TargetsFile, o: DistillStudentsOptions): StudentPlan[] {
  const wanted = o.sets ?? targets.sets.map((s) => s.name);
  for (const name of wanted) {
    if (!targets.sets.some((s) => s.name === name))
      throw new ConfigError(`no target set '${name}'`, {
        keyPath: 'sets',
        expected: `one of ${targets.sets.map((s) => s.name).join(', ')}`,
        found: name,
      });
  }
  const fractionBaseline = models.models.find((m) => m.role === 'fraction-baseline');
  const plan: StudentPlan[] = [];
  for (const set of targets.sets.filter((s) => wanted.includes(s.name))) {
    plan.push({ name: set.name === 'main' ? 'student' : `student-${set.name}`, role: 'student', set, subset: null });
  }
  if (o.fractionStudent && fractionBaseline) {
    const main = targets.sets.find((s) => s.name === 'main')!;
    plan.push({ name: 'fraction-student', role: 'fraction-student', set: main, subset: fractionBaseline.subset });
  }
  // The control reads the main set like the main student (the same utterances, copies and order); its loss ignores the targets.
  if (o.control)
    plan.push({ name: 'control', role: 'control', set: targets.sets.find((s) => s.name === 'main')!, subset: null });
  if (plan.length === 0)
    throw new ConfigError('no student to train', {
      keyPath: 'sets',
      expected: 'at least one target set',
      found: 'none',
    });
  return plan;
}

/**
 * The students' training config for a seed: the members' (train stage) config with the distill
 * options' learning rate, epochs, halving factor and averaging; an exponential schedule stays one.
 */
function studentConfig(models: ModelsFile, o: DistillStudentsOptions): (seed: number) => StudentConfig {
  const { seed: _s, ...baseConfig } = { ...models.trainConfig, seed: 0 };
  // The exponential schedule runs every epoch (minEpochs = earlyStopPatience = maxEpochs): keep it so.
  const exponential =
    baseConfig.schedule === 'newbob' &&
    baseConfig.newbobStartImprovement >= 1 &&
    baseConfig.minEpochs === baseConfig.maxEpochs;
  return (s: number): StudentConfig => {
    const c: StudentConfig = {
      ...baseConfig,
      seed: s,
      ...(o.maxEpochs !== undefined
        ? { maxEpochs: o.maxEpochs, ...(exponential ? { minEpochs: o.maxEpochs, earlyStopPatience: o.maxEpochs } : {}) }
        : {}),
      ...(o.halvingFactor !== undefined ? { halvingFactor: o.halvingFactor } : {}),
      ...(o.averageFromEpoch !== undefined ? { averageFromEpoch: o.averageFromEpoch } : {}),
      optimizer: { ...baseConfig.optimizer, ...(o.learningRate !== undefined ? { learningRate: o.learningRate } : {}) },
    };
    if (c.averageFromEpoch === 0) delete c.averageFromEpoch;
    if (o.averageFromEpoch === undefined && c.averageFromEpoch !== undefined && c.averageFromEpoch > c.maxEpochs!) {
      throw new ConfigError("the members' weight-averaging start is past the students' last epoch", {
        keyPath: 'averageFromEpoch',
        expected: `stages.distill.averageFromEpoch in 1..${c.maxEpochs} (or 0: off)`,
        found: `the members' ${c.averageFromEpoch}, students' maxEpochs ${c.maxEpochs}`,
      });
    }
    return c;
  };
}

/**
 * students.json's entries of the trained students (checkpoints removed unless kept; the training
 * data counted once per subset), each logged with its best epoch and accuracy.
 */
async function studentEntries(
  plan: StudentPlan[],
  jobs: StudentJobArgs[],
  results: TrainResult[],
  ctx: { outDir: string; seed: number; trainFiles: SplitFiles; o: DistillStudentsOptions; logger: Logger },
): Promise<StudentEntry[]> {
  const { outDir, seed, trainFiles, o, logger } = ctx;
  const counts = new Map<string, { utterances: number; frames: number }>();
  const students: StudentEntry[] = [];
  for (let i = 0; i < plan.length; i++) {
    const p = plan[i],
      r = results[i];
    if (!o.keepCheckpoints) await fsp.rm(join(r.outDir, 'checkpoints'), { recursive: true, force: true });
    const key = p.subset ? 'subset' : 'all';
    if (!counts.has(key))
      counts.set(key, await countSource(await openDataSource(dataSpecOf(trainFiles, p.subset, o.vtlpCopies))));
    const e = entryOf(
      { name: p.name, role: p.role, seed, subset: p.subset },
      r,
      outDir,
      await modelDirHash(r.finalDir),
      counts.get(key)!,
    );
    students.push({
      ...e,
      targetSet: p.set.name,
      temperature: p.set.temperature,
      k: p.set.k,
      loss: resolveDistillationLossOptions(jobs[i].loss),
      vtlpCopies: o.vtlpCopies,
    });
    logger.info(
      `${p.name}: best epoch ${e.bestEpoch}, ${e.accuracyOn} frame accuracy ${(100 * e.bestAccuracy).toFixed(2)}%` +
        (e.averaged
          ? `; final = weights averaged over epochs ${e.averaged.fromEpoch}-${e.averaged.toEpoch}${e.averaged.devAccuracy !== null ? `, dev ${(100 * e.averaged.devAccuracy).toFixed(2)}%` : ''}`
          : ''),
    );
  }
  return students;
}

export type DistillStageOptions = DistillStudentsOptions;

const D = DEFAULT_DISTILL_STUDENTS_OPTIONS;

export const DISTILL_SCHEMA: Schema = {
  hardWeight: {
    type: 'number',
    min: 0,
    default: D.hardWeight,
    doc: 'weight w of the hard-label term (the paper: 0.5)',
  },
  normalisation: {
    type: 'string',
    enum: ['sum', 'convex'],
    default: D.normalisation,
    doc: "'sum': T^2 E_soft + w E_hard; 'convex': the same divided by 1 + w",
  },
  learningRate: {
    type: 'number',
    min: 0,
    optional: true,
    doc: "students' initial learning rate (default: the members')",
  },
  maxEpochs: {
    type: 'number',
    integer: true,
    min: 1,
    optional: true,
    doc: "students' epoch limit (default: the members')",
  },
  halvingFactor: {
    type: 'number',
    min: 0.01,
    max: 0.99,
    optional: true,
    doc: "students' learning-rate factor per epoch (exponential) or per halving (newbob) (default: the members')",
  },
  sets: {
    type: 'array',
    items: { type: 'string', doc: 'target set name' },
    minItems: 1,
    optional: true,
    doc: 'target sets to train students on (main, T<t>, dense; default: all)',
  },
  averageFromEpoch: {
    type: 'number',
    integer: true,
    min: 0,
    optional: true,
    doc: "students' weight averaging: the running mean of the weights from the start of this epoch on is the final student (0: off; default: the members')",
  },
  seed: {
    type: 'number',
    integer: true,
    min: 0,
    optional: true,
    doc: "students' seed: initial weights and data order (default: the baseline's, so student and baseline differ in their targets only; the members use recipe seed + 1..K)",
  },
  fractionStudent: {
    type: 'boolean',
    default: D.fractionStudent,
    doc: 'train the Table 5 student when the train stage has a small-fraction baseline',
  },
  vtlpCopies: {
    type: 'boolean',
    default: D.vtlpCopies,
    doc: "the transfer set includes the features stage's VTLP copies (false: the original recordings only)",
  },
  copiesHardWeight: {
    type: 'number',
    min: 0,
    optional: true,
    doc: "hard-label weight on the VTLP copies' frames (default: hardWeight; 0: soft targets only on the copies, hard labels on the real recordings)",
  },
  control: {
    type: 'boolean',
    default: D.control,
    doc: "train the control 'control': the main student's transfer set (VTLP copies included, with their alignment labels), learning rate, schedule, averaging and seed, hard-label cross-entropy only (student - control = the soft targets' gain)",
  },
  maxWorkers: {
    type: 'number',
    integer: true,
    min: 0,
    default: D.maxWorkers,
    affectsOutput: false,
    doc: 'parallel training threads (0 = CPU cores)',
  },
  keepCheckpoints: { type: 'boolean', default: D.keepCheckpoints, doc: 'keep the per-epoch checkpoints in the output' },
  backend: backendOption(D.backend),
} satisfies SchemaFor<DistillStageOptions>;

export const distillStage: StageDefinition<DistillStageOptions> = {
  name: 'distill',
  doc: 'student of the same size trained on the soft targets: T^2 * soft CE + w * hard CE, evaluated at T = 1; and its control on hard labels alone',
  inputs: ['features', 'align', 'train', 'targets'],
  schema: DISTILL_SCHEMA,

  checkInputs(options, inputOptions) {
    const copies = ((inputOptions('features')?.vtlp as { warps?: number[] } | undefined)?.warps?.length ?? 0) > 0;
    if (options.copiesHardWeight !== undefined && !copies) {
      throw new OptionError('a hard-label weight for VTLP copies, but the features stage makes none', {
        keyPath: 'stages.distill.copiesHardWeight',
        expected: 'absent, or stages.features.vtlp with warps',
        found: String(options.copiesHardWeight),
      });
    }
    if (copies && options.vtlpCopies && inputOptions('targets')?.vtlpCopies === false) {
      throw new OptionError('the student would train on VTLP copies that the targets stage does not label', {
        keyPath: 'stages.distill.vtlpCopies',
        expected: 'false when stages.targets.vtlpCopies is false',
        found: 'true',
      });
    }
  },

  async run(ctx) {
    const r = await distillInto(ctx);
    return distillStageResult(r.file, firstSkips(r), [r.timing], ctx.options.control);
  },

  // Shards: blocks of the students (each an independent job); the merge joins students.json's lists.
  shards: {
    unit: 'students',
    async run(ctx, shard) {
      const r = await distillInto(ctx, shard);
      return { ...distillStageResult(r.file, firstSkips(r), [r.timing], ctx.options.control), coverage: r.coverage };
    },
    async merge(ctx, shards) {
      const file = (await mergeListingShards(shards, STUDENTS_JSON, 'students', ctx.outDir)) as unknown as StudentsFile;
      return distillStageResult(
        file,
        firstBusyShardSkips(shards),
        shards.map((s) => s.details?.timing),
        ctx.options.control,
      );
    },
  },
};

/** Train the students (all, or a shard's block) in the resume directory, so an interrupted run continues from each student's last epoch; then it becomes the output. */
async function distillInto(
  ctx: StageContext<DistillStageOptions>,
  shard?: ShardSpec,
): ReturnType<typeof distillStudents> {
  const r = await locateConfigError(ctx.recipe, 'stages.distill', () =>
    distillStudents({
      ...ctx.options,
      modelsDir: ctx.inputDir('train'),
      targetsDir: ctx.inputDir('targets'),
      featuresDir: ctx.inputDir('features'),
      alignDir: ctx.inputDir('align'),
      outDir: ctx.resumeDir,
      resume: true,
      logger: ctx.log,
      ...(shard ? { shard } : {}),
    }),
  );
  await adoptResumeDir(ctx);
  return r;
}

function distillStageResult(
  f: StudentsFile,
  skipped: SkipSummary | undefined,
  timing: unknown[],
  control: boolean,
): StageResult {
  return {
    counts: {
      students: f.students.filter((s) => s.role !== 'control').length,
      ...(control ? { control: 1 } : {}),
    },
    ...(skipped ? { skipped } : {}),
    details: {
      accuracy: Object.fromEntries(
        f.students.map((s) => [
          s.name,
          { bestEpoch: s.bestEpoch, [s.accuracyOn]: s.bestAccuracy, temperature: s.temperature, k: s.k },
        ]),
      ),
      timing: timing.length === 1 ? timing[0] : timing,
    },
  };
}
