import { describe, it, expect, afterAll, vi } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  poolDiagnostics,
  poolExperiments,
  readPoolExperiment,
  writePool,
  formatPoolMarkdown,
} from '../../src/report/pool.ts';
import type { SplitDiagnostics } from '../../src/report/eval-markdown.ts';
import { bootstrapSums } from '../../src/score/significance.ts';
import { ConfigError, FormatError } from '../../src/util/errors.ts';
import { main } from '../../src/cli/main.ts';
import type { ErrorLists } from '../../src/score/errors.ts';

const root = mkdtempSync(join(tmpdir(), 'amd-pool-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Utt = {
  id: string;
  frames: number;
  b: number;
  e: number;
  s: number;
  words: number;
  errB: number;
  errE: number;
  errS: number;
};

interface ExpOpts {
  score?: boolean;
  evalJson?: boolean;
  tamper?: number;
  diagnostics?: SplitDiagnostics;
  errorLists?: Record<string, ErrorLists>;
  /** Correct frames of further models (control, more members) per utterance. */
  models?: (u: Utt) => Record<string, number>;
  /** Word errors of further systems per utterance. */
  systems?: (u: Utt) => Record<string, number>;
  /** recipe.json's seed (netSeed) and the speakers written as prepare's supervisions (utterance id -> speaker). */
  netSeed?: number;
  speakers?: Record<string, string>;
}

/** An experiment directory as the prepare, eval and score stages leave it (only what pooling reads). */
function makeExp(name: string, utts: Utt[], opts: ExpOpts = {}): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'eval'), { recursive: true });
  const correct = (u: Utt): Record<string, number> => ({
    baseline: u.b,
    'member-1': u.b,
    ensemble: u.e,
    student: u.s,
    ...opts.models?.(u),
  });
  const lines = utts.map((u) => JSON.stringify({ uttId: u.id, frames: u.frames, correct: correct(u) }));
  writeFileSync(join(dir, 'eval', 'test.utts.jsonl'), lines.join('\n') + '\n');
  if (opts.evalJson ?? true) {
    const F = utts.reduce((a, u) => a + u.frames, 0);
    const models = Object.fromEntries(
      Object.keys(correct(utts[0])).map((m) => {
        const c = utts.reduce((a, u) => a + correct(u)[m], 0) + (m === 'student' ? (opts.tamper ?? 0) : 0);
        return [m, { correct: c, frames: F, accuracy: c / F }];
      }),
    );
    writeFileSync(
      join(dir, 'eval', 'eval.json'),
      JSON.stringify({
        format: 'am-distill.eval',
        version: 1,
        splits: { test: { split: 'test', utterances: utts.length, frames: F, models, ...opts.diagnostics } },
      }),
    );
  }
  if (opts.score ?? true) {
    mkdirSync(join(dir, 'score'), { recursive: true });
    const res = (system: string, err: (u: Utt) => number) => ({
      system,
      split: 'test',
      utterances: [...utts].reverse().map((u) => ({ uttId: u.id, refWords: u.words, sub: err(u), del: 0, ins: 0 })),
      ...(opts.errorLists ? { errorLists: opts.errorLists[system] } : {}),
    });
    const extra = opts.systems ? Object.keys(opts.systems(utts[0])).map((k) => res(k, (u) => opts.systems!(u)[k])) : [];
    writeFileSync(
      join(dir, 'score', 'score.json'),
      JSON.stringify({
        format: 'am-distill.score',
        formatVersion: 1,
        results: [
          res('baseline', (u) => u.errB),
          res('ensemble', (u) => u.errE),
          res('student', (u) => u.errS),
          ...extra,
        ],
      }),
    );
  }
  if (opts.netSeed !== undefined)
    writeFileSync(join(dir, 'recipe.json'), JSON.stringify({ name, seed: 0, netSeed: opts.netSeed }));
  if (opts.speakers) {
    mkdirSync(join(dir, 'prepare', 'test'), { recursive: true });
    const sups = utts.map((u) =>
      JSON.stringify({
        id: u.id,
        recordingId: u.id,
        speaker: opts.speakers![u.id],
        startSec: 0,
        durationSec: 1,
        text: 'ONE',
      }),
    );
    writeFileSync(join(dir, 'prepare', 'test', 'supervisions.jsonl'), sups.join('\n') + '\n');
  }
  return dir;
}

const U = (
  id: string,
  frames: number,
  b: number,
  e: number,
  s: number,
  words: number,
  errB: number,
  errE: number,
  errS: number,
): Utt => ({ id, frames, b, e, s, words, errB, errE, errS });
// Fold A (speaker spkA): ensemble +20 frames over the baseline, student +10 (50 %); fold B (spkB): +10, student +10 (100 %).
const A = [U('spkA_u1', 100, 50, 60, 55, 4, 1, 0, 1), U('spkA_u2', 100, 40, 50, 45, 5, 2, 1, 1)];
const B = [U('spkB_u1', 200, 100, 110, 110, 6, 2, 1, 3)];

describe('pooling experiments into one Table 1 (am-distill pool)', () => {
  it("pools frame accuracy, gain kept and WER over the experiments and keeps each one's row", async () => {
    const a = makeExp('fold-a', A),
      b = makeExp('fold-b', B);
    const out = join(root, 'pooled');
    const p = await writePool([a, b], out, { replicates: 200, seed: 3 });
    expect(p.experiments.map((r) => r.label)).toEqual(['fold-a', 'fold-b']);
    expect(p.experiments[0].frameAccuracy).toEqual({ baseline: 0.45, 'member-1': 0.45, ensemble: 0.55, student: 0.5 });
    expect(p.experiments[0].gainKept).toBeCloseTo(0.5, 12);
    expect(p.experiments[1].gainKept).toBeCloseTo(1, 12);
    // Pooled: 400 frames; baseline 190, ensemble 220, student 210 -> 20 / 30 kept.
    expect(p.pooled.frames).toBe(400);
    expect(p.pooled.frameAccuracy.baseline).toBeCloseTo(190 / 400, 12);
    expect(p.pooled.gainKept).toBeCloseTo(2 / 3, 12);
    expect(p.pooled.meanGainKept).toBeCloseTo(0.75, 12);
    expect(p.pooled.memberMean).toBeCloseTo(190 / 400, 12);
    // WER: 15 words; baseline 5, ensemble 2, student 5 errors.
    expect(p.pooled.refWords).toBe(15);
    expect(p.pooled.wer).toEqual({ baseline: 5 / 15, ensemble: 2 / 15, student: 5 / 15 });
    expect(p.pooled.werGainKept).toBeCloseTo(0, 12);
    const wd = p.differences.wer!.differences;
    expect(wd.map((x) => `${x.a}-${x.b}`)).toEqual(['ensemble-baseline', 'student-baseline', 'student-ensemble']);
    expect(wd[1].value).toBeCloseTo(0, 12);
    expect(wd[0].value).toBeCloseTo(-3 / 15, 12);
    // Both speakers have fewer ensemble errors: every speaker resample does.
    expect(wd[0].ci.high!).toBeLessThan(0);
    expect(wd[0].significant).toBe(true);
    expect(p.differences.frameAccuracy!.differences[0].value).toBeCloseTo(30 / 400, 12);
    expect(p.goal).toEqual({ gainKeptAtLeast80: false, studentWerNotWorse: true });
    // Two test speakers: the headline interval resamples them; the gain kept's interval is that bootstrap's.
    expect(p.design).toEqual({
      folds: [
        { fold: 'spkA', speakers: ['spkA'], seeds: [null], experiments: ['fold-a'] },
        { fold: 'spkB', speakers: ['spkB'], seeds: [null], experiments: ['fold-b'] },
      ],
      seeds: [null],
      speakers: 2,
      sharedSpeakers: [],
    });
    expect(p.differences.frameAccuracy!.speakers).toBe(2);
    const g = p.differences.frameAccuracy!.gainKept;
    expect(p.pooled.gainKeptCi).toEqual({ low: g.ci.low, high: g.ci.high, undefinedReplicates: g.undefinedReplicates });
    expect(p.seedReplicates).toBeNull();
    expect(JSON.parse(readFileSync(join(out, 'pool.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(p)));
    const md = readFileSync(join(out, 'pool.md'), 'utf8');
    expect(md).toBe(formatPoolMarkdown(p));
    expect(md).toContain('| **pooled** |  |  | 3 | 47.50% | 55.00% | 52.50% | **66.7%** |');
    expect(md).toContain('## Differences (pooled)');
    expect(md.indexOf('## Differences')).toBeLessThan(md.indexOf("Mean of the experiments' gain kept"));
    expect(md).toMatch(/paper \(Table 1\)/);
    // Same inputs and seed -> same bytes.
    const again = join(root, 'pooled-again');
    await writePool([a, b], again, { replicates: 200, seed: 3 });
    expect(readFileSync(join(again, 'pool.json'))).toEqual(readFileSync(join(out, 'pool.json')));
  });

  it("adds up the experiments' fidelity, gain sources and member votes when every eval.json has them", async () => {
    const fid = (agree: number, frames: number, kl: number) => ({ frames, agreement: agree / frames, klNats: kl });
    const dA: SplitDiagnostics = {
      fidelity: { baseline: fid(150, 200, 0.5), student: fid(180, 200, 0.2) },
      gainSources: {
        ensembleWins: 30,
        ensembleLosses: 10,
        nets: { student: { capturedWins: 20, copiedLosses: 8, ownWins: 3, ownLosses: 5 } },
      },
      memberVotes: {
        members: 1,
        frames: [110, 90],
        correct: { baseline: [20, 70], ensemble: [0, 90], student: [10, 80] },
      },
    };
    const dB: SplitDiagnostics = {
      fidelity: { baseline: fid(120, 200, 0.7), student: fid(160, 200, 0.4), 'student-T5': fid(1, 200, 1) },
      gainSources: {
        ensembleWins: 15,
        ensembleLosses: 5,
        nets: { student: { capturedWins: 12, copiedLosses: 4, ownWins: 2, ownLosses: 0 } },
      },
      memberVotes: {
        members: 1,
        frames: [100, 100],
        correct: { baseline: [10, 90], ensemble: [0, 100], student: [10, 100] },
      },
    };
    const a = makeExp('diag-a', A, { diagnostics: dA }),
      b = makeExp('diag-b', B, { diagnostics: dB });
    const out = join(root, 'pooled-diag');
    const p = await writePool([a, b], out, { replicates: 50, seed: 1 });
    const d = p.diagnostics;
    // Fidelity over 400 frames: agreement (150 + 120) / 400, KL (0.5 * 200 + 0.7 * 200) / 400; nets both have.
    expect(Object.keys(d.fidelity!)).toEqual(['baseline', 'student']);
    expect(d.fidelity!.baseline.frames).toBe(400);
    expect(d.fidelity!.baseline.agreement).toBeCloseTo(270 / 400, 12);
    expect(d.fidelity!.baseline.klNats).toBeCloseTo(0.6, 12);
    expect(d.fidelity!.student.agreement).toBeCloseTo(340 / 400, 12);
    expect(d.gainSources).toEqual({
      ensembleWins: 45,
      ensembleLosses: 15,
      nets: { student: { capturedWins: 32, copiedLosses: 12, ownWins: 5, ownLosses: 5 } },
    });
    expect(d.memberVotes).toEqual({
      members: 1,
      frames: [210, 190],
      correct: { baseline: [30, 160], ensemble: [0, 190], student: [20, 180] },
    });
    const md = readFileSync(join(out, 'pool.md'), 'utf8');
    expect(md).toContain('## Fidelity to the ensemble');
    expect(md).toContain('| student | 85.00% | 0.300 |');
    expect(md).toContain('| test (pooled) | student | 32 / 45 (71%) | 12 / 15 (80%) | 5 | 5 | 20 |');
    expect(md).toContain('| 1 of 1 | 190 |');
    expect(JSON.parse(readFileSync(join(out, 'pool.json'), 'utf8')).diagnostics).toEqual(JSON.parse(JSON.stringify(d)));
    // One experiment without member votes, or another ensemble size: those are not pooled; the rest are.
    const { memberVotes: _m, ...noVotes } = dB;
    expect(Object.keys(poolDiagnostics([dA, noVotes]))).toEqual(['fidelity', 'gainSources']);
    expect(
      poolDiagnostics([dA, { ...dB, memberVotes: { ...dB.memberVotes!, members: 2, frames: [1, 1, 1] } }]).memberVotes,
    ).toBeUndefined();
    // A malformed record in an eval.json is named with its file and key.
    const badVotes = makeExp('diag-bad', A, {
      diagnostics: { ...dA, memberVotes: { ...dA.memberVotes!, frames: [110] } },
    });
    expect(() => readPoolExperiment(badVotes, 'test')).toThrow(
      /diag-bad.*eval\.json.*splits\.test\.memberVotes\.frames.*expected 2 frame counts/,
    );
    const badFid = makeExp('diag-bad-fid', A, {
      diagnostics: { fidelity: { student: { frames: 200, agreement: 1.5, klNats: 0.1 } } },
    });
    expect(() => readPoolExperiment(badFid, 'test')).toThrow(FormatError);
    // Experiments without any (eval stages before these existed): an empty record, no sections.
    const plain = await writePool([makeExp('plain-a', A), makeExp('plain-b', B)], join(root, 'pooled-plain'), {
      replicates: 50,
    });
    expect(plain.diagnostics).toEqual({});
    expect(readFileSync(join(root, 'pooled-plain', 'pool.md'), 'utf8')).not.toContain('Fidelity');
  });

  it("sums the systems' error lists over the experiments into one table of frequent errors", () => {
    const el = (pairs: [string, string, number][], ins: [string, number][] = []): ErrorLists => ({
      confusionPairs: pairs.map(([ref, hyp, count]) => ({ ref, hyp, count })),
      insertions: ins.map(([word, count]) => ({ word, count })),
      deletions: [],
      substitutions: [],
      falselyRecognized: [],
    });
    const a = makeExp('err-a', A, {
      errorLists: {
        baseline: el([['six', 'three', 3]]),
        ensemble: el([['six', 'three', 2]]),
        student: el(
          [
            ['six', 'three', 4],
            ['eight', 'six', 1],
          ],
          [['oh', 2]],
        ),
      },
    });
    const b = makeExp('err-b', B, {
      errorLists: {
        baseline: el([
          ['eight', 'six', 2],
          ['six', 'three', 1],
        ]),
        ensemble: el([]),
        student: el([['six', 'three', 3]], [['oh', 1]]),
      },
    });
    const p = poolExperiments([readPoolExperiment(a, 'test'), readPoolExperiment(b, 'test')], { replicates: 10 });
    expect(p.frequentErrors).toEqual({
      systems: ['baseline', 'ensemble', 'student'],
      rows: [
        { kind: 'substitution', ref: 'six', hyp: 'three', counts: { baseline: 4, ensemble: 2, student: 7 } },
        { kind: 'substitution', ref: 'eight', hyp: 'six', counts: { baseline: 2, ensemble: 0, student: 1 } },
        { kind: 'insertion', ref: null, hyp: 'oh', counts: { baseline: 0, ensemble: 0, student: 3 } },
      ],
    });
    const md = formatPoolMarkdown(p);
    expect(md).toContain(
      '## Most frequent errors (pooled)\n\n| Error | baseline | ensemble | student |\n|---|---:|---:|---:|\n| six -> three | 4 | 2 | 7 |\n| eight -> six | 2 | 0 | 1 |\n| (insertion) oh | 0 | 0 | 3 |\n',
    );
    // Malformed lists are named by file and key.
    const bad = makeExp('err-bad', B, {
      errorLists: { baseline: el([['six', 'three', 0]]), ensemble: el([]), student: el([]) },
    });
    expect(() => readPoolExperiment(bad, 'test')).toThrow(
      new RegExp(
        `${join(bad, 'score', 'score.json')}, key 'results\\[0\\]\\.errorLists\\.confusionPairs\\[0\\]\\.count': bad error lists in the score summary`,
      ),
    );
    // One experiment scored before the lists: no table.
    const old = makeExp('err-old', B);
    expect(
      poolExperiments([readPoolExperiment(a, 'test'), readPoolExperiment(old, 'test')], { replicates: 10 })
        .frequentErrors,
    ).toBeNull();
  });

  it('pools frame accuracy alone when no experiment was scored, and takes labels', () => {
    const a = makeExp('nos-a', A, { score: false }),
      b = makeExp('nos-b', B, { score: false });
    const p = poolExperiments([readPoolExperiment(a, 'test', 'george'), readPoolExperiment(b, 'test', 'jackson')], {
      replicates: 50,
    });
    expect(p.experiments.map((r) => r.label)).toEqual(['george', 'jackson']);
    expect(p.pooled.wer).toEqual({});
    expect(p.differences.wer).toBeNull();
    expect(p.goal.studentWerNotWorse).toBeNull();
    expect(formatPoolMarkdown(p)).not.toContain('WER baseline');
  });

  it("records a study's choices inside the folds in pool.json and shows them in pool.md", () => {
    const a = makeExp('ch-a', A),
      b = makeExp('ch-b', B);
    const exps = [readPoolExperiment(a, 'test', 'george'), readPoolExperiment(b, 'test', 'jackson')];
    const choices = [
      {
        fold: 'george',
        innerDev: 'jackson',
        metric: 'wer' as const,
        system: 'student',
        candidates: [
          { settings: { 'stages.align.lastModel': 'tri1' }, score: 16.7259 },
          { settings: { 'stages.align.lastModel': 'tri3b', 'stages.align.wordPositionPhones': true }, score: 20.8778 },
        ],
        chosen: 0,
        lmWeights: {
          baseline: { lmWeight: 1.7, wordInsertionPenalty: 1 },
          student: { lmWeight: 1.5, wordInsertionPenalty: 0 },
        },
      },
    ];
    const p = poolExperiments(exps, { replicates: 20, choices });
    expect(p.choices).toEqual(choices);
    const md = formatPoolMarkdown(p);
    expect(md).toContain('## Chosen inside the folds');
    expect(md).toMatch(
      /\| george \| jackson \| 1 \| align\.lastModel = "tri1" \| 16\.73% \| chosen \| baseline 1\.7 \/ 1, student 1\.5 \/ 0 \|/,
    );
    expect(md).toMatch(
      /\| george \| jackson \| 2 \| align\.lastModel = "tri3b", align\.wordPositionPhones = true \| 20\.88% \| {2}\| {2}\|/,
    );
    // Without a study (am-distill pool): no record, no section.
    const plain = poolExperiments(exps, { replicates: 20 });
    expect(plain.choices).toBeUndefined();
    expect(formatPoolMarkdown(plain)).not.toContain('Chosen inside the folds');
  });

  it('names the file and the fix when an experiment has no per-utterance counts', () => {
    const dir = join(root, 'old-eval');
    mkdirSync(join(dir, 'eval'), { recursive: true });
    const err = (() => {
      try {
        readPoolExperiment(dir, 'test');
      } catch (e) {
        return e;
      }
    })() as FormatError;
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toContain(join(dir, 'eval', 'test.utts.jsonl'));
    expect(err.message).toMatch(/re-run the eval stage/);
  });

  it('rejects a bad line with its file and line number, a repeated utterance, and counts that do not add up', () => {
    const a = makeExp('bad-line', A);
    const f = join(a, 'eval', 'test.utts.jsonl');
    writeFileSync(f, readFileSync(f, 'utf8') + '{"uttId": "u3", "frames": 10, "correct": {"baseline": 11}}\n');
    expect(() => readPoolExperiment(a, 'test')).toThrow(new RegExp(`${f}:3: bad per-utterance frame counts`));
    writeFileSync(f, '{"uttId": "u1", "frames": 10, "correct": {}}\nnot json\n');
    expect(() => readPoolExperiment(a, 'test')).toThrow(new RegExp(`${f}:2: not a JSON line`));
    const rep = makeExp('repeat', [A[0], A[0]], { evalJson: false });
    expect(() => readPoolExperiment(rep, 'test')).toThrow(/utterance 'spkA_u1'.*listed twice/);
    const broken = makeExp('broken-score', A);
    writeFileSync(join(broken, 'score', 'score.json'), '{"format": ');
    expect(() => readPoolExperiment(broken, 'test')).toThrow(
      new RegExp(`${join(broken, 'score', 'score.json')}: score\\.json is not valid JSON`),
    );
    const stale = makeExp('stale', A, { tamper: 1 });
    expect(() => readPoolExperiment(stale, 'test')).toThrow(/do not add up to eval.json/);
  });

  it('refuses to pool scored with unscored experiments, repeated labels, and nothing', () => {
    const a = makeExp('mix-a', A),
      b = makeExp('mix-b', B, { score: false });
    expect(() => poolExperiments([readPoolExperiment(a, 'test'), readPoolExperiment(b, 'test')])).toThrow(
      new RegExp(`${join(b, 'score', 'score.json')}: no word errors`),
    );
    const x = readPoolExperiment(a, 'test', 'same');
    expect(() => poolExperiments([x, { ...x }])).toThrow(ConfigError);
    expect(() => poolExperiments([])).toThrow(/nothing to pool/);
    // A model missing from one utterance of the second experiment: the error names that experiment.
    const y = readPoolExperiment(b, 'test', 'other');
    const gap = { ...y, frames: [{ ...y.frames[0], correct: { baseline: 1, ensemble: 1 } }] };
    expect(() => poolExperiments([readPoolExperiment(makeExp('gap-a', A), 'test'), gap])).toThrow(
      new RegExp(`${join(b, 'eval')}: 'student' is missing`),
    );
  });

  it('runs as a command: prints pool.md and writes pool.json; a bad flag is a typed error', async () => {
    const a = makeExp('cli-a', A),
      b = makeExp('cli-b', B);
    const out = join(root, 'cli-out');
    let stdout = '',
      stderr = '';
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      stdout += String(s);
      return true;
    });
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      stderr += String(s);
      return true;
    });
    try {
      expect(
        await main(['node', 'am-distill', 'pool', a, b, '--out', out, '--labels', 'A,B', '--replicates', '100']),
      ).toBe(0);
      expect(
        await main(['node', 'am-distill', 'pool', a, b, '--out', join(root, 'cli-bad'), '--confidence', '1.5']),
      ).not.toBe(0);
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
    expect(stdout).toContain('# Pooled Table 1 (2 experiments');
    expect(stdout).toContain('| A | spkA |  | 2 |');
    expect(JSON.parse(readFileSync(join(out, 'pool.json'), 'utf8')).bootstrap).toMatchObject({
      replicates: 100,
      seed: 0,
      method: 'speaker-bootstrap',
    });
    expect(stderr).toMatch(/--confidence/);
    expect(existsSync(join(root, 'cli-bad'))).toBe(false);
  });

  it('shows a control beside the baseline, with student - control and control - baseline among the differences', () => {
    const ctl = {
      models: (u: Utt) => ({ control: u.b + 2 }),
      systems: (u: Utt) => ({ control: Math.max(0, u.errB - 1) }),
    };
    const a = makeExp('ctl-a', A, ctl),
      b = makeExp('ctl-b', B, ctl);
    const p = poolExperiments([readPoolExperiment(a, 'test'), readPoolExperiment(b, 'test')], { replicates: 100 });
    const pairs = (m: 'frameAccuracy' | 'wer') => p.differences[m]!.differences.map((x) => `${x.a}-${x.b}`);
    expect(pairs('frameAccuracy')).toEqual([
      'ensemble-baseline',
      'student-baseline',
      'student-ensemble',
      'control-baseline',
      'student-control',
    ]);
    expect(pairs('wer')).toEqual(pairs('frameAccuracy'));
    // control: baseline + 2 frames per utterance (6 of 400); student 210 - control 196 correct frames.
    const fd = p.differences.frameAccuracy!.differences;
    expect(fd[3].value).toBeCloseTo(6 / 400, 12);
    expect(fd[4].value).toBeCloseTo(14 / 400, 12);
    expect(p.differences.wer!.differences[4].value).toBeCloseTo((5 - 2) / 15, 12);
    const md = formatPoolMarkdown(p);
    expect(md).toContain(
      '| Experiment | fold | seed | utts | frame acc. baseline | frame acc. control | frame acc. ensemble | frame acc. student | gain kept | words | WER baseline | WER control | WER ensemble | WER student |',
    );
    expect(md).toContain('| student - control | +3.50 |');
    // Without a control in one experiment: pooled without it, as before.
    const plain = poolExperiments([readPoolExperiment(a, 'test'), readPoolExperiment(makeExp('ctl-none', B), 'test')], {
      replicates: 10,
    });
    expect(plain.differences.frameAccuracy!.differences).toHaveLength(3);
  });

  it("pools 2 seeds x 2 folds: pairs the seeds, gives each system's mean and spread, and averages the differences over the seeds", () => {
    // Seed 2 moves the student by +4 frames per utterance and the baseline by -2; folds by speaker via prepare's supervisions.
    const shift = (us: Utt[], db: number, ds: number, dErr: number) =>
      us.map((u) => ({ ...u, b: u.b + db, s: u.s + ds, errS: u.errS + dErr }));
    const A2 = [...A, U('spkA_u3', 50, 20, 30, 25, 3, 1, 0, 1)].map((u, i) => ({ ...u, id: `a${i}` }));
    const B2 = [...B, U('spkB_u2', 80, 40, 44, 46, 2, 1, 1, 0)].map((u, i) => ({ ...u, id: `b${i}` }));
    const spk = (us: Utt[], who: string) => Object.fromEntries(us.map((u) => [u.id, who]));
    const dirs = [
      makeExp('s-a-1', A2, { netSeed: 1, speakers: spk(A2, 'george') }),
      makeExp('s-b-1', B2, { netSeed: 1, speakers: spk(B2, 'jackson') }),
      makeExp('s-a-2', shift(A2, -2, 4, 1), { netSeed: 2, speakers: spk(A2, 'george') }),
      makeExp('s-b-2', shift(B2, -2, 4, 1), { netSeed: 2, speakers: spk(B2, 'jackson') }),
    ];
    const exps = dirs.map((d) => readPoolExperiment(d, 'test'));
    expect(exps.map((e) => e.seed)).toEqual([1, 1, 2, 2]);
    const p = poolExperiments(exps, { replicates: 300, seed: 5 });
    expect(p.design.folds.map((f) => [f.fold, f.seeds, f.experiments])).toEqual([
      ['george', [1, 2], ['s-a-1', 's-a-2']],
      ['jackson', [1, 2], ['s-b-1', 's-b-2']],
    ]);
    expect(p.design.seeds).toEqual([1, 2]);
    expect(p.experiments.map((r) => [r.fold, r.seed])).toEqual([
      ['george', 1],
      ['jackson', 1],
      ['george', 2],
      ['jackson', 2],
    ]);
    // Per seed, pooled over the folds: 530 frames, 5 utterances.
    const F = 530,
      n = 5;
    const base1 = (50 + 40 + 20 + 100 + 40) / F,
      stu1 = (55 + 45 + 25 + 110 + 46) / F;
    const sr = p.seedReplicates!;
    expect(sr.perSeed.map((q) => q.seed)).toEqual([1, 2]);
    expect(sr.perSeed[0].frameAccuracy.baseline).toBeCloseTo(base1, 12);
    expect(sr.perSeed[1].frameAccuracy.student).toBeCloseTo(stu1 + (4 * n) / F, 12);
    expect(sr.frameAccuracy.student.mean).toBeCloseTo(stu1 + (2 * n) / F, 12);
    expect(sr.frameAccuracy.student.min).toBeCloseTo(stu1, 12);
    expect(sr.frameAccuracy.student.max).toBeCloseTo(stu1 + (4 * n) / F, 12);
    expect(sr.frameAccuracy.student.sd).toBeCloseTo((Math.SQRT2 * (2 * n)) / F, 12);
    expect(sr.frameAccuracy.ensemble.sd).toBe(0);
    expect(sr.wer.student.max - sr.wer.student.min).toBeCloseTo(n / (4 + 5 + 3 + 6 + 2), 12);
    // The pooled row counts each utterance once: the mean over seeds.
    expect(p.pooled.utterances).toBe(n);
    expect(p.pooled.frameAccuracy.student).toBeCloseTo(sr.frameAccuracy.student.mean, 12);
    // student - baseline = mean over the seeds of the pooled differences (+6 frames per utterance on seed 2).
    const sb = p.differences.frameAccuracy!.differences.find((x) => x.a === 'student' && x.b === 'baseline')!;
    const d1 = stu1 - base1,
      d2 = d1 + (6 * n) / F;
    expect(sb.value).toBeCloseTo((d1 + d2) / 2, 12);
    // The interval: one speaker resample per replicate applied to both seeds = the bootstrap of the seed-averaged counts.
    const all = [...A2, ...B2];
    const direct = bootstrapSums(
      [all.map((u) => u.frames), all.map((u) => u.s + 2 - (u.b - 1))],
      [(t) => t[1] / t[0]],
      {
        replicates: 300,
        seed: 5,
        confidence: 0.95,
        clusters: all.map((u) => (u.id.startsWith('a') ? 'george' : 'jackson')),
      },
    );
    expect(sb.ci.low).toBeCloseTo(direct.estimates[0].low!, 12);
    expect(sb.ci.high).toBeCloseTo(direct.estimates[0].high!, 12);
    expect(p.differences.frameAccuracy!.speakers).toBe(2);
    const md = formatPoolMarkdown(p);
    expect(md).toContain('2 folds x 2 seed replicates (seeds 1, 2), 2 test speakers.');
    expect(md).toContain('## Seeds');
    expect(md).toMatch(/\| student \| frame acc\. \| [\d.]+% \| [\d.]+ \| [\d.]+% \| [\d.]+% \| [\d.]+% \| [\d.]+% \|/);
    expect(md).toContain('mean over the 2 seeds of the difference pooled over the folds');
    // Seeds that cannot be paired, and one fold twice with one seed, are refused.
    expect(() => poolExperiments([exps[0], exps[1], exps[2]], { replicates: 10 })).toThrow(
      /different seed replicates.*george: 1, 2; jackson: 1/,
    );
    // The same run twice is a replicate twice: the same rates and intervals as the run alone.
    const twice = poolExperiments([exps[0], { ...exps[0], label: 'again' }], { replicates: 50 });
    const once = poolExperiments([exps[0]], { replicates: 50 });
    expect(twice.design.seeds).toEqual([1, 1]);
    expect(twice.pooled.frameAccuracy).toEqual(once.pooled.frameAccuracy);
    expect(twice.differences.frameAccuracy!.differences).toEqual(once.differences.frameAccuracy!.differences);
    expect(twice.differences.wer!.gainKept.ci).toEqual(once.differences.wer!.gainKept.ci);
    // A seed replicate evaluated on other utterances is named.
    expect(() =>
      poolExperiments([exps[0], { ...exps[2], frames: exps[2].frames.slice(1) }], { replicates: 10 }),
    ).toThrow(/seed replicates of a fold have different utterances/);
  });

  it("says the share kept is not meaningful when the ensemble's gain is below the members' seed spread", () => {
    // Members 2 frames apart per utterance (6 of 300 = 2 points); the ensemble gains 1 frame per utterance (1 point).
    const us = [
      U('x_1', 100, 50, 51, 51, 4, 1, 1, 1),
      U('y_1', 100, 40, 41, 41, 4, 1, 1, 1),
      U('z_1', 100, 60, 61, 60, 4, 1, 1, 1),
    ];
    const p = poolExperiments(
      [readPoolExperiment(makeExp('nm', us, { models: (u) => ({ 'member-2': u.b + 2 }) }), 'test')],
      { replicates: 100 },
    );
    const g = p.differences.frameAccuracy!.gainKept;
    expect(p.differences.frameAccuracy!.seedSpread!.nets).toBe(2);
    expect(p.differences.frameAccuracy!.seedSpread!.range).toBeCloseTo(0.02, 12);
    expect(g.meaningful).toBe(false);
    expect(g.note).toContain('is not meaningful');
    expect(g.note).toContain("(+1.00 points) is smaller than the spread of the members' frame accuracies (2.00 points");
    expect(formatPoolMarkdown(p)).toContain("is not meaningful: the ensemble's gain over the baseline (+1.00 points)");
    // A gain above the spread is meaningful.
    const wide = us.map((u) => ({ ...u, e: u.e + 5 }));
    expect(
      poolExperiments(
        [readPoolExperiment(makeExp('nm-ok', wide, { models: (u) => ({ 'member-2': u.b + 2 }) }), 'test')],
        { replicates: 10 },
      ).differences.frameAccuracy!.gainKept.meaningful,
    ).toBe(true);
  });

  it('gives no interval with one test speaker, and says why', () => {
    const p = poolExperiments([readPoolExperiment(makeExp('one-spk', A), 'test')], { replicates: 50 });
    const fa = p.differences.frameAccuracy!;
    expect(fa.note).toBe('n/a: 1 speaker');
    expect(fa.differences.every((x) => x.ci.low === null && x.ci.high === null && x.significant === null)).toBe(true);
    expect(fa.differences[0].utteranceCi.low).not.toBeNull();
    expect(p.pooled.gainKeptCi).toMatchObject({ low: null, high: null });
    expect(formatPoolMarkdown(p)).toContain('| ensemble - baseline | +10.00 | n/a: 1 speaker |');
  });
});
