import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type DecodeSearchOptions, type LexiconReport } from '../decode/search-space.ts';
import type { TunePoint } from '../decode/tune.ts';
import { FormatError, SkipCounter } from '../util/errors.ts';
import { Checker, joinKey, readTaggedJson } from '../util/json-check.ts';

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
  if (!existsSync(file)) {
    throw new FormatError('not a decode output directory', {
      file,
      expected: 'decode.json written by the decode stage',
      found: 'no such file',
    });
  }
  return readTaggedJson<DecodeSummary>(file, DECODE_FORMAT, 'a decode summary', 'formatVersion', DECODE_FORMAT_VERSION);
}

/**
 * `am-distill validate` of a decode.json: the reader's format check; the LM record; per system
 * and split the counts (decoded <= utterances, no-path <= decoded, WER >= 0) and the hypothesis
 * files (trn, ctm, utts) there. Returns the summary lines.
 */
export function validateDecodeSummary(path: string): string[] {
  const j = readTaggedJson<DecodeSummary>(
    path,
    DECODE_FORMAT,
    'a decode summary',
    'formatVersion',
    DECODE_FORMAT_VERSION,
  );
  const c = new Checker(path, 'invalid decode summary');
  const o = c.fields(j, '', ['search', 'lm', 'lexicon', 'graph', 'tuneSplit', 'splits', 'systems']);
  const splits = c.names(o.splits, 'splits');
  if (o.tuneSplit !== null) c.oneOf(o.tuneSplit, 'tuneSplit', splits);
  const lm = c.fields(o.lm, 'lm', ['file', 'sha256', 'order', 'vocabulary']);
  c.int(lm.order, 'lm.order', 1);
  c.int(lm.vocabulary, 'lm.vocabulary', 1);
  c.names(o.systems, 'systems', 'name');
  const lines = [
    `decode (${j.format} v${j.formatVersion}) of ${j.systems.length} system(s) on ${splits.join(', ')}${j.tuneSplit ? `, weights tuned on ${j.tuneSplit}` : ''}: LM order ${j.lm.order}, ${j.lm.vocabulary} words, ${j.lexicon.words} searchable`,
  ];
  for (const [i, sys] of j.systems.entries()) {
    const p = `systems[${i}]`;
    const s = c.fields(sys, p, [
      'models',
      'kind',
      'lmWeight',
      'wordInsertionPenalty',
      'weightsFrom',
      'priors',
      'splits',
    ]);
    c.oneOf(s.kind, joinKey(p, 'kind'), ['single', 'ensemble']);
    c.num(s.lmWeight, joinKey(p, 'lmWeight'));
    c.num(s.wordInsertionPenalty, joinKey(p, 'wordInsertionPenalty'));
    const wers: string[] = [];
    for (const split of splits) {
      const q = joinKey(joinKey(p, 'splits'), split);
      const r = c.fields((s.splits as Record<string, unknown>)[split], q, [
        'utterances',
        'decoded',
        'frames',
        'noPath',
        'noFeatures',
        'emptyHyps',
        'wer',
        'files',
      ]);
      const utterances = c.int(r.utterances, joinKey(q, 'utterances'));
      const decoded = c.int(r.decoded, joinKey(q, 'decoded'));
      if (decoded > utterances) c.fail(joinKey(q, 'decoded'), `<= ${utterances} utterances`, decoded);
      if (c.int(r.noPath, joinKey(q, 'noPath')) > decoded)
        c.fail(joinKey(q, 'noPath'), `<= ${decoded} decoded`, r.noPath);
      if (r.wer !== null) wers.push(`${split} WER ${c.num(r.wer, joinKey(q, 'wer'), 0).toFixed(2)} %`);
      const files = c.fields(r.files, joinKey(q, 'files'), ['trn', 'ctm', 'utts']);
      for (const [k, f] of Object.entries(files)) {
        if (!existsSync(join(dirname(path), c.str(f, joinKey(joinKey(q, 'files'), k)))))
          c.fail(joinKey(joinKey(q, 'files'), k), `a file in ${dirname(path)}`, f);
      }
    }
    lines.push(
      `  ${sys.name} (${sys.kind}): LM weight ${sys.lmWeight}, insertion penalty ${sys.wordInsertionPenalty} (${sys.weightsFrom}); ${wers.join(', ') || 'no references'}`,
    );
  }
  return lines;
}
