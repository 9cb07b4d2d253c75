import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import {
  AlignmentFileWriter,
  readAlignmentFile,
  readAlignmentMetadata,
  type UtteranceAlignment,
} from '../../src/align/store.ts';
import { FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'amd-alignstore-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = {
  configHash: 'c0ffee',
  featureConfigHash: 'feed',
  numSenones: 50,
  frameShiftMs: 10,
  phones: ['<eps>', 'SIL', 'AA'],
  split: 'test',
};

function randomUtt(rng: Rng, id: string, n: number): UtteranceAlignment {
  return {
    uttId: id,
    senone: Int32Array.from({ length: n }, () => rng.int(50)),
    phone: Int32Array.from({ length: n }, () => 1 + rng.int(2)),
    hmmState: Int32Array.from({ length: n }, () => rng.int(5)),
    word: Int32Array.from({ length: n }, () => rng.int(4) - 1),
  };
}

describe('alignment store (Arrow)', () => {
  it('round-trips utterances with their labels, schema types and metadata', async () => {
    const rng = new Rng(3);
    const utts = [randomUtt(rng, 'b_1', 17), randomUtt(rng, 'a_2', 1), randomUtt(rng, 'c_3', 40)];
    const path = join(dir, 'rt.arrow');
    const w = await AlignmentFileWriter.open(path, base);
    for (const u of utts) w.add(u);
    const meta = await w.finish(2);
    expect(meta.counts).toEqual({ utterances: 3, frames: 58, failed: 2 });
    const back: UtteranceAlignment[] = [];
    for await (const u of readAlignmentFile(path)) back.push(u);
    expect(back).toEqual(utts);
    expect(await readAlignmentMetadata(path)).toMatchObject({
      numSenones: 50,
      frameShiftMs: 10,
      phones: base.phones,
      split: 'test',
      stage: 'align',
    });
    // What pyarrow/polars see: one dictionary-encoded utt_id column and plain integer columns.
    const table = tableFromIPC(readFileSync(path));
    expect(table.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual([
      'utt_id:Dictionary<Int32, Utf8>',
      'frame:Int32',
      'senone:Int32',
      'phone:Int32',
      'hmm_state:Int8',
      'word:Int32',
    ]);
    expect(table.numRows).toBe(58);
    expect(table.getChild('frame')!.get(17)).toBe(0);
    expect(table.getChild('utt_id')!.get(17)).toBe('a_2');
    // No temporary files left next to it.
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('rejects senones outside the inventory, duplicate ids and ragged columns, naming the utterance', async () => {
    const w = await AlignmentFileWriter.open(join(dir, 'bad.arrow'), base);
    const u = randomUtt(new Rng(1), 'x', 5);
    expect(() => w.add({ ...u, senone: Int32Array.of(0, 1, 50, 2, 3) })).toThrow(
      /utterance 'x': senone id outside the inventory; expected 0..49, found 50 at frame 2/,
    );
    expect(() => w.add({ ...u, word: Int32Array.of(0) })).toThrow(/word and senone columns differ in length/);
    w.add(u);
    expect(() => w.add(u)).toThrow(FormatError);
    await w.abort();
    expect(readdirSync(dir).filter((f) => f.includes('bad'))).toEqual([]);
  });

  it('refuses files that are not alignment files', async () => {
    const junk = join(dir, 'junk.arrow');
    writeFileSync(junk, 'not arrow at all');
    await expect(readAlignmentMetadata(junk)).rejects.toThrow(/not an Arrow IPC file/);
    await expect(readAlignmentMetadata(join(dir, 'missing.arrow'))).rejects.toThrow(/alignment file not found/);
  });
});
