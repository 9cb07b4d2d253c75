/**
 * Pooling several experiments into one Table 1: cross-validation folds (each with another test
 * speaker) or replicates over the recipe seed. With one test speaker per run, the gain kept and
 * the student-vs-baseline WER difference are mostly test-set noise; pooled over the folds they
 * rest on every speaker.
 *
 * Per experiment it reads
 *   <exp>/eval/<split>.utts.jsonl   each utterance's frames and correct frames per model (eval stage)
 *   <exp>/eval/eval.json            the totals, which the per-utterance file must add up to
 *   <exp>/score/score.json          per-utterance word errors per decoded system (optional: no WER without it)
 * and pools them: frame accuracy = all correct frames / all frames, WER = all errors / all reference
 * words, the gain kept from the pooled accuracies. The intervals are a stratified paired bootstrap:
 * each replicate resamples every experiment's utterances on their own, so each keeps its share of
 * the pool. Like the eval stage's interval, it covers test-set sampling, not the nets' seed spread.
 *
 * Output (`writePool`): pool.json (format am-distill.pool) and pool.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ConfigError, FormatError } from '../util/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { bootstrapGainKept, gainShare, pairedBootstrapErrorDiff } from '../score/significance.ts';
import { EVAL_JSON, diagnosticsMarkdown, evalUtterancesFile, type EvalFile, type EvalUtteranceLine, type SplitDiagnostics } from '../train/eval.ts';
import { fidelityOf } from '../score/fidelity.ts';
import { SCORE_FORMAT, type ScoreSummary } from '../decode-stage/score.ts';
import { PAPER_TABLE_1, frequentErrorRows } from './build.ts';
import { frequentErrorLabel } from './sections.ts';
import { escapeMarkdown, plural, pct, signedPoints } from './format.ts';
import { sumErrorLists, type ErrorLists } from '../score/errors.ts';
import { CORE_SYSTEMS, type FrequentErrorRow } from './types.ts';
import { readEvalUtterances, readJson, readOptionalJson } from './experiment.ts';
import { Checker, checkErrorLists } from './validate.ts';

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
}

export const DEFAULT_POOL_OPTIONS: Readonly<PoolOptions> = Object.freeze({ split: 'test', replicates: 1000, confidence: 0.95, seed: 0 });

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
}

export interface Interval { low: number | null; high: number | null }

export interface PoolRow {
  label: string;
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

export interface PoolComparison {
  a: string;
  b: string;
  /** WER(A) - WER(B), fraction; negative: A is better. */
  deltaWer: number;
  ci: Interval;
  significant: boolean;
  probABetter: number;
}

export interface PoolFile {
  format: typeof POOL_FORMAT;
  version: 1;
  split: string;
  experiments: PoolRow[];
  pooled: PoolRow & {
    /** Stratified bootstrap interval of the pooled gain kept. */
    gainKeptCi: Interval & { undefinedReplicates: number };
    /** Unweighted mean of the experiments' gain kept (null if one is undefined). */
    meanGainKept: number | null;
    /** Mean of the members' pooled accuracies (null without members). */
    memberMean: number | null;
    /** (WER baseline - WER student) / (WER baseline - WER ensemble); null without WER or without an ensemble gain. */
    werGainKept: number | null;
  };
  comparisons: PoolComparison[];
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
  bootstrap: { replicates: number; confidence: number; seed: number; stratified: 'experiment' };
}

/** Read what pooling needs of one experiment directory, checking it against eval.json. */
export function readPoolExperiment(expDir: string, split: string, label = basename(resolve(expDir))): PoolExperiment {
  const evalDir = join(expDir, 'eval');
  const uttsFile = join(evalDir, evalUtterancesFile(split));
  if (!existsSync(uttsFile)) {
    throw new FormatError(`no per-utterance frame counts for split '${split}'`, {
      file: uttsFile, expected: `the eval stage's ${evalUtterancesFile(split)} (eval stages before this file existed: re-run the eval stage, e.g. am-distill eval --models ${join(expDir, 'train')} --students ${join(expDir, 'distill')} --features ${join(expDir, 'features')} --align ${join(expDir, 'align')} --out ${evalDir})`, found: 'no such file',
    });
  }
  const frames = readEvalUtterances(uttsFile);
  if (frames.length === 0) throw new FormatError('no utterances', { file: uttsFile, expected: 'at least one scored utterance', found: 'an empty file' });
  const evalFile = join(evalDir, EVAL_JSON);
  const ev = readOptionalJson<EvalFile>(evalFile, 'am-distill.eval', 'eval summary');
  let diagnostics: SplitDiagnostics = {};
  if (ev) {
    const s = ev.splits?.[split];
    if (s) {
      const total = frames.reduce((a, u) => a + u.frames, 0);
      const stale = total !== s.frames || Object.entries(s.models).some(([m, v]) => frames.reduce((a, u) => a + (u.correct[m] ?? NaN), 0) !== v.correct);
      if (stale) throw new FormatError(`per-utterance counts do not add up to eval.json's split '${split}'`, { file: uttsFile, expected: `the totals of ${evalFile} (${s.frames} frames)`, found: `${total} frames; the eval stage was re-run without this file, or the other way round` });
      diagnostics = { ...(s.fidelity ? { fidelity: s.fidelity } : {}), ...(s.gainSources ? { gainSources: s.gainSources } : {}), ...(s.memberVotes ? { memberVotes: s.memberVotes } : {}) };
      checkDiagnostics(diagnostics, evalFile, split);
    }
  }
  for (const m of TABLE_1) {
    if (frames[0].correct[m] === undefined) throw new FormatError(`no '${m}' in the per-utterance counts`, { file: uttsFile, line: 1, expected: `counts of ${TABLE_1.join(', ')}`, found: Object.keys(frames[0].correct).join(', ') });
  }
  let words: PoolExperiment['words'] = null;
  let errorLists: PoolExperiment['errorLists'] = null;
  const scoreFile = join(expDir, 'score', 'score.json');
  if (existsSync(scoreFile)) {
    const sc = readJson<ScoreSummary>(scoreFile, SCORE_FORMAT, 'score summary');
    const rows = sc.results.filter((r) => r.split === split);
    if (rows.length) {
      words = {};
      for (const r of rows) words[r.system] = r.utterances.map((u) => ({ uttId: u.uttId, refWords: u.refWords, errors: u.sub + u.del + u.ins }));
      if (rows.every((r) => r.errorLists)) {
        const c = new Checker(scoreFile, 'bad error lists in the score summary');
        sc.results.forEach((r, i) => { if (r.split === split) checkErrorLists(c, r.errorLists, `results[${i}].errorLists`); });
        errorLists = Object.fromEntries(rows.map((r) => [r.system, r.errorLists]));
      }
    }
  }
  return { label, expDir, frames, words, diagnostics, errorLists };
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
      for (const k of ['capturedWins', 'copiedLosses', 'ownWins', 'ownLosses'] as const) c.int(x[k], `${p}.gainSources.nets.${n}.${k}`);
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
const commonKeys = (rs: readonly Record<string, unknown>[]) => Object.keys(rs[0]).filter((k) => rs.every((r) => r[k] !== undefined));
const addUp = (xs: readonly (readonly number[])[]) => xs[0].map((_, i) => sum(xs.map((x) => x[i])));

/** Sum the experiments' diagnostics (counts add; fidelity from its frames, agreeing frames and KL sum). */
export function poolDiagnostics(ds: readonly SplitDiagnostics[]): SplitDiagnostics {
  const out: SplitDiagnostics = {};
  if (ds.length === 0) return out;
  if (ds.every((d) => d.fidelity)) {
    const fs = ds.map((d) => d.fidelity!);
    out.fidelity = Object.fromEntries(commonKeys(fs).map((n) => [n, fidelityOf({
      frames: sum(fs.map((f) => f[n].frames)),
      agree: sum(fs.map((f) => Math.round(f[n].agreement * f[n].frames))),
      klSum: sum(fs.map((f) => f[n].klNats * f[n].frames)),
    })]));
  }
  if (ds.every((d) => d.gainSources)) {
    const gs = ds.map((d) => d.gainSources!);
    const nets = commonKeys(gs.map((g) => g.nets));
    out.gainSources = {
      ensembleWins: sum(gs.map((g) => g.ensembleWins)), ensembleLosses: sum(gs.map((g) => g.ensembleLosses)),
      nets: Object.fromEntries(nets.map((n) => [n, {
        capturedWins: sum(gs.map((g) => g.nets[n].capturedWins)), copiedLosses: sum(gs.map((g) => g.nets[n].copiedLosses)),
        ownWins: sum(gs.map((g) => g.nets[n].ownWins)), ownLosses: sum(gs.map((g) => g.nets[n].ownLosses)),
      }])),
    };
  }
  const vs = ds.map((d) => d.memberVotes);
  if (vs.every((v) => v && v.members === vs[0]!.members)) {
    const v0 = vs as NonNullable<(typeof vs)[number]>[];
    out.memberVotes = {
      members: v0[0].members,
      frames: addUp(v0.map((v) => v.frames)),
      correct: Object.fromEntries(commonKeys(v0.map((v) => v.correct)).map((n) => [n, addUp(v0.map((v) => v.correct[n]))])),
    };
  }
  return out;
}

const sum = (xs: readonly number[]) => xs.reduce((a, x) => a + x, 0);

function rowOf(label: string, frames: EvalUtteranceLine[], words: PoolExperiment['words'], models: readonly string[], systems: readonly string[]): PoolRow {
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
    label, utterances: frames.length, frames: F, frameAccuracy,
    gainKept: gainShare(frameAccuracy.baseline, frameAccuracy.ensemble, frameAccuracy.student), refWords, wer,
  };
}

/** Pool experiments (at least one) into one Table 1 with stratified-bootstrap intervals. */
export function poolExperiments(exps: readonly PoolExperiment[], opts: Partial<PoolOptions> = {}): PoolFile {
  const o = { ...DEFAULT_POOL_OPTIONS, ...opts };
  if (exps.length === 0) throw new ConfigError('nothing to pool', { expected: 'at least one experiment directory', found: 'none' });
  const labels = new Set(exps.map((e) => e.label));
  if (labels.size !== exps.length) throw new ConfigError('experiment labels repeat', { expected: 'one label per experiment', found: exps.map((e) => e.label).join(', ') });
  // Models every experiment scored (Table 1's three first), in the first experiment's order.
  const models = Object.keys(exps[0].frames[0].correct).filter((m) => exps.every((e) => e.frames.every((u) => u.correct[m] !== undefined)));
  for (const m of TABLE_1) {
    if (models.includes(m)) continue;
    const e = exps.find((x) => x.frames.some((u) => u.correct[m] === undefined))!;
    throw new FormatError(`'${m}' is missing from some utterances`, { file: join(e.expDir, 'eval'), expected: `counts of ${TABLE_1.join(', ')} for every utterance`, found: 'gaps' });
  }
  // WER: systems decoded in every experiment; all or none of the experiments must have WER.
  const withWords = exps.filter((e) => e.words);
  if (withWords.length !== 0 && withWords.length !== exps.length) {
    const missing = exps.find((e) => !e.words)!;
    throw new FormatError(`no word errors for split '${o.split}'`, { file: join(missing.expDir, 'score', 'score.json'), expected: 'a score stage on this split, like the other experiments', found: 'none' });
  }
  const systems = withWords.length ? Object.keys(exps[0].words!).filter((s) => exps.every((e) => e.words![s])) : [];
  // Every system's utterances in the first system's order, so that the comparisons pair them by index.
  const aligned = exps.map((e) => {
    if (!e.words) return null;
    const file = join(e.expDir, 'score', 'score.json');
    const first = e.words[systems[0]];
    return Object.fromEntries(systems.map((s) => {
      const byId = new Map(e.words![s].map((u) => [u.uttId, u] as const));
      if (byId.size !== first.length || e.words![s].length !== first.length) throw new FormatError('systems were scored on different utterance sets', { file, expected: `${first.length} utterances for every system`, found: `${e.words![s].length} for '${s}'` });
      return [s, first.map((u) => {
        const v = byId.get(u.uttId);
        if (!v || v.refWords !== u.refWords) throw new FormatError('systems were scored against different references', { file, uttId: u.uttId, expected: `${u.refWords} reference words for '${s}' as for '${systems[0]}'`, found: v ? String(v.refWords) : 'no such utterance' });
        return v;
      })];
    }));
  });

  const experiments = exps.map((e, i) => rowOf(e.label, e.frames, aligned[i], models, systems));
  const allFrames = exps.flatMap((e) => e.frames);
  const strata = exps.flatMap((e, i) => e.frames.map(() => i));
  const allWords = withWords.length ? Object.fromEntries(systems.map((s) => [s, aligned.flatMap((w) => w![s])])) : null;
  const pooledRow = rowOf('pooled', allFrames, allWords, models, systems);

  const bs = { replicates: o.replicates, confidence: o.confidence, seed: o.seed };
  const g = bootstrapGainKept(allFrames.map((u) => ({ frames: u.frames, baseline: u.correct.baseline, ensemble: u.correct.ensemble, student: u.correct.student })), { ...bs, strata });
  const members = models.filter((m) => /^member-\d+$/.test(m));
  const perExp = experiments.map((r) => r.gainKept);
  const comparisons: PoolComparison[] = [];
  if (allWords) {
    const wordStrata = exps.flatMap((e, i) => e.words![systems[0]].map(() => i));
    for (const [a, b] of [['student', 'baseline'], ['ensemble', 'baseline'], ['student', 'ensemble']] as const) {
      if (!systems.includes(a) || !systems.includes(b)) continue;
      const A = allWords[a], B = allWords[b];
      const diff = A.map((u, i) => u.errors - B[i].errors);
      const r = pairedBootstrapErrorDiff(diff, A.map((u) => u.refWords), { ...bs, strata: wordStrata });
      comparisons.push({ a, b, deltaWer: r.deltaWer / 100, ci: { low: r.ciLow / 100, high: r.ciHigh / 100 }, significant: r.ciLow > 0 || r.ciHigh < 0, probABetter: r.probABetter });
    }
  }
  const w = pooledRow.wer;
  const werGainKept = allWords && systems.includes('ensemble') && systems.includes('student') && w.ensemble < w.baseline ? (w.baseline - w.student) / (w.baseline - w.ensemble) : null;
  return {
    format: POOL_FORMAT, version: 1, split: o.split, experiments,
    pooled: {
      ...pooledRow,
      gainKeptCi: { low: g.ciLow, high: g.ciHigh, undefinedReplicates: g.undefinedReplicates },
      meanGainKept: perExp.every((x) => x !== null) ? sum(perExp as number[]) / perExp.length : null,
      memberMean: members.length ? sum(members.map((m) => pooledRow.frameAccuracy[m])) / members.length : null,
      werGainKept,
    },
    comparisons,
    diagnostics: poolDiagnostics(exps.map((e) => e.diagnostics)),
    frequentErrors: pooledFrequentErrors(exps),
    goal: {
      gainKeptAtLeast80: pooledRow.gainKept === null ? null : pooledRow.gainKept >= 0.8,
      studentWerNotWorse: allWords && systems.includes('student') && systems.includes('baseline') ? w.student <= w.baseline : null,
    },
    bootstrap: { ...bs, stratified: 'experiment' },
  };
}

/** Error lists of the core systems every experiment has, summed; null if one experiment has none. */
function pooledFrequentErrors(exps: readonly PoolExperiment[]): PoolFile['frequentErrors'] {
  if (!exps.every((e) => e.errorLists)) return null;
  const ids = CORE_SYSTEMS.filter((id) => exps.every((e) => e.errorLists![id]));
  if (!ids.length) return null;
  return { systems: [...ids], rows: frequentErrorRows(Object.fromEntries(ids.map((id) => [id, sumErrorLists(exps.map((e) => e.errorLists![id]))]))) };
}

const interval = (c: Interval) => (c.low === null || c.high === null ? 'undefined' : `${pct(c.low)} to ${pct(c.high)}`);

/** pool.md: per-experiment rows, the pooled row, the paper's row, and the comparisons. */
export function formatPoolMarkdown(p: PoolFile): string {
  const hasWer = p.comparisons.length > 0 || Object.keys(p.pooled.wer).length > 0;
  const L: string[] = [`# Pooled Table 1 (${plural(p.experiments.length, 'experiment')}, split '${p.split}')`, ''];
  const head = `| Experiment | utts | frame acc. baseline | ensemble | student | gain kept |${hasWer ? ' words | WER baseline | ensemble | student |' : ''}`;
  L.push(head, `|---|---:|---:|---:|---:|---:|${hasWer ? '---:|---:|---:|---:|' : ''}`);
  const line = (r: PoolRow, bold = false) => {
    const b = (s: string) => (bold ? `**${s}**` : s);
    const fa = r.frameAccuracy;
    L.push(`| ${b(r.label)} | ${r.utterances} | ${pct(fa.baseline, 2)} | ${pct(fa.ensemble, 2)} | ${pct(fa.student, 2)} | ${b(pct(r.gainKept))} |${hasWer ? ` ${r.refWords ?? 'n/a'} | ${pct(r.wer.baseline, 2)} | ${pct(r.wer.ensemble, 2)} | ${pct(r.wer.student, 2)} |` : ''}`);
  };
  for (const r of p.experiments) line(r);
  line(p.pooled, true);
  const P = PAPER_TABLE_1;
  const paperKept = gainShare(P.baseline.frameAccuracy, P.ensemble.frameAccuracy, P.student.frameAccuracy);
  L.push(`| paper (Table 1) | | ${pct(P.baseline.frameAccuracy)} | ${pct(P.ensemble.frameAccuracy)} | ${pct(P.student.frameAccuracy)} | ${pct(paperKept)} |${hasWer ? ` | ${pct(P.baseline.wer)} | ${pct(P.ensemble.wer)} | ${pct(P.student.wer)} |` : ''}`, '');
  const c = p.pooled.gainKeptCi;
  L.push(`Pooled gain kept: **${pct(p.pooled.gainKept)}** (${Math.round(100 * p.bootstrap.confidence)}% CI ${interval(c)}${c.undefinedReplicates ? `; ${c.undefinedReplicates} replicates without an ensemble gain set aside` : ''}); mean over the experiments ${pct(p.pooled.meanGainKept)}.`);
  if (p.pooled.memberMean !== null) L.push(`Members' mean pooled frame accuracy: ${pct(p.pooled.memberMean, 2)}.`);
  if (p.pooled.werGainKept !== null) L.push(`Share of the ensemble's WER gain kept: ${pct(p.pooled.werGainKept)}.`);
  L.push('');
  if (p.comparisons.length) {
    L.push('| Comparison | ΔWER (points) | CI | P(A better) | significant |', '|---|---:|---|---:|---|');
    for (const x of p.comparisons) L.push(`| ${x.a} - ${x.b} | ${signedPoints(x.deltaWer, 2)} | ${signedPoints(x.ci.low, 2)} .. ${signedPoints(x.ci.high, 2)} | ${x.probABetter.toFixed(3)} | ${x.significant ? 'yes' : 'no'} |`);
    L.push('');
  }
  if (Object.keys(p.diagnostics).length) L.push(...diagnosticsMarkdown({ [`${p.split} (pooled)`]: p.diagnostics }));
  if (p.frequentErrors?.rows.length) {
    const f = p.frequentErrors;
    L.push('## Most frequent errors (pooled)', '', `| Error | ${f.systems.join(' | ')} |`, `|---|${f.systems.map(() => '---:|').join('')}`);
    for (const x of f.rows) L.push(`| ${frequentErrorLabel(x, escapeMarkdown)} | ${f.systems.map((id) => x.counts[id]).join(' | ')} |`);
    L.push('', "Each system's top confusion pairs, insertions and deletions of the error lists summed over the experiments (score stage, sclite's dtl lists), with every system's count of each.", '');
  }
  const yes = (v: boolean | null) => (v === null ? 'n/a' : v ? 'met' : 'not met');
  L.push(`Goal: gain kept >= 80% ${yes(p.goal.gainKeptAtLeast80)}; student WER not worse than the baseline's ${yes(p.goal.studentWerNotWorse)}.`, '');
  L.push(`Pooled: all correct frames / all frames and all errors / all reference words. Intervals: paired bootstrap, ${p.bootstrap.replicates} replicates, seed ${p.bootstrap.seed}, each experiment's utterances resampled on their own (stratified); test-set sampling only, not the nets' seed spread.`, '');
  return L.join('\n');
}

/** Read the experiments, pool them, write pool.json and pool.md into outDir. */
export async function writePool(expDirs: readonly string[], outDir: string, opts: Partial<PoolOptions> = {}): Promise<PoolFile> {
  const o = { ...DEFAULT_POOL_OPTIONS, ...opts };
  if (o.labels && o.labels.length !== expDirs.length) throw new ConfigError('one label per experiment', { keyPath: 'labels', expected: `${expDirs.length} labels`, found: String(o.labels.length) });
  const exps = expDirs.map((d, i) => readPoolExperiment(d, o.split, o.labels?.[i]));
  const p = poolExperiments(exps, o);
  await writeJsonAtomic(join(outDir, 'pool.json'), p);
  await writeFileAtomic(join(outDir, 'pool.md'), formatPoolMarkdown(p));
  return p;
}
