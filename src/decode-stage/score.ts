/**
 * The `score` stage as a library function: every hypothesis file of a decode output directory
 * scored against its references with src/score (sclite convention by default), per system and
 * split, with the per-speaker table, the worst utterances, reference OOVs against the recogniser
 * vocabulary, and paired-bootstrap significance of system differences on the same split.
 *
 * Output directory:
 *   score.json                   everything below as data (what the report reads)
 *   <system>/<split>.sys         sclite's per-speaker summary table
 *   <system>/<split>.pralign     sclite's alignment dump (REF/HYP/Eval per utterance)
 *   <system>/<split>.wer         Kaldi's %WER / %SER lines
 *   <system>/<split>.dtl         sclite's error lists (`-o dtl`: confusion pairs, insertions, deletions, ...)
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, FormatError } from '../util/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import { readTrn } from '../score/trn.ts';
import { scoreTranscripts, type WerResult } from '../score/wer.ts';
import { formatAlignmentLines, formatPralign, formatSummaryTable, formatWerLine } from '../score/report.ts';
import { errorLists, formatErrorLists, type ErrorLists } from '../score/errors.ts';
import { pairedBootstrapWer, type BootstrapResult } from '../score/significance.ts';
import type { ScoringMode } from '../score/align.ts';
import { alignmentsOf, scoredSplit, worstUttIds } from '../report/from-score.ts';
import type { SpeakerWerCounts, SystemInput, UttAlignment, UttWerCounts, WerCounts } from '../report/types.ts';
import { DECODE_FORMAT, type DecodeSummary } from './decode.ts';

export const SCORE_FORMAT = 'am-distill.score';
export const SCORE_FORMAT_VERSION = 1;

/** Comparisons made by default, when both systems were decoded: [A, B] means A vs B (A - B). */
export const DEFAULT_COMPARISONS: readonly (readonly [string, string])[] = [['student', 'baseline'], ['ensemble', 'baseline'], ['student', 'ensemble']];

export interface ScoreDecodeOptions {
  /** A decode output directory (decode.json, refs/, <system>/<split>.trn, words.txt). */
  decodeDir: string;
  /** Output directory (the caller makes it atomic). */
  outDir: string;
  /** 'sclite' (default) or 'kaldi'. */
  mode?: ScoringMode;
  /** Bootstrap replicates. Default 1000. */
  bootstrapReplicates?: number;
  /** Confidence level of the intervals. Default 0.95. */
  confidence?: number;
  /** Seed of the bootstrap. Default 0. */
  seed?: number;
  /** Worst utterances listed per system and split. Default 10. */
  worstUtterances?: number;
  /** Pairs [A, B] to compare on every split; pairs with an undecoded system are left out. Default DEFAULT_COMPARISONS. */
  comparisons?: readonly (readonly [string, string])[];
  logger?: Logger;
}

export interface SpeakerWer {
  speaker: string;
  wer: number;
  errors: number;
  refWords: number;
  sentences: number;
  sub: number;
  del: number;
  ins: number;
}

export interface WorstUtterance {
  uttId: string;
  speaker: string;
  errors: number;
  refWords: number;
  /** Percent; Infinity-free: null when the reference is empty. */
  wer: number | null;
  sub: number;
  del: number;
  ins: number;
  /** sclite REF/HYP/Eval lines (errors upper-case). */
  ref: string;
  hyp: string;
  eval: string;
}

export interface SystemSplitScore {
  system: string;
  split: string;
  /** Percent. */
  wer: number;
  errors: number;
  refWords: number;
  corr: number;
  sub: number;
  del: number;
  ins: number;
  sentences: number;
  sentenceErrors: number;
  /** Sentence error rate, percent. */
  ser: number;
  emptyHyps: number;
  /** Decoded, but no token reached a final state (from decode.json). */
  noPath: number;
  /** No usable features (from decode.json). */
  noFeatures: number;
  /** Reference tokens outside the recogniser vocabulary (always errors). */
  refOovs: number;
  refOovWords: string[];
  lmWeight: number;
  wordInsertionPenalty: number;
  /** The split chose these weights itself (the tuning split). */
  tunedOnThisSplit: boolean;
  speakers: SpeakerWer[];
  worst: WorstUtterance[];
  files: { sys: string; pralign: string; wer: string; dtl: string };
  /** sclite's error lists (as in the .dtl file). */
  errorLists: ErrorLists;
  /** The report's counts (src/report ReportInput): corpus, per speaker, per utterance. */
  counts: WerCounts;
  speakerCounts: SpeakerWerCounts[];
  utterances: UttWerCounts[];
  /**
   * Word alignments of the reference system's worst utterances on this split (the student's when
   * it was decoded, else the first system's), so every system shows the same utterances.
   */
  alignments: UttAlignment[];
}

export interface SystemComparison extends BootstrapResult {
  /** A vs B: deltaWer = WER(A) - WER(B), percent; negative = A is better. */
  a: string;
  b: string;
  split: string;
  /** The confidence interval excludes 0. */
  significant: boolean;
}

export interface ScoreSummary {
  format: typeof SCORE_FORMAT;
  formatVersion: number;
  mode: ScoringMode;
  tuneSplit: string | null;
  /** Splits in decode order (the tuning split first). */
  splits: string[];
  systems: string[];
  /** One entry per (system, split), systems in decode order. */
  results: SystemSplitScore[];
  comparisons: SystemComparison[];
  bootstrap: { replicates: number; confidence: number; seed: number };
}

function readDecodeSummary(decodeDir: string): DecodeSummary {
  const file = join(decodeDir, 'decode.json');
  if (!existsSync(file)) throw new FormatError('not a decode output directory', { file, expected: 'decode.json written by the decode stage', found: 'no such file' });
  let j: DecodeSummary;
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new FormatError('malformed decode.json', { file, cause: err, expected: 'JSON', found: String((err as Error).message).slice(0, 80) });
  }
  if (j.format !== DECODE_FORMAT || j.formatVersion !== 1) throw new FormatError('unsupported decode summary', { file, expected: `${DECODE_FORMAT} version 1`, found: `${j.format} ${j.formatVersion}` });
  return j;
}

function speakerRows(r: WerResult): SpeakerWer[] {
  return r.speakers.map((s) => ({ speaker: s.speaker, wer: s.wer, errors: s.errors, refWords: s.refWords, sentences: s.sentences, sub: s.sub, del: s.del, ins: s.ins }));
}

/** Utterances with the most errors (then the highest rate, then id order). */
export function worstUtterances(r: WerResult, n: number): WorstUtterance[] {
  const rate = (e: number, w: number) => (w > 0 ? e / w : Infinity);
  return [...r.utterances]
    .filter((u) => u.errors > 0)
    .sort((a, b) => b.errors - a.errors || rate(b.errors, b.refWords) - rate(a.errors, a.refWords) || (a.uttId < b.uttId ? -1 : a.uttId > b.uttId ? 1 : 0))
    .slice(0, n)
    .map((u) => {
      const l = formatAlignmentLines(u.pairs, r.mode === 'kaldi');
      return {
        uttId: u.uttId, speaker: u.speaker, errors: u.errors, refWords: u.refWords, wer: u.refWords > 0 ? (100 * u.errors) / u.refWords : null,
        sub: u.sub, del: u.del, ins: u.ins, ref: l.ref.trimEnd(), hyp: l.hyp.trimEnd(), eval: l.eval.trimEnd(),
      };
    });
}

/** Score a decode output directory; see the module comment. */
export async function scoreDecodeDir(opts: ScoreDecodeOptions): Promise<ScoreSummary> {
  const logger = opts.logger ?? defaultLog;
  const mode = opts.mode ?? 'sclite';
  const replicates = opts.bootstrapReplicates ?? 1000;
  const confidence = opts.confidence ?? 0.95;
  const seed = opts.seed ?? 0;
  const worstN = opts.worstUtterances ?? 10;
  if (mode !== 'sclite' && mode !== 'kaldi') throw new ConfigError('bad scoring mode', { keyPath: 'mode', expected: "'sclite' or 'kaldi'", found: String(mode) });
  const dec = readDecodeSummary(opts.decodeDir);
  const vocabFile = join(opts.decodeDir, 'words.txt');
  const vocabulary = existsSync(vocabFile) ? new Set(readFileSync(vocabFile, 'utf8').split('\n').filter((w) => w)) : undefined;
  const systems = dec.systems.map((s) => s.name);
  const results: SystemSplitScore[] = [];
  const raw = new Map<string, WerResult>();
  for (const split of dec.splits) {
    const refFile = join(opts.decodeDir, 'refs', `${split}.trn`);
    if (!existsSync(refFile)) {
      logger.warn(`score: no references for '${split}' (${refFile}); not scored`);
      continue;
    }
    const refs = readTrn(refFile);
    for (const sys of dec.systems) {
      const ss = sys.splits[split];
      if (!ss) throw new FormatError(`decode.json lists split '${split}' but system '${sys.name}' has no result for it`, { file: join(opts.decodeDir, 'decode.json'), expected: `systems[${sys.name}].splits.${split}`, found: 'none' });
      const hypFile = join(opts.decodeDir, sys.name, `${split}.trn`);
      const r = scoreTranscripts(refs, readTrn(hypFile), { mode, vocabulary, refFile, hypFile, missingHyp: 'error' });
      raw.set(`${sys.name}\0${split}`, r);
      const files = { sys: join(sys.name, `${split}.sys`), pralign: join(sys.name, `${split}.pralign`), wer: join(sys.name, `${split}.wer`), dtl: join(sys.name, `${split}.dtl`) };
      const title = `${sys.name} ${split}`;
      const lists = errorLists(r.utterances, mode === 'kaldi');
      await writeFileAtomic(join(opts.outDir, files.dtl), formatErrorLists(lists));
      await writeFileAtomic(join(opts.outDir, files.sys), formatSummaryTable(r, title));
      await writeFileAtomic(join(opts.outDir, files.pralign), formatPralign(r, title));
      await writeFileAtomic(join(opts.outDir, files.wer), formatWerLine(r));
      results.push({
        system: sys.name, split, wer: r.wer, errors: r.errors, refWords: r.refWords, corr: r.corr, sub: r.sub, del: r.del, ins: r.ins,
        sentences: r.sentences, sentenceErrors: r.sentenceErrors, ser: r.sentences ? (100 * r.sentenceErrors) / r.sentences : 0,
        emptyHyps: r.emptyHyps, noPath: ss.noPath, noFeatures: ss.noFeatures, refOovs: r.refOovs, refOovWords: r.refOovWords,
        lmWeight: sys.lmWeight, wordInsertionPenalty: sys.wordInsertionPenalty, tunedOnThisSplit: sys.tuning?.split === split,
        speakers: speakerRows(r), worst: worstUtterances(r, worstN), files, errorLists: lists,
        ...(() => { const x = scoredSplit(r); return { counts: x.counts, speakerCounts: x.speakers, utterances: x.utterances }; })(),
        alignments: [],
      });
      logger.info(`score ${title}: %WER ${r.wer.toFixed(2)} [ ${r.errors} / ${r.refWords}, ${r.ins} ins, ${r.del} del, ${r.sub} sub ]${r.refOovs ? `, ${r.refOovs} reference OOV tokens` : ''}${sys.tuning?.split === split ? ' (weights tuned on this split)' : ''}`);
    }
  }
  // Alignments of the same (worst) utterances for every system.
  const refSystem = systems.includes('student') ? 'student' : systems[0];
  for (const split of dec.splits) {
    const ref = raw.get(`${refSystem}\0${split}`);
    if (!ref) continue;
    const ids = worstUttIds(ref, worstN);
    for (const r of results.filter((x) => x.split === split)) r.alignments = alignmentsOf(raw.get(`${r.system}\0${split}`)!, split as 'dev' | 'test', ids);
  }
  const comparisons: SystemComparison[] = [];
  for (const [a, b] of opts.comparisons ?? DEFAULT_COMPARISONS) {
    if (!systems.includes(a) || !systems.includes(b)) continue;
    for (const split of dec.splits) {
      const ra = raw.get(`${a}\0${split}`), rb = raw.get(`${b}\0${split}`);
      if (!ra || !rb) continue;
      const bs = pairedBootstrapWer(ra, rb, { replicates, confidence, seed });
      const significant = bs.ciLow > 0 || bs.ciHigh < 0;
      comparisons.push({ a, b, split, ...bs, significant });
      logger.info(`score ${split}: ${a} - ${b} = ${bs.deltaWer.toFixed(2)}% WER, ${(100 * confidence).toFixed(0)}% CI [${bs.ciLow.toFixed(2)}, ${bs.ciHigh.toFixed(2)}]${significant ? ' (significant)' : ''}, P(${a} better) ${bs.probABetter.toFixed(3)}`);
    }
  }
  const summary: ScoreSummary = {
    format: SCORE_FORMAT, formatVersion: SCORE_FORMAT_VERSION, mode, tuneSplit: dec.tuneSplit, splits: dec.splits, systems,
    results, comparisons, bootstrap: { replicates, confidence, seed },
  };
  await writeJsonAtomic(join(opts.outDir, 'score.json'), summary);
  return summary;
}

/** What the report needs of one system (src/report SystemInput), per report split ('dev', 'test'). */
export type ReportWerInput = Pick<SystemInput, 'wer' | 'speakers' | 'utterances' | 'alignments' | 'errorLists'>;

/**
 * The WER part of the report's input for every scored system: corpus, per-speaker and
 * per-utterance counts and the alignments of the worst utterances, for the splits named `dev` and
 * `test` (other splits are not part of the report). Frame accuracy and the rest come from other stages.
 */
export function reportWerInputs(s: ScoreSummary): Record<string, ReportWerInput> {
  const out: Record<string, ReportWerInput> = {};
  for (const name of s.systems) {
    const x: ReportWerInput = { wer: { dev: null, test: null }, speakers: {}, utterances: {}, alignments: [], errorLists: {} };
    for (const r of s.results.filter((y) => y.system === name)) {
      if (r.split !== 'dev' && r.split !== 'test') continue;
      x.wer[r.split] = r.counts;
      x.speakers![r.split] = r.speakerCounts;
      x.utterances![r.split] = r.utterances;
      x.alignments!.push(...r.alignments);
      if (r.errorLists) x.errorLists![r.split] = r.errorLists; // absent in score.json files made before the lists
    }
    out[name] = x;
  }
  return out;
}
