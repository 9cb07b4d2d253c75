/**
 * Decoded splits besides dev and test (fsdd-digits' 'test-isolated'): ReportInput.otherSplits ->
 * report.json `otherSplits` -> the "Other test sets" table of report.md and report.html; validated
 * both ways, and the same report.json when `am-distill report --input` rebuilds it from the input.
 */
import { describe, it, expect, beforeAll, vi } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../src/util/rng.ts';
import { scoreTranscripts } from '../../src/score/wer.ts';
import { scoredSplit } from '../../src/score/counts.ts';
import { writeReport } from '../../src/report/write.ts';
import { buildReport, werFigures } from '../../src/report/build.ts';
import { otherSplitsOf } from '../../src/report/experiment.ts';
import { pct } from '../../src/report/format.ts';
import { validateReportInput, validateReportJson } from '../../src/report/validate.ts';
import { renderMarkdown } from '../../src/report/markdown.ts';
import type { ReportInput } from '../../src/report/types.ts';
import type { WerCounts } from '../../src/score/counts.ts';
import type { ScoreSummary } from '../../src/formats/score.ts';
import type { EvalFile } from '../../src/formats/eval.ts';
import { main } from '../../src/cli/main.ts';
import { setLogLevel } from '../../src/util/log.ts';
import { clone, corrupt, DEFAULT_SPECS, DIGITS, makeFixture, tempDir } from './fixtures.ts';

setLogLevel('warn');

const SPLIT = 'test-isolated';

/** Isolated takes (one digit each) of the test speakers, decoded per system with substitutions only (a one-digit grammar). */
function isolatedCounts(seed: number): Record<string, WerCounts> {
  const rng = new Rng(seed);
  const refs = ['spkB', 'spkC', 'spkD'].flatMap((spk) =>
    DIGITS.slice(0, 10).flatMap((d, k) => [0, 1].map((i) => ({ uttId: `${spk}_${k}_${i}`, words: [d], line: 0 }))),
  );
  return Object.fromEntries(
    Object.entries(DEFAULT_SPECS).map(([id, spec]) => {
      const r = rng.fork(id);
      const hyps = refs.map((u) => ({
        uttId: u.uttId,
        words: corrupt(r, u.words, { ...spec, del: 0, ins: 0, sub: 3 * spec.sub }),
        line: 0,
      }));
      return [id, scoredSplit(scoreTranscripts(refs, hyps)).counts];
    }),
  );
}

/** The fixture with a 'test-isolated' split: WER for every system, frame accuracy for the Table 1 systems only. */
function withIsolated(): ReportInput {
  const { input } = makeFixture(21, undefined, { perSpeaker: 12 });
  const counts = isolatedCounts(5);
  const fa: Record<string, number> = { baseline: 0.52, ensemble: 0.55, student: 0.545 };
  input.otherSplits = [
    {
      split: SPLIT,
      systems: Object.fromEntries(
        Object.keys(input.systems).map((id) => [id, { frameAccuracy: fa[id] ?? null, wer: counts[id] }]),
      ),
    },
  ];
  return input;
}

const input = withIsolated();
let dir: string;
let json: any, md: string, html: string;

beforeAll(async () => {
  dir = tempDir('amd-report-other-');
  await writeReport(clone(input), dir, { bootstrapReplicates: 100 });
  json = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
  md = readFileSync(join(dir, 'report.md'), 'utf8');
  html = readFileSync(join(dir, 'report.html'), 'utf8');
});

describe('other test sets', () => {
  it("an extra split's WERs and frame accuracies reach report.json", () => {
    expect(() => validateReportJson(json, 'report.json')).not.toThrow();
    expect(json.otherSplits).toHaveLength(1);
    const o = json.otherSplits[0];
    expect(o.split).toBe(SPLIT);
    expect(Object.keys(o.systems)).toEqual(['baseline', 'ensemble', 'student', 'member-1', 'member-2', 'member-3']);
    for (const [id, s] of Object.entries<any>(o.systems)) {
      const c = input.otherSplits![0].systems[id].wer!;
      expect(s.wer, id).toBe((c.sub + c.del + c.ins) / c.refWords);
      expect(s.werCounts, id).toEqual(werFigures(c));
      expect(s.frameAccuracy, id).toBe(input.otherSplits![0].systems[id].frameAccuracy);
    }
    expect(o.systems.student.werCounts.refWords).toBe(60);
    // dev and test stay as they were
    expect(Object.keys(json.systems.student.wer)).toEqual(['dev', 'test']);
  });

  it("an extra split's WERs reach report.md and report.html in the Other test sets table", () => {
    const o = json.otherSplits[0].systems;
    const mdSection = md.slice(md.indexOf('## Other test sets'), md.indexOf('## All systems'));
    expect(md.indexOf('## Other test sets')).toBeGreaterThan(md.indexOf('## Differences (test)'));
    expect(mdSection).toContain('| System | test-isolated WER | test-isolated frame acc. |');
    for (const id of ['baseline', 'ensemble', 'student']) {
      expect(mdSection).toContain(`| ${json.systems[id].label} | ${pct(o[id].wer)} | ${pct(o[id].frameAccuracy)} |`);
    }
    expect(mdSection).not.toContain('Member 1');
    expect(mdSection).toContain('test-isolated: 60 utterances, 60 reference words');
    const h = html.slice(html.indexOf('<section id="other-splits">'), html.indexOf('<section id="systems">'));
    expect(h).toContain('<h2>Other test sets</h2>');
    expect(h).toContain('<th>test-isolated WER</th>');
    for (const id of ['baseline', 'ensemble', 'student']) {
      expect(h).toContain(
        `<tr><td>${json.systems[id].label}</td><td class="num">${pct(o[id].wer)}</td><td class="num">${pct(o[id].frameAccuracy)}</td></tr>`,
      );
    }
  });

  it('has no frame-accuracy column when the eval stage did not score the split, and no section without extra splits', () => {
    const noFa = clone(input);
    for (const s of Object.values(noFa.otherSplits![0].systems)) s.frameAccuracy = null;
    const m = renderMarkdown(buildReport(noFa, { bootstrapReplicates: 50 }), []);
    expect(m).toContain('| System | test-isolated WER |\n');
    const plain = makeFixture(21, undefined, { perSpeaker: 12 }).input;
    const r = buildReport(plain, { bootstrapReplicates: 50 });
    expect(r).not.toHaveProperty('otherSplits');
    expect(renderMarkdown(r, [])).not.toContain('Other test sets');
  });

  it('am-distill report --input rebuilds the same report.json from report-input.json', async () => {
    const d = tempDir('amd-report-other-cli-');
    const f = join(d, 'report-input.json');
    writeFileSync(f, JSON.stringify({ ...input, reportOptions: { bootstrapReplicates: 100 } }, null, 2));
    const o = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    let code: number;
    try {
      code = await main(['node', 'am-distill', 'report', '--input', f, '--out', join(d, 'out')]);
    } finally {
      o.mockRestore();
    }
    expect(code).toBe(0);
    expect(readFileSync(join(d, 'out', 'report.json'), 'utf8')).toBe(readFileSync(join(dir, 'report.json'), 'utf8'));
  });
});

describe('otherSplits validation', () => {
  const bad = (edit: (x: any) => void) => {
    const x = clone(input) as any;
    edit(x);
    return () => validateReportInput(x, 'report-input.json');
  };
  it('accepts the extra split and rejects dev/test, repeats, unknown systems and bad numbers, naming the key', () => {
    expect(bad(() => {})).not.toThrow();
    expect(
      bad((x) => {
        x.otherSplits[0].split = 'test';
      }),
    ).toThrow(/otherSplits\[0\]\.split/);
    expect(
      bad((x) => {
        x.otherSplits.push(clone(x.otherSplits[0]));
      }),
    ).toThrow(/otherSplits\[1\]\.split.*each split once/s);
    expect(
      bad((x) => {
        x.otherSplits[0].systems.nobody = x.otherSplits[0].systems.student;
      }),
    ).toThrow(/otherSplits\[0\]\.systems\.nobody/);
    expect(
      bad((x) => {
        x.otherSplits[0].systems.student.frameAccuracy = 54.5;
      }),
    ).toThrow(/otherSplits\[0\]\.systems\.student\.frameAccuracy.*fraction/s);
    expect(
      bad((x) => {
        x.otherSplits[0].systems.student.wer.sub = -1;
      }),
    ).toThrow(/otherSplits\[0\]\.systems\.student\.wer\.sub/);
    expect(
      bad((x) => {
        delete x.otherSplits[0].systems.student.wer;
      }),
    ).toThrow(/otherSplits\[0\]\.systems\.student\.wer/);
  });
  it('report.json: a WER must be a fraction >= 0 or null', () => {
    const r = clone(json);
    r.otherSplits[0].systems.student.wer = -0.1;
    expect(() => validateReportJson(r, 'report.json')).toThrow(/otherSplits\[0\]\.systems\.student\.wer/);
  });
});

describe('otherSplitsOf (experiment directory -> report input)', () => {
  it("takes every decoded split but train, dev and test in decode order, under report ids, with eval's frame accuracy where scored", () => {
    const c = (sub: number): WerCounts => ({ refWords: 10, sub, del: 0, ins: 0, sentences: 10, sentenceErrors: sub });
    const score = {
      splits: ['dev', 'test', 'test-isolated', 'extra'],
      results: [
        ...['b1', 'ensemble', 's1', 'sweep-T4'].map((system, i) => ({ system, split: 'test', counts: c(i) })),
        ...['b1', 'ensemble', 's1', 'sweep-T4'].map((system, i) => ({
          system,
          split: 'test-isolated',
          counts: c(i + 1),
        })),
        { system: 's1', split: 'extra', counts: c(7) },
      ],
    } as unknown as Pick<ScoreSummary, 'splits' | 'results'>;
    const evalFile = {
      splits: {
        'test-isolated': {
          models: {
            b1: { accuracy: 0.5 },
            ensemble: { accuracy: 0.6 },
            s1: { accuracy: 0.55 },
            'sweep-T4': { accuracy: 0.4 },
          },
        },
      },
    } as unknown as Pick<EvalFile, 'splits'>;
    const ids = new Map([
      ['b1', 'baseline'],
      ['ensemble', 'ensemble'],
      ['s1', 'student'],
    ]);
    expect(otherSplitsOf(score, evalFile, ids)).toEqual([
      {
        split: 'test-isolated',
        systems: {
          baseline: { frameAccuracy: 0.5, wer: c(1) },
          ensemble: { frameAccuracy: 0.6, wer: c(2) },
          student: { frameAccuracy: 0.55, wer: c(3) },
        },
      },
      { split: 'extra', systems: { student: { frameAccuracy: null, wer: c(7) } } },
    ]);
    expect(otherSplitsOf({ splits: ['dev', 'test'], results: score.results }, evalFile, ids)).toEqual([]);
  });
});
