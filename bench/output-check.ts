/**
 * What the runner's up-to-date check of stage outputs costs (src/pipeline/fingerprint.ts):
 * recording and checking `outputCheck` (size + tail hash per file) against the full content hash,
 * on a directory of one 100 MB file and 200 files of 4 KiB under tmp/ (removed afterwards).
 *   node bin/run-ts.js bench/output-check.ts
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { damagedOutput, hashDirContent, outputChecks } from '../src/pipeline/fingerprint.ts';

const dir = resolve(import.meta.dirname, '..', 'tmp', 'bench-output-check');
mkdirSync(dir, { recursive: true });
try {
  writeFileSync(join(dir, 'big.bin'), randomBytes(100 * 1024 * 1024));
  for (let i = 0; i < 200; i++) writeFileSync(join(dir, `small-${i}.json`), randomBytes(4096));
  const t0 = performance.now();
  const checks = await outputChecks(dir);
  const t1 = performance.now();
  const damaged = await damagedOutput(dir, checks);
  const t2 = performance.now();
  const full = await hashDirContent(dir);
  const t3 = performance.now();
  const ms = (x: number) => Number(x.toFixed(1));
  console.log(
    JSON.stringify({
      files: checks.length,
      bytes: full.bytes,
      recordMs: ms(t1 - t0),
      checkMs: ms(t2 - t1),
      damaged,
      fullContentHashMs: ms(t3 - t2),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
