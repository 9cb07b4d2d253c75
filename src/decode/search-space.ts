/**
 * A decoding search space: the lang directory, the HMM (tree, transition model), an ARPA LM and an
 * optional lexicon file compiled into one Decoder, with the search options (beam, active tokens,
 * LM weight grid) that go with it. The decode stage builds one per LM; bench/decode.ts too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../hmm/model.ts';
import { readLang, readLangPhones } from '../lang/lang.ts';
import { UNK_WORD, readLexiconForPhones, type Lexicon } from '../lang/lexicon.ts';
import type { PhoneSet } from '../lang/phones.ts';
import { loadNgramStore } from '../lm/store-file.ts';
import type { ScoringMode } from '../score/align.ts';
import { ConfigError, FormatError } from '../util/errors.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import { coveredPronunciations, decoderLexicon, phoneContextModel } from './adapters.ts';
import { Decoder, type DecodeOptions } from './decoder.ts';
import { SearchLm } from './search-lm.ts';

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
    if (!(k in DECODE_SEARCH_DEFAULTS))
      throw new ConfigError(`unknown decode option '${k}'`, {
        keyPath: k,
        expected: Object.keys(DECODE_SEARCH_DEFAULTS).join(', '),
        found: k,
      });
  }
  const r: DecodeSearchOptions = { ...DECODE_SEARCH_DEFAULTS, ...o } as DecodeSearchOptions;
  const bad = (keyPath: string, expected: string, found: unknown) =>
    new ConfigError('bad decode option', { keyPath, expected, found: JSON.stringify(found) });
  if (!(r.beam > 0)) throw bad('beam', '> 0', r.beam);
  if (!(Number.isInteger(r.maxActive) && r.maxActive >= 1)) throw bad('maxActive', 'an integer >= 1', r.maxActive);
  if (!(r.acousticScale > 0)) throw bad('acousticScale', '> 0', r.acousticScale);
  if (!Array.isArray(r.lmWeights) || r.lmWeights.length === 0 || !r.lmWeights.every((x) => x >= 0))
    throw bad('lmWeights', 'a non-empty list of numbers >= 0', r.lmWeights);
  if (
    !Array.isArray(r.wordInsertionPenalties) ||
    r.wordInsertionPenalties.length === 0 ||
    !r.wordInsertionPenalties.every((x) => Number.isFinite(x))
  )
    throw bad('wordInsertionPenalties', 'a non-empty list of numbers', r.wordInsertionPenalties);
  if (!(r.lmWeight >= 0)) throw bad('lmWeight', '>= 0', r.lmWeight);
  if (!Number.isFinite(r.wordInsertionPenalty)) throw bad('wordInsertionPenalty', 'a number', r.wordInsertionPenalty);
  if (r.silenceProb !== null && !(r.silenceProb >= 0 && r.silenceProb <= 1))
    throw bad('silenceProb', 'null or a number in [0, 1]', r.silenceProb);
  if (!(Number.isInteger(r.lookaheadOrder) && r.lookaheadOrder >= 1))
    throw bad('lookaheadOrder', 'an integer >= 1', r.lookaheadOrder);
  if (r.scoringMode !== 'sclite' && r.scoringMode !== 'kaldi')
    throw bad('scoringMode', "'sclite' or 'kaldi'", r.scoringMode);
  if (typeof r.allowUnk !== 'boolean') throw bad('allowUnk', 'true or false', r.allowUnk);
  return r;
}

/** The lang directory's optional-silence probability (lang.json options). */
function langSilenceProb(langDir: string): number {
  const file = join(langDir, 'lang.json');
  let j: { options?: { optionalSilenceProb?: unknown } };
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new FormatError('cannot read the lang directory', {
      file,
      cause: err,
      expected: 'lang.json written by the align stage',
      found: (err as NodeJS.ErrnoException).code ?? 'malformed JSON',
    });
  }
  const p = j.options?.optionalSilenceProb;
  if (typeof p !== 'number' || !(p >= 0 && p < 1))
    throw new FormatError('lang.json has no optional silence probability', {
      file,
      expected: 'options.optionalSilenceProb in [0, 1)',
      found: String(p),
    });
  return p;
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
    file,
    wordsRead: r.wordsRead,
    pronunciationsRead: r.pronunciationsRead,
    positionsMarked: r.positionsMarked,
    unknownPhonePronunciations: r.droppedPronunciations,
    unknownPhones: Object.fromEntries(phoneList),
    unusableWords: r.unusableWords.length,
    unusableExamples: r.unusableWords.slice(0, 20),
  };
  const phonesNote = phoneList
    .slice(0, 10)
    .map(([p, n]) => `${p} (${n})`)
    .join(', ');
  if (r.lexicon.size === 0) {
    throw new FormatError(
      `no word of the lexicon can be used: every pronunciation has a phone outside the acoustic model's phone set (${phonesNote})`,
      {
        file,
        line: r.firstDroppedLine ?? undefined,
        expected: `pronunciations over ${phones.phones.join(' ')}${phones.wordPositions ? ' (or the same phones without word positions)' : ''}`,
        found: `${r.wordsRead} word(s), none usable`,
      },
    );
  }
  logger.info(
    `decode: lexicon ${file}: ${r.wordsRead} words, ${r.pronunciationsRead} pronunciations read in ${((performance.now() - t0) / 1000).toFixed(2)} s${r.positionsMarked ? ', word positions marked' : ''}`,
  );
  if (r.droppedPronunciations) {
    logger.warn(
      `decode: lexicon ${file}: ${r.droppedPronunciations} pronunciation(s) use phones outside the acoustic model's phone set (${phonesNote}) and are left out; ${r.unusableWords.length} word(s) lose every pronunciation${r.unusableWords.length ? `, e.g. ${r.unusableWords.slice(0, 10).join(', ')}` : ''}`,
    );
  }
  return { lexicon: r.lexicon, report };
}

/**
 * The decoder over the align stage's lexicon (or `opts.lexicon`) and HMM (tree, transitions) and an
 * ARPA LM. Lexicon words the LM lacks, or whose phones the tree has no model for, are left out and
 * listed; so are a lexicon file's words whose phones are not the model's.
 */
export async function buildSearch(
  langDir: string,
  hmmModel: string,
  lm: string,
  search: DecodeSearchOptions,
  logger: Logger = defaultLog,
  lmCache = true,
  opts: BuildSearchOptions = {},
): Promise<DecodeSearchSpace> {
  const hmm = loadModel(hmmModel);
  let phones: PhoneSet,
    lexicon: Lexicon,
    lexiconReport: LexiconReport | null = null;
  if (opts.lexicon) {
    phones = readLangPhones(langDir);
    ({ lexicon, report: lexiconReport } = lexiconFromFile(opts.lexicon, hmm.phones, logger));
  } else {
    ({ phones, lexicon } = readLang(langDir));
  }
  if (hmm.phones.symbols.join(' ') !== phones.symbols.join(' ')) {
    throw new FormatError('the HMM and the lang directory have different phone sets', {
      file: hmmModel,
      expected: `phones of ${langDir}`,
      found: `${hmm.phones.symbols.length} phones, first difference at ${hmm.phones.symbols.findIndex((p, i) => p !== phones.symbols[i])}`,
    });
  }
  const am = phoneContextModel(hmm.ctx, hmm.tm);
  const covered = coveredPronunciations(
    decoderLexicon(
      lexicon,
      phones,
      lexicon.words().filter((w) => search.allowUnk || w !== UNK_WORD),
    ),
    am,
  );
  if (covered.droppedWords.length)
    logger.warn(
      `${covered.droppedWords.length} lexicon word(s) need phones the acoustic model never saw and are left out: ${covered.droppedWords.slice(0, 10).join(', ')}`,
    );
  if (opts.lexicon && covered.lexicon.prons.length === 0) {
    throw new FormatError(
      'no word of the lexicon can be used: the acoustic model has no senones for the phones of any pronunciation',
      {
        file: opts.lexicon,
        expected: 'pronunciations over phones seen in training',
        found: `${covered.droppedWords.length} word(s) with untrained phones, e.g. ${covered.droppedWords.slice(0, 5).join(', ')}`,
      },
    );
  }
  const t0 = performance.now();
  const loaded = await loadNgramStore(lm, { cache: lmCache });
  logger.info(
    `decode: LM ${lm}: ${loaded.store.counts.join(' + ')} n-grams read from ${loaded.from === 'cache' ? `its binary cache ${loaded.cachePath}` : `the ARPA file (binary cache: ${loaded.cacheNote})`} in ${((performance.now() - t0) / 1000).toFixed(2)} s`,
  );
  const slm = new SearchLm(loaded.store, { file: lm });
  const silenceProb = search.silenceProb ?? langSilenceProb(langDir);
  const t1 = performance.now();
  const decoder = new Decoder(covered.lexicon, am, slm, { silenceProb, missingLmWords: 'drop', lmFile: lm });
  const notInLm = [...decoder.droppedWords];
  if (notInLm.length)
    logger.warn(
      `${notInLm.length} lexicon word(s) are not in the LM vocabulary and cannot be recognised: ${notInLm.slice(0, 10).join(', ')}${notInLm.length > 10 ? ', ...' : ''}`,
    );
  const kept = covered.lexicon.prons.filter((p) => decoder.toLm[p.word] >= 0);
  const searchWords = [...new Set(kept.map((p) => covered.lexicon.words[p.word]))].sort();
  logger.info(
    `decode: ${searchWords.length} words (${kept.length} pronunciations), LM order ${slm.order}, graph ${decoder.graph.numStates} HMM states in ${decoder.graph.numCopies} phone copies (built in ${((performance.now() - t1) / 1000).toFixed(2)} s); silence probability ${silenceProb}`,
  );
  return {
    decoder,
    slm,
    silenceProb,
    searchWords,
    numProns: kept.length,
    notInLm,
    untrainedPhones: covered.droppedWords,
    numPdfs: am.numPdfs,
    lexiconReport,
  };
}

/** The decoder's options for one (LM weight, insertion penalty) point of a search space. */
export function decodeOptions(
  s: DecodeSearchOptions,
  p: { lmWeight: number; wordInsertionPenalty: number },
  frameShiftSec: number,
): DecodeOptions {
  return {
    beam: s.beam,
    maxActive: s.maxActive,
    lmWeight: p.lmWeight,
    wordInsertionPenalty: p.wordInsertionPenalty,
    lmLookahead: s.lmLookahead,
    lookaheadOrder: s.lookaheadOrder,
    frameShiftSec,
  };
}
