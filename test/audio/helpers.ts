/** Shared helpers of the audio tests: float comparison, signals, ../shared lookup, temp dirs. */
import { join } from 'node:path';
import { expect } from 'vitest';
import { Rng } from '../../src/util/rng.ts';
import { CORPORA, REPO_ROOT, SHARED, sharedAvailable, tempDir as sharedTempDir } from '../helpers.ts';

export { REPO_ROOT, SHARED, CORPORA };
export const GOLDEN = join(REPO_ROOT, 'test', 'golden', 'audio');

/** True when ../shared/corpora/<rel> exists; warns visibly otherwise (the tests then skip). */
export function corporaAvailable(rel: string, what: string): boolean {
  return sharedAvailable(join('corpora', rel), what);
}

export const tempDir = (): string => sharedTempDir('amd-audio-');

/** Largest |a[i] - b[i]|; Infinity when the lengths differ or either side is NaN. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** The one float comparison of these tests: lengths equal and max abs difference within `tol`. */
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
    for (let i = 0; i < actual.length; i++) {
      if (!(Math.abs(actual[i] - expected[i]) <= Math.abs(actual[worst] - expected[worst]))) worst = i;
    }
    expect.fail(`${what}: max abs difference ${d} > ${tol} (at ${worst}: ${actual[worst]} vs ${expected[worst]})`);
  }
}

/** Exact equality of two sample arrays, reporting the first difference. */
export function expectSameSamples(actual: ArrayLike<number>, expected: ArrayLike<number>, what = 'samples'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) expect.fail(`${what}: first difference at ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

/**
 * Linear chirp amp * sin(2 pi (f0 t + (f1 - f0) t^2 / (2 T))), computed in float64, stored as float32.
 * Must match chirp() in test/golden/audio/gen_resample_golden.py.
 */
export function chirp(rateHz: number, durationSec: number, f0Hz: number, f1Hz: number, amp: number): Float32Array {
  const n = Math.round(rateHz * durationSec);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / rateHz;
    x[i] = amp * Math.sin(2 * Math.PI * (f0Hz * t + ((f1Hz - f0Hz) * t * t) / (2 * durationSec)));
  }
  return x;
}

/** amp * sin(2 pi f t) for `n` samples. */
export function tone(rateHz: number, n: number, freqHz: number, amp = 0.5): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = amp * Math.sin((2 * Math.PI * freqHz * i) / rateHz);
  return x;
}

export function rms(x: ArrayLike<number>, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i] * x[i];
  return Math.sqrt(s / Math.max(1, to - from));
}

/** Seeded random int16 values / 32768 (exactly representable, so 16-bit round trips are exact). */
export function randomInt16Floats(rng: Rng, n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (rng.int(65536) - 32768) / 32768;
  return x;
}

/** Build a RIFF/WAVE file from raw chunks (ids and bodies), adding odd-size pad bytes. */
export function riff(
  chunks: { id: string; body: Uint8Array; size?: number; noPad?: boolean }[],
  form = 'RIFF',
): Uint8Array {
  const parts: number[] = [];
  const push32 = (v: number) => parts.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  const pushId = (s: string) => {
    for (let i = 0; i < 4; i++) parts.push(s.charCodeAt(i));
  };
  pushId(form);
  push32(0); // patched below
  pushId('WAVE');
  for (const c of chunks) {
    pushId(c.id);
    push32(c.size ?? c.body.length);
    for (const b of c.body) parts.push(b);
    if ((c.body.length & 1) === 1 && !c.noPad) parts.push(0);
  }
  const out = Uint8Array.from(parts);
  new DataView(out.buffer).setUint32(4, out.length - 8, true);
  return out;
}

/** A fmt chunk body: tag, channels, rate, block align, bits (+ optional extension bytes). */
export function fmtBody(
  tag: number,
  channels: number,
  rateHz: number,
  blockAlign: number,
  bits: number,
  ext?: Uint8Array,
): Uint8Array {
  const b = new Uint8Array(16 + (ext ? 2 + ext.length : 0));
  const v = new DataView(b.buffer);
  v.setUint16(0, tag, true);
  v.setUint16(2, channels, true);
  v.setUint32(4, rateHz, true);
  v.setUint32(8, rateHz * blockAlign, true);
  v.setUint16(12, blockAlign, true);
  v.setUint16(14, bits, true);
  if (ext) {
    v.setUint16(16, ext.length, true);
    b.set(ext, 18);
  }
  return b;
}

export function int16Bytes(values: number[]): Uint8Array {
  const b = new Uint8Array(values.length * 2);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setInt16(i * 2, x, true));
  return b;
}
