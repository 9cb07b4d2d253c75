/**
 * GMM features read lazily from the feature store: for each utterance of a split's Arrow file,
 * the `mfcc` column with per-speaker CMVN (statistics from `<split>.cmvn.json`, Kaldi apply-cmvn)
 * and deltas + delta-deltas (Kaldi add-deltas), as train_mono.sh / align_si.sh compute them.
 * One utterance is in memory at a time; every pass re-reads the file.
 */
import { existsSync } from 'node:fs';
import { readCmvnFile } from '../features/cmvn-file.ts';
import { applyCmvn } from '../features/cmvn.ts';
import { addDeltas } from '../features/deltas.ts';
import { featurePaths } from '../features/compute.ts';
import { isVtlpCopy, perturbedSupervisions } from '../features/perturb.ts';
import {
  FeatureFileReader,
  readFeatureFile,
  readFeatureMetadata,
  type FeatureFileMetadata,
} from '../features/store.ts';
import { readSplit } from '../corpus/manifest.ts';
import type { TimedSymbol } from '../corpus/types.ts';
import { CorpusError, FormatError, SkipCounter } from '../util/errors.ts';
import type { TrainingUtterance, UtteranceSource } from '../hmm/train.ts';
import type { CmvnStats } from '../features/cmvn.ts';
import type { FeatureTransform } from '../hmm/feature-transform.ts';
import type { TrainingBlocks } from './blocks.ts';
import { referenceWordSpans, type SpanCounter, type SpanMismatch } from './spans.ts';

export interface GmmFeatureOptions {
  /** Divide by the per-speaker standard deviation too. Default false (Kaldi apply-cmvn, train_mono.sh cmvn_opts ""). */
  cmvnNormVars?: boolean;
  /** Delta order: 2 = MFCC + delta + delta-delta (Kaldi add-deltas). Default 2. */
  deltaOrder?: number;
  /** Delta regression half-window in frames. Default 2. */
  deltaWindow?: number;
}

/** What the aligner keeps of a supervision (transcript and, if any, reference word timings). */
export interface SupervisionInfo {
  words: string[];
  speaker: string;
  /** Offset of the supervision in its recording (reference timings are relative to the recording). */
  startSec: number;
  referenceWords?: TimedSymbol[];
}

/** One split of one prepared corpus with its features. */
export interface SplitData {
  dataDir: string;
  featuresDir: string;
  split: string;
  featuresPath: string;
  cmvnPath: string;
  featureMeta: FeatureFileMetadata;
  supervisions: Map<string, SupervisionInfo>;
}

/** Check the feature files of a split and read its transcripts. */
export async function openSplit(dataDir: string, featuresDir: string, split: string): Promise<SplitData> {
  const paths = featurePaths(featuresDir, split);
  if (!existsSync(paths.features))
    throw new FormatError(`no features for split '${split}'`, {
      file: paths.features,
      expected: 'the output of the features stage for this split',
    });
  if (!existsSync(paths.cmvn))
    throw new FormatError(`no CMVN statistics for split '${split}'`, {
      file: paths.cmvn,
      expected: 'the output of the features stage for this split',
    });
  const featureMeta = await readFeatureMetadata(paths.features, { mfcc: true });
  const manifest = await readSplit(dataDir, split);
  const supervisions = new Map<string, SupervisionInfo>();
  for (const s of manifest.supervisions) {
    const text = s.text.trim();
    supervisions.set(s.id, {
      words: text === '' ? [] : text.split(/\s+/),
      speaker: s.speaker,
      startSec: s.startSec,
      ...(s.alignment?.word ? { referenceWords: s.alignment.word } : {}),
    });
  }
  // VTLP copies in the feature file: the transcript (and reference timings) of their source.
  for (const [id, info] of perturbedSupervisions(supervisions, featureMeta.vtlpWarps, paths.features))
    supervisions.set(id, info);
  return { dataDir, featuresDir, split, featuresPath: paths.features, cmvnPath: paths.cmvn, featureMeta, supervisions };
}

/** Skip reason: an utterance of the feature file has no supervision in the manifest. */
export const NO_TRANSCRIPT_REASON = 'no supervision in the manifest';

export interface FeatureSourceOptions extends GmmFeatureOptions {
  /**
   * Counts utterances that cannot be used (no transcript); filled on the first pass only,
   * so a source iterated 75 times counts each problem once.
   */
  skips?: SkipCounter;
  /**
   * Leave out the VTLP copies of the feature files (ids `vtlp<w>-<utt>` for the warps their
   * metadata lists): the GMM-HMM then trains on, and aligns, the real recordings only. Default false.
   */
  skipVtlpCopies?: boolean;
  /**
   * Constrain each word to its reference timing widened by this many seconds on both sides
   * (src/align/spans.ts); null or absent: no constraints. Utterances without reference timings, or
   * with timings that do not fit the transcript, align unconstrained.
   */
  spanCollarSec?: number | null;
  /** Counts, on the first pass, the utterances that get no spans and why. */
  spanCounts?: SpanCounter;
  /**
   * tri2b / tri3b features: splicing, the LDA+MLLT matrix and the speaker's fMLLR, in the state the
   * transform is in when an utterance is read (training updates it between passes). It replaces
   * the deltas. Default: none (CMVN + deltas).
   */
  transform?: FeatureTransform | null;
  /** Only the utterances it keeps (a shard's block); the others are passed over, not counted. */
  keep?: (uttId: string) => boolean;
}

/**
 * A re-iterable UtteranceSource over one or more splits (concatenated, in order). Utterance ids
 * must be unique across them (a CorpusError otherwise).
 */
export function featureSource(splits: readonly SplitData[], opts: FeatureSourceOptions = {}): UtteranceSource {
  let pass = 0;
  const cmvnOf = cmvnReader();
  return () => {
    const first = pass === 0;
    pass++;
    return (async function* (): AsyncGenerator<TrainingUtterance> {
      const seen = first ? new Set<string>() : null;
      for (const d of splits) {
        const cmvn = await cmvnOf(d);
        const warps = opts.skipVtlpCopies ? d.featureMeta.vtlpWarps : [];
        for await (const u of readFeatureFile(d.featuresPath, { mfcc: true })) {
          if (opts.keep && !opts.keep(u.uttId)) continue;
          if (isVtlpCopy(u.uttId, warps)) continue;
          const item = trainingItem(d, cmvn, u, opts, opts.transform ?? null);
          if (item.skip !== undefined) {
            if (first) opts.skips?.skip(u.uttId, item.skip);
            continue;
          }
          if (seen) {
            if (seen.has(u.uttId))
              throw new CorpusError('utterance id occurs in two training sets', {
                file: d.featuresPath,
                uttId: u.uttId,
                expected: 'unique utterance ids across the training corpora',
              });
            seen.add(u.uttId);
          }
          if (first && opts.spanCounts && item.spanNote !== undefined) {
            if (item.spanNote === NO_REFERENCE) opts.spanCounts.noReference++;
            else opts.spanCounts.mismatch(item.spanNote as SpanMismatch);
          }
          yield item;
        }
      }
    })();
  };
}

/** Each split's MFCC CMVN statistics, read once. */
function cmvnReader(): (d: SplitData) => Promise<CmvnOfSplit> {
  const cache = new Map<string, CmvnOfSplit>();
  return async (d) => {
    let c = cache.get(d.cmvnPath);
    if (!c) {
      const f = await readCmvnFile(d.cmvnPath);
      const stream = f.streams.get('mfcc');
      if (!stream)
        throw new FormatError('CMVN statistics have no mfcc stream', {
          file: d.cmvnPath,
          expected: 'streams.mfcc (features computed with an mfcc column)',
        });
      c = { utt2spk: f.utt2spk, stats: stream.speakers };
      cache.set(d.cmvnPath, c);
    }
    return c;
  };
}

export interface BlockedSourceOptions extends GmmFeatureOptions {
  /** Reference word spans (see FeatureSourceOptions.spanCollarSec). */
  spanCollarSec?: number | null;
  /** The transform of the pass about to read (null: CMVN + deltas); asked once per pass. */
  transformOf?: () => FeatureTransform | null;
  /** Only blocks [from, to) (a shard's), read by random access; default: every block, read in file order. */
  range?: [number, number];
}

/**
 * The GMM training source over fixed blocks (./blocks.ts): every training utterance of the plan,
 * in block order, with its block; an utterance without a supervision comes as a `skip` item and
 * one without usable reference timings with a `spanNote` (the first pass counts them).
 */
export function blockedFeatureSource(blocks: TrainingBlocks, opts: BlockedSourceOptions = {}): UtteranceSource {
  const cmvnOf = cmvnReader();
  return () =>
    (async function* (): AsyncGenerator<TrainingUtterance> {
      const transform = opts.transformOf?.() ?? null;
      const [from, to] = opts.range ? blocks.positions(opts.range[0], opts.range[1]) : [0, blocks.total];
      for (const s of blocks.splits) {
        const lo = Math.max(from, s.offset) - s.offset;
        const hi = Math.min(to, s.offset + s.ids.length) - s.offset;
        if (lo >= hi) continue;
        const cmvn = await cmvnOf(s.data);
        const item = (
          u: { uttId: string; mfcc?: { numFrames: number; dim: number; data: Float32Array } },
          k: number,
        ) => {
          if (u.uttId !== s.ids[k])
            throw new FormatError('feature file changed since its utterances were cut into blocks', {
              file: s.data.featuresPath,
              uttId: u.uttId,
              expected: `utterance ${s.ids[k]} at position ${k}`,
            });
          return { ...trainingItem(s.data, cmvn, u, opts, transform), block: blocks.blockAt(s.offset + k) };
        };
        if (opts.range) {
          const reader = await FeatureFileReader.open(s.data.featuresPath, { mfcc: true });
          try {
            for (let k = lo; k < hi; k++) yield item(await reader.readUtterance(s.indices[k]), k);
          } finally {
            await reader.close();
          }
          continue;
        }
        let k = 0;
        const warps = blocks.inherit ? s.data.featureMeta.vtlpWarps : [];
        for await (const u of readFeatureFile(s.data.featuresPath, { mfcc: true })) {
          if (isVtlpCopy(u.uttId, warps)) continue;
          yield item(u, k++);
        }
        if (k !== s.ids.length)
          throw new FormatError('feature file changed since its utterances were cut into blocks', {
            file: s.data.featuresPath,
            expected: `${s.ids.length} training utterances`,
            found: String(k),
          });
      }
    })();
}

/** `spanNote` of an utterance without reference timings. */
export const NO_REFERENCE = 'no-reference';

type CmvnOfSplit = { utt2spk: Map<string, string>; stats: Map<string, CmvnStats> };

/**
 * A feature file's utterance as a training utterance: its transcript, GMM frames (CMVN, then deltas
 * or `transform`) and reference word spans; `skip` where it has no supervision, `spanNote` where
 * spans were asked for and it gets none (no reference timings, or timings that do not fit).
 */
function trainingItem(
  d: SplitData,
  cmvn: CmvnOfSplit,
  u: { uttId: string; mfcc?: { numFrames: number; dim: number; data: Float32Array } },
  opts: GmmFeatureOptions & { spanCollarSec?: number | null },
  transform: FeatureTransform | null,
): TrainingUtterance {
  const sup = d.supervisions.get(u.uttId);
  if (!sup) return { uttId: u.uttId, frames: [], words: [], skip: NO_TRANSCRIPT_REASON };
  const { frames, speaker } = gmmFrames(u.mfcc!, cmvn, sup.speaker, u.uttId, d.cmvnPath, { ...opts, transform });
  let wordSpans = null;
  let spanNote: string | undefined;
  if (opts.spanCollarSec != null) {
    if (!sup.referenceWords) spanNote = NO_REFERENCE;
    else {
      const fc = d.featureMeta.featureConfig;
      const r = referenceWordSpans(sup.referenceWords, sup.words, sup.startSec, frames.length, {
        frameShiftMs: fc.frameShiftMs,
        frameLengthMs: fc.frameLengthMs,
        collarSec: opts.spanCollarSec,
      });
      if ('mismatch' in r) spanNote = r.mismatch;
      else wordSpans = r;
    }
  }
  return {
    uttId: u.uttId,
    frames,
    words: sup.words,
    wordSpans,
    speaker,
    ...(spanNote !== undefined ? { spanNote } : {}),
  };
}

/** CMVN with the speaker's statistics, then deltas (or the transform); returns one row per frame and the speaker. */
function gmmFrames(
  mfcc: { numFrames: number; dim: number; data: Float32Array },
  cmvn: CmvnOfSplit,
  speaker: string,
  uttId: string,
  cmvnPath: string,
  opts: GmmFeatureOptions & { transform?: FeatureTransform | null },
): { frames: Float32Array[]; speaker: string } {
  const spk = cmvn.utt2spk.get(uttId) ?? speaker;
  const stats = cmvn.stats.get(spk);
  if (!stats)
    throw new FormatError('no CMVN statistics for the speaker', {
      file: cmvnPath,
      uttId,
      expected: `streams.mfcc.speakers['${spk}']`,
      found: 'none',
    });
  const normed = applyCmvn(mfcc, stats, { normVars: opts.cmvnNormVars ?? false });
  if (opts.transform) return { frames: opts.transform.apply(normed, spk), speaker: spk };
  const m = addDeltas(normed, { order: opts.deltaOrder ?? 2, window: opts.deltaWindow ?? 2 });
  const rows: Float32Array[] = new Array(m.numFrames);
  for (let t = 0; t < m.numFrames; t++) rows[t] = m.data.subarray(t * m.dim, (t + 1) * m.dim);
  return { frames: rows, speaker: spk };
}
