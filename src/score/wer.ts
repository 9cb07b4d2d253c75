/**
 * Corpus WER: align every reference utterance with its hypothesis and add up the edits.
 * Corpus WER is total errors / total reference words (never a mean of per-utterance rates).
 */
import { FormatError } from '../util/errors.ts';
import { alignWords, type AlignedPair, type EditCounts, type ScoringMode } from './align.ts';
import { speakerOf, type TrnUtterance } from './trn.ts';

export interface ScoreOptions {
  /** Alignment convention: 'sclite' (default, NIST sclite counts) or 'kaldi' (compute-wer counts). */
  mode?: ScoringMode;
  /** Case-sensitive word comparison. Default: the tool's own default (sclite: no, kaldi: yes). */
  caseSensitive?: boolean;
  /**
   * A reference utterance without a hypothesis: 'error' (default; FormatError naming the id) or
   * 'empty' (scored as an empty hypothesis, all deletions, and counted in `missingHyps`).
   * A hypothesis without a reference is always an error.
   */
  missingHyp?: 'error' | 'empty';
  /**
   * Recogniser vocabulary. When given, reference words outside it are counted in `refOovs`
   * (they are scored like any other word: the recogniser cannot get them right).
   */
  vocabulary?: ReadonlySet<string>;
  /** File names used in error messages. */
  refFile?: string;
  hypFile?: string;
}

export interface UttScore extends EditCounts {
  uttId: string;
  speaker: string;
  refWords: number;
  hypWords: number;
  errors: number;
  pairs: AlignedPair[];
}

export interface ErrorSummary extends EditCounts {
  /** Word error rate in percent: 100 * errors / refWords (0 when both are 0, Infinity for errors without reference words). */
  wer: number;
  errors: number;
  refWords: number;
  sentences: number;
  /** Utterances with at least one error. */
  sentenceErrors: number;
}

export interface SpeakerScore extends ErrorSummary {
  speaker: string;
}

export interface WerResult extends ErrorSummary {
  mode: ScoringMode;
  utterances: UttScore[];
  /** Per speaker (sclite spu_id convention), sorted by speaker id. */
  speakers: SpeakerScore[];
  /** Utterances whose hypothesis is empty (nothing survived decoding), counted. */
  emptyHyps: number;
  /** Reference utterances that had no hypothesis line (only with missingHyp 'empty'). */
  missingHyps: string[];
  /** Reference tokens outside `vocabulary` (0 when no vocabulary was given). */
  refOovs: number;
  /** Distinct out-of-vocabulary reference words, sorted. */
  refOovWords: string[];
}

export function werPercent(errors: number, refWords: number): number {
  if (refWords > 0) return (100 * errors) / refWords;
  return errors === 0 ? 0 : Infinity;
}

function summarise(utts: readonly UttScore[]): ErrorSummary {
  const s = { corr: 0, sub: 0, del: 0, ins: 0, errors: 0, refWords: 0, sentences: utts.length, sentenceErrors: 0 };
  for (const u of utts) {
    s.corr += u.corr;
    s.sub += u.sub;
    s.del += u.del;
    s.ins += u.ins;
    s.errors += u.errors;
    s.refWords += u.refWords;
    if (u.errors > 0) s.sentenceErrors++;
  }
  return { ...s, wer: werPercent(s.errors, s.refWords) };
}

/** Score hypotheses against references (matched by utterance id, reported in reference order). */
export function scoreTranscripts(
  refs: readonly TrnUtterance[],
  hyps: readonly TrnUtterance[],
  opts: ScoreOptions = {},
): WerResult {
  const mode = opts.mode ?? 'sclite';
  const missingHyp = opts.missingHyp ?? 'error';
  const refIds = new Set(refs.map((r) => r.uttId));
  for (const h of hyps) {
    if (!refIds.has(h.uttId)) {
      throw new FormatError(`hypothesis for utterance '${h.uttId}' has no reference`, {
        file: opts.hypFile,
        line: h.line || undefined,
        uttId: h.uttId,
        expected: `an id present in ${opts.refFile ?? 'the reference'}`,
        found: 'none',
      });
    }
  }
  const hypById = new Map(hyps.map((h) => [h.uttId, h] as const));
  const missing: string[] = [];
  const utterances: UttScore[] = [];
  let emptyHyps = 0,
    refOovs = 0;
  const oovWords = new Set<string>();
  for (const r of refs) {
    let h = hypById.get(r.uttId);
    if (!h) {
      if (missingHyp === 'error') {
        throw new FormatError(`reference utterance '${r.uttId}' has no hypothesis`, {
          file: opts.refFile,
          line: r.line || undefined,
          uttId: r.uttId,
          expected: `a line '(${r.uttId})' in ${opts.hypFile ?? 'the hypothesis'}`,
          found: 'none',
        });
      }
      missing.push(r.uttId);
      h = { uttId: r.uttId, words: [], line: 0 };
    }
    if (h.words.length === 0) emptyHyps++;
    if (opts.vocabulary) {
      for (const w of r.words)
        if (!opts.vocabulary.has(w)) {
          refOovs++;
          oovWords.add(w);
        }
    }
    const al = alignWords(r.words, h.words, { mode, caseSensitive: opts.caseSensitive });
    utterances.push({
      uttId: r.uttId,
      speaker: speakerOf(r.uttId),
      refWords: r.words.length,
      hypWords: h.words.length,
      corr: al.corr,
      sub: al.sub,
      del: al.del,
      ins: al.ins,
      errors: al.sub + al.del + al.ins,
      pairs: al.pairs,
    });
  }
  const bySpk = new Map<string, UttScore[]>();
  for (const u of utterances) {
    const l = bySpk.get(u.speaker);
    if (l) l.push(u);
    else bySpk.set(u.speaker, [u]);
  }
  const speakers = [...bySpk.keys()].sort().map((speaker) => ({ speaker, ...summarise(bySpk.get(speaker)!) }));
  return {
    mode,
    ...summarise(utterances),
    utterances,
    speakers,
    emptyHyps,
    missingHyps: missing,
    refOovs,
    refOovWords: [...oovWords].sort(),
  };
}

/** The JSON summary printed by `am-distill score --json` (wer in percent). */
export function werSummaryJson(r: WerResult): {
  wer: number;
  errors: number;
  refWords: number;
  sub: number;
  del: number;
  ins: number;
  corr: number;
  sentences: number;
  sentenceErrors: number;
  emptyHyps: number;
  refOovs: number;
  mode: ScoringMode;
} {
  return {
    wer: r.wer,
    errors: r.errors,
    refWords: r.refWords,
    sub: r.sub,
    del: r.del,
    ins: r.ins,
    corr: r.corr,
    sentences: r.sentences,
    sentenceErrors: r.sentenceErrors,
    emptyHyps: r.emptyHyps,
    refOovs: r.refOovs,
    mode: r.mode,
  };
}
