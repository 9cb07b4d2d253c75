import type { ScoreSummary } from '../formats/score.ts';
import type { Split, SystemInput } from './types.ts';

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
    const x: ReportWerInput = {
      wer: { dev: null, test: null },
      speakers: {},
      utterances: {},
      alignments: [],
      errorLists: {},
    };
    for (const r of s.results.filter((y) => y.system === name)) {
      const split = r.split;
      if (split !== 'dev' && split !== 'test') continue;
      x.wer[split] = r.counts;
      x.speakers![split] = r.speakerCounts;
      x.utterances![split] = r.utterances;
      const s: Split = split;
      x.alignments!.push(...r.alignments.map((a) => ({ ...a, split: s })));
      if (r.errorLists) x.errorLists![split] = r.errorLists; // absent in score.json files made before the lists
    }
    out[name] = x;
  }
  return out;
}
