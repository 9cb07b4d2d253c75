/**
 * Student training: src/nnet's trainer with the distillation loss on a soft-target source.
 * The student has the architecture of one member (the caller's TrainConfig), is trained with
 * L = T^2 CE(soft) + w CE(hard) at the targets' temperature, and is evaluated (dev accuracy,
 * newbob) at T = 1 by the trainer, as in the paper.
 *
 * The trainer's resume key hashes the TrainConfig only, so this function records the distillation
 * settings (targets' config hash, T, k, w, normalisation) in `<outDir>/distill.json` and refuses to
 * resume checkpoints made with other settings.
 */
import { promises as fsp, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, FormatError } from '../util/errors.ts';
import { canonicalJson } from '../util/hash.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { trainFrameClassifier, type TrainOptions, type TrainResult } from '../nnet/train.ts';
import { distillationTrainLoss, resolveDistillationLossOptions, type DistillationLossOptions } from './loss.ts';
import { checkSoftTargets } from './store.ts';
import type { SoftTargetFrameSource } from './source.ts';

export const DISTILL_JSON = 'distill.json';

export interface TrainStudentOptions extends Omit<TrainOptions, 'loss' | 'train'> {
  /** Training frames with their soft targets (see openDistillationSource). */
  train: SoftTargetFrameSource;
  /** Loss settings; the temperature defaults to (and must equal) the targets'. */
  loss?: Partial<DistillationLossOptions>;
}

export interface TrainStudentResult extends TrainResult {
  distillation: DistillationSettings;
}

interface DistillationSettings {
  softTargetsConfigHash: string;
  teachers: string[];
  k: number;
  loss: DistillationLossOptions;
}

export async function trainStudent(opts: TrainStudentOptions): Promise<TrainStudentResult> {
  const { train, loss, ...rest } = opts;
  const meta = train.metadata;
  const file = train.index.files.join(', ');
  if (loss?.temperature !== undefined && loss.temperature !== meta.temperature) {
    throw new ConfigError("the student's temperature differs from the soft targets'", {
      keyPath: 'loss.temperature',
      expected: `T = ${meta.temperature} (${file})`,
      found: `T = ${loss.temperature}`,
    });
  }
  checkSoftTargets(meta, file, {
    numSenones: opts.config.numSenones,
    senoneInventoryId: opts.config.senoneInventory?.id,
    names: { student: 'student config' },
  });
  const lossOpts = resolveDistillationLossOptions({ ...loss, temperature: meta.temperature });
  const settings: DistillationSettings = {
    softTargetsConfigHash: meta.configHash,
    teachers: meta.teachers.map((t) => t.hash),
    k: meta.k,
    loss: lossOpts,
  };
  const marker = join(opts.outDir, DISTILL_JSON);
  if (opts.resume !== false && existsSync(marker)) {
    const prev = JSON.parse(await fsp.readFile(marker, 'utf8')) as DistillationSettings;
    if (canonicalJson(prev) !== canonicalJson(settings)) {
      throw new FormatError(
        'the checkpoints in this directory were trained with other soft targets or loss settings; use another output directory or resume: false',
        {
          file: marker,
          expected: canonicalJson(settings),
          found: canonicalJson(prev),
        },
      );
    }
  }
  await writeJsonAtomic(marker, settings);
  const result = await trainFrameClassifier({ ...rest, train, loss: distillationTrainLoss(lossOpts, meta.k) });
  return { ...result, distillation: settings };
}
