/**
 * `am-distill validate` on the stages' JSON artefacts (models.json, students.json, targets.json,
 * eval.json, decode.json, score.json, report-input.json): each is told apart by its `format` tag
 * and checked by the module that owns its format; a bad one fails with a FormatError naming the
 * file and the key. The fixtures are small hand-made stage directories.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { detectArtefact, validateFile, type ArtefactKind } from '../../src/pipeline/validate.ts';
import { modelDirHash } from '../../src/distill/generate.ts';
import { SoftTargetFileWriter } from '../../src/distill/store.ts';
import { FormatError } from '../../src/util/errors.ts';
import { REPO_ROOT, tempDir } from '../helpers.ts';
import { clone, makeFixture } from '../report/fixtures.ts';

let root: string;
/** The valid artefacts, by kind. */
const files = {} as Record<string, { path: string; value: any }>;

function writeJson(path: string, value: unknown): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(value, null, 2));
  return path;
}

function touch(dir: string, ...names: string[]): void {
  mkdirSync(dir, { recursive: true });
  for (const n of names) writeFileSync(join(dir, n), `${n}\n`);
}

async function modelDir(dir: string, seed: number): Promise<string> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.json'), JSON.stringify({ seed }));
  writeFileSync(join(dir, 'weights.bin'), Buffer.from([seed, 1, 2, 3]));
  return modelDirHash(dir);
}

const entry = (name: string, role: string, dir: string, weightsHash: string) => ({
  name,
  role,
  dir,
  seed: 1,
  weightsHash,
  bestEpoch: 2,
  bestAccuracy: 0.5,
  accuracyOn: 'dev',
  epochs: 3,
  stopReason: 'max-epochs',
  subset: null,
  trainFrames: 100,
  trainUtterances: 4,
});

const score = (correct: number, frames: number) => ({ correct, frames, accuracy: correct / frames });

beforeAll(async () => {
  root = tempDir('amd-validate-json-');
  const train = join(root, 'train');
  const models = {
    format: 'am-distill.acoustic-models',
    version: 1,
    inventory: { numSenones: 8, senoneInventoryId: 'inv-1', alignmentConfigHash: 'ali', featureConfigHash: 'feat' },
    trainConfig: { hiddenLayers: 1 },
    data: { trainSplit: 'train', devSplit: 'dev', smallFraction: null },
    models: [
      entry('baseline', 'baseline', 'baseline/final', await modelDir(join(train, 'baseline/final'), 1)),
      entry('member-1', 'member', 'member-1/final', await modelDir(join(train, 'member-1/final'), 2)),
    ],
  };
  files.models = { path: writeJson(join(train, 'models.json'), models), value: models };

  const distill = join(root, 'distill');
  const students = {
    format: 'am-distill.students',
    version: 1,
    teachers: [{ name: 'member-1', weightsHash: models.models[1].weightsHash }],
    students: [
      {
        ...entry('student', 'student', 'student/final', await modelDir(join(distill, 'student/final'), 3)),
        targetSet: 'main',
        temperature: 2,
        k: 3,
        loss: { hardWeight: 0 },
      },
    ],
  };
  files.students = { path: writeJson(join(distill, 'students.json'), students), value: students };

  const targetsDir = join(root, 'targets');
  const w = await SoftTargetFileWriter.open(join(targetsDir, 'train.arrow'), {
    configHash: 't',
    teachers: [{ id: 'member-1', hash: 'h' }],
    temperature: 2,
    k: 3,
    combination: 'arithmetic',
    numSenones: 8,
    senoneInventoryId: 'inv-1',
    residual: 'renormalise',
    probType: 'float32',
    alignmentConfigHash: 'ali',
    featureConfigHash: 'feat',
    split: 'train',
  });
  w.add('u1', { numFrames: 2, ids: [0, 1, 2, 3, 4, 5], probs: [0.5, 0.3, 0.1, 0.6, 0.2, 0.1], keptMass: [0.9, 0.9] });
  const tm = await w.finish();
  const targets = {
    format: 'am-distill.target-sets',
    version: 1,
    split: 'train',
    teachers: students.teachers,
    numSenones: 8,
    senoneInventoryId: 'inv-1',
    config: { combination: 'arithmetic' },
    sets: [
      {
        name: 'main',
        kind: 'main',
        temperature: 2,
        file: 'train.arrow',
        k: 3,
        kChosenBy: 'config',
        meanKeptMass: tm.meanKeptMass,
        keptMass: tm.keptMass,
        frames: 2,
        utterances: 1,
      },
    ],
  };
  files['target-sets'] = { path: writeJson(join(targetsDir, 'targets.json'), targets), value: targets };

  const split = (frames: number, c: Record<string, number>) => ({
    split: 'test',
    utterances: 2,
    frames,
    models: Object.fromEntries(Object.entries(c).map(([n, k]) => [n, score(k, frames)])),
  });
  const evalFile = {
    format: 'am-distill.eval',
    version: 1,
    models: [
      { name: 'baseline', role: 'baseline' },
      { name: 'member-1', role: 'member' },
      { name: 'student', role: 'student' },
    ],
    splits: { test: split(40, { baseline: 20, 'member-1': 22, student: 23, ensemble: 25 }) },
    summary: {
      test: {
        baseline: 0.5,
        ensemble: 0.625,
        memberMean: 0.55,
        student: 0.575,
        gainKept: 0.6,
        gainKeptVsMemberMean: 0.333,
      },
    },
    students: [],
    table5: null,
  };
  files.eval = { path: writeJson(join(root, 'eval', 'eval.json'), evalFile), value: evalFile };

  const decodeDir = join(root, 'decode');
  touch(join(decodeDir, 'baseline'), 'test.trn', 'test.ctm', 'test.utts.jsonl');
  const decode = {
    format: 'am-distill.decode',
    formatVersion: 1,
    search: { beam: 10 },
    silenceProb: 0.5,
    frameShiftSec: 0.01,
    lm: { file: 'lm/lm.arpa', sha256: 'x', order: 2, vocabulary: 11 },
    lexicon: { words: 11, pronunciations: 12, notInLm: [], untrainedPhones: [] },
    graph: { hmmStates: 30, phoneCopies: 10, treeNodes: 5 },
    tuneSplit: null,
    splits: ['test'],
    systems: [
      {
        name: 'baseline',
        models: ['train/baseline/final'],
        kind: 'single',
        lmWeight: 8,
        wordInsertionPenalty: 0,
        weightsFrom: 'fixed',
        tuning: null,
        priors: { source: 'alignments' },
        splits: {
          test: {
            utterances: 2,
            decoded: 2,
            frames: 40,
            noPath: 0,
            noPathUtterances: [],
            noFeatures: 0,
            emptyHyps: 0,
            wer: 25,
            errors: 2,
            refWords: 8,
            files: { trn: 'baseline/test.trn', ctm: 'baseline/test.ctm', utts: 'baseline/test.utts.jsonl' },
          },
        },
      },
    ],
    skipped: {},
  };
  files.decode = { path: writeJson(join(decodeDir, 'decode.json'), decode), value: decode };

  const scoreDir = join(root, 'score');
  touch(join(scoreDir, 'baseline'), 'test.sys', 'test.pralign', 'test.wer', 'test.dtl');
  const scoreFile = {
    format: 'am-distill.score',
    formatVersion: 1,
    mode: 'sclite',
    tuneSplit: null,
    splits: ['test'],
    systems: ['baseline'],
    results: [
      {
        system: 'baseline',
        split: 'test',
        wer: 25,
        errors: 2,
        refWords: 8,
        corr: 7,
        sub: 1,
        del: 0,
        ins: 1,
        sentences: 2,
        sentenceErrors: 1,
        files: {
          sys: 'baseline/test.sys',
          pralign: 'baseline/test.pralign',
          wer: 'baseline/test.wer',
          dtl: 'baseline/test.dtl',
        },
      },
    ],
    comparisons: [],
    bootstrap: { replicates: 10, confidence: 0.95, seed: 1 },
  };
  files.score = { path: writeJson(join(scoreDir, 'score.json'), scoreFile), value: scoreFile };

  const input = makeFixture(5, undefined, { perSpeaker: 5 }).input;
  files['report-input'] = { path: writeJson(join(root, 'report', 'report-input.json'), input), value: input };
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Write an edited copy of a valid artefact next to it (relative paths still resolve) and return its FormatError. */
async function failure(kind: string, edit: (x: any) => void): Promise<FormatError> {
  const value = clone(files[kind].value);
  edit(value);
  const path = writeJson(join(dirname(files[kind].path), `bad-${kind}.json`), value);
  const err = await validateFile(path).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `${path} should be rejected`).toBeInstanceOf(FormatError);
  expect((err as FormatError).location.file).toBe(path);
  return err as FormatError;
}

describe('validate: the JSON artefacts by their format tag', () => {
  const first: [ArtefactKind, string][] = [
    [
      'models',
      '2 acoustic model(s) (am-distill.acoustic-models v1) trained on train, dev dev: 8 senones, inventory inv-1',
    ],
    ['students', '1 student(s) (am-distill.students v1) of 1 teacher(s): member-1'],
    [
      'target-sets',
      '1 soft-target set(s) (am-distill.target-sets v1) of split train: 8 senones, inventory inv-1, 1 teacher(s)',
    ],
    ['eval', 'frame accuracy (am-distill.eval v1) of 3 model(s) on test'],
    ['decode', 'decode (am-distill.decode v1) of 1 system(s) on test: LM order 2, 11 words, 11 searchable'],
    ['score', 'word error rates (am-distill.score v1, sclite scoring) of 1 system(s) on test, 0 comparison(s)'],
    ['report-input', ''],
  ];
  it.each(first)('detects and summarises a %s file', async (kind, line) => {
    expect(await detectArtefact(files[kind].path)).toBe(kind);
    const s = await validateFile(files[kind].path);
    expect(s.kind).toBe(kind);
    const v = files[kind].value;
    expect(s.lines[0]).toBe(
      line ||
        `report input (am-distill.report-input v1) of corpus '${v.corpus.name}': ${Object.keys(v.systems).length} systems, ${Object.keys(v.stages).length} stage timings`,
    );
  });

  it('summarises each entry: models, target sets, splits, systems', async () => {
    expect((await validateFile(files.models.path)).lines[1]).toBe(
      '  baseline (baseline, seed 1): dev accuracy 0.5000 at epoch 2 of 3 (max-epochs), 4 utterances',
    );
    expect((await validateFile(files.students.path)).lines[1]).toMatch(
      /^ {2}student \(student, seed 1\): .*; target set main, T 2, k 3$/,
    );
    expect((await validateFile(files['target-sets'].path)).lines[1]).toMatch(
      /^ {2}main \(main\): T 2, k 3, mean kept mass 0\.9000, 2 frames, 1 utterances, train\.arrow$/,
    );
    expect((await validateFile(files.eval.path)).lines[1]).toBe(
      '  test: 2 utterances, 40 frames; baseline 0.5000, ensemble 0.6250, student 0.5750, gain kept 0.600',
    );
    expect((await validateFile(files.decode.path)).lines[1]).toBe(
      '  baseline (single): LM weight 8, insertion penalty 0 (fixed); test WER 25.00 %',
    );
    expect((await validateFile(files.score.path)).lines[1]).toBe('  test: baseline 25.00 %');
  });

  it('prints the kind through the CLI', () => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/am-distill.js'), 'validate', files.score.path], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`ok: ${files.score.path} is a valid score summary`);
  });

  it('refuses JSON of another format, naming the formats it knows', async () => {
    const path = writeJson(join(root, 'other.json'), { format: 'am-distill.something', version: 1 });
    const err = await validateFile(path).then(
      () => null,
      (e: unknown) => e as FormatError,
    );
    expect(err).toBeInstanceOf(FormatError);
    expect(err!.message).toContain('unrecognised file');
    expect(err!.expected).toContain('am-distill.score');
    expect(err!.found).toBe('"am-distill.something"');
  });
});

describe('validate: bad JSON artefacts fail naming file and key', () => {
  it('models.json: a model whose weights changed since they were recorded, a bad role, a missing directory', async () => {
    let err = await failure('models', (x) => {
      x.models[1].weightsHash = x.models[0].weightsHash;
    });
    expect(err.location.keyPath).toBe('models[1].weightsHash');
    expect(err.expected).toContain('the model changed since it was recorded');
    err = await failure('models', (x) => {
      x.models[0].role = 'teacher';
    });
    expect(err.location.keyPath).toBe('models[0].role');
    err = await failure('models', (x) => {
      x.models[0].dir = 'nowhere';
    });
    expect(err.location.keyPath).toBe('models[0].dir');
    err = await failure('models', (x) => {
      x.models[1].name = 'baseline';
    });
    expect(err.location.keyPath).toBe('models[1].name');
  });

  it('models.json / students.json of another format version are refused by the reader', async () => {
    const err = await failure('models', (x) => {
      x.version = 2;
    });
    expect(err.message).toContain('not an acoustic-models file');
    expect(err.found).toBe('am-distill.acoustic-models 2');
  });

  it('students.json: a temperature <= 0', async () => {
    const err = await failure('students', (x) => {
      x.students[0].temperature = 0;
    });
    expect(err.location.keyPath).toBe('students[0].temperature');
  });

  it("targets.json: a set that disagrees with its Arrow file's metadata, or whose file is missing", async () => {
    let err = await failure('target-sets', (x) => {
      x.sets[0].frames = 3;
    });
    expect(err.location.keyPath).toBe('sets[0].frames');
    expect(err.expected).toMatch(/^2 \(as the metadata of .*train\.arrow\)$/);
    err = await failure('target-sets', (x) => {
      x.sets[0].k = 4;
    });
    expect(err.location.keyPath).toBe('sets[0].k');
    expect(err.expected).toMatch(/^3 \(as the metadata of /);
    err = await failure('target-sets', (x) => {
      x.sets[0].k = 9;
    });
    expect(err.expected).toBe('an integer in 1..8 (numSenones)');
    err = await failure('target-sets', (x) => {
      x.sets[0].file = 'gone.arrow';
    });
    expect(err.location.keyPath).toBe('sets[0].file');
  });

  it('eval.json: an accuracy that is not correct / frames, more correct than frames, a listed model without a score', async () => {
    let err = await failure('eval', (x) => {
      x.splits.test.models.student.accuracy = 0.9;
    });
    expect(err.location.keyPath).toBe('splits.test.models.student.accuracy');
    err = await failure('eval', (x) => {
      x.splits.test.models.student = { correct: 41, frames: 40, accuracy: 1 };
    });
    expect(err.location.keyPath).toBe('splits.test.models.student.correct');
    err = await failure('eval', (x) => {
      delete x.splits.test.models['member-1'];
    });
    expect(err.location.keyPath).toBe('splits.test.models.member-1');
  });

  it('decode.json: more decoded than utterances, a hypothesis file missing, a tuning split not decoded', async () => {
    let err = await failure('decode', (x) => {
      x.systems[0].splits.test.decoded = 3;
    });
    expect(err.location.keyPath).toBe('systems[0].splits.test.decoded');
    err = await failure('decode', (x) => {
      x.systems[0].splits.test.files.ctm = 'baseline/none.ctm';
    });
    expect(err.location.keyPath).toBe('systems[0].splits.test.files.ctm');
    err = await failure('decode', (x) => {
      x.tuneSplit = 'dev';
    });
    expect(err.location.keyPath).toBe('tuneSplit');
  });

  it('score.json: counts that do not add up, a WER that is not errors / refWords, a result of an unknown system', async () => {
    let err = await failure('score', (x) => {
      x.results[0].errors = 3;
    });
    expect(err.location.keyPath).toBe('results[0].errors');
    expect(err.expected).toBe('sub + del + ins = 2');
    err = await failure('score', (x) => {
      x.results[0].wer = 20;
    });
    expect(err.location.keyPath).toBe('results[0].wer');
    err = await failure('score', (x) => {
      x.results[0].corr = 6;
    });
    expect(err.location.keyPath).toBe('results[0].refWords');
    err = await failure('score', (x) => {
      x.results[0].system = 'student';
    });
    expect(err.location.keyPath).toBe('results[0].system');
    err = await failure('score', (x) => {
      x.results.push(x.results[0]);
    });
    expect(err.location.keyPath).toBe('results[1]');
  });

  it('report-input.json: the report library checks it (a percentage where a fraction belongs)', async () => {
    const err = await failure('report-input', (x) => {
      x.systems.baseline.frameAccuracy.test = 58.9;
    });
    expect(err.location.keyPath).toBe('systems.baseline.frameAccuracy.test');
  });

  it('malformed JSON is a FormatError naming the file', async () => {
    const path = join(root, 'eval', 'broken.json');
    writeFileSync(path, '{"format": "am-distill.eval",');
    const err = await validateFile(path).then(
      () => null,
      (e: unknown) => e as FormatError,
    );
    expect(err).toBeInstanceOf(FormatError);
    expect(err!.location.file).toBe(path);
    expect(err!.message).toContain('is not valid JSON');
  });
});
