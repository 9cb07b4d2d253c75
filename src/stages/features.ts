/**
 * The `features` stage: every split of the prepared corpus -> `<expDir>/features/<split>.arrow`
 * (fbank + mfcc per frame) and `<split>.cmvn.json` (per-speaker CMVN statistics), through
 * `computeFeatures` (src/features/compute.ts).
 *
 * Recipe:
 *   stages:
 *     features:
 *       fbank: {numMelBins: 40}    # Kaldi compute-fbank-feats options (camelCase); default 40 bins
 *       mfcc: {}                   # compute-mfcc-feats options for the GMM stage; false: none
 *       splits: [train, dev]       # default: every split of the corpus
 *       vtlp:                      # VTLP augmentation (src/features/perturb.ts); default off
 *         warps: [0.9, 1.1]        # one copy of every utterance per warp factor
 *         splits: [train]          # the splits that get copies (default [train])
 */
import { existsSync } from 'node:fs';
import { readCorpusInfo, readSplit } from '../corpus/manifest.ts';
import {
  computeFeatures,
  featurePaths,
  mergeFeatureParts,
  shardRange,
  featureExtractors,
  resolveFeatureConfig,
  STAGE_FBANK_DEFAULTS,
  type ComputeFeaturesResult,
} from '../features/compute.ts';
import {
  DEFAULT_FBANK_OPTIONS,
  DEFAULT_MFCC_OPTIONS,
  fbankOptions,
  featureOptionsJsonSchema,
  mfccOptions,
  type FbankOptions,
  type MfccOptions,
} from '../features/options.ts';
import { checkVtlpWarps } from '../features/perturb.ts';
import { ConfigError } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import { locateConfigError, mergeSkips } from './common.ts';
import { declaredSampleRate } from './prepare.ts';
import { OptionError, validateOptions, type Schema, type SchemaFor } from './schema.ts';
import type { RecipeHead, SkipSummary, StageContext, StageDefinition, StageResult } from './stage.ts';
import type { ShardCoverage, ShardSpec } from './shards.ts';

export interface FeaturesStageOptions {
  /** Filterbank options over Kaldi's defaults (numMelBins 40); recorded fully resolved. */
  fbank: Partial<FbankOptions>;
  /** MFCC options; frame options default to the fbank's. `false`: no mfcc column. Default {}. */
  mfcc: Partial<MfccOptions> | false;
  /** Splits to process. Default: every split of the corpus, in corpus order. */
  splits?: string[];
  /** VTLP copies of the utterances of some splits. Default: none. */
  vtlp?: VtlpOptions;
}

export interface VtlpOptions {
  /** Warp factors, one copy per factor (Jaitly & Hinton 2013: 0.9 to 1.1). */
  warps: number[];
  /** Splits that get the copies. Default [train]. */
  splits: string[];
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export const FEATURES_SCHEMA: Schema = {
  fbank: {
    type: 'custom',
    expected: 'a mapping of fbank options (Kaldi names in camelCase, e.g. numMelBins, frameShiftMs)',
    doc: "log-mel filterbank options; default Kaldi's with numMelBins 40",
    jsonSchema: featureOptionsJsonSchema({ ...DEFAULT_FBANK_OPTIONS, ...STAGE_FBANK_DEFAULTS }),
    validate: (v, keyPath) => {
      if (v !== undefined && v !== null && !isMapping(v))
        throw new ConfigError('wrong type', {
          keyPath,
          expected: 'a mapping of fbank options',
          found: JSON.stringify(v),
        });
      // Resolved fully, so that a change of a default in code also changes the config hash.
      const resolved: Record<string, unknown> = { ...fbankOptions({ ...STAGE_FBANK_DEFAULTS, ...(v ?? {}) }, keyPath) };
      if (resolved.sampleRateHz === undefined) delete resolved.sampleRateHz;
      return resolved;
    },
  },
  mfcc: {
    type: 'custom',
    expected: 'false, or a mapping of mfcc options (e.g. numCeps)',
    doc: "MFCC options for the GMM stage (frame options default to the fbank's); false: no mfcc column",
    jsonSchema: {
      anyOf: [
        { const: false },
        featureOptionsJsonSchema(DEFAULT_MFCC_OPTIONS, { frameDefaultsFrom: 'the fbank option' }),
      ],
    },
    validate: (v, keyPath) => {
      if (v === false) return false;
      if (v !== undefined && v !== null && !isMapping(v))
        throw new ConfigError('wrong type', {
          keyPath,
          expected: 'false or a mapping of mfcc options',
          found: JSON.stringify(v),
        });
      mfccOptions(v ?? {}, keyPath); // keys and types; the frame options are completed from fbank when run
      return { ...(v ?? {}) };
    },
  },
  splits: {
    type: 'array',
    items: { type: 'string', doc: 'split name' },
    minItems: 1,
    optional: true,
    doc: 'splits to process (default: all)',
  },
  vtlp: {
    type: 'object',
    optional: true,
    doc: 'VTLP augmentation: copies of the utterances with the mel bins warped (Kaldi vtlnWarp), as new speakers',
    fields: {
      warps: {
        type: 'custom',
        expected: 'a list of warp factors in (0.5, 2) other than 1, e.g. [0.9, 1.1]',
        doc: 'one copy of every utterance per warp factor',
        jsonSchema: {
          type: 'array',
          minItems: 1,
          items: { type: 'number', exclusiveMinimum: 0.5, exclusiveMaximum: 2, not: { const: 1 } },
        },
        validate: (v, keyPath) => checkVtlpWarps(v, keyPath),
      },
      splits: {
        type: 'array',
        items: { type: 'string', doc: 'split name' },
        minItems: 1,
        default: ['train'],
        doc: 'splits that get the copies',
      },
    },
  },
} satisfies SchemaFor<FeaturesStageOptions>;

/** The warps of `split` under the options (none unless the split is listed). */
export function vtlpWarpsOf(vtlp: VtlpOptions | undefined, split: string): number[] {
  return vtlp && vtlp.splits.includes(split) ? vtlp.warps : [];
}

/** Every split named in `vtlp.splits` must be one that is processed. */
function checkVtlpSplits(
  vtlp: VtlpOptions | undefined,
  splits: string[],
  where: { file?: string; line?: number; keyPath: string },
): void {
  for (const s of vtlp?.splits ?? []) {
    if (!splits.includes(s))
      throw new ConfigError(`VTLP split '${s}' is not among the splits processed`, {
        ...where,
        expected: `splits among ${splits.join(', ')}`,
        found: s,
      });
  }
}

/**
 * The fbank / mfcc options (and the VTLP warps) at a sample rate: what only the rate can tell
 * (mel bins per FFT bin, cutoffs below Nyquist) as an OptionError with the full key path
 * (`stages.features.fbank.numMelBins`). At load time when the corpus declares its rate
 * (checkInputs), else when the stage starts, before any audio is read.
 */
function checkOptionsAtRate(options: FeaturesStageOptions, sampleRateHz: number): void {
  const rate = options.fbank.sampleRateHz ?? sampleRateHz;
  try {
    const { featureConfig } = resolveFeatureConfig({ ...options.fbank, sampleRateHz: rate }, options.mfcc, rate);
    featureExtractors(featureConfig, rate, options.vtlp?.warps ?? []);
  } catch (err) {
    if (err instanceof ConfigError && err.location.keyPath && !err.location.file) {
      throw new OptionError(err.detail, {
        keyPath: `stages.features.${err.location.keyPath === 'vtlpWarps' ? 'vtlp.warps' : err.location.keyPath}`,
        expected: err.expected,
        found: err.found,
      });
    }
    throw err;
  }
}

export interface FeaturesForDataDirOptions {
  /** Prepared data dir (corpus.json + <split>/*.jsonl). */
  dataDir: string;
  outDir: string;
  /** Splits to process. Default: every split of the corpus. */
  splits?: string[];
  /** Raw fbank options (validated like the recipe's `stages.features.fbank`). */
  fbank?: Record<string, unknown>;
  /** Raw mfcc options, or false for no mfcc column. */
  mfcc?: Record<string, unknown> | false;
  /** Only shard `index` (0-based) of `count` of each split. */
  shard?: { index: number; count: number };
  /** Raw VTLP options (validated like the recipe's `stages.features.vtlp`). */
  vtlp?: Record<string, unknown>;
  logger?: Logger;
}

/**
 * `am-distill features`: compute the features of the splits of a data dir (or one shard of
 * each), with options checked as in a recipe (key paths `fbank.*`, `mfcc.*`).
 */
export async function computeFeaturesForDataDir(opts: FeaturesForDataDirOptions): Promise<ComputeFeaturesResult[]> {
  const options = validateOptions(FEATURES_SCHEMA, {
    fbank: opts.fbank,
    mfcc: opts.mfcc,
    splits: opts.splits,
    vtlp: opts.vtlp,
  }) as unknown as FeaturesStageOptions;
  const info = await readCorpusInfo(opts.dataDir);
  const splits = options.splits ?? info.splits;
  for (const s of splits) {
    if (!info.splits.includes(s))
      throw new ConfigError(`split '${s}' is not in the corpus`, {
        file: opts.dataDir,
        keyPath: 'split',
        expected: `one of ${info.splits.join(', ')}`,
        found: s,
      });
  }
  checkVtlpSplits(options.vtlp, splits, { keyPath: 'vtlp.splits' });
  const results: ComputeFeaturesResult[] = [];
  for (const split of splits) {
    results.push(
      await computeFeatures({
        dataDir: opts.dataDir,
        split,
        outDir: opts.outDir,
        fbank: options.fbank,
        mfcc: options.mfcc,
        shard: opts.shard,
        logger: opts.logger,
        vtlpWarps: vtlpWarpsOf(options.vtlp, split),
      }),
    );
  }
  return results;
}

/** Parse `i/N` (0-based shard index i of N), the `--shard` flag. */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) {
    throw new ConfigError('bad shard', {
      file: `--shard ${text}`,
      expected: 'i/N with 0 <= i < N (0-based, like Slurm array and Kubernetes Indexed Job indices)',
      found: JSON.stringify(text),
    });
  }
  return { index, count };
}

export const featuresStage: StageDefinition<FeaturesStageOptions> = {
  name: 'features',
  doc: 'log-mel filterbank (+ MFCC) per frame and per-speaker CMVN stats, one Arrow file per split',
  inputs: ['prepare'],
  schema: FEATURES_SCHEMA,

  checkInputs(options, inputOptions, recipe: RecipeHead) {
    const rate = options.fbank.sampleRateHz ?? declaredSampleRate(recipe, inputOptions('prepare') ?? {});
    if (rate !== undefined) checkOptionsAtRate(options, rate);
  },

  async run(ctx) {
    return featuresResult((await computeSplits(ctx)).parts);
  },

  // Shards: contiguous blocks of each split's supervisions (`am-distill features --shard`); the
  // merge concatenates the feature files and accumulates the CMVN statistics again over them.
  shards: {
    unit: 'utterances',
    async run(ctx, shard) {
      const { parts, coverage } = await computeSplits(ctx, shard);
      return { ...featuresResult(parts), coverage, details: { parts } };
    },
    async merge(ctx, shards) {
      const { splits } = await stageSplits(ctx);
      const parts: SplitFeatures[] = [];
      for (const split of splits) {
        const done = shards.filter((s) => existsSync(featurePaths(s.dir, split, s.shard).features));
        const r = await mergeFeatureParts(
          done.map((s) => featurePaths(s.dir, split, s.shard)),
          ctx.outDir,
          split,
        );
        const m = r.metadata;
        const skipped = mergeSkips(
          done.map((s) => (s.details!.parts as SplitFeatures[]).find((p) => p.split === split)!.skipped),
        );
        parts.push({
          split,
          utterances: m.counts.utterances,
          frames: m.counts.frames,
          skipped,
          vtlpWarps: m.vtlpWarps,
          featureConfig: m.featureConfig,
        });
      }
      return featuresResult(parts);
    },
  },
};

/** The features of every split (or of a shard's block of each split: `<split>.<i>-of-<N>.arrow`). */
async function computeSplits(
  ctx: StageContext<FeaturesStageOptions>,
  shard?: ShardSpec,
): Promise<{ parts: SplitFeatures[]; coverage: ShardCoverage[] }> {
  const { dataDir, splits } = await stageSplits(ctx);
  const parts: SplitFeatures[] = [];
  const coverage: ShardCoverage[] = [];
  for (const split of splits) {
    if (shard) {
      const total = (await readSplit(dataDir, split)).supervisions.length;
      const [start, end] = shardRange(total, shard);
      coverage.push({ group: `${split} utterances`, start, end, total });
      if (start === end) continue;
    }
    const r = await computeFeatures({
      dataDir,
      split,
      outDir: ctx.outDir,
      fbank: ctx.options.fbank,
      mfcc: ctx.options.mfcc,
      logger: ctx.log,
      vtlpWarps: vtlpWarpsOf(ctx.options.vtlp, split),
      ...(shard ? { shard } : {}),
    });
    parts.push(splitFeatures(split, r));
  }
  return { parts, coverage };
}

/** The prepared data dir and the splits to process, checked against the corpus (the stage and its shards). */
async function stageSplits(ctx: StageContext<FeaturesStageOptions>): Promise<{ dataDir: string; splits: string[] }> {
  const dataDir = ctx.inputDir('prepare');
  const info = await readCorpusInfo(dataDir);
  await locateConfigError(ctx.recipe, 'stages.features', () => checkOptionsAtRate(ctx.options, info.sampleRateHz));
  const splits = ctx.options.splits ?? info.splits;
  for (const s of splits) {
    if (!info.splits.includes(s)) {
      const keyPath = 'stages.features.splits';
      throw new ConfigError(`split '${s}' is not in the corpus`, {
        ...(ctx.recipe.locate?.(keyPath) ?? {}),
        keyPath,
        expected: `splits among ${info.splits.join(', ')}`,
        found: s,
      });
    }
  }
  checkVtlpSplits(ctx.options.vtlp, splits, {
    ...(ctx.recipe.locate?.('stages.features.vtlp.splits') ?? {}),
    keyPath: 'stages.features.vtlp.splits',
  });
  return { dataDir, splits };
}

/** What the features of one split (or shard of it) came to. */
interface SplitFeatures {
  split: string;
  utterances: number;
  frames: number;
  skipped: SkipSummary;
  vtlpWarps: number[];
  featureConfig: unknown;
}

function splitFeatures(split: string, r: ComputeFeaturesResult): SplitFeatures {
  return {
    split,
    utterances: r.utterances,
    frames: r.frames,
    skipped: r.skipped,
    vtlpWarps: r.metadata.vtlpWarps,
    featureConfig: r.featureConfig,
  };
}

/** The stage's counts, skips and per-split details. */
function featuresResult(parts: readonly SplitFeatures[]): StageResult {
  const perSplit: Record<string, { utterances: number; frames: number; skipped: number; vtlpWarps?: number[] }> = {};
  for (const p of parts) {
    perSplit[p.split] = {
      utterances: p.utterances,
      frames: p.frames,
      skipped: p.skipped.skipped,
      ...(p.vtlpWarps.length ? { vtlpWarps: p.vtlpWarps } : {}),
    };
  }
  return {
    counts: {
      splits: parts.length,
      utterances: parts.reduce((a, p) => a + p.utterances, 0),
      frames: parts.reduce((a, p) => a + p.frames, 0),
    },
    skipped: mergeSkips(parts.map((p) => p.skipped)),
    details: { splits: perSplit, featureConfig: parts[parts.length - 1]?.featureConfig },
  };
}
