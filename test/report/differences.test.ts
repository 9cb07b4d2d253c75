/** The report's differences with speaker-bootstrap intervals, the control beside the baseline, and the share kept after them. */
import { describe, it, expect } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildReport } from '../../src/report/build.ts';
import { renderMarkdown } from '../../src/report/markdown.ts';
import { renderHtml } from '../../src/report/html.ts';
import { summarySentences, table1 } from '../../src/report/sections.ts';
import { validateReportInput, validateReportJson } from '../../src/report/validate.ts';
import { readSplitSpeakers } from '../../src/report/experiment.ts';
import type { ReportInput } from '../../src/report/types.ts';
import { clone, DEFAULT_SPECS, makeFixture, tempDir, type SystemSpec } from './fixtures.ts';
import { Rng } from '../../src/util/rng.ts';

/** The fixture with a control and per-utterance test frame counts: 100 frames per utterance, each speaker off the system's rate by its own offset. */
function withCounts(
  specs: Record<string, SystemSpec> = {
    ...DEFAULT_SPECS,
    control: { sub: 0.11, del: 0.04, ins: 0.03, frameAccuracy: { dev: 0.62, test: 0.596 } },
  },
): ReportInput {
  const input = clone(makeFixture(7, specs).input);
  const rng = new Rng(3);
  const offset: Record<string, number> = {};
  const ids = input.systems.baseline.utterances!.test!.map((u) => u.uttId);
  const speaker = (id: string) => id.slice(0, id.indexOf('_'));
  input.utteranceCounts = {
    split: 'test',
    speakers: Object.fromEntries(ids.map((id) => [id, speaker(id)])),
    frames: ids.map((uttId) => {
      const s = speaker(uttId);
      offset[s] ??= rng.int(21) - 10;
      return {
        uttId,
        frames: 100,
        correct: Object.fromEntries(
          Object.entries(input.systems).map(([id, x]) => [
            id,
            Math.max(0, Math.min(100, Math.round(100 * x.frameAccuracy.test! + offset[s] + rng.int(5) - 2))),
          ]),
        ),
      };
    }),
  };
  return validateReportInput(input, 'report-input.json');
}

describe('report: differences first, with speaker-bootstrap intervals', () => {
  it('shows the control beside the baseline and adds control - baseline and student - control', () => {
    const r = buildReport(withCounts(), { bootstrapReplicates: 300 });
    validateReportJson(JSON.parse(JSON.stringify(r)), 'report.json');
    expect(table1(r).rows.map((x) => x[0])).toEqual([
      'Baseline',
      'Control baseline',
      '3-net ensemble',
      'Distilled single model',
    ]);
    const d = r.differences!;
    expect(d.method).toBe('speaker-bootstrap');
    for (const m of [d.frameAccuracy!, d.wer!]) {
      expect(m.differences.map((x) => `${x.a}-${x.b}`)).toEqual([
        'ensemble-baseline',
        'student-baseline',
        'student-ensemble',
        'control-baseline',
        'student-control',
      ]);
      expect(m.speakers).toBe(3);
      for (const x of m.differences) expect(x.ci.low!).toBeLessThanOrEqual(x.ci.high!);
    }
    // Frame accuracy from the per-utterance counts.
    const lines = r.differences && withCounts().utteranceCounts!.frames!;
    const rate = (id: string) =>
      lines!.reduce((a, u) => a + u.correct[id], 0) / lines!.reduce((a, u) => a + u.frames, 0);
    expect(d.frameAccuracy!.differences[4].value).toBeCloseTo(rate('student') - rate('control'), 12);
    const md = renderMarkdown(r, []);
    expect(md.indexOf('## Differences (test)')).toBeGreaterThan(md.indexOf('## Table 1'));
    expect(md.indexOf('## Differences (test)')).toBeLessThan(md.indexOf('## All systems'));
    expect(md).toContain('| Distilled single model - Control baseline |');
    expect(md).toContain('two-stage bootstrap over the 3 test speakers');
    expect(md).toContain('For comparison only, the utterance bootstrap');
    expect(md).toContain('## WER significance, utterance bootstrap');
    expect(renderHtml(r, [])).toContain('<section id="differences">');
    // The summary: rates, then every difference with its interval, the share last in its sentence.
    const text = summarySentences(r);
    expect(text[0]).toMatch(/^Test frame accuracy: baseline [\d.]+%, control baseline [\d.]+%, 3-net ensemble/);
    expect(text[1]).toMatch(
      /^Test frame accuracy differences in points, 95% speaker-bootstrap intervals: 3-net ensemble - baseline [+-][\d.]+ \(\[[+-]?[\d.]+, [+-]?[\d.]+\]\);.*distilled student - control baseline .*; share of the ensemble's gain kept -?\d+%/,
    );
    // Without a control: the three differences of Table 1, as before.
    const plain = buildReport(withCounts(DEFAULT_SPECS), { bootstrapReplicates: 50 });
    expect(plain.differences!.frameAccuracy!.differences).toHaveLength(3);
    expect(table1(plain).rows).toHaveLength(3);
  });

  it("says the share kept is not meaningful when the ensemble's gain is below the members' seed spread, with the numbers", () => {
    const input = withCounts();
    input.systems['member-1'].frameAccuracy.test = 0.55;
    input.systems['member-2'].frameAccuracy.test = 0.62;
    const r = buildReport(input, { bootstrapReplicates: 100 });
    const g = r.differences!.frameAccuracy!.gainKept;
    expect(r.differences!.frameAccuracy!.seedSpread).toMatchObject({ nets: 3, min: 0.55, max: 0.62 });
    expect(g.meaningful).toBe(false);
    expect(g.note).toMatch(
      /^The share of the frame-accuracy gain kept \(-?\d+%\) is not meaningful: the ensemble's gain over the baseline \(\+[\d.]+ points\) is smaller than the spread of the members' frame accuracies \(7\.00 points, 55\.00% to 62\.00% over 3 nets that differ only in their seed\)/,
    );
    expect(summarySentences(r)).toContain(g.note);
    expect(renderMarkdown(r, [])).toContain('is not meaningful');
    // The fixture's own members (0.3 points apart) leave it meaningful, and nothing is said.
    const ok = buildReport(withCounts(), { bootstrapReplicates: 100 }).differences!.frameAccuracy!.gainKept;
    expect(ok.meaningful).toBe(true);
    expect(ok.note).toBeNull();
  });

  it('gives no interval with one test speaker, and takes the speakers from the corpus rather than the utterance ids', () => {
    const input = withCounts();
    const uc = input.utteranceCounts!;
    for (const id of Object.keys(uc.speakers)) uc.speakers[id] = 'solo';
    const r = buildReport(input, { bootstrapReplicates: 100 });
    for (const m of [r.differences!.frameAccuracy!, r.differences!.wer!]) {
      expect(m.note).toBe('n/a: 1 speaker');
      expect(m.differences.every((x) => x.ci.low === null && x.significant === null)).toBe(true);
      expect(m.gainKept.ci).toEqual({ low: null, high: null });
    }
    const md = renderMarkdown(r, []);
    expect(md).toContain('n/a: 1 speaker');
    expect(md).toContain('the variation between speakers cannot be estimated from one speaker');
  });

  it("reads the speakers from the prepare stage's supervisions, and rejects counts above the frames", () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'test'));
    const sup = (id: string, speaker: string) =>
      JSON.stringify({ id, recordingId: id, speaker, startSec: 0, durationSec: 1, text: 'ONE TWO' });
    writeFileSync(
      join(dir, 'test', 'supervisions.jsonl'),
      `${sup('c_000', 'george')}\n${sup('c_001', 'george')}\n\n${sup('x_002', 'jackson')}\n`,
    );
    expect(readSplitSpeakers(dir, 'test')).toEqual({ c_000: 'george', c_001: 'george', x_002: 'jackson' });
    expect(readSplitSpeakers(dir, 'dev')).toEqual({});
    expect(readSplitSpeakers(null, 'test')).toEqual({});
    writeFileSync(join(dir, 'test', 'supervisions.jsonl'), `${sup('c_000', 'george')}\n{"id": 3}\n`);
    expect(() => readSplitSpeakers(dir, 'test')).toThrow(/supervisions\.jsonl/);
    writeFileSync(join(dir, 'test', 'supervisions.jsonl'), `${sup('c_000', 'george')}\n\n{"id": "c_001",\n`);
    expect(() => readSplitSpeakers(dir, 'test')).toThrow(/supervisions\.jsonl:3: not a JSON line/);
    const bad = clone(withCounts());
    bad.utteranceCounts!.frames![0].correct.student = 101;
    expect(() => validateReportInput(bad, 'report-input.json')).toThrow(/utteranceCounts\.frames\.0\.correct\.student/);
  });
});
