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
import { readFeatureFile, readFeatureMetadata, type FeatureFileMetadata } from '../features/store.ts';
import { readSplit } from '../corpus/manifest.ts';
import type { TimedSymbol } from '../corpus/types.ts';
import { CorpusError, FormatError, SkipCounter } from '../util/errors.ts';
import type { TrainingUtterance, UtteranceSource } from '../hmm/train.ts';
import type { CmvnStats } from '../features/cmvn.ts';
import type { FeatureTransform } from '../hmm/feature-transform.ts';
import { referenceWordSpans, type SpanCounter } from './spans.ts';

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
  const cmvnCache = new Map<string, { utt2spk: Map<string, string>; stats: Map<string, CmvnStats> }>();
  const cmvnOf = async (d: SplitData) => {
    let c = cmvnCache.get(d.cmvnPath);
    if (!c) {
      const f = await readCmvnFile(d.cmvnPath);
      const stream = f.streams.get('mfcc');
      if (!stream)
        throw new FormatError('CMVN statistics have no mfcc stream', {
          file: d.cmvnPath,
          expected: 'streams.mfcc (features computed with an mfcc column)',
        });
      c = { utt2spk: f.utt2spk, stats: stream.speakers };
      cmvnCache.set(d.cmvnPath, c);
    }
    return c;
  };
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
          const sup = d.supervisions.get(u.uttId);
          if (!sup) {
            if (first) opts.skips?.skip(u.uttId, NO_TRANSCRIPT_REASON);
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
          const { frames, speaker } = gmmFrames(u.mfcc!, cmvn, sup.speaker, u.uttId, d.cmvnPath, opts);
          let wordSpans = null;
          if (opts.spanCollarSec != null) {
            if (!sup.referenceWords) {
              if (first && opts.spanCounts) opts.spanCounts.noReference++;
            } else {
              const fc = d.featureMeta.featureConfig;
              const r = referenceWordSpans(sup.referenceWords, sup.words, sup.startSec, frames.length, {
                frameShiftMs: fc.frameShiftMs,
                frameLengthMs: fc.frameLengthMs,
                collarSec: opts.spanCollarSec,
              });
              if ('mismatch' in r) {
                if (first) opts.spanCounts?.mismatch(r.mismatch);
              } else wordSpans = r;
            }
          }
          yield { uttId: u.uttId, frames, words: sup.words, wordSpans, speaker };
        }
      }
    })();
  };
}

/** CMVN with the speaker's statistics, then deltas (or the transform); returns one row per frame and the speaker. */
function gmmFrames(
  mfcc: { numFrames: number; dim: number; data: Float32Array },
  cmvn: { utt2spk: Map<string, string>; stats: Map<string, CmvnStats> },
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
