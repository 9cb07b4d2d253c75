/** Shared helpers of the feature tests: float comparison, ../shared lookup, WAV reading. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { FeatureMatrix } from '../../src/features/matrix.ts';
import { CORPORA, REPO_ROOT, SHARED, sharedAvailable } from '../helpers.ts';

export { REPO_ROOT, SHARED, CORPORA, sharedAvailable };
export const GOLDEN = join(REPO_ROOT, 'test', 'golden', 'features');

/** Largest |a[i] - b[i]| (Infinity when lengths differ or a value is NaN on one side only). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) {
      if (!(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return Infinity;
    } else if (d > m) m = d;
  }
  return m;
}

/** The one float comparison of these tests: max abs difference within `tol`, with a readable failure. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what = 'values',
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const d = maxAbsDiff(actual, expected);
  if (!(d <= tol)) {
    let worst = 0;
    for (let i = 0; i < actual.length; i++)
      if (!(Math.abs(actual[i] - expected[i]) <= Math.abs(actual[worst] - expected[worst]))) worst = i;
    expect.fail(
      `${what}: max abs difference ${d} > ${tol} (at index ${worst}: ${actual[worst]} vs ${expected[worst]})`,
    );
  }
}

/** Rows `indices` of a matrix flattened. */
export function pickRows(m: FeatureMatrix, indices: readonly number[]): Float32Array {
  const out = new Float32Array(indices.length * m.dim);
  indices.forEach((t, i) => out.set(m.data.subarray(t * m.dim, (t + 1) * m.dim), i * m.dim));
  return out;
}

/**
 * Mono 16-bit PCM WAV (first channel) as floats in [-1, 1) = int16 / 32768, the audio module's
 * convention. A minimal reader so these tests depend on nothing but the files.
 */
export function readWav(path: string): { sampleRateHz: number; samples: Float32Array } {
  const b = readFileSync(path);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE')
    throw new Error(`${path}: not a RIFF/WAVE file`);
  let pos = 12;
  let channels = 0,
    rate = 0,
    bits = 0;
  while (pos + 8 <= b.length) {
    const id = b.toString('ascii', pos, pos + 4);
    const size = b.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      channels = b.readUInt16LE(body + 2);
      rate = b.readUInt32LE(body + 4);
      bits = b.readUInt16LE(body + 14);
    } else if (id === 'data') {
      if (bits !== 16) throw new Error(`${path}: ${bits}-bit WAV, only 16-bit supported here`);
      const n = Math.floor(Math.min(size, b.length - body) / (2 * channels));
      const samples = new Float32Array(n);
      for (let i = 0; i < n; i++) samples[i] = b.readInt16LE(body + 2 * i * channels) / 32768;
      return { sampleRateHz: rate, samples };
    }
    pos = body + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/** 16-bit PCM mono WAV bytes from floats in [-1, 1) (x * 32768, rounded, clipped). */
export function encodeWav16(samples: Float32Array, sampleRateHz: number): Buffer {
  const n = samples.length;
  const b = Buffer.alloc(44 + 2 * n);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + 2 * n, 4);
  b.write('WAVE', 8, 'ascii');
  b.write('fmt ', 12, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(sampleRateHz, 24);
  b.writeUInt32LE(sampleRateHz * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(2 * n, 40);
  for (let i = 0; i < n; i++)
    b.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i] * 32768))), 44 + 2 * i);
  return b;
}
