/**
 * ReportInput -> ReportJson: rates from counts, the share of the ensemble's gain the student kept,
 * paired-bootstrap significance (src/score), per-speaker table, worst utterances.
 */
import { pairedBootstrapWer } from '../score/significance.ts';
import { metricDifferences, seedSpread, type DifferencesReport, type MetricCounts } from './differences.ts';
import { FormatError } from '../util/errors.ts';
import { speakerOf } from '../score/trn.ts';
import type { WerResult, UttScore } from '../score/wer.ts';
import type { AlignedPair } from '../score/align.ts';
import type { ErrorLists } from '../score/errors.ts';
import {
  CONTROL_ID,
  CORE_SYSTEMS,
  MEMBER_ID,
  REPORT_FORMAT,
  REPORT_FORMAT_VERSION,
  type GainRecovered,
  type OtherSplitReport,
  type ReportInput,
  type ReportJson,
  type SignificanceReport,
  type SignificanceTest,
  type FrequentErrorRow,
  type Split,
  type SpeakerRow,
  type SystemInput,
  type SystemReport,
  type WerFigures,
  type WorstUtterance,
} from './types.ts';
import { type UttWerCounts, type WerCounts } from '../score/counts.ts';

export interface ReportOptions {
  /** Bootstrap replicates for significance. Default 1000. */
  bootstrapReplicates?: number;
  /** Two-sided confidence level of the bootstrap interval. Default 0.95. */
  confidence?: number;
  /** Seed of the bootstrap resampling. Default 0. */
  seed?: number;
  /** Worst utterances shown. Default 10. */
  maxWorstUtterances?: number;
  /** System whose worst utterances are shown. Default 'student'. */
  worstOf?: string;
}

/** Hinton, Vinyals & Dean (2015), Table 1 (Android voice search, about 2000 hours, 14000 senones). */
export const PAPER_TABLE_1 = {
  source: 'Hinton, Vinyals & Dean (2015), Distilling the Knowledge in a Neural Network, Table 1',
  baseline: { frameAccuracy: 0.589, wer: 0.109 },
  ensemble: { frameAccuracy: 0.611, wer: 0.107, members: 10 },
  student: { frameAccuracy: 0.608, wer: 0.107 },
} as const;

/** The paper's Table 1 as report.json (and pool.md) show it: with the share of the ensemble's gain its student kept. */
export const PAPER_REPORT: ReportJson['paper'] = {
  ...PAPER_TABLE_1,
  gainRecovered: {
    frameAccuracy:
      (PAPER_TABLE_1.student.frameAccuracy - PAPER_TABLE_1.baseline.frameAccuracy) /
      (PAPER_TABLE_1.ensemble.frameAccuracy - PAPER_TABLE_1.baseline.frameAccuracy),
    wer:
      (PAPER_TABLE_1.baseline.wer - PAPER_TABLE_1.student.wer) /
      (PAPER_TABLE_1.baseline.wer - PAPER_TABLE_1.ensemble.wer),
  },
};

/** Gains smaller than this are treated as no gain (float noise of equal rates). */
const EPS = 1e-12;

export function werFigures(c: WerCounts): WerFigures {
  const errors = c.sub + c.del + c.ins;
  const wer = c.refWords > 0 ? errors / c.refWords : errors === 0 ? 0 : Infinity;
  return {
    refWords: c.refWords,
    sub: c.sub,
    del: c.del,
    ins: c.ins,
    sentences: c.sentences ?? null,
    sentenceErrors: c.sentenceErrors ?? null,
    errors,
    wer,
  };
}

const SYSTEM_LABELS: Record<string, string> = {
  baseline: 'Baseline',
  [CONTROL_ID]: 'Control baseline',
  ensemble: 'Ensemble',
  student: 'Distilled single model',
};

/** The systems of Table 1 in display order: baseline, the control beside it when present, ensemble, student. */
export function table1SystemIds(ids: Iterable<string>): string[] {
  const all = [...ids];
  return ['baseline', CONTROL_ID, 'ensemble', 'student'].filter((id) => all.includes(id));
}

/** Systems in display order: baseline, control, ensemble, student, then members by number. */
export function orderedSystemIds(ids: Iterable<string>): string[] {
  const all = [...ids];
  const members = all
    .filter((id) => MEMBER_ID.test(id))
    .sort((a, b) => Number(MEMBER_ID.exec(a)![1]) - Number(MEMBER_ID.exec(b)![1]));
  return [...table1SystemIds(all), ...members];
}

export function defaultLabel(id: string, k: number | null): string {
  if (id === 'ensemble') return k ? `${k}-net ensemble` : 'Ensemble';
  const m = MEMBER_ID.exec(id);
  if (m) return `Member ${m[1]}`;
  return SYSTEM_LABELS[id] ?? id;
}

/**
 * Share of the ensemble's improvement over the baseline that the student kept.
 * `higherIsBetter` true: (student - baseline) / (ensemble - baseline) (frame accuracy);
 * false: (baseline - student) / (baseline - ensemble) (WER). Null with a reason when a value is
 * missing or the ensemble did not improve on the baseline (the share is then undefined).
 */
export function gainShare(
  baseline: number | null,
  ensemble: number | null,
  student: number | null,
  higherIsBetter: boolean,
  what: string,
): { value: number | null; note?: string } {
  if (baseline === null || ensemble === null || student === null) {
    return { value: null, note: `${what}: not measured for every system (baseline, ensemble, student)` };
  }
  const sign = higherIsBetter ? 1 : -1;
  const gain = sign * (ensemble - baseline);
  if (Math.abs(gain) <= EPS)
    return { value: null, note: `${what}: the ensemble equals the baseline, so there is no gain to keep` };
  if (gain < 0)
    return { value: null, note: `${what}: the ensemble is worse than the baseline, so there is no gain to keep` };
  return { value: (sign * (student - baseline)) / gain };
}

/** A WerResult over per-utterance counts, the shape src/score's bootstrap reads. */
function asWerResult(utts: readonly UttWerCounts[]): WerResult {
  const utterances: UttScore[] = utts.map((u) => {
    const corr = u.refWords - u.sub - u.del;
    return {
      uttId: u.uttId,
      speaker: speakerOf(u.uttId),
      refWords: u.refWords,
      hypWords: corr + u.sub + u.ins,
      corr,
      sub: u.sub,
      del: u.del,
      ins: u.ins,
      errors: u.sub + u.del + u.ins,
      pairs: [],
    };
  });
  let corr = 0,
    sub = 0,
    del = 0,
    ins = 0,
    refWords = 0,
    sentenceErrors = 0;
  for (const u of utterances) {
    corr += u.corr;
    sub += u.sub;
    del += u.del;
    ins += u.ins;
    refWords += u.refWords;
    if (u.errors) sentenceErrors++;
  }
  const errors = sub + del + ins;
  return {
    mode: 'sclite',
    corr,
    sub,
    del,
    ins,
    errors,
    refWords,
    sentences: utterances.length,
    sentenceErrors,
    wer: refWords > 0 ? (100 * errors) / refWords : errors ? Infinity : 0,
    utterances,
    speakers: [],
    emptyHyps: 0,
    missingHyps: [],
    refOovs: 0,
    refOovWords: [],
  };
}

function significance(
  input: ReportInput,
  opts: Required<Pick<ReportOptions, 'bootstrapReplicates' | 'confidence' | 'seed'>>,
): SignificanceReport {
  const notes: string[] = [];
  const test = (a: string, b: string): SignificanceTest | null => {
    for (const split of ['test', 'dev'] as Split[]) {
      const ua = input.systems[a]?.utterances?.[split];
      const ub = input.systems[b]?.utterances?.[split];
      if (!ua || !ub) continue;
      if (split === 'dev') notes.push(`${a} vs ${b}: no per-utterance test counts, tested on dev`);
      let r;
      try {
        r = pairedBootstrapWer(asWerResult(ua), asWerResult(ub), {
          replicates: opts.bootstrapReplicates,
          confidence: opts.confidence,
          seed: opts.seed,
        });
      } catch (err) {
        if (!(err instanceof FormatError)) throw err;
        throw new FormatError(`cannot compare ${a} with ${b}: ${err.message}`, {
          keyPath: `systems.${a}.utterances.${split}`,
          cause: err,
        });
      }
      return {
        a,
        b,
        split,
        method: 'paired-bootstrap',
        deltaWer: r.deltaWer / 100,
        ciLow: r.ciLow / 100,
        ciHigh: r.ciHigh / 100,
        confidence: r.confidence,
        replicates: r.replicates,
        seed: opts.seed,
        utterances: ua.length,
        probABetter: r.probABetter,
        significant: r.ciLow > 0 || r.ciHigh < 0,
      };
    }
    notes.push(
      `${a} vs ${b}: not tested (per-utterance WER counts missing for ${[a, b].filter((s) => !input.systems[s]?.utterances?.test && !input.systems[s]?.utterances?.dev).join(' and ') || 'a common split'})`,
    );
    return null;
  };
  return {
    studentVsBaseline: test('student', 'baseline'),
    studentVsEnsemble: test('student', 'ensemble'),
    ensembleVsBaseline: test('ensemble', 'baseline'),
    notes,
  };
}

/**
 * The differences of Table 1's systems on test with speaker-bootstrap intervals
 * (src/report/differences.ts); null when test has neither per-utterance frame nor word counts.
 */
function differences(
  input: ReportInput,
  systems: Record<string, SystemReport>,
  opts: Required<Pick<ReportOptions, 'bootstrapReplicates' | 'confidence' | 'seed'>>,
): DifferencesReport | null {
  const ids = table1SystemIds(Object.keys(input.systems));
  const uc = input.utteranceCounts?.split === 'test' ? input.utteranceCounts : null;
  const spk = (uttId: string) => uc?.speakers[uttId] ?? speakerOf(uttId);
  const members = Object.keys(systems).filter((id) => MEMBER_ID.test(id));
  const spread = (f: (s: SystemReport) => number | null) =>
    seedSpread(members.map((id) => f(systems[id])).filter((v): v is number => v !== null));
  const bs = { replicates: opts.bootstrapReplicates, confidence: opts.confidence, seed: opts.seed };

  let fa: MetricCounts | null = null;
  const lines = uc?.frames;
  if (lines?.length) {
    const have = ids.filter((id) => lines.every((u) => typeof u.correct[id] === 'number'));
    if (CORE_SYSTEMS.every((id) => have.includes(id))) {
      fa = {
        speakers: lines.map((u) => spk(u.uttId)),
        totals: lines.map((u) => u.frames),
        counts: Object.fromEntries(have.map((id) => [id, lines.map((u) => u.correct[id])])),
      };
    }
  }
  let wer: MetricCounts | null = null;
  const base = input.systems.baseline.utterances?.test;
  if (base?.length) {
    const have = ids.filter((id) => input.systems[id].utterances?.test?.length === base.length);
    if (CORE_SYSTEMS.every((id) => have.includes(id))) {
      const errs = (id: string) => {
        const byId = new Map(input.systems[id].utterances!.test!.map((u) => [u.uttId, u] as const));
        return base.map((b) => {
          const u = byId.get(b.uttId);
          if (!u || u.refWords !== b.refWords)
            throw new FormatError(
              `cannot compare ${id} with baseline: systems were scored against different references`,
              {
                keyPath: `systems.${id}.utterances.test`,
                uttId: b.uttId,
                expected: `${b.refWords} reference words`,
                found: u ? String(u.refWords) : 'no such utterance',
              },
            );
          return u.sub + u.del + u.ins;
        });
      };
      wer = {
        speakers: base.map((u) => spk(u.uttId)),
        totals: base.map((u) => u.refWords),
        counts: Object.fromEntries(have.map((id) => [id, errs(id)])),
      };
    }
  }
  if (!fa && !wer) return null;
  return {
    split: 'test',
    method: 'speaker-bootstrap',
    ...bs,
    frameAccuracy:
      fa &&
      metricDifferences(
        'frameAccuracy',
        fa,
        spread((s) => s.frameAccuracy.test),
        bs,
      ),
    wer:
      wer &&
      metricDifferences(
        'wer',
        wer,
        spread((s) => s.wer.test),
        bs,
      ),
  };
}

/** Frame accuracy and WER of every system on each decoded split besides dev and test, systems in display order. */
function otherSplits(input: ReportInput, ids: string[]): OtherSplitReport[] {
  return (input.otherSplits ?? []).map((o) => ({
    split: o.split,
    systems: Object.fromEntries(
      ids
        .filter((id) => o.systems[id])
        .map((id) => {
          const { frameAccuracy, wer } = o.systems[id];
          const counts = wer ? werFigures(wer) : null;
          return [id, { frameAccuracy, wer: counts?.wer ?? null, werCounts: counts }];
        }),
    ),
  }));
}

function perSpeaker(input: ReportInput, ids: string[]): ReportJson['perSpeaker'] {
  for (const split of ['test', 'dev'] as Split[]) {
    const withData = ids.filter((id) => input.systems[id].speakers?.[split]?.length);
    if (!withData.length) continue;
    const rows = new Map<string, SpeakerRow>();
    for (const id of withData) {
      for (const s of input.systems[id].speakers![split]!) {
        let row = rows.get(s.speaker);
        if (!row) {
          row = { speaker: s.speaker, refWords: s.refWords, wer: {} };
          rows.set(s.speaker, row);
        }
        row.wer[id] = werFigures(s).wer;
      }
    }
    for (const row of rows.values()) for (const id of withData) if (!(id in row.wer)) row.wer[id] = null;
    return {
      split,
      rows: [...rows.values()].sort((a, b) => (a.speaker < b.speaker ? -1 : a.speaker > b.speaker ? 1 : 0)),
    };
  }
  return null;
}

/** Confusion pairs, insertions and deletions taken from each system's head of its lists. */
export const FREQUENT_ERRORS = { confusionPairs: 5, insertions: 3, deletions: 3 } as const;

/**
 * The most frequent errors of several systems side by side: the union of each one's top confusion
 * pairs, insertions and deletions (FREQUENT_ERRORS), each with every system's exact count (the
 * lists are complete). Rows: substitutions, insertions, deletions, each by the largest count.
 */
export function frequentErrorRows(lists: Record<string, ErrorLists>): FrequentErrorRow[] {
  const ids = Object.keys(lists);
  const rows = new Map<string, FrequentErrorRow>();
  const key = (kind: FrequentErrorRow['kind'], ref: string | null, hyp: string | null) =>
    JSON.stringify([kind, ref, hyp]);
  const row = (kind: FrequentErrorRow['kind'], ref: string | null, hyp: string | null): void => {
    const k = key(kind, ref, hyp);
    if (!rows.has(k)) rows.set(k, { kind, ref, hyp, counts: Object.fromEntries(ids.map((id) => [id, 0])) });
  };
  for (const l of Object.values(lists)) {
    for (const e of l.confusionPairs.slice(0, FREQUENT_ERRORS.confusionPairs)) row('substitution', e.ref, e.hyp);
    for (const e of l.insertions.slice(0, FREQUENT_ERRORS.insertions)) row('insertion', null, e.word);
    for (const e of l.deletions.slice(0, FREQUENT_ERRORS.deletions)) row('deletion', e.word, null);
  }
  for (const [id, l] of Object.entries(lists)) {
    const set = (k: string, n: number) => {
      const r = rows.get(k);
      if (r) r.counts[id] = n;
    };
    for (const e of l.confusionPairs) set(key('substitution', e.ref, e.hyp), e.count);
    for (const e of l.insertions) set(key('insertion', null, e.word), e.count);
    for (const e of l.deletions) set(key('deletion', e.word, null), e.count);
  }
  const kindOrder = { substitution: 0, insertion: 1, deletion: 2 };
  const most = (r: FrequentErrorRow) => Math.max(...Object.values(r.counts));
  const text = (r: FrequentErrorRow) => `${r.ref ?? ''}\0${r.hyp ?? ''}`;
  return [...rows.values()].sort(
    (a, b) =>
      kindOrder[a.kind] - kindOrder[b.kind] ||
      most(b) - most(a) ||
      (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0),
  );
}

/** The baseline's, ensemble's and student's most frequent errors on test (dev when test has none); null without error lists. */
function frequentErrors(input: ReportInput): ReportJson['frequentErrors'] {
  for (const split of ['test', 'dev'] as Split[]) {
    const ids = CORE_SYSTEMS.filter((id) => input.systems[id]?.errorLists?.[split]);
    if (!ids.length) continue;
    return {
      split,
      systems: [...ids],
      rows: frequentErrorRows(Object.fromEntries(ids.map((id) => [id, input.systems[id].errorLists![split]!]))),
    };
  }
  return null;
}

function countPairs(pairs: readonly AlignedPair[]): { sub: number; del: number; ins: number; refWords: number } {
  let sub = 0,
    del = 0,
    ins = 0,
    refWords = 0;
  for (const p of pairs) {
    if (p.op === 'S') sub++;
    else if (p.op === 'D') del++;
    else if (p.op === 'I') ins++;
    if (p.ref !== null) refWords++;
  }
  return { sub, del, ins, refWords };
}

function worstUtterances(
  input: ReportInput,
  ids: string[],
  worstOf: string,
  max: number,
): ReportJson['worstUtterances'] {
  const own = input.systems[worstOf]?.alignments;
  if (!own?.length || max <= 0) return null;
  const ranked = own
    .map((a) => ({ a, c: countPairs(a.pairs) }))
    .sort(
      (x, y) =>
        y.c.sub + y.c.del + y.c.ins - (x.c.sub + x.c.del + x.c.ins) ||
        (x.a.uttId < y.a.uttId ? -1 : x.a.uttId > y.a.uttId ? 1 : 0),
    )
    .slice(0, max);
  const utterances: WorstUtterance[] = ranked.map(({ a, c }) => ({
    uttId: a.uttId,
    split: a.split,
    refWords: c.refWords,
    errors: c.sub + c.del + c.ins,
    systems: ids.flatMap((id) => {
      const al = input.systems[id].alignments?.find((x) => x.uttId === a.uttId && x.split === a.split);
      if (!al) return [];
      const k = countPairs(al.pairs);
      return [{ system: id, sub: k.sub, del: k.del, ins: k.ins, pairs: al.pairs }];
    }),
  }));
  return { system: worstOf, utterances };
}

function systemReport(id: string, s: SystemInput, k: number | null): SystemReport {
  const counts = (split: Split) => (s.wer[split] ? werFigures(s.wer[split]!) : null);
  const dev = counts('dev'),
    test = counts('test');
  return {
    label: s.label ?? defaultLabel(id, k),
    parameters: s.parameters ?? null,
    frameAccuracy: { dev: s.frameAccuracy.dev, test: s.frameAccuracy.test },
    wer: { dev: dev?.wer ?? null, test: test?.wer ?? null },
    werCounts: { dev, test },
    trainingCurve: s.trainingCurve ?? [],
    ...(s.averaged ? { averaged: s.averaged } : {}),
  };
}

/** Everything report.json holds, computed from a validated input. Deterministic for a given seed. */
export function buildReport(input: ReportInput, opts: ReportOptions = {}): ReportJson {
  const o = {
    bootstrapReplicates: opts.bootstrapReplicates ?? 1000,
    confidence: opts.confidence ?? 0.95,
    seed: opts.seed ?? 0,
    maxWorstUtterances: opts.maxWorstUtterances ?? 10,
    worstOf: opts.worstOf ?? 'student',
  };
  const ids = orderedSystemIds(Object.keys(input.systems));
  const memberCount = ids.filter((id) => MEMBER_ID.test(id)).length;
  const k = input.systems.ensemble.members ?? (memberCount || null);
  const systems: Record<string, SystemReport> = {};
  for (const id of ids) systems[id] = systemReport(id, input.systems[id], k);

  const notes: string[] = [];
  const fa = gainShare(
    systems.baseline.frameAccuracy.test,
    systems.ensemble.frameAccuracy.test,
    systems.student.frameAccuracy.test,
    true,
    'test frame accuracy',
  );
  const wer = gainShare(
    systems.baseline.wer.test,
    systems.ensemble.wer.test,
    systems.student.wer.test,
    false,
    'test WER',
  );
  if (fa.note) notes.push(fa.note);
  if (wer.note) notes.push(wer.note);
  const gainRecovered: GainRecovered = {
    frameAccuracy: fa.value,
    wer: wer.value,
    notes,
    ...(input.frameAccuracyGain ? { frameAccuracyEvidence: input.frameAccuracyGain } : {}),
  };

  const sweep = input.temperatureSweep?.length
    ? [...input.temperatureSweep]
        .sort((a, b) => a.T - b.T)
        .map((p) => ({
          T: p.T,
          frameAccuracy: { dev: p.frameAccuracy.dev, test: p.frameAccuracy.test ?? null },
          wer: {
            dev: p.wer?.dev ? werFigures(p.wer.dev).wer : null,
            test: p.wer?.test ? werFigures(p.wer.test).wer : null,
          },
          keptMass: p.keptMass ?? null,
        }))
    : null;

  const stages = { ...input.stages };
  const totalSec = Object.values(stages).reduce((a, b) => a + b, 0);
  // The score stage's utterance-bootstrap tests first: a mismatch of references is reported as theirs.
  const significanceReport = significance(input, o);
  return {
    format: REPORT_FORMAT,
    formatVersion: REPORT_FORMAT_VERSION,
    corpus: input.corpus,
    ensembleSize: k,
    systems,
    paper: { ...PAPER_REPORT },
    gainRecovered,
    differences: differences(input, systems, o),
    significance: significanceReport,
    ...(input.otherSplits?.length ? { otherSplits: otherSplits(input, ids) } : {}),
    ...(input.labels ? { labels: input.labels } : {}),
    softTargets: input.softTargets ?? null,
    temperatureSweep: sweep,
    fidelity: input.fidelity?.length ? input.fidelity : null,
    perSpeaker: perSpeaker(input, ids),
    frequentErrors: frequentErrors(input),
    worstUtterances: worstUtterances(input, ids, o.worstOf, o.maxWorstUtterances),
    stages,
    ...(input.stageJobs ? { stageJobs: { ...input.stageJobs } } : {}),
    totalSec,
    environment: input.environment,
  };
}
