import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { modelDirHash } from '../distill/generate.ts';
import { type DistillationLossOptions } from '../distill/loss.ts';
import { MODEL_JSON, WEIGHTS_BIN } from '../nnet/io.ts';
import type { AveragedSummary, TrainConfig } from '../nnet/train.ts';
import { type InventoryInfo, type SubsetSpec } from '../nnet/split-data.ts';
import { Checker, joinKey, readStageJson, readTaggedJson, type Obj } from '../util/json-check.ts';

export const MODELS_JSON = 'models.json';

export const MODELS_FORMAT = 'am-distill.acoustic-models';

export type ModelRole = 'baseline' | 'member' | 'fraction-baseline' | 'student' | 'fraction-student' | 'control';

export const MODEL_ROLES: readonly ModelRole[] = [
  'baseline',
  'member',
  'fraction-baseline',
  'student',
  'fraction-student',
  'control',
];

/** One trained model as models.json / students.json record it (paths relative to the file). */
export interface ModelEntry {
  name: string;
  role: ModelRole;
  /** Model directory (model.json, weights.bin, sidecar.json), relative to the stage directory. */
  dir: string;
  seed: number;
  /** sha256 over model.json and weights.bin (as the soft-target metadata records teachers). */
  weightsHash: string;
  bestEpoch: number;
  /** Best dev frame accuracy (or training accuracy without a dev split). */
  bestAccuracy: number;
  accuracyOn: 'dev' | 'train';
  epochs: number;
  stopReason: string;
  /** The training subset (Table 5), null for the whole split. */
  subset: SubsetSpec | null;
  trainFrames: number;
  trainUtterances: number;
  /** With weight averaging: the averaged final model's span and dev accuracy (absent: final/ is the best epoch). */
  averaged?: AveragedSummary;
}

export interface ModelsFile {
  format: typeof MODELS_FORMAT;
  version: 1;
  inventory: InventoryInfo;
  /** The resolved training config every model shares (seed per model in its entry). */
  trainConfig: Omit<TrainConfig, 'seed' | 'maxEpochs'> & { maxEpochs: number };
  /** vtlpCopies: whether the models trained on the VTLP copies (absent in files made before the option: true). */
  data: { trainSplit: string; devSplit: string | null; smallFraction: number | null; vtlpCopies?: boolean };
  models: ModelEntry[];
}

/** Read `<dir>/models.json` (the train stage's record). */
export function readModelsFile(dir: string): ModelsFile {
  const what = 'an acoustic-models file';
  return readStageJson<ModelsFile>(dir, MODELS_JSON, {
    missing: 'no trained models here',
    stage: 'train',
    format: MODELS_FORMAT,
    what,
  });
}

export const STUDENTS_JSON = 'students.json';

export const STUDENTS_FORMAT = 'am-distill.students';

export interface StudentEntry extends ModelEntry {
  /** Target set (targets.json) the student learnt from. */
  targetSet: string;
  temperature: number;
  k: number;
  loss: DistillationLossOptions;
  /** Whether the transfer set held the VTLP copies (absent in files made before the option). */
  vtlpCopies?: boolean;
}

export interface StudentsFile {
  format: typeof STUDENTS_FORMAT;
  version: 1;
  teachers: { name: string; weightsHash: string }[];
  students: StudentEntry[];
}

/** Read `<dir>/students.json` (the distill stage's record). */
export function readStudentsFile(dir: string): StudentsFile {
  const what = 'a students file';
  return readStageJson<StudentsFile>(dir, STUDENTS_JSON, {
    missing: 'no students here',
    stage: 'distill',
    format: STUDENTS_FORMAT,
    what,
  });
}

/**
 * Shape checks of models.json / students.json entries, and each model's directory against its
 * entry: model.json and weights.bin there, their hash the recorded `weightsHash`.
 */
async function checkModelEntries(
  c: Checker,
  entries: unknown,
  path: string,
  stageDir: string,
  extra: (e: Obj, p: string) => void,
): Promise<ModelEntry[]> {
  c.names(entries, path, 'name');
  const out = entries as ModelEntry[];
  for (const [i, e] of out.entries()) {
    const p = joinKey(path, i);
    const o = c.fields(e, p, [
      'name',
      'role',
      'dir',
      'seed',
      'weightsHash',
      'bestEpoch',
      'bestAccuracy',
      'accuracyOn',
      'epochs',
      'stopReason',
      'subset',
      'trainFrames',
      'trainUtterances',
    ]);
    c.oneOf(o.role, joinKey(p, 'role'), MODEL_ROLES);
    c.int(o.seed, joinKey(p, 'seed'));
    c.fraction(o.bestAccuracy, joinKey(p, 'bestAccuracy'));
    c.oneOf(o.accuracyOn, joinKey(p, 'accuracyOn'), ['dev', 'train']);
    const epochs = c.int(o.epochs, joinKey(p, 'epochs'));
    if (c.int(o.bestEpoch, joinKey(p, 'bestEpoch')) > epochs)
      c.fail(joinKey(p, 'bestEpoch'), `an epoch <= epochs (${epochs})`, o.bestEpoch);
    c.int(o.trainFrames, joinKey(p, 'trainFrames'), 1);
    c.int(o.trainUtterances, joinKey(p, 'trainUtterances'), 1);
    extra(o, p);
    const dir = join(stageDir, c.str(o.dir, joinKey(p, 'dir')));
    if (!existsSync(join(dir, MODEL_JSON)) || !existsSync(join(dir, WEIGHTS_BIN)))
      c.fail(joinKey(p, 'dir'), `a model directory with ${MODEL_JSON} and ${WEIGHTS_BIN} (${dir})`, o.dir);
    const hash = await modelDirHash(dir);
    if (hash !== c.str(o.weightsHash, joinKey(p, 'weightsHash')))
      c.fail(
        joinKey(p, 'weightsHash'),
        `${hash}, the hash of ${dir} (the model changed since it was recorded)`,
        o.weightsHash,
      );
  }
  return out;
}

const modelLine = (m: ModelEntry) =>
  `  ${m.name} (${m.role}, seed ${m.seed}): ${m.accuracyOn} accuracy ${m.bestAccuracy.toFixed(4)} at epoch ${m.bestEpoch} of ${m.epochs} (${m.stopReason}), ${m.trainUtterances} utterances`;

/**
 * `am-distill validate` of a models.json: the reader's format check, every entry's shape, the
 * inventory, and each model directory's weights against the recorded hash. Returns the summary lines.
 */
export async function validateModelsFile(path: string): Promise<string[]> {
  const j = readTaggedJson<ModelsFile>(path, MODELS_FORMAT, 'an acoustic-models file');
  const c = new Checker(path, 'invalid models file');
  const o = c.fields(j, '', ['inventory', 'trainConfig', 'data', 'models']);
  const inv = c.fields(o.inventory, 'inventory', [
    'numSenones',
    'senoneInventoryId',
    'alignmentConfigHash',
    'featureConfigHash',
  ]);
  c.int(inv.numSenones, 'inventory.numSenones', 1);
  for (const k of ['senoneInventoryId', 'alignmentConfigHash', 'featureConfigHash']) c.str(inv[k], `inventory.${k}`);
  c.fields(o.trainConfig, 'trainConfig', []);
  const data = c.fields(o.data, 'data', ['trainSplit', 'devSplit']);
  c.str(data.trainSplit, 'data.trainSplit');
  if (data.devSplit !== null) c.str(data.devSplit, 'data.devSplit');
  const models = await checkModelEntries(c, o.models, 'models', dirname(path), () => undefined);
  return [
    `${models.length} acoustic model(s) (${j.format} v${j.version}) trained on ${j.data.trainSplit}${j.data.devSplit ? `, dev ${j.data.devSplit}` : ''}: ${j.inventory.numSenones} senones, inventory ${j.inventory.senoneInventoryId}`,
    ...models.map(modelLine),
  ];
}

/**
 * `am-distill validate` of a students.json: as models.json, plus each student's target set,
 * temperature and k. Returns the summary lines.
 */
export async function validateStudentsFile(path: string): Promise<string[]> {
  const j = readTaggedJson<StudentsFile>(path, STUDENTS_FORMAT, 'a students file');
  const c = new Checker(path, 'invalid students file');
  const o = c.fields(j, '', ['teachers', 'students']);
  c.names(o.teachers, 'teachers', 'name');
  j.teachers.forEach((t, i) => c.str(t.weightsHash, `teachers[${i}].weightsHash`));
  const students = await checkModelEntries(c, o.students, 'students', dirname(path), (e, p) => {
    c.str(e.targetSet, joinKey(p, 'targetSet'));
    c.num(e.temperature, joinKey(p, 'temperature'), Number.MIN_VALUE, Infinity, 'a temperature > 0');
    c.int(e.k, joinKey(p, 'k'), 1);
    c.fields(e.loss, joinKey(p, 'loss'), []);
  });
  return [
    `${students.length} student(s) (${j.format} v${j.version}) of ${j.teachers.length} teacher(s): ${j.teachers.map((t) => t.name).join(', ')}`,
    ...students.map(
      (s, i) =>
        `${modelLine(s)}; target set ${j.students[i].targetSet}, T ${j.students[i].temperature}, k ${j.students[i].k}`,
    ),
  ];
}
