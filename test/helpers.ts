/** Helpers shared by the tests of every area: ../shared lookup, temporary directories, a line-capturing logger. */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from '../src/util/log.ts';
import { encodeWav } from '../src/audio/wav.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** ../shared relative to the repository root. */
export const SHARED = resolve(REPO_ROOT, '..', 'shared');
export const CORPORA = join(SHARED, 'corpora');

/** True when ../shared/<rel> exists; warns visibly otherwise (the tests then skip). */
export function sharedAvailable(rel: string, what: string): boolean {
  const ok = existsSync(join(SHARED, rel));
  if (!ok) console.warn(`SKIPPED ${what}: ${join(SHARED, rel)} not found (needs ../shared)`);
  return ok;
}

/** A fresh temporary directory named `<prefix>XXXXXX`. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A logger that keeps its lines instead of printing them (tests stay quiet and can assert on messages). */
export function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({
    stream: {
      write: (s: string) => {
        lines.push(s);
        return true;
      },
    },
  });
  return Object.assign(logger, { lines });
}

/**
 * A 32-bit float WAV of `samples`, NaN and infinities included (encodeWav refuses NaN: the bytes
 * are patched after encoding), for tests of what readers do with non-finite audio.
 */
export function floatWavBytes(samples: Float32Array, sampleRateHz: number): Buffer {
  const bytes = Buffer.from(
    encodeWav(
      samples.map((x) => (Number.isFinite(x) ? x : 0)),
      sampleRateHz,
      { float: true },
    ),
  );
  const data = bytes.indexOf('data', 12, 'latin1') + 8;
  samples.forEach((x, i) => {
    if (!Number.isFinite(x)) bytes.writeFloatLE(x, data + 4 * i);
  });
  return bytes;
}
