/**
 * The report's content as plain tables and sentences, shared by the Markdown and HTML renderers
 * (each escapes the text for its own format).
 */
import { MEMBER_ID, type FrequentErrorRow, type ReportJson, type SignificanceTest } from './types.ts';
import { orderedSystemIds } from './build.ts';
import { duration, int, pct, signedPoints } from './format.ts';

export interface Table {
  header: string[];
  rows: string[][];
  /** Columns that hold numbers (right-aligned). */
  numeric: boolean[];
}

function table(header: string[], rows: string[][], numeric: boolean[]): Table {
  return { header, rows, numeric };
}

export function ensembleLabel(r: ReportJson): string {
  return r.systems.ensemble.label;
}

/** Table 1 for this corpus beside the paper's numbers. */
export function table1(r: ReportJson): Table {
  const p = r.paper;
  const row = (id: 'baseline' | 'ensemble' | 'student', paperLabel: string) => [
    r.systems[id].label, pct(r.systems[id].frameAccuracy.test), pct(r.systems[id].wer.test),
    paperLabel, pct(p[id].frameAccuracy), pct(p[id].wer),
  ];
  return table(
    ['System', 'Test frame accuracy', 'Test WER', 'Paper system', 'Paper frame accuracy', 'Paper WER'],
    [
      row('baseline', 'Baseline'),
      row('ensemble', `${p.ensemble.members}xEnsemble`),
      row('student', 'Distilled single model'),
      ['Share of the ensemble\'s gain kept', pct(r.gainRecovered.frameAccuracy, 0), pct(r.gainRecovered.wer, 0), '', pct(p.gainRecovered.frameAccuracy, 0), pct(p.gainRecovered.wer, 0)],
    ],
    [false, true, true, false, true, true],
  );
}

/** Every system with dev and test numbers and the test WER's error counts. */
export function systemsTable(r: ReportJson): Table {
  const ids = orderedSystemIds(Object.keys(r.systems));
  return table(
    ['System', 'Parameters', 'Dev frame acc.', 'Test frame acc.', 'Dev WER', 'Test WER', 'Sub', 'Del', 'Ins', 'Ref words'],
    ids.map((id) => {
      const s = r.systems[id];
      const c = s.werCounts.test;
      return [s.label, int(s.parameters), pct(s.frameAccuracy.dev), pct(s.frameAccuracy.test), pct(s.wer.dev), pct(s.wer.test),
        c ? int(c.sub) : 'n/a', c ? int(c.del) : 'n/a', c ? int(c.ins) : 'n/a', c ? int(c.refWords) : 'n/a'];
    }),
    [false, true, true, true, true, true, true, true, true, true],
  );
}

export function corpusTable(r: ReportJson): Table {
  const rows: string[][] = [];
  for (const k of ['train', 'dev', 'test'] as const) {
    const s = r.corpus.splits[k];
    if (s) rows.push([k, int(s.utterances), int(s.speakers), (s.durationSec / 3600).toFixed(2), s.frames !== undefined ? int(s.frames) : 'n/a']);
  }
  return table(['Split', 'Utterances', 'Speakers', 'Hours', 'Frames'], rows, [false, true, true, true, true]);
}

/** The sentences under the corpus table: senones, vocabulary, VTLP copies. */
export function corpusNotes(r: ReportJson): string[] {
  const facts = [r.corpus.numSenones !== undefined ? `${int(r.corpus.numSenones)} senones` : '', r.corpus.vocabularySize !== undefined ? `${int(r.corpus.vocabularySize)} words in the vocabulary` : ''].filter(Boolean);
  const out = facts.length ? [`${facts.join(', ')}.`] : [];
  for (const k of ['train', 'dev', 'test'] as const) {
    const w = r.corpus.splits[k]?.vtlpWarps;
    if (!w?.length) continue;
    const head = `${k}: VTLP augmentation, one copy of every utterance per warp factor (${w.join(', ')}) as a speaker of its own`;
    const use = r.corpus.splits[k]?.vtlpCopiesFor ?? { models: true, student: true };
    const times = `${1 + w.length} times the frames shown`;
    out.push(use.models && use.student ? `${head}, so the nets train on ${times}.`
      : !use.models && use.student ? `${head}. The baseline and the members train on the original recordings only; the student's transfer set holds the copies too (${times}), labelled by the ensemble's soft targets and the alignment.`
      : use.models ? `${head}. The baseline and the members train on ${times}; the student on the original recordings only.`
      : `${head}, but no net trains on them.`);
    const how = r.corpus.splits[k]?.vtlpAlignment;
    if (how === 'inherit') out.push(`Each copy has its source recording's frame labels (the GMM-HMM trained on the original recordings only).`);
    if (how === 'realign') out.push(`Each copy was force-aligned on its own warped features (the GMM-HMM trained on the copies too).`);
  }
  return out;
}

/** Sentences summing up the answer to the paper's question. */
export function summarySentences(r: ReportJson): string[] {
  const out: string[] = [];
  const g = r.gainRecovered, p = r.paper.gainRecovered;
  const fa = r.systems;
  out.push(`Test frame accuracy: baseline ${pct(fa.baseline.frameAccuracy.test)}, ${ensembleLabel(r)} ${pct(fa.ensemble.frameAccuracy.test)}, distilled student ${pct(fa.student.frameAccuracy.test)}; ` +
    `test WER ${pct(fa.baseline.wer.test)}, ${pct(fa.ensemble.wer.test)}, ${pct(fa.student.wer.test)}.`);
  if (g.frameAccuracy !== null || g.wer !== null) {
    out.push(`The student kept ${pct(g.frameAccuracy, 0)} of the ensemble's frame-accuracy gain and ${pct(g.wer, 0)} of its WER gain (paper: ${pct(p.frameAccuracy, 0)} and ${pct(p.wer, 0)}).`);
  }
  const ev = g.frameAccuracyEvidence;
  if (ev && g.frameAccuracy !== null) {
    const parts: string[] = [];
    if (ev.ci && ev.ci.low !== null && ev.ci.high !== null) {
      parts.push(`${Math.round(100 * ev.ci.confidence)}% CI of the frame-accuracy share ${pct(ev.ci.low, 0)} to ${pct(ev.ci.high, 0)} (paired bootstrap over ${int(ev.ci.utterances)} test utterances, ${int(ev.ci.replicates)} replicates; test-set sampling only, not the seed-to-seed spread of the nets)`);
    } else if (ev.ci) {
      parts.push(`no confidence interval: the ensemble's gain vanishes in most of ${int(ev.ci.replicates)} bootstrap replicates`);
    }
    if (ev.vsMemberMean !== null) parts.push(`against the members' mean instead of the one baseline net the student kept ${pct(ev.vsMemberMean, 0)}`);
    if (parts.length) out.push(`${parts.join('; ')}.`.replace(/^./, (ch) => ch.toUpperCase()));
  }
  for (const n of g.notes) out.push(`Share of the gain undefined for ${n}.`);
  const fs = fidelitySentence(r);
  if (fs) out.push(fs);
  const s = r.significance.studentVsBaseline;
  if (s) out.push(significanceSentence(s, r));
  return out;
}

function nameOf(r: ReportJson, id: string): string {
  return r.systems[id]?.label ?? id;
}

export function significanceSentence(s: SignificanceTest, r: ReportJson): string {
  const level = `${Math.round(100 * s.confidence)}%`;
  return `${nameOf(r, s.a)} minus ${nameOf(r, s.b)} WER on ${s.split}: ${signedPoints(s.deltaWer, 2)} points ` +
    `(${level} CI ${signedPoints(s.ciLow, 2)} to ${signedPoints(s.ciHigh, 2)}, paired bootstrap over ${int(s.utterances)} utterances, ${int(s.replicates)} replicates); ` +
    (s.significant ? `significant at ${level}` : `not significant at ${level}`) + `; ${nameOf(r, s.a)} better in ${pct(s.probABetter, 1)} of replicates.`;
}

export function significanceTable(r: ReportJson): Table {
  const tests = [r.significance.studentVsBaseline, r.significance.studentVsEnsemble, r.significance.ensembleVsBaseline].filter((t): t is SignificanceTest => t !== null);
  return table(
    ['Comparison (A - B)', 'Split', 'WER difference (points)', 'Confidence interval', 'P(A better)', 'Significant'],
    tests.map((t) => [
      `${nameOf(r, t.a)} - ${nameOf(r, t.b)}`, t.split, signedPoints(t.deltaWer, 2),
      `${Math.round(100 * t.confidence)}%: [${signedPoints(t.ciLow, 2)}, ${signedPoints(t.ciHigh, 2)}]`, pct(t.probABetter, 1), t.significant ? 'yes' : 'no',
    ]),
    [false, false, true, false, true, false],
  );
}

export function softTargetTable(r: ReportJson): Table | null {
  const s = r.softTargets;
  if (!s) return null;
  const rows = [
    ['Temperature T', String(s.T)],
    ['Probabilities kept per frame (top k)', int(s.k)],
    ['Mean probability mass kept', pct(s.keptMass, 2)],
    ['Bytes per frame', s.bytesPerFrame.toFixed(1)],
  ];
  if (s.denseBytesPerFrame !== undefined) {
    rows.push(['Dense float32 bytes per frame', s.denseBytesPerFrame.toFixed(1)]);
    if (s.bytesPerFrame > 0) rows.push(['Saving against dense', `${(s.denseBytesPerFrame / s.bytesPerFrame).toFixed(1)}x`]);
  }
  if (s.combination) rows.push(['Combination of the members', s.combination]);
  if (s.hardWeight !== undefined) rows.push(['Weight of the hard-label term', String(s.hardWeight)]);
  return table(['Soft targets', 'Value'], rows, [false, true]);
}

export function sweepTable(r: ReportJson): Table | null {
  if (!r.temperatureSweep?.length) return null;
  return table(
    ['T', 'Dev frame acc.', 'Test frame acc.', 'Dev WER', 'Test WER', 'Kept mass'],
    r.temperatureSweep.map((p) => [String(p.T), pct(p.frameAccuracy.dev), pct(p.frameAccuracy.test), pct(p.wer.dev), pct(p.wer.test), pct(p.keptMass, 2)]),
    [true, true, true, true, true, true],
  );
}

export const FIDELITY_CAPTION = 'Agreement: share of frames whose top senone is the ensemble\'s. KL: mean KL(ensemble || net) per frame at T = 1. The baseline never saw the ensemble: it is what agreement a net of the same size reaches without distillation. A student far closer to the ensemble on the training utterances than on test reproduces its teacher only where the soft targets were.';

/** Fidelity to the ensemble: top-1 agreement and KL per split where measured. */
export function fidelityTable(r: ReportJson): Table | null {
  if (!r.fidelity?.length) return null;
  const splits = (['train', 'dev', 'test'] as const).filter((s) => r.fidelity!.some((x) => x[s]));
  const name = { train: 'Train', dev: 'Dev', test: 'Test' };
  return table(
    ['System', ...splits.flatMap((s) => [`${name[s]} agreement`, `${name[s]} KL (nats)`])],
    r.fidelity.map((x) => [nameOf(r, x.system), ...splits.flatMap((s) => (x[s] ? [pct(x[s]!.agreement), x[s]!.klNats.toFixed(3)] : ['n/a', 'n/a']))]),
    [false, ...splits.flatMap(() => [true, true])],
  );
}

/** The sentence comparing the student's and the baseline's agreement with the ensemble, train against test. */
export function fidelitySentence(r: ReportJson): string | null {
  const st = r.fidelity?.find((x) => x.system === 'student'), b = r.fidelity?.find((x) => x.system === 'baseline');
  if (!st?.test || !b?.test) return null;
  const onTrain = st.train && b.train ? `; on the training utterances ${pct(st.train.agreement)} (baseline ${pct(b.train.agreement)})` : '';
  return `The student's top senone is the ensemble's on ${pct(st.test.agreement)} of test frames, the baseline's on ${pct(b.test.agreement)}${onTrain}.`;
}

/** Last epoch of each trained system. */
export function curveTable(r: ReportJson): Table | null {
  const ids = orderedSystemIds(Object.keys(r.systems)).filter((id) => r.systems[id].trainingCurve.length);
  if (!ids.length) return null;
  const anyAveraged = ids.some((id) => r.systems[id].averaged);
  return table(
    ['System', 'Epochs', 'Final training loss', 'Best dev frame acc.', 'Final learning rate', ...(anyAveraged ? ['Final model'] : [])],
    ids.map((id) => {
      const c = r.systems[id].trainingCurve;
      const last = c[c.length - 1];
      const devs = c.map((e) => e.devFrameAccuracy).filter((v): v is number => v !== null);
      const a = r.systems[id].averaged;
      const final = a ? `weights averaged over epochs ${a.fromEpoch}-${a.toEpoch}${a.devFrameAccuracy !== null ? ` (dev ${pct(a.devFrameAccuracy, 2)})` : ''}` : 'best dev epoch';
      return [r.systems[id].label, String(last.epoch), last.trainLoss.toFixed(4), devs.length ? pct(Math.max(...devs), 2) : 'n/a', String(Number(last.learningRate.toPrecision(4))), ...(anyAveraged ? [final] : [])];
    }),
    [false, true, true, true, true, ...(anyAveraged ? [false] : [])],
  );
}

export function speakerTable(r: ReportJson): Table | null {
  if (!r.perSpeaker?.rows.length) return null;
  const ids = orderedSystemIds(Object.keys(r.systems)).filter((id) => r.perSpeaker!.rows.some((row) => id in row.wer));
  return table(
    ['Speaker', 'Ref words', ...ids.map((id) => `${r.systems[id].label} WER`)],
    r.perSpeaker.rows.map((row) => [row.speaker, int(row.refWords), ...ids.map((id) => pct(row.wer[id] ?? null))]),
    [false, true, ...ids.map(() => true)],
  );
}

/** A frequent error as a table cell: `ref -> hyp`, `(insertion) hyp`, `(deletion) ref`; `word` escapes the words. */
export function frequentErrorLabel(x: FrequentErrorRow, word: (w: string) => string = (w) => w): string {
  return x.kind === 'substitution' ? `${word(x.ref!)} -> ${word(x.hyp!)}` : x.kind === 'insertion' ? `(insertion) ${word(x.hyp!)}` : `(deletion) ${word(x.ref!)}`;
}

/** The most frequent errors side by side: one row per error, one count column per system. */
export function frequentErrorTable(r: ReportJson): Table | null {
  const f = r.frequentErrors;
  if (!f?.rows.length) return null;
  return table(
    ['Error', ...f.systems.map((id) => r.systems[id]?.label ?? id)],
    f.rows.map((x) => [frequentErrorLabel(x), ...f.systems.map((id) => int(x.counts[id]))]),
    [false, ...f.systems.map(() => true)],
  );
}

export const FREQUENT_ERRORS_CAPTION = "Each system's most frequent confusion pairs (REF -> HYP), insertions and deletions, with every system's count of each (sclite's error lists; all of them in score/<system>/<split>.dtl).";

export function stageTable(r: ReportJson): Table | null {
  const names = Object.keys(r.stages);
  if (!names.length) return null;
  return table(
    ['Stage', 'Wall time', 'Seconds'],
    [...names.map((n) => [n, duration(r.stages[n]), r.stages[n].toFixed(1)]), ['total', duration(r.totalSec), r.totalSec.toFixed(1)]],
    [false, true, true],
  );
}

export function environmentTable(r: ReportJson): Table {
  const e = r.environment;
  const rows = [['Backend', e.backend], ['Commit', e.commit ?? '(not a git checkout)'], ['Config hash', e.configHash]];
  if (e.host) rows.push(['Host', e.host]);
  for (const k of Object.keys(e.versions).sort()) rows.push([k, e.versions[k]]);
  if (r.corpus.recipe) rows.push(['Recipe', r.corpus.recipe]);
  return table(['Item', 'Value'], rows, [false, false]);
}

export function systemIsMember(id: string): boolean {
  return MEMBER_ID.test(id);
}
