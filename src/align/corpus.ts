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
import type { GmmHmmModel } from '../hmm/train.ts';
import { FeatureTransform } from '../hmm/feature-transform.ts';
import { loadModel, saveModel, senoneInventory } from '../hmm/model.ts';
import { ContextTree } from '../hmm/tree.ts';
import type { LangModel } from '../hmm/graph.ts';
import { ConfigError, FormatError } from '../util/errors.ts';
import { withAtomicOutput, writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { hashConfig, sha256Hex } from '../util/hash.ts';
import { log as defaultLogger, type Logger } from '../util/log.ts';
import { openSplit, type GmmFeatureOptions, type SplitData } from './source.ts';
import type { AlignmentFileMetadata } from './store.ts';
import {
  ALIGN_MODELS,
  trainChain,
  type AlignModelName,
  type ChainOptions,
  type TrainedChain,
  type TrainingData,
  type TrainingSummary,
} from './chain.ts';
import {
  alignSplits,
  type FinalAlignment,
  type FinalModel,
  type SplitAlignSummary,
  type SplitTiming,
} from './align-splits.ts';

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

export { ALIGN_MODELS, type AlignModelName, type ModelSummary, type TrainingSummary } from './chain.ts';
export type { SplitAlignSummary } from './align-splits.ts';

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
  'dataDir',
  'featuresDir',
  'outDir',
  'splits',
  'trainSplits',
  'extraTrain',
  'modelDir',
  'numLeaves',
  'minLeafOccupancy',
  'questions',
  'monoIters',
  'monoGaussians',
  'triIters',
  'triGaussians',
  'beam',
  'retryBeam',
  'optionalSilenceProb',
  'corpusLexiconPath',
  'seed',
  'logger',
  'writeTiming',
  'cmvnNormVars',
  'deltaOrder',
  'deltaWindow',
  'vtlpCopies',
  'referenceTimings',
  'referenceCollarMs',
  'lastModel',
  'spliceContext',
  'ldaDim',
  'adaptedIters',
  'wordPositionPhones',
]);

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
  training: null | TrainingSummary;
  splits: Record<string, SplitAlignSummary>;
  framesPerSenone: FramesPerSenone;
}

export interface AlignTiming {
  trainingSec: number;
  /** Training seconds of each model of the chain. */
  models?: Record<string, number>;
  splits: Record<string, SplitTiming>;
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
  if (!Number.isInteger(v) || v < min)
    throw new ConfigError(`bad align option '${key}'`, {
      keyPath: key,
      expected: `an integer >= ${min}`,
      found: String(v),
    });
  return v;
}

/** The GMM feature description that a model and the features it is applied to must share. */
function gmmFeatureKey(d: SplitData, o: Required<GmmFeatureOptions>): { hash: string; desc: Record<string, unknown> } {
  const fc = d.featureMeta.featureConfig;
  const desc = {
    sampleRateHz: fc.sampleRateHz,
    frameShiftMs: fc.frameShiftMs,
    frameLengthMs: fc.frameLengthMs,
    mfcc: fc.mfcc,
    ...o,
  };
  return { hash: hashConfig(desc), desc };
}

/** Percentile-free order statistics and a log2 histogram of frames per senone. */
export function framesPerSenoneStats(counts: Float64Array | number[], splits: string[]): FramesPerSenone {
  const n = counts.length;
  const sorted = Float64Array.from(counts).sort();
  const median = n === 0 ? 0 : n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  const histogram: FramesPerSenone['histogram'] = [{ fromFrames: 0, toFrames: 1, senones: 0 }];
  for (const c of sorted) {
    if (c === 0) {
      histogram[0].senones++;
      continue;
    }
    const k = Math.floor(Math.log2(c));
    while (histogram.length < k + 2) {
      const from = 2 ** (histogram.length - 1);
      histogram.push({ fromFrames: from, toFrames: 2 * from, senones: 0 });
    }
    histogram[k + 1].senones++;
  }
  return {
    splits,
    numSenones: n,
    unseen: histogram[0].senones,
    min: n ? sorted[0] : 0,
    median,
    max: n ? sorted[n - 1] : 0,
    mean: n ? sorted.reduce((a, b) => a + b, 0) / n : 0,
    histogram,
  };
}

/** The options with defaults applied and checked, and what they imply. */
export interface AlignSettings {
  o: typeof ALIGN_DEFAULTS & AlignCorpusOptions;
  triGaussians: number;
  /** Collar of the reference word spans (referenceTimings 'constrain'), s; null: unconstrained. */
  spanCollarSec: number | null;
  /** VTLP copies inherit their source's alignment. */
  inherit: boolean;
  /** The chain goes on to an LDA+MLLT model (tri2b / tri3b). */
  adapted: boolean;
  featOpts: Required<GmmFeatureOptions>;
}

function resolveAlignOptions(opts: AlignCorpusOptions): AlignSettings {
  for (const k of Object.keys(opts)) {
    if (!KNOWN_KEYS.has(k))
      throw new ConfigError(`unknown align option '${k}'`, {
        keyPath: k,
        expected: [...KNOWN_KEYS].join(', '),
        found: k,
      });
  }
  const o = {
    ...ALIGN_DEFAULTS,
    ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)),
  } as typeof ALIGN_DEFAULTS & AlignCorpusOptions;
  posInt(o.numLeaves, 'numLeaves');
  posInt(o.minLeafOccupancy, 'minLeafOccupancy', 0);
  posInt(o.monoIters, 'monoIters');
  posInt(o.monoGaussians, 'monoGaussians');
  posInt(o.triIters, 'triIters');
  const triGaussians = posInt(o.triGaussians ?? 5 * o.numLeaves, 'triGaussians');
  posInt(o.deltaOrder, 'deltaOrder', 0);
  posInt(o.deltaWindow, 'deltaWindow');
  if (!(o.beam > 0) || !(o.retryBeam >= 0))
    throw new ConfigError('bad align beams', {
      keyPath: 'beam',
      expected: 'beam > 0, retryBeam >= 0',
      found: `${o.beam} / ${o.retryBeam}`,
    });
  if (o.questions !== 'cluster' && o.questions !== 'arpabet')
    throw new ConfigError("bad align option 'questions'", {
      keyPath: 'questions',
      expected: "'cluster' or 'arpabet'",
      found: String(o.questions),
    });
  if (o.referenceTimings !== 'ignore' && o.referenceTimings !== 'constrain')
    throw new ConfigError("bad align option 'referenceTimings'", {
      keyPath: 'referenceTimings',
      expected: "'ignore' or 'constrain'",
      found: String(o.referenceTimings),
    });
  if (!(o.referenceCollarMs >= 0 && Number.isFinite(o.referenceCollarMs)))
    throw new ConfigError("bad align option 'referenceCollarMs'", {
      keyPath: 'referenceCollarMs',
      expected: 'a finite number >= 0 (ms)',
      found: String(o.referenceCollarMs),
    });
  const spanCollarSec = o.referenceTimings === 'constrain' ? o.referenceCollarMs / 1000 : null;
  if (o.vtlpCopies !== 'inherit' && o.vtlpCopies !== 'realign')
    throw new ConfigError("bad align option 'vtlpCopies'", {
      keyPath: 'vtlpCopies',
      expected: "'inherit' or 'realign'",
      found: String(o.vtlpCopies),
    });
  if (!ALIGN_MODELS.includes(o.lastModel))
    throw new ConfigError("bad align option 'lastModel'", {
      keyPath: 'lastModel',
      expected: ALIGN_MODELS.map((m) => `'${m}'`).join(', '),
      found: String(o.lastModel),
    });
  posInt(o.spliceContext, 'spliceContext', 0);
  posInt(o.ldaDim, 'ldaDim');
  posInt(o.adaptedIters, 'adaptedIters');
  return {
    o,
    triGaussians,
    spanCollarSec,
    inherit: o.vtlpCopies === 'inherit',
    adapted: ALIGN_MODELS.indexOf(o.lastModel) >= 2,
    featOpts: { cmvnNormVars: o.cmvnNormVars, deltaOrder: o.deltaOrder, deltaWindow: o.deltaWindow },
  };
}

/** The splits to align and to train on (of this and other corpora), opened once each, and their shared GMM feature description. */
export interface AlignInputs {
  splits: string[];
  trainSplits: string[];
  alignData: SplitData[];
  trainData: SplitData[];
  corpora: { corpus: string; splits: string[] }[];
  /** Every split opened (each once), in order of opening: their words make the lang. */
  opened: SplitData[];
  gmmFeatures: { hash: string; desc: Record<string, unknown> };
  frameShiftMs: number;
  mfccDim: number;
}

/** Open the inputs; every feature file must describe the same GMM features (rate, framing, MFCC options). */
async function openAlignInputs(opts: AlignCorpusOptions, s: AlignSettings): Promise<AlignInputs> {
  const { o } = s;
  const info = await readCorpusInfo(opts.dataDir);
  const splits = o.splits ?? info.splits;
  const training = !o.modelDir;
  const trainSplits = training ? o.trainSplits : [];
  for (const x of [...splits, ...trainSplits]) {
    if (!info.splits.includes(x))
      throw new ConfigError(`split '${x}' is not in the corpus`, {
        file: opts.dataDir,
        keyPath: 'splits',
        expected: `one of ${info.splits.join(', ')}`,
        found: x,
      });
  }
  const opened = new Map<string, SplitData>();
  const open = async (dataDir: string, featuresDir: string, split: string): Promise<SplitData> => {
    const key = `${dataDir}\0${featuresDir}\0${split}`;
    let d = opened.get(key);
    if (!d) {
      d = await openSplit(dataDir, featuresDir, split);
      opened.set(key, d);
    }
    return d;
  };
  const alignData: SplitData[] = [];
  for (const x of splits) alignData.push(await open(opts.dataDir, opts.featuresDir, x));
  const trainData: SplitData[] = [];
  const corpora: { corpus: string; splits: string[] }[] = [];
  if (training) {
    for (const x of trainSplits) trainData.push(await open(opts.dataDir, opts.featuresDir, x));
    corpora.push({ corpus: info.corpus, splits: [...trainSplits] });
    for (const [i, x] of (o.extraTrain ?? []).entries()) {
      const xi = await readCorpusInfo(x.dataDir);
      const xs = x.splits ?? ['train'];
      for (const split of xs) {
        if (!xi.splits.includes(split))
          throw new ConfigError(`split '${split}' is not in the corpus`, {
            file: x.dataDir,
            keyPath: `extraTrain[${i}].splits`,
            expected: `one of ${xi.splits.join(', ')}`,
            found: split,
          });
        trainData.push(await open(x.dataDir, x.featuresDir, split));
      }
      corpora.push({ corpus: xi.corpus, splits: xs });
    }
  }
  const all = [...alignData, ...trainData];
  const key = gmmFeatureKey(all[0], s.featOpts);
  for (const d of all) {
    const k = gmmFeatureKey(d, s.featOpts);
    if (k.hash !== key.hash) {
      throw new FormatError('feature files differ in their MFCC configuration', {
        file: d.featuresPath,
        expected: `${JSON.stringify(key.desc)} (as ${all[0].featuresPath})`,
        found: JSON.stringify(k.desc),
      });
    }
  }
  const fc = all[0].featureMeta.featureConfig;
  return {
    splits,
    trainSplits,
    alignData,
    trainData,
    corpora,
    opened: [...opened.values()],
    gmmFeatures: key,
    frameShiftMs: fc.frameShiftMs,
    mfccDim: fc.mfccDim ?? 0,
  };
}

/** A model of a previous align output directory (align_si.sh with an existing model), and its identity. */
export interface GivenModel {
  model: GmmHmmModel;
  hash: string;
  transform: FeatureTransform | null;
  alignmentModel: GmmHmmModel | null;
}

/** Load `modelDir`'s model (+ transform and alignment model), checked against the features' GMM description. */
function loadGivenModel(modelDir: string, gmmFeatures: AlignInputs['gmmFeatures']): GivenModel {
  const mpath = join(modelDir, 'model.json');
  const cpath = join(modelDir, 'config.json');
  if (!existsSync(mpath) || !existsSync(cpath))
    throw new FormatError('not an align output directory', {
      file: modelDir,
      expected: 'model.json and config.json written by am-distill align',
    });
  const cfg = JSON.parse(readFileSync(cpath, 'utf8')) as { gmmFeatures?: { hash: string; desc: unknown } };
  if (cfg.gmmFeatures?.hash !== gmmFeatures.hash) {
    throw new FormatError('the model was trained on other GMM features', {
      file: cpath,
      expected: JSON.stringify(gmmFeatures.desc),
      found: JSON.stringify(cfg.gmmFeatures?.desc),
    });
  }
  const tpath = join(modelDir, TRANSFORM_FILE),
    apath = join(modelDir, ALIGNMENT_MODEL_FILE);
  // The transform and alignment model belong to the model: where present, they join its hash.
  const extra = [tpath, apath].filter((f) => existsSync(f));
  return {
    model: loadModel(mpath),
    hash: extra.length
      ? sha256Hex([mpath, ...extra].map((f) => sha256Hex(readFileSync(f))).join(':'))
      : sha256Hex(readFileSync(mpath)),
    transform: extra.includes(tpath) ? FeatureTransform.fromJSON(JSON.parse(readFileSync(tpath, 'utf8')), tpath) : null,
    alignmentModel: extra.includes(apath) ? loadModel(apath) : null,
  };
}

/** Hash of everything that determines the outputs (options that did not exist once join it only where they matter). */
function alignConfigHash(s: AlignSettings, inputs: AlignInputs, given: GivenModel | null): string {
  const { o, featOpts, spanCollarSec } = s;
  const all = [...inputs.alignData, ...inputs.trainData];
  return hashConfig({
    stage: 'align',
    gmmFeatures: inputs.gmmFeatures.hash,
    featureConfigHashes: all.map((d) => d.featureMeta.configHash),
    splits: inputs.splits,
    trainSplits: inputs.trainSplits,
    extraTrain: (o.extraTrain ?? []).map((x) => x.splits ?? ['train']),
    model: given?.hash ?? null,
    lexicon: o.corpusLexiconPath ? sha256Hex(readFileSync(o.corpusLexiconPath)) : null,
    numLeaves: o.numLeaves,
    minLeafOccupancy: o.minLeafOccupancy,
    questions: o.questions,
    monoIters: o.monoIters,
    monoGaussians: o.monoGaussians,
    triIters: o.triIters,
    triGaussians: s.triGaussians,
    beam: o.beam,
    retryBeam: o.retryBeam,
    optionalSilenceProb: o.optionalSilenceProb,
    seed: o.seed,
    ...featOpts,
    // Only where it matters: the hash of a corpus without copies is what it was before the option.
    ...(all.some((d) => d.featureMeta.vtlpWarps.length > 0) ? { vtlpCopies: o.vtlpCopies } : {}),
    ...(spanCollarSec !== null ? { referenceTimings: o.referenceTimings, referenceCollarMs: o.referenceCollarMs } : {}),
    // Likewise: experiments that stop at tri1 (the default) keep their hashes.
    ...(o.lastModel !== 'tri1' ? { lastModel: o.lastModel } : {}),
    ...(s.adapted ? { spliceContext: o.spliceContext, ldaDim: o.ldaDim, adaptedIters: o.adaptedIters } : {}),
    ...(o.wordPositionPhones ? { wordPositionPhones: true } : {}),
  });
}

/** The lang of every word of every split used; words without a pronunciation are logged (their utterances are skipped). */
async function buildAlignLang(opened: readonly SplitData[], o: AlignSettings['o'], logger: Logger): Promise<Lang> {
  const tokens: string[] = [];
  for (const d of opened) for (const x of d.supervisions.values()) tokens.push(...x.words);
  const lang: Lang = await buildLang(tokens, {
    corpusLexiconPath: o.corpusLexiconPath ?? null,
    optionalSilenceProb: o.optionalSilenceProb,
    wordPositionPhones: o.wordPositionPhones,
  });
  if (lang.oovs.size > 0) {
    const top = [...lang.oovs.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([w, c]) => `${w} (${c})`);
    logger.warn(
      `${lang.oovs.size} words have no pronunciation; their utterances are skipped: ${top.join(', ')}${lang.oovs.size > 10 ? ', ...' : ''} (lang/oov.txt)`,
    );
  }
  return lang;
}

/**
 * Train (or load) the GMM-HMM and align every split. See the module comment for the outputs.
 * Bad utterances are counted skips (OOV words, empty transcripts, too few frames, no path in the
 * beam, a phone the tree has no data for); a split that aligns nothing is a CorpusError.
 */
export async function alignCorpus(opts: AlignCorpusOptions): Promise<AlignCorpusResult> {
  const p = await planAlignment(opts);
  return withAtomicOutput(opts.outDir, async (tmp) => {
    const t0 = Date.now();
    const trained = await trainAlignModels(p, tmp);
    const trainingSec = (Date.now() - t0) / 1000;
    const model = trained.model;

    // Final alignment of every split.
    const countSplits = finalCountSplits(p);
    const aligned = await alignSplits(p.inputs.alignData, countSplits, finalAlignmentJob(p, trained, tmp), p.logger);
    const timing: AlignTiming = {
      trainingSec,
      ...(Object.keys(trained.modelSeconds).length ? { models: trained.modelSeconds } : {}),
      splits: aligned.timing,
      framesPerSec: aligned.framesPerSec,
    };
    const summary = alignSummary(p, model, trained.summary, aligned.summaries, aligned.senoneFrames);
    await writeJsonAtomic(join(tmp, 'summary.json'), summary);
    await writeJsonAtomic(join(tmp, 'config.json'), alignConfigRecord(p.s, p.inputs, p.configHash));
    if (opts.writeTiming !== false) await writeJsonAtomic(join(tmp, 'timing.json'), timing);
    p.logger.info(
      `align: ${summary.numSenones} senones, ${model.am.numGaussians} Gaussians; ${Object.entries(aligned.summaries)
        .map(([x, r]) => `${x}: ${r.message}`)
        .join('; ')}; ${timing.framesPerSec.toFixed(0)} frames/s`,
    );
    return { outDir: opts.outDir, configHash: p.configHash, summary, timing, files: aligned.files };
  });
}

/** The options, inputs, config hash and lang of an alignment: what its training, final pass and summary share. */
export interface AlignPlan {
  s: AlignSettings;
  inputs: AlignInputs;
  given: GivenModel | null;
  configHash: string;
  lang: Lang;
  langModel: LangModel;
  logger: Logger;
}

/** Check the options, open the inputs, build the lang: the same for a whole run, its common job and its shards. */
export async function planAlignment(opts: AlignCorpusOptions): Promise<AlignPlan> {
  const s = resolveAlignOptions(opts);
  const logger = opts.logger ?? defaultLogger;
  const inputs = await openAlignInputs(opts, s);
  const given = s.o.modelDir ? loadGivenModel(s.o.modelDir, inputs.gmmFeatures) : null;
  const configHash = alignConfigHash(s, inputs, given);
  const lang = await buildAlignLang(inputs.opened, s.o, logger);
  return { s, inputs, given, configHash, lang, langModel: { phones: lang.phones, lexicon: lang.lexicon }, logger };
}

/** What the GMM-HMM chain of an alignment trains on, with what options and lang. */
export function chainInputs(p: AlignPlan): { data: TrainingData; o: ChainOptions; lang: LangModel } {
  const { s, inputs } = p;
  return {
    data: {
      splits: inputs.trainData,
      corpora: inputs.corpora,
      featOpts: s.featOpts,
      inherit: s.inherit,
      spanCollarSec: s.spanCollarSec,
      mfccDim: inputs.mfccDim,
    },
    o: { ...s.o, triGaussians: s.triGaussians },
    lang: p.langModel,
  };
}

/**
 * lang/ and the GMM-HMM chain (trained here, or `trained` by the sharded passes, or the given
 * model) written into `dir`.
 */
export async function trainAlignModels(
  p: AlignPlan,
  dir: string,
  trained?: TrainedChain,
): Promise<FinalModel & { modelSeconds: Record<string, number>; summary: TrainingSummary | null }> {
  const { s, given, lang } = p;
  await writeLang(join(dir, 'lang'), lang);
  let result: FinalModel & { modelSeconds: Record<string, number>; summary: TrainingSummary | null };
  if (given) {
    if (given.model.phones.symbols.join(' ') !== lang.phones.symbols.join(' ')) {
      throw new FormatError('the model has another phone set than the lang', {
        file: join(s.o.modelDir!, 'model.json'),
        expected: lang.phones.phones.join(' '),
        found: given.model.phones.phones.join(' '),
      });
    }
    result = {
      model: given.model,
      transform: given.transform,
      alignmentModel: given.alignmentModel,
      modelSeconds: {},
      summary: null,
    };
  } else {
    const c = chainInputs(p);
    result = trained ?? (await trainChain(c.data, c.lang, c.o, p.logger));
  }
  await writeModelFiles(dir, result);
  return result;
}

/** The final model of an align output directory (or a common job's): model.json with its transform and first-pass model. */
export function loadFinalModel(p: AlignPlan, dir: string): FinalModel {
  const { model, transform, alignmentModel } = loadGivenModel(dir, p.inputs.gmmFeatures);
  return { model, transform, alignmentModel };
}

/** The splits whose frames per senone are counted: the aligned training splits. */
export function finalCountSplits(p: AlignPlan): string[] {
  return p.inputs.splits.filter((x) => p.inputs.trainSplits.includes(x));
}

/** What every split's final alignment shares. */
export function finalAlignmentJob(p: AlignPlan, final: FinalModel, dir: string): FinalAlignment {
  const { o } = p.s;
  return {
    final,
    lang: p.langModel,
    alignOpts: { optionalSilenceProb: o.optionalSilenceProb, beam: o.beam, retryBeam: o.retryBeam },
    featOpts: p.s.featOpts,
    inherit: p.s.inherit,
    spanCollarSec: p.s.spanCollarSec,
    referenceCollarMs: o.referenceCollarMs,
    dir,
    configHash: p.configHash,
    frameShiftMs: p.inputs.frameShiftMs,
  };
}

/** summary.json of the stage. */
export function alignSummary(
  p: AlignPlan,
  model: GmmHmmModel,
  training: TrainingSummary | null,
  splits: Record<string, SplitAlignSummary>,
  senoneFrames: Float64Array,
): AlignSummary {
  const countSplits = finalCountSplits(p);
  const { lang } = p;
  return {
    format: 'am-distill.align-summary',
    version: 1,
    configHash: p.configHash,
    numSenones: model.am.numPdfs,
    numGaussians: model.am.numGaussians,
    lang: {
      words: lang.lexicon.size,
      oovWords: lang.oovs.size,
      oovTokens: [...lang.oovs.values()].reduce((a, b) => a + b, 0),
    },
    training,
    splits,
    framesPerSenone: framesPerSenoneStats(senoneFrames, countSplits.length ? countSplits : p.inputs.splits),
  };
}

/** model.json, the transform and alignment model (tri2b / tri3b), tree.json, senones.json, transitions.json, topo. */
async function writeModelFiles(dir: string, m: FinalModel): Promise<void> {
  const { model, transform, alignmentModel } = m;
  await saveModel(join(dir, 'model.json'), model);
  if (transform) await writeJsonAtomic(join(dir, TRANSFORM_FILE), transform.toJSON());
  if (alignmentModel) await saveModel(join(dir, ALIGNMENT_MODEL_FILE), alignmentModel);
  if (model.ctx instanceof ContextTree) await writeJsonAtomic(join(dir, 'tree.json'), model.ctx.toJSON());
  const inventory = senoneInventory(model);
  await writeJsonAtomic(join(dir, 'senones.json'), {
    format: 'am-distill.senones',
    version: 1,
    numSenones: model.am.numPdfs,
    phones: model.phones.symbols,
    senones: inventory,
  });
  await writeJsonAtomic(join(dir, 'transitions.json'), {
    format: 'am-distill.transitions',
    version: 1,
    transitions: model.tm.tids.map((t, tid) => ({
      tid,
      phone: model.phones.symbol(t.phone),
      hmmState: t.hmmState,
      to: t.isExit ? 'exit' : t.to,
      prob: Number(model.tm.probs[tid].toPrecision(8)),
    })),
  });
  await writeFileAtomic(join(dir, 'topo'), model.topology.toKaldiText());
}

/** config.json: the effective options, the config hash and the GMM feature description. */
export function alignConfigRecord(s: AlignSettings, inputs: AlignInputs, configHash: string): Record<string, unknown> {
  const { o } = s;
  return {
    format: 'am-distill.align-config',
    version: 1,
    configHash,
    gmmFeatures: inputs.gmmFeatures,
    options: {
      splits: inputs.splits,
      trainSplits: inputs.trainSplits,
      extraTrain: (o.extraTrain ?? []).map((x) => ({
        dataDir: x.dataDir,
        featuresDir: x.featuresDir,
        splits: x.splits ?? ['train'],
      })),
      modelDir: o.modelDir ?? null,
      numLeaves: o.numLeaves,
      minLeafOccupancy: o.minLeafOccupancy,
      questions: o.questions,
      monoIters: o.monoIters,
      monoGaussians: o.monoGaussians,
      triIters: o.triIters,
      triGaussians: s.triGaussians,
      beam: o.beam,
      retryBeam: o.retryBeam,
      optionalSilenceProb: o.optionalSilenceProb,
      corpusLexiconPath: o.corpusLexiconPath ?? null,
      seed: o.seed,
      ...s.featOpts,
      vtlpCopies: o.vtlpCopies,
      referenceTimings: o.referenceTimings,
      referenceCollarMs: o.referenceCollarMs,
      lastModel: o.lastModel,
      spliceContext: o.spliceContext,
      ldaDim: o.ldaDim,
      adaptedIters: o.adaptedIters,
      wordPositionPhones: o.wordPositionPhones,
    },
  };
}
