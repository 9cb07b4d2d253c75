/**
 * The report's content as plain tables and sentences, shared by the Markdown and HTML renderers
 * (each escapes the text for its own format).
 */
import { MEMBER_ID, type FrequentErrorRow, type LabelsInput, type ReportJson, type SignificanceTest } from './types.ts';
import type { LabelQuality } from '../align/score.ts';
import { orderedSystemIds, table1SystemIds } from './build.ts';
import type { DifferencesReport, IntervalOrNote, MetricDifferences } from './differences.ts';
import { duration, int, pct, plural, signedMs, signedPoints } from './format.ts';

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

/** Table 1 for this corpus beside the paper's numbers (the control, when present, beside the baseline). */
export function table1(r: ReportJson): Table {
  const p = r.paper;
  const paperRow: Record<string, [string, { frameAccuracy: number; wer: number }]> = {
    baseline: ['Baseline', p.baseline],
    ensemble: [`${p.ensemble.members}xEnsemble`, p.ensemble],
    student: ['Distilled single model', p.student],
  };
  const rows = table1SystemIds(Object.keys(r.systems)).map((id) => {
    const q = paperRow[id];
    return [
      r.systems[id].label,
      pct(r.systems[id].frameAccuracy.test),
      pct(r.systems[id].wer.test),
      q ? q[0] : '',
      q ? pct(q[1].frameAccuracy) : '',
      q ? pct(q[1].wer) : '',
    ];
  });
  // Without the differences (no per-utterance counts) the share closes Table 1 as before.
  if (!r.differences)
    rows.push([
      GAIN_KEPT_LABEL,
      pct(r.gainRecovered.frameAccuracy, 0),
      pct(r.gainRecovered.wer, 0),
      '',
      pct(p.gainRecovered.frameAccuracy, 0),
      pct(p.gainRecovered.wer, 0),
    ]);
  return table(
    ['System', 'Test frame accuracy', 'Test WER', 'Paper system', 'Paper frame accuracy', 'Paper WER'],
    rows,
    [false, true, true, false, true, true],
  );
}

export const GAIN_KEPT_LABEL = "Share of the ensemble's gain kept";

export const SHARE_CAPTION =
  "Share kept = (student - baseline) / (ensemble - baseline) for frame accuracy, (baseline - student) / (baseline - ensemble) for WER; with a control, student - control is the soft targets' own gain (the control trains on the student's transfer set with hard labels only).";

/** An interval cell: `[-1.20, +0.40]` in points, or why there is none. */
export function intervalCell(
  ci: IntervalOrNote,
  note: string | null,
  fmt: (v: number) => string = (v) => signedPoints(v, 2),
): string {
  return ci.low === null || ci.high === null ? (note ?? 'n/a') : `[${fmt(ci.low)}, ${fmt(ci.high)}]`;
}

/**
 * The differences A - B of frame accuracy and WER with their speaker-bootstrap intervals, then the
 * share of the ensemble's gain kept; `name` gives a system's display name, `paper` adds the paper's
 * differences (Table 1 of Hinton et al.).
 */
export function differencesTable(
  d: DifferencesReport,
  name: (id: string) => string,
  paper?: ReportJson['paper'],
): Table {
  const level = `${Math.round(100 * d.confidence)}% CI (speakers)`;
  const metrics = [d.frameAccuracy, d.wer];
  const pairs: [string, string][] = [];
  for (const m of metrics)
    for (const x of m?.differences ?? []) if (!pairs.some(([a, b]) => a === x.a && b === x.b)) pairs.push([x.a, x.b]);
  const cells = (m: MetricDifferences | null, a: string, b: string) => {
    const x = m?.differences.find((y) => y.a === a && y.b === b);
    return x ? [signedPoints(x.value, 2), intervalCell(x.ci, m!.note)] : ['n/a', 'n/a'];
  };
  const paperOf = (id: string) =>
    paper && (id === 'baseline' || id === 'ensemble' || id === 'student') ? paper[id] : null;
  const paperCells = (a: string, b: string) => {
    const pa = paperOf(a),
      pb = paperOf(b);
    return paper
      ? pa && pb
        ? [signedPoints(pa.frameAccuracy - pb.frameAccuracy, 1), signedPoints(pa.wer - pb.wer, 1)]
        : ['', '']
      : [];
  };
  const rows = pairs.map(([a, b]) => [
    `${name(a)} - ${name(b)}`,
    ...cells(d.frameAccuracy, a, b),
    ...cells(d.wer, a, b),
    ...paperCells(a, b),
  ]);
  const share = (m: MetricDifferences | null) =>
    m ? [pct(m.gainKept.value, 0), intervalCell(m.gainKept.ci, m.note, (v) => pct(v, 0))] : ['n/a', 'n/a'];
  rows.push([
    GAIN_KEPT_LABEL,
    ...share(d.frameAccuracy),
    ...share(d.wer),
    ...(paper ? [pct(paper.gainRecovered.frameAccuracy, 0), pct(paper.gainRecovered.wer, 0)] : []),
  ]);
  return table(
    [
      'Difference (A - B)',
      'Frame accuracy (points)',
      level,
      'WER (points)',
      level,
      ...(paper ? ['Paper frame acc.', 'Paper WER'] : []),
    ],
    rows,
    [false, true, false, true, false, ...(paper ? [true, true] : [])],
  );
}

/** The sentences under the differences: how the intervals were made, the utterance bootstrap for comparison, and why a share is not meaningful. */
export function differencesNotes(d: DifferencesReport, name: (id: string) => string): string[] {
  const out: string[] = [];
  const m = d.frameAccuracy ?? d.wer!;
  const level = `${Math.round(100 * d.confidence)}%`;
  out.push(
    `Intervals: ${level} two-stage bootstrap over the ${m.speakers} test speaker${m.speakers === 1 ? '' : 's'} (${m.utterances} utterances): speakers drawn with replacement, then utterances within each drawn speaker; ${d.replicates} replicates, seed ${d.seed}. ` +
      "A speaker's utterances are not independent (in FSDD connected digits they reuse the same recorded takes), so the speaker is the unit resampled; the intervals cover test-speaker sampling, not the nets' seed spread.",
  );
  if (m.note) out.push(`No interval (${m.note}): the variation between speakers cannot be estimated from one speaker.`);
  const utt = (x: MetricDifferences | null, unit: string) => {
    const sb = x?.differences.find((y) => y.a === 'student' && y.b === 'baseline');
    return sb ? `${unit} ${intervalCell(sb.utteranceCi, null)}` : null;
  };
  const u = [utt(d.frameAccuracy, 'frame accuracy'), utt(d.wer, 'WER')].filter(Boolean);
  if (u.length)
    out.push(
      `For comparison only, the utterance bootstrap (which treats utterances as independent, and so is too narrow here) gives ${name('student')} - ${name('baseline')}: ${u.join(', ')} points.`,
    );
  for (const x of [d.frameAccuracy, d.wer]) if (x?.gainKept.note) out.push(x.gainKept.note);
  return out;
}

/** One sentence per metric with every difference and its interval, the share kept last. */
export function differenceSentences(d: DifferencesReport, name: (id: string) => string): string[] {
  const level = `${Math.round(100 * d.confidence)}%`;
  return (
    [
      [d.frameAccuracy, 'frame accuracy'],
      [d.wer, 'WER'],
    ] as const
  ).flatMap(([m, what]) => {
    if (!m) return [];
    const parts = m.differences.map(
      (x) => `${name(x.a)} - ${name(x.b)} ${signedPoints(x.value, 2)} (${intervalCell(x.ci, m.note)})`,
    );
    const g = m.gainKept;
    const share =
      g.value === null
        ? 'share of the gain kept undefined'
        : `share of the ensemble's gain kept ${pct(g.value, 0)} (${intervalCell(g.ci, m.note, (v) => pct(v, 0))})${g.meaningful === false ? ', not meaningful (below)' : ''}`;
    return [`Test ${what} differences in points, ${level} speaker-bootstrap intervals: ${parts.join('; ')}; ${share}.`];
  });
}

export const LABELS_TITLE = 'Frame labels';

/** The forced alignment behind every frame label: per split, utterances aligned and failed, and the quality against reference timings. */
export function labelsTable(r: ReportJson): Table | null {
  const l = r.labels;
  if (!l) return null;
  const q = (s: LabelsInput['splits'][number], f: (x: LabelQuality) => string) => (s.quality ? f(s.quality) : 'n/a');
  return table(
    [
      'Split',
      'Aligned',
      'Failed',
      'Boundaries within 20 / 50 ms',
      'Word starts / ends within 50 ms',
      'Median start / end offset',
      'Silence outside reference pauses',
    ],
    l.splits.map((s) => [
      s.split,
      int(s.aligned),
      int(s.failed),
      q(s, (x) => `${x.boundariesWithin20ms.toFixed(1)}% / ${x.boundariesWithin50ms.toFixed(1)}%`),
      q(
        s,
        (x) =>
          `${x.startsWithin50ms.toFixed(1)}%${x.endsWithin50ms === undefined ? '' : ` / ${x.endsWithin50ms.toFixed(1)}%`}`,
      ),
      q(s, (x) =>
        x.medianStartOffsetMs === undefined || x.medianEndOffsetMs === undefined
          ? 'n/a'
          : `${signedMs(x.medianStartOffsetMs)} / ${signedMs(x.medianEndOffsetMs)}`,
      ),
      q(s, (x) => (x.silenceOutsidePauses === null ? 'n/a' : `${x.silenceOutsidePauses.toFixed(1)}%`)),
    ]),
    [false, true, true, true, true, true, true],
  );
}

export function labelsNotes(r: ReportJson): string[] {
  const l = r.labels;
  if (!l) return [];
  const by = l.models.length
    ? `${l.models.at(-1)} (chain ${l.models.join(' -> ')})`
    : 'a given model (align stage run with modelDir)';
  return [
    `Labels: forced alignment with ${by}, ${int(l.senones)} senones, ${int(l.gaussians)} Gaussians. Quality is measured against the corpus's reference word timings where it has them (n/a: none). Frame accuracies are relative to these labels, so they compare across systems, not across labelings; WERs compare across both.`,
  ];
}

export const OTHER_SPLITS_TITLE = 'Other test sets';

/**
 * Table 1's systems on each decoded split besides dev and test (report.json `otherSplits`): the
 * WER, and the frame accuracy where the eval stage scored the split; null when there is none.
 */
export function otherSplitsTable(r: ReportJson): Table | null {
  const splits = r.otherSplits ?? [];
  if (!splits.length) return null;
  const ids = table1SystemIds(Object.keys(r.systems)).filter((id) => splits.some((o) => o.systems[id]));
  const cols = splits.flatMap((o) => [
    { head: `${o.split} WER`, cell: (id: string) => pct(o.systems[id]?.wer ?? null) },
    ...(ids.some((id) => o.systems[id]?.frameAccuracy != null)
      ? [{ head: `${o.split} frame acc.`, cell: (id: string) => pct(o.systems[id]?.frameAccuracy ?? null) }]
      : []),
  ]);
  return table(
    ['System', ...cols.map((c) => c.head)],
    ids.map((id) => [r.systems[id].label, ...cols.map((c) => c.cell(id))]),
    [false, ...cols.map(() => true)],
  );
}

/** The sentence under the other test sets: each split's size (from the first system with counts). */
export function otherSplitsNotes(r: ReportJson): string[] {
  return (r.otherSplits ?? []).flatMap((o) => {
    const c = Object.values(o.systems).find((x) => x.werCounts)?.werCounts;
    if (!c) return [];
    return [
      `${o.split}: ${c.sentences !== null ? `${plural(c.sentences, 'utterance')}, ` : ''}${plural(c.refWords, 'reference word')}; decoded with the same models as Table 1.`,
    ];
  });
}

/** Every system with dev and test numbers and the test WER's error counts. */
export function systemsTable(r: ReportJson): Table {
  const ids = orderedSystemIds(Object.keys(r.systems));
  return table(
    [
      'System',
      'Parameters',
      'Dev frame acc.',
      'Test frame acc.',
      'Dev WER',
      'Test WER',
      'Sub',
      'Del',
      'Ins',
      'Ref words',
    ],
    ids.map((id) => {
      const s = r.systems[id];
      const c = s.werCounts.test;
      return [
        s.label,
        int(s.parameters),
        pct(s.frameAccuracy.dev),
        pct(s.frameAccuracy.test),
        pct(s.wer.dev),
        pct(s.wer.test),
        c ? int(c.sub) : 'n/a',
        c ? int(c.del) : 'n/a',
        c ? int(c.ins) : 'n/a',
        c ? int(c.refWords) : 'n/a',
      ];
    }),
    [false, true, true, true, true, true, true, true, true, true],
  );
}

export function corpusTable(r: ReportJson): Table {
  const rows: string[][] = [];
  for (const k of ['train', 'dev', 'test'] as const) {
    const s = r.corpus.splits[k];
    if (s)
      rows.push([
        k,
        int(s.utterances),
        int(s.speakers),
        (s.durationSec / 3600).toFixed(2),
        s.frames !== undefined ? int(s.frames) : 'n/a',
      ]);
  }
  return table(['Split', 'Utterances', 'Speakers', 'Hours', 'Frames'], rows, [false, true, true, true, true]);
}

/** The sentences under the corpus table: senones, vocabulary, VTLP copies. */
export function corpusNotes(r: ReportJson): string[] {
  const facts = [
    r.corpus.numSenones !== undefined ? `${int(r.corpus.numSenones)} senones` : '',
    r.corpus.vocabularySize !== undefined ? `${int(r.corpus.vocabularySize)} words in the vocabulary` : '',
  ].filter(Boolean);
  const out = facts.length ? [`${facts.join(', ')}.`] : [];
  for (const k of ['train', 'dev', 'test'] as const) {
    const w = r.corpus.splits[k]?.vtlpWarps;
    if (!w?.length) continue;
    const head = `${k}: VTLP augmentation, one copy of every utterance per warp factor (${w.join(', ')}) as a speaker of its own`;
    const use = r.corpus.splits[k]?.vtlpCopiesFor ?? { models: true, student: true };
    const times = `${1 + w.length} times the frames shown`;
    out.push(
      use.models && use.student
        ? `${head}, so the nets train on ${times}.`
        : !use.models && use.student
          ? `${head}. The baseline and the members train on the original recordings only; the student's transfer set holds the copies too (${times}), labelled by the ensemble's soft targets and the alignment.`
          : use.models
            ? `${head}. The baseline and the members train on ${times}; the student on the original recordings only.`
            : `${head}, but no net trains on them.`,
    );
    const how = r.corpus.splits[k]?.vtlpAlignment;
    if (how === 'inherit')
      out.push(
        `Each copy has its source recording's frame labels (the GMM-HMM trained on the original recordings only).`,
      );
    if (how === 'realign')
      out.push(`Each copy was force-aligned on its own warped features (the GMM-HMM trained on the copies too).`);
  }
  return out;
}

/** Sentences summing up the answer to the paper's question: the rates, then the differences with their intervals, then the share kept. */
export function summarySentences(r: ReportJson): string[] {
  const out: string[] = [];
  const g = r.gainRecovered,
    p = r.paper.gainRecovered;
  const ids = table1SystemIds(Object.keys(r.systems));
  const name = (id: string) =>
    id === 'ensemble'
      ? ensembleLabel(r)
      : id === 'student'
        ? 'distilled student'
        : id === 'control'
          ? 'control baseline'
          : id;
  out.push(
    `Test frame accuracy: ${ids.map((id) => `${name(id)} ${pct(r.systems[id].frameAccuracy.test)}`).join(', ')}; ` +
      `test WER ${ids.map((id) => pct(r.systems[id].wer.test)).join(', ')}.`,
  );
  const d = r.differences;
  if (d) {
    out.push(...differenceSentences(d, name));
    for (const m of [d.frameAccuracy, d.wer])
      if (m?.gainKept.meaningful === false && m.gainKept.note) out.push(m.gainKept.note);
    if (g.frameAccuracy !== null || g.wer !== null)
      out.push(
        `Paper: ${pct(p.frameAccuracy, 0)} of the frame-accuracy gain and ${pct(p.wer, 0)} of the WER gain kept.`,
      );
  } else if (g.frameAccuracy !== null || g.wer !== null) {
    out.push(
      `The student kept ${pct(g.frameAccuracy, 0)} of the ensemble's frame-accuracy gain and ${pct(g.wer, 0)} of its WER gain (paper: ${pct(p.frameAccuracy, 0)} and ${pct(p.wer, 0)}).`,
    );
  }
  const ev = g.frameAccuracyEvidence;
  if (ev && g.frameAccuracy !== null) {
    const parts: string[] = [];
    // The eval stage's interval resamples utterances; it is shown only when there is no speaker-level one.
    if (!d && ev.ci && ev.ci.low !== null && ev.ci.high !== null) {
      parts.push(
        `${Math.round(100 * ev.ci.confidence)}% CI of the frame-accuracy share ${pct(ev.ci.low, 0)} to ${pct(ev.ci.high, 0)} (paired bootstrap over ${int(ev.ci.utterances)} test utterances, ${int(ev.ci.replicates)} replicates; utterances treated as independent, so too narrow where a speaker's utterances share recordings)`,
      );
    } else if (!d && ev.ci) {
      parts.push(
        `no confidence interval: the ensemble's gain vanishes in most of ${int(ev.ci.replicates)} bootstrap replicates`,
      );
    }
    if (ev.vsMemberMean !== null)
      parts.push(
        `against the members' mean instead of the one baseline net the student kept ${pct(ev.vsMemberMean, 0)}`,
      );
    if (parts.length) out.push(`${parts.join('; ')}.`.replace(/^./, (ch) => ch.toUpperCase()));
  }
  for (const n of g.notes) out.push(`Share of the gain undefined for ${n}.`);
  const fs = fidelitySentence(r);
  if (fs) out.push(fs);
  const s = r.significance.studentVsBaseline;
  if (s && !d) out.push(significanceSentence(s, r));
  return out;
}

function nameOf(r: ReportJson, id: string): string {
  return r.systems[id]?.label ?? id;
}

export function significanceSentence(s: SignificanceTest, r: ReportJson): string {
  const level = `${Math.round(100 * s.confidence)}%`;
  return (
    `${nameOf(r, s.a)} minus ${nameOf(r, s.b)} WER on ${s.split}: ${signedPoints(s.deltaWer, 2)} points ` +
    `(${level} CI ${signedPoints(s.ciLow, 2)} to ${signedPoints(s.ciHigh, 2)}, paired bootstrap over ${int(s.utterances)} utterances, ${int(s.replicates)} replicates, utterances treated as independent); ` +
    (s.significant ? `significant at ${level}` : `not significant at ${level}`) +
    `; ${nameOf(r, s.a)} better in ${pct(s.probABetter, 1)} of replicates.`
  );
}

export const SIGNIFICANCE_TITLE = 'WER significance, utterance bootstrap';

export const SIGNIFICANCE_CAPTION =
  "The score stage's paired bootstrap over utterances (Bisani & Ney 2004). It treats the utterances as independent, so where a speaker's utterances share recordings its intervals are too narrow: the differences above, resampled by speaker, are the ones to read.";

export function significanceTable(r: ReportJson): Table {
  const tests = [
    r.significance.studentVsBaseline,
    r.significance.studentVsEnsemble,
    r.significance.ensembleVsBaseline,
  ].filter((t): t is SignificanceTest => t !== null);
  return table(
    ['Comparison (A - B)', 'Split', 'WER difference (points)', 'Confidence interval', 'P(A better)', 'Significant'],
    tests.map((t) => [
      `${nameOf(r, t.a)} - ${nameOf(r, t.b)}`,
      t.split,
      signedPoints(t.deltaWer, 2),
      `${Math.round(100 * t.confidence)}%: [${signedPoints(t.ciLow, 2)}, ${signedPoints(t.ciHigh, 2)}]`,
      pct(t.probABetter, 1),
      t.significant ? 'yes' : 'no',
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
    if (s.bytesPerFrame > 0)
      rows.push(['Saving against dense', `${(s.denseBytesPerFrame / s.bytesPerFrame).toFixed(1)}x`]);
  }
  if (s.combination) rows.push(['Combination of the members', s.combination]);
  if (s.hardWeight !== undefined) rows.push(['Weight of the hard-label term', String(s.hardWeight)]);
  return table(['Soft targets', 'Value'], rows, [false, true]);
}

export function sweepTable(r: ReportJson): Table | null {
  if (!r.temperatureSweep?.length) return null;
  return table(
    ['T', 'Dev frame acc.', 'Test frame acc.', 'Dev WER', 'Test WER', 'Kept mass'],
    r.temperatureSweep.map((p) => [
      String(p.T),
      pct(p.frameAccuracy.dev),
      pct(p.frameAccuracy.test),
      pct(p.wer.dev),
      pct(p.wer.test),
      pct(p.keptMass, 2),
    ]),
    [true, true, true, true, true, true],
  );
}

export const FIDELITY_CAPTION =
  "Agreement: share of frames whose top senone is the ensemble's. KL: mean KL(ensemble || net) per frame at T = 1. The baseline never saw the ensemble: it is what agreement a net of the same size reaches without distillation. A student far closer to the ensemble on the training utterances than on test reproduces its teacher only where the soft targets were.";

/** Fidelity to the ensemble: top-1 agreement and KL per split where measured. */
export function fidelityTable(r: ReportJson): Table | null {
  if (!r.fidelity?.length) return null;
  const splits = (['train', 'dev', 'test'] as const).filter((s) => r.fidelity!.some((x) => x[s]));
  const name = { train: 'Train', dev: 'Dev', test: 'Test' };
  return table(
    ['System', ...splits.flatMap((s) => [`${name[s]} agreement`, `${name[s]} KL (nats)`])],
    r.fidelity.map((x) => [
      nameOf(r, x.system),
      ...splits.flatMap((s) => (x[s] ? [pct(x[s]!.agreement), x[s]!.klNats.toFixed(3)] : ['n/a', 'n/a'])),
    ]),
    [false, ...splits.flatMap(() => [true, true])],
  );
}

/** The sentence comparing the student's and the baseline's agreement with the ensemble, train against test. */
export function fidelitySentence(r: ReportJson): string | null {
  const st = r.fidelity?.find((x) => x.system === 'student'),
    b = r.fidelity?.find((x) => x.system === 'baseline');
  if (!st?.test || !b?.test) return null;
  const onTrain =
    st.train && b.train
      ? `; on the training utterances ${pct(st.train.agreement)} (baseline ${pct(b.train.agreement)})`
      : '';
  return `The student's top senone is the ensemble's on ${pct(st.test.agreement)} of test frames, the baseline's on ${pct(b.test.agreement)}${onTrain}.`;
}

/** Last epoch of each trained system. */
export function curveTable(r: ReportJson): Table | null {
  const ids = orderedSystemIds(Object.keys(r.systems)).filter((id) => r.systems[id].trainingCurve.length);
  if (!ids.length) return null;
  const anyAveraged = ids.some((id) => r.systems[id].averaged);
  return table(
    [
      'System',
      'Epochs',
      'Final training loss',
      'Best dev frame acc.',
      'Final learning rate',
      ...(anyAveraged ? ['Final model'] : []),
    ],
    ids.map((id) => {
      const c = r.systems[id].trainingCurve;
      const last = c[c.length - 1];
      const devs = c.map((e) => e.devFrameAccuracy).filter((v): v is number => v !== null);
      const a = r.systems[id].averaged;
      const final = a
        ? `weights averaged over epochs ${a.fromEpoch}-${a.toEpoch}${a.devFrameAccuracy !== null ? ` (dev ${pct(a.devFrameAccuracy, 2)})` : ''}`
        : 'best dev epoch';
      return [
        r.systems[id].label,
        String(last.epoch),
        last.trainLoss.toFixed(4),
        devs.length ? pct(Math.max(...devs), 2) : 'n/a',
        String(Number(last.learningRate.toPrecision(4))),
        ...(anyAveraged ? [final] : []),
      ];
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
  return x.kind === 'substitution'
    ? `${word(x.ref!)} -> ${word(x.hyp!)}`
    : x.kind === 'insertion'
      ? `(insertion) ${word(x.hyp!)}`
      : `(deletion) ${word(x.ref!)}`;
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

export const FREQUENT_ERRORS_CAPTION =
  "Each system's most frequent confusion pairs (REF -> HYP), insertions and deletions, with every system's count of each (sclite's error lists; all of them in score/<system>/<split>.dtl).";

/**
 * The note under the stage table of a run whose stages were merged from shard jobs
 * (`am-distill job`); null for a run without them.
 */
export function stageJobsNote(r: ReportJson): string | null {
  return r.stageJobs && Object.keys(r.stageJobs).length
    ? "A stage with shard jobs ran as `am-distill job` processes (on a cluster, or the local executor's workers): its wall time is its merge's, and Job seconds sums its jobs' run times, which overlap."
    : null;
}

/**
 * Seconds per stage. A run whose stages were merged from shard jobs (`am-distill job`) gets two
 * more columns: each merged stage's jobs and their summed seconds (its Wall time is the merge's).
 */
export function stageTable(r: ReportJson): Table | null {
  const names = Object.keys(r.stages);
  if (!names.length) return null;
  const jobs = r.stageJobs ?? {};
  const all = Object.values(jobs);
  const withJobs = all.length > 0;
  const jobColumns = (count: string, seconds: string) => (withJobs ? [count, seconds] : []);
  return table(
    ['Stage', 'Wall time', 'Seconds', ...jobColumns('Shard jobs', 'Job seconds')],
    [
      ...names.map((n) => [
        n,
        duration(r.stages[n]),
        r.stages[n].toFixed(1),
        ...jobColumns(jobs[n] ? String(jobs[n].count) : '', jobs[n] ? jobs[n].seconds.toFixed(1) : ''),
      ]),
      [
        'total',
        duration(r.totalSec),
        r.totalSec.toFixed(1),
        ...jobColumns(String(all.reduce((a, j) => a + j.count, 0)), all.reduce((a, j) => a + j.seconds, 0).toFixed(1)),
      ],
    ],
    [false, true, true, ...(withJobs ? [true, true] : [])],
  );
}

export function environmentTable(r: ReportJson): Table {
  const e = r.environment;
  const rows = [
    ['Backend', e.backend],
    ['Commit', e.commit ?? '(not a git checkout)'],
    ['Config hash', e.configHash],
  ];
  if (e.host) rows.push(['Host', e.host]);
  for (const k of Object.keys(e.versions).sort()) rows.push([k, e.versions[k]]);
  if (r.corpus.recipe) rows.push(['Recipe', r.corpus.recipe]);
  return table(['Item', 'Value'], rows, [false, false]);
}

export function systemIsMember(id: string): boolean {
  return MEMBER_ID.test(id);
}
