import { describe, it, expect } from 'vitest';
import { buildReport, gainShare, orderedSystemIds, PAPER_TABLE_1, werFigures } from '../../src/report/build.ts';
import { pairedBootstrapWer } from '../../src/score/significance.ts';
import { curveTable, fidelityTable, summarySentences } from '../../src/report/sections.ts';
import { validateReportInput, validateReportJson } from '../../src/report/validate.ts';
import { renderMarkdown } from '../../src/report/markdown.ts';
import { clone, DEFAULT_SPECS, expectClose, HOSTILE_UTT, makeFixture } from './fixtures.ts';

describe('share of the ensemble gain kept by the student', () => {
  it('reproduces the paper: 86% of the frame-accuracy gain and all of the WER gain', () => {
    const fa = gainShare(0.589, 0.611, 0.608, true, 'fa');
    const wer = gainShare(0.109, 0.107, 0.107, false, 'wer');
    expectClose(fa.value!, 1.9 / 2.2, 1e-9, 'frame accuracy share');
    expectClose(wer.value!, 1, 1e-9, 'WER share');
    const r = buildReport(makeFixture().input);
    expectClose(r.paper.gainRecovered.frameAccuracy, 0.8636363636, 1e-9, 'paper share in report.json');
    expect(r.paper.baseline).toEqual(PAPER_TABLE_1.baseline);
  });
  it('flips the sign for WER: a student below the baseline WER keeps a positive share', () => {
    // baseline 20%, ensemble 10%, student 15%: half the gain
    expectClose(gainShare(0.2, 0.1, 0.15, false, 'wer').value!, 0.5);
    // student worse than the baseline: negative share
    expectClose(gainShare(0.2, 0.1, 0.25, false, 'wer').value!, -0.5);
    // student better than the ensemble: more than all of it
    expectClose(gainShare(0.5, 0.6, 0.65, true, 'fa').value!, 1.5);
  });
  it('is null with a note when the ensemble equals the baseline, is worse, or a number is missing', () => {
    const eq = gainShare(0.6, 0.6, 0.62, true, 'test frame accuracy');
    expect(eq.value).toBeNull();
    expect(eq.note).toMatch(/test frame accuracy: the ensemble equals the baseline/);
    const worse = gainShare(0.1, 0.12, 0.11, false, 'test WER');
    expect(worse.value).toBeNull();
    expect(worse.note).toMatch(/ensemble is worse than the baseline/);
    expect(gainShare(null, 0.6, 0.6, true, 'x').note).toMatch(/not measured/);
  });
  it('in report.json: null and a note when ensemble and baseline have the same test frame accuracy', () => {
    const { input } = makeFixture();
    input.systems.ensemble.frameAccuracy.test = input.systems.baseline.frameAccuracy.test;
    const r = buildReport(input);
    expect(r.gainRecovered.frameAccuracy).toBeNull();
    expect(r.gainRecovered.wer).not.toBeNull();
    expect(r.gainRecovered.notes.join('\n')).toMatch(/the ensemble equals the baseline/);
  });
});

describe('buildReport', () => {
  const { input, scores } = makeFixture();
  const r = buildReport(input, { bootstrapReplicates: 300, seed: 3 });

  it('keeps every system, baseline/ensemble/student first, members in numeric order', () => {
    expect(Object.keys(r.systems)).toEqual(['baseline', 'ensemble', 'student', 'member-1', 'member-2', 'member-3']);
    expect(orderedSystemIds(['member-10', 'student', 'member-2', 'baseline', 'ensemble'])).toEqual([
      'baseline',
      'ensemble',
      'student',
      'member-2',
      'member-10',
    ]);
    expect(r.ensembleSize).toBe(3);
    expect(r.systems.ensemble.label).toBe('3-net ensemble');
    expect(r.systems['member-2'].label).toBe('Member 2');
  });
  it("turns WER counts into fractions equal to the scorer's percentages / 100", () => {
    for (const id of Object.keys(DEFAULT_SPECS)) {
      for (const split of ['dev', 'test'] as const) {
        expectClose(r.systems[id].wer[split]!, scores[id][split].wer / 100, 1e-12, `${id} ${split} WER`);
        expect(r.systems[id].werCounts[split]!.errors).toBe(scores[id][split].errors);
      }
    }
  });
  it('computes the gain shares from the test numbers', () => {
    const s = r.systems;
    expectClose(r.gainRecovered.frameAccuracy!, (0.608 - 0.589) / (0.611 - 0.589), 1e-12, 'frame accuracy share');
    expectClose(
      r.gainRecovered.wer!,
      (s.baseline.wer.test! - s.student.wer.test!) / (s.baseline.wer.test! - s.ensemble.wer.test!),
      1e-12,
      'WER share',
    );
  });
  it("tests significance with src/score's paired bootstrap on the same utterances and seed", () => {
    const t = r.significance.studentVsBaseline!;
    const direct = pairedBootstrapWer(scores.student.test, scores.baseline.test, { replicates: 300, seed: 3 });
    expectClose(t.deltaWer, direct.deltaWer / 100, 1e-12, 'delta');
    expectClose(t.ciLow, direct.ciLow / 100, 1e-12, 'ci low');
    expectClose(t.ciHigh, direct.ciHigh / 100, 1e-12, 'ci high');
    expect(t.probABetter).toBe(direct.probABetter);
    expect(t.significant).toBe(direct.ciLow > 0 || direct.ciHigh < 0);
    expect(t.utterances).toBe(scores.student.test.utterances.length);
    expect(r.significance.ensembleVsBaseline!.a).toBe('ensemble');
  });
  it('finds a large improvement significant and equal systems not', () => {
    const big = makeFixture(11, {
      ...DEFAULT_SPECS,
      baseline: { ...DEFAULT_SPECS.baseline, sub: 0.3 },
      student: { ...DEFAULT_SPECS.student, sub: 0.02, del: 0, ins: 0 },
    });
    const t = buildReport(big.input).significance.studentVsBaseline!;
    expect(t.significant).toBe(true);
    expect(t.ciHigh).toBeLessThan(0);
    const same = makeFixture(11);
    same.input.systems.student = clone(same.input.systems.baseline);
    const u = buildReport(same.input).significance.studentVsBaseline!;
    expect(u.deltaWer).toBe(0);
    expect(u.significant).toBe(false);
  });
  it('says why significance is missing when per-utterance counts are absent', () => {
    const { input: i2 } = makeFixture();
    delete i2.systems.baseline.utterances;
    const s = buildReport(i2).significance;
    expect(s.studentVsBaseline).toBeNull();
    expect(s.notes.join('\n')).toMatch(
      /student vs baseline: not tested \(per-utterance WER counts missing for baseline\)/,
    );
  });
  it('fails naming the systems when they were scored on different utterances', () => {
    const i2 = clone(input);
    i2.systems.baseline.utterances!.test![0].uttId = 'spkZ_other';
    expect(() => buildReport(i2)).toThrow(
      /key 'systems\.student\.utterances\.test': cannot compare student with baseline: .*different references/,
    );
  });
  it("sets the systems' most frequent errors side by side, with exact counts from the alignments", () => {
    const f = r.frequentErrors!;
    expect(f.split).toBe('test');
    expect(f.systems).toEqual(['baseline', 'ensemble', 'student']);
    const count = (id: string, op: string, ref: string | null, hyp: string | null) =>
      scores[id].test.utterances.reduce(
        (a, u) =>
          a +
          u.pairs.filter(
            (p) => p.op === op && (p.ref?.toLowerCase() ?? null) === ref && (p.hyp?.toLowerCase() ?? null) === hyp,
          ).length,
        0,
      );
    const op = { substitution: 'S', insertion: 'I', deletion: 'D' } as const;
    for (const row of f.rows)
      for (const id of f.systems) expect(row.counts[id]).toBe(count(id, op[row.kind], row.ref, row.hyp));
    // Every system's top confusion pair is a row; rows run substitutions, insertions, deletions.
    for (const id of f.systems) {
      const top = input.systems[id].errorLists!.test!.confusionPairs[0];
      expect(
        f.rows.some(
          (x) => x.kind === 'substitution' && x.ref === top.ref && x.hyp === top.hyp && x.counts[id] === top.count,
        ),
      ).toBe(true);
    }
    const kinds = f.rows.map((x) => x.kind);
    expect(kinds).toEqual(
      [...kinds].sort(
        (a, b) =>
          ['substitution', 'insertion', 'deletion'].indexOf(a) - ['substitution', 'insertion', 'deletion'].indexOf(b),
      ),
    );
    expect(f.rows.filter((x) => x.kind === 'substitution').length).toBeLessThanOrEqual(15);
    const i2 = clone(input);
    for (const id of Object.keys(i2.systems)) delete i2.systems[id].errorLists;
    expect(buildReport(i2).frequentErrors).toBeNull();
  });

  it("tabulates per-speaker test WER for every system and picks the student's worst utterances with all systems' alignments", () => {
    expect(r.perSpeaker!.split).toBe('test');
    expect(r.perSpeaker!.rows.map((x) => x.speaker)).toEqual(['spkB', 'spkC', 'spkD']);
    const spkC = scores.student.test.speakers.find((s) => s.speaker === 'spkC')!;
    expectClose(r.perSpeaker!.rows[1].wer.student!, spkC.wer / 100, 1e-12, 'spkC student WER');
    const w = r.worstUtterances!;
    expect(w.system).toBe('student');
    const errs = w.utterances.map((u) => u.errors);
    expect(errs).toEqual([...errs].sort((a, b) => b - a));
    expect(w.utterances.some((u) => u.uttId === HOSTILE_UTT)).toBe(true);
    const first = w.utterances[0];
    const scored = scores.student.test.utterances.find((u) => u.uttId === first.uttId)!;
    expect(first.errors).toBe(scored.errors);
    expect(first.systems.map((s) => s.system)).toEqual([
      'baseline',
      'ensemble',
      'student',
      'member-1',
      'member-2',
      'member-3',
    ]);
  });
  it('limits the worst utterances and leaves them out on 0', () => {
    expect(buildReport(input, { maxWorstUtterances: 2 }).worstUtterances!.utterances).toHaveLength(2);
    expect(buildReport(input, { maxWorstUtterances: 0 }).worstUtterances).toBeNull();
  });
  it('sorts the temperature sweep by T and sums the stage times', () => {
    const i2 = clone(input);
    i2.temperatureSweep = [...i2.temperatureSweep!].reverse();
    const r2 = buildReport(i2);
    expect(r2.temperatureSweep!.map((p) => p.T)).toEqual([1, 2, 4, 8]);
    expectClose(
      r2.totalSec,
      Object.values(input.stages).reduce((a, b) => a + b, 0),
      1e-9,
      'total',
    );
  });
  it("carries the eval stage's gain-kept interval and member-mean share into report.json and the summary", () => {
    const i2 = clone(input);
    i2.frameAccuracyGain = {
      vsMemberMean: 0.731,
      ci: { low: 0.412, high: 1.187, confidence: 0.95, replicates: 1000, utterances: 200 },
    };
    // With per-utterance counts the speaker-bootstrap differences replace the eval stage's utterance interval in the summary.
    expect(summarySentences(buildReport(i2)).join(' ')).not.toContain('paired bootstrap over 200 test utterances');
    for (const id of Object.keys(i2.systems)) delete i2.systems[id].utterances;
    const r2 = buildReport(i2);
    expect(r2.differences).toBeNull();
    expect(r2.gainRecovered.frameAccuracyEvidence).toEqual(i2.frameAccuracyGain);
    const text = summarySentences(r2).join(' ');
    expect(text).toContain(
      '95% CI of the frame-accuracy share 41% to 119% (paired bootstrap over 200 test utterances, 1,000 replicates',
    );
    expect(text).toContain('the student kept 73%');
    expect(buildReport(clone(input)).gainRecovered.frameAccuracyEvidence).toBeUndefined();
    i2.frameAccuracyGain = {
      vsMemberMean: null,
      ci: { low: null, high: null, confidence: 0.95, replicates: 1000, utterances: 200 },
    };
    expect(summarySentences(buildReport(i2)).join(' ')).toContain(
      "No confidence interval: the ensemble's gain vanishes in most of 1,000 bootstrap replicates.",
    );
  });
  it('says which final models are weight averages (report.json and the training-curve table), and checks the span', () => {
    const i2 = clone(input);
    i2.systems.student.averaged = { fromEpoch: 3, toEpoch: 4, devFrameAccuracy: 0.667 };
    const r2 = buildReport(i2);
    expect(r2.systems.student.averaged).toEqual({ fromEpoch: 3, toEpoch: 4, devFrameAccuracy: 0.667 });
    expect(r2.systems.baseline.averaged).toBeUndefined();
    expect(validateReportJson(JSON.parse(JSON.stringify(r2)))).toBeTruthy();
    const t = curveTable(r2)!;
    expect(t.header.at(-1)).toBe('Final model');
    const row = (label: string) => t.rows.find((x) => x[0] === label)!;
    expect(row(r2.systems.student.label).at(-1)).toBe('weights averaged over epochs 3-4 (dev 66.70%)');
    expect(row(r2.systems.baseline.label).at(-1)).toBe('best dev epoch');
    expect(renderMarkdown(r2, [])).toContain('weights averaged over epochs 3-4');
    // Without averaging the table keeps its five columns.
    expect(curveTable(buildReport(clone(input)))!.header).toEqual([
      'System',
      'Epochs',
      'Final training loss',
      'Best dev frame acc.',
      'Final learning rate',
    ]);
    i2.systems.student.averaged = { fromEpoch: 4, toEpoch: 3, devFrameAccuracy: 0.667 };
    expect(() => validateReportInput(i2, 'exp/report-input.json')).toThrow(
      /systems\.student\.averaged\.toEpoch.*an epoch >= fromEpoch \(4\), found 3/,
    );
  });
  it('carries the fidelity to the ensemble into report.json, the summary and a table of its own', () => {
    const i2 = clone(input);
    i2.fidelity = [
      {
        system: 'baseline',
        train: { agreement: 0.801, klNats: 0.62 },
        dev: null,
        test: { agreement: 0.55, klNats: 1.9 },
      },
      {
        system: 'student',
        train: { agreement: 0.934, klNats: 0.15 },
        dev: null,
        test: { agreement: 0.612, klNats: 1.4 },
      },
    ];
    const r2 = buildReport(i2);
    expect(r2.fidelity).toEqual(i2.fidelity);
    expect(summarySentences(r2).join(' ')).toContain(
      "The student's top senone is the ensemble's on 61.2% of test frames, the baseline's on 55.0%; on the training utterances 93.4% (baseline 80.1%).",
    );
    const t = fidelityTable(r2)!;
    expect(t.header).toEqual(['System', 'Train agreement', 'Train KL (nats)', 'Test agreement', 'Test KL (nats)']);
    expect(t.rows[1]).toEqual([r2.systems.student.label, '93.4%', '0.150', '61.2%', '1.400']);
    expect(renderMarkdown(r2, [])).toContain('## Fidelity to the ensemble');
    // Without it (eval runs made before it was measured): null, no sentence, no section.
    const r3 = buildReport(clone(input));
    expect(r3.fidelity).toBeNull();
    expect(fidelityTable(r3)).toBeNull();
    expect(summarySentences(r3).join(' ')).not.toContain('top senone');
    expect(renderMarkdown(r3, [])).not.toContain('Fidelity');
  });
  it('shows the shard jobs of a sharded run beside the stage times', () => {
    const plain = renderMarkdown(buildReport(clone(input)), []);
    expect(plain).not.toContain('Shard jobs');
    const i2 = clone(input);
    i2.stageJobs = { align: { count: 75, seconds: 123.4 }, decode: { count: 9, seconds: 30 } };
    const r2 = validateReportJson(JSON.parse(JSON.stringify(buildReport(validateReportInput(i2)))));
    expect(r2.stageJobs).toEqual(i2.stageJobs);
    const md = renderMarkdown(r2, []);
    expect(md).toContain('| Stage | Wall time | Seconds | Shard jobs | Job seconds |');
    expect(md).toMatch(/\| align \|[^\n]*\| 210\.4 \| 75 \| 123\.4 \|/);
    expect(md).toMatch(/\| train \|[^\n]*\| 402\.9 \| {2}\| {2}\|/);
    expect(md).toMatch(/\| total \|[^\n]*\| 84 \| 153\.4 \|/);
    expect(md).toContain('Job seconds sums');
  });
  it('is deterministic', () => {
    expect(JSON.stringify(buildReport(clone(input), { seed: 3, bootstrapReplicates: 300 }))).toBe(JSON.stringify(r));
  });
  it('werFigures counts errors as sub + del + ins', () => {
    expect(werFigures({ refWords: 10, sub: 1, del: 2, ins: 3 })).toMatchObject({
      errors: 6,
      wer: 0.6,
      sentences: null,
    });
  });
});
