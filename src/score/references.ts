/**
 * Transcripts of a prepared data directory (src/corpus) as the LM, decode and score stages need them:
 * sentences for LM training, sclite references and utt2spk per split.
 */
import { readCorpusInfo, readSplit } from '../corpus/manifest.ts';
import { transcriptWords } from '../corpus/text.ts';
import { ConfigError } from '../util/errors.ts';
import type { TrnUtterance } from './trn.ts';

export interface SplitTranscripts {
  split: string;
  /** Supervisions in manifest order as trn utterances (line = 1-based line in supervisions.jsonl). */
  refs: TrnUtterance[];
  uttToSpeaker: Map<string, string>;
}

/** References and speakers of one split (the manifest is validated by src/corpus). */
export async function readSplitTranscripts(dataDir: string, split: string): Promise<SplitTranscripts> {
  const { supervisions } = await readSplit(dataDir, split);
  const refs: TrnUtterance[] = supervisions.map((s, i) => ({
    uttId: s.id,
    words: transcriptWords(s.text),
    line: i + 1,
  }));
  return { split, refs, uttToSpeaker: new Map(supervisions.map((s) => [s.id, s.speaker])) };
}

/** Check that every split exists in the prepared corpus (ConfigError naming the option otherwise). */
export async function checkSplits(
  dataDir: string,
  splits: readonly string[],
  keyPath: string,
  where: { file?: string; line?: number } = {},
): Promise<string[]> {
  const info = await readCorpusInfo(dataDir);
  for (const s of splits) {
    if (!info.splits.includes(s)) {
      throw new ConfigError(`split '${s}' is not in the corpus`, {
        ...where,
        keyPath,
        expected: `splits among ${info.splits.join(', ')}`,
        found: s,
      });
    }
  }
  return info.splits;
}
