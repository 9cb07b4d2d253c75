import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { tempDir } from './helpers.ts';

const ROOT = resolve(import.meta.dirname, '../../..');

function run(n: number): {
  trainFrames: number;
  maxRssBytes: number;
  maxRssBytesBeforeTraining: number;
  peakBufferedFrames: number;
} {
  const out = execFileSync(
    process.execPath,
    [join(ROOT, 'bin/run-ts.js'), 'test/stages/nets/memory-child.ts', tempDir('train-mem-'), String(n)],
    { cwd: ROOT, encoding: 'utf8' },
  );
  const r = JSON.parse(out.trim().split('\n').at(-1)!);
  console.log(
    `train utterances ${n}: ${r.trainFrames} frames, peak RSS ${(r.maxRssBytes / 2 ** 20).toFixed(0)} MiB (${(r.maxRssBytesBeforeTraining / 2 ** 20).toFixed(0)} MiB before training), shuffle buffer peak ${r.peakBufferedFrames} frames, ${r.framesPerSecond} frames/s`,
  );
  return r;
}

describe('training memory is bounded by the shuffle buffer, not the corpus', () => {
  it('peak RSS of training on a 4x larger corpus stays within 25% of the smaller one (not 4x)', () => {
    const small = run(200);
    const large = run(800);
    expect(large.trainFrames).toBeGreaterThan(3.5 * small.trainFrames);
    expect(large.peakBufferedFrames).toBeLessThanOrEqual(20_000 + 300);
    expect(large.maxRssBytes).toBeLessThan(1.25 * small.maxRssBytes);
  });
});
