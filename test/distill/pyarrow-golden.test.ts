import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSoftTargetFile, type UtteranceSoftTargets } from '../../src/distill/store.ts';
import { float16Bits } from '../../src/distill/float16.ts';
import { GOLDEN_LAYOUTS, writeGoldenFixture } from '../golden/distill/fixture.ts';
import { expectClose, tempDir } from './helpers.ts';

const GOLDEN = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'distill', 'pyarrow-read.json');

interface PyFile {
  sha256: string;
  num_record_batches: number;
  schema: string[];
  metadata: Record<string, string>;
  columns: { utt_id: string[]; frame: number[]; ids: number[][]; probs: number[][]; residual?: number[] };
}
const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as {
  pyarrow: string;
  files: Record<string, PyFile>;
  float16_cast: { inputs: string[]; bits: number[] };
};

describe('soft-target files as pyarrow reads them (golden values from pyarrow 25)', () => {
  for (const layout of Object.keys(GOLDEN_LAYOUTS)) {
    it(`${layout}: same bytes as the golden file, docs/design.md section 4 schema and metadata, our reader agrees with pyarrow`, async () => {
      const g = golden.files[layout];
      const path = join(tempDir(), `${layout}.arrow`);
      await writeGoldenFixture(path, layout);
      expect(
        createHash('sha256').update(readFileSync(path)).digest('hex'),
        'fixture bytes changed: regenerate the golden JSON (HOW-GENERATED.md)',
      ).toBe(g.sha256);
      const { probType, idType, residual } = GOLDEN_LAYOUTS[layout];
      expect(g.schema).toEqual([
        'utt_id: dictionary<values=string, indices=int32, ordered=0>',
        'frame: int32',
        `ids: fixed_size_list<item: ${idType} not null>[4]`,
        `probs: fixed_size_list<item: ${probType === 'float16' ? 'halffloat' : 'float'} not null>[4]`,
        ...(residual === 'store' ? ['residual: float'] : []),
      ]);
      expect(g.num_record_batches).toBe(3);
      expect(g.metadata).toMatchObject({
        'am_distill.format': 'am-distill.soft-targets',
        'am_distill.format_version': '1',
        'am_distill.k': '4',
        'am_distill.temperature': '2',
        'am_distill.num_senones': '300',
        'am_distill.combination': 'arithmetic',
        'am_distill.alignment_config_hash': 'align-golden',
        'am_distill.teachers': '[{"id":"exp/teacher-0","hash":"aa"},{"id":"exp/teacher-1","hash":"bb"}]',
      });
      const ours: UtteranceSoftTargets[] = [];
      for await (const u of readSoftTargetFile(path)) ours.push(u);
      const c = g.columns;
      expect(ours.flatMap((u) => Array(u.numFrames).fill(u.uttId))).toEqual(c.utt_id);
      expect(ours.flatMap((u) => Array.from({ length: u.numFrames }, (_, f) => f))).toEqual(c.frame);
      expect(ours.flatMap((u) => Array.from(u.ids))).toEqual(c.ids.flat());
      const ourProbs = ours.flatMap((u) => Array.from(u.probs));
      if (residual === 'store') {
        expect(ourProbs).toEqual(c.probs.flat());
        expect(ours.flatMap((u) => Array.from(u.residual!))).toEqual(c.residual);
      } else {
        const renorm = c.probs.flatMap((row) => row.map((p) => p / row.reduce((a, b) => a + b, 0)));
        expectClose(ourProbs, renorm, 1e-7, 'renormalised probabilities');
      }
    });
  }

  it('rounds float64 to Float16 exactly as pyarrow casts (ties to even, subnormals, overflow)', () => {
    const { inputs, bits } = golden.float16_cast;
    expect(inputs.length).toBe(609);
    expect(inputs.map((x) => float16Bits(Number(x)))).toEqual(bits);
  });
});
