import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { type DistillationLossOptions } from '../distill/loss.ts';
import type { AveragedSummary, TrainConfig } from '../nnet/train.ts';
import { type InventoryInfo, type SubsetSpec } from '../nnet/split-data.ts';
import { ConfigError, FormatError } from '../util/errors.ts';

export const MODELS_JSON = 'models.json';

export const MODELS_FORMAT = 'am-distill.acoustic-models';

export type ModelRole = 'baseline' | 'member' | 'fraction-baseline' | 'student' | 'fraction-student' | 'control';

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
export async function readModelsFile(dir: string): Promise<ModelsFile> {
  const path = join(dir, MODELS_JSON);
  if (!existsSync(path)) throw new ConfigError('no trained models here', { file: path, expected: `${MODELS_JSON} written by the train stage`, found: 'no such file' });
  const j = JSON.parse(await fsp.readFile(path, 'utf8')) as ModelsFile;
  if (j.format !== MODELS_FORMAT || j.version !== 1) {
    throw new FormatError('not an acoustic-models file', { file: path, expected: `format ${MODELS_FORMAT} version 1`, found: `${j.format} ${j.version}` });
 }
  return j;
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

export async function readStudentsFile(dir: string): Promise<StudentsFile> {
  const path = join(dir, STUDENTS_JSON);
  let j: StudentsFile;
  try {
    j = JSON.parse(await fsp.readFile(path, 'utf8')) as StudentsFile;
  } catch (cause) {
    throw new ConfigError('no students here', { file: path, cause, expected: `${STUDENTS_JSON} written by the distill stage`, found: (cause as NodeJS.ErrnoException).code ?? 'unreadable' });
  }
  if (j.format !== STUDENTS_FORMAT || j.version !== 1) throw new FormatError('not a students file', { file: path, expected: `format ${STUDENTS_FORMAT} version 1`, found: `${j.format} ${j.version}` });
  return j;
}
