/**
 * The `targets` stage: the train stage's ensemble members -> soft targets of the training split
 * at temperature T (arithmetic mean of softmax(z_i / T), top k per frame) through src/distill's
 * `generateSoftTargets`; optionally more temperatures (the sweep) and dense float32 targets
 * (k = all senones) for the top-k vs dense comparison.
 *
 * Output directory:
 *   targets.json            one entry per target set: T, k, kept mass, bytes per frame, ensemble accuracy
 *   <split>.arrow           the main set (temperature T)
 *   T<t>/<split>.arrow      sweep sets
 *   dense/<split>.arrow     dense float32 targets at T
 * Teachers are named `member-<k>` (not by path), so the files are byte-identical wherever the
 * experiment directory lives.
 *
 * Its run function is `makeSoftTargetSets`, which the CLI command of the same name calls too.
 *
 * Recipe:
 *   stages:
 *     targets:
 *       temperature: 2            # T (the paper tried 1, 2, 5, 10)
 *       topK: auto                # or a number; auto: smallest k with mean kept mass >= targetKeptMass
 *       targetKeptMass: 0.99
 *       sweepTemperatures: [1, 5] # more target sets, one student each (the temperature sweep)
 *       dense: true               # dense float32 targets too (top-k vs dense comparison)
 *       vtlpCopies: true          # label the VTLP copies too (false with stages.distill.vtlpCopies false)
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CombinationRule } from '../distill/combine.ts';
import {
  generateSoftTargets,
  loadEnsembleMember,
  resolveSoftTargetConfig,
  type EnsembleMember,
  type SoftTargetConfig,
} from '../distill/generate.ts';
import type { ProbType, ResidualMode } from '../distill/store.ts';
import { readFeatureMetadata } from '../features/store.ts';
import { readModelsFile, type ModelsFile } from '../formats/models.ts';
import {
  TARGETS_FORMAT,
  TARGETS_JSON,
  type TargetSetEntry,
  type TargetSetKind,
  type TargetsFile,
} from '../formats/targets.ts';
import { ArrowFrameSource } from '../nnet/arrow-source.ts';
import { initBackend, type BackendName } from '../nnet/backend.ts';
import { scanSource, type CmvnOptions, type FrameSource, type SpeakerCmvn } from '../nnet/data.ts';
import { checkCompatible, readSidecar } from '../nnet/io.ts';
import { FilteredFrameSource, findSplitFiles, inventoryOf } from '../nnet/split-data.ts';
import { ConfigError, FormatError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import type { Schema, SchemaFor } from './schema.ts';
import { mergeListingShards, shardSlice, type ShardCoverage, type ShardSpec } from './shards.ts';
import type { StageContext, StageDefinition, StageResult } from './stage.ts';
import { backendOption, inferenceBatchSizeOption, locateConfigError } from './common.ts';

export interface MakeTargetsOptions {
  /** Temperature T of the main set. Default 2 (the paper tried 1, 2, 5, 10). */
  temperature: number;
  /** 'arithmetic' (the paper) or 'geometric'. Default 'arithmetic'. */
  combination: CombinationRule;
  /** Senones kept per frame, or 'auto' (smallest k whose mean kept mass >= targetKeptMass). Default 'auto'. */
  topK: number | 'auto';
  /** Default 0.99. */
  targetKeptMass: number;
  /** Upper limit of 'auto'; null = all senones. Default null. */
  maxK: number | null;
  /** 'renormalise' the kept mass (default) or 'store' the residual. */
  residual: ResidualMode;
  /** Default 'float16'. */
  probType: ProbType;
  /** Frames of the calibration sample of 'auto'. Default 20000. */
  calibrationFrames: number;
  /** Further temperatures, one target set (and one student) each. Default []. */
  sweepTemperatures: number[];
  /** Also write dense float32 targets (k = all senones) at T. Default false. */
  dense: boolean;
  /** Split the student trains on. Default: the train stage's training split. */
  split?: string;
  /**
   * Label the features stage's VTLP copies of the split too. Default true. false: the original
   * recordings only (2/3 less work with two warps), for students that do not use the copies
   * (distill vtlpCopies false); a student that does then stops with an error naming both options.
   */
  vtlpCopies: boolean;
  /** Frames per forward pass. Default 512. */
  inferenceBatchSize: number;
  /** Default 'auto'. */
  backend: BackendName | 'auto';
}

export const DEFAULT_MAKE_TARGETS_OPTIONS: Readonly<MakeTargetsOptions> = Object.freeze({
  temperature: 2,
  combination: 'arithmetic',
  topK: 'auto',
  targetKeptMass: 0.99,
  maxK: null,
  residual: 'renormalise',
  probType: 'float16',
  calibrationFrames: 20_000,
  sweepTemperatures: Object.freeze([]) as unknown as number[],
  dense: false,
  vtlpCopies: true,
  inferenceBatchSize: 512,
  backend: 'auto',
});

export interface MakeSoftTargetSetsOptions extends Partial<MakeTargetsOptions> {
  /** Output directory of the train stage (models.json). */
  modelsDir: string;
  featuresDir: string;
  alignDir: string;
  outDir: string;
  /** Make only this shard's block of the target sets (main, sweep, dense), listed alone in targets.json. */
  shard?: ShardSpec;
  logger?: Logger;
}

export function resolveMakeTargetsOptions(o: Partial<MakeTargetsOptions>): MakeTargetsOptions {
  const known = new Set([...Object.keys(DEFAULT_MAKE_TARGETS_OPTIONS), 'split']);
  for (const k of Object.keys(o))
    if (!known.has(k))
      throw new ConfigError('unknown targets option', { keyPath: k, expected: [...known].sort().join(', '), found: k });
  const r = {
    ...DEFAULT_MAKE_TARGETS_OPTIONS,
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
  } as MakeTargetsOptions;
  for (const t of r.sweepTemperatures) {
    if (!(typeof t === 'number' && t > 0 && Number.isFinite(t)))
      throw new ConfigError('bad sweep temperature', {
        keyPath: 'sweepTemperatures',
        expected: 'finite numbers > 0',
        found: String(t),
      });
  }
  return r;
}

/** Name of the sweep set of temperature t (T5, T0.5). */
export const sweepSetName = (t: number): string => `T${t}`;

/** Load the members named in models.json as ensemble members, checked against the split's data. */
export async function loadMembers(
  modelsDir: string,
  models: ModelsFile,
  source: FrameSource & { featureConfig: unknown },
  numSenones: number,
  opts: { batchSize?: number; what: string },
): Promise<EnsembleMember[]> {
  const entries = models.models.filter((m) => m.role === 'member');
  if (entries.length === 0)
    throw new FormatError('models.json lists no ensemble member', {
      file: join(modelsDir, 'models.json'),
      expected: 'entries with role member',
      found: models.models.map((m) => m.name).join(', '),
    });
  const cmvnByMode = new Map<string, SpeakerCmvn>();
  const cmvnFor = async (o: CmvnOptions): Promise<SpeakerCmvn> => {
    const key = JSON.stringify([o.mode, o.normVars]);
    let c = cmvnByMode.get(key);
    if (!c) cmvnByMode.set(key, (c = (await scanSource(source, { numSenones, cmvn: o })).cmvn));
    return c;
  };
  const out: EnsembleMember[] = [];
  try {
    for (const e of entries) {
      const dir = join(modelsDir, e.dir);
      const sidecar = await readSidecar(dir);
      checkCompatible(
        sidecar,
        {
          senones: { numSenones, id: models.inventory.senoneInventoryId },
          featureConfig: source.featureConfig as unknown as Record<string, unknown>,
          featureDim: source.featureDim,
        },
        `${e.name} (${dir}) vs ${opts.what}`,
      );
      const cmvn = sidecar.cmvn.mode === 'none' ? undefined : await cmvnFor(sidecar.cmvn);
      out.push(await loadEnsembleMember(dir, { id: e.name, cmvn, batchSize: opts.batchSize }));
    }
  } catch (err) {
    for (const m of out) m.dispose?.();
    throw err;
  }
  return out;
}

type SplitFiles = Awaited<ReturnType<typeof findSplitFiles>>;
type SenoneInventory = Awaited<ReturnType<typeof inventoryOf>>;
/** Keeps part of the split's frames (the original recordings without their VTLP copies). */
type FrameSelection = { name: string; apply: (s: ArrowFrameSource) => FilteredFrameSource };

/** One target set to write: its name and kind, its file under outDir and its soft-target config. */
interface TargetSetPlan {
  name: string;
  kind: TargetSetKind;
  file: string;
  config: Partial<SoftTargetConfig>;
}

/** Write the target sets of the training split (main, sweep, dense) and targets.json. */
export async function makeSoftTargetSets(
  opts: MakeSoftTargetSetsOptions,
): Promise<{ file: TargetsFile; seconds: number; coverage: ShardCoverage[] }> {
  const { modelsDir, featuresDir, alignDir, outDir, logger = defaultLog, shard, ...rest } = opts;
  const o = resolveMakeTargetsOptions(rest);
  const t0 = Date.now();
  const models = await readModelsFile(modelsDir);
  const split = o.split ?? models.data.trainSplit;
  const files = await findSplitFiles(featuresDir, alignDir, split, logger);
  const inv = await teachersInventory(models, modelsDir, alignDir, files);
  const base: Partial<SoftTargetConfig> = {
    combination: o.combination,
    topK: o.topK,
    targetKeptMass: o.targetKeptMass,
    maxK: o.maxK,
    residual: o.residual,
    probType: o.probType,
    calibrationFrames: o.calibrationFrames,
  };
  const plan = planTargetSets(o, base, split, inv.numSenones);
  // A shard of the stage (src/stages/shards.ts) makes its block of the sets only.
  const mine = shard ? shardSlice(plan, shard, 'target sets') : null;
  if (mine) plan.splice(0, plan.length, ...mine.items);
  const { select, originalsOnly } = await transferSetFrames(files, o, split, logger);

  await initBackend({ backend: o.backend, logger });
  const arrow = await ArrowFrameSource.open({
    features: files.features,
    alignments: files.alignments,
    uttToSpeaker: files.uttToSpeaker,
  });
  const source = select ? select.apply(arrow) : arrow;
  const members = plan.length
    ? await loadMembers(modelsDir, models, source, inv.numSenones, {
        batchSize: o.inferenceBatchSize,
        what: `features ${files.features[0]}`,
      })
    : [];
  let sets: TargetSetEntry[];
  try {
    sets = await writeTargetSets(plan, members, { files, split, select, outDir, logger });
  } finally {
    for (const m of members) m.dispose?.();
  }
  const { temperature: _t, ...config } = resolveSoftTargetConfig(base);
  const file: TargetsFile = {
    format: TARGETS_FORMAT,
    version: 1,
    split,
    teachers: models.models
      .filter((m) => m.role === 'member')
      .map((m) => ({ name: m.name, weightsHash: m.weightsHash })),
    numSenones: inv.numSenones,
    senoneInventoryId: inv.senoneInventoryId,
    config,
    sets,
    ...(originalsOnly ? { vtlpCopies: false as const } : {}),
  };
  await writeJsonAtomic(join(outDir, TARGETS_JSON), file);
  return { file, seconds: (Date.now() - t0) / 1000, coverage: mine ? [mine.coverage] : [] };
}

/** The alignments' senone inventory, which must be the one the teachers were trained on. */
async function teachersInventory(
  models: ModelsFile,
  modelsDir: string,
  alignDir: string,
  files: SplitFiles,
): Promise<SenoneInventory> {
  const inv = await inventoryOf(alignDir, files.alignments[0]);
  if (inv.senoneInventoryId !== models.inventory.senoneInventoryId || inv.numSenones !== models.inventory.numSenones) {
    throw new FormatError('the teachers were trained on another senone inventory than these alignments', {
      file: files.alignments[0],
      expected: `inventory ${models.inventory.senoneInventoryId} (${models.inventory.numSenones} senones, ${join(modelsDir, 'models.json')})`,
      found: `inventory ${inv.senoneInventoryId} (${inv.numSenones} senones)`,
    });
  }
  return inv;
}

/** The main set at T, one sweep set per further temperature, and the dense float32 set at T; each config checked. */
function planTargetSets(
  o: MakeTargetsOptions,
  base: Partial<SoftTargetConfig>,
  split: string,
  numSenones: number,
): TargetSetPlan[] {
  const plan: TargetSetPlan[] = [
    { name: 'main', kind: 'main', file: `${split}.arrow`, config: { ...base, temperature: o.temperature } },
  ];
  for (const t of [...new Set(o.sweepTemperatures)]) {
    if (t !== o.temperature)
      plan.push({
        name: sweepSetName(t),
        kind: 'sweep',
        file: `${sweepSetName(t)}/${split}.arrow`,
        config: { ...base, temperature: t },
      });
  }
  if (o.dense)
    plan.push({
      name: 'dense',
      kind: 'dense',
      file: `dense/${split}.arrow`,
      config: {
        ...base,
        temperature: o.temperature,
        topK: numSenones,
        maxK: null,
        probType: 'float32',
        residual: 'renormalise',
      },
    });
  for (const p of plan) resolveSoftTargetConfig(p.config);
  return plan;
}

/**
 * The frames to label: all of the split's, or with vtlpCopies false its original recordings only
 * (a selection only when the features have copies; otherwise nothing is left out).
 */
async function transferSetFrames(
  files: SplitFiles,
  o: MakeTargetsOptions,
  split: string,
  logger: Logger,
): Promise<{ select: FrameSelection | undefined; originalsOnly: boolean }> {
  let hasCopies = false;
  for (const f of files.features) if ((await readFeatureMetadata(f)).vtlpWarps.length > 0) hasCopies = true;
  const originalsOnly = !o.vtlpCopies && hasCopies;
  const select = originalsOnly
    ? {
        name: 'without VTLP copies',
        apply: (s: ArrowFrameSource) => new FilteredFrameSource(s, { subset: null, vtlpCopies: false }),
      }
    : undefined;
  if (originalsOnly) logger.info(`targets of ${split} without its VTLP copies (vtlpCopies false)`);
  return { select, originalsOnly };
}

/** Generate each planned set's soft targets from the members; its targets.json entry. */
async function writeTargetSets(
  plan: TargetSetPlan[],
  members: EnsembleMember[],
  ctx: { files: SplitFiles; split: string; select: FrameSelection | undefined; outDir: string; logger: Logger },
): Promise<TargetSetEntry[]> {
  const { files, split, select, outDir, logger } = ctx;
  const sets: TargetSetEntry[] = [];
  for (const p of plan) {
    logger.info(`target set ${p.name}: T = ${p.config.temperature}, top-k ${p.config.topK}`);
    await mkdir(dirname(join(outDir, p.file)), { recursive: true });
    const s = await generateSoftTargets({
      features: files.features,
      alignments: files.alignments,
      output: join(outDir, p.file),
      teachers: members,
      config: p.config,
      uttToSpeaker: files.uttToSpeaker,
      split,
      select,
      logger,
    });
    sets.push({
      name: p.name,
      kind: p.kind,
      temperature: p.config.temperature!,
      file: p.file,
      k: s.k,
      kChosenBy: s.kChosenBy,
      meanKeptMass: s.meanKeptMass,
      keptMass: s.keptMass,
      frames: s.frames,
      utterances: s.utterances,
      fileBytes: s.storage.fileBytes,
      bytesPerFrame: s.storage.bytesPerFrame,
      denseBytesPerFrame: s.storage.layout.denseRow,
      targetBytesPerFrame: s.storage.layout.targets,
      denseTargetBytesPerFrame: s.storage.layout.denseTargets,
      ensembleFrameAccuracy: s.ensembleFrameAccuracy,
      memberFrameAccuracy: s.memberFrameAccuracy,
      configHash: s.metadata.configHash,
    });
  }
  return sets;
}

export type TargetsStageOptions = MakeTargetsOptions;

const D = DEFAULT_MAKE_TARGETS_OPTIONS;

export const TARGETS_SCHEMA: Schema = {
  temperature: {
    type: 'number',
    min: 1e-6,
    default: D.temperature,
    doc: 'temperature T of the softened member distributions',
  },
  combination: {
    type: 'string',
    enum: ['arithmetic', 'geometric'],
    default: D.combination,
    doc: "combination rule: 'arithmetic' mean of probabilities (the paper) or normalised 'geometric' mean",
  },
  topK: {
    type: 'custom',
    expected: "'auto' or an integer >= 1",
    default: D.topK,
    doc: "senones kept per frame ('auto': calibrated to targetKeptMass)",
    jsonSchema: { anyOf: [{ const: 'auto' }, { type: 'integer', minimum: 1 }] },
    validate: (v, keyPath) => {
      if (v === undefined || v === 'auto') return 'auto';
      if (typeof v === 'number' && Number.isInteger(v) && v >= 1) return v;
      throw new ConfigError('bad top-k', { keyPath, expected: "'auto' or an integer >= 1", found: JSON.stringify(v) });
    },
  } as Schema[string],
  targetKeptMass: {
    type: 'number',
    min: 1e-6,
    max: 1,
    default: D.targetKeptMass,
    doc: "mean kept probability mass that 'auto' must reach",
  },
  maxK: { type: 'number', integer: true, min: 1, nullable: true, doc: "upper limit of 'auto' (null: all senones)" },
  residual: {
    type: 'string',
    enum: ['renormalise', 'store'],
    default: D.residual,
    doc: "mass outside the top k: 'renormalise' the kept ones or 'store' it (spread uniformly by the loss)",
  },
  probType: { type: 'string', enum: ['float16', 'float32'], default: D.probType, doc: 'stored probability type' },
  calibrationFrames: {
    type: 'number',
    integer: true,
    min: 1,
    default: D.calibrationFrames,
    unit: 'frames',
    doc: "frames of the calibration sample of topK 'auto'",
  },
  sweepTemperatures: {
    type: 'array',
    items: { type: 'number', min: 1e-6, doc: 'temperature' },
    default: [],
    doc: 'further temperatures: one target set and one student each',
  },
  dense: {
    type: 'boolean',
    default: D.dense,
    doc: 'also dense float32 targets at T (k = all senones), for the top-k vs dense comparison',
  },
  vtlpCopies: {
    type: 'boolean',
    default: D.vtlpCopies,
    doc: "label the features stage's VTLP copies too (false: the original recordings only, for students with distill vtlpCopies false)",
  },
  split: {
    type: 'string',
    optional: true,
    doc: "split to make targets for (default: the train stage's training split)",
  },
  inferenceBatchSize: inferenceBatchSizeOption(D.inferenceBatchSize),
  backend: backendOption(D.backend),
} satisfies SchemaFor<TargetsStageOptions>;

export const targetsStage: StageDefinition<TargetsStageOptions> = {
  name: 'targets',
  doc: 'ensemble soft targets of the training split at temperature T, top k per frame [Arrow]',
  inputs: ['features', 'align', 'train'],
  schema: TARGETS_SCHEMA,

  async run(ctx) {
    const r = await targetsInto(ctx);
    return targetsStageResult(r.file, [r.seconds]);
  },

  // Shards: blocks of the target sets (main, sweep temperatures, dense); the merge joins targets.json's lists.
  shards: {
    unit: 'target sets',
    async run(ctx, shard) {
      const r = await targetsInto(ctx, shard);
      return { ...targetsStageResult(r.file, [r.seconds]), coverage: r.coverage };
    },
    async merge(ctx, shards) {
      const file = (await mergeListingShards(shards, TARGETS_JSON, 'sets', ctx.outDir)) as unknown as TargetsFile;
      return targetsStageResult(
        file,
        shards.map((s) => (s.details?.timing as { seconds: number } | undefined)?.seconds ?? 0),
      );
    },
  },
};

async function targetsInto(
  ctx: StageContext<TargetsStageOptions>,
  shard?: ShardSpec,
): ReturnType<typeof makeSoftTargetSets> {
  return locateConfigError(ctx.recipe, 'stages.targets', () =>
    makeSoftTargetSets({
      ...ctx.options,
      modelsDir: ctx.inputDir('train'),
      featuresDir: ctx.inputDir('features'),
      alignDir: ctx.inputDir('align'),
      outDir: ctx.outDir,
      logger: ctx.log,
      ...(shard ? { shard } : {}),
    }),
  );
}

function targetsStageResult(f: TargetsFile, seconds: number[]): StageResult {
  const main = f.sets[0];
  return {
    counts: { sets: f.sets.length, teachers: f.teachers.length, frames: main?.frames ?? 0, k: main?.k ?? 0 },
    details: {
      sets: f.sets.map((s) => ({
        name: s.name,
        temperature: s.temperature,
        k: s.k,
        meanKeptMass: s.meanKeptMass,
        bytesPerFrame: s.bytesPerFrame,
        denseBytesPerFrame: s.denseBytesPerFrame,
        ensembleFrameAccuracy: s.ensembleFrameAccuracy,
      })),
      timing: { seconds: seconds.length === 1 ? seconds[0] : seconds },
    },
  };
}
