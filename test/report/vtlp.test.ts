/** The report on an experiment whose training features hold VTLP copies (src/features/perturb.ts). */
import { describe, it, expect } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitInfo, vtlpCopiesFor } from '../../src/report/experiment.ts';
import { buildReport } from '../../src/report/build.ts';
import { renderMarkdown } from '../../src/report/markdown.ts';
import { renderHtml } from '../../src/report/html.ts';
import { validateReportInput } from '../../src/report/validate.ts';
import { clone, makeFixture, tempDir } from './fixtures.ts';

describe('report: VTLP copies in the training features', () => {
  it("counts the utterances' own frames, records the warps, and says so under the corpus table", () => {
    const exp = tempDir();
    mkdirSync(join(exp, 'prepare'));
    mkdirSync(join(exp, 'features'));
    writeFileSync(
      join(exp, 'prepare', 'corpus.json'),
      JSON.stringify({
        counts: {
          train: { supervisions: 600, speakers: 3, durationSec: 1700 },
          test: { supervisions: 200, speakers: 1, durationSec: 600 },
        },
      }),
    );
    writeFileSync(
      join(exp, 'features', 'stage.json'),
      JSON.stringify({
        details: {
          splits: {
            train: { utterances: 1800, frames: 510399, skipped: 0, vtlpWarps: [0.9, 1.1] },
            test: { utterances: 200, frames: 61315, skipped: 0 },
          },
        },
      }),
    );
    const splits = splitInfo({
      expDir: exp,
      prepare: join(exp, 'prepare'),
      features: join(exp, 'features'),
      train: '',
      eval: '',
    });
    expect(splits.train).toEqual({
      utterances: 600,
      speakers: 3,
      durationSec: 1700,
      frames: 170133,
      vtlpWarps: [0.9, 1.1],
    });
    expect(splits.test).toEqual({ utterances: 200, speakers: 1, durationSec: 600, frames: 61315 });

    const input = clone(makeFixture().input);
    input.corpus.splits.train = splits.train;
    const r = buildReport(validateReportInput(input, 'report-input.json'));
    const sentence =
      'train: VTLP augmentation, one copy of every utterance per warp factor (0.9, 1.1) as a speaker of its own, so the nets train on 3 times the frames shown.';
    expect(renderMarkdown(r, [])).toContain(sentence);
    expect(renderHtml(r, [])).toContain(`<p>${sentence}</p>`);
    // Without copies: no such sentence.
    expect(renderMarkdown(buildReport(makeFixture().input), [])).not.toContain('VTLP');
    // A malformed list is named.
    const bad = clone(input) as unknown as { corpus: { splits: { train: { vtlpWarps: unknown } } } };
    bad.corpus.splits.train.vtlpWarps = ['0.9'];
    expect(() => validateReportInput(bad, 'report-input.json')).toThrow(/corpus\.splits\.train\.vtlpWarps\[0\]/);
  });

  it('says which nets trained on the copies when the student alone did (train vtlpCopies: false)', () => {
    const exp = tempDir();
    for (const d of ['prepare', 'features']) mkdirSync(join(exp, d));
    writeFileSync(
      join(exp, 'prepare', 'corpus.json'),
      JSON.stringify({ counts: { train: { supervisions: 600, speakers: 3, durationSec: 1700 } } }),
    );
    writeFileSync(
      join(exp, 'features', 'stage.json'),
      JSON.stringify({
        details: { splits: { train: { utterances: 1800, frames: 510399, skipped: 0, vtlpWarps: [0.9, 1.1] } } },
      }),
    );
    const dirs = { expDir: exp, prepare: join(exp, 'prepare'), features: join(exp, 'features'), train: '', eval: '' };
    // models.json's data and the main student's entry, as reportInputFromExperiment has read them.
    let files = {
      models: { data: {} } as Parameters<typeof vtlpCopiesFor>[0],
      student: {} as Parameters<typeof vtlpCopiesFor>[1],
    };
    const write = (models: boolean, student: boolean | undefined) => {
      files = {
        models: { data: { trainSplit: 'train', devSplit: 'dev', smallFraction: null, vtlpCopies: models } },
        student: student === undefined ? {} : { vtlpCopies: student },
      };
    };
    const info = () => splitInfo(dirs, vtlpCopiesFor(files.models, files.student));
    const note = () => {
      const input = clone(makeFixture().input);
      input.corpus.splits.train = info().train;
      return renderMarkdown(buildReport(validateReportInput(input, 'report-input.json')), []);
    };
    write(false, true);
    expect(info().train!.vtlpCopiesFor).toEqual({ models: false, student: true });
    expect(note()).toContain(
      "The baseline and the members train on the original recordings only; the student's transfer set holds the copies too (3 times the frames shown)",
    );
    write(true, false);
    expect(note()).toContain(
      'The baseline and the members train on 3 times the frames shown; the student on the original recordings only.',
    );
    // Files made before the option (no key) and the default: every net, no field.
    write(true, undefined);
    expect(info().train).not.toHaveProperty('vtlpCopiesFor');
    expect(note()).toContain('so the nets train on 3 times the frames shown.');
    const bad = clone(makeFixture().input) as unknown as { corpus: { splits: { train: Record<string, unknown> } } };
    bad.corpus.splits.train.vtlpCopiesFor = { models: 'no', student: true };
    expect(() => validateReportInput(bad, 'report-input.json')).toThrow(
      /corpus\.splits\.train\.vtlpCopiesFor\.models.*true or false/,
    );
  });

  it("says how the copies were labelled, from the align stage's config (inherit, or realign for outputs made before the option)", () => {
    const exp = tempDir();
    for (const d of ['prepare', 'features', 'align']) mkdirSync(join(exp, d));
    writeFileSync(
      join(exp, 'prepare', 'corpus.json'),
      JSON.stringify({
        counts: {
          train: { supervisions: 600, speakers: 3, durationSec: 1700 },
          test: { supervisions: 200, speakers: 1, durationSec: 600 },
        },
      }),
    );
    writeFileSync(
      join(exp, 'features', 'stage.json'),
      JSON.stringify({
        details: {
          splits: {
            train: { utterances: 1800, frames: 510399, skipped: 0, vtlpWarps: [0.9, 1.1] },
            test: { utterances: 200, frames: 61315, skipped: 0 },
          },
        },
      }),
    );
    const alignCfg = (options: Record<string, unknown>) =>
      writeFileSync(
        join(exp, 'align', 'config.json'),
        JSON.stringify({ format: 'am-distill.align-config', version: 1, options }),
      );
    const dirs = {
      expDir: exp,
      prepare: join(exp, 'prepare'),
      features: join(exp, 'features'),
      align: join(exp, 'align'),
      train: '',
      eval: '',
    };
    const note = () => {
      const input = clone(makeFixture().input);
      input.corpus.splits.train = splitInfo(dirs).train;
      return renderMarkdown(buildReport(validateReportInput(input, 'report-input.json')), []);
    };
    alignCfg({ numLeaves: 150, vtlpCopies: 'inherit' });
    expect(splitInfo(dirs).train!.vtlpAlignment).toBe('inherit');
    expect(splitInfo(dirs).test).not.toHaveProperty('vtlpAlignment');
    expect(note()).toContain(
      "Each copy has its source recording's frame labels (the GMM-HMM trained on the original recordings only).",
    );
    alignCfg({ numLeaves: 150 });
    expect(note()).toContain(
      'Each copy was force-aligned on its own warped features (the GMM-HMM trained on the copies too).',
    );
    expect(splitInfo({ ...dirs, align: null }).train).not.toHaveProperty('vtlpAlignment');
    writeFileSync(join(exp, 'align', 'config.json'), JSON.stringify({ format: 'am-distill.align-summary' }));
    expect(() => splitInfo(dirs)).toThrow(/config\.json.*not a align config.*am-distill\.align-config/s);
    const bad = clone(makeFixture().input) as unknown as { corpus: { splits: { train: Record<string, unknown> } } };
    bad.corpus.splits.train.vtlpAlignment = 'copy';
    expect(() => validateReportInput(bad, 'report-input.json')).toThrow(
      /corpus\.splits\.train\.vtlpAlignment.*'inherit' or 'realign'/,
    );
  });
});
