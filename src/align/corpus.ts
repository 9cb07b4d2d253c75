/**
 * The `align` stage (Kaldi's train_mono.sh -> align_si.sh -> train_deltas.sh -> align_si.sh):
 * a prepared data dir + its features -> lang directory, flat-start monophone GMM-HMM, triphone
 * decision tree with `numLeaves` senones, triphone GMM-HMM, and a forced alignment of every split
 * with the final model, written as `<outDir>/<split>.arrow` (see ./store.ts).
 *
 * Output directory (written atomically: a temp dir renamed into place):
 *   lang/                  phones.txt, words.txt, lexicon.txt, oov.txt, lang.json (src/lang)
 *   model.json             the triphone GMM-HMM (phones, topology, transitions, tree, GMMs)
 *   tree.json              the context-dependency tree (also inside model.json)
 *   senones.json           senone inventory: id -> centre phone, HMM state, Gaussians
 *   transitions.json       transition model: (phone, state, destination) -> probability; topo (Kaldi text)
 *   <split>.arrow          frame labels: utt_id, frame, senone, phone, hmm_state, word
 *   summary.json           Done N / failed M per split, senone count, frames-per-senone distribution
 *   config.json            the effective options, config hash, GMM feature config
 *   timing.json            wall-clock times and alignment speed (frames/s); the only
 *                          non-deterministic file (kept apart so the rest is byte-identical per seed;
 *                          the runner's stage records it in stage.json instead)
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCorpusInfo } from '../corpus/manifest.ts';
import { buildLang, writeLang, type Lang } from '../lang/lang.ts';
import { trainMonophone, trainTriphone, alignAll, type GmmHmmModel, type TrainResult, type IterationReport } from '../hmm/train.ts';
import { estimateSpeakerTransforms, trainLdaMllt, trainSat, type SpeakerPassResult, type TransformReport } from '../hmm/train-adapted.ts';
import { FeatureTransform } from '../hmm/feature-transform.ts';
import { loadModel, saveModel, senoneInventory } from '../hmm/model.ts';
import { ContextTree } from '../hmm/tree.ts';
import type { AlignOptions } from '../hmm/align.ts';
import type { LangModel } from '../hmm/graph.ts';
import { ConfigError, CorpusError, FormatError, SkipCounter } from '../util/errors.ts';
import { withAtomicOutput, writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { hashConfig, sha256Hex } from '../util/hash.ts';
import { log as defaultLogger, type Logger } from '../util/log.ts';
import { NO_TRANSCRIPT_REASON, featureSource, openSplit, type GmmFeatureOptions, type SplitData } from './source.ts';
import { AlignmentFileWriter, type AlignmentFileMetadata } from './store.ts';
import { vtlpId } from '../features/perturb.ts';
import { SpanCounter, type SpanSummary } from './spans.ts';
import { labelQuality, scoreAlignmentFile, type LabelQuality } from './score.ts';

export interface AlignCorpusOptions extends GmmFeatureOptions {
  /** Prepared data dir (corpus.json + <split>/*.jsonl). */
  dataDir: string;
  /** Output of the features stage for `dataDir` (<split>.arrow with an mfcc column + <split>.cmvn.json). */
  featuresDir: string;
  /** Output directory (replaced atomically). */
  outDir: string;
  /** Splits to align. Default: every split of the corpus. */
  splits?: string[];
  /** Splits of `dataDir` to train on. Default ['train']. */
  trainSplits?: string[];
  /**
   * More training data from other prepared corpora (e.g. FSDD + synth), same sample rate and
   * MFCC options. `splits` default ['train']. Default: none.
   */
  extraTrain?: { dataDir: string; featuresDir: string; splits?: string[] }[];
  /**
   * Align with the model of a previous alignCorpus output directory instead of training
   * (Kaldi align_si.sh with an existing model). Default: null (train).
   */
  modelDir?: string | null;
  /**
   * Senones: leaves of the triphone tree (Kaldi numleaves). Default 200 (demo / FSDD size). The tree
   * has at least one leaf per (phone, HMM state) seen in training, whatever this says.
   */
  numLeaves?: number;
  /** Frames both sides of a tree split need. Default 50. */
  minLeafOccupancy?: number;
  /** Tree questions: 'cluster' (Kaldi cluster-phones on the data) or 'arpabet' (phone classes). Default 'cluster'. */
  questions?: 'cluster' | 'arpabet';
  /** Monophone iterations. Default 40 (Kaldi train_mono.sh). */
  monoIters?: number;
  /** Monophone Gaussians in total. Default 1000 (Kaldi). */
  monoGaussians?: number;
  /** Triphone iterations. Default 35 (Kaldi train_deltas.sh). */
  triIters?: number;
  /** Triphone Gaussians in total (each triphone stage). Default 5 x numLeaves (Kaldi's run.sh ratio, 2000 leaves / 10000). */
  triGaussians?: number;
  /**
   * The last GMM-HMM of the chain mono -> tri1 -> tri2b -> tri3b, whose alignment labels every
   * split (each stage trains on the previous one's alignment): 'mono' (train_mono.sh), 'tri1'
   * (train_deltas.sh, the default), 'tri2b' (train_lda_mllt.sh: LDA+MLLT on spliced MFCCs),
   * 'tri3b' (train_sat.sh: speaker-adaptive training with fMLLR; every split is aligned as
   * align_fmllr.sh does, with per-speaker transforms from a first pass).
   */
  lastModel?: AlignModelName;
  /** tri2b / tri3b: frames spliced on each side before LDA. Default 3 (Kaldi splice_opts). */
  spliceContext?: number;
  /** tri2b / tri3b: LDA output dimension. Default 40 (Kaldi). */
  ldaDim?: number;
  /** tri2b / tri3b iterations. Default 35 (Kaldi). */
  adaptedIters?: number;
  /** Word-position-dependent phones (_B _I _E _S) in the lang and every model (Kaldi's default). Default false. */
  wordPositionPhones?: boolean;
  /** Beam of the final alignment. Default 10 (Kaldi align_si.sh). */
  beam?: number;
  /** Retry beam of the final alignment. Default 40. */
  retryBeam?: number;
  /** Probability of optional silence between words and at the edges. Default 0.5. */
  optionalSilenceProb?: number;
  /** A corpus lexicon (Kaldi lexicon.txt) whose entries replace CMUdict's. Default none. */
  corpusLexiconPath?: string | null;
  /** Seed of the flat start and of Gaussian splitting. Default 0. */
  seed?: number;
  /**
   * Write timing.json (wall-clock times, frames/s). Default true; the runner's stage sets false and
   * records the timing in stage.json, so that the stage's outputs are byte-identical per seed.
   */
  writeTiming?: boolean;
  /** Progress and the skip report. Default: the stderr logger. */
  logger?: Logger;
  /**
   * VTLP copies in the feature files (src/features/perturb.ts): 'inherit' (default) trains the
   * GMM-HMM on the real recordings only and gives each copy its source's alignment (a copy has the
   * source's frames and transcript; the warp is a label-preserving perturbation), so the models and
   * the real recordings' labels are those of the same corpus without copies. 'realign': train on
   * the copies too and align each copy on its own warped MFCCs.
   */
  vtlpCopies?: 'inherit' | 'realign';
  /**
   * Reference word timings of the supervisions (`alignment.word`): 'ignore' (default, Kaldi's
   * forced alignment from the transcript alone) or 'constrain': every Viterbi alignment, in training
   * and the final one, keeps each word within its reference span widened by referenceCollarMs
   * (src/align/spans.ts), where a path does; optional silence stays free. For corpora whose word
   * times are known (FSDD connected digits' joined takes, TIMIT .wrd): the pauses between words
   * can then only be silence.
   */
  referenceTimings?: 'ignore' | 'constrain';
  /** Widening of each reference word span on both sides, ms. Default 20. */
  referenceCollarMs?: number;
}

/** Files of an align output directory besides model.json (tri2b / tri3b). */
export const TRANSFORM_FILE = 'transform.json';
export const ALIGNMENT_MODEL_FILE = 'alignment-model.json';

/** The GMM-HMM stages, in training order. */
export const ALIGN_MODELS = ['mono', 'tri1', 'tri2b', 'tri3b'] as const;
export type AlignModelName = (typeof ALIGN_MODELS)[number];

export const ALIGN_DEFAULTS = {
  trainSplits: ['train'],
  lastModel: 'tri1' as AlignModelName,
  spliceContext: 3,
  ldaDim: 40,
  adaptedIters: 35,
  wordPositionPhones: false,
  numLeaves: 200,
  minLeafOccupancy: 50,
  questions: 'cluster' as const,
  monoIters: 40,
  monoGaussians: 1000,
  triIters: 35,
  beam: 10,
  retryBeam: 40,
  optionalSilenceProb: 0.5,
  seed: 0,
  cmvnNormVars: false,
  deltaOrder: 2,
  deltaWindow: 2,
  vtlpCopies: 'inherit' as 'inherit' | 'realign',
  referenceTimings: 'ignore' as 'ignore' | 'constrain',
  referenceCollarMs: 20,
};

const KNOWN_KEYS = new Set([
  'dataDir', 'featuresDir', 'outDir', 'splits', 'trainSplits', 'extraTrain', 'modelDir', 'numLeaves', 'minLeafOccupancy', 'questions',
  'monoIters', 'monoGaussians', 'triIters', 'triGaussians', 'beam', 'retryBeam', 'optionalSilenceProb', 'corpusLexiconPath', 'seed',
  'logger', 'writeTiming', 'cmvnNormVars', 'deltaOrder', 'deltaWindow', 'vtlpCopies', 'referenceTimings', 'referenceCollarMs',
  'lastModel', 'spliceContext', 'ldaDim', 'adaptedIters', 'wordPositionPhones',
]);

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

export interface FramesPerSenone {
  /** Splits whose final alignments are counted. */
  splits: string[];
  numSenones: number;
  /** Senones no frame of these splits is aligned to. */
  unseen: number;
  min: number;
  median: number;
  max: number;
  mean: number;
  /** Senones per bucket [fromFrames, toFrames): 0, then powers of two. */
  histogram: { fromFrames: number; toFrames: number; senones: number }[];
}

export interface AlignSummary {
  format: 'am-distill.align-summary';
  version: 1;
  configHash: string;
  numSenones: number;
  numGaussians: number;
  lang: { words: number; oovWords: number; oovTokens: number };
  training: null | {
    corpora: { corpus: string; splits: string[] }[];
    utterances: number;
    skipped: { done: number; skipped: number; reasons: { reason: string; count: number; examples: string[] }[] };
    /** Every GMM-HMM of the chain, in training order; the last one labels the splits. */
    models: ModelSummary[];
    /** With referenceTimings 'constrain': training utterances without usable timings, and those the last realignment aligned without them. */
    referenceTimings?: { noReference: number; mismatched: SpanSummary['mismatched']; droppedLastRealign: number };
  };
  splits: Record<string, SplitAlignSummary>;
  framesPerSenone: FramesPerSenone;
}

export interface ModelSummary {
  name: AlignModelName;
  /** pdfs (monophone) or tree leaves (senones). */
  pdfs: number;
  gaussians: number;
  /** Average log-likelihood per frame in the last iteration (in that model's feature space). */
  logLikePerFrame: number;
  /** Training utterances without an alignment after its last realignment. */
  failed: number;
  /** tri2b / tri3b: feature transforms (LDA eigenvalues; auxiliary-function gain of each MLLT / fMLLR update). */
  transforms?: TransformReport;
}

export interface AlignTiming {
  trainingSec: number;
  /** Training seconds of each model of the chain. */
  models?: Record<string, number>;
  splits: Record<string, { frames: number; seconds: number; framesPerSec: number }>;
  framesPerSec: number;
}

export interface AlignCorpusResult {
  outDir: string;
  configHash: string;
  summary: AlignSummary;
  timing: AlignTiming;
  files: Record<string, AlignmentFileMetadata>;
}

function posInt(v: number, key: string, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new ConfigError(`bad align option '${key}'`, { keyPath: key, expected: `an integer >= ${min}`, found: String(v) });
  return v;
}

/** The GMM feature description that a model and the features it is applied to must share. */
function gmmFeatureKey(d: SplitData, o: Required<GmmFeatureOptions>): { hash: string; desc: Record<string, unknown> } {
  const fc = d.featureMeta.featureConfig;
  const desc = { sampleRateHz: fc.sampleRateHz, frameShiftMs: fc.frameShiftMs, frameLengthMs: fc.frameLengthMs, mfcc: fc.mfcc, ...o };
  return { hash: hashConfig(desc), desc };
}

/** Percentile-free order statistics and a log2 histogram of frames per senone. */
export function framesPerSenoneStats(counts: Float64Array | number[], splits: string[]): FramesPerSenone {
  const n = counts.length;
  const sorted = Float64Array.from(counts).sort();
  const median = n === 0 ? 0 : n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  const histogram: FramesPerSenone['histogram'] = [{ fromFrames: 0, toFrames: 1, senones: 0 }];
  for (const c of sorted) {
    if (c === 0) { histogram[0].senones++; continue; }
    const k = Math.floor(Math.log2(c));
    while (histogram.length < k + 2) { const from = 2 ** (histogram.length - 1); histogram.push({ fromFrames: from, toFrames: 2 * from, senones: 0 }); }
    histogram[k + 1].senones++;
  }
  return {
    splits, numSenones: n, unseen: histogram[0].senones,
    min: n ? sorted[0] : 0, median, max: n ? sorted[n - 1] : 0, mean: n ? sorted.reduce((a, b) => a + b, 0) / n : 0, histogram,
  };
}

function lastLogLike(h: IterationReport[]): number {
  return h.length ? Number(h[h.length - 1].logLikePerFrame.toFixed(6)) : NaN;
}

/**
 * Train (or load) the GMM-HMM and align every split. See the module comment for the outputs.
 * Bad utterances are counted skips (OOV words, empty transcripts, too few frames, no path in the
 * beam, a phone the tree has no data for); a split that aligns nothing is a CorpusError.
 */
export async function alignCorpus(opts: AlignCorpusOptions): Promise<AlignCorpusResult> {
  for (const k of Object.keys(opts)) {
    if (!KNOWN_KEYS.has(k)) throw new ConfigError(`unknown align option '${k}'`, { keyPath: k, expected: [...KNOWN_KEYS].join(', '), found: k });
  }
  const logger = opts.logger ?? defaultLogger;
  const o = { ...ALIGN_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as typeof ALIGN_DEFAULTS & AlignCorpusOptions;
  posInt(o.numLeaves, 'numLeaves');
  posInt(o.minLeafOccupancy, 'minLeafOccupancy', 0);
  posInt(o.monoIters, 'monoIters');
  posInt(o.monoGaussians, 'monoGaussians');
  posInt(o.triIters, 'triIters');
  const triGaussians = posInt(o.triGaussians ?? 5 * o.numLeaves, 'triGaussians');
  posInt(o.deltaOrder, 'deltaOrder', 0);
  posInt(o.deltaWindow, 'deltaWindow');
  if (!(o.beam > 0) || !(o.retryBeam >= 0)) throw new ConfigError('bad align beams', { keyPath: 'beam', expected: 'beam > 0, retryBeam >= 0', found: `${o.beam} / ${o.retryBeam}` });
  if (o.questions !== 'cluster' && o.questions !== 'arpabet') throw new ConfigError("bad align option 'questions'", { keyPath: 'questions', expected: "'cluster' or 'arpabet'", found: String(o.questions) });
  if (o.referenceTimings !== 'ignore' && o.referenceTimings !== 'constrain') throw new ConfigError("bad align option 'referenceTimings'", { keyPath: 'referenceTimings', expected: "'ignore' or 'constrain'", found: String(o.referenceTimings) });
  if (!(o.referenceCollarMs >= 0 && Number.isFinite(o.referenceCollarMs))) throw new ConfigError("bad align option 'referenceCollarMs'", { keyPath: 'referenceCollarMs', expected: 'a finite number >= 0 (ms)', found: String(o.referenceCollarMs) });
  const spanCollarSec = o.referenceTimings === 'constrain' ? o.referenceCollarMs / 1000 : null;
  if (o.vtlpCopies !== 'inherit' && o.vtlpCopies !== 'realign') throw new ConfigError("bad align option 'vtlpCopies'", { keyPath: 'vtlpCopies', expected: "'inherit' or 'realign'", found: String(o.vtlpCopies) });
  const inherit = o.vtlpCopies === 'inherit';
  if (!ALIGN_MODELS.includes(o.lastModel)) throw new ConfigError("bad align option 'lastModel'", { keyPath: 'lastModel', expected: ALIGN_MODELS.map((m) => `'${m}'`).join(', '), found: String(o.lastModel) });
  posInt(o.spliceContext, 'spliceContext', 0);
  posInt(o.ldaDim, 'ldaDim');
  posInt(o.adaptedIters, 'adaptedIters');
  const adapted = ALIGN_MODELS.indexOf(o.lastModel) >= 2;
  const featOpts: Required<GmmFeatureOptions> = { cmvnNormVars: o.cmvnNormVars, deltaOrder: o.deltaOrder, deltaWindow: o.deltaWindow };

  // Inputs: the splits to align, the training splits (of this and other corpora).
  const info = await readCorpusInfo(opts.dataDir);
  const splits = o.splits ?? info.splits;
  const training = !o.modelDir;
  const trainSplits = training ? o.trainSplits : [];
  for (const s of [...splits, ...trainSplits]) {
    if (!info.splits.includes(s)) throw new ConfigError(`split '${s}' is not in the corpus`, { file: opts.dataDir, keyPath: 'splits', expected: `one of ${info.splits.join(', ')}`, found: s });
  }
  const opened = new Map<string, SplitData>();
  const open = async (dataDir: string, featuresDir: string, split: string): Promise<SplitData> => {
    const key = `${dataDir}\0${featuresDir}\0${split}`;
    let d = opened.get(key);
    if (!d) { d = await openSplit(dataDir, featuresDir, split); opened.set(key, d); }
    return d;
  };
  const alignData: SplitData[] = [];
  for (const s of splits) alignData.push(await open(opts.dataDir, opts.featuresDir, s));
  const trainData: SplitData[] = [];
  const corpora: { corpus: string; splits: string[] }[] = [];
  if (training) {
    for (const s of trainSplits) trainData.push(await open(opts.dataDir, opts.featuresDir, s));
    corpora.push({ corpus: info.corpus, splits: [...trainSplits] });
    for (const [i, x] of (o.extraTrain ?? []).entries()) {
      const xi = await readCorpusInfo(x.dataDir);
      const xs = x.splits ?? ['train'];
      for (const s of xs) {
        if (!xi.splits.includes(s)) throw new ConfigError(`split '${s}' is not in the corpus`, { file: x.dataDir, keyPath: `extraTrain[${i}].splits`, expected: `one of ${xi.splits.join(', ')}`, found: s });
        trainData.push(await open(x.dataDir, x.featuresDir, s));
      }
      corpora.push({ corpus: xi.corpus, splits: xs });
    }
  }
  // Every feature file must describe the same GMM features (rate, framing, MFCC options).
  const all = [...alignData, ...trainData];
  const key = gmmFeatureKey(all[0], featOpts);
  for (const d of all) {
    const k = gmmFeatureKey(d, featOpts);
    if (k.hash !== key.hash) {
      throw new FormatError('feature files differ in their MFCC configuration', { file: d.featuresPath, expected: `${JSON.stringify(key.desc)} (as ${all[0].featuresPath})`, found: JSON.stringify(k.desc) });
    }
  }
  const frameShiftMs = all[0].featureMeta.featureConfig.frameShiftMs;
  const mfccDim = all[0].featureMeta.featureConfig.mfccDim ?? 0;

  // Model to align with (given), and its check against the features.
  let given: { model: GmmHmmModel; hash: string; transform: FeatureTransform | null; alignmentModel: GmmHmmModel | null } | null = null;
  if (o.modelDir) {
    const mpath = join(o.modelDir, 'model.json');
    const cpath = join(o.modelDir, 'config.json');
    if (!existsSync(mpath) || !existsSync(cpath)) throw new FormatError('not an align output directory', { file: o.modelDir, expected: 'model.json and config.json written by am-distill align' });
    const cfg = JSON.parse(readFileSync(cpath, 'utf8')) as { gmmFeatures?: { hash: string; desc: unknown } };
    if (cfg.gmmFeatures?.hash !== key.hash) {
      throw new FormatError('the model was trained on other GMM features', { file: cpath, expected: JSON.stringify(key.desc), found: JSON.stringify(cfg.gmmFeatures?.desc) });
    }
    const tpath = join(o.modelDir, TRANSFORM_FILE), apath = join(o.modelDir, ALIGNMENT_MODEL_FILE);
    // The transform and alignment model belong to the model: where present, they join its hash.
    const extra = [tpath, apath].filter((f) => existsSync(f));
    given = {
      model: loadModel(mpath),
      hash: extra.length ? sha256Hex([mpath, ...extra].map((f) => sha256Hex(readFileSync(f))).join(':')) : sha256Hex(readFileSync(mpath)),
      transform: extra.includes(tpath) ? FeatureTransform.fromJSON(JSON.parse(readFileSync(tpath, 'utf8')), tpath) : null,
      alignmentModel: extra.includes(apath) ? loadModel(apath) : null,
    };
  }

  const configHash = hashConfig({
    stage: 'align', gmmFeatures: key.hash,
    featureConfigHashes: all.map((d) => d.featureMeta.configHash),
    splits, trainSplits, extraTrain: (o.extraTrain ?? []).map((x) => x.splits ?? ['train']),
    model: given?.hash ?? null,
    lexicon: o.corpusLexiconPath ? sha256Hex(readFileSync(o.corpusLexiconPath)) : null,
    numLeaves: o.numLeaves, minLeafOccupancy: o.minLeafOccupancy, questions: o.questions, monoIters: o.monoIters,
    monoGaussians: o.monoGaussians, triIters: o.triIters, triGaussians, beam: o.beam, retryBeam: o.retryBeam,
    optionalSilenceProb: o.optionalSilenceProb, seed: o.seed, ...featOpts,
    // Only where it matters: the hash of a corpus without copies is what it was before the option.
    ...(all.some((d) => d.featureMeta.vtlpWarps.length > 0) ? { vtlpCopies: o.vtlpCopies } : {}),
    ...(spanCollarSec !== null ? { referenceTimings: o.referenceTimings, referenceCollarMs: o.referenceCollarMs } : {}),
    // Likewise: experiments that stop at tri1 (the default) keep their hashes.
    ...(o.lastModel !== 'tri1' ? { lastModel: o.lastModel } : {}),
    ...(adapted ? { spliceContext: o.spliceContext, ldaDim: o.ldaDim, adaptedIters: o.adaptedIters } : {}),
    ...(o.wordPositionPhones ? { wordPositionPhones: true } : {}),
  });

  // Lang: every word of every split used.
  const tokens: string[] = [];
  for (const d of [...opened.values()]) for (const s of d.supervisions.values()) tokens.push(...s.words);
  const lang: Lang = await buildLang(tokens, { corpusLexiconPath: o.corpusLexiconPath ?? null, optionalSilenceProb: o.optionalSilenceProb, wordPositionPhones: o.wordPositionPhones });
  if (lang.oovs.size > 0) {
    const top = [...lang.oovs.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([w, c]) => `${w} (${c})`);
    logger.warn(`${lang.oovs.size} words have no pronunciation; their utterances are skipped: ${top.join(', ')}${lang.oovs.size > 10 ? ', ...' : ''} (lang/oov.txt)`);
  }
  const langModel: LangModel = { phones: lang.phones, lexicon: lang.lexicon };
  const graphOpts = { optionalSilenceProb: o.optionalSilenceProb };

  return withAtomicOutput(opts.outDir, async (tmp) => {
    await writeLang(join(tmp, 'lang'), lang);
    const t0 = Date.now();
    let model: GmmHmmModel;
    // tri2b / tri3b: the feature transform (and, tri3b, the speaker-independent alignment model).
    let transform: FeatureTransform | null = null;
    let alignmentModel: GmmHmmModel | null = null;
    const modelSeconds: Record<string, number> = {};
    let trainingSummary: AlignSummary['training'] = null;
    if (given) {
      model = given.model;
      transform = given.transform;
      alignmentModel = given.alignmentModel;
      if (model.phones.symbols.join(' ') !== lang.phones.symbols.join(' ')) {
        throw new FormatError('the model has another phone set than the lang', { file: join(o.modelDir!, 'model.json'), expected: lang.phones.phones.join(' '), found: model.phones.phones.join(' ') });
      }
    } else {
      const trainSkips = new SkipCounter();
      const trainSpans = new SpanCounter();
      const source = featureSource(trainData, { ...featOpts, skips: trainSkips, skipVtlpCopies: inherit, spanCollarSec, spanCounts: trainSpans });
      const withCopies = trainData.some((d) => d.featureMeta.vtlpWarps.length > 0);
      logger.info(`align: training on ${corpora.map((c) => `${c.corpus} [${c.splits.join(', ')}]`).join(' + ')}${withCopies ? (inherit ? ' (real recordings only; VTLP copies take their source\'s alignment)' : ' (VTLP copies too)') : ''}`);
      const models: ModelSummary[] = [];
      const summarise = (name: AlignModelName, r: TrainResult, t: number, transforms?: TransformReport) => {
        models.push({
          name, pdfs: r.model.am.numPdfs, gaussians: r.model.am.numGaussians, logLikePerFrame: lastLogLike(r.history),
          failed: r.skips.skipped, ...(transforms ? { transforms } : {}),
        });
        modelSeconds[name] = Number(((Date.now() - t) / 1000).toFixed(1));
      };
      let t = Date.now();
      const mono: TrainResult = await trainMonophone(source, langModel, {
        numIters: o.monoIters, totalGaussians: o.monoGaussians, maxIterInc: Math.max(1, Math.min(30, o.monoIters - 10)),
        realignIters: monoRealign(o.monoIters), align: graphOpts, seed: o.seed, logger,
      });
      summarise('mono', mono, t);
      let last: TrainResult = mono;
      const skipParts: [string, Reasons][] = [['', trainSkips.reasons()], ['mono: ', mono.skips.reasons()]];
      const triOpts = (iters: number) => ({
        numIters: iters, totalGaussians: triGaussians, maxIterInc: Math.max(1, Math.min(25, iters - 10)),
        realignIters: [10, 20, 30].filter((i) => i < iters), align: graphOpts, seed: o.seed, logger,
        tree: { maxLeaves: o.numLeaves, minLeafOccupancy: o.minLeafOccupancy }, questions: o.questions,
      });
      const upTo = ALIGN_MODELS.indexOf(o.lastModel);
      if (upTo >= 1) {
        t = Date.now();
        const tri = await trainTriphone(source, langModel, mono, { ...triOpts(o.triIters), label: 'tri1' });
        summarise('tri1', tri, t);
        skipParts.push(['tri1: ', tri.skips.reasons()]);
        last = tri;
      }
      if (upTo >= 2) {
        transform = new FeatureTransform(o.spliceContext, mfccDim);
        const xSource = featureSource(trainData, { ...featOpts, skipVtlpCopies: inherit, spanCollarSec, transform });
        t = Date.now();
        const tri2 = await trainLdaMllt(xSource, transform, langModel, last as TrainResult & { model: GmmHmmModel }, { ...triOpts(o.adaptedIters), label: 'tri2b', ldaDim: o.ldaDim });
        summarise('tri2b', tri2, t, tri2.transforms);
        skipParts.push(['tri2b: ', tri2.skips.reasons()]);
        last = tri2;
        if (upTo >= 3) {
          t = Date.now();
          const tri3 = await trainSat(xSource, transform, langModel, tri2, { ...triOpts(o.adaptedIters), label: 'tri3b' });
          summarise('tri3b', tri3, t, tri3.transforms);
          skipParts.push(['tri3b: ', tri3.skips.reasons()]);
          last = tri3;
          alignmentModel = tri3.alignmentModel;
        }
      }
      model = last.model;
      const trainSkipped = mergeSkipSummaries(last.alignments.size, skipParts);
      trainingSummary = {
        corpora,
        utterances: last.alignments.size,
        skipped: trainSkipped,
        models,
        ...(spanCollarSec !== null ? {
          referenceTimings: {
            noReference: trainSpans.noReference, mismatched: trainSpans.summary().mismatched,
            droppedLastRealign: last.history.filter((h) => h.realigned).at(-1)?.spansDropped ?? 0,
          },
        } : {}),
      };
      if (trainSkipped.skipped > 0) logger.warn(`training: ${trainSkipped.skipped} utterances skipped: ${trainSkipped.reasons.map((r) => `${r.count} x ${r.reason}`).join(', ')}`);
    }
    const trainingSec = (Date.now() - t0) / 1000;
    await saveModel(join(tmp, 'model.json'), model);
    if (transform) await writeJsonAtomic(join(tmp, TRANSFORM_FILE), transform.toJSON());
    if (alignmentModel) await saveModel(join(tmp, ALIGNMENT_MODEL_FILE), alignmentModel);
    if (model.ctx instanceof ContextTree) await writeJsonAtomic(join(tmp, 'tree.json'), model.ctx.toJSON());
    const inventory = senoneInventory(model);
    await writeJsonAtomic(join(tmp, 'senones.json'), {
      format: 'am-distill.senones', version: 1, numSenones: model.am.numPdfs, phones: model.phones.symbols, senones: inventory,
    });
    await writeJsonAtomic(join(tmp, 'transitions.json'), {
      format: 'am-distill.transitions', version: 1,
      transitions: model.tm.tids.map((t, tid) => ({
        tid, phone: model.phones.symbol(t.phone), hmmState: t.hmmState, to: t.isExit ? 'exit' : t.to, prob: Number(model.tm.probs[tid].toPrecision(8)),
      })),
    });
    await writeFileAtomic(join(tmp, 'topo'), model.topology.toKaldiText());

    // Final alignment of every split.
    const alignOpts: AlignOptions = { ...graphOpts, beam: o.beam, retryBeam: o.retryBeam };
    const numSenones = model.am.numPdfs;
    const senoneFrames = new Float64Array(numSenones);
    const countSplits = splits.filter((s) => trainSplits.includes(s));
    const summarySplits: Record<string, SplitAlignSummary> = {};
    const timing: AlignTiming = { trainingSec, ...(Object.keys(modelSeconds).length ? { models: modelSeconds } : {}), splits: {}, framesPerSec: 0 };
    const files: Record<string, AlignmentFileMetadata> = {};
    let totalFrames = 0, totalSec = 0;
    for (const d of alignData) {
      // Inherited copies: written right after their source (the feature files' order), failed with it.
      const copyWarps = inherit ? d.featureMeta.vtlpWarps : [];
      const skips = new SourceAndCopySkips(copyWarps);
      const spanCounts = new SpanCounter();
      const start = Date.now();
      const source = featureSource([d], { ...featOpts, skips, skipVtlpCopies: inherit, spanCollarSec, spanCounts, transform });
      // tri3b (align_fmllr.sh): per-speaker fMLLR from a first pass with the speaker-independent model.
      const adaptation = alignmentModel && transform ? await estimateSpeakerTransforms(source, transform, langModel, alignmentModel, model, alignOpts) : null;
      if (adaptation) logger.info(`align ${d.split}: fMLLR for ${adaptation.updated} of ${adaptation.speakers} speakers, auxf +${adaptation.gainPerFrame.toFixed(3)}/frame${adaptation.firstPassFailed ? ` (${adaptation.firstPassFailed} utterances failed the first pass)` : ''}`);
      const writer = await AlignmentFileWriter.open(join(tmp, `${d.split}.arrow`), {
        configHash, featureConfigHash: d.featureMeta.configHash, numSenones, frameShiftMs, phones: [...model.phones.symbols], split: d.split,
      });
      const progress = logger.progress(`align ${d.split}`, d.featureMeta.counts.utterances, 'utts');
      let frames = 0;
      const countThis = countSplits.includes(d.split) || countSplits.length === 0;
      try {
        const aligned = alignAll(source, langModel, model, skips, alignOpts);
        for await (const a of aligned) {
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
          if (countThis) for (let t = 0; t < a.numFrames; t++) senoneFrames[a.pdf[t]] += n;
          skips.done += copies.length;
        }
        if (writer.utterances === 0) {
          throw new CorpusError(`no utterance of split '${d.split}' could be aligned`, { file: d.featuresPath, expected: 'at least one aligned utterance', found: skips.summary() });
        }
        files[d.split] = await writer.finish(skips.skipped);
      } catch (err) {
        await writer.abort();
        throw err;
      }
      const seconds = (Date.now() - start) / 1000;
      // Label quality against the supervisions' reference word timings, where they have them.
      let quality: LabelQuality | null = null;
      if ([...d.supervisions.values()].some((x) => x.referenceWords)) {
        quality = labelQuality(await scoreAlignmentFile(join(tmp, `${d.split}.arrow`), d.dataDir, d.split, { frameLengthMs: d.featureMeta.featureConfig.frameLengthMs }));
        if (quality) logger.info(`align ${d.split}: word boundaries within 20 / 50 ms ${quality.boundariesWithin20ms} / ${quality.boundariesWithin50ms} %, starts ${quality.startsWithin20ms} / ${quality.startsWithin50ms} %${quality.silenceOutsidePauses === null ? '' : `; silence frames outside the reference pauses ${quality.silenceOutsidePauses} %`}`);
      }
      progress.done(`${frames} frames, ${(frames / Math.max(seconds, 1e-3)).toFixed(0)} frames/s`);
      // Supervisions the features stage skipped never reach the aligner: count them apart.
      let withoutFeatures = 0;
      const noTranscript = skips.reasons().find((r) => r.reason === NO_TRANSCRIPT_REASON)?.count ?? 0;
      // With VTLP copies every term counts each real supervision 1 + copies times.
      withoutFeatures = (d.supervisions.size - (d.featureMeta.counts.utterances - noTranscript)) / (1 + d.featureMeta.vtlpWarps.length);
      const message = `Done ${skips.done}, failed ${skips.skipped}`;
      (skips.skipped > 0 ? logger.warn : logger.info)(`align ${d.split}: ${skips.summary('utterances')}${withoutFeatures ? `\n  (${withoutFeatures} supervisions have no features)` : ''}`);
      summarySplits[d.split] = {
        message, done: skips.done, failed: skips.skipped, frames, withoutFeatures, reasons: skips.reasons(),
        ...(quality ? { labelQuality: quality } : {}),
        ...(adaptation ? { speakerAdaptation: { ...adaptation, gainPerFrame: Number(adaptation.gainPerFrame.toFixed(6)) } } : {}),
        ...(spanCollarSec !== null ? { referenceTimings: spanCounts.summary() } : {}),
      };
      if (spanCollarSec !== null) {
        const sc = spanCounts.summary();
        const mis = Object.entries(sc.mismatched).map(([r, n]) => `${n} x ${r}`);
        (sc.dropped + sc.noReference + mis.length > 0 ? logger.warn : logger.info)(
          `align ${d.split}: ${sc.kept} utterances within their reference word spans (collar ${o.referenceCollarMs} ms)` +
          `${sc.dropped ? `, ${sc.dropped} aligned without them (no path within)` : ''}${sc.noReference ? `, ${sc.noReference} without reference timings` : ''}` +
          `${mis.length ? `, timings unusable: ${mis.join(', ')}` : ''}`);
      }
      timing.splits[d.split] = { frames, seconds, framesPerSec: frames / Math.max(seconds, 1e-3) };
      totalFrames += frames;
      totalSec += seconds;
    }
    timing.framesPerSec = totalFrames / Math.max(totalSec, 1e-3);
    const summary: AlignSummary = {
      format: 'am-distill.align-summary', version: 1, configHash, numSenones, numGaussians: model.am.numGaussians,
      lang: { words: lang.lexicon.size, oovWords: lang.oovs.size, oovTokens: [...lang.oovs.values()].reduce((a, b) => a + b, 0) },
      training: trainingSummary,
      splits: summarySplits,
      framesPerSenone: framesPerSenoneStats(senoneFrames, countSplits.length ? countSplits : splits),
    };
    await writeJsonAtomic(join(tmp, 'summary.json'), summary);
    await writeJsonAtomic(join(tmp, 'config.json'), {
      format: 'am-distill.align-config', version: 1, configHash, gmmFeatures: key,
      options: {
        splits, trainSplits, extraTrain: (o.extraTrain ?? []).map((x) => ({ dataDir: x.dataDir, featuresDir: x.featuresDir, splits: x.splits ?? ['train'] })),
        modelDir: o.modelDir ?? null, numLeaves: o.numLeaves, minLeafOccupancy: o.minLeafOccupancy, questions: o.questions,
        monoIters: o.monoIters, monoGaussians: o.monoGaussians, triIters: o.triIters, triGaussians, beam: o.beam, retryBeam: o.retryBeam,
        optionalSilenceProb: o.optionalSilenceProb, corpusLexiconPath: o.corpusLexiconPath ?? null, seed: o.seed, ...featOpts,
        vtlpCopies: o.vtlpCopies, referenceTimings: o.referenceTimings, referenceCollarMs: o.referenceCollarMs,
        lastModel: o.lastModel, spliceContext: o.spliceContext, ldaDim: o.ldaDim, adaptedIters: o.adaptedIters,
        wordPositionPhones: o.wordPositionPhones,
      },
    });
    if (opts.writeTiming !== false) await writeJsonAtomic(join(tmp, 'timing.json'), timing);
    logger.info(`align: ${numSenones} senones, ${model.am.numGaussians} Gaussians; ${Object.entries(summarySplits).map(([s, x]) => `${s}: ${x.message}`).join('; ')}; ${timing.framesPerSec.toFixed(0)} frames/s`);
    return { outDir: opts.outDir, configHash, summary, timing, files };
  });
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

/** Kaldi's monophone realignment schedule (1..10, 12, ..., 38) cut to the iteration count. */
function monoRealign(numIters: number): number[] {
  const k = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 23, 26, 29, 32, 35, 38];
  return k.filter((i) => i < numIters);
}

type Reasons = { reason: string; count: number; examples: string[] }[];

/** One skip summary from several counters' reasons, each reason prefixed (e.g. 'mono: '). */
function mergeSkipSummaries(done: number, parts: [string, Reasons][]): { done: number; skipped: number; reasons: Reasons } {
  const reasons: Reasons = [];
  for (const [prefix, rs] of parts) for (const r of rs) reasons.push({ reason: prefix + r.reason, count: r.count, examples: r.examples });
  reasons.sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  return { done, skipped: reasons.reduce((a, r) => a + r.count, 0), reasons };
}
