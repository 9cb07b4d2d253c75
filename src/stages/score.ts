/**
 * The `score` stage: every hypothesis file of a decode output directory
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
 *
 * Its run function is `scoreDecodeDir`, which the CLI calls too.
 *
 * Recipe:
 *   stages:
 *     score:
 *       mode: sclite               # or kaldi (compute-wer)
 *       bootstrapReplicates: 1000
 *       confidence: 0.95
 *       worstUtterances: 10
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readDecodeSummary } from '../formats/decode.ts';
import {
  SCORE_FORMAT,
  SCORE_FORMAT_VERSION,
  SCORE_JSON,
  type ScoreSummary,
  type SpeakerWer,
  type SystemComparison,
  type SystemSplitScore,
  type WorstUtterance,
} from '../formats/score.ts';
import type { ScoringMode } from '../score/align.ts';
import { alignmentsOf, scoredSplit, worstUttIds } from '../score/counts.ts';
import { errorLists, formatErrorLists } from '../score/errors.ts';
import { formatAlignmentLines, formatPralign, formatSummaryTable, formatWerLine } from '../score/report.ts';
import { pairedBootstrapWer } from '../score/significance.ts';
import { readTrn } from '../score/trn.ts';
import { scoreTranscripts, type WerResult } from '../score/wer.ts';
import { ConfigError, FormatError } from '../util/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import { locateConfigError } from './common.ts';
import type { Schema, SchemaFor } from './schema.ts';
import type { StageDefinition } from './stage.ts';

/** Comparisons made by default, when both systems were decoded: [A, B] means A vs B (A - B). */
export const DEFAULT_COMPARISONS: readonly (readonly [string, string])[] = [
  ['student', 'baseline'],
  ['ensemble', 'baseline'],
  ['student', 'ensemble'],
];

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

function speakerRows(r: WerResult): SpeakerWer[] {
  return r.speakers.map((s) => ({
    speaker: s.speaker,
    wer: s.wer,
    errors: s.errors,
    refWords: s.refWords,
    sentences: s.sentences,
    sub: s.sub,
    del: s.del,
    ins: s.ins,
  }));
}

/** Utterances with the most errors (then the highest rate, then id order). */
export function worstUtterances(r: WerResult, n: number): WorstUtterance[] {
  const rate = (e: number, w: number) => (w > 0 ? e / w : Infinity);
  return [...r.utterances]
    .filter((u) => u.errors > 0)
    .sort(
      (a, b) =>
        b.errors - a.errors ||
        rate(b.errors, b.refWords) - rate(a.errors, a.refWords) ||
        (a.uttId < b.uttId ? -1 : a.uttId > b.uttId ? 1 : 0),
    )
    .slice(0, n)
    .map((u) => {
      const l = formatAlignmentLines(u.pairs, r.mode === 'kaldi');
      return {
        uttId: u.uttId,
        speaker: u.speaker,
        errors: u.errors,
        refWords: u.refWords,
        wer: u.refWords > 0 ? (100 * u.errors) / u.refWords : null,
        sub: u.sub,
        del: u.del,
        ins: u.ins,
        ref: l.ref.trimEnd(),
        hyp: l.hyp.trimEnd(),
        eval: l.eval.trimEnd(),
      };
    });
}

type DecodeSummary = ReturnType<typeof readDecodeSummary>;
type DecodedSystem = DecodeSummary['systems'][number];
/** WER results by `${system}\0${split}`. */
type RawScores = Map<string, WerResult>;

/** Score a decode output directory; see the module comment. */
export async function scoreDecodeDir(opts: ScoreDecodeOptions): Promise<ScoreSummary> {
  const logger = opts.logger ?? defaultLog;
  const mode = opts.mode ?? 'sclite';
  const replicates = opts.bootstrapReplicates ?? 1000;
  const confidence = opts.confidence ?? 0.95;
  const seed = opts.seed ?? 0;
  const worstN = opts.worstUtterances ?? 10;
  if (mode !== 'sclite' && mode !== 'kaldi')
    throw new ConfigError('bad scoring mode', {
      keyPath: 'mode',
      expected: "'sclite' or 'kaldi'",
      found: String(mode),
    });
  const dec = readDecodeSummary(opts.decodeDir);
  const vocabulary = recogniserVocabulary(opts.decodeDir);
  const systems = dec.systems.map((s) => s.name);
  const results: SystemSplitScore[] = [];
  const raw: RawScores = new Map();
  for (const split of dec.splits) {
    const refFile = join(opts.decodeDir, 'refs', `${split}.trn`);
    if (!existsSync(refFile)) {
      logger.warn(`score: no references for '${split}' (${refFile}); not scored`);
      continue;
    }
    const refs = readTrn(refFile);
    for (const sys of dec.systems) {
      const r = await scoreSystemSplit(sys, split, refs, refFile, { opts, mode, vocabulary, worstN, logger, results });
      raw.set(`${sys.name}\0${split}`, r);
    }
  }
  alignWorstUtterances(results, raw, dec.splits, systems, worstN);
  const comparisons = compareSystems(raw, dec.splits, systems, opts.comparisons ?? DEFAULT_COMPARISONS, {
    replicates,
    confidence,
    seed,
    logger,
  });
  const summary: ScoreSummary = {
    format: SCORE_FORMAT,
    formatVersion: SCORE_FORMAT_VERSION,
    mode,
    tuneSplit: dec.tuneSplit,
    splits: dec.splits,
    systems,
    results,
    comparisons,
    bootstrap: { replicates, confidence, seed },
  };
  await writeJsonAtomic(join(opts.outDir, SCORE_JSON), summary);
  return summary;
}

/** The recogniser's vocabulary (words.txt of the decode dir), for counting reference OOVs; undefined without one. */
function recogniserVocabulary(decodeDir: string): Set<string> | undefined {
  const vocabFile = join(decodeDir, 'words.txt');
  return existsSync(vocabFile)
    ? new Set(
        readFileSync(vocabFile, 'utf8')
          .split('\n')
          .filter((w) => w),
      )
    : undefined;
}

/**
 * Score one system's hypotheses of one split: sclite's .dtl, .sys, .pralign and Kaldi's .wer
 * under <system>/, its score.json entry appended to `ctx.results`, and its %WER line logged.
 */
async function scoreSystemSplit(
  sys: DecodedSystem,
  split: string,
  refs: ReturnType<typeof readTrn>,
  refFile: string,
  ctx: {
    opts: ScoreDecodeOptions;
    mode: ScoringMode;
    vocabulary: Set<string> | undefined;
    worstN: number;
    logger: Logger;
    results: SystemSplitScore[];
  },
): Promise<WerResult> {
  const { opts, mode, vocabulary, worstN, logger } = ctx;
  const ss = sys.splits[split];
  if (!ss)
    throw new FormatError(`decode.json lists split '${split}' but system '${sys.name}' has no result for it`, {
      file: join(opts.decodeDir, 'decode.json'),
      expected: `systems[${sys.name}].splits.${split}`,
      found: 'none',
    });
  const hypFile = join(opts.decodeDir, sys.name, `${split}.trn`);
  const r = scoreTranscripts(refs, readTrn(hypFile), { mode, vocabulary, refFile, hypFile, missingHyp: 'error' });
  const files = {
    sys: join(sys.name, `${split}.sys`),
    pralign: join(sys.name, `${split}.pralign`),
    wer: join(sys.name, `${split}.wer`),
    dtl: join(sys.name, `${split}.dtl`),
  };
  const title = `${sys.name} ${split}`;
  const lists = errorLists(r.utterances, mode === 'kaldi');
  await writeFileAtomic(join(opts.outDir, files.dtl), formatErrorLists(lists));
  await writeFileAtomic(join(opts.outDir, files.sys), formatSummaryTable(r, title));
  await writeFileAtomic(join(opts.outDir, files.pralign), formatPralign(r, title));
  await writeFileAtomic(join(opts.outDir, files.wer), formatWerLine(r));
  ctx.results.push({
    system: sys.name,
    split,
    wer: r.wer,
    errors: r.errors,
    refWords: r.refWords,
    corr: r.corr,
    sub: r.sub,
    del: r.del,
    ins: r.ins,
    sentences: r.sentences,
    sentenceErrors: r.sentenceErrors,
    ser: r.sentences ? (100 * r.sentenceErrors) / r.sentences : 0,
    emptyHyps: r.emptyHyps,
    noPath: ss.noPath,
    noFeatures: ss.noFeatures,
    refOovs: r.refOovs,
    refOovWords: r.refOovWords,
    lmWeight: sys.lmWeight,
    wordInsertionPenalty: sys.wordInsertionPenalty,
    tunedOnThisSplit: sys.tuning?.split === split,
    speakers: speakerRows(r),
    worst: worstUtterances(r, worstN),
    files,
    errorLists: lists,
    ...(() => {
      const x = scoredSplit(r);
      return { counts: x.counts, speakerCounts: x.speakers, utterances: x.utterances };
    })(),
    alignments: [],
  });
  logger.info(
    `score ${title}: %WER ${r.wer.toFixed(2)} [ ${r.errors} / ${r.refWords}, ${r.ins} ins, ${r.del} del, ${r.sub} sub ]${r.refOovs ? `, ${r.refOovs} reference OOV tokens` : ''}${sys.tuning?.split === split ? ' (weights tuned on this split)' : ''}`,
  );
  return r;
}

/** Alignments of the same utterances (the student's worst, else the first system's) for every system, per split. */
function alignWorstUtterances(
  results: SystemSplitScore[],
  raw: RawScores,
  splits: readonly string[],
  systems: readonly string[],
  worstN: number,
): void {
  const refSystem = systems.includes('student') ? 'student' : systems[0];
  for (const split of splits) {
    const ref = raw.get(`${refSystem}\0${split}`);
    if (!ref) continue;
    const ids = worstUttIds(ref, worstN);
    for (const r of results.filter((x) => x.split === split))
      r.alignments = alignmentsOf(raw.get(`${r.system}\0${split}`)!, split as 'dev' | 'test', ids);
  }
}

/** Paired-bootstrap WER differences A - B on every split where both were scored, each logged. */
function compareSystems(
  raw: RawScores,
  splits: readonly string[],
  systems: readonly string[],
  pairs: readonly (readonly [string, string])[],
  o: { replicates: number; confidence: number; seed: number; logger: Logger },
): SystemComparison[] {
  const { replicates, confidence, seed, logger } = o;
  const comparisons: SystemComparison[] = [];
  for (const [a, b] of pairs) {
    if (!systems.includes(a) || !systems.includes(b)) continue;
    for (const split of splits) {
      const ra = raw.get(`${a}\0${split}`),
        rb = raw.get(`${b}\0${split}`);
      if (!ra || !rb) continue;
      const bs = pairedBootstrapWer(ra, rb, { replicates, confidence, seed });
      const significant = bs.ciLow > 0 || bs.ciHigh < 0;
      comparisons.push({ a, b, split, ...bs, significant });
      logger.info(
        `score ${split}: ${a} - ${b} = ${bs.deltaWer.toFixed(2)}% WER, ${(100 * confidence).toFixed(0)}% CI [${bs.ciLow.toFixed(2)}, ${bs.ciHigh.toFixed(2)}]${significant ? ' (significant)' : ''}, P(${a} better) ${bs.probABetter.toFixed(3)}`,
      );
    }
  }
  return comparisons;
}

export interface ScoreStageOptions {
  /** 'sclite' (default) or 'kaldi'. */
  mode: ScoringMode;
  /** Bootstrap replicates. Default 1000. */
  bootstrapReplicates: number;
  /** Confidence level. Default 0.95. */
  confidence: number;
  /** Worst utterances listed per system and split. Default 10. */
  worstUtterances: number;
  /** System pairs [A, B] compared (A - B). Default [[student, baseline], [ensemble, baseline], [student, ensemble]]. */
  comparisons: string[][];
}

export const SCORE_SCHEMA: Schema = {
  mode: {
    type: 'string',
    enum: ['sclite', 'kaldi'],
    default: 'sclite',
    doc: 'WER convention: NIST sclite or Kaldi compute-wer',
  },
  bootstrapReplicates: { type: 'number', integer: true, min: 1, default: 1000, doc: 'paired bootstrap replicates' },
  confidence: {
    type: 'number',
    min: 0.5,
    max: 0.9999,
    default: 0.95,
    doc: 'confidence level of the bootstrap intervals',
  },
  worstUtterances: {
    type: 'number',
    integer: true,
    min: 0,
    default: 10,
    doc: 'worst utterances listed per system and split',
  },
  comparisons: {
    type: 'array',
    default: DEFAULT_COMPARISONS.map((p) => [...p]),
    items: {
      type: 'custom',
      expected: 'a pair [A, B] of system names',
      doc: 'compared systems',
      validate: (v, keyPath) => checkPair(v, keyPath),
      jsonSchema: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 },
    },
    doc: 'system pairs [A, B] compared by paired bootstrap (A - B); pairs with a system that was not decoded are left out',
  },
} satisfies SchemaFor<ScoreStageOptions>;

function checkPair(v: unknown, keyPath: string): string[] {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'string') || v[0] === v[1]) {
    throw new ConfigError('bad comparison', {
      keyPath,
      expected: 'a pair [A, B] of two different system names',
      found: JSON.stringify(v),
    });
  }
  return v as string[];
}

export const scoreStage: StageDefinition<ScoreStageOptions> = {
  name: 'score',
  doc: 'WER per system and split (sclite), per speaker, worst utterances, paired-bootstrap significance [score.json]',
  inputs: ['decode'],
  schema: SCORE_SCHEMA,

  async run(ctx) {
    const o = ctx.options;
    const s = await locateConfigError(ctx.recipe, 'stages.score', () =>
      scoreDecodeDir({
        decodeDir: ctx.inputDir('decode'),
        outDir: ctx.outDir,
        mode: o.mode,
        bootstrapReplicates: o.bootstrapReplicates,
        confidence: o.confidence,
        seed: ctx.recipe.seed,
        worstUtterances: o.worstUtterances,
        comparisons: o.comparisons.map((p) => [p[0], p[1]] as const),
        logger: ctx.log,
      }),
    );
    const counts: Record<string, number> = {};
    for (const r of s.results) counts[`${r.system}.${r.split}.wer`] = Math.round(100 * r.wer) / 100;
    return {
      counts,
      details: {
        wer: s.results.map((r) => ({
          system: r.system,
          split: r.split,
          wer: r.wer,
          errors: r.errors,
          refWords: r.refWords,
          sub: r.sub,
          del: r.del,
          ins: r.ins,
          noPath: r.noPath,
          emptyHyps: r.emptyHyps,
        })),
        comparisons: s.comparisons,
      },
    };
  },
};
