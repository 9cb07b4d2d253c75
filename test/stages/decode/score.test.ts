/** scoreDecodeDir: the score stage's library function, on a decode directory written by hand. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scoreDecodeDir } from '../../../src/stages/score.ts';
import { reportWerInputs } from '../../../src/report/score-input.ts';
import { parseTrn } from '../../../src/score/trn.ts';
import { scoreTranscripts } from '../../../src/score/wer.ts';
import { pairedBootstrapWer } from '../../../src/score/significance.ts';
import { validateReportInput } from '../../../src/report/validate.ts';
import { FormatError } from '../../../src/util/errors.ts';
import { quiet } from './fixtures.ts';

let root: string;

const REFS = {
  dev: '1 2 3 (spkA_1)\n4 5 (spkA_2)\n6 7 8 9 (spkB_1)\n',
  test: 'one two three (tA_1)\nfour five six (tA_2)\nseven (tB_1)\neight nine ten eleven (tB_2)\n',
};
const HYPS: Record<string, Record<string, string>> = {
  baseline: {
    dev: '1 2 (spkA_1)\n4 5 (spkA_2)\n6 x 8 9 (spkB_1)\n',
    test: 'one two (tA_1)\nfour fife six sixty (tA_2)\n(tB_1)\neight nine ten eleven (tB_2)\n',
  },
  ensemble: {
    dev: '1 2 3 (spkA_1)\n4 5 (spkA_2)\n6 7 8 9 (spkB_1)\n',
    test: 'one two three (tA_1)\nfour five six (tA_2)\nseven (tB_1)\neight nine tan eleven (tB_2)\n',
  },
  student: {
    dev: '1 2 3 (spkA_1)\n4 (spkA_2)\n6 7 8 9 (spkB_1)\n',
    test: 'one two three (tA_1)\nfour fife six (tA_2)\nheaven (tB_1)\neight nine ten eleven (tB_2)\n',
  },
};

function writeDecodeDir(dir: string, systems = Object.keys(HYPS)): void {
  mkdirSync(join(dir, 'refs'), { recursive: true });
  for (const [split, text] of Object.entries(REFS)) writeFileSync(join(dir, 'refs', `${split}.trn`), text);
  for (const s of systems) {
    mkdirSync(join(dir, s), { recursive: true });
    for (const [split, text] of Object.entries(HYPS[s])) writeFileSync(join(dir, s, `${split}.trn`), text);
  }
  // The recogniser vocabulary lacks 'eleven' and 'seven' (reference OOVs).
  writeFileSync(
    join(dir, 'words.txt'),
    [
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
      '7',
      '8',
      '9',
      'x',
      'one',
      'two',
      'three',
      'four',
      'five',
      'fife',
      'six',
      'sixty',
      'eight',
      'nine',
      'ten',
      'tan',
      'heaven',
    ].join('\n') + '\n',
  );
  const split = (noPath: number) => ({
    utterances: 0,
    decoded: 0,
    frames: 0,
    noPath,
    noPathUtterances: [],
    noFeatures: 0,
    emptyHyps: 0,
    wer: null,
    errors: null,
    refWords: null,
    files: {},
  });
  writeFileSync(
    join(dir, 'decode.json'),
    JSON.stringify({
      format: 'am-distill.decode',
      formatVersion: 1,
      tuneSplit: 'dev',
      splits: ['dev', 'test'],
      systems: systems.map((name) => ({
        name,
        models: [],
        kind: 'single',
        lmWeight: 1.1,
        wordInsertionPenalty: 0.5,
        weightsFrom: 'tuning',
        tuning: { split: 'dev' },
        splits: { dev: split(0), test: split(name === 'baseline' ? 1 : 0) },
      })),
    }),
  );
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'amd-scorestage-'));
  writeDecodeDir(join(root, 'decode'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('scoreDecodeDir', () => {
  let s: Awaited<ReturnType<typeof scoreDecodeDir>>;
  beforeAll(async () => {
    s = await scoreDecodeDir({
      decodeDir: join(root, 'decode'),
      outDir: join(root, 'score'),
      bootstrapReplicates: 200,
      seed: 7,
      worstUtterances: 2,
      logger: quiet,
    });
  });

  it('scores every system and split as src/score does (sclite), with reference OOVs and decode counts', () => {
    expect(s.results.map((r) => `${r.system}/${r.split}`)).toEqual([
      'baseline/dev',
      'ensemble/dev',
      'student/dev',
      'baseline/test',
      'ensemble/test',
      'student/test',
    ]);
    for (const r of s.results) {
      const w = scoreTranscripts(parseTrn(REFS[r.split as 'dev' | 'test']), parseTrn(HYPS[r.system][r.split]));
      expect([r.wer, r.errors, r.refWords, r.sub, r.del, r.ins, r.sentenceErrors]).toEqual([
        w.wer,
        w.errors,
        w.refWords,
        w.sub,
        w.del,
        w.ins,
        w.sentenceErrors,
      ]);
      expect(r.counts).toEqual({
        refWords: w.refWords,
        sub: w.sub,
        del: w.del,
        ins: w.ins,
        sentences: w.sentences,
        sentenceErrors: w.sentenceErrors,
      });
      expect(r.utterances.reduce((a, u) => a + u.sub + u.del + u.ins, 0)).toBe(w.errors);
    }
    const bt = s.results.find((r) => r.system === 'baseline' && r.split === 'test')!;
    expect(bt).toMatchObject({
      errors: 4,
      refWords: 11,
      emptyHyps: 1,
      noPath: 1,
      refOovs: 2,
      refOovWords: ['eleven', 'seven'],
      lmWeight: 1.1,
      wordInsertionPenalty: 0.5,
      tunedOnThisSplit: false,
    });
    expect(s.results.find((r) => r.system === 'baseline' && r.split === 'dev')!.tunedOnThisSplit).toBe(true);
    expect(bt.speakers.map((x) => [x.speaker, x.errors, x.refWords])).toEqual([
      ['tA', 3, 6],
      ['tB', 1, 5],
    ]);
  });

  it("lists the worst utterances with their alignments, and the student's worst for every system", () => {
    const bt = s.results.find((r) => r.system === 'baseline' && r.split === 'test')!;
    // Most errors first, then the higher error rate (tB_1: 1 of 1 words before tA_1: 1 of 3).
    expect(bt.worst.map((w) => [w.uttId, w.errors])).toEqual([
      ['tA_2', 2],
      ['tB_1', 1],
    ]);
    expect(bt.worst[0]).toMatchObject({
      ref: 'REF:  four FIVE six *****',
      hyp: 'HYP:  four FIFE six SIXTY',
      eval: 'Eval:      S        I',
    });
    for (const r of s.results.filter((x) => x.split === 'test'))
      expect(r.alignments.map((a) => a.uttId)).toEqual(['tA_2', 'tB_1']);
    expect(readFileSync(join(root, 'score', 'baseline', 'test.wer'), 'utf8')).toBe(
      '%WER 36.36 [ 4 / 11, 1 ins, 2 del, 1 sub ]\n%SER 75.00 [ 3 / 4 ]\n',
    );
    expect(readFileSync(join(root, 'score', 'baseline', 'test.sys'), 'utf8')).toMatch(/\| tA {5}\| {4}2 {6}6 \|/);
    expect(readFileSync(join(root, 'score', 'student', 'dev.pralign'), 'utf8')).toMatch(
      /id: \(spkA_2\)\nScores: \(#C #S #D #I\) 1 0 1 0/,
    );
  });

  it("writes sclite's error lists (dtl) and keeps their heads in score.json", () => {
    const bt = s.results.find((r) => r.system === 'baseline' && r.split === 'test')!;
    expect(bt.errorLists).toEqual({
      confusionPairs: [{ ref: 'five', hyp: 'fife', count: 1 }],
      insertions: [{ word: 'sixty', count: 1 }],
      deletions: [
        { word: 'seven', count: 1 },
        { word: 'three', count: 1 },
      ],
      substitutions: [{ word: 'five', count: 1 }],
      falselyRecognized: [{ word: 'fife', count: 1 }],
    });
    expect(bt.files.dtl).toBe(join('baseline', 'test.dtl'));
    const dtl = readFileSync(join(root, 'score', 'baseline', 'test.dtl'), 'utf8');
    expect(dtl).toMatch(/^CONFUSION PAIRS {18}Total {17}\(1\)\n/);
    expect(dtl).toContain('   1:    1  ->  five ==> fife\n');
    expect(dtl).toMatch(
      /DELETIONS {24}Total {17}\(2\)\n.*\n\n {3}1: {4}1 {2}-> {2}seven\n {3}2: {4}1 {2}-> {2}three\n/,
    );
    const json = JSON.parse(readFileSync(join(root, 'score', 'score.json'), 'utf8'));
    expect(
      json.results.find((r: { system: string; split: string }) => r.system === 'student' && r.split === 'test')
        .errorLists.confusionPairs,
    ).toEqual([
      { ref: 'five', hyp: 'fife', count: 1 },
      { ref: 'seven', hyp: 'heaven', count: 1 },
    ]);
  });

  it('compares student with baseline (and the ensemble) by paired bootstrap, seeded', () => {
    expect(s.comparisons.map((c) => `${c.a}-${c.b}/${c.split}`)).toEqual([
      'student-baseline/dev',
      'student-baseline/test',
      'ensemble-baseline/dev',
      'ensemble-baseline/test',
      'student-ensemble/dev',
      'student-ensemble/test',
    ]);
    const c = s.comparisons[1];
    const r = (sys: string) => scoreTranscripts(parseTrn(REFS.test), parseTrn(HYPS[sys].test));
    expect(c).toMatchObject({ ...pairedBootstrapWer(r('student'), r('baseline'), { replicates: 200, seed: 7 }) });
    expect(c.deltaWer).toBeCloseTo((100 * (2 - 4)) / 11, 10);
    expect(c.significant).toBe(c.ciLow > 0 || c.ciHigh < 0);
    expect(JSON.parse(readFileSync(join(root, 'score', 'score.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(s)));
  });

  it('hands the report valid WER inputs (src/report validates them)', () => {
    const wer = reportWerInputs(s);
    const systems = Object.fromEntries(
      Object.entries(wer).map(([k, v]) => [k, { ...v, frameAccuracy: { dev: 0.5, test: 0.5 } }]),
    );
    const input = {
      format: 'am-distill.report-input',
      formatVersion: 1,
      corpus: { name: 'x', splits: {} },
      systems,
      stages: {},
      environment: { backend: 'cpu', versions: {}, commit: null, configHash: 'h' },
    };
    expect(() => validateReportInput(input, 'report-input.json')).not.toThrow();
    expect(wer.student.wer.test).toEqual({ refWords: 11, sub: 2, del: 0, ins: 0, sentences: 4, sentenceErrors: 2 });
    expect(wer.student.errorLists!.test!.confusionPairs).toEqual([
      { ref: 'five', hyp: 'fife', count: 1 },
      { ref: 'seven', hyp: 'heaven', count: 1 },
    ]);
    // A score.json from before the error lists: no lists, still valid input.
    const old = JSON.parse(JSON.stringify(s));
    for (const r of old.results) delete r.errorLists;
    expect(reportWerInputs(old).student.errorLists).toEqual({});
  });

  it('leaves out comparisons with a system that was not decoded', async () => {
    writeDecodeDir(join(root, 'two'), ['baseline', 'student']);
    const t = await scoreDecodeDir({
      decodeDir: join(root, 'two'),
      outDir: join(root, 'score2'),
      bootstrapReplicates: 10,
      logger: quiet,
    });
    expect(t.comparisons.map((c) => `${c.a}-${c.b}`)).toEqual(['student-baseline', 'student-baseline']);
  });

  it('rejects a hypothesis file that misses a reference utterance, naming both files, and a directory without decode.json', async () => {
    const dir = join(root, 'missing');
    writeDecodeDir(dir, ['baseline']);
    writeFileSync(join(dir, 'baseline', 'test.trn'), 'one two (tA_1)\n');
    let err = await scoreDecodeDir({ decodeDir: dir, outDir: join(root, 'score3'), logger: quiet }).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toContain(join(dir, 'refs', 'test.trn'));
    expect(err.message).toMatch(/utterance 'tA_2' has no hypothesis/);
    expect(existsSync(join(root, 'score3', 'score.json'))).toBe(false);
    err = await scoreDecodeDir({ decodeDir: join(root, 'nothing'), outDir: join(root, 'score4'), logger: quiet }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toMatch(/decode.json/);
  });
});
