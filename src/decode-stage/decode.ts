/**
 * The `decode` stage as one library function: trained acoustic models + the align stage's lang
 * directory and HMM (tree, transition model) + an ARPA LM -> 1-best hypotheses of every split, for
 * every system (baseline, members, ensemble, student).
 *
 * Per system, the LM weight and word insertion penalty are chosen on the tuning split (dev) by
 * a grid search for the fewest errors (src/score, sclite convention), and then applied unchanged
 * to the other splits (test): the test set never chooses its own weights.
 *
 * One pass per split reads the features once; per utterance each model's logits are computed once
 * (shared by a member and the ensemble), each system's hybrid scores once, and the tuning split
 * is decoded at every grid point from those scores, so memory is one utterance of scores plus the
 * compact hypotheses (words, word frames, a few numbers) of the tuning grid.
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
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ConfigError, FormatError, SkipCounter } from '../util/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { hashFile } from '../util/hash.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import { readLang, readLangPhones } from '../lang/lang.ts';
import { UNK_WORD, readLexiconForPhones, type Lexicon } from '../lang/lexicon.ts';
import type { PhoneSet } from '../lang/phones.ts';
import { loadModel } from '../hmm/model.ts';
import { loadNgramStore } from '../lm/store-file.ts';
import { SearchLm } from '../decode/search-lm.ts';
import { Decoder, type DecodeOptions, type DecodeResult } from '../decode/decoder.ts';
import { coveredPronunciations, decoderLexicon, phoneContextModel } from '../decode/adapters.ts';
import type { TunePoint } from '../decode/tune.ts';
import { scoreTranscripts, type ScoreOptions } from '../score/wer.ts';
import { formatTrn, type TrnUtterance } from '../score/trn.ts';
import type { ScoringMode } from '../score/align.ts';
import { ArrowFrameSource } from '../nnet/arrow-source.ts';
import { checkUtterance, scanSource, type CmvnOptions, type SpeakerCmvn } from '../nnet/data.ts';
import { initBackend, type BackendName } from '../nnet/backend.ts';
import { readFeatureMetadata } from '../features/store.ts';
import { ModelBank, checkSystemSpecs, type SystemSpec } from './systems.ts';

export const DECODE_FORMAT = 'am-distill.decode';
export const DECODE_FORMAT_VERSION = 1;

/** Search and tuning settings (natural-log units; the acoustic scores are scaled first). */
export interface DecodeSearchOptions {
  /** Beam. Default 13 (Kaldi decode.sh). */
  beam: number;
  /** Tokens kept per frame. Default 7000 (Kaldi). */
  maxActive: number;
  /** Scale of log posterior - log prior. Default 0.1 (Kaldi --acwt). */
  acousticScale: number;
  /** LM weights tried on the tuning split. Default [0.7, 0.9, ..., 1.7] (Kaldi LMWT 7..17 at acoustic scale 0.1). */
  lmWeights: number[];
  /** Word insertion penalties tried. Default [0, 0.5, 1] (Kaldi local/score.sh). */
  wordInsertionPenalties: number[];
  /** LM weight without a tuning split. Default 1. */
  lmWeight: number;
  /** Word insertion penalty without a tuning split. Default 0. */
  wordInsertionPenalty: number;
  /** Optional silence probability; null: the lang directory's (align stage). Default null. */
  silenceProb: number | null;
  /** LM look-ahead in the lexical tree. Default true. */
  lmLookahead: boolean;
  /** Order of the look-ahead LM. Default 2. */
  lookaheadOrder: number;
  /** WER convention used for tuning. Default 'sclite'. */
  scoringMode: ScoringMode;
  /**
   * Keep `<UNK>` (spoken noise, phone SPN) as a recognisable word. Default false: its senones are
   * trained only when transcripts contain `<UNK>`, and an untrained senone's posterior divided by a
   * floored prior can outscore real words.
   */
  allowUnk: boolean;
}

export const DECODE_SEARCH_DEFAULTS: Readonly<DecodeSearchOptions> = Object.freeze({
  beam: 13,
  maxActive: 7000,
  acousticScale: 0.1,
  lmWeights: [0.7, 0.9, 1.1, 1.3, 1.5, 1.7],
  wordInsertionPenalties: [0, 0.5, 1],
  lmWeight: 1,
  wordInsertionPenalty: 0,
  silenceProb: null,
  lmLookahead: true,
  lookaheadOrder: 2,
  scoringMode: 'sclite' as ScoringMode,
  allowUnk: false,
});

export function resolveSearchOptions(o: Partial<DecodeSearchOptions> = {}): DecodeSearchOptions {
  for (const k of Object.keys(o)) {
    if (!(k in DECODE_SEARCH_DEFAULTS)) throw new ConfigError(`unknown decode option '${k}'`, { keyPath: k, expected: Object.keys(DECODE_SEARCH_DEFAULTS).join(', '), found: k });
  }
  const r: DecodeSearchOptions = { ...DECODE_SEARCH_DEFAULTS, ...o } as DecodeSearchOptions;
  const bad = (keyPath: string, expected: string, found: unknown) => new ConfigError('bad decode option', { keyPath, expected, found: JSON.stringify(found) });
  if (!(r.beam > 0)) throw bad('beam', '> 0', r.beam);
  if (!(Number.isInteger(r.maxActive) && r.maxActive >= 1)) throw bad('maxActive', 'an integer >= 1', r.maxActive);
  if (!(r.acousticScale > 0)) throw bad('acousticScale', '> 0', r.acousticScale);
  if (!Array.isArray(r.lmWeights) || r.lmWeights.length === 0 || !r.lmWeights.every((x) => x >= 0)) throw bad('lmWeights', 'a non-empty list of numbers >= 0', r.lmWeights);
  if (!Array.isArray(r.wordInsertionPenalties) || r.wordInsertionPenalties.length === 0 || !r.wordInsertionPenalties.every((x) => Number.isFinite(x))) throw bad('wordInsertionPenalties', 'a non-empty list of numbers', r.wordInsertionPenalties);
  if (!(r.lmWeight >= 0)) throw bad('lmWeight', '>= 0', r.lmWeight);
  if (!Number.isFinite(r.wordInsertionPenalty)) throw bad('wordInsertionPenalty', 'a number', r.wordInsertionPenalty);
  if (r.silenceProb !== null && !(r.silenceProb >= 0 && r.silenceProb <= 1)) throw bad('silenceProb', 'null or a number in [0, 1]', r.silenceProb);
  if (!(Number.isInteger(r.lookaheadOrder) && r.lookaheadOrder >= 1)) throw bad('lookaheadOrder', 'an integer >= 1', r.lookaheadOrder);
  if (r.scoringMode !== 'sclite' && r.scoringMode !== 'kaldi') throw bad('scoringMode', "'sclite' or 'kaldi'", r.scoringMode);
  if (typeof r.allowUnk !== 'boolean') throw bad('allowUnk', 'true or false', r.allowUnk);
  return r;
}

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

export type PriorsOption = { source: 'alignments' } | { source: 'posteriors'; split: DecodeSplitInput; maxFrames: number };

/** Where a system's priors came from (decode.json). */
export type PriorsRecord =
  | { source: 'alignments' }
  | {
    source: 'posteriors'; split: string; utterances: number; frames: number;
    /** KL(alignment priors || mean posterior), nats: how far the estimate moved from the counts. */
    klFromAlignments: number;
    /** `<system>/priors.json` (relative to the output directory): the priors used, one per senone. */
    file: string;
  };

/** Counts of one system on one split. */
export interface SystemSplitSummary {
  /** Utterances with a hypothesis line (= references, or feature utterances without references). */
  utterances: number;
  /** Decoded (had usable features). */
  decoded: number;
  frames: number;
  /** No token reached a final state: empty hypothesis. */
  noPath: number;
  noPathUtterances: string[];
  /** Reference utterances without (usable) features: empty hypothesis. */
  noFeatures: number;
  /** Hypotheses with no word (no path, no features, or only silence decoded). */
  emptyHyps: number;
  /** WER on this split with the chosen weights (percent; null without references). */
  wer: number | null;
  errors: number | null;
  refWords: number | null;
  files: { trn: string; ctm: string; utts: string };
}

export interface SystemSummary {
  name: string;
  models: string[];
  kind: 'single' | 'ensemble';
  lmWeight: number;
  wordInsertionPenalty: number;
  /** How the weights were chosen. */
  weightsFrom: 'tuning' | 'fixed';
  tuning: { split: string; best: TunePoint; grid: TunePoint[] } | null;
  /** Priors divided out of the posteriors. */
  priors: PriorsRecord;
  splits: Record<string, SystemSplitSummary>;
}

export interface DecodeSummary {
  format: typeof DECODE_FORMAT;
  formatVersion: number;
  search: DecodeSearchOptions;
  silenceProb: number;
  frameShiftSec: number;
  lm: LmRecord;
  /** Splits decoded with their own LM (DecodeSplitInput.lm), with the words it lets the search output. Absent when none. */
  splitLms?: Record<string, LmRecord & { searchWords: number }>;
  lexicon: {
    /** Words the search can output. */
    words: number;
    pronunciations: number;
    /** Lexicon words not in the LM vocabulary (left out of the search). */
    notInLm: string[];
    /** Lexicon words with a phone the acoustic model never saw (left out). */
    untrainedPhones: string[];
    /** Only with a lexicon file (DecodeCorpusOptions.lexicon): what of it could be used (file relative as the other paths). */
    file?: LexiconReport;
  };
  graph: { hmmStates: number; phoneCopies: number; treeNodes: number };
  tuneSplit: string | null;
  splits: string[];
  systems: SystemSummary[];
  /** Utterances that could not be decoded (no or bad features) or were not referenced, per split. */
  skipped: Record<string, ReturnType<SkipCounter['toJSON']>>;
}

export interface LmRecord { file: string; sha256: string; order: number; vocabulary: number }

export interface SystemSplitTiming {
  frames: number;
  /** Search time (decoder only). */
  searchSec: number;
  /** Search time / audio duration. For the tuning split: per grid point (total / grid size). */
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
  r.times.forEach((t, i) => { frames[2 * i] = t.startFrame; frames[2 * i + 1] = t.endFrame; });
  return {
    words: r.words, frames, score: r.score, lmLog10Prob: r.lmLog10Prob, reachedFinal: r.reachedFinal,
    numFrames: r.stats.numFrames, meanActive: r.stats.meanActive, maxActive: r.stats.maxActive, wordEnds: r.stats.wordEnds,
  };
}

const EMPTY: SlimResult = Object.freeze({ words: [], frames: new Int32Array(0), score: -Infinity, lmLog10Prob: null, reachedFinal: false, numFrames: 0, meanActive: 0, maxActive: 0, wordEnds: 0 }) as SlimResult;

/** One hypothesis line's worth of results for one system on one split. */
interface UttOutcome {
  uttId: string;
  /** 'ok', or why there is no decoding. */
  status: 'ok' | 'no-features';
  result: SlimResult;
}

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
    const st = r.frames[2 * i], en = r.frames[2 * i + 1];
    s += `${uttId} 1 ${(st * shiftSec).toFixed(3)} ${((en - st + 1) * shiftSec).toFixed(3)} ${r.words[i]}\n`;
  }
  return s;
}

function uttJson(o: UttOutcome): string {
  const r = o.result;
  return JSON.stringify({
    uttId: o.uttId, status: o.status === 'ok' ? (r.reachedFinal ? 'ok' : 'no-path') : o.status,
    numFrames: r.numFrames, words: r.words.length, hyp: r.words.join(' '),
    score: Number.isFinite(r.score) ? round(r.score, 4) : null,
    lmLog10Prob: r.lmLog10Prob === null ? null : round(r.lmLog10Prob, 4),
    meanActive: round(r.meanActive, 2), maxActive: r.maxActive, wordEnds: r.wordEnds,
  }) + '\n';
}

/** The lang directory's optional-silence probability (lang.json options). */
function langSilenceProb(langDir: string): number {
  const file = join(langDir, 'lang.json');
  let j: { options?: { optionalSilenceProb?: unknown } };
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new FormatError('cannot read the lang directory', { file, cause: err, expected: 'lang.json written by the align stage', found: (err as NodeJS.ErrnoException).code ?? 'malformed JSON' });
  }
  const p = j.options?.optionalSilenceProb;
  if (typeof p !== 'number' || !(p >= 0 && p < 1)) throw new FormatError('lang.json has no optional silence probability', { file, expected: 'options.optionalSilenceProb in [0, 1)', found: String(p) });
  return p;
}

async function lmRecord(file: string, slm: SearchLm, rel: (p: string) => string): Promise<LmRecord> {
  return { file: rel(file), sha256: await hashFile(file), order: slm.order, vocabulary: slm.vocab.length };
}

async function splitLmRecords(spaces: Map<string, DecodeSearchSpace & { lmFile: string }>, rel: (p: string) => string): Promise<NonNullable<DecodeSummary['splitLms']>> {
  const out: NonNullable<DecodeSummary['splitLms']> = {};
  for (const [split, x] of [...spaces].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    out[split] = { ...(await lmRecord(x.lmFile, x.slm, rel)), searchWords: x.searchWords.length };
  }
  return out;
}

export interface DecodeSearchSpace {
  decoder: Decoder;
  slm: SearchLm;
  silenceProb: number;
  /** Words the search can output, sorted. */
  searchWords: string[];
  numProns: number;
  /** Lexicon words not in the LM (left out). */
  notInLm: string[];
  /** Lexicon words with a phone the HMM cannot score (left out). */
  untrainedPhones: string[];
  /** Senones of the HMM. */
  numPdfs: number;
  /** With a lexicon file other than the lang directory's: what of it could be used. */
  lexiconReport: LexiconReport | null;
}

/** What of a lexicon file (`lexicon`, instead of the lang directory's) the acoustic model can use. */
export interface LexiconReport {
  /** The file (as given). */
  file: string;
  wordsRead: number;
  pronunciationsRead: number;
  /** Word positions were marked on the file's phones (the model's phone set is position-dependent). */
  positionsMarked: boolean;
  /** Pronunciations with a phone outside the model's phone set (left out), and how many per phone. */
  unknownPhonePronunciations: number;
  unknownPhones: Record<string, number>;
  /** Words left with no pronunciation over the phone set (left out). */
  unusableWords: number;
  /** Up to 20 of them. */
  unusableExamples: string[];
}

export interface BuildSearchOptions {
  /** A Kaldi lexicon.txt used instead of the lang directory's (its phones must be the model's, word positions are marked when needed). */
  lexicon?: string | null;
}

/** The decoder lexicon of a lexicon file, with its report; a file none of whose words can be used is a FormatError. */
function lexiconFromFile(file: string, phones: PhoneSet, logger: Logger): { lexicon: Lexicon; report: LexiconReport } {
  const t0 = performance.now();
  const r = readLexiconForPhones(file, phones);
  const phoneList = Object.entries(r.unknownPhones).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const report: LexiconReport = {
    file, wordsRead: r.wordsRead, pronunciationsRead: r.pronunciationsRead, positionsMarked: r.positionsMarked,
    unknownPhonePronunciations: r.droppedPronunciations, unknownPhones: Object.fromEntries(phoneList),
    unusableWords: r.unusableWords.length, unusableExamples: r.unusableWords.slice(0, 20),
  };
  const phonesNote = phoneList.slice(0, 10).map(([p, n]) => `${p} (${n})`).join(', ');
  if (r.lexicon.size === 0) {
    throw new FormatError(`no word of the lexicon can be used: every pronunciation has a phone outside the acoustic model's phone set (${phonesNote})`, {
      file, line: r.firstDroppedLine ?? undefined, expected: `pronunciations over ${phones.phones.join(' ')}${phones.wordPositions ? ' (or the same phones without word positions)' : ''}`,
      found: `${r.wordsRead} word(s), none usable`,
    });
  }
  logger.info(`decode: lexicon ${file}: ${r.wordsRead} words, ${r.pronunciationsRead} pronunciations read in ${((performance.now() - t0) / 1000).toFixed(2)} s${r.positionsMarked ? ', word positions marked' : ''}`);
  if (r.droppedPronunciations) {
    logger.warn(`decode: lexicon ${file}: ${r.droppedPronunciations} pronunciation(s) use phones outside the acoustic model's phone set (${phonesNote}) and are left out; ${r.unusableWords.length} word(s) lose every pronunciation${r.unusableWords.length ? `, e.g. ${r.unusableWords.slice(0, 10).join(', ')}` : ''}`);
  }
  return { lexicon: r.lexicon, report };
}

/**
 * The decoder over the align stage's lexicon (or `opts.lexicon`) and HMM (tree, transitions) and an
 * ARPA LM. Lexicon words the LM lacks, or whose phones the tree has no model for, are left out and
 * listed; so are a lexicon file's words whose phones are not the model's.
 */
export async function buildSearch(langDir: string, hmmModel: string, lm: string, search: DecodeSearchOptions, logger: Logger = defaultLog, lmCache = true, opts: BuildSearchOptions = {}): Promise<DecodeSearchSpace> {
  const hmm = loadModel(hmmModel);
  let phones: PhoneSet, lexicon: Lexicon, lexiconReport: LexiconReport | null = null;
  if (opts.lexicon) {
    phones = readLangPhones(langDir);
    ({ lexicon, report: lexiconReport } = lexiconFromFile(opts.lexicon, hmm.phones, logger));
  } else {
    ({ phones, lexicon } = readLang(langDir));
  }
  if (hmm.phones.symbols.join(' ') !== phones.symbols.join(' ')) {
    throw new FormatError('the HMM and the lang directory have different phone sets', { file: hmmModel, expected: `phones of ${langDir}`, found: `${hmm.phones.symbols.length} phones, first difference at ${hmm.phones.symbols.findIndex((p, i) => p !== phones.symbols[i])}` });
  }
  const am = phoneContextModel(hmm.ctx, hmm.tm);
  const covered = coveredPronunciations(decoderLexicon(lexicon, phones, lexicon.words().filter((w) => search.allowUnk || w !== UNK_WORD)), am);
  if (covered.droppedWords.length) logger.warn(`${covered.droppedWords.length} lexicon word(s) need phones the acoustic model never saw and are left out: ${covered.droppedWords.slice(0, 10).join(', ')}`);
  if (opts.lexicon && covered.lexicon.prons.length === 0) {
    throw new FormatError('no word of the lexicon can be used: the acoustic model has no senones for the phones of any pronunciation', {
      file: opts.lexicon, expected: 'pronunciations over phones seen in training', found: `${covered.droppedWords.length} word(s) with untrained phones, e.g. ${covered.droppedWords.slice(0, 5).join(', ')}`,
    });
  }
  const t0 = performance.now();
  const loaded = await loadNgramStore(lm, { cache: lmCache });
  logger.info(`decode: LM ${lm}: ${loaded.store.counts.join(' + ')} n-grams read from ${loaded.from === 'cache' ? `its binary cache ${loaded.cachePath}` : `the ARPA file (binary cache: ${loaded.cacheNote})`} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  const slm = new SearchLm(loaded.store, { file: lm });
  const silenceProb = search.silenceProb ?? langSilenceProb(langDir);
  const t1 = performance.now();
  const decoder = new Decoder(covered.lexicon, am, slm, { silenceProb, missingLmWords: 'drop', lmFile: lm });
  const notInLm = [...decoder.droppedWords];
  if (notInLm.length) logger.warn(`${notInLm.length} lexicon word(s) are not in the LM vocabulary and cannot be recognised: ${notInLm.slice(0, 10).join(', ')}${notInLm.length > 10 ? ', ...' : ''}`);
  const kept = covered.lexicon.prons.filter((p) => decoder.toLm[p.word] >= 0);
  const searchWords = [...new Set(kept.map((p) => covered.lexicon.words[p.word]))].sort();
  logger.info(`decode: ${searchWords.length} words (${kept.length} pronunciations), LM order ${slm.order}, graph ${decoder.graph.numStates} HMM states in ${decoder.graph.numCopies} phone copies (built in ${((performance.now() - t1) / 1000).toFixed(2)} s); silence probability ${silenceProb}`);
  return { decoder, slm, silenceProb, searchWords, numProns: kept.length, notInLm, untrainedPhones: covered.droppedWords, numPdfs: am.numPdfs, lexiconReport };
}

/** Decode the splits with every system; see the module comment. */
export async function decodeCorpus(opts: DecodeCorpusOptions): Promise<DecodeCorpusResult> {
  const logger = opts.logger ?? defaultLog;
  const t0 = performance.now();
  const search = resolveSearchOptions(opts.search);
  checkSystemSpecs(opts.systems);
  if (opts.splits.length === 0 && !opts.tune) throw new ConfigError('no split to decode', { keyPath: 'splits', expected: 'at least one split', found: 'none' });
  const names = [...(opts.tune ? [opts.tune.name] : []), ...opts.splits.map((s) => s.name)];
  if (new Set(names).size !== names.length) throw new ConfigError('a split is listed twice', { keyPath: 'splits', expected: 'distinct splits (the tuning split is decoded anyway)', found: names.join(', ') });
  for (const n of names) if (!/^[A-Za-z0-9._-]+$/.test(n)) throw new ConfigError('bad split name', { keyPath: 'splits', expected: "letters, digits, '.', '_' or '-'", found: JSON.stringify(n) });
  if (opts.tune && !opts.tune.refs) throw new ConfigError('the tuning split needs references', { keyPath: 'tune', expected: `reference transcripts of '${opts.tune.name}'`, found: 'none' });
  const rel = (p: string) => (opts.pathBase ? relative(opts.pathBase, p) || '.' : p);

  // --- Search space: lexicon x HMM x LM (one per LM: the corpus LM and any split's own).
  const { decoder, slm, silenceProb, searchWords, numProns, notInLm, untrainedPhones, numPdfs, lexiconReport } = await buildSearch(opts.langDir, opts.hmmModel, opts.lm, search, logger, opts.lmCache, { lexicon: opts.lexicon });
  const am = { numPdfs };
  const splitSearch = new Map<string, DecodeSearchSpace & { lmFile: string }>();
  for (const sp of [...(opts.tune ? [opts.tune] : []), ...opts.splits]) {
    if (!sp.lm) continue;
    logger.info(`decode: split '${sp.name}' with its own LM ${sp.lm}`);
    splitSearch.set(sp.name, [...splitSearch.values()].find((x) => x.lmFile === sp.lm) ?? { ...(await buildSearch(opts.langDir, opts.hmmModel, sp.lm, search, logger, opts.lmCache, { lexicon: opts.lexicon })), lmFile: sp.lm });
  }
  const decoderOf = (split: string): Decoder => splitSearch.get(split)?.decoder ?? decoder;

  // --- Acoustic models.
  const backend = await initBackend({ backend: opts.backend ?? 'auto', logger });
  const bank = await ModelBank.open(opts.systems, { batchSize: opts.inferenceBatchSize, logger });
  const shiftOf = new Map<string, number>();
  try {
    if (opts.senoneInventoryId) {
      for (const [dir, sc] of bank.sidecars()) {
        if (sc.senones.id !== undefined && sc.senones.id !== opts.senoneInventoryId) {
          throw new FormatError('the model was trained on another senone inventory (another align run)', { file: dir, expected: `senone inventory ${opts.senoneInventoryId} (of ${opts.hmmModel})`, found: sc.senones.id });
        }
      }
    }
    const sources = new Map<string, ArrowFrameSource>();
    for (const sp of [...(opts.tune ? [opts.tune] : []), ...opts.splits]) {
      const src = await ArrowFrameSource.open({ features: sp.features, uttToSpeaker: sp.uttToSpeaker as Map<string, string> | undefined, name: sp.features[0] });
      bank.checkInputs({ featureConfig: src.featureConfig as unknown as Record<string, unknown>, featureDim: src.featureDim, numSenones: am.numPdfs }, `features ${sp.features[0]} and HMM ${opts.hmmModel}`);
      sources.set(sp.name, src);
      shiftOf.set(sp.name, src.featureConfig.frameShiftMs / 1000);
    }
    const shifts = new Set(shiftOf.values());
    if (shifts.size > 1) throw new FormatError('splits differ in frame shift', { expected: 'one frame shift', found: [...shiftOf].map(([k, v]) => `${k} ${v * 1000} ms`).join(', ') });
    const frameShiftSec = [...shifts][0];

    const timing: DecodeTiming = { backend: backend.name, totalSec: 0, systems: Object.fromEntries(opts.systems.map((s) => [s.name, {}])) };
    const skipped: DecodeSummary['skipped'] = {};
    const systems = bank.systems;
    const summaries: SystemSummary[] = systems.map((s, i) => ({
      name: s.name, models: opts.systems[i].models.map(rel), kind: s.models.length > 1 ? 'ensemble' : 'single',
      lmWeight: opts.systemWeights?.[s.name]?.lmWeight ?? search.lmWeight, wordInsertionPenalty: opts.systemWeights?.[s.name]?.wordInsertionPenalty ?? search.wordInsertionPenalty,
      weightsFrom: 'fixed', tuning: null, priors: { source: 'alignments' }, splits: {},
    }));

    // --- Priors from the systems' own mean posteriors (Kaldi nnet3 adjust-priors).
    if (opts.priors?.source === 'posteriors') {
      const pr = opts.priors;
      if (!(Number.isInteger(pr.maxFrames) && pr.maxFrames >= 1)) throw new ConfigError('bad prior frame count', { keyPath: 'priorFrames', expected: 'an integer >= 1', found: String(pr.maxFrames) });
      const src = await ArrowFrameSource.open({ features: pr.split.features, uttToSpeaker: pr.split.uttToSpeaker as Map<string, string> | undefined, name: pr.split.features[0] });
      bank.checkInputs({ featureConfig: src.featureConfig as unknown as Record<string, unknown>, featureDim: src.featureDim, numSenones: am.numPdfs }, `features ${pr.split.features[0]} and HMM ${opts.hmmModel}`);
      const est = await estimatePosteriorPriors(bank, src, pr.split, pr.maxFrames, logger);
      for (const [si, sys] of systems.entries()) {
        const before = Float64Array.from(sys.logPriors, Math.exp);
        sys.setPriors(est.sums[si]);
        let kl = 0;
        for (let s = 0; s < sys.numSenones; s++) kl += before[s] * (Math.log(before[s]) - sys.logPriors[s]);
        const file = join(opts.outDir, sys.name, 'priors.json');
        await writeJsonAtomic(file, { source: 'posteriors', split: pr.split.name, utterances: est.utterances, frames: est.frames, priors: Array.from(sys.logPriors, Math.exp) });
        summaries[si].priors = { source: 'posteriors', split: pr.split.name, utterances: est.utterances, frames: est.frames, klFromAlignments: kl, file: relative(opts.outDir, file) };
        logger.info(`${sys.name}: priors from its mean posterior on ${est.frames} frames of '${pr.split.name}' (${est.utterances} utterances); KL from the alignment priors ${kl.toFixed(4)} nats`);
      }
    }

    /**
     * One pass over a split: every usable utterance's scores per system, decoded at every point
     * of `points(system)`; returns per system and point the outcomes in hypothesis-line order.
     */
    const pass = async (sp: DecodeSplitInput, points: (sys: number) => { lmWeight: number; wordInsertionPenalty: number }[]): Promise<UttOutcome[][][]> => {
      const src = sources.get(sp.name)!;
      const splitDecoder = decoderOf(sp.name);
      // CMVN statistics of this split for every setting the models use (Kaldi: per speaker of the data decoded).
      const cmvn = new Map<string, SpeakerCmvn>();
      for (const c of bank.cmvnSettings()) {
        if (c.mode === 'none') continue;
        cmvn.set(JSON.stringify([c.mode, c.normVars]), (await scanSource(src, { cmvn: c })).cmvn);
      }
      bank.useCmvn((c: CmvnOptions) => cmvn.get(JSON.stringify([c.mode, c.normVars])));
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
        if (outcomes.has(utt.uttId)) throw new FormatError('utterance id appears twice in the features', { file: src.name, uttId: utt.uttId, expected: 'unique ids', found: 'a second occurrence' });
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
            const r = splitDecoder.decode(utt.uttId, scores, decodeOptions(search, p, frameShiftSec));
            acc.searchSec += r.stats.elapsedSec;
            acc.activeW += r.stats.meanActive * r.stats.numFrames;
            acc.maxActive = Math.max(acc.maxActive, r.stats.maxActive);
            acc.decodes++;
            list.push({ uttId: utt.uttId, status: 'ok', result: slim(r) });
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
          points(si).forEach((__, pi) => bySystem[si][pi].push(per ? per[si][pi] : { uttId: id, status: 'no-features', result: EMPTY }));
        });
      }
      if (noFeatures) logger.warn(`${sp.name}: ${noFeatures} reference utterance(s) have no usable features and get empty hypotheses`);
      skipped[sp.name] = skips.toJSON();
      systems.forEach((sys, si) => {
        const a = accs[si];
        const n = points(si).length;
        const audio = a.frames * frameShiftSec;
        timing.systems[sys.name][sp.name] = {
          frames: a.frames, searchSec: a.searchSec, searchRtf: audio > 0 ? a.searchSec / n / audio : 0,
          acousticSec: a.acousticSec, acousticRtf: audio > 0 ? a.acousticSec / audio : 0,
          meanActive: a.frames > 0 ? a.activeW / (a.frames * n) : 0, maxActive: a.maxActive,
        };
      });
      return bySystem;
    };

    const writeSplit = async (si: number, sp: DecodeSplitInput, outs: UttOutcome[]): Promise<SystemSplitSummary> => {
      const sys = systems[si];
      const dir = join(opts.outDir, sys.name);
      const files = { trn: join(dir, `${sp.name}.trn`), ctm: join(dir, `${sp.name}.ctm`), utts: join(dir, `${sp.name}.utts.jsonl`) };
      await writeFileAtomic(files.trn, formatTrn(outs.map((o) => ({ uttId: o.uttId, words: o.result.words }))));
      await writeFileAtomic(files.ctm, outs.map((o) => ctmLines(o.uttId, o.result, frameShiftSec)).join(''));
      await writeFileAtomic(files.utts, outs.map(uttJson).join(''));
      const decoded = outs.filter((o) => o.status === 'ok');
      const noPath = decoded.filter((o) => !o.result.reachedFinal).map((o) => o.uttId);
      if (noPath.length) logger.warn(`${sys.name} ${sp.name}: no token reached a final state in ${noPath.length} of ${decoded.length} utterances (empty hypotheses), e.g. ${noPath.slice(0, 5).join(', ')}`);
      let wer: number | null = null, errors: number | null = null, refWords: number | null = null;
      if (sp.refs) {
        const s = scoreTranscripts(sp.refs, outs.map((o) => ({ uttId: o.uttId, words: [...o.result.words], line: 0 })), { mode: search.scoringMode });
        wer = s.wer; errors = s.errors; refWords = s.refWords;
        logger.info(`${sys.name} ${sp.name}: %WER ${s.wer.toFixed(2)} [ ${s.errors} / ${s.refWords}, ${s.ins} ins, ${s.del} del, ${s.sub} sub ] (lmWeight ${summaries[si].lmWeight}, penalty ${summaries[si].wordInsertionPenalty})`);
      }
      return {
        utterances: outs.length, decoded: decoded.length, frames: decoded.reduce((n, o) => n + o.result.numFrames, 0),
        noPath: noPath.length, noPathUtterances: noPath, noFeatures: outs.length - decoded.length,
        emptyHyps: outs.filter((o) => o.result.words.length === 0).length,
        wer, errors, refWords, files: { trn: relative(opts.outDir, files.trn), ctm: relative(opts.outDir, files.ctm), utts: relative(opts.outDir, files.utts) },
      };
    };

    // --- Tuning split: every grid point, then the fewest errors per system.
    if (opts.tune) {
      const sp = opts.tune;
      const grid = search.lmWeights.flatMap((lmWeight) => search.wordInsertionPenalties.map((wordInsertionPenalty) => ({ lmWeight, wordInsertionPenalty })));
      logger.info(`tuning LM weight and insertion penalty on '${sp.name}': ${grid.length} grid points x ${systems.length} system(s)`);
      const res = await pass(sp, () => grid);
      const scoreOpts: ScoreOptions = { mode: search.scoringMode };
      for (let si = 0; si < systems.length; si++) {
        const points: TunePoint[] = [];
        let best = -1;
        grid.forEach((g, pi) => {
          const s = scoreTranscripts(sp.refs!, res[si][pi].map((o) => ({ uttId: o.uttId, words: [...o.result.words], line: 0 })), scoreOpts);
          points.push({ ...g, wer: s.wer, errors: s.errors, refWords: s.refWords, sub: s.sub, del: s.del, ins: s.ins });
          if (best < 0 || s.errors < points[best].errors) best = pi;
        });
        const sm = summaries[si];
        sm.lmWeight = grid[best].lmWeight;
        sm.wordInsertionPenalty = grid[best].wordInsertionPenalty;
        sm.weightsFrom = 'tuning';
        sm.tuning = { split: sp.name, best: points[best], grid: points };
        logger.info(`${sm.name}: lmWeight ${sm.lmWeight}, penalty ${sm.wordInsertionPenalty} chosen on ${sp.name} (%WER ${points[best].wer.toFixed(2)})`);
        await writeJsonAtomic(join(opts.outDir, sm.name, 'tuning.json'), { split: sp.name, scoringMode: search.scoringMode, best: points[best], grid: points });
        sm.splits[sp.name] = await writeSplit(si, sp, res[si][best]);
      }
    }

    // --- The other splits, with each system's chosen weights.
    for (const sp of opts.splits) {
      const res = await pass(sp, (si) => [{ lmWeight: summaries[si].lmWeight, wordInsertionPenalty: summaries[si].wordInsertionPenalty }]);
      for (let si = 0; si < systems.length; si++) summaries[si].splits[sp.name] = await writeSplit(si, sp, res[si][0]);
    }

    // References and vocabulary.
    for (const sp of [...(opts.tune ? [opts.tune] : []), ...opts.splits]) {
      if (sp.refs) await writeFileAtomic(join(opts.outDir, 'refs', `${sp.name}.trn`), formatTrn(sp.refs));
    }
    await writeFileAtomic(join(opts.outDir, 'words.txt'), searchWords.map((w) => w + '\n').join(''));

    const summary: DecodeSummary = {
      format: DECODE_FORMAT, formatVersion: DECODE_FORMAT_VERSION, search, silenceProb, frameShiftSec,
      lm: await lmRecord(opts.lm, slm, rel),
      ...(splitSearch.size ? { splitLms: await splitLmRecords(splitSearch, rel) } : {}),
      lexicon: { words: searchWords.length, pronunciations: numProns, notInLm, untrainedPhones, ...(lexiconReport ? { file: { ...lexiconReport, file: rel(lexiconReport.file) } } : {}) },
      graph: { hmmStates: decoder.graph.numStates, phoneCopies: decoder.graph.numCopies, treeNodes: decoder.graph.numTrieNodes },
      tuneSplit: opts.tune?.name ?? null, splits: names, systems: summaries, skipped,
    };
    await writeJsonAtomic(join(opts.outDir, 'decode.json'), summary);
    timing.totalSec = (performance.now() - t0) / 1000;
    if (opts.writeTiming ?? true) await writeJsonAtomic(join(opts.outDir, 'timing.json'), timing);
    return { summary, timing };
  } finally {
    bank.dispose();
  }
}

/**
 * Sum every system's posteriors over up to `maxFrames` frames of a split: evenly spaced utterances
 * (a stride over the file order chosen from the split's frame count), whole utterances only, so the
 * subset is the same on every run. CMVN statistics come from the whole split.
 */
async function estimatePosteriorPriors(bank: ModelBank, src: ArrowFrameSource, split: DecodeSplitInput, maxFrames: number, logger: Logger): Promise<{ sums: Float64Array[]; utterances: number; frames: number }> {
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
  let i = 0, frames = 0, utterances = 0;
  const progress = logger.progress(`priors from posteriors on ${split.name}`, Math.min(maxFrames, totalFrames), 'frames');
  for await (const utt of src.utterances()) {
    if (frames >= maxFrames) break;
    if (i++ % stride !== 0 || checkUtterance(utt, src)) continue;
    for (let si = 0; si < bank.systems.length; si++) bank.systems[si].accumulatePosteriors(utt, sums[si]);
    frames += utt.numFrames;
    utterances++;
    progress.tick(utt.numFrames);
  }
  progress.done();
  if (frames === 0) throw new FormatError('no frames to estimate the priors from', { file: split.features[0], expected: `usable utterances in split '${split.name}'`, found: 'none' });
  return { sums, utterances, frames };
}

function decodeOptions(s: DecodeSearchOptions, p: { lmWeight: number; wordInsertionPenalty: number }, frameShiftSec: number): DecodeOptions {
  return {
    beam: s.beam, maxActive: s.maxActive, lmWeight: p.lmWeight, wordInsertionPenalty: p.wordInsertionPenalty,
    lmLookahead: s.lmLookahead, lookaheadOrder: s.lookaheadOrder, frameShiftSec,
  };
}
