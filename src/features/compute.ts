/**
 * The `features` stage: a split's manifest -> `<outDir>/<split>.arrow` (fbank + mfcc per frame)
 * and `<outDir>/<split>.cmvn.json` (per-speaker CMVN statistics). With `shard: {index, count}`
 * the outputs are `<split>.<index>-of-<count>.arrow` / `.cmvn.json` and hold a contiguous block
 * of the supervisions (manifest order), so concatenating the shards in index order
 * (`mergeFeatureShards`) gives exactly the unsharded file.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { AudioFormatError, ConfigError, CorpusError, FormatError, SkipCounter } from '../util/errors.ts';
import { hashConfig } from '../util/hash.ts';
import { log as defaultLogger, type Logger } from '../util/log.ts';
import { Rng, hashString32 } from '../util/rng.ts';
import { readCorpusInfo, readSplit, CORPUS_INFO_FILE } from '../corpus/manifest.ts';
import type { Recording, Supervision } from '../corpus/types.ts';
import { FbankComputer } from './fbank.ts';
import { extractFeatures } from './frontend.ts';
import { MfccComputer } from './mfcc.ts';
import { fbankOptions, frameOptionsOf, mfccOptions, type FbankOptions, type MfccOptions } from './options.ts';
import {
  FeatureFileWriter,
  mergeFeatureFiles,
  readFeatureFile,
  type FeatureConfig,
  type FeatureFileMetadata,
  type ShardSpec,
} from './store.ts';
import { SpeakerCmvn, mergeCmvnFiles, writeCmvnFile } from './cmvn-file.ts';
import type { FeatureMatrix } from './matrix.ts';
import { checkVtlpWarps, vtlpId } from './perturb.ts';
import { checkSamples } from '../audio/check.ts';

/** Decoded audio as the audio module returns it: floats in [-1, 1) (int16 / 32768). */
export interface DecodedAudio {
  sampleRateHz: number;
  samples: Float32Array;
}

export type AudioReader = (
  path: string,
  opts: { channel?: number; startSec?: number; durationSec?: number },
) => Promise<DecodedAudio>;

/** Skip reason of an utterance whose audio has NaN or infinite samples. */
export const NON_FINITE_AUDIO_REASON = 'non-finite audio samples';

/** The feature defaults of the pipeline: Kaldi's, with 40 mel bins (the paper's DNN input). */
export const STAGE_FBANK_DEFAULTS: Readonly<Partial<FbankOptions>> = Object.freeze({ numMelBins: 40 });

export interface ComputeFeaturesOptions {
  /** Prepared data directory: corpus.json + <split>/{recordings,supervisions}.jsonl. */
  dataDir: string;
  /** Split name, e.g. "train". */
  split: string;
  /** Where <split>[.<i>-of-<N>].arrow and .cmvn.json are written. */
  outDir: string;
  /** Filterbank options over Kaldi's defaults; default numMelBins 40. */
  fbank?: Partial<FbankOptions>;
  /**
   * MFCC options for the GMM stage over Kaldi's compute-mfcc-feats defaults; frame options
   * (shift, length, dither, window, ...) default to the fbank's so that both share one FFT.
   * `false`: no mfcc column. Default {}.
   */
  mfcc?: Partial<MfccOptions> | false;
  /** Compute only shard `index` (0-based) of `count`. Default: the whole split. */
  shard?: ShardSpec;
  /** Progress and the skip report. Default: the stderr logger. */
  logger?: Logger;
  /** Audio decoder. Default: readAudioChannel from src/audio. */
  readAudio?: AudioReader;
  /**
   * VTLP copies (src/features/perturb.ts): after each utterance, one copy per warp factor, with
   * the mel bins warped (Kaldi vtlnWarp), id and speaker `vtlp<warp>-<...>`. Default [] (none).
   */
  vtlpWarps?: number[];
}

export interface ComputeFeaturesResult {
  featuresPath: string;
  cmvnPath: string;
  configHash: string;
  featureConfig: FeatureConfig;
  utterances: number;
  frames: number;
  skipped: ReturnType<SkipCounter['toJSON']>;
  metadata: FeatureFileMetadata;
}

/** Output paths of a split (and shard). */
export function featurePaths(
  outDir: string,
  split: string,
  shard?: ShardSpec | null,
): { features: string; cmvn: string } {
  const base = shard ? `${split}.${shard.index}-of-${shard.count}` : split;
  return { features: join(outDir, `${base}.arrow`), cmvn: join(outDir, `${base}.cmvn.json`) };
}

/** Supervision index range [start, end) of a shard: contiguous blocks in manifest order. */
export function shardRange(total: number, shard?: ShardSpec | null): [number, number] {
  if (!shard) return [0, total];
  const { index, count } = shard;
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new ConfigError('bad shard', {
      keyPath: 'shard',
      expected: 'integers 0 <= index < count',
      found: JSON.stringify(shard),
    });
  }
  return [Math.floor((index * total) / count), Math.floor(((index + 1) * total) / count)];
}

/** The resolved options and their hash, as recorded in the outputs. */
export function resolveFeatureConfig(
  fbankUser: Partial<FbankOptions> | undefined,
  mfccUser: Partial<MfccOptions> | false | undefined,
  sampleRateHz: number,
): { featureConfig: FeatureConfig; configHash: string } {
  const fbank = fbankOptions({ ...STAGE_FBANK_DEFAULTS, ...(fbankUser ?? {}) }, 'fbank');
  if (fbank.sampleRateHz !== undefined && fbank.sampleRateHz !== sampleRateHz) {
    throw new FormatError('corpus sample rate differs from the configured fbank.sampleRateHz', {
      expected: `${fbank.sampleRateHz} Hz`,
      found: `${sampleRateHz} Hz`,
    });
  }
  fbank.sampleRateHz = sampleRateHz;
  let mfcc: MfccOptions | null = null;
  if (mfccUser !== false) {
    mfcc = mfccOptions({ ...frameOptionsOf(fbank), ...(mfccUser ?? {}) }, 'mfcc');
    if (mfcc.sampleRateHz !== sampleRateHz) {
      throw new FormatError('corpus sample rate differs from the configured mfcc.sampleRateHz', {
        expected: `${mfcc.sampleRateHz} Hz`,
        found: `${sampleRateHz} Hz`,
      });
    }
    if (
      mfcc.frameShiftMs !== fbank.frameShiftMs ||
      mfcc.frameLengthMs !== fbank.frameLengthMs ||
      mfcc.snipEdges !== fbank.snipEdges
    ) {
      throw new ConfigError('mfcc and fbank must use the same frames (they share one file)', {
        keyPath: 'mfcc.frameShiftMs/frameLengthMs/snipEdges',
        expected: `${fbank.frameShiftMs} ms / ${fbank.frameLengthMs} ms / snipEdges ${fbank.snipEdges}`,
        found: `${mfcc.frameShiftMs} ms / ${mfcc.frameLengthMs} ms / snipEdges ${mfcc.snipEdges}`,
      });
    }
  }
  const featureConfig: FeatureConfig = {
    sampleRateHz,
    frameShiftMs: fbank.frameShiftMs,
    frameLengthMs: fbank.frameLengthMs,
    numMelBins: fbank.numMelBins,
    fbankDim: fbank.numMelBins + (fbank.useEnergy ? 1 : 0),
    mfccDim: mfcc ? mfcc.numCeps : null,
    fbank,
    mfcc,
  };
  return { featureConfig, configHash: hashConfig(featureConfig) };
}

/** The extractors (fbank, then mfcc if configured) of a feature config at one sample rate. */
export interface FeatureExtractors {
  extractors: (FbankComputer | MfccComputer)[];
  /** Per VTLP warp, the same extractors with the warp of the copy. */
  copies: { warp: number; extractors: (FbankComputer | MfccComputer)[] }[];
}

/**
 * Build the extractors of `featureConfig` at `sampleRateHz`, which checks every option that
 * depends on the rate (mel bins per FFT bin, cutoffs below Nyquist, VTLN cutoffs of every warp)
 * before any audio is read: a ConfigError whose key path names the group (`fbank.numMelBins`).
 */
export function featureExtractors(
  featureConfig: Pick<FeatureConfig, 'fbank' | 'mfcc'>,
  sampleRateHz: number,
  warps: readonly number[] = [],
): FeatureExtractors {
  const vtlpWarps = checkVtlpWarps([...warps], 'vtlpWarps');
  const warped = [featureConfig.fbank, featureConfig.mfcc].find((o) => o && o.vtlnWarp !== 1);
  if (vtlpWarps.length > 0 && warped) {
    throw new ConfigError('VTLP copies need unwarped features', {
      keyPath: `${warped === featureConfig.fbank ? 'fbank' : 'mfcc'}.vtlnWarp`,
      expected: 'vtlnWarp 1 (the copies set their own warp)',
      found: String(warped.vtlnWarp),
    });
  }
  const make = (warp: number | null) => {
    const fb = inGroup(
      'fbank',
      () =>
        new FbankComputer(
          warp === null ? featureConfig.fbank : { ...featureConfig.fbank, vtlnWarp: warp },
          sampleRateHz,
        ),
    );
    const mfcc = featureConfig.mfcc;
    const mf = mfcc
      ? inGroup('mfcc', () => new MfccComputer(warp === null ? mfcc : { ...mfcc, vtlnWarp: warp }, sampleRateHz))
      : null;
    return mf ? [fb, mf] : [fb];
  };
  return { extractors: make(null), copies: vtlpWarps.map((warp) => ({ warp, extractors: make(warp) })) };
}

/** Run `fn`; an option error of it (key path `numMelBins`) becomes one of `group` (`fbank.numMelBins`). */
function inGroup<T>(group: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigError && err.location.keyPath && !err.location.file) {
      throw new ConfigError(err.detail, {
        ...err.location,
        keyPath: `${group}.${err.location.keyPath}`,
        expected: err.expected,
        found: err.found,
        cause: err,
      });
    }
    throw err;
  }
}

async function defaultAudioReader(): Promise<AudioReader> {
  // Loaded on first use so that this module does not need the decoders until audio is read.
  const mod = (await import('../audio/index.ts')) as { readAudioChannel: AudioReader };
  return mod.readAudioChannel;
}

function firstNonFinite(m: FeatureMatrix): number {
  for (let i = 0; i < m.data.length; i++) if (!Number.isFinite(m.data[i])) return i;
  return -1;
}

/** The corpus rate and where it came from (named in errors): configured, else corpus.json, else the first recording's. */
interface CorpusRate {
  hz: number;
  source: string;
}

async function corpusSampleRate(opts: ComputeFeaturesOptions, recordings: readonly Recording[]): Promise<CorpusRate> {
  let corpusRate = opts.fbank?.sampleRateHz;
  let rateSource = 'fbank.sampleRateHz';
  if (corpusRate === undefined && existsSync(join(opts.dataDir, CORPUS_INFO_FILE))) {
    corpusRate = (await readCorpusInfo(opts.dataDir)).sampleRateHz;
    rateSource = join(opts.dataDir, CORPUS_INFO_FILE);
  }
  if (corpusRate === undefined) {
    if (recordings.length === 0)
      throw new CorpusError('split has no recordings', { file: join(opts.dataDir, opts.split) });
    corpusRate = recordings[0].sampleRateHz;
    rateSource = `recording ${recordings[0].id}`;
  }
  return { hz: corpusRate, source: rateSource };
}

/**
 * The samples of one supervision, or null after counting a skip (recording not in the manifest,
 * missing or unreadable audio, non-finite samples). A sample rate other than the corpus's is fatal.
 */
async function readSupervisionAudio(
  sup: Supervision,
  rec: Recording | undefined,
  rate: CorpusRate,
  readAudio: AudioReader,
  skips: SkipCounter,
  logger: Logger,
): Promise<DecodedAudio | null> {
  if (!rec) {
    skips.skip(sup.id, 'recording not in the manifest');
    return null;
  }
  if (rec.sampleRateHz !== rate.hz) {
    throw new FormatError('recording sample rate differs from the corpus', {
      file: rec.path,
      uttId: sup.id,
      expected: `${rate.hz} Hz (${rate.source})`,
      found: `${rec.sampleRateHz} Hz`,
    });
  }
  if (!existsSync(rec.path)) {
    skips.skip(sup.id, 'missing audio file');
    logger.warn(`skipping ${sup.id}: ${rec.path} not found`);
    return null;
  }
  let audio: DecodedAudio;
  try {
    audio = await readAudio(rec.path, { channel: rec.channel, startSec: sup.startSec, durationSec: sup.durationSec });
  } catch (err) {
    if (err instanceof AudioFormatError) {
      skips.skip(sup.id, 'unreadable audio');
      logger.warn(`skipping ${sup.id}: ${err.message}`);
      return null;
    }
    if ((err as NodeJS.ErrnoException)?.code === 'ENOENT') {
      skips.skip(sup.id, 'missing audio file');
      logger.warn(`skipping ${sup.id}: ${rec.path} not found`);
      return null;
    }
    throw err;
  }
  if (audio.sampleRateHz !== rate.hz) {
    throw new FormatError('audio sample rate differs from the corpus', {
      file: rec.path,
      uttId: sup.id,
      expected: `${rate.hz} Hz (${rate.source})`,
      found: `${audio.sampleRateHz} Hz`,
    });
  }
  // NaN / infinite samples (float WAVs) would come out as floor values in every feature set.
  try {
    const { warning } = checkSamples(audio.samples, rate.hz, rec.path, Math.round((sup.startSec ?? 0) * rate.hz));
    if (warning) logger.warn(`${sup.id}: ${warning}`);
  } catch (err) {
    if (!(err instanceof AudioFormatError)) throw err;
    skips.skip(sup.id, NON_FINITE_AUDIO_REASON, err.message);
    logger.warn(`skipping ${sup.id}: ${err.message}`);
    return null;
  }
  return audio;
}

/** The features of one version of an utterance (itself or a VTLP copy) and the speaker it counts for. */
interface ComputedVersion {
  id: string;
  speaker: string;
  fbank: FeatureMatrix;
  mfcc?: FeatureMatrix;
}

/**
 * The utterance, then its VTLP copies (each dithered with its own seed): all of them, or the
 * reason none is written (an utterance is written with all its copies or not at all).
 */
function computeVersions(
  sup: Supervision,
  samples: Float32Array,
  sampleRateHz: number,
  x: FeatureExtractors,
  dither: { seed: number } | null,
): { versions: ComputedVersion[] } | { reason: string } {
  const versions = [
    { id: sup.id, speaker: sup.speaker, extractors: x.extractors },
    ...x.copies.map((c) => ({
      id: vtlpId(c.warp, sup.id),
      speaker: vtlpId(c.warp, sup.speaker),
      extractors: c.extractors,
    })),
  ];
  const computed: ComputedVersion[] = [];
  for (const v of versions) {
    const rng = dither ? new Rng(hashString32(`${dither.seed}:${v.id}`)) : undefined;
    const [fbank, mfcc] = extractFeatures(samples, sampleRateHz, v.extractors, { rng, uttId: v.id });
    let reason: string | null = null;
    if (fbank.numFrames === 0) reason = 'shorter than one frame';
    else if (firstNonFinite(fbank) >= 0 || (mfcc && firstNonFinite(mfcc) >= 0)) reason = 'non-finite features';
    if (reason) return { reason };
    computed.push({ id: v.id, speaker: v.speaker, fbank, mfcc });
  }
  return { versions: computed };
}

/**
 * Compute fbank (+ mfcc) features and per-speaker CMVN statistics of one split (or shard).
 * A bad utterance (undecodable or missing audio, shorter than one frame) is a counted skip;
 * a sample rate that differs from the corpus is fatal; a run that writes nothing fails.
 */
export async function computeFeatures(opts: ComputeFeaturesOptions): Promise<ComputeFeaturesResult> {
  const logger = opts.logger ?? defaultLogger;
  const manifest = await readSplit(opts.dataDir, opts.split);
  const recordings = new Map<string, Recording>(manifest.recordings.map((r) => [r.id, r]));
  const rate = await corpusSampleRate(opts, manifest.recordings);
  const { featureConfig, configHash } = resolveFeatureConfig(opts.fbank, opts.mfcc, rate.hz);
  const extractors = featureExtractors(featureConfig, rate.hz, opts.vtlpWarps ?? []);
  const vtlpWarps = extractors.copies.map((c) => c.warp);
  const dithering = featureConfig.fbank.dither !== 0 || (featureConfig.mfcc?.dither ?? 0) !== 0;
  const dither = dithering ? { seed: featureConfig.fbank.ditherSeed } : null;

  const [start, end] = shardRange(manifest.supervisions.length, opts.shard);
  const sups: Supervision[] = manifest.supervisions.slice(start, end);
  const paths = featurePaths(opts.outDir, opts.split, opts.shard);
  const readAudio = opts.readAudio ?? (await defaultAudioReader());

  const skips = new SkipCounter();
  const fbankCmvn = new SpeakerCmvn(featureConfig.fbankDim);
  const mfccCmvn = featureConfig.mfccDim ? new SpeakerCmvn(featureConfig.mfccDim) : null;
  const utt2spk = new Map<string, string>();
  const shardLabel = opts.shard ? ` shard ${opts.shard.index + 1}/${opts.shard.count}` : '';
  const progress = logger.progress(`features ${opts.split}${shardLabel}`, sups.length, 'utterances');
  const writer = await FeatureFileWriter.open(paths.features, {
    configHash,
    featureConfig,
    stage: 'features',
    split: opts.split,
    shard: opts.shard ?? null,
    vtlpWarps,
  });
  let metadata: FeatureFileMetadata;
  try {
    for (const sup of sups) {
      progress.tick();
      const audio = await readSupervisionAudio(sup, recordings.get(sup.recordingId), rate, readAudio, skips, logger);
      if (!audio) continue;
      const computed = computeVersions(sup, audio.samples, rate.hz, extractors, dither);
      if ('reason' in computed) {
        skips.skip(sup.id, computed.reason);
        continue;
      }
      for (const c of computed.versions) {
        writer.add(c.id, c.fbank, c.mfcc);
        fbankCmvn.of(c.speaker).accumulate(c.fbank);
        if (mfccCmvn && c.mfcc) mfccCmvn.of(c.speaker).accumulate(c.mfcc);
        utt2spk.set(c.id, c.speaker);
      }
      skips.done++;
    }
    if (writer.utterances === 0) {
      throw new CorpusError('the features stage produced nothing', {
        file: join(opts.dataDir, opts.split),
        expected: 'at least one utterance with features',
        found: `${sups.length} planned; ${skips.summary()}`,
      });
    }
    metadata = await writer.finish(skips.skipped);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  const streams = new Map<string, SpeakerCmvn>([['fbank', fbankCmvn]]);
  if (mfccCmvn) streams.set('mfcc', mfccCmvn);
  await writeCmvnFile(paths.cmvn, { configHash, split: opts.split, shard: opts.shard ?? null, utt2spk, streams });
  progress.done(`${metadata.counts.frames} frames`);
  if (skips.skipped > 0) logger.warn(skips.summary('utterances'));
  else logger.info(skips.summary('utterances'));
  return {
    featuresPath: paths.features,
    cmvnPath: paths.cmvn,
    configHash,
    featureConfig,
    utterances: metadata.counts.utterances,
    frames: metadata.counts.frames,
    skipped: skips.toJSON(),
    metadata,
  };
}

/** Concatenate the shard outputs 0..count-1 of a split into the unsharded files. */
export async function mergeFeatureShards(
  outDir: string,
  split: string,
  count: number,
): Promise<{ featuresPath: string; cmvnPath: string; metadata: FeatureFileMetadata }> {
  const shards = Array.from({ length: count }, (_, index) => featurePaths(outDir, split, { index, count }));
  for (const p of shards) {
    if (!existsSync(p.features))
      throw new FormatError('shard output missing', { file: p.features, expected: `all ${count} shards computed` });
  }
  return mergeFeatureParts(shards, outDir, split);
}

/** Concatenate the outputs of shards (in order) into the unsharded files of a split in `outDir`. */
export async function mergeFeatureParts(
  parts: readonly { features: string; cmvn: string }[],
  outDir: string,
  split: string,
): Promise<{ featuresPath: string; cmvnPath: string; metadata: FeatureFileMetadata }> {
  const out = featurePaths(outDir, split);
  const metadata = await mergeFeatureFiles(
    parts.map((s) => s.features),
    out.features,
    { split },
  );
  const cmvn = await mergeCmvnFiles(
    parts.map((s) => s.cmvn),
    out.cmvn,
    { split },
  );
  // The shards' sums added would differ from the unsharded run's in the last bits (float addition is
  // not associative): the statistics are accumulated again over the merged file, in its order.
  const streams = new Map([...cmvn.streams].map(([name, sc]) => [name, new SpeakerCmvn(sc.dim)]));
  const fbank = streams.get('fbank');
  const mfcc = streams.get('mfcc');
  for await (const u of readFeatureFile(out.features)) {
    const speaker = cmvn.utt2spk.get(u.uttId);
    if (speaker === undefined)
      throw new FormatError('an utterance without a speaker in the CMVN files', {
        file: parts.map((p) => p.cmvn).join(', '),
        uttId: u.uttId,
        expected: 'every utterance of the feature files in utt2spk',
      });
    fbank?.of(speaker).accumulate(u.fbank);
    if (mfcc && u.mfcc) mfcc.of(speaker).accumulate(u.mfcc);
  }
  await writeCmvnFile(out.cmvn, { configHash: cmvn.configHash, split, shard: null, utt2spk: cmvn.utt2spk, streams });
  return { featuresPath: out.features, cmvnPath: out.cmvn, metadata };
}
