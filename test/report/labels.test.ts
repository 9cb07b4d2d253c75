/**
 * The "Frame labels" section: the align stage's summary.json -> ReportInput.labels (labelsOf) ->
 * report.json `labels` -> a table in report.md; validated both ways, absent without an align summary.
 */
import { describe, it, expect } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildReport } from '../../src/report/build.ts';
import { labelsOf } from '../../src/report/experiment.ts';
import { validateReportInput, validateReportJson } from '../../src/report/validate.ts';
import { renderMarkdown } from '../../src/report/markdown.ts';
import { FormatError } from '../../src/util/errors.ts';
import { clone, makeFixture, tempDir } from './fixtures.ts';

const QUALITY = {
  utterances: 320,
  boundaries: 4716,
  boundariesWithin20ms: 85.21,
  boundariesWithin50ms: 98.6,
  startsWithin20ms: 86,
  startsWithin50ms: 98.9,
  endsWithin50ms: 98.3,
  medianAbsErrorMs: 8.1,
  medianStartOffsetMs: 2.5,
  medianEndOffsetMs: -4.2,
  pauseFramesInWords: 12.7,
  silenceOutsidePauses: 0.04,
};

/**
 * Isolated words: the reference has no pauses, so the pause measures are null; written as a
 * summary from before the ends and offsets were added (they are optional).
 */
const { endsWithin50ms: _e, medianStartOffsetMs: _s, medianEndOffsetMs: _m, ...OLD_QUALITY } = QUALITY;
const ISOLATED = {
  ...OLD_QUALITY,
  utterances: 5,
  boundaries: 10,
  pauseFramesInWords: null,
  silenceOutsidePauses: null,
};

function alignDir(): string {
  const dir = join(tempDir('amd-labels-'), 'align');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'summary.json'),
    JSON.stringify({
      format: 'am-distill.align-summary',
      version: 1,
      configHash: 'x',
      numSenones: 200,
      numGaussians: 1000,
      training: { models: [{ name: 'mono' }, { name: 'tri1' }, { name: 'tri2b' }, { name: 'tri3b' }] },
      splits: {
        test: { message: 'Done 320, failed 0', done: 320, failed: 0, labelQuality: QUALITY },
        other: { message: 'Done 9, failed 1', done: 9, failed: 1 },
        isolated: { message: 'Done 5, failed 0', done: 5, failed: 0, labelQuality: ISOLATED },
      },
    }),
  );
  return dir;
}

describe('report: frame labels section (align summary)', () => {
  it('reads the chain, counts and label quality of every split, and renders them in report.md', () => {
    const labels = labelsOf(alignDir());
    expect(labels).toEqual({
      models: ['mono', 'tri1', 'tri2b', 'tri3b'],
      senones: 200,
      gaussians: 1000,
      splits: [
        { split: 'test', aligned: 320, failed: 0, quality: QUALITY },
        { split: 'other', aligned: 9, failed: 1, quality: null },
        { split: 'isolated', aligned: 5, failed: 0, quality: ISOLATED },
      ],
    });
    const input = { ...makeFixture(3).input, labels: labels! };
    validateReportInput(clone(input));
    const report = buildReport(input, { bootstrapReplicates: 50 });
    validateReportJson(clone(report));
    expect(report.labels).toEqual(labels);
    const md = renderMarkdown(report, []);
    expect(md).toContain('## Frame labels');
    expect(md).toMatch(/\| test \| 320 \| 0 \| 85\.2% \/ 98\.6% \| 98\.9% \/ 98\.3% \| \+3 ms \/ -4 ms \| 0\.0% \|/);
    expect(md).toMatch(/\| other \| 9 \| 1 \| n\/a \| n\/a \| n\/a \|/);
    expect(md).toMatch(/\| isolated \| 5 \| 0 \| 85\.2% \/ 98\.6% \| 98\.9% \| n\/a \| n\/a \|/);
    expect(md).toMatch(/forced alignment with tri3b \(chain mono .*tri1 .*tri2b .*tri3b\)/);
  });

  it('has no labels without an align summary, and refuses a malformed labels block with its path', () => {
    expect(labelsOf(null)).toBeNull();
    // An align stage given a model (no training summary): no chain to name.
    const given = {
      ...makeFixture(3).input,
      labels: {
        models: [],
        senones: 2000,
        gaussians: 15000,
        splits: [{ split: 'test', aligned: 28539, failed: 0, quality: null }],
      },
    };
    const md = renderMarkdown(buildReport(given, { bootstrapReplicates: 50 }), []);
    expect(md).toContain('forced alignment with a given model');
    expect(md).not.toContain('undefined');
    expect(md).toMatch(/\| test \| 28,539 \| 0 \|/);
    expect(labelsOf(tempDir('amd-labels-none-'))).toBeNull();
    expect(renderMarkdown(buildReport(makeFixture(3).input, { bootstrapReplicates: 50 }), [])).not.toContain(
      'Frame labels',
    );
    const bad = {
      ...makeFixture(3).input,
      labels: {
        models: ['tri1'],
        senones: 200,
        gaussians: 1000,
        splits: [{ split: 'test', aligned: -1, failed: 0, quality: null }],
      },
    };
    expect(() => validateReportInput(bad)).toThrow(FormatError);
    expect(() => validateReportInput(bad)).toThrow(/labels\.splits\[0\]\.aligned/);
  });
});
