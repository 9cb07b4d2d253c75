/** Shared helpers for the corpus and corpora tests. */
import { expect } from 'vitest';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Recording, SplitManifest, Supervision } from '../../src/corpus/types.ts';
import { captureLogger, tempDir } from '../helpers.ts';

/** |actual - expected| <= tol, element-wise for arrays. */
export function expectClose(
  actual: number | ArrayLike<number>,
  expected: number | ArrayLike<number>,
  tol = 1e-9,
): void {
  if (typeof actual === 'number' || typeof expected === 'number') {
    expect(typeof actual).toBe('number');
    expect(typeof expected).toBe('number');
    const d = Math.abs((actual as number) - (expected as number));
    if (!(d <= tol)) expect.fail(`expected ${actual} to be within ${tol} of ${expected} (difference ${d})`);
    return;
  }
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= tol))
      expect.fail(`element ${i}: expected ${actual[i]} to be within ${tol} of ${expected[i]} (difference ${d})`);
  }
}

export const memoryLogger = captureLogger;

export const tmp = (prefix = 'amd-corpus-'): string => tempDir(prefix);

/** Write a file, creating parent directories. */
export function put(path: string, data: string | Uint8Array): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
  return path;
}

/** A one-supervision-per-recording manifest; each recording gets an existing dummy file in `dir`. */
export function simpleSplit(
  dir: string,
  items: { id: string; speaker: string; durationSec?: number; rate?: number; text?: string }[],
): SplitManifest {
  const recordings: Recording[] = [];
  const supervisions: Supervision[] = [];
  for (const it of items) {
    const rate = it.rate ?? 16000;
    const dur = it.durationSec ?? 1;
    const path = put(join(dir, 'audio', `${it.id}.wav`), 'RIFF');
    recordings.push({
      id: it.id,
      speaker: it.speaker,
      path,
      format: 'wav',
      channel: 0,
      sampleRateHz: rate,
      numSamples: Math.round(dur * rate),
      durationSec: Math.round(dur * rate) / rate,
    });
    supervisions.push({
      id: it.id,
      recordingId: it.id,
      speaker: it.speaker,
      startSec: 0,
      durationSec: Math.round(dur * rate) / rate,
      text: it.text ?? 'HELLO WORLD',
    });
  }
  return { recordings, supervisions };
}
