import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DecodeSearchOptions, type LexiconReport } from '../decode/search-space.ts';
import type { TunePoint } from '../decode/tune.ts';
import { FormatError, SkipCounter } from '../util/errors.ts';

export const DECODE_FORMAT = 'am-distill.decode';

export const DECODE_FORMAT_VERSION = 1;

/** Where a system's priors came from (decode.json). */
export type PriorsRecord =
  | { source: 'alignments' }
  | {
      source: 'posteriors';
      split: string;
      utterances: number;
      frames: number;
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

export interface LmRecord {
  file: string;
  sha256: string;
  order: number;
  vocabulary: number;
}

export function readDecodeSummary(decodeDir: string): DecodeSummary {
  const file = join(decodeDir, 'decode.json');
  if (!existsSync(file))
    throw new FormatError('not a decode output directory', {
      file,
      expected: 'decode.json written by the decode stage',
      found: 'no such file',
    });
  let j: DecodeSummary;
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new FormatError('malformed decode.json', {
      file,
      cause: err,
      expected: 'JSON',
      found: String((err as Error).message).slice(0, 80),
    });
  }
  if (j.format !== DECODE_FORMAT || j.formatVersion !== 1)
    throw new FormatError('unsupported decode summary', {
      file,
      expected: `${DECODE_FORMAT} version 1`,
      found: `${j.format} ${j.formatVersion}`,
    });
  return j;
}
