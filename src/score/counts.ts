/**
 * Word error counts in the form the report and score.json carry them: corpus, per speaker, per
 * utterance, and the word alignments of chosen utterances, taken from a src/score result so the
 * report's counts are exactly the scorer's.
 */
import type { AlignedPair } from './align.ts';
import type { WerResult } from './wer.ts';

/** Word error counts of one system on one split (sclite convention: errors = sub + del + ins). */
export interface WerCounts {
  refWords: number;
  sub: number;
  del: number;
  ins: number;
  /** Utterances scored. */
  sentences?: number;
  /** Utterances with at least one error. */
  sentenceErrors?: number;
}

export interface SpeakerWerCounts extends WerCounts {
  speaker: string;
}

/** Error counts of one utterance; the paired bootstrap resamples these. */
export interface UttWerCounts {
  uttId: string;
  refWords: number;
  sub: number;
  del: number;
  ins: number;
}

/** A scored utterance with its word alignment (src/score's `AlignedPair`s). */
export interface UttAlignment<S extends string = string> {
  uttId: string;
  /** The scored split ('dev' or 'test' in a report). */
  split: S;
  pairs: AlignedPair[];
}

export interface ScoredSplit {
  counts: WerCounts;
  speakers: SpeakerWerCounts[];
  utterances: UttWerCounts[];
}

/** Corpus, per-speaker and per-utterance counts of one scored split. */
export function scoredSplit(r: WerResult): ScoredSplit {
  return {
    counts: {
      refWords: r.refWords,
      sub: r.sub,
      del: r.del,
      ins: r.ins,
      sentences: r.sentences,
      sentenceErrors: r.sentenceErrors,
    },
    speakers: r.speakers.map((s) => ({
      speaker: s.speaker,
      refWords: s.refWords,
      sub: s.sub,
      del: s.del,
      ins: s.ins,
      sentences: s.sentences,
      sentenceErrors: s.sentenceErrors,
    })),
    utterances: r.utterances.map((u) => ({ uttId: u.uttId, refWords: u.refWords, sub: u.sub, del: u.del, ins: u.ins })),
  };
}

/** Ids of the `n` utterances with the most errors (ties: more reference words first, then id). */
export function worstUttIds(r: WerResult, n: number): string[] {
  return [...r.utterances]
    .sort(
      (a, b) => b.errors - a.errors || b.refWords - a.refWords || (a.uttId < b.uttId ? -1 : a.uttId > b.uttId ? 1 : 0),
    )
    .filter((u) => u.errors > 0)
    .slice(0, n)
    .map((u) => u.uttId);
}

/** Alignments of the given utterances (in the given order; ids the result lacks are left out). */
export function alignmentsOf<S extends string>(r: WerResult, split: S, uttIds: readonly string[]): UttAlignment<S>[] {
  const byId = new Map(r.utterances.map((u) => [u.uttId, u] as const));
  return uttIds.flatMap((id) => {
    const u = byId.get(id);
    return u ? [{ uttId: id, split, pairs: u.pairs.map((p) => ({ ...p })) }] : [];
  });
}
