import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type SoftTargetConfig } from '../distill/generate.ts';
import type { KeptMassSummary } from '../distill/topk.ts';
import { ConfigError, FormatError } from '../util/errors.ts';

export const TARGETS_JSON = 'targets.json';

export const TARGETS_FORMAT = 'am-distill.target-sets';

export type TargetSetKind = 'main' | 'sweep' | 'dense';

export interface TargetSetEntry {
  name: string;
  kind: TargetSetKind;
  temperature: number;
  /** File relative to the stage directory. */
  file: string;
  k: number;
  kChosenBy: 'config' | 'calibration';
  meanKeptMass: number;
  keptMass: KeptMassSummary;
  frames: number;
  utterances: number;
  fileBytes: number;
  /** File bytes / frames (everything included). */
  bytesPerFrame: number;
  /** utt_id + frame + dense float32 targets: 8 + 4 x senones. */
  denseBytesPerFrame: number;
  /** Target columns only (ids + probs (+ residual)) vs 4 x senones. */
  targetBytesPerFrame: number;
  denseTargetBytesPerFrame: number;
  /** Frame accuracy of the combined distribution's argmax on the split (training data). */
  ensembleFrameAccuracy: number;
  memberFrameAccuracy: number[];
  configHash: string;
}

export interface TargetsFile {
  format: typeof TARGETS_FORMAT;
  version: 1;
  split: string;
  teachers: { name: string; weightsHash: string }[];
  numSenones: number;
  senoneInventoryId: string;
  config: Omit<SoftTargetConfig, 'temperature'>;
  sets: TargetSetEntry[];
  /** false: the split's VTLP copies were not labelled (absent: all utterances were; files made before the option too). */
  vtlpCopies?: false;
}

export async function readTargetsFile(dir: string): Promise<TargetsFile> {
  const path = join(dir, TARGETS_JSON);
  let j: TargetsFile;
  try {
    j = JSON.parse(await readFile(path, 'utf8')) as TargetsFile;
  } catch (cause) {
    throw new ConfigError('no soft targets here', {
      file: path,
      cause,
      expected: `${TARGETS_JSON} written by the targets stage`,
      found: (cause as NodeJS.ErrnoException).code ?? 'unreadable',
    });
  }
  if (j.format !== TARGETS_FORMAT || j.version !== 1)
    throw new FormatError('not a target-sets file', {
      file: path,
      expected: `format ${TARGETS_FORMAT} version 1`,
      found: `${j.format} ${j.version}`,
    });
  return j;
}
