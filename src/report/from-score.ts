/**
 * Helpers for the stage code that fills a ReportInput from src/score results, so the counts in the
 * report are exactly the scorer's.
 */
import type { WerResult } from '../score/wer.ts';
import type { SpeakerWerCounts, Split, UttAlignment, UttWerCounts, WerCounts } from './types.ts';

export interface ScoredSplit {
  counts: WerCounts;
  speakers: SpeakerWerCounts[];
  utterances: UttWerCounts[];
}

/** Corpus, per-speaker and per-utterance counts of one scored split. */
export function scoredSplit(r: WerResult): ScoredSplit {
  return {
    counts: { refWords: r.refWords, sub: r.sub, del: r.del, ins: r.ins, sentences: r.sentences, sentenceErrors: r.sentenceErrors },
    speakers: r.speakers.map((s) => ({ speaker: s.speaker, refWords: s.refWords, sub: s.sub, del: s.del, ins: s.ins, sentences: s.sentences, sentenceErrors: s.sentenceErrors })),
    utterances: r.utterances.map((u) => ({ uttId: u.uttId, refWords: u.refWords, sub: u.sub, del: u.del, ins: u.ins })),
  };
}

/** Ids of the `n` utterances with the most errors (ties: more reference words first, then id). */
export function worstUttIds(r: WerResult, n: number): string[] {
  return [...r.utterances]
    .sort((a, b) => b.errors - a.errors || b.refWords - a.refWords || (a.uttId < b.uttId ? -1 : a.uttId > b.uttId ? 1 : 0))
    .filter((u) => u.errors > 0)
    .slice(0, n)
    .map((u) => u.uttId);
}

/** Alignments of the given utterances (in the given order; ids the result lacks are left out). */
export function alignmentsOf(r: WerResult, split: Split, uttIds: readonly string[]): UttAlignment[] {
  const byId = new Map(r.utterances.map((u) => [u.uttId, u] as const));
  return uttIds.flatMap((id) => {
    const u = byId.get(id);
    return u ? [{ uttId: id, split, pairs: u.pairs.map((p) => ({ ...p })) }] : [];
  });
}
