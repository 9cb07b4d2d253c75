/** The report's figures, as SVG strings built from a ReportJson. */
import { MEMBER_ID, type ReportJson } from './types.ts';
import { barChart, lineChart, type LineSeries } from './svg.ts';
import { orderedSystemIds } from './build.ts';
import { pct } from './format.ts';

export interface Figure {
  /** File name under plots/ (and element id prefix in the HTML). */
  name: string;
  title: string;
  caption: string;
  svg: string;
}

export const SYSTEM_COLORS: Record<string, string> = { baseline: '#0072B2', ensemble: '#009E73', student: '#D55E00' };
const MEMBER_COLOR = '#8c8c8c';

const pctTick = (v: number) => `${Number((100 * v).toFixed(4))}%`;
const pctValue = (v: number) => pct(v, 1);

function colorOf(id: string): string {
  return SYSTEM_COLORS[id] ?? MEMBER_COLOR;
}

type SystemIds = readonly string[];
type CurveEpoch = ReportJson['systems'][string]['trainingCurve'][number];

const labelOf = (r: ReportJson, id: string) => r.systems[id].label;

/** All figures the report has data for, in report order. */
export function buildFigures(r: ReportJson): Figure[] {
  const ids = orderedSystemIds(Object.keys(r.systems));
  const figs: (Figure | null)[] = [
    testFrameAccuracyFigure(r, ids),
    testWerFigure(r, ids),
    ...trainingCurveFigures(r, ids),
    temperatureSweepFigure(r),
    perSpeakerWerFigure(r, ids),
    stageTimesFigure(r),
  ];
  return figs.filter((f): f is Figure => f !== null);
}

/** Test frame accuracy per system, members included (grey). */
function testFrameAccuracyFigure(r: ReportJson, ids: SystemIds): Figure | null {
  const withFa = ids.filter((id) => r.systems[id].frameAccuracy.test !== null);
  if (!withFa.length) return null;
  return {
    name: 'test-frame-accuracy',
    title: 'Test frame accuracy per system',
    caption: "Frame accuracy against the forced alignment on the test set (grey: the ensemble's single nets).",
    svg: barChart({
      id: 'test-frame-accuracy',
      title: 'Test frame accuracy per system',
      valueLabel: 'frame accuracy',
      categories: withFa.map((id) => labelOf(r, id)),
      formatValue: pctValue,
      formatAxis: pctTick,
      series: [
        {
          name: 'test frame accuracy',
          values: withFa.map((id) => r.systems[id].frameAccuracy.test),
          valueColors: withFa.map(colorOf),
        },
      ],
    }),
  };
}

/** Test WER per system. */
function testWerFigure(r: ReportJson, ids: SystemIds): Figure | null {
  const withWer = ids.filter((id) => r.systems[id].wer.test !== null);
  if (!withWer.length) return null;
  return {
    name: 'test-wer',
    title: 'Test WER per system',
    caption: 'Word error rate on the test set (sub + del + ins over reference words).',
    svg: barChart({
      id: 'test-wer',
      title: 'Test WER per system',
      valueLabel: 'word error rate',
      categories: withWer.map((id) => labelOf(r, id)),
      formatValue: pctValue,
      formatAxis: pctTick,
      series: [
        { name: 'test WER', values: withWer.map((id) => r.systems[id].wer.test), valueColors: withWer.map(colorOf) },
      ],
    }),
  };
}

/**
 * The training curves: dev frame accuracy (when any system has one), training loss and learning
 * rate per epoch; the ensemble's members are drawn thin and grey under one legend entry.
 */
function trainingCurveFigures(r: ReportJson, ids: SystemIds): Figure[] {
  const curves = ids.filter((id) => r.systems[id].trainingCurve.length);
  if (!curves.length) return [];
  const members = curves.filter((id) => MEMBER_ID.test(id));
  const series = (pick: (e: CurveEpoch) => number | null): LineSeries[] =>
    curves.map((id) => ({
      name: MEMBER_ID.test(id) ? (members.length > 1 ? `members (${members.length})` : labelOf(r, id)) : labelOf(r, id),
      color: colorOf(id),
      widthPx: MEMBER_ID.test(id) ? 1.2 : 2.2,
      layer: MEMBER_ID.test(id) ? 0 : 1,
      showInLegend: !MEMBER_ID.test(id) || id === members[0],
      points: r.systems[id].trainingCurve.map((e) => [e.epoch, pick(e)] as const),
    }));
  const figs: Figure[] = [];
  const hasDev = curves.some((id) => r.systems[id].trainingCurve.some((e) => e.devFrameAccuracy !== null));
  if (hasDev) {
    figs.push({
      name: 'curve-dev-frame-accuracy',
      title: 'Dev frame accuracy during training',
      caption: "Frame accuracy on dev after each epoch (grey: the ensemble's members).",
      svg: lineChart({
        id: 'curve-dev-frame-accuracy',
        title: 'Dev frame accuracy during training',
        xLabel: 'epoch',
        yLabel: 'dev frame accuracy',
        integerX: true,
        formatY: pctTick,
        series: series((e) => e.devFrameAccuracy),
      }),
    });
  }
  figs.push({
    name: 'curve-train-loss',
    title: 'Training loss',
    caption:
      "Training objective per epoch. The student's is the distillation loss (T\u00b2 \u00b7 soft cross-entropy + weighted hard cross-entropy), not comparable in value to the others' cross-entropy.",
    svg: lineChart({
      id: 'curve-train-loss',
      title: 'Training loss',
      xLabel: 'epoch',
      yLabel: 'training loss',
      integerX: true,
      series: series((e) => e.trainLoss),
    }),
  });
  figs.push({
    name: 'curve-learning-rate',
    title: 'Learning rate',
    caption:
      'Learning rate used in each epoch (log scale; set by the recipe schedule: newbob, exponential or constant).',
    svg: lineChart({
      id: 'curve-learning-rate',
      title: 'Learning rate',
      xLabel: 'epoch',
      yLabel: 'learning rate',
      integerX: true,
      yScale: 'log',
      series: series((e) => e.learningRate),
    }),
  });
  return figs;
}

/** Student frame accuracy against the distillation temperature, with the baseline and ensemble on dev as references. */
function temperatureSweepFigure(r: ReportJson): Figure | null {
  if (!r.temperatureSweep?.length) return null;
  const refs = [];
  for (const id of ['baseline', 'ensemble'] as const) {
    const v = r.systems[id].frameAccuracy.dev;
    if (v !== null) refs.push({ y: v, label: `${labelOf(r, id)} (dev)`, color: colorOf(id) });
  }
  const series: LineSeries[] = [
    {
      name: 'student, dev',
      color: colorOf('student'),
      points: r.temperatureSweep.map((p) => [p.T, p.frameAccuracy.dev] as const),
    },
  ];
  if (r.temperatureSweep.some((p) => p.frameAccuracy.test !== null)) {
    series.push({
      name: 'student, test',
      color: colorOf('student'),
      dashed: true,
      points: r.temperatureSweep.map((p) => [p.T, p.frameAccuracy.test] as const),
    });
  }
  return {
    name: 'temperature-sweep',
    title: 'Student frame accuracy against distillation temperature',
    caption:
      'Each point is a student distilled at temperature T; dotted lines are the baseline and the ensemble on dev.',
    svg: lineChart({
      id: 'temperature-sweep',
      title: 'Student frame accuracy against distillation temperature',
      xLabel: 'temperature T',
      yLabel: 'frame accuracy',
      formatY: pctTick,
      series,
      referenceLines: refs,
    }),
  };
}

/** WER per speaker of one split, one bar per system (members left out). */
function perSpeakerWerFigure(r: ReportJson, ids: SystemIds): Figure | null {
  const perSpeaker = r.perSpeaker;
  if (!perSpeaker?.rows.length) return null;
  const sys = ids.filter((id) => perSpeaker.rows.some((row) => id in row.wer) && !MEMBER_ID.test(id));
  return {
    name: 'per-speaker-wer',
    title: `WER per speaker (${perSpeaker.split})`,
    caption: `Word error rate per ${perSpeaker.split} speaker.`,
    svg: barChart({
      id: 'per-speaker-wer',
      title: `WER per speaker (${perSpeaker.split})`,
      valueLabel: 'word error rate',
      formatValue: pctValue,
      formatAxis: pctTick,
      categories: perSpeaker.rows.map((row) => row.speaker),
      series: sys.map((id) => ({
        name: labelOf(r, id),
        color: colorOf(id),
        values: perSpeaker.rows.map((row) => row.wer[id] ?? null),
      })),
    }),
  };
}

/** Wall time per pipeline stage. */
function stageTimesFigure(r: ReportJson): Figure | null {
  const stages = Object.keys(r.stages);
  if (!stages.length) return null;
  return {
    name: 'stage-times',
    title: 'Wall time per stage',
    caption: `Seconds per pipeline stage; ${Math.round(r.totalSec)} s in all.`,
    svg: barChart({
      id: 'stage-times',
      title: 'Wall time per stage',
      valueLabel: 'seconds',
      categories: stages,
      series: [{ name: 'seconds', values: stages.map((s) => r.stages[s]), color: '#56B4E9' }],
    }),
  };
}
