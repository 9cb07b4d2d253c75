/**
 * The `align` stage: the prepared corpus + its features -> `<expDir>/align/` (lang/, model.json,
 * tree.json, senones.json, transitions.json, topo, <split>.arrow frame labels, summary.json,
 * config.json) through `alignCorpus` (src/align/corpus.ts). Alignment speed goes to stage.json
 * (details.timing), so the stage's output files are byte-identical for the same config and seed.
 *
 * Recipe:
 *   stages:
 *     align:
 *       numLeaves: 200        # senones (Kaldi numleaves): ~100-300 for the demo and FSDD, 2000+ for LibriSpeech 100 h
 *       monoIters: 40         # Kaldi train_mono.sh
 *       triIters: 35          # Kaldi train_deltas.sh
 *       splits: [train, dev, test]   # default: every split
 *       vtlpCopies: inherit   # VTLP copies take their source's alignment (realign: GMM-HMM trained and aligned on them)
 *       referenceTimings: constrain  # keep each word within its reference timing (alignment.word), +-referenceCollarMs
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readCorpusInfo, readSplit } from '../corpus/manifest.ts';
import {
  accumulateChainPass,
  blockSourcePass,
  chainPasses,
  estimateChainPass,
  finishChainPasses,
  isPassStatsFile,
  type ChainPassJob,
} from '../align/chain-jobs.ts';
import { GMM_TRAINING_BLOCKS } from '../align/blocks.ts';
import {
  alignConfigRecord,
  alignCorpus,
  chainInputs,
  alignSummary,
  finalAlignmentJob,
  finalCountSplits,
  loadFinalModel,
  planAlignment,
  trainAlignModels,
  ALIGN_DEFAULTS,
  ALIGN_MODELS,
  type AlignCorpusOptions,
  type AlignModelName,
  type AlignPlan,
  type AlignSummary,
  type TrainingSummary,
} from '../align/corpus.ts';
import {
  alignmentFileOptions,
  alignSplits,
  logSplit,
  noneAligned,
  scoreLabels,
  summariseSplit,
  type FinalAlignment,
  type SplitAlignSummary,
  type SplitPart,
} from '../align/align-splits.ts';
import type { SplitData } from '../align/source.ts';
import type { SpanSummary } from '../align/spans.ts';
import { mergeAlignmentFiles } from '../align/store.ts';
import { vtlpSourceId } from '../features/perturb.ts';
import { ConfigError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import type { Logger } from '../util/log.ts';
import type { Schema, SchemaFor } from './schema.ts';
import { copyShardEntries, shardSlice, type PassContext, type ShardCoverage, type ShardSpec } from './shards.ts';
import type { StageContext, StageDefinition, StageResult } from './stage.ts';
import { mergeSkips } from './common.ts';

export interface AlignStageOptions {
  /** Senones (leaves of the triphone tree). Default 200. */
  numLeaves: number;
  /** Frames on both sides of a tree split. Default 50. */
  minLeafOccupancy: number;
  /** 'cluster' | 'arpabet'. Default 'cluster'. */
  questions: 'cluster' | 'arpabet';
  /** Default 40. */
  monoIters: number;
  /** Default 1000. */
  monoGaussians: number;
  /** Default 35. */
  triIters: number;
  /** Default 5 x numLeaves. */
  triGaussians?: number;
  /** Final alignment beam. Default 10. */
  beam: number;
  /** Default 40. */
  retryBeam: number;
  /** Optional silence probability. Default 0.5. */
  optionalSilenceProb: number;
  /** Corpus lexicon (Kaldi lexicon.txt) before CMUdict. Default none. */
  lexicon?: string;
  /** Splits to align. Default: every split of the corpus. */
  splits?: string[];
  /** Splits to train on. Default [train]. */
  trainSplits: string[];
  /** Per-speaker variance normalisation too. Default false. */
  cmvnNormVars: boolean;
  /** Default 2 (deltas + delta-deltas). */
  deltaOrder: number;
  /** VTLP copies of the features stage: 'inherit' their source's alignment (default) or 'realign' (train and align on them). */
  vtlpCopies: 'inherit' | 'realign';
  /** Supervisions' reference word timings: 'ignore' (default) or 'constrain' the alignment to them. */
  referenceTimings: 'ignore' | 'constrain';
  /** Widening of each reference word span, ms. Default 20. */
  referenceCollarMs: number;
  /** Last GMM-HMM of the chain mono -> tri1 -> tri2b -> tri3b; its alignment labels the splits. Default 'tri1'. */
  lastModel: AlignModelName;
  /** tri2b / tri3b: frames spliced on each side before LDA. Default 3. */
  spliceContext: number;
  /** tri2b / tri3b: LDA dimension. Default 40. */
  ldaDim: number;
  /** tri2b / tri3b training iterations. Default 35. */
  adaptedIters: number;
  /** Word-position-dependent phones (_B _I _E _S). Default false. */
  wordPositionPhones: boolean;
}

const D = ALIGN_DEFAULTS;

export const ALIGN_SCHEMA: Schema = {
  numLeaves: {
    type: 'number',
    integer: true,
    min: 1,
    default: D.numLeaves,
    doc: 'senones: leaves of the triphone decision tree (Kaldi numleaves)',
  },
  minLeafOccupancy: {
    type: 'number',
    integer: true,
    min: 0,
    default: D.minLeafOccupancy,
    unit: 'frames',
    doc: 'frames on both sides of a tree split',
  },
  questions: {
    type: 'string',
    enum: ['cluster', 'arpabet'],
    default: D.questions,
    doc: 'tree questions: clustered from the data, or ARPAbet phone classes',
  },
  monoIters: {
    type: 'number',
    integer: true,
    min: 1,
    default: D.monoIters,
    doc: 'monophone training iterations (Kaldi train_mono.sh)',
  },
  monoGaussians: {
    type: 'number',
    integer: true,
    min: 1,
    default: D.monoGaussians,
    doc: 'monophone Gaussians in total',
  },
  triIters: {
    type: 'number',
    integer: true,
    min: 1,
    default: D.triIters,
    doc: 'triphone training iterations (Kaldi train_deltas.sh)',
  },
  triGaussians: {
    type: 'number',
    integer: true,
    min: 1,
    optional: true,
    doc: 'triphone Gaussians in total (default 5 x numLeaves)',
  },
  beam: { type: 'number', min: 0.001, default: D.beam, doc: 'final alignment beam' },
  retryBeam: { type: 'number', min: 0, default: D.retryBeam, doc: 'retry beam when no path survives (0: none)' },
  optionalSilenceProb: {
    type: 'number',
    min: 0,
    max: 0.999,
    default: D.optionalSilenceProb,
    doc: 'probability of silence between words and at the edges',
  },
  lexicon: {
    type: 'string',
    path: true,
    optional: true,
    doc: "corpus lexicon (Kaldi lexicon.txt) whose entries replace CMUdict's",
  },
  splits: {
    type: 'array',
    items: { type: 'string', doc: 'split name' },
    minItems: 1,
    optional: true,
    doc: 'splits to align (default: all)',
  },
  trainSplits: {
    type: 'array',
    items: { type: 'string', doc: 'split name' },
    minItems: 1,
    default: D.trainSplits,
    doc: 'splits to train the GMM-HMM on',
  },
  cmvnNormVars: {
    type: 'boolean',
    default: D.cmvnNormVars,
    doc: 'per-speaker variance normalisation of the MFCCs too',
  },
  deltaOrder: {
    type: 'number',
    integer: true,
    min: 0,
    max: 3,
    default: D.deltaOrder,
    doc: 'delta order of the GMM features (2: deltas + delta-deltas)',
  },
  vtlpCopies: {
    type: 'string',
    enum: ['inherit', 'realign'],
    default: D.vtlpCopies,
    doc: "VTLP copies of the features stage: 'inherit' (GMM-HMM on the real recordings only, each copy labelled with its source's alignment) or 'realign' (trained on and aligned on their own warped MFCCs)",
  },
  referenceTimings: {
    type: 'string',
    enum: ['ignore', 'constrain'],
    default: D.referenceTimings,
    doc: "the supervisions' reference word timings (alignment.word): 'ignore' them, or 'constrain' every alignment to keep each word within its span (pauses between words can then only be silence)",
  },
  referenceCollarMs: {
    type: 'number',
    min: 0,
    default: D.referenceCollarMs,
    unit: 'ms',
    doc: 'widening of each reference word span on both sides (referenceTimings: constrain)',
  },
  lastModel: {
    type: 'string',
    enum: [...ALIGN_MODELS],
    default: D.lastModel,
    doc: "last GMM-HMM of the chain mono -> tri1 (deltas) -> tri2b (LDA+MLLT) -> tri3b (SAT, fMLLR per speaker), each trained on the previous one's alignment; its alignment labels every split",
  },
  spliceContext: {
    type: 'number',
    integer: true,
    min: 0,
    max: 10,
    default: D.spliceContext,
    unit: 'frames',
    doc: 'tri2b/tri3b: MFCC frames spliced on each side before LDA (Kaldi splice_opts)',
  },
  ldaDim: { type: 'number', integer: true, min: 1, default: D.ldaDim, doc: 'tri2b/tri3b: LDA output dimension' },
  adaptedIters: {
    type: 'number',
    integer: true,
    min: 1,
    default: D.adaptedIters,
    doc: 'tri2b/tri3b training iterations (Kaldi train_lda_mllt.sh / train_sat.sh)',
  },
  wordPositionPhones: {
    type: 'boolean',
    default: D.wordPositionPhones,
    doc: "word-position-dependent phones (_B _I _E _S, Kaldi prepare_lang.sh's default): a phone's variants share its tree roots and the tree may ask the position",
  },
} satisfies SchemaFor<AlignStageOptions>;

export const alignStage: StageDefinition<AlignStageOptions> = {
  name: 'align',
  doc: 'flat-start monophone GMM-HMM -> triphone tree (senones) [-> LDA+MLLT -> SAT] -> forced alignment of every split [Arrow frame labels]',
  inputs: ['prepare', 'features'],
  schema: ALIGN_SCHEMA,

  async externalInputs(_recipe, options) {
    return options.lexicon ? [{ path: options.lexicon, mode: 'content' }] : [];
  },

  async run(ctx) {
    const r = await alignCorpus(await alignOptions(ctx));
    return alignStageResult(r.summary, r.timing);
  },

  // Shards: the GMM-HMM chain's passes (each: shards accumulate the statistics of their blocks of
  // the training utterances, a merge sums them in block order and updates the model), the common
  // job writes the trained chain out, then the final alignment of contiguous blocks of each split's
  // supervisions (with their VTLP copies); tri3b's speaker transforms need whole speakers, so with
  // tri3b a shard aligns whole splits. The merge concatenates the alignment files and makes the
  // summaries from the shards' counts.
  shards: {
    unit: 'utterances',
    passes: {
      unit: 'blocks',
      list: (options) => chainPasses(options).map((x) => x.name),
      reads: (options, pass) => blockSourcePass(chainPasses(options), pass),
      async accumulate(ctx, pass, shard) {
        const job = await chainPassJob(ctx, pass);
        const src = blockSourcePass(chainPasses(job.o), pass);
        const r = await accumulateChainPass(job, shard, src === null ? null : ctx.shardDir(src));
        return {
          coverage: [{ group: 'blocks', start: r.blocks[0], end: r.blocks[1], total: GMM_TRAINING_BLOCKS }],
          counts: { aligned: r.aligned },
        };
      },
      async merge(ctx, pass, shards) {
        const job = await chainPassJob(ctx, pass);
        const blocks = (c: readonly ShardCoverage[]): [number, number] => {
          const b = c.find((x) => x.group === 'blocks')!;
          return [b.start, b.end];
        };
        const line = await estimateChainPass(
          job,
          shards.map((sh) => ({ dir: sh.dir, blocks: blocks(sh.coverage) })),
        );
        return { details: { pass: line } };
      },
      consumed: isPassStatsFile,
    },
    async common(ctx) {
      const t0 = Date.now();
      const p = await planAlignment(await alignOptions(ctx));
      const chained = ctx.lastPassDir
        ? await finishChainPasses({ ...chainInputs(p), logger: ctx.log }, ctx.lastPassDir)
        : undefined;
      const trained = await trainAlignModels(p, ctx.outDir, chained);
      await writeJsonAtomic(join(ctx.outDir, 'config.json'), alignConfigRecord(p.s, p.inputs, p.configHash));
      await writeJsonAtomic(join(ctx.outDir, ALIGN_COMMON), { training: trained.summary });
      return {
        counts: { senones: trained.model.am.numPdfs, gaussians: trained.model.am.numGaussians },
        details: { timing: { trainingSec: (Date.now() - t0) / 1000, models: trained.modelSeconds } },
      };
    },
    async run(ctx, shard) {
      const p = await planAlignment(await alignOptions(ctx));
      const blocks = await shardBlocks(p, shard);
      const job: FinalAlignment = {
        ...finalAlignmentJob(p, loadFinalModel(p, ctx.commonDir!), ctx.outDir),
        shard: { keep: (split) => blocks.keep.get(split) ?? null },
      };
      const aligned = await alignSplits(p.inputs.alignData, finalCountSplits(p), job, ctx.log);
      if (aligned.parts.length) {
        await writeJsonAtomic(join(ctx.outDir, ALIGN_PARTS), {
          parts: aligned.parts,
          senoneFrames: [...aligned.senoneFrames],
        });
      }
      return { coverage: blocks.coverage, details: { timing: aligned.timing } };
    },
    async merge(ctx, shards) {
      const p = await planAlignment(await alignOptions(ctx));
      const final = loadFinalModel(p, ctx.commonDir!);
      await copyShardEntries([ctx.commonDir!], ctx.outDir, { skip: [ALIGN_COMMON] });
      const common = JSON.parse(await readFile(join(ctx.commonDir!, ALIGN_COMMON), 'utf8')) as {
        training: TrainingSummary | null;
      };
      const job = finalAlignmentJob(p, final, ctx.outDir);
      const senoneFrames = new Float64Array(final.model.am.numPdfs);
      const parts: { dir: string; part: SplitPart }[] = [];
      for (const sh of shards) {
        const path = join(sh.dir, ALIGN_PARTS);
        if (!existsSync(path)) continue;
        const j = JSON.parse(await readFile(path, 'utf8')) as { parts: SplitPart[]; senoneFrames: number[] };
        j.senoneFrames.forEach((n, k) => (senoneFrames[k] += n));
        parts.push(...j.parts.map((part) => ({ dir: sh.dir, part })));
      }
      const summaries: Record<string, SplitAlignSummary> = {};
      for (const d of p.inputs.alignData)
        summaries[d.split] = await mergeSplit(
          d,
          parts.filter((x) => x.part.split === d.split),
          job,
          ctx.log,
        );
      const summary = alignSummary(p, final.model, common.training, summaries, senoneFrames);
      await writeJsonAtomic(join(ctx.outDir, 'summary.json'), summary);
      return alignStageResult(summary, { shards: shards.map((s) => s.details?.timing) });
    },
  },
};

/** What a pass job of the GMM training is given (src/align/chain-jobs.ts). */
async function chainPassJob(ctx: PassContext<AlignStageOptions>, pass: number): Promise<ChainPassJob> {
  const p = await planAlignment(await alignOptions(ctx));
  return {
    ...chainInputs(p),
    pass,
    stateDir: ctx.mergeDir(pass - 1),
    configHash: p.configHash,
    outDir: ctx.outDir,
    logger: ctx.log,
  };
}

/** The common job's training summary (in its directory only), and a shard's split parts. */
const ALIGN_COMMON = 'align-common.json';
const ALIGN_PARTS = 'align-parts.json';

/** alignCorpus's options from the stage's, the splits checked against the corpus. */
async function alignOptions(ctx: StageContext<AlignStageOptions>): Promise<AlignCorpusOptions> {
  const dataDir = ctx.inputDir('prepare');
  const info = await readCorpusInfo(dataDir);
  for (const key of ['splits', 'trainSplits'] as const) {
    for (const s of ctx.options[key] ?? []) {
      if (!info.splits.includes(s)) {
        const keyPath = `stages.align.${key}`;
        throw new ConfigError(`split '${s}' is not in the corpus`, {
          ...(ctx.recipe.locate?.(keyPath) ?? {}),
          keyPath,
          expected: `splits among ${info.splits.join(', ')}`,
          found: s,
        });
      }
    }
  }
  const { lexicon, ...o } = ctx.options;
  return {
    ...o,
    dataDir,
    featuresDir: ctx.inputDir('features'),
    outDir: ctx.outDir,
    corpusLexiconPath: lexicon ?? null,
    seed: ctx.recipe.seed,
    writeTiming: false,
    logger: ctx.log,
  };
}

/**
 * What a shard aligns of each split (null: nothing) and the units it covers: a block of the split's
 * supervisions in manifest order, a VTLP copy with its source; with tri3b, whole splits.
 */
async function shardBlocks(
  p: AlignPlan,
  shard: ShardSpec,
): Promise<{ keep: Map<string, ((uttId: string) => boolean) | null>; coverage: ShardCoverage[] }> {
  const keep = new Map<string, ((uttId: string) => boolean) | null>();
  if (p.s.o.lastModel === 'tri3b') {
    const mine = shardSlice(p.inputs.splits, shard, 'splits');
    for (const split of p.inputs.splits) keep.set(split, mine.items.includes(split) ? () => true : null);
    return { keep, coverage: [mine.coverage] };
  }
  const coverage: ShardCoverage[] = [];
  for (const d of p.inputs.alignData) {
    const ids = (await readSplit(d.dataDir, d.split)).supervisions.map((x) => x.id);
    const mine = shardSlice(ids, shard, `${d.split} utterances`);
    coverage.push(mine.coverage);
    const set = new Set(mine.items);
    keep.set(d.split, set.size ? (uttId) => set.has(vtlpSourceId(uttId) ?? uttId) : null);
  }
  return { keep, coverage };
}

/** A split's shards (in order) into its alignment file, label quality and summary. */
async function mergeSplit(
  d: SplitData,
  parts: readonly { dir: string; part: SplitPart }[],
  job: FinalAlignment,
  log: Logger,
): Promise<SplitAlignSummary> {
  const skips = mergeSkips(parts.map((x) => x.part.skips));
  const spans = parts.every((x) => x.part.spans) && parts.length ? sumSpans(parts.map((x) => x.part.spans!)) : null;
  const merged: SplitPart = {
    split: d.split,
    file: true,
    skips,
    spans,
    frames: parts.reduce((a, x) => a + x.part.frames, 0),
    adaptation: parts.length === 1 ? parts[0].part.adaptation : null,
  };
  const files = parts.filter((x) => x.part.file).map((x) => join(x.dir, `${d.split}.arrow`));
  if (!files.length) throw noneAligned(d, `Done ${skips.done}, skipped ${skips.skipped}`);
  const path = join(job.dir, `${d.split}.arrow`);
  await mergeAlignmentFiles(files, path, alignmentFileOptions(d, job), skips.skipped);
  const summary = summariseSplit(d, merged, await scoreLabels(d, path, log));
  logSplit(d, `Done ${skips.done} utterances, skipped ${skips.skipped}`, summary, job, log);
  return summary;
}

function sumSpans(all: readonly SpanSummary[]): SpanSummary {
  const mismatched: Record<string, number> = {};
  for (const s of all) for (const [k, n] of Object.entries(s.mismatched)) mismatched[k] = (mismatched[k] ?? 0) + n;
  return {
    kept: all.reduce((a, s) => a + s.kept, 0),
    dropped: all.reduce((a, s) => a + s.dropped, 0),
    noReference: all.reduce((a, s) => a + s.noReference, 0),
    mismatched: Object.fromEntries(Object.entries(mismatched).sort((a, b) => (a[0] < b[0] ? -1 : 1))),
  } as SpanSummary;
}

function alignStageResult(s: AlignSummary, timing: unknown): StageResult {
  const splits = Object.values(s.splits);
  return {
    counts: {
      senones: s.numSenones,
      gaussians: s.numGaussians,
      utterances: splits.reduce((a, x) => a + x.done, 0),
      failed: splits.reduce((a, x) => a + x.failed, 0),
      frames: splits.reduce((a, x) => a + x.frames, 0),
    },
    skipped: mergeSkips(splits.map((x) => ({ done: x.done, skipped: x.failed, reasons: x.reasons }))),
    details: { splits: s.splits, framesPerSenone: s.framesPerSenone, timing },
  };
}
