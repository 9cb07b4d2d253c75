/**
 * A tiny experiment built in code: the outputs of prepare, features, align, train and distill as
 * the decode-side stages read them, with acoustic models whose posteriors are known.
 *
 * - lang: 8 phones, 6 words (one with two pronunciations), `<UNK>` -> SPN; monophone HMM
 *   (Kaldi topology: 5-state silence, 3-state phones), written as the align stage writes them.
 * - utterances: random word strings with optional silence; every HMM state lasts 2-4 frames; the
 *   feature of a frame is its senone's mean E[s] (random, D dims) plus Gaussian noise (sigma).
 * - models: TF.js frame classifiers without hidden layers whose logits are the Gaussian class
 *   log-likelihoods plus log priors, i.e. the Bayes posteriors, with weights perturbed per model
 *   (the baseline most, the student less, the members independently) so the systems differ.
 *   Members use per-speaker CMVN (the logits then see mean-normalised features).
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../../src/util/rng.ts';
import { writeJsonAtomic } from '../../../src/util/fs.ts';
import { PhoneSet } from '../../../src/lang/phones.ts';
import { Lexicon } from '../../../src/lang/lexicon.ts';
import { SymbolTable } from '../../../src/lang/symbols.ts';
import { writeLang, type Lang } from '../../../src/lang/lang.ts';
import { Topology } from '../../../src/hmm/topology.ts';
import { TransitionModel } from '../../../src/hmm/transitions.ts';
import { MonophoneContext } from '../../../src/hmm/context.ts';
import { AmDiagGmm, DiagGmm } from '../../../src/hmm/gmm.ts';
import { saveModel } from '../../../src/hmm/model.ts';
import { writeCorpus } from '../../../src/corpus/manifest.ts';
import type { CorpusInfo, Recording, Supervision } from '../../../src/corpus/types.ts';
import { FeatureFileWriter, type FeatureConfig } from '../../../src/features/store.ts';
import { fbankOptions } from '../../../src/features/options.ts';
import { createFrameClassifier } from '../../../src/nnet/model.ts';
import { saveModelDir, SIDECAR_KIND, SIDECAR_VERSION, type ModelSidecar } from '../../../src/nnet/io.ts';
import { senonePriors, type CmvnOptions } from '../../../src/nnet/data.ts';
import { estimateKneserNey } from '../../../src/lm/kneser-ney.ts';
import { formatArpa } from '../../../src/lm/arpa.ts';
import { quiet } from '../../decode/helpers.ts';
import { StageRegistry, type StageDefinition } from '../../../src/stages/stage.ts';
import { lmStage } from '../../../src/stages/lm.ts';
import { createDecodeStage } from '../../../src/stages/decode.ts';
import { scoreStage } from '../../../src/stages/score.ts';

export { quiet };

export const PHONES = new PhoneSet(['SIL', 'SPN', 'AA', 'B', 'IY', 'K', 'S', 'T']);
export const PRONS: [string, string[]][] = [
  ['A', ['AA']],
  ['BAA', ['B', 'AA']],
  ['BIKS', ['B', 'IY', 'K', 'S']],
  ['KIY', ['K', 'IY']],
  ['SIT', ['S', 'IY', 'T']],
  ['TAB', ['T', 'AA', 'B']],
  ['TAB', ['T', 'AA', 'B', 'S']],
];
export const VOCAB = [...new Set(PRONS.map((p) => p[0]))];
export const FEATURE_DIM = 10;
const FBANK = fbankOptions({ numMelBins: FEATURE_DIM });
export const FEATURE_CONFIG: FeatureConfig = {
  sampleRateHz: 16000,
  frameShiftMs: FBANK.frameShiftMs,
  frameLengthMs: FBANK.frameLengthMs,
  numMelBins: FEATURE_DIM,
  fbankDim: FEATURE_DIM,
  mfccDim: null,
  fbank: FBANK,
  mfcc: null,
};
export const FEATURE_CONFIG_HASH = 'tiny-feature-config';

export function lexicon(): Lexicon {
  const lex = new Lexicon();
  for (const [w, p] of PRONS) lex.add(w, p);
  lex.add('<UNK>', ['SPN']);
  return lex;
}

export function hmmModel() {
  const topology = new Topology(PHONES);
  const tm = new TransitionModel(topology);
  const ctx = new MonophoneContext(topology);
  const am = new AmDiagGmm(
    Array.from({ length: ctx.numPdfs }, () =>
      DiagGmm.single(new Float64Array(FEATURE_DIM), new Float64Array(FEATURE_DIM).fill(1)),
    ),
  );
  return { phones: PHONES, topology, tm, ctx, am };
}

export interface TinyUtt {
  uttId: string;
  speaker: string;
  words: string[];
  /** Senone per frame (the generating alignment). */
  senones: Int32Array;
  feats: Float32Array;
  numFrames: number;
}

export interface TinyOptions {
  /** Speakers per split. */
  speakers?: Record<string, number>;
  uttsPerSpeaker?: number;
  /** Noise standard deviation of the features. Default 1.1. */
  sigma?: number;
  seed?: string;
}

/** Senone means and the generator of utterances. */
export class TinyWorld {
  readonly rng: Rng;
  readonly sigma: number;
  readonly hmm = hmmModel();
  readonly numSenones: number;
  readonly means: Float64Array[];
  readonly lex = lexicon();

  constructor(opts: TinyOptions = {}) {
    this.rng = new Rng(opts.seed ?? 'tiny-world');
    this.sigma = opts.sigma ?? 1.1;
    this.numSenones = this.hmm.ctx.numPdfs;
    this.means = Array.from({ length: this.numSenones }, () =>
      Float64Array.from({ length: FEATURE_DIM }, () => 2 * this.rng.gauss()),
    );
  }

  /** Senones of a phone's states with 2-4 frames each (1-2 for silence states). */
  private phoneFrames(phone: string, out: number[]): void {
    const p = PHONES.id(phone);
    const topo = this.hmm.topology.forPhone(p);
    const sil = phone === 'SIL';
    for (let k = 0; k < topo.numStates; k++) {
      const pdf = this.hmm.ctx.pdf(0, p, 0, topo.states[k].pdfClass);
      const n = sil ? 1 + this.rng.int(2) : 2 + this.rng.int(3);
      for (let i = 0; i < n; i++) out.push(pdf);
    }
  }

  /** Frames of a word sequence: silence at both edges, optional silence between words. */
  senonesOf(words: readonly string[]): Int32Array {
    const out: number[] = [];
    this.phoneFrames('SIL', out);
    words.forEach((w, i) => {
      const prons = this.lex.get(w)!;
      for (const ph of prons[this.rng.int(prons.length)]) this.phoneFrames(ph, out);
      if (i < words.length - 1 && this.rng.next() < 0.3) this.phoneFrames('SIL', out);
    });
    this.phoneFrames('SIL', out);
    return Int32Array.from(out);
  }

  featuresOf(senones: Int32Array, offset: Float64Array): Float32Array {
    const f = new Float32Array(senones.length * FEATURE_DIM);
    for (let t = 0; t < senones.length; t++) {
      const m = this.means[senones[t]];
      for (let d = 0; d < FEATURE_DIM; d++) f[t * FEATURE_DIM + d] = m[d] + offset[d] + this.sigma * this.rng.gauss();
    }
    return f;
  }

  randomWords(): string[] {
    const n = 1 + this.rng.int(4);
    return Array.from({ length: n }, () => VOCAB[this.rng.int(VOCAB.length)]);
  }

  utterance(uttId: string, speaker: string, words: string[], offset: Float64Array): TinyUtt {
    const senones = this.senonesOf(words);
    return { uttId, speaker, words, senones, feats: this.featuresOf(senones, offset), numFrames: senones.length };
  }
}

/** Splits of utterances: speaker ids `<split>s<k>`, utterance ids `<speaker>_<nnn>` (sclite speaker = prefix). */
export function makeSplits(world: TinyWorld, opts: TinyOptions = {}): Record<string, TinyUtt[]> {
  const speakers = opts.speakers ?? { train: 3, dev: 2, test: 2 };
  const per = opts.uttsPerSpeaker ?? 6;
  const out: Record<string, TinyUtt[]> = {};
  for (const [split, n] of Object.entries(speakers)) {
    out[split] = [];
    for (let s = 0; s < n; s++) {
      const spk = `${split}s${s}`;
      const offset = Float64Array.from({ length: FEATURE_DIM }, () => 0.3 * world.rng.gauss());
      for (let u = 0; u < per; u++)
        out[split].push(world.utterance(`${spk}_${String(u).padStart(3, '0')}`, spk, world.randomWords(), offset));
    }
  }
  return out;
}

/** Isolated words: each of `speakers` says every vocabulary word once, one word per utterance. */
export function isolatedWordSplit(world: TinyWorld, speakers: readonly string[]): TinyUtt[] {
  return speakers.flatMap((spk) => {
    const offset = Float64Array.from({ length: FEATURE_DIM }, () => 0.3 * world.rng.gauss());
    return VOCAB.map((w, u) => world.utterance(`${spk}_${String(u).padStart(3, '0')}`, spk, [w], offset));
  });
}

/** A prepared data dir (corpus.json + manifests; the audio paths are never read downstream). */
export async function writeDataDir(dir: string, splits: Record<string, TinyUtt[]>): Promise<void> {
  const manifests: Record<string, { recordings: Recording[]; supervisions: Supervision[] }> = {};
  const counts: CorpusInfo['counts'] = {};
  for (const [split, utts] of Object.entries(splits)) {
    manifests[split] = {
      recordings: utts.map((u) => ({
        id: u.uttId,
        speaker: u.speaker,
        path: join(dir, 'wav', `${u.uttId}.wav`),
        format: 'wav',
        channel: 0,
        sampleRateHz: 16000,
        numSamples: u.numFrames * 160,
        durationSec: u.numFrames / 100,
      })),
      supervisions: utts.map((u) => ({
        id: u.uttId,
        recordingId: u.uttId,
        speaker: u.speaker,
        startSec: 0,
        durationSec: u.numFrames / 100,
        text: u.words.join(' '),
      })),
    };
    counts[split] = {
      recordings: utts.length,
      supervisions: utts.length,
      durationSec: utts.reduce((a, u) => a + u.numFrames / 100, 0),
      speakers: new Set(utts.map((u) => u.speaker)).size,
    };
  }
  const info: CorpusInfo = {
    corpus: 'tiny',
    splits: Object.keys(splits),
    sampleRateHz: 16000,
    counts,
    skipped: { done: 0, skipped: 0, reasons: [] },
    options: {},
  };
  await writeCorpus(dir, info, manifests);
}

/** `<dir>/<split>.arrow` feature files as the features stage writes them. */
export async function writeFeatures(dir: string, splits: Record<string, TinyUtt[]>): Promise<void> {
  for (const [split, utts] of Object.entries(splits)) {
    const w = await FeatureFileWriter.open(join(dir, `${split}.arrow`), {
      configHash: FEATURE_CONFIG_HASH,
      featureConfig: FEATURE_CONFIG,
      split,
    });
    for (const u of utts) w.add(u.uttId, { numFrames: u.numFrames, dim: FEATURE_DIM, data: u.feats });
    await w.finish();
  }
}

/**
 * `<dir>/lang/` and `<dir>/model.json` of a monophone model over `phones` (every phone trained, one
 * Gaussian per senone): a stand-in align output for building decoders over large lexicons.
 */
export async function writeMonophoneAlign(
  dir: string,
  phones: PhoneSet,
  optionalSilenceProb = 0.5,
): Promise<{ langDir: string; model: string }> {
  const topology = new Topology(phones);
  const tm = new TransitionModel(topology);
  const ctx = new MonophoneContext(topology);
  const am = new AmDiagGmm(
    Array.from({ length: ctx.numPdfs }, () => DiagGmm.single(new Float64Array(2), new Float64Array(2).fill(1))),
  );
  const lex = new Lexicon();
  lex.add('<UNK>', ['SPN']);
  const lang: Lang = {
    phones,
    lexicon: lex,
    words: SymbolTable.forWords(lex.words()),
    oovs: new Map(),
    sourceCounts: { corpus: 0, cmudict: 0, g2p: 0 },
    options: { corpusLexiconPath: null, useCmudict: false, optionalSilenceProb },
  };
  await writeLang(join(dir, 'lang'), lang);
  await saveModel(join(dir, 'model.json'), { phones, topology, tm, ctx, am });
  return { langDir: join(dir, 'lang'), model: join(dir, 'model.json') };
}

/** ARPA text of a uniform unigram LM over `words` (and `</s>`, `<unk>`). */
export function uniformUnigramArpa(words: readonly string[]): string {
  const lp = (-Math.log10(words.length + 2)).toFixed(6);
  return `\\data\\\nngram 1=${words.length + 3}\n\n\\1-grams:\n${lp} </s>\n-99 <s>\n${lp} <unk>\n${words.map((w) => `${lp} ${w}\n`).join('')}\n\\end\\\n`;
}

/** `<dir>/lang/` and `<dir>/model.json` as the align stage writes them. */
export async function writeAlignDir(dir: string, world: TinyWorld, optionalSilenceProb = 0.5): Promise<void> {
  const lex = world.lex;
  const lang: Lang = {
    phones: PHONES,
    lexicon: lex,
    words: SymbolTable.forWords(lex.words()),
    oovs: new Map(),
    sourceCounts: { corpus: lex.size, cmudict: 0, g2p: 0 },
    options: { corpusLexiconPath: null, useCmudict: false, optionalSilenceProb },
  };
  await writeLang(join(dir, 'lang'), lang);
  await saveModel(join(dir, 'model.json'), world.hmm);
}

export interface ModelSpec {
  /** Standard deviation of the weight perturbation, relative to the weights' scale. */
  perturb: number;
  seed: string;
  cmvn: CmvnOptions;
  /** Override the senone count (bad-input tests). */
  numSenones?: number;
  featureConfig?: FeatureConfig;
  senoneInventoryId?: string;
}

/** A model directory whose logits are (perturbed) Gaussian log-likelihoods + log priors. */
export async function writeModel(dir: string, world: TinyWorld, train: TinyUtt[], spec: ModelSpec): Promise<void> {
  const S = world.numSenones;
  const counts = new Float64Array(S);
  const mean = new Float64Array(FEATURE_DIM);
  let frames = 0;
  for (const u of train) {
    for (let t = 0; t < u.numFrames; t++) {
      counts[u.senones[t]]++;
      for (let d = 0; d < FEATURE_DIM; d++) mean[d] += u.feats[t * FEATURE_DIM + d];
      frames++;
    }
  }
  for (let d = 0; d < FEATURE_DIM; d++) mean[d] /= frames;
  const priors = senonePriors(counts, 1);
  const rng = new Rng(spec.seed);
  const inv = 1 / (world.sigma * world.sigma);
  const outS = spec.numSenones ?? S;
  const W = new Float32Array(FEATURE_DIM * outS);
  const b = new Float32Array(outS);
  const centred = spec.cmvn.mode !== 'none';
  for (let s = 0; s < outS; s++) {
    const m = world.means[s % S];
    let sq = 0,
      wm = 0;
    for (let d = 0; d < FEATURE_DIM; d++) {
      const w = m[d] * inv * (1 + spec.perturb * rng.gauss());
      W[d * outS + s] = w;
      sq += m[d] * m[d];
      wm += w * mean[d];
    }
    // Members see mean-normalised features x - mean: logits w.(x - mean) + b + w.mean = w.x + b.
    b[s] = -0.5 * sq * inv + Math.log(priors[s % S]) + (centred ? wm : 0);
  }
  const classifier = createFrameClassifier(
    { inputDim: FEATURE_DIM, hiddenLayers: 0, hiddenUnits: 1, numSenones: outS },
    1,
  );
  const wt = [tf.tensor2d(W, [FEATURE_DIM, outS]), tf.tensor1d(b)];
  classifier.model.setWeights(wt);
  tf.dispose(wt);
  const sidecar: ModelSidecar = {
    kind: SIDECAR_KIND,
    formatVersion: SIDECAR_VERSION,
    shape: classifier.shape,
    senones: { numSenones: outS, ...(spec.senoneInventoryId ? { id: spec.senoneInventoryId } : {}) },
    featureConfig: (spec.featureConfig ?? FEATURE_CONFIG) as unknown as Record<string, unknown>,
    featureDim: FEATURE_DIM,
    splice: { leftContext: 0, rightContext: 0 },
    cmvn: spec.cmvn,
    priors: Array.from({ length: outS }, (_, s) => priors[s % S] * (outS === S ? 1 : S / outS)),
    output: 'posteriors',
  };
  await saveModelDir(dir, classifier, sidecar);
  classifier.dispose();
}

export const NO_CMVN: CmvnOptions = { mode: 'none', normVars: false };
export const SPEAKER_CMVN: CmvnOptions = { mode: 'speaker', normVars: false };

const entry = (name: string, role: string, train: TinyUtt[]) => ({
  name,
  role,
  dir: `${name}/final`,
  seed: 0,
  weightsHash: '',
  bestEpoch: 1,
  bestAccuracy: 0,
  accuracyOn: 'dev',
  epochs: 1,
  stopReason: 'max-epochs',
  subset: null,
  trainFrames: 0,
  trainUtterances: train.length,
});

/** The train stage's output: `models.json` with baseline and members (model dirs in `<name>/final/`). */
export async function writeTrainStage(
  trainDir: string,
  world: TinyWorld,
  train: TinyUtt[],
  members = 3,
): Promise<void> {
  const models = [entry('baseline', 'baseline', train)];
  await writeModel(join(trainDir, 'baseline', 'final'), world, train, {
    perturb: 0.5,
    seed: 'baseline',
    cmvn: NO_CMVN,
  });
  for (let k = 1; k <= members; k++) {
    models.push(entry(`member-${k}`, 'member', train));
    await writeModel(join(trainDir, `member-${k}`, 'final'), world, train, {
      perturb: 0.45,
      seed: `member-${k}`,
      cmvn: SPEAKER_CMVN,
    });
  }
  await writeJsonAtomic(join(trainDir, 'models.json'), {
    format: 'am-distill.acoustic-models',
    version: 1,
    inventory: {},
    trainConfig: {},
    data: {},
    models,
  });
}

/** The distill stage's output: `students.json` with the student. */
export async function writeDistillStage(distillDir: string, world: TinyWorld, train: TinyUtt[]): Promise<void> {
  await writeModel(join(distillDir, 'student', 'final'), world, train, {
    perturb: 0.2,
    seed: 'student',
    cmvn: NO_CMVN,
  });
  await writeJsonAtomic(join(distillDir, 'students.json'), {
    format: 'am-distill.students',
    version: 1,
    teachers: [],
    students: [{ ...entry('student', 'student', train), targetSet: 'main', temperature: 2, k: 10, loss: {} }],
  });
}

/** An ARPA trigram trained on the transcripts of `utts` (what the lm stage does). */
export function arpaOf(utts: readonly { words: readonly string[] }[], order = 3): string {
  return formatArpa(
    estimateKneserNey(
      utts.map((u, i) => ({ words: [...u.words], line: i + 1 })),
      { order, logger: quiet },
    ),
  );
}

/** A bigram LM that allows only `words` in this order (log10 1 on the chain, -99 elsewhere). */
export function forcedArpa(vocab: readonly string[], words: readonly string[]): string {
  const uni = ['<s>', '</s>', ...vocab].map((w) => `-99\t${w}\t0`);
  const chain = ['<s>', ...words, '</s>'];
  const bi = [...new Set(chain.slice(1).map((w, i) => `0\t${chain[i]} ${w}`))];
  return `\\data\\\nngram 1=${uni.length}\nngram 2=${bi.length}\n\n\\1-grams:\n${uni.join('\n')}\n\n\\2-grams:\n${bi.join('\n')}\n\n\\end\\\n`;
}

/** The whole tiny experiment under `root`: data/, features/, align/, train/, distill/, lm.arpa. */
export async function writeTinyExperiment(
  root: string,
  opts: TinyOptions = {},
): Promise<{
  world: TinyWorld;
  splits: Record<string, TinyUtt[]>;
  dirs: Record<'data' | 'features' | 'align' | 'train' | 'distill', string>;
  lm: string;
}> {
  const world = new TinyWorld(opts);
  const splits = makeSplits(world, opts);
  const dirs = {
    data: join(root, 'data'),
    features: join(root, 'features'),
    align: join(root, 'align'),
    train: join(root, 'train'),
    distill: join(root, 'distill'),
  };
  await writeDataDir(dirs.data, splits);
  await writeFeatures(dirs.features, splits);
  await writeAlignDir(dirs.align, world);
  await writeTrainStage(dirs.train, world, splits.train);
  await writeDistillStage(dirs.distill, world, splits.train);
  const lm = join(root, 'lm.arpa');
  await fsp.writeFile(lm, arpaOf(splits.train));
  return { world, splits, dirs, lm };
}

const toyStage = (name: string, inputs: string[], write: (out: string) => Promise<void>): StageDefinition => ({
  name,
  doc: `toy ${name}`,
  inputs,
  schema: {},
  async run(ctx) {
    await write(ctx.outDir);
    return {};
  },
});

/**
 * A runner registry: toy prepare, features, align, train and distill stages that write the tiny
 * experiment `make()` returns (called afresh per stage: make it deterministic), then the real lm,
 * decode and score stages.
 */
export function toyDecodeRegistry(make: () => { world: TinyWorld; splits: Record<string, TinyUtt[]> }): StageRegistry {
  return new StageRegistry()
    .register(toyStage('prepare', [], async (o) => writeDataDir(o, make().splits)))
    .register(toyStage('features', ['prepare'], async (o) => writeFeatures(o, make().splits)))
    .register(toyStage('align', ['prepare', 'features'], async (o) => writeAlignDir(o, make().world)))
    .register(
      toyStage('train', ['align'], async (o) => {
        const t = make();
        await writeTrainStage(o, t.world, t.splits.train);
      }),
    )
    .register(
      toyStage('distill', ['train'], async (o) => {
        const t = make();
        await writeDistillStage(o, t.world, t.splits.train);
      }),
    )
    .register(lmStage)
    .register(createDecodeStage(['train', 'distill']))
    .register(scoreStage);
}

/** A recipe for toyDecodeRegistry: toy upstream stages, then `lm` (line 9) and `decode` (line 10) as given. */
export function toyDecodeRecipe(lm: string, decode: string): string {
  return `name: t
seed: 3
stages:
  prepare: {}
  features: {}
  align: {}
  train: {}
  distill: {}
  lm: ${lm}
  decode: ${decode}
  score: {bootstrapReplicates: 100}
`;
}
