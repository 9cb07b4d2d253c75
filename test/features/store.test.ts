import { describe, it, expect } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  Field,
  Int32,
  RecordBatch,
  RecordBatchReader,
  Schema,
  Table,
  makeData,
  Struct,
  tableFromIPC,
  tableToIPC,
  Dictionary,
  Utf8,
  vectorFromArray,
  FixedSizeList,
  Float32,
  type Data,
} from 'apache-arrow';
import {
  FEATURE_FORMAT_VERSION,
  FeatureFileReader,
  FeatureFileWriter,
  META,
  mergeFeatureFiles,
  readFeatureFile,
  readFeatureMetadata,
  type FeatureConfig,
  type FeatureUtterance,
} from '../../src/features/store.ts';
import { fbankOptions, mfccOptions } from '../../src/features/options.ts';
import { createMatrix, type FeatureMatrix } from '../../src/features/matrix.ts';
import { FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';

const FC: FeatureConfig = {
  sampleRateHz: 8000,
  frameShiftMs: 10,
  frameLengthMs: 25,
  numMelBins: 5,
  fbankDim: 5,
  mfccDim: 3,
  fbank: fbankOptions({ numMelBins: 5, sampleRateHz: 8000 }),
  mfcc: mfccOptions({ numCeps: 3, sampleRateHz: 8000 }),
};

function randomMatrix(rng: Rng, frames: number, dim: number): FeatureMatrix {
  const m = createMatrix(frames, dim);
  for (let i = 0; i < m.data.length; i++) m.data[i] = rng.gauss();
  return m;
}

function utterances(seed: number, n: number): FeatureUtterance[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const frames = 1 + rng.int(40);
    return { uttId: `spk${i % 2}-utt${i}`, fbank: randomMatrix(rng, frames, 5), mfcc: randomMatrix(rng, frames, 3) };
  });
}

async function write(path: string, utts: FeatureUtterance[], fc = FC): Promise<void> {
  const w = await FeatureFileWriter.open(path, { configHash: 'h1', featureConfig: fc, split: 'train' });
  for (const u of utts) w.add(u.uttId, u.fbank, u.mfcc);
  await w.finish(2);
}

async function readAll(path: string): Promise<FeatureUtterance[]> {
  const out: FeatureUtterance[] = [];
  for await (const u of readFeatureFile(path)) out.push(u);
  return out;
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'amd-feat-'));
}

/** Rewrite an Arrow file with changed schema metadata (for bad-input tests). */
function withMetadata(src: string, dst: string, change: (m: Map<string, string>) => void): void {
  const t = tableFromIPC(readFileSync(src));
  const md = new Map(t.schema.metadata);
  change(md);
  const schema = new Schema(t.schema.fields, md);
  const t2 = new Table(
    schema,
    t.batches.map((b) => new RecordBatch(schema, b.data)),
  );
  writeFileSync(dst, tableToIPC(t2, 'file'));
}

describe('Arrow feature store: writing and reading', () => {
  it('round-trips utterances, frames and values exactly, one record batch per utterance', async () => {
    const dir = tmp();
    const path = join(dir, 'train.arrow');
    const utts = utterances(1, 7);
    await write(path, utts);
    const back = await readAll(path);
    expect(back.map((u) => u.uttId)).toEqual(utts.map((u) => u.uttId));
    back.forEach((u, i) => {
      expect(u.fbank).toEqual(utts[i].fbank);
      expect(u.mfcc).toEqual(utts[i].mfcc);
    });
    const reader = await RecordBatchReader.from(readFileSync(path));
    expect(reader.isFile()).toBe(true);
    let batches = 0;
    for (const b of reader) {
      batches++;
      expect(b.numRows).toBe(utts[batches - 1].fbank.numFrames);
    }
    expect(batches).toBe(7);
  });
  it('has the documented schema and metadata: dictionary utt_id, int32 frame, fixed-size float32 lists', async () => {
    const dir = tmp();
    const path = join(dir, 'train.arrow');
    const utts = utterances(2, 3);
    await write(path, utts);
    const t = tableFromIPC(readFileSync(path));
    expect(t.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual([
      'utt_id:Dictionary<Int32, Utf8>',
      'frame:Int32',
      'fbank:FixedSizeList[5]<Float32>',
      'mfcc:FixedSizeList[3]<Float32>',
    ]);
    expect(Array.from(t.getChild('frame')!.toArray())).toEqual(
      utts.flatMap((u) => Array.from({ length: u.fbank.numFrames }, (_, k) => k)),
    );
    expect(t.getChild('utt_id')!.get(0)).toBe(utts[0].uttId);
    const md = t.schema.metadata;
    expect(md.get(META.format)).toBe('am-distill.features');
    expect(md.get(META.formatVersion)).toBe(String(FEATURE_FORMAT_VERSION));
    expect(md.get(META.stage)).toBe('features');
    expect(md.get(META.configHash)).toBe('h1');
    expect(JSON.parse(md.get(META.featureConfig)!).numMelBins).toBe(5);
    const frames = utts.reduce((s, u) => s + u.fbank.numFrames, 0);
    expect(JSON.parse(md.get(META.counts)!)).toEqual({ utterances: 3, frames, skipped: 2 });
    const meta = await readFeatureMetadata(path);
    expect(meta.counts.frames).toBe(frames);
    expect(meta.split).toBe('train');
    expect(meta.featureConfig.fbank.numMelBins).toBe(5);
  });
  it('writes the same bytes for the same input', async () => {
    const dir = tmp();
    await write(join(dir, 'a.arrow'), utterances(3, 4));
    await write(join(dir, 'b.arrow'), utterances(3, 4));
    expect(readFileSync(join(dir, 'a.arrow')).equals(readFileSync(join(dir, 'b.arrow')))).toBe(true);
  });
  it('is atomic: nothing at the target until finish(), nothing left after abort()', async () => {
    const dir = tmp();
    const path = join(dir, 'x.arrow');
    const w = await FeatureFileWriter.open(path, { configHash: 'h', featureConfig: FC });
    const u = utterances(4, 1)[0];
    w.add(u.uttId, u.fbank, u.mfcc);
    expect(existsSync(path)).toBe(false);
    expect(() => w.add(u.uttId, u.fbank, u.mfcc)).toThrow(/duplicate utterance id/);
    await w.abort();
    expect(readdirSync(dir)).toEqual([]);
  });
  it('rejects matrices that do not fit the config, naming the file and utterance', async () => {
    const dir = tmp();
    const w = await FeatureFileWriter.open(join(dir, 'y.arrow'), { configHash: 'h', featureConfig: FC });
    const rng = new Rng(5);
    expect(() => w.add('u1', randomMatrix(rng, 4, 6), randomMatrix(rng, 4, 3))).toThrow(
      /y\.arrow, utterance 'u1': fbank dimension.*expected 5, found 6/,
    );
    expect(() => w.add('u2', randomMatrix(rng, 4, 5), randomMatrix(rng, 3, 3))).toThrow(/frame count/);
    expect(() => w.add('u3', randomMatrix(rng, 4, 5))).toThrow(/missing mfcc/);
    await w.abort();
  });
  it('reads lazily: breaking off early closes the file and reads only what was needed', async () => {
    const dir = tmp();
    const path = join(dir, 'z.arrow');
    await write(path, utterances(6, 20));
    const r = await FeatureFileReader.open(path);
    let n = 0;
    for await (const u of r.utterances()) {
      expect(u.uttId).toBe('spk0-utt0');
      n++;
      expect(r.isClosed).toBe(false);
      break;
    }
    expect(n).toBe(1);
    expect(r.isClosed).toBe(true);
  });
  it('groups rows by utterance in files written by other tools (several utterances per batch, one split over batches)', async () => {
    const dir = tmp();
    const path = join(dir, 'other.arrow');
    await write(path, utterances(7, 1));
    // Same schema and metadata, rows re-batched: batch 1 = uttA frames 0-1 + uttB frame 0; batch 2 = uttB frames 1-2.
    const t = tableFromIPC(readFileSync(path));
    const schema = t.schema;
    const dict = vectorFromArray(['uttA', 'uttB'], new Utf8());
    const dictType = new Dictionary(new Utf8(), new Int32(), 0, false);
    const mk = (idx: number[], frames: number[], base: number): RecordBatch => {
      const n = idx.length;
      const list = (dim: number, off: number): Data =>
        makeData({
          type: new FixedSizeList(dim, new Field('item', new Float32(), false)),
          length: n,
          nullCount: 0,
          child: makeData({
            type: new Float32(),
            length: n * dim,
            nullCount: 0,
            data: Float32Array.from({ length: n * dim }, (_, i) => base + off + i),
          }),
        });
      const children = [
        makeData({ type: dictType, length: n, nullCount: 0, data: Int32Array.from(idx), dictionary: dict }),
        makeData({ type: new Int32(), length: n, nullCount: 0, data: Int32Array.from(frames) }),
        list(5, 0),
        list(3, 1000),
      ];
      return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children }));
    };
    writeFileSync(path, tableToIPC(new Table(schema, [mk([0, 0, 1], [0, 1, 0], 0), mk([1, 1], [1, 2], 100)]), 'file'));
    const back = await readAll(path);
    expect(back.map((u) => [u.uttId, u.fbank.numFrames])).toEqual([
      ['uttA', 2],
      ['uttB', 3],
    ]);
    expect(Array.from(back[1].fbank.data.subarray(0, 6))).toEqual([10, 11, 12, 13, 14, 100]);
    expect(Array.from(back[1].mfcc!.data.subarray(3, 6))).toEqual([1100, 1101, 1102]);
  });
});

describe('Arrow feature store: bad input', () => {
  it('names the file when it is missing, not Arrow, or of another format version', async () => {
    const dir = tmp();
    await expect(FeatureFileReader.open(join(dir, 'none.arrow'))).rejects.toThrow(
      /none\.arrow: feature file not found/,
    );
    writeFileSync(join(dir, 'text.arrow'), 'utt1 [ 1 2 ]\n');
    await expect(FeatureFileReader.open(join(dir, 'text.arrow'))).rejects.toThrow(/text\.arrow: not an Arrow IPC file/);
    const good = join(dir, 'good.arrow');
    await write(good, utterances(8, 2));
    const v2 = join(dir, 'v2.arrow');
    withMetadata(good, v2, (m) => m.set(META.formatVersion, '2'));
    await expect(FeatureFileReader.open(v2)).rejects.toThrow(
      /v2\.arrow: unsupported feature file format version; expected 1, found 2/,
    );
    const other = join(dir, 'other.arrow');
    withMetadata(good, other, (m) => m.delete(META.format));
    await expect(FeatureFileReader.open(other)).rejects.toThrow(FormatError);
  });
  it('checks the dimensions a reader expects and the dimension the file claims', async () => {
    const dir = tmp();
    const good = join(dir, 'good.arrow');
    await write(good, utterances(9, 2));
    await expect(FeatureFileReader.open(good, { numMelBins: 40 })).rejects.toThrow(
      /good\.arrow: number of mel bins differs.*expected 40, found 5/,
    );
    await expect(FeatureFileReader.open(good, { sampleRateHz: 16000 })).rejects.toThrow(/sample rate/);
    await expect(FeatureFileReader.open(good, { mfcc: 13 })).rejects.toThrow(/mfcc dimension/);
    const lying = join(dir, 'lying.arrow');
    withMetadata(good, lying, (m) => m.set(META.featureConfig, JSON.stringify({ ...FC, fbankDim: 40 })));
    await expect(FeatureFileReader.open(lying)).rejects.toThrow(
      /lying\.arrow: fbank dimension differs from the file's feature config; expected 40, found 5/,
    );
  });
  it('rejects frame numbers that are not 0, 1, 2, ... naming the utterance', async () => {
    const dir = tmp();
    const path = join(dir, 'f.arrow');
    await write(path, [{ uttId: 'u', fbank: createMatrix(3, 5), mfcc: createMatrix(3, 3) }]);
    const t = tableFromIPC(readFileSync(path));
    const b = t.batches[0];
    const frames = makeData({ type: new Int32(), length: 3, nullCount: 0, data: Int32Array.from([0, 2, 1]) });
    const children = [b.data.children[0], frames, b.data.children[2], b.data.children[3]];
    const nb = new RecordBatch(
      t.schema,
      makeData({ type: new Struct(t.schema.fields), length: 3, nullCount: 0, children }),
    );
    writeFileSync(path, tableToIPC(new Table(t.schema, [nb]), 'file'));
    await expect(readAll(path)).rejects.toThrow(/utterance 'u': frame numbers are not 0, 1, 2/);
  });
});

describe('merging feature files', () => {
  it('concatenates inputs in order and refuses different configs and duplicate utterances', async () => {
    const dir = tmp();
    const all = utterances(10, 6);
    await write(join(dir, 'a.arrow'), all.slice(0, 2));
    await write(join(dir, 'b.arrow'), all.slice(2));
    await write(join(dir, 'whole.arrow'), all);
    const meta = await mergeFeatureFiles([join(dir, 'a.arrow'), join(dir, 'b.arrow')], join(dir, 'merged.arrow'));
    expect(meta.counts.utterances).toBe(6);
    expect(await readAll(join(dir, 'merged.arrow'))).toEqual(await readAll(join(dir, 'whole.arrow')));
    await expect(
      mergeFeatureFiles([join(dir, 'a.arrow'), join(dir, 'whole.arrow')], join(dir, 'dup.arrow')),
    ).rejects.toThrow(/duplicate utterance id/);
    expect(existsSync(join(dir, 'dup.arrow'))).toBe(false);
    const other = join(dir, 'other.arrow');
    const w = await FeatureFileWriter.open(other, { configHash: 'h2', featureConfig: FC });
    w.add('x', all[0].fbank, all[0].mfcc);
    await w.finish();
    await expect(mergeFeatureFiles([join(dir, 'a.arrow'), other], join(dir, 'm2.arrow'))).rejects.toThrow(
      /different configs/,
    );
  });
});

// Optional interoperability check with pyarrow: runs when AM_DISTILL_PYTHON (or /tmp/venv/bin/python,
// or python3) can import pyarrow. See test/golden/features/HOW-GENERATED.md.
function findPyarrow(): string | null {
  for (const py of [process.env.AM_DISTILL_PYTHON, '/tmp/venv/bin/python', 'python3'].filter(Boolean) as string[]) {
    const r = spawnSync(py, ['-c', 'import pyarrow'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return null;
}
const PY = findPyarrow();
if (!PY) console.warn('SKIPPED pyarrow interoperability test: no python with pyarrow (set AM_DISTILL_PYTHON)');

describe.skipIf(!PY)(
  'Arrow feature files open in pyarrow with the same values and metadata (optional: needs python + pyarrow)',
  () => {
    it('reads schema, metadata, utterance ids and values', async () => {
      const dir = tmp();
      const path = join(dir, 'train.arrow');
      const utts = utterances(12, 3);
      await write(path, utts);
      const script = [
        'import json, sys, pyarrow.ipc as ipc',
        'r = ipc.open_file(sys.argv[1])',
        't = r.read_all()',
        'md = {k.decode(): v.decode() for k, v in r.schema.metadata.items()}',
        'print(json.dumps({"batches": r.num_record_batches, "types": [str(f.type) for f in r.schema],',
        '  "names": r.schema.names, "meta": md, "utt": t.column("utt_id").to_pylist(), "frame": t.column("frame").to_pylist(),',
        '  "fbank": t.column("fbank").to_pylist(), "mfcc": t.column("mfcc").to_pylist()}))',
      ].join('\n');
      const r = spawnSync(PY!, ['-c', script, path], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.batches).toBe(3);
      expect(out.names).toEqual(['utt_id', 'frame', 'fbank', 'mfcc']);
      expect(out.types).toEqual([
        'dictionary<values=string, indices=int32, ordered=0>',
        'int32',
        'fixed_size_list<item: float not null>[5]',
        'fixed_size_list<item: float not null>[3]',
      ]);
      expect(out.meta[META.configHash]).toBe('h1');
      expect(JSON.parse(out.meta[META.counts]).utterances).toBe(3);
      const expectedUtt = utts.flatMap((u) => new Array(u.fbank.numFrames).fill(u.uttId));
      expect(out.utt).toEqual(expectedUtt);
      expect(out.frame).toEqual(utts.flatMap((u) => Array.from({ length: u.fbank.numFrames }, (_, i) => i)));
      expect(Float32Array.from(out.fbank.flat())).toEqual(
        Float32Array.from(utts.flatMap((u) => Array.from(u.fbank.data))),
      );
      expect(Float32Array.from(out.mfcc.flat())).toEqual(
        Float32Array.from(utts.flatMap((u) => Array.from(u.mfcc!.data))),
      );
    });
  },
);
