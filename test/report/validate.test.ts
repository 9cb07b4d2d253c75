import { describe, it, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readReportInput, validateReportInput, validateReportJson } from '../../src/report/validate.ts';
import { buildReport } from '../../src/report/build.ts';
import { FormatError } from '../../src/util/errors.ts';
import type { ReportInput } from '../../src/report/types.ts';
import { clone, makeFixture, tempDir } from './fixtures.ts';

const base = makeFixture(5, undefined, { perSpeaker: 5 }).input;

/** Apply `edit` to a copy of the fixture input and return the validation error message. */
function errorOf(edit: (x: any) => void): string {
  const x = clone(base) as any;
  edit(x);
  try {
    validateReportInput(x, 'exp/report-input.json');
  } catch (err) {
    expect(err).toBeInstanceOf(FormatError);
    return (err as Error).message;
  }
  return expect.fail('expected a FormatError');
}

describe('validateReportInput', () => {
  it('accepts the generated input', () => {
    expect(validateReportInput(clone(base))).toBeTruthy();
  });
  it('rejects a percentage where a fraction belongs, naming file and key path', () => {
    expect(
      errorOf((x) => {
        x.systems.baseline.frameAccuracy.test = 58.9;
      }),
    ).toMatch(
      /exp\/report-input\.json, key 'systems\.baseline\.frameAccuracy\.test': invalid report input; expected a fraction in \[0, 1\] \(not a percentage\), found 58\.9/,
    );
    expect(
      errorOf((x) => {
        x.softTargets.keptMass = 98.7;
      }),
    ).toMatch(/key 'softTargets\.keptMass'.*fraction/);
    expect(
      errorOf((x) => {
        x.systems.student.trainingCurve[2].devFrameAccuracy = -0.1;
      }),
    ).toMatch(/systems\.student\.trainingCurve\[2\]\.devFrameAccuracy/);
  });
  it('checks error lists: counts >= 1, words as strings', () => {
    expect(
      errorOf((x) => {
        x.systems.student.errorLists.test.confusionPairs[0].count = 0;
      }),
    ).toMatch(/key 'systems\.student\.errorLists\.test\.confusionPairs\[0\]\.count'/);
    expect(
      errorOf((x) => {
        x.systems.baseline.errorLists.dev.insertions.push({ word: 3, count: 1 });
      }),
    ).toMatch(/systems\.baseline\.errorLists\.dev\.insertions\[\d+\]\.word/);
    expect(
      errorOf((x) => {
        x.systems.baseline.errorLists.test = { confusionPairs: [] };
      }),
    ).toMatch(/systems\.baseline\.errorLists\.test\.insertions/);
  });
  it('requires baseline, ensemble and student, and rejects unknown system ids and keys', () => {
    expect(
      errorOf((x) => {
        delete x.systems.student;
      }),
    ).toMatch(/key 'systems\.student'.*expected a value \(required\)/);
    expect(
      errorOf((x) => {
        x.systems.teacher = x.systems.baseline;
      }),
    ).toMatch(/key 'systems\.teacher'.*no such key/);
    expect(
      errorOf((x) => {
        x.systems['member-0'] = x.systems.baseline;
      }),
    ).toMatch(/systems\.member-0/);
    expect(
      errorOf((x) => {
        x.systems.baseline.frameAcc = 0.5;
      }),
    ).toMatch(/systems\.baseline\.frameAcc.*no such key/);
    expect(
      errorOf((x) => {
        x.systems.baseline.members = 3;
      }),
    ).toMatch(/members only on the ensemble/);
  });
  it('rejects a wrong format tag or version', () => {
    expect(
      errorOf((x) => {
        x.format = 'something-else';
      }),
    ).toMatch(/key 'format'.*am-distill\.report-input/);
    expect(
      errorOf((x) => {
        x.formatVersion = 2;
      }),
    ).toMatch(/key 'formatVersion'.*expected 1, found 2/);
  });
  it('rejects inconsistent WER counts', () => {
    expect(
      errorOf((x) => {
        x.systems.student.wer.test.sub = x.systems.student.wer.test.refWords + 1;
      }),
    ).toMatch(/systems\.student\.wer\.test.*sub \+ del <= refWords/);
    expect(
      errorOf((x) => {
        x.systems.student.wer.test.refWords = 0;
      }),
    ).toMatch(/systems\.student\.wer\.test\.refWords.*integer >= 1/);
    expect(
      errorOf((x) => {
        x.systems.student.wer.dev.ins = 1.5;
      }),
    ).toMatch(/wer\.dev\.ins.*integer/);
    expect(
      errorOf((x) => {
        x.systems.student.utterances.test[0].sub += 1;
        x.systems.student.utterances.test[0].refWords += 1;
      }),
    ).toMatch(/systems\.student\.utterances\.test.*per-utterance counts adding up to wer\.test/);
    expect(
      errorOf((x) => {
        x.systems.student.utterances.test.push(x.systems.student.utterances.test[0]);
      }),
    ).toMatch(/each utterance once|adding up/);
    expect(
      errorOf((x) => {
        x.systems.student.speakers.test.push(x.systems.student.speakers.test[0]);
      }),
    ).toMatch(/each speaker once/);
  });
  it('rejects malformed alignments and curves', () => {
    expect(
      errorOf((x) => {
        x.systems.student.alignments[0].pairs[0].op = 'X';
      }),
    ).toMatch(/alignments\[0\]\.pairs\[0\]\.op.*one of 'C', 'S', 'D', 'I'/);
    expect(
      errorOf((x) => {
        x.systems.student.alignments[0].pairs.push({ op: 'I', ref: 'a', hyp: 'b' });
      }),
    ).toMatch(/ref'.*null for an insertion/);
    expect(
      errorOf((x) => {
        x.systems.student.alignments[0].split = 'train';
      }),
    ).toMatch(/alignments\[0\]\.split.*one of dev, test/);
    expect(
      errorOf((x) => {
        x.systems.student.trainingCurve[3].epoch = 1;
      }),
    ).toMatch(/trainingCurve\[3\]\.epoch.*increasing order/);
  });
  it('rejects bad environment, stage times and temperatures', () => {
    expect(
      errorOf((x) => {
        x.environment.commit = 5;
      }),
    ).toMatch(/environment\.commit/);
    expect(
      errorOf((x) => {
        delete x.environment.configHash;
      }),
    ).toMatch(/environment\.configHash.*required/);
    expect(
      errorOf((x) => {
        x.stages.align = -1;
      }),
    ).toMatch(/stages\.align.*seconds >= 0/);
    expect(
      errorOf((x) => {
        x.stageJobs = { nosuch: { count: 3, seconds: 1 } };
      }),
    ).toMatch(/stageJobs.*nosuch/);
    expect(
      errorOf((x) => {
        x.stageJobs = { align: { count: 0, seconds: 1 } };
      }),
    ).toMatch(/stageJobs\.align\.count/);
    expect(
      errorOf((x) => {
        x.stageJobs = { align: { count: 2 } };
      }),
    ).toMatch(/stageJobs\.align\.seconds.*required/);
    expect(
      errorOf((x) => {
        x.temperatureSweep[1].T = 0;
      }),
    ).toMatch(/temperatureSweep\[1\]\.T.*temperature > 0/);
    expect(
      errorOf((x) => {
        x.softTargets.k = 0;
      }),
    ).toMatch(/softTargets\.k/);
  });
  it('checks the gain-kept evidence: interval order, confidence level, counts', () => {
    const ok = { vsMemberMean: -0.2, ci: { low: 0.1, high: 1.3, confidence: 0.95, replicates: 1000, utterances: 40 } };
    expect(validateReportInput({ ...clone(base), frameAccuracyGain: ok })).toBeTruthy();
    expect(
      errorOf((x) => {
        x.frameAccuracyGain = { ...ok, ci: { ...ok.ci, low: 2 } };
      }),
    ).toMatch(/frameAccuracyGain\.ci.*low <= high/);
    expect(
      errorOf((x) => {
        x.frameAccuracyGain = { ...ok, ci: { ...ok.ci, confidence: 95 } };
      }),
    ).toMatch(/frameAccuracyGain\.ci\.confidence/);
    expect(
      errorOf((x) => {
        x.frameAccuracyGain = { ...ok, ci: { ...ok.ci, utterances: 0 } };
      }),
    ).toMatch(/frameAccuracyGain\.ci\.utterances/);
    expect(
      errorOf((x) => {
        x.frameAccuracyGain = { vsMemberMean: null };
      }),
    ).toMatch(/frameAccuracyGain\.ci/);
    const r = buildReport({ ...clone(base), frameAccuracyGain: ok });
    expect(validateReportJson(JSON.parse(JSON.stringify(r)))).toBeTruthy();
  });
  it('checks the fidelity rows: a known system, agreement a fraction, KL >= 0', () => {
    const ok = [
      { system: 'student', train: { agreement: 0.9, klNats: 0.1 }, dev: null, test: { agreement: 0.7, klNats: 0.5 } },
    ];
    expect(validateReportInput({ ...clone(base), fidelity: ok })).toBeTruthy();
    expect(
      errorOf((x) => {
        x.fidelity = [{ ...ok[0], test: { agreement: 70, klNats: 0.5 } }];
      }),
    ).toMatch(/fidelity\[0\]\.test\.agreement.*fraction/);
    expect(
      errorOf((x) => {
        x.fidelity = [{ ...ok[0], train: { agreement: 0.9, klNats: -0.1 } }];
      }),
    ).toMatch(/fidelity\[0\]\.train\.klNats.*KL divergence >= 0/);
    expect(
      errorOf((x) => {
        x.fidelity = [{ ...ok[0], system: 'teacher' }];
      }),
    ).toMatch(/fidelity\[0\]\.system.*one of the systems/);
    expect(
      errorOf((x) => {
        x.fidelity = [{ system: 'student', test: null }];
      }),
    ).toMatch(/fidelity\[0\]\.train.*required/);
    const r = buildReport({ ...clone(base), fidelity: ok });
    expect(r.fidelity).toEqual(ok);
    expect(validateReportJson(JSON.parse(JSON.stringify(r)))).toBeTruthy();
    expect(() =>
      validateReportJson({
        ...JSON.parse(JSON.stringify(r)),
        fidelity: [{ ...ok[0], dev: { agreement: 2, klNats: 0 } }],
      }),
    ).toThrow(/fidelity\[0\]\.dev\.agreement/);
  });
  it('accepts the optional parts left out', () => {
    const x = clone(base) as ReportInput;
    delete x.softTargets;
    delete x.temperatureSweep;
    for (const s of Object.values(x.systems)) {
      delete s.speakers;
      delete s.utterances;
      delete s.alignments;
      delete s.trainingCurve;
      s.wer.dev = null;
      s.frameAccuracy.dev = null;
    }
    expect(() => validateReportInput(x)).not.toThrow();
    const r = buildReport(x);
    expect(r.perSpeaker).toBeNull();
    expect(r.worstUtterances).toBeNull();
    expect(r.softTargets).toBeNull();
  });
});

describe('readReportInput', () => {
  const dir = tempDir('amd-report-');
  it('names the file on invalid JSON and on a missing file', () => {
    const f = join(dir, 'bad.json');
    writeFileSync(f, '{"format": ');
    expect(() => readReportInput(f)).toThrow(
      new RegExp(`${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: report input is not valid JSON`),
    );
    expect(() => readReportInput(join(dir, 'nope.json'))).toThrow(/nope\.json: cannot read report input/);
  });
  it('reads a valid file', () => {
    const f = join(dir, 'ok.json');
    writeFileSync(f, JSON.stringify(base));
    expect(readReportInput(f).corpus.name).toBe('synthetic-digits');
  });
});

describe('validateReportJson', () => {
  it('accepts a built report and rejects out-of-range fractions and missing systems', () => {
    const r = JSON.parse(JSON.stringify(buildReport(clone(base))));
    expect(() => validateReportJson(r)).not.toThrow();
    const bad = clone(r);
    bad.systems.student.frameAccuracy.test = 60.8;
    expect(() => validateReportJson(bad, 'report.json')).toThrow(
      /report\.json, key 'systems\.student\.frameAccuracy\.test'.*fraction/,
    );
    const missing = clone(r);
    delete missing.systems.ensemble;
    expect(() => validateReportJson(missing)).toThrow(/systems\.ensemble/);
  });
  it('checks the most frequent errors: kinds, null sides, a count for every listed system', () => {
    const r = JSON.parse(JSON.stringify(buildReport(clone(base))));
    expect(r.frequentErrors.rows.length).toBeGreaterThan(0);
    const edit = (f: (x: any) => void) => {
      const x = clone(r);
      f(x);
      return () => validateReportJson(x, 'report.json');
    };
    const ins = r.frequentErrors.rows.findIndex((x: { kind: string }) => x.kind === 'insertion');
    expect(
      edit((x) => {
        x.frequentErrors.rows[ins].ref = 'six';
      }),
    ).toThrow(new RegExp(`key 'frequentErrors\\.rows\\[${ins}\\]\\.ref'.*null for an insertion`));
    expect(
      edit((x) => {
        x.frequentErrors.rows[0].kind = 'swap';
      }),
    ).toThrow(/frequentErrors\.rows\[0\]\.kind.*substitution, insertion or deletion/);
    expect(
      edit((x) => {
        delete x.frequentErrors.rows[0].counts.student;
      }),
    ).toThrow(/frequentErrors\.rows\[0\]\.counts\.student/);
    expect(
      edit((x) => {
        x.frequentErrors.systems.push('teacher');
      }),
    ).toThrow(/frequentErrors\.systems\[3\].*a system of the report/);
  });
});
