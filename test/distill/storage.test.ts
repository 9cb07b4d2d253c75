import { describe, it, expect } from 'vitest';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { measureSoftTargetFile, softTargetBytesPerFrame, syntheticStorageReport } from '../../src/distill/storage.ts';
import { SoftTargetFileWriter } from '../../src/distill/store.ts';
import { syntheticEnsembleLogits } from '../../src/distill/synthetic.ts';
import { combineEnsemble } from '../../src/distill/combine.ts';
import { topKRows } from '../../src/distill/topk.ts';
import { tempDir } from './helpers.ts';

describe('soft-target storage', () => {
  it('counts column bytes per frame for each layout against dense float32', () => {
    expect(softTargetBytesPerFrame({ numSenones: 2000, k: 20 })).toEqual({
      targets: 80,
      denseTargets: 8000,
      row: 88,
      denseRow: 8008,
      compression: 8008 / 88,
    });
    expect(softTargetBytesPerFrame({ numSenones: 2000, k: 20, probType: 'float32', residual: 'store' }).targets).toBe(
      20 * 6 + 4,
    );
    expect(softTargetBytesPerFrame({ numSenones: 70000, k: 10 }).targets).toBe(10 * 6); // int32 ids above 65536 senones
    expect(softTargetBytesPerFrame({ numSenones: 2000, k: 10, idType: 'int32', probType: 'float32' }).targets).toBe(80);
  });

  it('measures a written file: everything included, a little above the column bytes', async () => {
    const dir = tempDir();
    const { logits } = syntheticEnsembleLogits({ numSenones: 300, numMembers: 2, numFrames: 400 });
    const p = combineEnsemble(logits, 400, 300, { temperature: 1 });
    const top = topKRows(p, 400, 300, 10);
    const path = join(dir, 't.arrow');
    const w = await SoftTargetFileWriter.open(path, {
      configHash: 'x',
      teachers: [],
      temperature: 1,
      k: 10,
      combination: 'arithmetic',
      numSenones: 300,
      senoneInventoryId: null,
      residual: 'renormalise',
      probType: 'float16',
      alignmentConfigHash: 'a',
      featureConfigHash: 'f',
    });
    for (let u = 0; u < 4; u++)
      w.add(`u${u}`, {
        numFrames: 100,
        ids: top.ids.subarray(u * 1000, (u + 1) * 1000),
        probs: top.probs.subarray(u * 1000, (u + 1) * 1000),
        keptMass: top.keptMass.subarray(u * 100, (u + 1) * 100),
      });
    await w.finish();
    const m = await measureSoftTargetFile(path);
    expect(m.fileBytes).toBe(statSync(path).size);
    expect(m.frames).toBe(400);
    expect(m.layout.row).toBe(48);
    expect(m.bytesPerFrame).toBeGreaterThan(48);
    expect(m.bytesPerFrame).toBeLessThan(48 + 12); // batch headers, dictionary, footer: a few bytes per frame at 100-frame utterances
    expect(m.compression).toBeCloseTo(m.layout.denseRow / m.bytesPerFrame, 12);
  });

  it('reports k and kept mass per temperature on synthetic posteriors: k grows with T, kept mass meets the target', async () => {
    const r = await syntheticStorageReport({
      dir: tempDir(),
      ensemble: { numSenones: 200, numMembers: 3, numFrames: 300, groupSize: 10 },
      temperatures: [1, 2, 5],
      fixedK: [8],
    });
    const auto = r.rows.filter((x) => x.chosenBy === 'auto');
    expect(auto.map((x) => x.temperature)).toEqual([1, 2, 5]);
    for (const x of auto) expect(x.meanKeptMass).toBeGreaterThanOrEqual(0.99);
    expect(auto[0].k).toBeLessThan(auto[1].k);
    expect(auto[1].k).toBeLessThan(auto[2].k);
    const fixed = r.rows.filter((x) => x.chosenBy === 'fixed');
    // At a fixed k the kept mass falls as T flattens the distribution.
    expect(fixed[0].meanKeptMass).toBeGreaterThan(fixed[1].meanKeptMass);
    for (const x of r.rows) expect(x.fileBytesPerFrame).toBeGreaterThan(x.layout.row);
    expect(r.ensembleFrameAccuracy).toBeGreaterThan(r.memberFrameAccuracy);
  });
});
