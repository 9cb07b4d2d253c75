import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readSoftTargetMetadata } from '../distill/store.ts';
import { type SoftTargetConfig } from '../distill/generate.ts';
import type { KeptMassSummary } from '../distill/topk.ts';
import { Checker, joinKey, readStageJson, readTaggedJson } from '../util/json-check.ts';

export const TARGETS_JSON = 'targets.json';

export const TARGETS_FORMAT = 'am-distill.target-sets';

export type TargetSetKind = 'main' | 'sweep' | 'dense';

export const TARGET_SET_KINDS: readonly TargetSetKind[] = ['main', 'sweep', 'dense'];

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

/** Read `<dir>/targets.json` (the targets stage's record). */
export function readTargetsFile(dir: string): TargetsFile {
  const what = 'a target-sets file';
  return readStageJson<TargetsFile>(dir, TARGETS_JSON, {
    missing: 'no soft targets here',
    stage: 'targets',
    format: TARGETS_FORMAT,
    what,
  });
}

/**
 * `am-distill validate` of a targets.json: the reader's format check, the shape of every set, and
 * each set against its Arrow file's metadata (k, temperature, frames, utterances, senones,
 * inventory). Returns the summary lines.
 */
export async function validateTargetsFile(path: string): Promise<string[]> {
  const j = readTaggedJson<TargetsFile>(path, TARGETS_FORMAT, 'a target-sets file');
  const c = new Checker(path, 'invalid target-sets file');
  const o = c.fields(j, '', ['split', 'teachers', 'numSenones', 'senoneInventoryId', 'config', 'sets']);
  c.str(o.split, 'split');
  c.names(o.teachers, 'teachers', 'name');
  const S = c.int(o.numSenones, 'numSenones', 1);
  c.str(o.senoneInventoryId, 'senoneInventoryId');
  c.fields(o.config, 'config', []);
  c.names(o.sets, 'sets', 'name');
  const lines = [
    `${j.sets.length} soft-target set(s) (${j.format} v${j.version}) of split ${j.split}: ${S} senones, inventory ${j.senoneInventoryId}, ${j.teachers.length} teacher(s)`,
  ];
  for (const [i, set] of j.sets.entries()) {
    const p = `sets[${i}]`;
    const e = c.fields(set, p, ['name', 'kind', 'temperature', 'file', 'k', 'meanKeptMass', 'frames', 'utterances']);
    c.oneOf(e.kind, joinKey(p, 'kind'), TARGET_SET_KINDS);
    c.num(e.temperature, joinKey(p, 'temperature'), Number.MIN_VALUE, Infinity, 'a temperature > 0');
    if (c.int(e.k, joinKey(p, 'k'), 1) > S) c.fail(joinKey(p, 'k'), `an integer in 1..${S} (numSenones)`, e.k);
    c.fraction(e.meanKeptMass, joinKey(p, 'meanKeptMass'));
    const file = join(dirname(path), c.str(e.file, joinKey(p, 'file')));
    if (!existsSync(file)) c.fail(joinKey(p, 'file'), `a soft-target file (${file})`, e.file);
    // The set as recorded against its file's metadata.
    const m = await readSoftTargetMetadata(file);
    const against: [string, unknown, unknown][] = [
      [joinKey(p, 'k'), m.k, set.k],
      [joinKey(p, 'temperature'), m.temperature, set.temperature],
      [joinKey(p, 'frames'), m.counts.frames, set.frames],
      [joinKey(p, 'utterances'), m.counts.utterances, set.utterances],
      ['numSenones', m.numSenones, S],
      ['senoneInventoryId', m.senoneInventoryId ?? j.senoneInventoryId, j.senoneInventoryId],
    ];
    for (const [key, inFile, recorded] of against) {
      if (inFile !== recorded) c.fail(key, `${String(inFile)} (as the metadata of ${file})`, recorded);
    }
    lines.push(
      `  ${set.name} (${set.kind}): T ${set.temperature}, k ${set.k}, mean kept mass ${set.meanKeptMass.toFixed(4)}, ${set.frames} frames, ${set.utterances} utterances, ${set.file}`,
    );
  }
  return lines;
}
