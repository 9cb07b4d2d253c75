/**
 * The soft-target files pyarrow reads for test/golden/distill/pyarrow-read.json. Deterministic:
 * fixed utterances (seeded Rng), two layouts. Used by the generator (write_fixture.ts) and by
 * test/distill/pyarrow-golden.test.ts, which checks the bytes are still the ones pyarrow read.
 */
import { SoftTargetFileWriter, type ProbType, type IdType, type ResidualMode } from '../../../src/distill/store.ts';
import { softmaxRows } from '../../../src/util/softmax.ts';
import { topKRows } from '../../../src/distill/topk.ts';
import { Rng } from '../../../src/util/rng.ts';

export const GOLDEN_LAYOUTS: Record<string, { probType: ProbType; idType: IdType; residual: ResidualMode }> = {
  'f16-u16-store': { probType: 'float16', idType: 'uint16', residual: 'store' },
  'f32-i32-renormalise': { probType: 'float32', idType: 'int32', residual: 'renormalise' },
};

export async function writeGoldenFixture(path: string, layout: keyof typeof GOLDEN_LAYOUTS): Promise<void> {
  const S = 300, k = 4;
  const rng = new Rng('golden-distill');
  const w = await SoftTargetFileWriter.open(path, {
    configHash: 'golden-config', teachers: [{ id: 'exp/teacher-0', hash: 'aa' }, { id: 'exp/teacher-1', hash: 'bb' }],
    temperature: 2, k, combination: 'arithmetic', numSenones: S, senoneInventoryId: 'tree-golden',
    alignmentConfigHash: 'align-golden', featureConfigHash: 'feat-golden', split: 'train', shard: { index: 0, count: 1 },
    ...GOLDEN_LAYOUTS[layout],
  });
  for (const [uttId, n] of [['spk1-utt1', 3], ['spk1-utt2', 5], ['spk2-utt1', 2]] as const) {
    const z = Float32Array.from({ length: n * S }, () => 6 * rng.gauss());
    w.add(uttId, topKRows(softmaxRows(z, n, S, 2), n, S, k));
  }
  await w.finish(0);
}
