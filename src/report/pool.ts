/**
 * Pooling several experiments into one Table 1: cross-validation folds (each with other test
 * speakers) and seed replicates of them. With one test speaker per run, the gain kept and the
 * student-vs-baseline WER difference are mostly test-set noise; pooled over the folds they rest on
 * every speaker.
 *
 * Per experiment it reads
 *   <exp>/eval/<split>.utts.jsonl   each utterance's frames and correct frames per model (eval stage)
 *   <exp>/eval/eval.json            the totals, which the per-utterance file must add up to
 *   <exp>/score/score.json          per-utterance word errors per decoded system (optional: no WER without it)
 *   <exp>/prepare/<split>/supervisions.jsonl   each utterance's speaker (optional: else the id's prefix)
 *   <exp>/recipe.json               the nets' seed (netSeed, else seed; optional)
 * Experiments with the same test speakers are one fold; its experiments are seed replicates, paired
 * across folds by seed. Pooled: every fold's utterances once, each system's counts averaged over
 * the seeds. The differences (src/report/differences.ts) and the gain kept get speaker-bootstrap
 * intervals over all the pool's speakers, not stratified by fold (docs/decisions.md, "Evaluation
 * statistics"). They cover test-speaker sampling; the seed spread is reported beside them.
 *
 * Output (`writePool`): pool.json (format am-distill.pool, version 2) and pool.md.
 */
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ConfigError, FormatError } from '../util/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { gainShare } from '../score/significance.ts';
import { diagnosticsMarkdown, type SplitDiagnostics } from './eval-markdown.ts';
import { EVAL_JSON, evalUtterancesFile, readEvalFile, type EvalUtteranceLine } from '../formats/eval.ts';
import { fidelityOf } from '../score/fidelity.ts';
import { readScoreSummary, SCORE_JSON } from '../formats/score.ts';
import { PAPER_REPORT, frequentErrorRows, table1SystemIds } from './build.ts';
import { metricDifferences, seedSpread, type DifferencesReport } from './differences.ts';
import { speakerOf } from '../score/trn.ts';
import { differencesNotes, differencesTable, frequentErrorLabel } from './sections.ts';
import { markdownTable } from './markdown.ts';
import { escapeMarkdown, plural, pct } from './format.ts';
import { sumErrorLists, type ErrorLists } from '../score/errors.ts';
import { CORE_SYSTEMS, MEMBER_ID, type FrequentErrorRow } from './types.ts';
import { readEvalUtterances, readOptionalJson, readSplitSpeakers } from './experiment.ts';
import { Checker } from '../util/json-check.ts';
import { checkErrorLists } from './validate.ts';

export const POOL_FORMAT = 'am-distill.pool';

/** The three systems of Table 1; every pooled experiment must have them. */
const TABLE_1 = ['baseline', 'ensemble', 'student'] as const;

export interface PoolOptions {
  /** Split to pool. Default 'test'. */
  split: string;
  /** A label per experiment (default: the directory's name). */
  labels?: string[];
  replicates: number;
  confidence: number;
  seed: number;
  /** A study's choices per fold, recorded in pool.json and shown in pool.md. */
  choices?: PoolFoldChoice[];
}

/**
 * What a study chose inside one outer fold on its inner dev speaker (src/pipeline/study.ts): every
 * candidate's score, the choice, and the LM weights frozen for the fold's final runs.
 */
export interface PoolFoldChoice {
  fold: string;
  innerDev: string | null;
  /** The selection's metric and system: frame accuracy (fraction) or WER (percent) of `system`. */
  metric: 'frameAccuracy' | 'wer';
  system: string;
  candidates: { settings: Record<string, unknown>; score: number }[];
  chosen: number;
  /** LM weight and insertion penalty per system, tuned on the inner dev speaker; null without LM tuning. */
  lmWeights: Record<string, { lmWeight: number; wordInsertionPenalty: number }> | null;
}

export const DEFAULT_POOL_OPTIONS: Readonly<PoolOptions> = Object.freeze({
  split: 'test',
  replicates: 1000,
  confidence: 0.95,
  seed: 0,
});

/** One experiment's per-utterance counts on the pooled split. */
export interface PoolExperiment {
  label: string;
  expDir: string;
  /** Frame counts per utterance (eval stage). */
  frames: EvalUtteranceLine[];
  /** Word errors per utterance per decoded system (score stage); null without score.json. */
  words: Record<string, { uttId: string; refWords: number; errors: number }[]> | null;
  /** eval.json's fidelity, gain sources and member votes of the split (whichever it has). */
  diagnostics: SplitDiagnostics;
  /** sclite's error lists per decoded system (score stage); null without them (score.json made before the lists). */
  errorLists: Record<string, ErrorLists> | null;
  /**
   * Speaker of each utterance (prepare's supervisions of the split); utterances missing here take
   * the id's prefix before the first '_' (sclite's convention). Absent: all of them do.
   */
  speakers?: Record<string, string>;
  /** The nets' seed (recipe.json `netSeed`, else `seed`); null when not recorded. */
  seed?: number | null;
}

export interface Interval {
  low: number | null;
  high: number | null;
}

export interface PoolRow {
  label: string;
  /** Per experiment: its fold (its test speakers, joined by '+') and its nets' seed (null: not recorded). */
  fold?: string;
  seed?: number | null;
  utterances: number;
  frames: number;
  /** Frame accuracy (0..1) per model. */
  frameAccuracy: Record<string, number>;
  /** (student - baseline) / (ensemble - baseline); null when the ensemble gains nothing. */
  gainKept: number | null;
  refWords: number | null;
  /** WER (0..1) per decoded system; empty without score.json. */
  wer: Record<string, number>;
}

/** Mean and spread of one system's pooled rate over the seed replicates. */
export interface SeedStats {
  mean: number;
  sd: number;
  min: number;
  max: number;
}

/** The design pool found: folds (experiments with the same test speakers) and their seed replicates. */
export interface PoolDesign {
  folds: { fold: string; speakers: string[]; seeds: (number | null)[]; experiments: string[] }[];
  /** The seed replicates, paired across folds (one entry when every fold has one run). */
  seeds: (number | null)[];
  /** Distinct test speakers of the pool (the units the intervals resample). */
  speakers: number;
  /** Speakers that are in the split of more than one fold (each is one cluster across those folds). */
  sharedSpeakers: string[];
}

export interface PoolFile {
  format: typeof POOL_FORMAT;
  version: 2;
  split: string;
  design: PoolDesign;
  experiments: PoolRow[];
  /** All folds' utterances once, each system's counts averaged over the seeds (= the mean over seeds of the pooled rates). */
  pooled: PoolRow & {
    /** Speaker-bootstrap interval of the pooled frame-accuracy gain kept (= differences.frameAccuracy.gainKept.ci). */
    gainKeptCi: Interval & { undefinedReplicates: number };
    /** Unweighted mean of the experiments' gain kept (null if one is undefined). */
    meanGainKept: number | null;
    /** Mean of the members' pooled accuracies (null without members). */
    memberMean: number | null;
    /** (WER baseline - WER student) / (WER baseline - WER ensemble); null without WER or without an ensemble gain. */
    werGainKept: number | null;
  };
  /**
   * The headline: per metric, A - B for ensemble/student/control against baseline, student against
   * ensemble and control, averaged over paired seeds, with speaker-bootstrap intervals; then the
   * gain kept, and whether it is meaningful against the members' seed spread.
   */
  differences: DifferencesReport;
  /** Per seed replicate, every system's rates pooled over the folds, and their mean and spread; null with one replicate. */
  seedReplicates: {
    perSeed: { seed: number | null; frameAccuracy: Record<string, number>; wer: Record<string, number> }[];
    frameAccuracy: Record<string, SeedStats>;
    wer: Record<string, SeedStats>;
  } | null;
  /**
   * Fidelity, gain sources and member votes summed over the experiments: each present only when
   * every experiment's eval.json has it (member votes: with the same ensemble size), for the nets
   * every experiment has.
   */
  diagnostics: SplitDiagnostics;
  /**
   * The baseline's, ensemble's and student's most frequent errors, their error lists summed over
   * the experiments (as the report's table); null unless every experiment has the lists.
   */
  frequentErrors: { systems: string[]; rows: FrequentErrorRow[] } | null;
  /** The paper's goal: gain kept >= 0.8 and the student's WER not above the baseline's. */
  goal: { gainKeptAtLeast80: boolean | null; studentWerNotWorse: boolean | null };
  bootstrap: { replicates: number; confidence: number; seed: number; method: 'speaker-bootstrap'; stratified: null };
  /** What a study chose inside each fold (absent when the pool was not made by a study with selection). */
  choices?: PoolFoldChoice[];
}

/** Read what pooling needs of one experiment directory, checking it against eval.json. */
export function readPoolExperiment(expDir: string, split: string, label = basename(resolve(expDir))): PoolExperiment {
  const evalDir = join(expDir, 'eval');
  const uttsFile = join(evalDir, evalUtterancesFile(split));
  if (!existsSync(uttsFile)) {
    throw new FormatError(`no per-utterance frame counts for split '${split}'`, {
      file: uttsFile,
      expected: `the eval stage's ${evalUtterancesFile(split)} (eval stages before this file existed: re-run the eval stage, e.g. am-distill eval --models ${join(expDir, 'train')} --students ${join(expDir, 'distill')} --features ${join(expDir, 'features')} --align ${join(expDir, 'align')} --out ${evalDir})`,
      found: 'no such file',
    });
  }
  const frames = readEvalUtterances(uttsFile);
  if (frames.length === 0)
    throw new FormatError('no utterances', {
      file: uttsFile,
      expected: 'at least one scored utterance',
      found: 'an empty file',
    });
  const evalFile = join(evalDir, EVAL_JSON);
  const ev = existsSync(evalFile) ? readEvalFile(evalDir) : null;
  let diagnostics: SplitDiagnostics = {};
  if (ev) {
    const s = ev.splits?.[split];
    if (s) {
      const total = frames.reduce((a, u) => a + u.frames, 0);
      const stale =
        total !== s.frames ||
        Object.entries(s.models).some(([m, v]) => frames.reduce((a, u) => a + (u.correct[m] ?? NaN), 0) !== v.correct);
      if (stale)
        throw new FormatError(`per-utterance counts do not add up to eval.json's split '${split}'`, {
          file: uttsFile,
          expected: `the totals of ${evalFile} (${s.frames} frames)`,
          found: `${total} frames; the eval stage was re-run without this file, or the other way round`,
        });
      diagnostics = {
        ...(s.fidelity ? { fidelity: s.fidelity } : {}),
        ...(s.gainSources ? { gainSources: s.gainSources } : {}),
        ...(s.memberVotes ? { memberVotes: s.memberVotes } : {}),
      };
      checkDiagnostics(diagnostics, evalFile, split);
    }
  }
  for (const m of TABLE_1) {
    if (frames[0].correct[m] === undefined)
      throw new FormatError(`no '${m}' in the per-utterance counts`, {
        file: uttsFile,
        line: 1,
        expected: `counts of ${TABLE_1.join(', ')}`,
        found: Object.keys(frames[0].correct).join(', '),
      });
  }
  let words: PoolExperiment['words'] = null;
  let errorLists: PoolExperiment['errorLists'] = null;
  const scoreFile = join(expDir, 'score', SCORE_JSON);
  if (existsSync(scoreFile)) {
    const sc = readScoreSummary(scoreFile);
    const rows = sc.results.filter((r) => r.split === split);
    if (rows.length) {
      words = {};
      for (const r of rows)
        words[r.system] = r.utterances.map((u) => ({
          uttId: u.uttId,
          refWords: u.refWords,
          errors: u.sub + u.del + u.ins,
        }));
      if (rows.every((r) => r.errorLists)) {
        const c = new Checker(scoreFile, 'bad error lists in the score summary');
        sc.results.forEach((r, i) => {
          if (r.split === split) checkErrorLists(c, r.errorLists, `results[${i}].errorLists`);
        });
        errorLists = Object.fromEntries(rows.map((r) => [r.system, r.errorLists]));
      }
    }
  }
  const recipe = readOptionalJson<{ seed?: unknown; netSeed?: unknown }>(
    join(expDir, 'recipe.json'),
    null,
    'recipe record',
  );
  const seedOf = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? v : null);
  const seed = seedOf(recipe?.netSeed) ?? seedOf(recipe?.seed);
  return {
    label,
    expDir,
    frames,
    words,
    diagnostics,
    errorLists,
    speakers: readSplitSpeakers(join(expDir, 'prepare'), split),
    seed,
  };
}

/** The shapes pooling relies on: counts are integers >= 0, shares in [0, 1], one vote bin per member count. */
function checkDiagnostics(d: SplitDiagnostics, file: string, split: string): void {
  const c = new Checker(file, 'bad diagnostics in the eval summary');
  const p = `splits.${split}`;
  for (const [n, f] of Object.entries(d.fidelity ?? {})) {
    c.int(f.frames, `${p}.fidelity.${n}.frames`);
    c.fraction(f.agreement, `${p}.fidelity.${n}.agreement`);
    c.num(f.klNats, `${p}.fidelity.${n}.klNats`, 0);
  }
  const g = d.gainSources;
  if (g) {
    c.int(g.ensembleWins, `${p}.gainSources.ensembleWins`);
    c.int(g.ensembleLosses, `${p}.gainSources.ensembleLosses`);
    for (const [n, x] of Object.entries(g.nets ?? {})) {
      for (const k of ['capturedWins', 'copiedLosses', 'ownWins', 'ownLosses'] as const)
        c.int(x[k], `${p}.gainSources.nets.${n}.${k}`);
    }
  }
  const v = d.memberVotes;
  if (v) {
    c.int(v.members, `${p}.memberVotes.members`, 1);
    const bins = (xs: unknown, key: string) => {
      const a = c.arr(xs, key);
      if (a.length !== v.members + 1) c.fail(key, `${v.members + 1} frame counts (0..members right)`, xs);
      a.forEach((x, i) => c.int(x, `${key}[${i}]`));
    };
    bins(v.frames, `${p}.memberVotes.frames`);
    for (const [n, x] of Object.entries(v.correct ?? {})) bins(x, `${p}.memberVotes.correct.${n}`);
  }
}

/** The nets that every record has, in the first one's order. */
const commonKeys = (rs: readonly Record<string, unknown>[]) =>
  Object.keys(rs[0]).filter((k) => rs.every((r) => r[k] !== undefined));
const addUp = (xs: readonly (readonly number[])[]) => xs[0].map((_, i) => sum(xs.map((x) => x[i])));

/** Sum the experiments' diagnostics (counts add; fidelity from its frames, agreeing frames and KL sum). */
export function poolDiagnostics(ds: readonly SplitDiagnostics[]): SplitDiagnostics {
  const out: SplitDiagnostics = {};
  if (ds.length === 0) return out;
  if (ds.every((d) => d.fidelity)) {
    const fs = ds.map((d) => d.fidelity!);
    out.fidelity = Object.fromEntries(
      commonKeys(fs).map((n) => [
        n,
        fidelityOf({
          frames: sum(fs.map((f) => f[n].frames)),
          agree: sum(fs.map((f) => Math.round(f[n].agreement * f[n].frames))),
          klSum: sum(fs.map((f) => f[n].klNats * f[n].frames)),
        }),
      ]),
    );
  }
  if (ds.every((d) => d.gainSources)) {
    const gs = ds.map((d) => d.gainSources!);
    const nets = commonKeys(gs.map((g) => g.nets));
    out.gainSources = {
      ensembleWins: sum(gs.map((g) => g.ensembleWins)),
      ensembleLosses: sum(gs.map((g) => g.ensembleLosses)),
      nets: Object.fromEntries(
        nets.map((n) => [
          n,
          {
            capturedWins: sum(gs.map((g) => g.nets[n].capturedWins)),
            copiedLosses: sum(gs.map((g) => g.nets[n].copiedLosses)),
            ownWins: sum(gs.map((g) => g.nets[n].ownWins)),
            ownLosses: sum(gs.map((g) => g.nets[n].ownLosses)),
          },
        ]),
      ),
    };
  }
  const vs = ds.map((d) => d.memberVotes);
  if (vs.every((v) => v && v.members === vs[0]!.members)) {
    const v0 = vs as NonNullable<(typeof vs)[number]>[];
    out.memberVotes = {
      members: v0[0].members,
      frames: addUp(v0.map((v) => v.frames)),
      correct: Object.fromEntries(
        commonKeys(v0.map((v) => v.correct)).map((n) => [n, addUp(v0.map((v) => v.correct[n]))]),
      ),
    };
  }
  return out;
}

const sum = (xs: readonly number[]) => xs.reduce((a, x) => a + x, 0);

function rowOf(
  label: string,
  frames: EvalUtteranceLine[],
  words: PoolExperiment['words'],
  models: readonly string[],
  systems: readonly string[],
): PoolRow {
  const F = sum(frames.map((u) => u.frames));
  const frameAccuracy = Object.fromEntries(models.map((m) => [m, sum(frames.map((u) => u.correct[m])) / F]));
  const wer: Record<string, number> = {};
  let refWords: number | null = null;
  if (words) {
    for (const s of systems) {
      const w = words[s];
      refWords = sum(w.map((u) => u.refWords));
      wer[s] = refWords > 0 ? sum(w.map((u) => u.errors)) / refWords : 0;
    }
  }
  return {
    label,
    utterances: frames.length,
    frames: F,
    frameAccuracy,
    gainKept: gainShare(frameAccuracy.baseline, frameAccuracy.ensemble, frameAccuracy.student),
    refWords,
    wer,
  };
}

const speakerIn = (e: PoolExperiment, uttId: string) => e.speakers?.[uttId] ?? speakerOf(uttId);

/**
 * Folds (experiments with the same test speakers, in order of first appearance) and their seed
 * replicates, each fold's experiments in the order of `design.seeds` so that replicate r of every
 * fold has the same seed. With one experiment per fold there is one replicate, whatever the seeds.
 * A seed given twice in a fold (the same run pooled twice) is a replicate twice: it weighs twice in
 * the means over seeds, and the intervals, which resample each utterance once, are unchanged.
 */
function poolDesign(exps: readonly PoolExperiment[]): { design: PoolDesign; folds: PoolExperiment[][] } {
  const byFold = new Map<string, PoolExperiment[]>();
  for (const e of exps) {
    const key = [...new Set(e.frames.map((u) => speakerIn(e, u.uttId)))].sort().join('+');
    let f = byFold.get(key);
    if (!f) byFold.set(key, (f = []));
    f.push(e);
  }
  const seedKey = (x: number | null | undefined) => (x === null || x === undefined ? 'none' : String(x));
  const folds = [...byFold.values()];
  let seeds: (number | null)[];
  if (folds.every((f) => f.length === 1)) {
    const all = new Set(folds.map((f) => seedKey(f[0].seed)));
    seeds = [all.size === 1 ? (folds[0][0].seed ?? null) : null];
  } else {
    const order = (f: PoolExperiment[]) => f.map((e) => e.seed ?? null).sort((a, b) => (a ?? -1) - (b ?? -1));
    seeds = order(folds[0]);
    const bad = folds.find((f) => order(f).map(seedKey).join() !== seeds.map(seedKey).join());
    if (bad) {
      throw new ConfigError('the folds have different seed replicates', {
        expected: `the same seeds in every fold, to pair them (${[...byFold.keys()][0]}: ${seeds.map(seedKey).join(', ')})`,
        found: [...byFold].map(([k, f]) => `${k}: ${order(f).map(seedKey).join(', ')}`).join('; '),
      });
    }
    for (const f of folds) f.sort((a, b) => seeds.indexOf(a.seed ?? null) - seeds.indexOf(b.seed ?? null));
  }
  const foldsOf = new Map<string, number>();
  for (const f of folds)
    for (const sp of new Set(f[0].frames.map((u) => speakerIn(f[0], u.uttId))))
      foldsOf.set(sp, (foldsOf.get(sp) ?? 0) + 1);
  return {
    folds,
    design: {
      folds: [...byFold].map(([fold, f]) => ({
        fold,
        speakers: fold.split('+'),
        seeds: f.map((e) => e.seed ?? null),
        experiments: f.map((e) => e.label),
      })),
      seeds,
      speakers: foldsOf.size,
      sharedSpeakers: [...foldsOf]
        .filter(([, n]) => n > 1)
        .map(([sp]) => sp)
        .sort(),
    },
  };
}

/** Runs' lines (seed replicates of a fold, or the systems of one experiment) in the first run's utterance order; they must be the same utterances with the same sizes. */
function alignReplicates<T extends { uttId: string }>(
  runs: readonly { label: string; file: string; lines: readonly T[] }[],
  size: (u: T) => number,
  message: string,
): T[][] {
  const base = runs[0].lines;
  return runs.map((r) => {
    const byId = new Map(r.lines.map((u) => [u.uttId, u] as const));
    if (byId.size !== base.length || r.lines.length !== base.length)
      throw new FormatError(message, {
        file: r.file,
        expected: `the ${base.length} utterances of ${runs[0].label}`,
        found: `${r.lines.length} for ${r.label}`,
      });
    return base.map((b) => {
      const u = byId.get(b.uttId);
      if (!u || size(u) !== size(b))
        throw new FormatError(message, {
          file: r.file,
          uttId: b.uttId,
          expected: `${size(b)} as for ${runs[0].label}`,
          found: u ? `${size(u)} for ${r.label}` : `no such utterance for ${r.label}`,
        });
      return u;
    });
  });
}

/** Per utterance the mean over the replicates of each key's count. */
function meanOver<T>(
  reps: readonly (readonly T[])[],
  keys: readonly string[],
  count: (u: T, k: string) => number,
): Record<string, number>[] {
  return reps[0].map((_, i) =>
    Object.fromEntries(keys.map((k) => [k, sum(reps.map((r) => count(r[i], k))) / reps.length])),
  );
}

const seedStats = (xs: readonly number[]): SeedStats => {
  const s = seedSpread(xs)!;
  return { mean: sum(xs) / xs.length, sd: s.sd, min: s.min, max: s.max };
};

/** Per experiment: each pooled system's word errors per utterance, in the first system's order (null without WER). */
type AlignedWords = Map<PoolExperiment, PoolExperiment['words']>;

/** One fold's utterances once, with counts averaged over its seed replicates. */
interface FoldUnit {
  frames: { uttId: string; speaker: string; frames: number; correct: Record<string, number> }[];
  words: { uttId: string; speaker: string; refWords: number; errors: Record<string, number> }[] | null;
}

/** Models every experiment scored (Table 1's three first), in the first experiment's order. */
function pooledModels(exps: readonly PoolExperiment[]): string[] {
  const models = Object.keys(exps[0].frames[0].correct).filter((m) =>
    exps.every((e) => e.frames.every((u) => u.correct[m] !== undefined)),
  );
  for (const m of TABLE_1) {
    if (models.includes(m)) continue;
    const e = exps.find((x) => x.frames.some((u) => u.correct[m] === undefined))!;
    throw new FormatError(`'${m}' is missing from some utterances`, {
      file: join(e.expDir, 'eval'),
      expected: `counts of ${TABLE_1.join(', ')} for every utterance`,
      found: 'gaps',
    });
  }
  return models;
}

/** Systems decoded in every experiment (all or none of the experiments must have WER), their utterances aligned. */
function pooledSystems(exps: readonly PoolExperiment[], split: string): { systems: string[]; alignedOf: AlignedWords } {
  const withWords = exps.filter((e) => e.words);
  if (withWords.length !== 0 && withWords.length !== exps.length) {
    const missing = exps.find((e) => !e.words)!;
    throw new FormatError(`no word errors for split '${split}'`, {
      file: join(missing.expDir, 'score', SCORE_JSON),
      expected: 'a score stage on this split, like the other experiments',
      found: 'none',
    });
  }
  const systems = withWords.length ? Object.keys(exps[0].words!).filter((s) => exps.every((e) => e.words![s])) : [];
  // Every system's utterances in the first system's order, so that the systems pair by index.
  const alignedOf = new Map(
    exps.map((e) => {
      if (!e.words) return [e, null] as const;
      const file = join(e.expDir, 'score', SCORE_JSON);
      const lines = alignReplicates(
        systems.map((s) => ({ label: `'${s}'`, file, lines: e.words![s] })),
        (u) => u.refWords,
        'systems were scored against different references',
      );
      return [e, Object.fromEntries(systems.map((s, k) => [s, lines[k]]))] as const;
    }),
  );
  return { systems, alignedOf };
}

/** Each fold's utterances once, counts averaged over its seed replicates. */
function foldUnits(
  folds: PoolExperiment[][],
  models: readonly string[],
  systems: readonly string[],
  alignedOf: AlignedWords,
): FoldUnit[] {
  return folds.map((f) => {
    const fr = alignReplicates(
      f.map((e) => ({ label: e.label, file: join(e.expDir, 'eval'), lines: e.frames })),
      (u) => u.frames,
      'the seed replicates of a fold have different utterances or frames',
    );
    const correct = meanOver(fr, models, (x, m) => x.correct[m]);
    const frames = fr[0].map((u, i) => ({
      uttId: u.uttId,
      speaker: speakerIn(f[0], u.uttId),
      frames: u.frames,
      correct: correct[i],
    }));
    if (!systems.length) return { frames, words: null };
    const wr = alignReplicates(
      f.map((e) => ({
        label: e.label,
        file: join(e.expDir, 'score', SCORE_JSON),
        lines: alignedOf.get(e)![systems[0]],
      })),
      (u) => u.refWords,
      'the seed replicates of a fold were scored on different utterances',
    );
    const errorsById = f.map((e) =>
      Object.fromEntries(
        systems.map((s) => [s, new Map(alignedOf.get(e)![s].map((u) => [u.uttId, u.errors] as const))]),
      ),
    );
    const errors = meanOver(
      wr.map((rep, r) => rep.map((u) => ({ r, uttId: u.uttId }))),
      systems,
      (x, s) => errorsById[x.r][s].get(x.uttId)!,
    );
    return {
      frames,
      words: wr[0].map((u, i) => ({
        uttId: u.uttId,
        speaker: speakerIn(f[0], u.uttId),
        refWords: u.refWords,
        errors: errors[i],
      })),
    };
  });
}

/** Per seed replicate: the rates pooled over the folds. */
function seedReplicateRates(
  design: PoolDesign,
  folds: PoolExperiment[][],
  models: readonly string[],
  systems: readonly string[],
  alignedOf: AlignedWords,
): { seed: number | null; frameAccuracy: Record<string, number>; wer: Record<string, number> }[] {
  return design.seeds.map((seed, r) => {
    const row = rowOf(
      `seed ${seed ?? 'n/a'}`,
      folds.flatMap((f) => f[r].frames),
      systems.length
        ? Object.fromEntries(systems.map((s) => [s, folds.flatMap((f) => alignedOf.get(f[r])![s])]))
        : null,
      models,
      systems,
    );
    return { seed, frameAccuracy: row.frameAccuracy, wer: row.wer };
  });
}

/**
 * Pool experiments (at least one) into one Table 1: folds (experiments with the same test
 * speakers) and seed replicates (same fold, another net seed); differences averaged over paired
 * seeds with speaker-bootstrap intervals.
 */
export function poolExperiments(exps: readonly PoolExperiment[], opts: Partial<PoolOptions> = {}): PoolFile {
  const o = { ...DEFAULT_POOL_OPTIONS, ...opts };
  if (exps.length === 0)
    throw new ConfigError('nothing to pool', { expected: 'at least one experiment directory', found: 'none' });
  const labels = new Set(exps.map((e) => e.label));
  if (labels.size !== exps.length)
    throw new ConfigError('experiment labels repeat', {
      expected: 'one label per experiment',
      found: exps.map((e) => e.label).join(', '),
    });
  const models = pooledModels(exps);
  const { systems, alignedOf } = pooledSystems(exps, o.split);
  const { design, folds } = poolDesign(exps);
  const R = design.seeds.length;

  const experiments = exps.map((e) => ({
    ...rowOf(e.label, e.frames, alignedOf.get(e)!, models, systems),
    fold: design.folds.find((f) => f.experiments.includes(e.label))!.fold,
    seed: e.seed ?? null,
  }));
  const units = foldUnits(folds, models, systems, alignedOf);
  const allFrames = units.flatMap((u) => u.frames);
  const allWords = systems.length
    ? Object.fromEntries(
        systems.map((s) => [
          s,
          units.flatMap((u) => u.words!.map((w) => ({ uttId: w.uttId, refWords: w.refWords, errors: w.errors[s] }))),
        ]),
      )
    : null;
  const pooledRow = rowOf('pooled', allFrames, allWords, models, systems);

  const perSeed = seedReplicateRates(design, folds, models, systems, alignedOf);
  const members = models.filter((m) => MEMBER_ID.test(m));
  const spreadOf = (key: 'frameAccuracy' | 'wer') =>
    seedSpread(perSeed.flatMap((p) => members.filter((m) => p[key][m] !== undefined).map((m) => p[key][m])));
  const bs = { replicates: o.replicates, confidence: o.confidence, seed: o.seed };
  const ids = table1SystemIds(models);
  const differences: DifferencesReport = {
    split: o.split,
    method: 'speaker-bootstrap',
    ...bs,
    frameAccuracy: metricDifferences(
      'frameAccuracy',
      {
        speakers: allFrames.map((u) => u.speaker),
        totals: allFrames.map((u) => u.frames),
        counts: Object.fromEntries(ids.map((m) => [m, allFrames.map((u) => u.correct[m])])),
      },
      spreadOf('frameAccuracy'),
      bs,
    ),
    wer:
      allWords && TABLE_1.every((s) => systems.includes(s))
        ? metricDifferences(
            'wer',
            {
              speakers: units.flatMap((u) => u.words!.map((w) => w.speaker)),
              totals: allWords[systems[0]].map((u) => u.refWords),
              counts: Object.fromEntries(table1SystemIds(systems).map((s) => [s, allWords[s].map((u) => u.errors)])),
            },
            spreadOf('wer'),
            bs,
          )
        : null,
  };
  const g = differences.frameAccuracy!.gainKept;
  const perExp = experiments.map((r) => r.gainKept);
  const w = pooledRow.wer;
  const werGainKept =
    allWords && systems.includes('ensemble') && systems.includes('student') && w.ensemble < w.baseline
      ? (w.baseline - w.student) / (w.baseline - w.ensemble)
      : null;
  const statsOf = (key: 'frameAccuracy' | 'wer', names: readonly string[]) =>
    Object.fromEntries(names.map((n) => [n, seedStats(perSeed.map((p) => p[key][n]))]));
  return {
    format: POOL_FORMAT,
    version: 2,
    split: o.split,
    design,
    experiments,
    pooled: {
      ...pooledRow,
      gainKeptCi: { low: g.ci.low, high: g.ci.high, undefinedReplicates: g.undefinedReplicates },
      meanGainKept: perExp.every((x) => x !== null) ? sum(perExp as number[]) / perExp.length : null,
      memberMean: members.length ? sum(members.map((m) => pooledRow.frameAccuracy[m])) / members.length : null,
      werGainKept,
    },
    differences,
    seedReplicates:
      R > 1 ? { perSeed, frameAccuracy: statsOf('frameAccuracy', models), wer: statsOf('wer', systems) } : null,
    diagnostics: poolDiagnostics(exps.map((e) => e.diagnostics)),
    frequentErrors: pooledFrequentErrors(exps),
    goal: {
      gainKeptAtLeast80: pooledRow.gainKept === null ? null : pooledRow.gainKept >= 0.8,
      studentWerNotWorse:
        allWords && systems.includes('student') && systems.includes('baseline') ? w.student <= w.baseline : null,
    },
    bootstrap: { ...bs, method: 'speaker-bootstrap', stratified: null },
    ...(o.choices?.length ? { choices: o.choices } : {}),
  };
}

/** A candidate's settings as `key = value` (the `stages.` prefix dropped); the recipe's own for none. */
function settingsText(settings: Record<string, unknown>): string {
  const kv = Object.entries(settings).map(([k, v]) => `${k.replace(/^stages\./, '')} = ${JSON.stringify(v)}`);
  return kv.length ? kv.join(', ') : "the recipe's settings";
}

/** pool.md's section on what was chosen inside the folds, one row per fold and candidate. */
function choicesMarkdown(choices: readonly PoolFoldChoice[]): string[] {
  const score = (c: PoolFoldChoice, x: number) => (c.metric === 'wer' ? `${x.toFixed(2)}%` : pct(x, 2));
  const weights = (c: PoolFoldChoice) =>
    c.lmWeights
      ? Object.entries(c.lmWeights)
          .map(([id, w]) => `${id} ${w.lmWeight} / ${w.wordInsertionPenalty}`)
          .join(', ')
      : '';
  const rows = choices.flatMap((c) =>
    c.candidates.map((k, i) => [
      c.fold,
      c.innerDev ?? '',
      String(i + 1),
      settingsText(k.settings),
      score(c, k.score),
      i === c.chosen ? 'chosen' : '',
      i === c.chosen ? weights(c) : '',
    ]),
  );
  const c0 = choices[0];
  return [
    '## Chosen inside the folds',
    '',
    markdownTable({
      header: [
        'Fold',
        'Inner dev speaker',
        'Candidate',
        'Settings',
        `${c0.system} ${c0.metric === 'wer' ? 'WER' : 'frame accuracy'} on the inner dev speaker`,
        '',
        'LM weight / insertion penalty per system (frozen for the final runs)',
      ],
      rows,
      numeric: [false, false, true, false, true, false, false],
    }),
    '',
    "Each candidate is one inner run: it trains on the fold's training speakers but the inner dev speaker, and is scored on that speaker; the outer test speaker is in no inner run. The best score wins (the first on ties), and the LM weights are the ones tuned on the inner dev speaker under the chosen candidate.",
    '',
  ];
}

/** Error lists of the core systems every experiment has, summed; null if one experiment has none. */
function pooledFrequentErrors(exps: readonly PoolExperiment[]): PoolFile['frequentErrors'] {
  if (!exps.every((e) => e.errorLists)) return null;
  const ids = CORE_SYSTEMS.filter((id) => exps.every((e) => e.errorLists![id]));
  if (!ids.length) return null;
  return {
    systems: [...ids],
    rows: frequentErrorRows(
      Object.fromEntries(ids.map((id) => [id, sumErrorLists(exps.map((e) => e.errorLists![id]))])),
    ),
  };
}

/** pool.md: the design, per-experiment rows, the pooled row and the paper's, the differences with their intervals, then the seeds and the rest. */
export function formatPoolMarkdown(p: PoolFile): string {
  const ids = table1SystemIds(Object.keys(p.pooled.frameAccuracy));
  const werIds = table1SystemIds(Object.keys(p.pooled.wer));
  const hasWer = werIds.length > 0;
  const d = p.design;
  const L: string[] = [`# Pooled Table 1 (${plural(p.experiments.length, 'experiment')}, split '${p.split}')`, ''];
  L.push(
    `${plural(d.folds.length, 'fold')} x ${plural(d.seeds.length, 'seed replicate')} (seeds ${d.seeds.map((x) => x ?? 'n/a').join(', ')}), ${plural(d.speakers, 'test speaker')}.${d.sharedSpeakers.length ? ` Speakers in more than one fold (one cluster each): ${d.sharedSpeakers.join(', ')}.` : ''}`,
    '',
  );
  L.push(
    `| Experiment | fold | seed | utts | ${ids.map((id) => `frame acc. ${id}`).join(' | ')} | gain kept |${hasWer ? ` words | ${werIds.map((id) => `WER ${id}`).join(' | ')} |` : ''}`,
  );
  L.push(
    `|---|---|---:|---:|${ids.map(() => '---:|').join('')}---:|${hasWer ? `---:|${werIds.map(() => '---:|').join('')}` : ''}`,
  );
  const line = (r: PoolRow, bold = false) => {
    const b = (x: string) => (bold ? `**${x}**` : x);
    L.push(
      `| ${b(r.label)} | ${r.fold ?? ''} | ${r.seed ?? ''} | ${r.utterances} | ${ids.map((id) => pct(r.frameAccuracy[id], 2)).join(' | ')} | ${b(pct(r.gainKept))} |${hasWer ? ` ${r.refWords ?? 'n/a'} | ${werIds.map((id) => pct(r.wer[id], 2)).join(' | ')} |` : ''}`,
    );
  };
  for (const r of p.experiments) line(r);
  line(p.pooled, true);
  const P = PAPER_REPORT;
  const paper = (id: string, k: 'frameAccuracy' | 'wer') =>
    id === 'baseline' || id === 'ensemble' || id === 'student' ? pct(P[id][k]) : '';
  L.push(
    `| paper (Table 1) | | | | ${ids.map((id) => paper(id, 'frameAccuracy')).join(' | ')} | ${pct(P.gainRecovered.frameAccuracy)} |${hasWer ? ` | ${werIds.map((id) => paper(id, 'wer')).join(' | ')} |` : ''}`,
    '',
  );
  L.push(
    `Pooled: every fold's utterances once, each system's counts averaged over the seeds (the mean over seeds of all correct frames / all frames and all errors / all reference words).${p.pooled.memberMean !== null ? ` Members' mean pooled frame accuracy: ${pct(p.pooled.memberMean, 2)}.` : ''}`,
    '',
  );

  L.push('## Differences (pooled)', '', markdownTable(differencesTable(p.differences, (id) => id, P)), '');
  for (const n of differencesNotes(p.differences, (id) => id)) L.push(escapeMarkdown(n), '');
  if (d.seeds.length > 1)
    L.push(
      `Each difference is the mean over the ${d.seeds.length} seeds of the difference pooled over the folds, the systems of one fold and seed paired; each bootstrap replicate draws one resample of speakers and utterances and applies it to every seed's results.`,
      '',
    );
  L.push(`Mean of the experiments' gain kept: ${pct(p.pooled.meanGainKept)}.`, '');

  const sr = p.seedReplicates;
  if (sr) {
    const rows = (key: 'frameAccuracy' | 'wer', what: string) =>
      Object.entries(sr[key]).map(
        ([id, x]) =>
          `| ${id} | ${what} | ${pct(x.mean, 2)} | ${(100 * x.sd).toFixed(2)} | ${pct(x.min, 2)} | ${pct(x.max, 2)} | ${sr.perSeed.map((q) => pct(q[key][id], 2)).join(' | ')} |`,
      );
    L.push(
      '## Seeds',
      '',
      `| System | metric | mean | sd (points) | min | max | ${sr.perSeed.map((q) => `seed ${q.seed ?? 'n/a'}`).join(' | ')} |`,
      `|---|---|---:|---:|---:|---:|${sr.perSeed.map(() => '---:|').join('')}`,
      ...rows('frameAccuracy', 'frame acc.'),
      ...rows('wer', 'WER'),
      '',
      "Each seed's rates pooled over the folds.",
      '',
    );
  }
  if (p.choices?.length) L.push(...choicesMarkdown(p.choices));
  if (Object.keys(p.diagnostics).length) L.push(...diagnosticsMarkdown({ [`${p.split} (pooled)`]: p.diagnostics }));
  if (p.frequentErrors?.rows.length) {
    const f = p.frequentErrors;
    L.push(
      '## Most frequent errors (pooled)',
      '',
      `| Error | ${f.systems.join(' | ')} |`,
      `|---|${f.systems.map(() => '---:|').join('')}`,
    );
    for (const x of f.rows)
      L.push(`| ${frequentErrorLabel(x, escapeMarkdown)} | ${f.systems.map((id) => x.counts[id]).join(' | ')} |`);
    L.push(
      '',
      "Each system's top confusion pairs, insertions and deletions of the error lists summed over the experiments (score stage, sclite's dtl lists), with every system's count of each.",
      '',
    );
  }
  const yes = (v: boolean | null) => (v === null ? 'n/a' : v ? 'met' : 'not met');
  L.push(
    `Goal: gain kept >= 80% ${yes(p.goal.gainKeptAtLeast80)}; student WER not worse than the baseline's ${yes(p.goal.studentWerNotWorse)}.`,
    '',
  );
  return L.join('\n');
}

/** Read the experiments, pool them, write pool.json and pool.md into outDir. */
export async function writePool(
  expDirs: readonly string[],
  outDir: string,
  opts: Partial<PoolOptions> = {},
): Promise<PoolFile> {
  const o = { ...DEFAULT_POOL_OPTIONS, ...opts };
  if (o.labels && o.labels.length !== expDirs.length)
    throw new ConfigError('one label per experiment', {
      keyPath: 'labels',
      expected: `${expDirs.length} labels`,
      found: String(o.labels.length),
    });
  const exps = expDirs.map((d, i) => readPoolExperiment(d, o.split, o.labels?.[i]));
  const p = poolExperiments(exps, o);
  await writeJsonAtomic(join(outDir, 'pool.json'), p);
  await writeFileAtomic(join(outDir, 'pool.md'), formatPoolMarkdown(p));
  return p;
}
