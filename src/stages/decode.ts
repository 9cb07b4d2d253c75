/**
 * The `decode` stage: trained acoustic models + the align stage's lang
 * directory and HMM (tree, transition model) + an ARPA LM -> 1-best hypotheses of every split, for
 * every system (baseline, members, ensemble, student).
 *
 * Per system, the LM weight and word insertion penalty are chosen on the tuning split (dev) by
 * a grid search for the fewest errors (src/score, sclite convention), and then applied unchanged
 * to the other splits (test): the test set never chooses its own weights. The grid search decodes
 * the tuning split once with word lattices and rescores them at each grid point; the split is
 * then decoded again at the chosen weights for its outputs.
 *
 * One pass per split reads the features once; per utterance each model's logits are computed once
 * (shared by a member and the ensemble), each system's hybrid scores once, so memory is one
 * utterance of scores plus the compact hypotheses (words, word frames, a few numbers), and for the
 * tuning split's first pass the pruned lattices.
 *
 * Output directory:
 *   refs/<split>.trn                 references (sclite trn), the utterances decoded
 *   <system>/<split>.trn             hypotheses (sclite trn), in reference order; empty when no token
 *                                    survived or the utterance has no features (both counted)
 *   <system>/<split>.ctm             word times (Kaldi/sclite CTM: utt 1 start duration word)
 *   <system>/<split>.utts.jsonl      per utterance: frames, words, path score, LM log10 prob, active tokens
 *   <system>/tuning.json             the grid with dev errors per point and the chosen weights
 *   words.txt                        the recogniser vocabulary (lexicon words the LM and the HMM cover)
 *   decode.json                      what was decoded with which weights, counts per system and split
 *   timing.json                      decoding speed (only with writeTiming; the stage records it in
 *                                    stage.json so that the other files are byte-identical per run)
 *
 * Its run function is `decodeCorpus`, which the CLI calls too. In shards (`--shards N`, cluster
 * jobs) it tunes per system in a pass and decodes per (system, split): ./decode-shards.ts.
 *
 * Recipe:
 *   stages:
 *     decode:
 *       systems: [baseline, ensemble, student]   # model names, 'ensemble' (all members), 'members' (each alone)
 *       tuneSplit: dev       # chooses lmWeight x wordInsertionPenalty; null: fixed lmWeight / wordInsertionPenalty
 *       splits: [test]       # decoded with the chosen weights
 *       beam: 13
 *       maxActive: 7000
 *       acousticScale: 0.1
 *       lmWeights: [0.7, 0.9, 1.1, 1.3, 1.5, 1.7]
 *       wordInsertionPenalties: [0, 0.5, 1]
 *       priors: alignments   # or posteriors: each system's mean posterior on priorSplit (Kaldi nnet3 adjust-priors)
 *       priorSplit: train
 *       priorFrames: 20000
 *       lexicon: null        # a Kaldi lexicon.txt instead of the align stage's lang/lexicon.txt (phones of its set)
 *
 * A split that the lm stage gave a grammar (`stages.lm.grammars`, e.g. `test-isolated: one-word`) is
 * decoded with that grammar (lm/grammars/<split>.arpa) instead of lm.arpa, at each system's weights;
 * decode.json lists it under `splitLms`. The LM weight must then be > 0 (0 would switch the grammar off).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Decoder, type DecodeResult } from '../decode/decoder.ts';
import { SearchLm } from '../decode/search-lm.ts';
import {
  DECODE_SEARCH_DEFAULTS,
  buildSearch,
  decodeOptions,
  resolveSearchOptions,
  type DecodeSearchOptions,
  type DecodeSearchSpace,
} from '../decode/search-space.ts';
import {
  ModelBank,
  checkSystemSpecs,
  resolveModelDir,
  type AcousticSystem,
  type SystemSpec,
} from '../decode/systems.ts';
import { searchGrid } from '../decode/tune.ts';
import type { WordLattice } from '../decode/lattice.ts';
import { readFeatureMetadata } from '../features/store.ts';
import {
  DECODE_FORMAT,
  DECODE_FORMAT_VERSION,
  type DecodeSummary,
  type LmRecord,
  type SystemSplitSummary,
  type SystemSummary,
} from '../formats/decode.ts';
import { MODELS_JSON, STUDENTS_JSON, readModelsFile, readStudentsFile } from '../formats/models.ts';
import { ArrowFrameSource } from '../nnet/arrow-source.ts';
import { BACKEND_LADDER, initBackend, type BackendName } from '../nnet/backend.ts';
import { checkUtterance, scanSource, type CmvnOptions, type SpeakerCmvn } from '../nnet/data.ts';
import { inventoryOf } from '../nnet/split-data.ts';
import { checkSplits, readSplitTranscripts } from '../score/references.ts';
import { formatTrn, type TrnUtterance } from '../score/trn.ts';
import { scoreTranscripts, type ScoreOptions } from '../score/wer.ts';
import { ConfigError, FormatError, SkipCounter } from '../util/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { hashFile } from '../util/hash.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import { inferenceBatchSizeOption, locateConfigError } from './common.ts';
import type { CorpusLmSummary } from './lm.ts';
import type { Schema, SchemaFor } from './schema.ts';
import { decodeSharding } from './decode-shards.ts';
import type { StageContext, StageDefinition, StageResult } from './stage.ts';

/** One split to decode. */
export interface DecodeSplitInput {
  name: string;
  /** Feature files of the split (shards in order). */
  features: string[];
  /**
   * References. When given, exactly these utterances are decoded, in this order (one without
   * features gets an empty hypothesis, counted); required for the tuning split.
   */
  refs?: readonly TrnUtterance[];
  /** utt2spk for per-speaker CMVN (unknown utterances are their own speaker). */
  uttToSpeaker?: ReadonlyMap<string, string>;
  /**
   * ARPA LM of this split instead of DecodeCorpusOptions.lm, e.g. a one-word grammar for isolated
   * words (the lm stage's `grammars`). Its words must be lexicon words; the same lexicon and HMM.
   */
  lm?: string;
}

export interface DecodeCorpusOptions {
  systems: SystemSpec[];
  /** Lang directory of the align stage (phones, lexicon.txt, lang.json). */
  langDir: string;
  /**
   * A Kaldi lexicon.txt decoded with instead of the lang directory's (BuildSearchOptions.lexicon):
   * its phones must be the HMM's (word positions are marked when the HMM has them and the file not);
   * pronunciations with other phones are left out and counted. Default: the lang directory's.
   */
  lexicon?: string | null;
  /** The GMM-HMM model.json of the align stage (phones, topology, transitions, tree). */
  hmmModel: string;
  /** ARPA LM. */
  lm: string;
  /**
   * Keep a binary cache next to each ARPA file (`<lm>.amdlm`, src/lm/store-file.ts). Default true;
   * the pipeline's decode stage turns it off, since its LMs are the lm stage's outputs, which no
   * other stage writes into.
   */
  lmCache?: boolean;
  /** Split whose references choose the LM weight and penalty per system (decoded and written too). Default none: fixed weights. */
  tune?: DecodeSplitInput | null;
  /** Splits decoded with the chosen (or fixed) weights. */
  splits: DecodeSplitInput[];
  /** Fixed LM weight and penalty of named systems without a tuning split (others: search.lmWeight / wordInsertionPenalty). */
  systemWeights?: Record<string, { lmWeight: number; wordInsertionPenalty: number }>;
  /**
   * Weights chosen elsewhere, by system: the tuning of a shard job before (./decode-shards.ts),
   * recorded as they were chosen (weightsFrom, tuning). Before systemWeights and the search's.
   */
  tuned?: Record<string, Pick<SystemSummary, 'lmWeight' | 'wordInsertionPenalty' | 'weightsFrom' | 'tuning'>>;
  /** Output directory (the caller makes it atomic). */
  outDir: string;
  search?: Partial<DecodeSearchOptions>;
  /** Compute engine (ladder rung). Default 'auto'. */
  backend?: BackendName | 'auto';
  /** Frames per forward pass. Default 512. */
  inferenceBatchSize?: number;
  /**
   * Identity of the HMM's senone inventory (the train stage's id of the align output); every model
   * whose sidecar names an inventory must name this one. Default: only the senone count is checked.
   */
  senoneInventoryId?: string;
  /**
   * Priors divided out of the posteriors. 'alignments' (default): the models' sidecar priors (senone
   * frequencies of the training alignments, Kaldi nnet1's class-frame-counts). 'posteriors': each
   * system's mean posterior over up to `maxFrames` frames of `split` (evenly spaced utterances),
   * as Kaldi nnet3's adjust-priors; an ensemble's prior is its combined posterior's mean.
   */
  priors?: PriorsOption;
  /** Model and LM paths in decode.json are written relative to this directory (output files always relative to outDir). Default: as given. */
  pathBase?: string;
  /** Write timing.json. Default true. */
  writeTiming?: boolean;
  logger?: Logger;
}

export type PriorsOption =
  { source: 'alignments' } | { source: 'posteriors'; split: DecodeSplitInput; maxFrames: number };

export interface SystemSplitTiming {
  frames: number;
  /** Search time (decoder only). */
  searchSec: number;
  /** Search time / audio duration (the tuning split: its decode at the chosen weights). */
  searchRtf: number;
  /** Forward passes + score computation. */
  acousticSec: number;
  acousticRtf: number;
  meanActive: number;
  maxActive: number;
}

export interface DecodeTiming {
  backend: string;
  totalSec: number;
  systems: Record<string, Record<string, SystemSplitTiming>>;
}

export interface DecodeCorpusResult {
  summary: DecodeSummary;
  timing: DecodeTiming;
}

/** A decode result without the per-call objects (kept for every tuning grid point). */
interface SlimResult {
  words: readonly string[];
  /** startFrame, endFrame per word. */
  frames: Int32Array;
  score: number;
  lmLog10Prob: number | null;
  reachedFinal: boolean;
  numFrames: number;
  meanActive: number;
  maxActive: number;
  wordEnds: number;
}

function slim(r: DecodeResult): SlimResult {
  const frames = new Int32Array(2 * r.times.length);
  r.times.forEach((t, i) => {
    frames[2 * i] = t.startFrame;
    frames[2 * i + 1] = t.endFrame;
  });
  return {
    words: r.words,
    frames,
    score: r.score,
    lmLog10Prob: r.lmLog10Prob,
    reachedFinal: r.reachedFinal,
    numFrames: r.stats.numFrames,
    meanActive: r.stats.meanActive,
    maxActive: r.stats.maxActive,
    wordEnds: r.stats.wordEnds,
  };
}

const EMPTY: SlimResult = Object.freeze({
  words: [],
  frames: new Int32Array(0),
  score: -Infinity,
  lmLog10Prob: null,
  reachedFinal: false,
  numFrames: 0,
  meanActive: 0,
  maxActive: 0,
  wordEnds: 0,
}) as SlimResult;

/** One hypothesis line's worth of results for one system on one split. */
interface UttOutcome {
  uttId: string;
  /** 'ok', or why there is no decoding. */
  status: 'ok' | 'no-features';
  result: SlimResult;
  /** The word lattice, when the pass records them (tuning). */
  lattice?: WordLattice;
}

/** Lattice beam of the tuning split's first pass (Kaldi's decode.sh default). */
const TUNING_LATTICE_BEAM = 8;

/** Accumulated timing of a (system, split). */
class TimingAcc {
  frames = 0;
  searchSec = 0;
  acousticSec = 0;
  activeW = 0;
  maxActive = 0;
  decodes = 0;
}

function round(x: number, digits = 6): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** CTM lines of one utterance (Kaldi/sclite: `<utt> 1 <start> <duration> <word>`). */
function ctmLines(uttId: string, r: SlimResult, shiftSec: number): string {
  let s = '';
  for (let i = 0; i < r.words.length; i++) {
    const st = r.frames[2 * i],
      en = r.frames[2 * i + 1];
    s += `${uttId} 1 ${(st * shiftSec).toFixed(3)} ${((en - st + 1) * shiftSec).toFixed(3)} ${r.words[i]}\n`;
  }
  return s;
}

function uttJson(o: UttOutcome): string {
  const r = o.result;
  return (
    JSON.stringify({
      uttId: o.uttId,
      status: o.status === 'ok' ? (r.reachedFinal ? 'ok' : 'no-path') : o.status,
      numFrames: r.numFrames,
      words: r.words.length,
      hyp: r.words.join(' '),
      score: Number.isFinite(r.score) ? round(r.score, 4) : null,
      lmLog10Prob: r.lmLog10Prob === null ? null : round(r.lmLog10Prob, 4),
      meanActive: round(r.meanActive, 2),
      maxActive: r.maxActive,
      wordEnds: r.wordEnds,
    }) + '\n'
  );
}

async function lmRecord(file: string, slm: SearchLm, rel: (p: string) => string): Promise<LmRecord> {
  return { file: rel(file), sha256: await hashFile(file), order: slm.order, vocabulary: slm.vocab.length };
}

async function splitLmRecords(
  spaces: Map<string, DecodeSearchSpace & { lmFile: string }>,
  rel: (p: string) => string,
): Promise<NonNullable<DecodeSummary['splitLms']>> {
  const out: NonNullable<DecodeSummary['splitLms']> = {};
  for (const [split, x] of [...spaces].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    out[split] = { ...(await lmRecord(x.lmFile, x.slm, rel)), searchWords: x.searchWords.length };
  }
  return out;
}

/** What one decodeCorpus call shares between its steps. */
interface DecodeRun {
  opts: DecodeCorpusOptions;
  search: DecodeSearchOptions;
  logger: Logger;
  bank: ModelBank;
  systems: readonly AcousticSystem[];
  summaries: SystemSummary[];
  sources: Map<string, ArrowFrameSource>;
  decoderOf: (split: string) => Decoder;
  frameShiftSec: number;
  timing: DecodeTiming;
  skipped: DecodeSummary['skipped'];
}

/** The tuning split and the other splits, checked: names distinct and file-safe, references to tune on. */
function checkDecodeSplits(opts: DecodeCorpusOptions): string[] {
  if (opts.splits.length === 0 && !opts.tune)
    throw new ConfigError('no split to decode', { keyPath: 'splits', expected: 'at least one split', found: 'none' });
  const names = [...(opts.tune ? [opts.tune.name] : []), ...opts.splits.map((s) => s.name)];
  if (new Set(names).size !== names.length)
    throw new ConfigError('a split is listed twice', {
      keyPath: 'splits',
      expected: 'distinct splits (the tuning split is decoded anyway)',
      found: names.join(', '),
    });
  for (const n of names)
    if (!/^[A-Za-z0-9._-]+$/.test(n))
      throw new ConfigError('bad split name', {
        keyPath: 'splits',
        expected: "letters, digits, '.', '_' or '-'",
        found: JSON.stringify(n),
      });
  if (opts.tune && !opts.tune.refs)
    throw new ConfigError('the tuning split needs references', {
      keyPath: 'tune',
      expected: `reference transcripts of '${opts.tune.name}'`,
      found: 'none',
    });
  return names;
}

const allSplits = (opts: DecodeCorpusOptions): DecodeSplitInput[] => [
  ...(opts.tune ? [opts.tune] : []),
  ...opts.splits,
];

/** The search spaces: lexicon x HMM x LM, one for the corpus LM and one per other LM a split names. */
async function buildSearchSpaces(
  opts: DecodeCorpusOptions,
  search: DecodeSearchOptions,
  logger: Logger,
): Promise<{ main: DecodeSearchSpace; splitSearch: Map<string, DecodeSearchSpace & { lmFile: string }> }> {
  const main = await buildSearch(opts.langDir, opts.hmmModel, opts.lm, search, logger, opts.lmCache, {
    lexicon: opts.lexicon,
  });
  const splitSearch = new Map<string, DecodeSearchSpace & { lmFile: string }>();
  for (const sp of allSplits(opts)) {
    if (!sp.lm) continue;
    logger.info(`decode: split '${sp.name}' with its own LM ${sp.lm}`);
    splitSearch.set(
      sp.name,
      [...splitSearch.values()].find((x) => x.lmFile === sp.lm) ?? {
        ...(await buildSearch(opts.langDir, opts.hmmModel, sp.lm, search, logger, opts.lmCache, {
          lexicon: opts.lexicon,
        })),
        lmFile: sp.lm,
      },
    );
  }
  return { main, splitSearch };
}

/** Every split's features opened and checked against the models and the HMM; one frame shift for all. */
async function openSplitSources(
  opts: DecodeCorpusOptions,
  bank: ModelBank,
  numPdfs: number,
): Promise<{ sources: Map<string, ArrowFrameSource>; frameShiftSec: number }> {
  if (opts.senoneInventoryId) {
    for (const [dir, sc] of bank.sidecars()) {
      if (sc.senones.id !== undefined && sc.senones.id !== opts.senoneInventoryId) {
        throw new FormatError('the model was trained on another senone inventory (another align run)', {
          file: dir,
          expected: `senone inventory ${opts.senoneInventoryId} (of ${opts.hmmModel})`,
          found: sc.senones.id,
        });
      }
    }
  }
  const sources = new Map<string, ArrowFrameSource>();
  const shiftOf = new Map<string, number>();
  for (const sp of allSplits(opts)) {
    const src = await ArrowFrameSource.open({
      features: sp.features,
      uttToSpeaker: sp.uttToSpeaker as Map<string, string> | undefined,
      name: sp.features[0],
    });
    bank.checkInputs(
      {
        featureConfig: src.featureConfig as unknown as Record<string, unknown>,
        featureDim: src.featureDim,
        numSenones: numPdfs,
      },
      `features ${sp.features[0]} and HMM ${opts.hmmModel}`,
    );
    sources.set(sp.name, src);
    shiftOf.set(sp.name, src.featureConfig.frameShiftMs / 1000);
  }
  const shifts = new Set(shiftOf.values());
  if (shifts.size > 1)
    throw new FormatError('splits differ in frame shift', {
      expected: 'one frame shift',
      found: [...shiftOf].map(([k, v]) => `${k} ${v * 1000} ms`).join(', '),
    });
  return { sources, frameShiftSec: [...shifts][0] };
}

/** Priors from the systems' own mean posteriors (Kaldi nnet3 adjust-priors), written to <system>/priors.json. */
async function usePosteriorPriors(
  run: DecodeRun,
  pr: Extract<PriorsOption, { source: 'posteriors' }>,
  numPdfs: number,
): Promise<void> {
  const { opts, bank, systems, summaries, logger } = run;
  if (!(Number.isInteger(pr.maxFrames) && pr.maxFrames >= 1))
    throw new ConfigError('bad prior frame count', {
      keyPath: 'priorFrames',
      expected: 'an integer >= 1',
      found: String(pr.maxFrames),
    });
  const src = await ArrowFrameSource.open({
    features: pr.split.features,
    uttToSpeaker: pr.split.uttToSpeaker as Map<string, string> | undefined,
    name: pr.split.features[0],
  });
  bank.checkInputs(
    {
      featureConfig: src.featureConfig as unknown as Record<string, unknown>,
      featureDim: src.featureDim,
      numSenones: numPdfs,
    },
    `features ${pr.split.features[0]} and HMM ${opts.hmmModel}`,
  );
  const est = await estimatePosteriorPriors(bank, src, pr.split, pr.maxFrames, logger);
  for (const [si, sys] of systems.entries()) {
    const before = Float64Array.from(sys.logPriors, Math.exp);
    sys.setPriors(est.sums[si]);
    let kl = 0;
    for (let s = 0; s < sys.numSenones; s++) kl += before[s] * (Math.log(before[s]) - sys.logPriors[s]);
    const file = join(opts.outDir, sys.name, 'priors.json');
    await writeJsonAtomic(file, {
      source: 'posteriors',
      split: pr.split.name,
      utterances: est.utterances,
      frames: est.frames,
      priors: Array.from(sys.logPriors, Math.exp),
    });
    summaries[si].priors = {
      source: 'posteriors',
      split: pr.split.name,
      utterances: est.utterances,
      frames: est.frames,
      klFromAlignments: kl,
      file: relative(opts.outDir, file),
    };
    logger.info(
      `${sys.name}: priors from its mean posterior on ${est.frames} frames of '${pr.split.name}' (${est.utterances} utterances); KL from the alignment priors ${kl.toFixed(4)} nats`,
    );
  }
}

/** CMVN statistics of a split for every setting the models use (Kaldi: per speaker of the data decoded). */
async function useSplitCmvn(bank: ModelBank, src: ArrowFrameSource): Promise<void> {
  const cmvn = new Map<string, SpeakerCmvn>();
  for (const c of bank.cmvnSettings()) {
    if (c.mode === 'none') continue;
    cmvn.set(JSON.stringify([c.mode, c.normVars]), (await scanSource(src, { cmvn: c })).cmvn);
  }
  bank.useCmvn((c: CmvnOptions) => cmvn.get(JSON.stringify([c.mode, c.normVars])));
}

/**
 * One pass over a split: every usable utterance's scores per system (computed once), decoded at
 * every point of `points(system)`. Returns per system and point the outcomes in hypothesis-line
 * order (reference order, empty for references without usable features; else feature order) and
 * records the split's skips and timing.
 */
async function decodePass(
  run: DecodeRun,
  sp: DecodeSplitInput,
  points: (sys: number) => { lmWeight: number; wordInsertionPenalty: number }[],
  lattices = false,
): Promise<UttOutcome[][][]> {
  const { systems, search, logger, frameShiftSec } = run;
  const src = run.sources.get(sp.name)!;
  const splitDecoder = run.decoderOf(sp.name);
  await useSplitCmvn(run.bank, src);
  const skips = new SkipCounter();
  const refIds = sp.refs ? new Set(sp.refs.map((r) => r.uttId)) : null;
  const outcomes = new Map<string, UttOutcome[][]>();
  const order: string[] = [];
  const accs = systems.map(() => new TimingAcc());
  let total = 0;
  for (const f of sp.features) total += (await readFeatureMetadata(f)).counts.utterances;
  const badIds = new Set<string>();
  const progress = logger.progress(`decode ${sp.name}`, total, 'utts');
  for await (const utt of src.utterances()) {
    if (refIds && !refIds.has(utt.uttId)) {
      skips.skip(utt.uttId, 'no reference transcript');
      progress.tick();
      continue;
    }
    if (outcomes.has(utt.uttId))
      throw new FormatError('utterance id appears twice in the features', {
        file: src.name,
        uttId: utt.uttId,
        expected: 'unique ids',
        found: 'a second occurrence',
      });
    const bad = checkUtterance(utt, src);
    if (bad) {
      skips.skip(utt.uttId, bad);
      badIds.add(utt.uttId);
      progress.tick();
      continue;
    }
    skips.done++;
    const per: UttOutcome[][] = [];
    systems.forEach((sys, si) => {
      const a0 = sys.timing.forwardSec + sys.timing.scoreSec;
      const scores = sys.scores(utt, search.acousticScale);
      const acc = accs[si];
      acc.acousticSec += sys.timing.forwardSec + sys.timing.scoreSec - a0;
      acc.frames += utt.numFrames;
      const list: UttOutcome[] = [];
      for (const p of points(si)) {
        const o = decodeOptions(search, p, frameShiftSec);
        const r = splitDecoder.decode(
          utt.uttId,
          scores,
          lattices ? { ...o, lattice: true, latticeBeam: TUNING_LATTICE_BEAM } : o,
        );
        acc.searchSec += r.stats.elapsedSec;
        acc.activeW += r.stats.meanActive * r.stats.numFrames;
        acc.maxActive = Math.max(acc.maxActive, r.stats.maxActive);
        acc.decodes++;
        list.push({ uttId: utt.uttId, status: 'ok', result: slim(r), ...(r.lattice ? { lattice: r.lattice } : {}) });
      }
      per.push(list);
    });
    outcomes.set(utt.uttId, per);
    order.push(utt.uttId);
    progress.tick();
  }
  progress.done();
  // Hypothesis lines: reference order (missing features -> empty), else feature order.
  const ids = sp.refs ? sp.refs.map((r) => r.uttId) : order;
  const bySystem: UttOutcome[][][] = systems.map((_, si) => points(si).map(() => [] as UttOutcome[]));
  let noFeatures = 0;
  for (const id of ids) {
    const per = outcomes.get(id);
    if (!per) {
      noFeatures++;
      if (!badIds.has(id)) skips.skip(id, 'no features');
    }
    systems.forEach((_, si) => {
      points(si).forEach((__, pi) =>
        bySystem[si][pi].push(per ? per[si][pi] : { uttId: id, status: 'no-features', result: EMPTY }),
      );
    });
  }
  if (noFeatures)
    logger.warn(`${sp.name}: ${noFeatures} reference utterance(s) have no usable features and get empty hypotheses`);
  run.skipped[sp.name] = skips.toJSON();
  systems.forEach((sys, si) => {
    const a = accs[si];
    const n = points(si).length;
    const audio = a.frames * frameShiftSec;
    run.timing.systems[sys.name][sp.name] = {
      frames: a.frames,
      searchSec: a.searchSec,
      searchRtf: audio > 0 ? a.searchSec / n / audio : 0,
      acousticSec: a.acousticSec,
      acousticRtf: audio > 0 ? a.acousticSec / audio : 0,
      meanActive: a.frames > 0 ? a.activeW / (a.frames * n) : 0,
      maxActive: a.maxActive,
    };
  });
  return bySystem;
}

/** One system's hypotheses of one split: .trn, .ctm and .utts.jsonl, with its counts (and WER given references). */
async function writeSystemSplit(
  run: DecodeRun,
  si: number,
  sp: DecodeSplitInput,
  outs: UttOutcome[],
): Promise<SystemSplitSummary> {
  const { opts, logger, search } = run;
  const sys = run.systems[si];
  const dir = join(opts.outDir, sys.name);
  const files = {
    trn: join(dir, `${sp.name}.trn`),
    ctm: join(dir, `${sp.name}.ctm`),
    utts: join(dir, `${sp.name}.utts.jsonl`),
  };
  await writeFileAtomic(files.trn, formatTrn(outs.map((o) => ({ uttId: o.uttId, words: o.result.words }))));
  await writeFileAtomic(files.ctm, outs.map((o) => ctmLines(o.uttId, o.result, run.frameShiftSec)).join(''));
  await writeFileAtomic(files.utts, outs.map(uttJson).join(''));
  const decoded = outs.filter((o) => o.status === 'ok');
  const noPath = decoded.filter((o) => !o.result.reachedFinal).map((o) => o.uttId);
  if (noPath.length)
    logger.warn(
      `${sys.name} ${sp.name}: no token reached a final state in ${noPath.length} of ${decoded.length} utterances (empty hypotheses), e.g. ${noPath.slice(0, 5).join(', ')}`,
    );
  let wer: number | null = null,
    errors: number | null = null,
    refWords: number | null = null;
  if (sp.refs) {
    const s = scoreTranscripts(
      sp.refs,
      outs.map((o) => ({ uttId: o.uttId, words: [...o.result.words], line: 0 })),
      { mode: search.scoringMode },
    );
    wer = s.wer;
    errors = s.errors;
    refWords = s.refWords;
    logger.info(
      `${sys.name} ${sp.name}: %WER ${s.wer.toFixed(2)} [ ${s.errors} / ${s.refWords}, ${s.ins} ins, ${s.del} del, ${s.sub} sub ] (lmWeight ${run.summaries[si].lmWeight}, penalty ${run.summaries[si].wordInsertionPenalty})`,
    );
  }
  return {
    utterances: outs.length,
    decoded: decoded.length,
    frames: decoded.reduce((n, o) => n + o.result.numFrames, 0),
    noPath: noPath.length,
    noPathUtterances: noPath,
    noFeatures: outs.length - decoded.length,
    emptyHyps: outs.filter((o) => o.result.words.length === 0).length,
    wer,
    errors,
    refWords,
    files: {
      trn: relative(opts.outDir, files.trn),
      ctm: relative(opts.outDir, files.ctm),
      utts: relative(opts.outDir, files.utts),
    },
  };
}

/**
 * The LM weight and penalty per system on the tuning split: one decode with lattices at the fixed
 * weights (search.lmWeight, search.wordInsertionPenalty), the lattices rescored at every grid point
 * (src/decode/lattice.ts), the point with the fewest errors chosen (tuning.json); then the split is
 * decoded at each system's chosen weights for its outputs, as the other splits are.
 */
async function tuneWeights(run: DecodeRun, sp: DecodeSplitInput): Promise<void> {
  const { search, systems, logger, opts } = run;
  const grid = search.lmWeights.flatMap((lmWeight) =>
    search.wordInsertionPenalties.map((wordInsertionPenalty) => ({ lmWeight, wordInsertionPenalty })),
  );
  const firstPass = { lmWeight: search.lmWeight, wordInsertionPenalty: search.wordInsertionPenalty };
  logger.info(
    `tuning LM weight and insertion penalty on '${sp.name}': one decode with lattices (lmWeight ${firstPass.lmWeight}, penalty ${firstPass.wordInsertionPenalty}, lattice beam ${TUNING_LATTICE_BEAM}) rescored at ${grid.length} grid points x ${systems.length} system(s)`,
  );
  const res = await decodePass(run, sp, () => [firstPass], true);
  const scoreOptions: ScoreOptions = { mode: search.scoringMode };
  for (let si = 0; si < systems.length; si++) {
    const outs = res[si][0];
    const t = searchGrid(
      grid,
      sp.refs!,
      (lmw, pen) => outs.map((o) => ({ uttId: o.uttId, words: o.lattice?.bestPath(lmw, pen)?.words ?? [], line: 0 })),
      { scoreOptions },
    );
    const sm = run.summaries[si];
    sm.lmWeight = t.best.lmWeight;
    sm.wordInsertionPenalty = t.best.wordInsertionPenalty;
    sm.weightsFrom = 'tuning';
    sm.tuning = { split: sp.name, best: t.best, grid: t.grid };
    logger.info(
      `${sm.name}: lmWeight ${sm.lmWeight}, penalty ${sm.wordInsertionPenalty} chosen on ${sp.name} (%WER ${t.best.wer.toFixed(2)} by lattice rescoring)`,
    );
    await writeJsonAtomic(join(opts.outDir, sm.name, 'tuning.json'), {
      split: sp.name,
      scoringMode: search.scoringMode,
      method: { by: 'lattice rescoring', firstPass, latticeBeam: TUNING_LATTICE_BEAM },
      best: t.best,
      grid: t.grid,
    });
  }
  const out = await decodePass(run, sp, (si) => [
    { lmWeight: run.summaries[si].lmWeight, wordInsertionPenalty: run.summaries[si].wordInsertionPenalty },
  ]);
  for (let si = 0; si < systems.length; si++)
    run.summaries[si].splits[sp.name] = await writeSystemSplit(run, si, sp, out[si][0]);
}

/** Decode the splits with every system; see the module comment. */
export async function decodeCorpus(opts: DecodeCorpusOptions): Promise<DecodeCorpusResult> {
  const logger = opts.logger ?? defaultLog;
  const t0 = performance.now();
  const search = resolveSearchOptions(opts.search);
  checkSystemSpecs(opts.systems);
  const names = checkDecodeSplits(opts);
  const rel = (p: string) => (opts.pathBase ? relative(opts.pathBase, p) || '.' : p);
  const { main, splitSearch } = await buildSearchSpaces(opts, search, logger);
  const backend = await initBackend({ backend: opts.backend ?? 'auto', logger });
  const bank = await ModelBank.open(opts.systems, { batchSize: opts.inferenceBatchSize, logger });
  try {
    const { sources, frameShiftSec } = await openSplitSources(opts, bank, main.numPdfs);
    const systems = bank.systems;
    const run: DecodeRun = {
      opts,
      search,
      logger,
      bank,
      systems,
      sources,
      frameShiftSec,
      decoderOf: (split) => splitSearch.get(split)?.decoder ?? main.decoder,
      timing: {
        backend: backend.name,
        totalSec: 0,
        systems: Object.fromEntries(opts.systems.map((s) => [s.name, {}])),
      },
      skipped: {},
      summaries: systems.map((s, i) => ({
        name: s.name,
        models: opts.systems[i].models.map(rel),
        kind: s.models.length > 1 ? 'ensemble' : 'single',
        lmWeight: opts.tuned?.[s.name]?.lmWeight ?? opts.systemWeights?.[s.name]?.lmWeight ?? search.lmWeight,
        wordInsertionPenalty:
          opts.tuned?.[s.name]?.wordInsertionPenalty ??
          opts.systemWeights?.[s.name]?.wordInsertionPenalty ??
          search.wordInsertionPenalty,
        weightsFrom: opts.tuned?.[s.name]?.weightsFrom ?? 'fixed',
        tuning: opts.tuned?.[s.name]?.tuning ?? null,
        priors: { source: 'alignments' },
        splits: {},
      })),
    };
    if (opts.priors?.source === 'posteriors') await usePosteriorPriors(run, opts.priors, main.numPdfs);
    if (opts.tune) await tuneWeights(run, opts.tune);
    // The other splits, with each system's chosen (or fixed) weights.
    for (const sp of opts.splits) {
      const res = await decodePass(run, sp, (si) => [
        { lmWeight: run.summaries[si].lmWeight, wordInsertionPenalty: run.summaries[si].wordInsertionPenalty },
      ]);
      for (let si = 0; si < systems.length; si++)
        run.summaries[si].splits[sp.name] = await writeSystemSplit(run, si, sp, res[si][0]);
    }
    // References and vocabulary.
    for (const sp of allSplits(opts)) {
      if (sp.refs) await writeFileAtomic(join(opts.outDir, 'refs', `${sp.name}.trn`), formatTrn(sp.refs));
    }
    await writeFileAtomic(join(opts.outDir, 'words.txt'), main.searchWords.map((w) => w + '\n').join(''));
    const summary: DecodeSummary = {
      format: DECODE_FORMAT,
      formatVersion: DECODE_FORMAT_VERSION,
      search,
      silenceProb: main.silenceProb,
      frameShiftSec,
      lm: await lmRecord(opts.lm, main.slm, rel),
      ...(splitSearch.size ? { splitLms: await splitLmRecords(splitSearch, rel) } : {}),
      lexicon: {
        words: main.searchWords.length,
        pronunciations: main.numProns,
        notInLm: main.notInLm,
        untrainedPhones: main.untrainedPhones,
        ...(main.lexiconReport ? { file: { ...main.lexiconReport, file: rel(main.lexiconReport.file) } } : {}),
      },
      graph: {
        hmmStates: main.decoder.graph.numStates,
        phoneCopies: main.decoder.graph.numCopies,
        treeNodes: main.decoder.graph.numTrieNodes,
      },
      tuneSplit: opts.tune?.name ?? null,
      splits: names,
      systems: run.summaries,
      skipped: run.skipped,
    };
    await writeJsonAtomic(join(opts.outDir, 'decode.json'), summary);
    run.timing.totalSec = (performance.now() - t0) / 1000;
    if (opts.writeTiming ?? true) await writeJsonAtomic(join(opts.outDir, 'timing.json'), run.timing);
    return { summary, timing: run.timing };
  } finally {
    bank.dispose();
  }
}

/**
 * Sum every system's posteriors over up to `maxFrames` frames of a split: evenly spaced utterances
 * (a stride over the file order chosen from the split's frame count), whole utterances only, so the
 * subset is the same on every run. CMVN statistics come from the whole split.
 */
async function estimatePosteriorPriors(
  bank: ModelBank,
  src: ArrowFrameSource,
  split: DecodeSplitInput,
  maxFrames: number,
  logger: Logger,
): Promise<{ sums: Float64Array[]; utterances: number; frames: number }> {
  const cmvn = new Map<string, SpeakerCmvn>();
  for (const c of bank.cmvnSettings()) {
    if (c.mode === 'none') continue;
    cmvn.set(JSON.stringify([c.mode, c.normVars]), (await scanSource(src, { cmvn: c })).cmvn);
  }
  bank.useCmvn((c: CmvnOptions) => cmvn.get(JSON.stringify([c.mode, c.normVars])));
  let totalFrames = 0;
  for (const f of split.features) totalFrames += (await readFeatureMetadata(f)).counts.frames;
  const stride = Math.max(1, Math.floor(totalFrames / maxFrames));
  const sums = bank.systems.map((s) => new Float64Array(s.numSenones));
  let i = 0,
    frames = 0,
    utterances = 0;
  const progress = logger.progress(
    `priors from posteriors on ${split.name}`,
    Math.min(maxFrames, totalFrames),
    'frames',
  );
  for await (const utt of src.utterances()) {
    if (frames >= maxFrames) break;
    if (i++ % stride !== 0 || checkUtterance(utt, src)) continue;
    for (let si = 0; si < bank.systems.length; si++) bank.systems[si].accumulatePosteriors(utt, sums[si]);
    frames += utt.numFrames;
    utterances++;
    progress.tick(utt.numFrames);
  }
  progress.done();
  if (frames === 0)
    throw new FormatError('no frames to estimate the priors from', {
      file: split.features[0],
      expected: `usable utterances in split '${split.name}'`,
      found: 'none',
    });
  return { sums, utterances, frames };
}

/** The systems decoded by default: the three of the paper's Table 1, and the control where the distill stage made one. */
export const DEFAULT_SYSTEMS: readonly string[] = ['baseline', 'ensemble', 'student', 'control'];

/**
 * Systems a list may name that an experiment need not have: decoded where present, skipped
 * otherwise (the control exists only with stages.distill.control).
 */
export const OPTIONAL_SYSTEMS: readonly string[] = ['control'];

export interface ExperimentModels {
  /** Model name -> model directory (baseline, member-1, ..., student, ...). */
  models: Map<string, string>;
  /** Member names in order (member-1, member-2, ...). */
  members: string[];
}

/** Models recorded by the train stage (`trainDir`) and the distill stage (`distillDir`). */
export async function experimentModels(dirs: {
  train?: string | null;
  distill?: string | null;
}): Promise<ExperimentModels> {
  const models = new Map<string, string>();
  const members: { name: string; k: number }[] = [];
  const add = (stageDir: string, file: string, name: string, dir: string) => {
    const d = resolveModelDir(resolve(stageDir, dir));
    if (!d)
      throw new ConfigError(`model '${name}' listed in ${file} has no model files`, {
        file: join(stageDir, file),
        expected: `model.json, weights.bin, sidecar.json in ${resolve(stageDir, dir)}`,
        found: 'none',
      });
    models.set(name, d);
  };
  if (dirs.train && existsSync(join(dirs.train, MODELS_JSON))) {
    const f = await readModelsFile(dirs.train);
    for (const m of f.models) {
      add(dirs.train, MODELS_JSON, m.name, m.dir);
      if (m.role === 'member')
        members.push({ name: m.name, k: Number(/(\d+)$/.exec(m.name)?.[1] ?? members.length + 1) });
    }
  }
  if (dirs.distill && existsSync(join(dirs.distill, STUDENTS_JSON))) {
    const f = await readStudentsFile(dirs.distill);
    for (const s of f.students) add(dirs.distill, STUDENTS_JSON, s.name, s.dir);
  }
  members.sort((a, b) => a.k - b.k);
  return { models, members: members.map((m) => m.name) };
}

/**
 * SystemSpecs for the wanted names: a model name, `ensemble` (all members), or `members`
 * (each member alone). An absent OPTIONAL_SYSTEMS name is skipped; other unknown names are a
 * ConfigError listing what the experiment has.
 */
export function selectSystems(exp: ExperimentModels, wanted: readonly string[], keyPath = 'systems'): SystemSpec[] {
  const out: SystemSpec[] = [];
  const seen = new Set<string>();
  const push = (s: SystemSpec) => {
    if (!seen.has(s.name)) out.push(s);
    seen.add(s.name);
  };
  const known = [...exp.models.keys(), ...(exp.members.length ? ['ensemble', 'members'] : [])];
  for (const name of wanted) {
    if (name === 'ensemble' && exp.members.length) push({ name, models: exp.members.map((m) => exp.models.get(m)!) });
    else if (name === 'members' && exp.members.length)
      for (const m of exp.members) push({ name: m, models: [exp.models.get(m)!] });
    else if (exp.models.has(name)) push({ name, models: [exp.models.get(name)!] });
    else if (!OPTIONAL_SYSTEMS.includes(name)) {
      throw new ConfigError(`no acoustic model '${name}' in the experiment`, {
        keyPath,
        expected: known.length
          ? `some of ${known.join(', ')}`
          : 'trained models (run the train and distill stages first)',
        found: name,
      });
    }
  }
  return out;
}

export interface DecodeStageOptions extends DecodeSearchOptions {
  /** Systems to decode: model names, 'ensemble', 'members'. Default [baseline, ensemble, student]. */
  systems: string[];
  /** Split that chooses the LM weight and penalty; null: fixed weights. Default 'dev'. */
  tuneSplit: string | null;
  /** Splits decoded with the chosen weights. Default [test]. */
  splits: string[];
  /** Compute engine (ladder rung) of the forward passes. Default 'auto'. */
  backend: BackendName | 'auto';
  /** Frames per forward pass. Default 512. */
  inferenceBatchSize: number;
  /** Priors divided out: 'alignments' (sidecar counts) or 'posteriors' (each system's mean posterior on priorSplit). Default 'alignments'. */
  priors: 'alignments' | 'posteriors';
  /** Split whose features give the mean posteriors. Default 'train'. */
  priorSplit: string;
  /** Frames of priorSplit used (evenly spaced whole utterances). Default 20000 (Kaldi's prior_subset_size). */
  priorFrames: number;
  /** Without a tuning split: fixed LM weight and penalty per system. */
  systemWeights?: Record<string, { lmWeight: number; wordInsertionPenalty: number }>;
  /** A Kaldi lexicon.txt decoded with instead of the align stage's (DecodeCorpusOptions.lexicon). Default none. */
  lexicon?: string;
}

const D = DECODE_SEARCH_DEFAULTS;

export const DECODE_SCHEMA: Schema = {
  systems: {
    type: 'array',
    items: { type: 'string', doc: 'system name' },
    minItems: 1,
    default: [...DEFAULT_SYSTEMS],
    doc: "systems to decode: model names (baseline, member-<k>, student, ...), 'ensemble' (all members), 'members' (each member alone)",
  },
  tuneSplit: {
    type: 'string',
    nullable: true,
    default: 'dev',
    doc: 'split that chooses the LM weight and insertion penalty (null: fixed lmWeight / wordInsertionPenalty)',
  },
  splits: {
    type: 'array',
    items: { type: 'string', doc: 'split name' },
    default: ['test'],
    doc: 'splits decoded with the chosen weights',
  },
  beam: { type: 'number', min: 0.001, default: D.beam, doc: 'beam (log units, after acoustic scaling)' },
  maxActive: { type: 'number', integer: true, min: 1, default: D.maxActive, doc: 'most tokens per frame' },
  acousticScale: {
    type: 'number',
    min: 1e-6,
    default: D.acousticScale,
    doc: 'scale of log posterior - log prior (Kaldi --acwt)',
  },
  lmWeights: {
    type: 'array',
    items: { type: 'number', min: 0, doc: 'LM weight' },
    minItems: 1,
    default: [...D.lmWeights],
    doc: 'LM weights tried on the tuning split',
  },
  wordInsertionPenalties: {
    type: 'array',
    items: { type: 'number', doc: 'penalty' },
    minItems: 1,
    default: [...D.wordInsertionPenalties],
    doc: 'word insertion penalties tried on the tuning split',
  },
  lmWeight: { type: 'number', min: 0, default: D.lmWeight, doc: 'LM weight without a tuning split' },
  wordInsertionPenalty: {
    type: 'number',
    default: D.wordInsertionPenalty,
    doc: 'word insertion penalty without a tuning split',
  },
  systemWeights: {
    type: 'map' as const,
    optional: true,
    doc: 'without a tuning split: LM weight and penalty per system (others: lmWeight / wordInsertionPenalty); a study freezes the ones tuned on its inner dev speaker here',
    values: {
      type: 'object' as const,
      doc: 'weights of one system',
      fields: {
        lmWeight: { type: 'number' as const, min: 0, doc: 'LM weight' },
        wordInsertionPenalty: { type: 'number' as const, doc: 'word insertion penalty' },
      },
    },
  },
  silenceProb: {
    type: 'number',
    min: 0,
    max: 1,
    nullable: true,
    default: undefined,
    doc: "optional silence probability (null: the align stage's)",
  },
  lmLookahead: { type: 'boolean', default: D.lmLookahead, doc: 'LM look-ahead in the lexical tree' },
  lookaheadOrder: {
    type: 'number',
    integer: true,
    min: 1,
    default: D.lookaheadOrder,
    doc: 'order of the look-ahead LM',
  },
  scoringMode: {
    type: 'string',
    enum: ['sclite', 'kaldi'],
    default: D.scoringMode,
    doc: 'WER convention used for tuning',
  },
  allowUnk: {
    type: 'boolean',
    default: D.allowUnk,
    doc: '<UNK> (spoken noise) as a recognisable word (its senones need <UNK> in the training transcripts)',
  },
  backend: {
    type: 'string',
    enum: ['auto', ...BACKEND_LADDER],
    default: 'auto',
    doc: 'compute engine of the forward passes (auto: tfjs-node-gpu > native > tfjs-node > wasm > cpu)',
  },
  inferenceBatchSize: inferenceBatchSizeOption(512),
  priors: {
    type: 'string',
    enum: ['alignments', 'posteriors'],
    default: 'alignments',
    doc: "priors divided out of the posteriors: senone frequencies of the training alignments, or each system's mean posterior on priorSplit (Kaldi nnet3 adjust-priors)",
  },
  priorSplit: {
    type: 'string',
    default: 'train',
    doc: 'split whose features give the mean posteriors (priors: posteriors)',
  },
  priorFrames: {
    type: 'number',
    integer: true,
    min: 1,
    default: 20000,
    unit: 'frames',
    doc: 'frames of priorSplit averaged (evenly spaced utterances)',
  },
  lexicon: {
    type: 'string',
    path: true,
    optional: true,
    doc: "Kaldi lexicon.txt decoded with instead of the align stage's lang/lexicon.txt: phones of the acoustic model's set (word positions are marked when the model has them and the file not); words with other phones or phones the tree cannot score are counted and left out",
  },
} satisfies SchemaFor<DecodeStageOptions>;

/** The stages whose outputs hold acoustic models, in the order they are read. */
export const MODEL_STAGES: readonly string[] = ['train', 'distill'];

/**
 * The decode stage reading the model stages that exist in a registry (train: baseline and
 * members; distill: students), so it can be registered before or after those stages are written.
 */
export function createDecodeStage(modelStages: readonly string[] = MODEL_STAGES): StageDefinition<DecodeStageOptions> {
  const stage: StageDefinition<DecodeStageOptions> = {
    name: 'decode',
    doc: 'hybrid Viterbi decoding of dev and test per system (baseline, ensemble, student), LM weight and penalty tuned on dev [trn]',
    inputs: ['prepare', 'features', 'align', 'lm', ...modelStages],
    schema: DECODE_SCHEMA,

    async externalInputs(_recipe, options) {
      return options.lexicon ? [{ path: options.lexicon, mode: 'content' }] : [];
    },

    async run(ctx): Promise<StageResult> {
      const setup = await decodeSetup(ctx, modelStages);
      // Only optional systems (the control) asked for, and absent: nothing to decode.
      if (setup.systems.length === 0) return {};
      const r = await setup.decode({
        systems: setup.systems,
        tune: setup.tune,
        splits: setup.splits,
        outDir: ctx.outDir,
      });
      return decodeStageResult(r);
    },
  };
  // Shards: with a tuning split, a pass whose shards tune blocks of the systems on it and a common
  // job with the chosen weights; then (system, split) units (./decode-shards.ts).
  stage.shards = decodeSharding((ctx) => decodeSetup(ctx, modelStages));
  return stage;
}

/** Where a `stages.decode.<key>` option is in the recipe (file and line), for errors. */
type Where = (k: string) => { file?: string; line?: number };

/** What every decode of the stage shares: its systems, its splits' inputs and a decodeCorpus with the rest of its options. */
export interface DecodeSetup {
  systems: SystemSpec[];
  /** The tuning split (null: fixed weights). */
  tune: DecodeSplitInput | null;
  /** The splits decoded with the chosen weights. */
  splits: DecodeSplitInput[];
  /** decodeCorpus with the stage's search, models, LM, priors and paths. */
  decode(
    part: Pick<DecodeCorpusOptions, 'systems' | 'tune' | 'splits' | 'outDir' | 'tuned'>,
  ): Promise<DecodeCorpusResult>;
}

/** The stage's options and inputs checked and read: its systems, splits and decodeCorpus options. */
async function decodeSetup(
  ctx: StageContext<DecodeStageOptions>,
  modelStages: readonly string[],
): Promise<DecodeSetup> {
  const o = ctx.options;
  const alignDir = ctx.inputDir('align');
  const where: Where = (k) => ({ ...(ctx.recipe.locate?.(`stages.decode.${k}`) ?? {}) });
  const grammars = await checkDecodedSplits(ctx, where);
  const exp = await experimentModels({
    train: modelStages.includes('train') ? ctx.inputDir('train') : null,
    distill: modelStages.includes('distill') ? ctx.inputDir('distill') : null,
  });
  const systems = await locateConfigError(ctx.recipe, 'stages.decode', async () => selectSystems(exp, o.systems));
  const splitInput = (split: string) => decodeSplitInput(ctx, split, grammars, where);
  const trainAlign = join(alignDir, 'train.arrow');
  const senoneInventoryId = existsSync(trainAlign)
    ? (await inventoryOf(alignDir, trainAlign)).senoneInventoryId
    : undefined;
  const {
    backend,
    inferenceBatchSize,
    systems: _wanted,
    tuneSplit,
    splits: splitNames,
    priors: _priorSource,
    priorSplit: _priorSplit,
    priorFrames: _priorFrames,
    systemWeights,
    lexicon,
    ...search
  } = o;
  if (tuneSplit && systemWeights) {
    throw new ConfigError('per-system weights and a tuning split exclude each other', {
      ...where('systemWeights'),
      keyPath: 'stages.decode.systemWeights',
      expected: 'stages.decode.tuneSplit null with fixed per-system weights',
      found: `tuneSplit ${tuneSplit}`,
    });
  }
  const priors = await decodePriors(ctx, where);
  const tune = tuneSplit ? await splitInput(tuneSplit) : null;
  const splits: DecodeSplitInput[] = [];
  for (const split of splitNames) splits.push(await splitInput(split));
  return {
    systems,
    tune,
    splits,
    decode: (part) =>
      locateConfigError(ctx.recipe, 'stages.decode', () =>
        decodeCorpus({
          ...part,
          langDir: join(alignDir, 'lang'),
          hmmModel: join(alignDir, 'model.json'),
          lm: join(ctx.inputDir('lm'), 'lm.arpa'),
          lexicon: lexicon ?? null,
          systemWeights,
          search,
          backend,
          inferenceBatchSize,
          pathBase: ctx.expDir,
          writeTiming: false,
          logger: ctx.log,
          senoneInventoryId,
          priors,
          lmCache: false,
        }),
      ),
  };
}

/**
 * The decoded splits (tuning and test) exist, are distinct, are not in the LM's training text,
 * and their grammars have an LM weight that enforces them; the LM stage's grammars by split.
 */
async function checkDecodedSplits(
  ctx: StageContext<DecodeStageOptions>,
  where: Where,
): Promise<NonNullable<CorpusLmSummary['grammars']>> {
  const o = ctx.options;
  const dataDir = ctx.inputDir('prepare');
  if (o.tuneSplit) await checkSplits(dataDir, [o.tuneSplit], 'stages.decode.tuneSplit', where('tuneSplit'));
  await checkSplits(dataDir, o.splits, 'stages.decode.splits', where('splits'));
  if (o.tuneSplit && o.splits.includes(o.tuneSplit)) {
    throw new ConfigError('the tuning split is also listed in splits', {
      ...where('splits'),
      keyPath: 'stages.decode.splits',
      expected: `splits other than '${o.tuneSplit}' (it is decoded with its own chosen weights anyway)`,
      found: o.splits.join(', '),
    });
  }
  // The LM must not have seen the text of a split decoded here (dev chooses weights, test reports).
  const decodedSplits = [...(o.tuneSplit ? [o.tuneSplit] : []), ...o.splits];
  const lmJson = join(ctx.inputDir('lm'), 'lm.json');
  const lmInfo: Pick<CorpusLmSummary, 'trainSplits' | 'grammars'> = existsSync(lmJson)
    ? JSON.parse(readFileSync(lmJson, 'utf8'))
    : { trainSplits: [] };
  const trained = lmInfo.trainSplits ?? [];
  const seen = decodedSplits.filter((sp) => trained.includes(sp));
  if (seen.length) {
    throw new ConfigError(
      `the LM was trained on the text of ${seen.map((sp) => `'${sp}'`).join(', ')}, which this stage decodes`,
      {
        ...(ctx.recipe.locate?.('stages.lm.trainSplits') ?? {}),
        keyPath: 'stages.lm.trainSplits',
        expected: 'LM training splits disjoint from the tuning and test splits',
        found: trained.join(', '),
      },
    );
  }
  const grammars = lmInfo.grammars ?? {};
  checkGrammarWeights(
    o,
    decodedSplits.filter((sp) => sp in grammars),
    where,
  );
  return grammars;
}

/** The features stage's file of a split; an error at the option `key` that named the split when there is none. */
function splitFeaturesFile(
  ctx: StageContext<DecodeStageOptions>,
  split: string,
  key: 'splits' | 'priorSplit',
  where: Where,
): string {
  const file = join(ctx.inputDir('features'), `${split}.arrow`);
  if (!existsSync(file))
    throw new ConfigError(`no features for split '${split}'`, {
      file,
      ...where(key),
      keyPath: `stages.decode.${key}`,
      expected: 'a split the features stage computed',
      found: 'no such file',
    });
  return file;
}

/** A split to decode: its features, references and speakers, and its grammar LM if the LM stage made one. */
async function decodeSplitInput(
  ctx: StageContext<DecodeStageOptions>,
  split: string,
  grammars: NonNullable<CorpusLmSummary['grammars']>,
  where: Where,
): Promise<DecodeSplitInput> {
  const file = splitFeaturesFile(ctx, split, 'splits', where);
  const t = await readSplitTranscripts(ctx.inputDir('prepare'), split);
  const lm = grammars[split] ? { lm: join(ctx.inputDir('lm'), grammars[split].file) } : {};
  return { name: split, features: [file], refs: t.refs, uttToSpeaker: t.uttToSpeaker, ...lm };
}

/** The senone priors: counted in the alignments, or estimated from posteriors on a training split not decoded here. */
async function decodePriors(ctx: StageContext<DecodeStageOptions>, where: Where): Promise<PriorsOption> {
  const { priors: priorSource, priorSplit, priorFrames, tuneSplit, splits } = ctx.options;
  let priors: PriorsOption = { source: 'alignments' };
  if (priorSource === 'posteriors') {
    const file = splitFeaturesFile(ctx, priorSplit, 'priorSplit', where);
    if ([...(tuneSplit ? [tuneSplit] : []), ...splits].includes(priorSplit)) {
      throw new ConfigError('the priors would be estimated on a split this stage decodes', {
        ...where('priorSplit'),
        keyPath: 'stages.decode.priorSplit',
        expected: 'a training split (not the tuning or test split)',
        found: priorSplit,
      });
    }
    const t = await readSplitTranscripts(ctx.inputDir('prepare'), priorSplit);
    priors = {
      source: 'posteriors',
      maxFrames: priorFrames,
      split: { name: priorSplit, features: [file], uttToSpeaker: t.uttToSpeaker },
    };
  }
  return priors;
}

/** stage.json's counts (systems, words, WER per system and split, decoded, no path, lexicon), skips and details. */
export function decodeStageResult(r: DecodeCorpusResult): StageResult {
  const s = r.summary;
  const counts: Record<string, number> = { systems: s.systems.length, words: s.lexicon.words };
  let decoded = 0,
    noPath = 0;
  for (const sys of s.systems) {
    for (const [split, x] of Object.entries(sys.splits)) {
      decoded += x.decoded;
      noPath += x.noPath;
      if (x.wer !== null) counts[`${sys.name}.${split}.wer`] = Math.round(100 * x.wer) / 100;
    }
  }
  counts.decoded = decoded;
  counts.noPath = noPath;
  const lf = s.lexicon.file;
  if (lf) {
    counts.lexiconWordsRead = lf.wordsRead;
    counts.lexiconUnusableWords = lf.unusableWords;
    counts.lexiconUnknownPhonePronunciations = lf.unknownPhonePronunciations;
    counts.lexiconUntrainedPhoneWords = s.lexicon.untrainedPhones.length;
  }
  const skips = Object.values(s.skipped);
  return {
    counts,
    skipped: {
      done: skips.reduce((a, x) => a + x.done, 0),
      skipped: skips.reduce((a, x) => a + x.skipped, 0),
      reasons: mergeReasons(skips.flatMap((x) => x.reasons)),
    },
    details: {
      weights: Object.fromEntries(
        s.systems.map((x) => [
          x.name,
          { lmWeight: x.lmWeight, wordInsertionPenalty: x.wordInsertionPenalty, from: x.weightsFrom },
        ]),
      ),
      noPath: Object.fromEntries(
        s.systems.map((x) => [
          x.name,
          Object.fromEntries(Object.entries(x.splits).map(([k, v]) => [k, v.noPathUtterances])),
        ]),
      ),
      lexicon: {
        words: s.lexicon.words,
        notInLm: s.lexicon.notInLm.length,
        untrainedPhones: s.lexicon.untrainedPhones.length,
        ...(lf ? { file: lf } : {}),
      },
      timing: r.timing,
    },
  };
}

/** A grammar split needs an LM weight > 0: at weight 0 the grammar's forbidden steps cost nothing. */
function checkGrammarWeights(
  o: DecodeStageOptions,
  grammarSplits: string[],
  where: (k: string) => { file?: string; line?: number },
): void {
  if (grammarSplits.length === 0) return;
  // Frozen per-system weights (a study's final runs) replace lmWeight for their systems.
  const zero = Object.entries(o.systemWeights ?? {}).find(([, w]) => w.lmWeight === 0);
  if (zero) {
    throw new ConfigError(
      `an LM weight of 0 would switch off the grammar of ${grammarSplits.map((sp) => `'${sp}'`).join(', ')}`,
      {
        ...where('systemWeights'),
        keyPath: `stages.decode.systemWeights.${zero[0]}.lmWeight`,
        expected: 'LM weights > 0 when a decoded split has a grammar (stages.lm.grammars)',
        found: '0',
      },
    );
  }
  const key = o.tuneSplit ? 'lmWeights' : 'lmWeight';
  const weights = o.tuneSplit ? o.lmWeights : [o.lmWeight];
  if (weights.some((w) => w === 0)) {
    throw new ConfigError(
      `an LM weight of 0 would switch off the grammar of ${grammarSplits.map((sp) => `'${sp}'`).join(', ')}`,
      {
        ...where(key),
        keyPath: `stages.decode.${key}`,
        expected: 'LM weights > 0 when a decoded split has a grammar (stages.lm.grammars)',
        found: JSON.stringify(o.tuneSplit ? o.lmWeights : o.lmWeight),
      },
    );
  }
}

function mergeReasons(
  rs: { reason: string; count: number; examples: string[] }[],
): { reason: string; count: number; examples: string[] }[] {
  const m = new Map<string, { count: number; examples: string[] }>();
  for (const r of rs) {
    const e = m.get(r.reason) ?? { count: 0, examples: [] };
    e.count += r.count;
    for (const x of r.examples) if (e.examples.length < 5) e.examples.push(x);
    m.set(r.reason, e);
  }
  return [...m]
    .map(([reason, e]) => ({ reason, ...e }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}
