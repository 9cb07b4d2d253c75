/**
 * The final alignment of the align stage (Kaldi align_si.sh; align_fmllr.sh after tri3b): every
 * split aligned with the chain's last model into `<dir>/<split>.arrow` (./store.ts), with its
 * Kaldi-style summary ("Done N, failed M"), label quality against reference word timings where
 * the supervisions have them, and frames per senone over the counted splits.
 */
import { join } from 'node:path';
import { alignAll, type GmmHmmModel } from '../hmm/train.ts';
import { estimateSpeakerTransforms, type SpeakerPassResult } from '../hmm/train-adapted.ts';
import type { FeatureTransform } from '../hmm/feature-transform.ts';
import type { AlignOptions } from '../hmm/align.ts';
import type { LangModel } from '../hmm/graph.ts';
import { CorpusError, SkipCounter } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import { vtlpId } from '../features/perturb.ts';
import { NO_TRANSCRIPT_REASON, featureSource, type GmmFeatureOptions, type SplitData } from './source.ts';
import { AlignmentFileWriter, type AlignmentFileMetadata } from './store.ts';
import { SpanCounter, type SpanSummary } from './spans.ts';
import { labelQuality, scoreAlignmentFile, type LabelQuality } from './score.ts';

export interface SplitAlignSummary {
  /** Kaldi style: "Done N, failed M". */
  message: string;
  done: number;
  failed: number;
  frames: number;
  /** Supervisions with no row in the feature file (skipped by the features stage). */
  withoutFeatures: number;
  reasons: { reason: string; count: number; examples: string[] }[];
  /** With referenceTimings 'constrain': how the reference word timings constrained this split. */
  referenceTimings?: SpanSummary;
  /** Against the supervisions' reference word timings (splits that have them): boundaries, starts, silence. */
  labelQuality?: LabelQuality;
  /** tri3b: the per-speaker fMLLR estimated for this split's final alignment (first pass with the speaker-independent model). */
  speakerAdaptation?: SpeakerPassResult;
}

export interface SplitTiming {
  frames: number;
  seconds: number;
  framesPerSec: number;
}

/** The model that labels the splits, with the transform and first-pass model it needs (tri2b / tri3b). */
export interface FinalModel {
  model: GmmHmmModel;
  transform: FeatureTransform | null;
  alignmentModel: GmmHmmModel | null;
}

/** What every split's alignment shares: the model and lexicon, beams, how features are read, where files go. */
export interface FinalAlignment {
  final: FinalModel;
  lang: LangModel;
  alignOpts: AlignOptions;
  featOpts: Required<GmmFeatureOptions>;
  /** VTLP copies take their source's alignment (written right after it) instead of being aligned. */
  inherit: boolean;
  /** Collar of the reference word spans that constrain the alignment (null: unconstrained), and the option in ms for messages. */
  spanCollarSec: number | null;
  referenceCollarMs: number;
  /** Output directory, and the metadata of every alignment file. */
  dir: string;
  configHash: string;
  frameShiftMs: number;
  /**
   * A shard of the final pass (src/align/shards.ts): the utterances of each split it aligns (by
   * utterance id; none of a split: undefined). A shard's split may align nothing, and gets no
   * summary: the merge makes it from the shards' parts.
   */
  shard?: { keep(split: string): ((uttId: string) => boolean) | null };
}

type SkipSummary = ReturnType<SkipCounter['toJSON']>;

/** What aligning a split (or a shard's block of it) produced besides its file: the merge's input. */
export interface SplitPart {
  split: string;
  /** Whether `<split>.arrow` was written (a shard may align nothing). */
  file: boolean;
  skips: SkipSummary;
  spans: SpanSummary | null;
  frames: number;
  adaptation: SpeakerPassResult | null;
}

export interface AlignedSplits {
  summaries: Record<string, SplitAlignSummary>;
  timing: Record<string, SplitTiming>;
  /** Over all splits. */
  framesPerSec: number;
  files: Record<string, AlignmentFileMetadata>;
  /** Frames aligned to each senone in the counted splits (a VTLP copy's frames count too). */
  senoneFrames: Float64Array;
  parts: SplitPart[];
}

/**
 * Align every split of `splits`, in order; frames per senone are counted over `countSplits`
 * (every split when empty). A split that aligns nothing is a CorpusError.
 */
export async function alignSplits(
  splits: readonly SplitData[],
  countSplits: readonly string[],
  job: FinalAlignment,
  logger: Logger,
): Promise<AlignedSplits> {
  const senoneFrames = new Float64Array(job.final.model.am.numPdfs);
  const out: AlignedSplits = { summaries: {}, timing: {}, framesPerSec: 0, files: {}, senoneFrames, parts: [] };
  let totalFrames = 0,
    totalSec = 0;
  for (const d of splits) {
    const countThis = countSplits.includes(d.split) || countSplits.length === 0;
    const keep = job.shard?.keep(d.split);
    if (keep === null) continue;
    const r = await alignSplit(d, job, countThis ? senoneFrames : null, logger, keep);
    if (r.file) out.files[d.split] = r.file;
    if (r.summary) out.summaries[d.split] = r.summary;
    out.parts.push(r.part);
    out.timing[d.split] = { frames: r.frames, seconds: r.seconds, framesPerSec: r.frames / Math.max(r.seconds, 1e-3) };
    totalFrames += r.frames;
    totalSec += r.seconds;
  }
  out.framesPerSec = totalFrames / Math.max(totalSec, 1e-3);
  return out;
}

/** One split: speaker adaptation (tri3b), the alignment file, label quality, summary and log lines. */
async function alignSplit(
  d: SplitData,
  job: FinalAlignment,
  senoneFrames: Float64Array | null,
  logger: Logger,
  keep?: (uttId: string) => boolean,
): Promise<{
  file: AlignmentFileMetadata | null;
  summary: SplitAlignSummary | null;
  part: SplitPart;
  frames: number;
  seconds: number;
}> {
  // Inherited copies: written right after their source (the feature files' order), failed with it.
  const copyWarps = job.inherit ? d.featureMeta.vtlpWarps : [];
  const skips = new SourceAndCopySkips(copyWarps);
  const spanCounts = new SpanCounter();
  const start = Date.now();
  const { final, lang, alignOpts } = job;
  const source = featureSource([d], {
    ...job.featOpts,
    skips,
    skipVtlpCopies: job.inherit,
    spanCollarSec: job.spanCollarSec,
    spanCounts,
    transform: final.transform,
    ...(keep ? { keep } : {}),
  });
  // tri3b (align_fmllr.sh): per-speaker fMLLR from a first pass with the speaker-independent model.
  const adaptation =
    final.alignmentModel && final.transform
      ? await estimateSpeakerTransforms(source, final.transform, lang, final.alignmentModel, final.model, alignOpts)
      : null;
  if (adaptation)
    logger.info(
      `align ${d.split}: fMLLR for ${adaptation.updated} of ${adaptation.speakers} speakers, auxf +${adaptation.gainPerFrame.toFixed(3)}/frame${adaptation.firstPassFailed ? ` (${adaptation.firstPassFailed} utterances failed the first pass)` : ''}`,
    );
  const path = join(job.dir, `${d.split}.arrow`);
  const writer = await AlignmentFileWriter.open(path, alignmentFileOptions(d, job));
  const progress = logger.progress(`align ${d.split}`, d.featureMeta.counts.utterances, 'utts');
  let frames = 0;
  let file: AlignmentFileMetadata | null;
  try {
    for await (const a of alignAll(source, lang, final.model, skips, alignOpts)) {
      if (a.spans === 'kept') spanCounts.kept++;
      else if (a.spans === 'dropped') spanCounts.dropped++;
      const copies = copyWarps.map((w) => vtlpId(w, a.uttId));
      for (const uttId of [a.uttId, ...copies]) {
        writer.add({ uttId, senone: a.pdf, phone: a.phone, hmmState: a.hmmState, word: a.word });
        progress.tick();
      }
      // The copies' frames are the source's: counted once, weighted.
      const n = 1 + copies.length;
      frames += n * a.numFrames;
      if (senoneFrames) for (let t = 0; t < a.numFrames; t++) senoneFrames[a.pdf[t]] += n;
      skips.done += copies.length;
    }
    if (writer.utterances === 0 && !job.shard) throw noneAligned(d, skips.summary());
    file = writer.utterances === 0 ? null : await writer.finish(skips.skipped);
    if (!file) await writer.abort();
  } catch (err) {
    await writer.abort();
    throw err;
  }
  const seconds = (Date.now() - start) / 1000;
  const spans = job.spanCollarSec !== null ? spanCounts.summary() : null;
  const part: SplitPart = { split: d.split, file: file !== null, skips: skips.toJSON(), spans, frames, adaptation };
  const rate = `${frames} frames, ${(frames / Math.max(seconds, 1e-3)).toFixed(0)} frames/s`;
  if (job.shard) {
    progress.done(rate);
    return { file, frames, seconds, summary: null, part };
  }
  const quality = await scoreLabels(d, path, logger);
  progress.done(rate);
  const summary = summariseSplit(d, part, quality);
  logSplit(d, skips.summary('utterances'), summary, job, logger);
  return { file, frames, seconds, summary, part };
}

/** The options of a split's alignment file (the merge of shards writes the same). */
export function alignmentFileOptions(
  d: SplitData,
  job: FinalAlignment,
): Parameters<typeof AlignmentFileWriter.open>[1] {
  return {
    configHash: job.configHash,
    featureConfigHash: d.featureMeta.configHash,
    numSenones: job.final.model.am.numPdfs,
    frameShiftMs: job.frameShiftMs,
    phones: [...job.final.model.phones.symbols],
    split: d.split,
  };
}

/** A split of which no utterance was aligned. */
export function noneAligned(d: SplitData, found: string): CorpusError {
  return new CorpusError(`no utterance of split '${d.split}' could be aligned`, {
    file: d.featuresPath,
    expected: 'at least one aligned utterance',
    found,
  });
}

/** Label quality against the supervisions' reference word timings, where they have them (null otherwise). */
export async function scoreLabels(d: SplitData, alignmentFile: string, logger: Logger): Promise<LabelQuality | null> {
  if (![...d.supervisions.values()].some((x) => x.referenceWords)) return null;
  const quality = labelQuality(
    await scoreAlignmentFile(alignmentFile, d.dataDir, d.split, {
      frameLengthMs: d.featureMeta.featureConfig.frameLengthMs,
    }),
  );
  if (quality)
    logger.info(
      `align ${d.split}: word boundaries within 20 / 50 ms ${quality.boundariesWithin20ms} / ${quality.boundariesWithin50ms} %, starts ${quality.startsWithin20ms} / ${quality.startsWithin50ms} %, ends within 50 ms ${quality.endsWithin50ms} %, median offsets start ${quality.medianStartOffsetMs} / end ${quality.medianEndOffsetMs} ms${quality.silenceOutsidePauses === null ? '' : `; silence frames outside the reference pauses ${quality.silenceOutsidePauses} %`}`,
    );
  return quality;
}

/** The split's summary: "Done N, failed M", supervisions without features, reference-span counts. */
export function summariseSplit(d: SplitData, part: SplitPart, quality: LabelQuality | null): SplitAlignSummary {
  const { skips, adaptation } = part;
  // Supervisions the features stage skipped never reach the aligner: count them apart.
  const noTranscript = skips.reasons.find((x) => x.reason === NO_TRANSCRIPT_REASON)?.count ?? 0;
  // With VTLP copies every term counts each real supervision 1 + copies times.
  const withoutFeatures =
    (d.supervisions.size - (d.featureMeta.counts.utterances - noTranscript)) / (1 + d.featureMeta.vtlpWarps.length);
  return {
    message: `Done ${skips.done}, failed ${skips.skipped}`,
    done: skips.done,
    failed: skips.skipped,
    frames: part.frames,
    withoutFeatures,
    reasons: skips.reasons,
    ...(quality ? { labelQuality: quality } : {}),
    ...(adaptation
      ? { speakerAdaptation: { ...adaptation, gainPerFrame: Number(adaptation.gainPerFrame.toFixed(6)) } }
      : {}),
    ...(part.spans ? { referenceTimings: part.spans } : {}),
  };
}

/** The split's log lines: what was done and skipped (`skipText`), and how the reference spans constrained it. */
export function logSplit(
  d: SplitData,
  skipText: string,
  summary: SplitAlignSummary,
  job: FinalAlignment,
  logger: Logger,
): void {
  const { withoutFeatures } = summary;
  (summary.failed > 0 ? logger.warn : logger.info)(
    `align ${d.split}: ${skipText}${withoutFeatures ? `\n  (${withoutFeatures} supervisions have no features)` : ''}`,
  );
  const sc = summary.referenceTimings;
  if (sc) {
    const mis = Object.entries(sc.mismatched).map(([x, n]) => `${n} x ${x}`);
    (sc.dropped + sc.noReference + mis.length > 0 ? logger.warn : logger.info)(
      `align ${d.split}: ${sc.kept} utterances within their reference word spans (collar ${job.referenceCollarMs} ms)` +
        `${sc.dropped ? `, ${sc.dropped} aligned without them (no path within)` : ''}${sc.noReference ? `, ${sc.noReference} without reference timings` : ''}` +
        `${mis.length ? `, timings unusable: ${mis.join(', ')}` : ''}`,
    );
  }
}

/**
 * Skips of a split whose VTLP copies inherit their source's alignment: a source that cannot be
 * aligned (or has no transcript) fails its copies too, for the same reason, so the counts are
 * those of aligning every copy on its own. With no warps, a plain SkipCounter.
 */
class SourceAndCopySkips extends SkipCounter {
  private readonly warps: readonly number[];

  constructor(warps: readonly number[]) {
    super();
    this.warps = warps;
  }

  override skip(uttId: string, reason: string): void {
    super.skip(uttId, reason);
    for (const w of this.warps) super.skip(vtlpId(w, uttId), reason);
  }
}
