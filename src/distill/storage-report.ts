/**
 * Soft-target storage on synthetic acoustic-model-like ensemble outputs (npm run bench:distill-storage).
 * Prints, per temperature, the k that keeps 99 % of the probability mass on average and a few
 * fixed k: mean / 1 % / 10 % kept mass and bytes per frame against dense float32 targets.
 *   node bin/run-ts.js src/distill/storage-report.ts [--senones 2000] [--members 10] [--frames 2000] [--json]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syntheticStorageReport } from './storage.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const dir = mkdtempSync(join(tmpdir(), 'distill-storage-'));
try {
  const r = await syntheticStorageReport({
    dir,
    ensemble: { numSenones: arg('senones', 2000), numMembers: arg('members', 10), numFrames: arg('frames', 2000) },
  });
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(r, null, 2));
  } else {
    const o = r.options;
    console.log(
      `synthetic ensemble: ${o.numSenones} senones, ${o.numMembers} members, ${o.numFrames} frames; frame accuracy member ${(100 * r.memberFrameAccuracy).toFixed(1)}%, ensemble ${(100 * r.ensembleFrameAccuracy).toFixed(1)}%`,
    );
    console.log(
      'layout: ids uint16 + probs float16, renormalised; dense = float32 x senones (+ utt_id index and frame, 8 bytes, in both)',
    );
    console.log(
      [
        'T',
        'k',
        'chosen',
        'mean kept',
        'p1 kept',
        'p10 kept',
        'bytes/frame (columns)',
        'bytes/frame (file)',
        'dense bytes/frame',
        'dense/file',
      ].join('\t'),
    );
    for (const x of r.rows) {
      console.log(
        [
          x.temperature,
          x.k,
          x.chosenBy,
          x.meanKeptMass.toFixed(4),
          x.keptMass.quantiles.p1.toFixed(4),
          x.keptMass.quantiles.p10.toFixed(4),
          x.layout.row,
          x.fileBytesPerFrame.toFixed(1),
          x.layout.denseRow,
          (x.layout.denseRow / x.fileBytesPerFrame).toFixed(1) + 'x',
        ].join('\t'),
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
