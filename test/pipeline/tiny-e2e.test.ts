/**
 * The whole pipeline in `npm test`: the demo recipe shrunk with --set (4 synthetic speakers,
 * tiny nets, narrow decode grid), every stage from synthesis to the report, through the real
 * runner. Checks the report's contract (issue 6) and that a second run skips everything.
 */
import { loadNativeEngine } from '../../src/nnet/native.ts';
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { loadRecipe } from '../../src/pipeline/recipe.ts';
import { runPipeline } from '../../src/pipeline/runner.ts';
import { defaultRegistry } from '../../src/stages/index.ts';
import { readReportInput } from '../../src/report/validate.ts';
import { validateFile } from '../../src/pipeline/validate.ts';
import { captureLogger } from '../helpers.ts';
import { TINY_PIPELINE_SETS } from './tiny-experiment.ts';
import { CHROMIUM, loadInChromium } from '../report/chromium.ts';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '../..');
const exp = mkdtempSync(join(tmpdir(), 'amd-tiny-e2e-'));
afterAll(() => rmSync(exp, { recursive: true, force: true }));

const SETS = [...TINY_PIPELINE_SETS];

describe('the demo recipe, shrunk, through every stage to the report', () => {
  it('writes report.json with the issue 6 contract, report.md and report.html; a rerun skips every stage', async () => {
    const recipe = loadRecipe(join(ROOT, 'pipelines/demo.yaml'), {
      registry: defaultRegistry,
      cwd: ROOT,
      expDir: exp,
      sets: SETS,
    });
    const log = captureLogger();
    const run = await runPipeline(recipe, { registry: defaultRegistry, log });
    expect(run.stages.map((s) => s.stage)).toEqual([
      'prepare',
      'features',
      'align',
      'train',
      'targets',
      'distill',
      'eval',
      'lm',
      'decode',
      'score',
      'report',
    ]);
    expect(run.stages.every((s) => s.status === 'ran')).toBe(true);

    const r = JSON.parse(readFileSync(join(exp, 'report', 'report.json'), 'utf8'));
    expect(r.corpus.name).toBe('demo');
    expect(r.corpus.splits.test.speakers).toBe(1);
    expect(Object.keys(r.systems).sort()).toEqual([
      'baseline',
      'control',
      'ensemble',
      'member-1',
      'member-2',
      'student',
    ]);
    for (const s of Object.values(r.systems) as { frameAccuracy: { dev: number; test: number } }[]) {
      for (const split of ['dev', 'test'] as const) {
        expect(s.frameAccuracy[split]).toBeGreaterThan(0);
        expect(s.frameAccuracy[split]).toBeLessThanOrEqual(1);
      }
    }
    // The frame accuracies are eval.json's, the WERs score.json's.
    const ev = JSON.parse(readFileSync(join(exp, 'eval', 'eval.json'), 'utf8'));
    expect(r.systems.student.frameAccuracy.test).toBe(ev.splits.test.models.student.accuracy);
    expect(r.systems['member-2'].frameAccuracy.dev).toBe(ev.splits.dev.models['member-2'].accuracy);
    const sc = JSON.parse(readFileSync(join(exp, 'score', 'score.json'), 'utf8'));
    // The decode stage reads the lm stage's ARPA without leaving a binary cache in that stage's directory.
    expect(existsSync(join(exp, 'lm', 'lm.arpa.amdlm'))).toBe(false);
    const scTest = sc.results.find(
      (x: { system: string; split: string }) => x.system === 'baseline' && x.split === 'test',
    );
    expect(r.systems.baseline.wer.test).toBeCloseTo(scTest.wer / 100, 10);
    // The distill stage's control: scored by eval, decoded and scored like the other systems.
    expect(r.systems.control.frameAccuracy.test).toBe(ev.splits.test.models.control.accuracy);
    expect(r.systems.control.wer.test).toBeCloseTo(
      sc.results.find((x: { system: string; split: string }) => x.system === 'control' && x.split === 'test').wer / 100,
      10,
    );
    expect(r.ensembleSize).toBe(2);
    expect(r.systems.ensemble.parameters).toBe(2 * r.systems.baseline.parameters);
    expect(r.systems.student.trainingCurve.length).toBeGreaterThan(0);
    for (const k of ['frameAccuracy', 'wer']) expect(r.gainRecovered).toHaveProperty(k);
    expect(r.significance).toHaveProperty('studentVsBaseline');
    expect(r.softTargets).toMatchObject({ T: 2 });
    expect(r.softTargets.k).toBeGreaterThan(0);
    expect(r.softTargets.keptMass).toBeGreaterThan(0.9);
    expect(r.softTargets.bytesPerFrame).toBeGreaterThan(0);
    expect(Object.keys(r.stages)).toEqual([
      'prepare',
      'features',
      'align',
      'train',
      'targets',
      'distill',
      'eval',
      'lm',
      'decode',
      'score',
    ]);
    // The sweep: T 1 and T 2 with each student's frame accuracy (eval) and WER (score).
    expect(r.temperatureSweep.map((p: { T: number }) => p.T)).toEqual([1, 2]);
    const werOf = (system: string) =>
      sc.results.find((x: { system: string; split: string }) => x.system === system && x.split === 'test').wer / 100;
    expect(r.temperatureSweep[0].frameAccuracy.test).toBe(ev.splits.test.models['student-T1'].accuracy);
    expect(r.temperatureSweep[0].wer.test).toBeCloseTo(werOf('student-T1'), 10);
    expect(r.temperatureSweep[1].wer.test).toBeCloseTo(werOf('student'), 10);
    // The eval stage's uncertainty of the gain kept reaches the report.
    expect(r.gainRecovered.frameAccuracyEvidence.ci).toMatchObject({
      replicates: 50,
      utterances: ev.splits.test.utterances,
    });
    // And its fidelity figures, for the baseline and the student, on every split it scored.
    expect(r.fidelity.map((x: { system: string }) => x.system)).toEqual(['baseline', 'student']);
    expect(r.fidelity[1].test).toEqual({
      agreement: ev.splits.test.fidelity.student.agreement,
      klNats: ev.splits.test.fidelity.student.klNats,
    });
    expect(r.fidelity[0].train).toEqual({
      agreement: ev.splits.train.fidelity.baseline.agreement,
      klNats: ev.splits.train.fidelity.baseline.klNats,
    });
    expect(r.environment.backend).toBe(loadNativeEngine().ok ? 'native' : 'wasm');
    expect(r.environment.configHash).toMatch(/^[0-9a-f]{64}$/);
    expect(r.environment.versions.node).toBe(process.versions.node);

    // The report's log line names the files where they end up, not in the stage's temp dir.
    expect(log.lines.join('')).toContain(`report: ${join(exp, 'report', 'report.html')} (`);
    expect(log.lines.join('')).not.toMatch(/\.report\.\d+\.[0-9a-f]+\.tmp/);
    const md = readFileSync(join(exp, 'report', 'report.md'), 'utf8');
    expect(md).toMatch(/2-net ensemble/);
    expect(md).toMatch(/Hinton/);
    const html = readFileSync(join(exp, 'report', 'report.html'), 'utf8');
    expect(html).toMatch(/<svg/);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    // Every stage's JSON artefact passes `am-distill validate`, checked by the module that owns its format.
    const artefacts: [string, string][] = [
      ['train/models.json', 'models'],
      ['targets/targets.json', 'target-sets'],
      ['distill/students.json', 'students'],
      ['eval/eval.json', 'eval'],
      ['decode/decode.json', 'decode'],
      ['score/score.json', 'score'],
      ['report/report-input.json', 'report-input'],
      ['targets/train.arrow', 'soft-targets'],
    ];
    for (const [file, kind] of artefacts) {
      const v = await validateFile(join(exp, file));
      expect(v.kind, file).toBe(kind);
      expect(v.lines.length, file).toBeGreaterThan(1);
    }
    // The saved input rebuilds the same report.json (am-distill report --input, with the recipe's bootstrap seed).
    const input = readReportInput(join(exp, 'report', 'report-input.json'));
    expect(input.reportOptions).toEqual({ bootstrapReplicates: 50, confidence: 0.95, seed: 1, maxWorstUtterances: 10 });
    const cli = spawnSync(
      process.execPath,
      [
        join(ROOT, 'bin/am-distill.js'),
        'report',
        '--input',
        join(exp, 'report', 'report-input.json'),
        '--out',
        join(exp, 'rebuilt'),
      ],
      { encoding: 'utf8' },
    );
    expect(cli.status, cli.stderr).toBe(0);
    expect(readFileSync(join(exp, 'rebuilt', 'report.json'), 'utf8')).toBe(
      readFileSync(join(exp, 'report', 'report.json'), 'utf8'),
    );
    expect(existsSync(join(exp, 'report', 'plots'))).toBe(true);
    // The eval stage's per-utterance counts add up to eval.json, and `am-distill pool` of this
    // experiment with itself gives back its own Table 1.
    const utts = readFileSync(join(exp, 'eval', 'test.utts.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(utts).toHaveLength(ev.splits.test.utterances);
    expect(utts.reduce((a: number, u: { correct: Record<string, number> }) => a + u.correct.ensemble, 0)).toBe(
      ev.splits.test.models.ensemble.correct,
    );
    const pool = spawnSync(
      process.execPath,
      [
        join(ROOT, 'bin/am-distill.js'),
        'pool',
        exp,
        exp,
        '--labels',
        'a,b',
        '--replicates',
        '50',
        '--out',
        join(exp, 'pooled'),
      ],
      { encoding: 'utf8' },
    );
    expect(pool.status, pool.stderr).toBe(0);
    const pj = JSON.parse(readFileSync(join(exp, 'pooled', 'pool.json'), 'utf8'));
    expect(pj.pooled.frameAccuracy.student).toBeCloseTo(ev.splits.test.models.student.accuracy, 12);
    expect(pj.pooled.gainKept).toBeCloseTo(ev.summary.test.gainKept, 12);
    expect(pj.pooled.wer.baseline).toBeCloseTo(scTest.wer / 100, 12);
    expect(pj.experiments.map((x: { label: string }) => x.label)).toEqual(['a', 'b']);

    const again = await runPipeline(
      loadRecipe(join(ROOT, 'pipelines/demo.yaml'), { registry: defaultRegistry, cwd: ROOT, expDir: exp, sets: SETS }),
      { registry: defaultRegistry, log: captureLogger() },
    );
    expect(again.stages.map((s) => s.status)).toEqual(Array(11).fill('up-to-date'));
  }, 300_000);
});

const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`SKIPPED: rendering the pipeline's report.html needs ${CHROMIUM}`);

describe.skipIf(!hasChromium)("the pipeline's report.html in headless Chromium (needs /usr/bin/chromium)", () => {
  it('renders with no console message, exception, warning or request', async () => {
    const html = join(exp, 'report', 'report.html');
    expect(existsSync(html)).toBe(true); // written by the test above
    const r = await loadInChromium(pathToFileURL(html).href, {
      probe: 'document.querySelectorAll("figure svg").length',
    });
    expect(r.console).toEqual([]);
    expect(r.exceptions).toEqual([]);
    expect(r.log.filter((l) => l.level === 'error' || l.level === 'warning')).toEqual([]);
    expect(r.externalRequests).toEqual([]);
    expect(r.probe).toBeGreaterThanOrEqual(4);
  }, 60_000);
});
