import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import {
  SOFT_META,
  SoftTargetFileWriter,
  SoftTargetIndex,
  checkSoftTargets,
  readSoftTargetFile,
  readSoftTargetMetadata,
  sparseToDense,
  type SoftTargetWriterOptions,
  type UtteranceSoftTargets,
} from '../../src/distill/store.ts';
import { softmaxRows } from '../../src/util/softmax.ts';
import { topKRows, type TopKRows } from '../../src/distill/topk.ts';
import { ConfigError, FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { expectClose, randomLogits, rewriteArrow, tempDir } from './helpers.ts';

const S = 50;
const K = 6;

interface Utt {
  uttId: string;
  top: TopKRows;
}

function makeUtts(seed: number, count = 4, prefix = 'u'): Utt[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, (_, i) => {
    const n = 3 + rng.int(9);
    const probs = softmaxRows(randomLogits(rng, n, S, 2.5), n, S);
    return { uttId: `${prefix}${i}`, top: topKRows(probs, n, S, K) };
  });
}

function writerOptions(extra: Partial<SoftTargetWriterOptions> = {}): SoftTargetWriterOptions {
  return {
    configHash: 'targets-hash',
    teachers: [
      { id: 'exp/t0', hash: 'h0' },
      { id: 'exp/t1', hash: 'h1' },
    ],
    temperature: 2,
    k: K,
    combination: 'arithmetic',
    numSenones: S,
    senoneInventoryId: 'tree-1',
    residual: 'renormalise',
    probType: 'float16',
    alignmentConfigHash: 'align-hash',
    featureConfigHash: 'feat-hash',
    split: 'train',
    ...extra,
  };
}

async function writeFile(path: string, utts: Utt[], extra: Partial<SoftTargetWriterOptions> = {}): Promise<void> {
  const w = await SoftTargetFileWriter.open(path, writerOptions(extra));
  for (const u of utts) w.add(u.uttId, u.top);
  await w.finish(1);
}

async function readAll(path: string): Promise<UtteranceSoftTargets[]> {
  const out: UtteranceSoftTargets[] = [];
  for await (const u of readSoftTargetFile(path)) out.push(u);
  return out;
}

/** What a reader must return for a written utterance. */
function expected(u: Utt, residual: 'renormalise' | 'store'): { probs: number[]; residual: number[] | null } {
  const n = u.top.numFrames;
  const probs: number[] = [];
  for (let f = 0; f < n; f++) {
    const m = u.top.keptMass[f];
    for (let j = 0; j < K; j++)
      probs.push(residual === 'renormalise' ? u.top.probs[f * K + j] / m : u.top.probs[f * K + j]);
  }
  return { probs, residual: residual === 'store' ? Array.from(u.top.keptMass, (m) => 1 - m) : null };
}

describe('soft-target Arrow files', () => {
  const utts = makeUtts(1);

  it('round-trip every layout: float16/float32 probabilities, uint16/int32 ids, renormalised or with a residual column', async () => {
    const dir = tempDir();
    for (const probType of ['float16', 'float32'] as const) {
      for (const residual of ['renormalise', 'store'] as const) {
        for (const idType of ['auto', 'int32'] as const) {
          const path = join(dir, `${probType}-${residual}-${idType}.arrow`);
          await writeFile(path, utts, { probType, residual, idType });
          const got = await readAll(path);
          expect(got.map((u) => u.uttId)).toEqual(utts.map((u) => u.uttId));
          const tol = probType === 'float16' ? 2 ** -11 : 1e-7;
          got.forEach((g, i) => {
            const want = expected(utts[i], residual);
            expect(g.numFrames).toBe(utts[i].top.numFrames);
            expect(Array.from(g.ids)).toEqual(Array.from(utts[i].top.ids));
            expectClose(g.probs, want.probs, tol, `${path} ${g.uttId} probs`);
            if (want.residual) expectClose(g.residual!, want.residual, 1e-7, 'residual');
            else expect(g.residual).toBeNull();
            if (residual === 'renormalise') {
              for (let f = 0; f < g.numFrames; f++)
                expect(g.probs.subarray(f * K, (f + 1) * K).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
            }
          });
          const meta = await readSoftTargetMetadata(path);
          expect(meta).toMatchObject({
            format: 'am-distill.soft-targets',
            formatVersion: 1,
            stage: 'targets',
            k: K,
            numSenones: S,
            temperature: 2,
            combination: 'arithmetic',
            residual,
            probType,
            idType: idType === 'auto' ? 'uint16' : 'int32',
            senoneInventoryId: 'tree-1',
            alignmentConfigHash: 'align-hash',
            featureConfigHash: 'feat-hash',
            teachers: [
              { id: 'exp/t0', hash: 'h0' },
              { id: 'exp/t1', hash: 'h1' },
            ],
            counts: { utterances: utts.length, frames: utts.reduce((a, u) => a + u.top.numFrames, 0), skipped: 1 },
            split: 'train',
          });
          const allMass = utts.flatMap((u) => Array.from(u.top.keptMass));
          expect(meta.meanKeptMass).toBeCloseTo(allMass.reduce((a, b) => a + b, 0) / allMass.length, 12);
          expect(meta.keptMass.min).toBe(Math.min(...allMass));
        }
      }
    }
  });

  it('stores the Arrow types of docs/design.md section 4 with one global utt_id dictionary', () => {
    // Written by the previous test's layout; re-create to keep the test independent.
    return (async () => {
      const path = join(tempDir(), 'types.arrow');
      await writeFile(path, utts);
      const t = tableFromIPC(readFileSync(path));
      expect(t.schema.fields.map((f) => `${f.name}: ${f.type}`)).toEqual([
        'utt_id: Dictionary<Int32, Utf8>',
        'frame: Int32',
        `ids: FixedSizeList[${K}]<Uint16>`,
        `probs: FixedSizeList[${K}]<Float16>`,
      ]);
      expect(t.batches.length).toBe(utts.length); // one record batch per utterance
      expect(t.getChild('frame')!.toArray().slice(0, 3)).toEqual(new Int32Array([0, 1, 2]));
      expect(t.schema.metadata.get(SOFT_META.teachers)).toBe(
        '[{"id":"exp/t0","hash":"h0"},{"id":"exp/t1","hash":"h1"}]',
      );
    })();
  });

  it('writes the same bytes for the same input', async () => {
    const dir = tempDir();
    await writeFile(join(dir, 'a.arrow'), utts);
    await writeFile(join(dir, 'b.arrow'), utts);
    expect(readFileSync(join(dir, 'a.arrow')).equals(readFileSync(join(dir, 'b.arrow')))).toBe(true);
  });

  it('never leaves a partial file: nothing is visible before finish(), abort() removes the temporary file', async () => {
    const dir = tempDir();
    const path = join(dir, 'x.arrow');
    const w = await SoftTargetFileWriter.open(path, writerOptions());
    w.add(utts[0].uttId, utts[0].top);
    expect(existsSync(path)).toBe(false);
    expect(() => w.add('bad', { ...utts[1].top, ids: utts[1].top.ids.map(() => S) })).toThrow(
      /senone id outside the inventory/,
    );
    expect(() => w.add(utts[0].uttId, utts[0].top)).toThrow(/duplicate utterance id/);
    await w.abort();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('rejects bad writer options with ConfigErrors', async () => {
    const dir = tempDir();
    await expect(SoftTargetFileWriter.open(join(dir, 'a.arrow'), writerOptions({ k: S + 1 }))).rejects.toThrow(
      ConfigError,
    );
    await expect(
      SoftTargetFileWriter.open(join(dir, 'a.arrow'), writerOptions({ probType: 'float8' as never })),
    ).rejects.toThrow(ConfigError);
    await expect(
      SoftTargetFileWriter.open(join(dir, 'a.arrow'), writerOptions({ numSenones: 70000, k: 5, idType: 'uint16' })),
    ).rejects.toThrow(/uint16 senone ids/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('random access by (utterance, frame) across shards', () => {
  const shardA = makeUtts(2, 5, 'a');
  const shardB = makeUtts(3, 4, 'b');

  async function twoShards(extra: Partial<SoftTargetWriterOptions> = {}): Promise<string[]> {
    const dir = tempDir();
    const a = join(dir, 'train.0-of-2.arrow'),
      b = join(dir, 'train.1-of-2.arrow');
    await writeFile(a, shardA, extra);
    await writeFile(b, shardB, extra);
    return [a, b];
  }

  /** Shuffled (uttId, frame) keys over all frames of the utterances, as a shuffled minibatch has them. */
  function shuffledKeys(utts: Utt[], seed: number) {
    const rows: { u: Utt; t: number }[] = [];
    for (const u of utts) for (let t = 0; t < u.top.numFrames; t++) rows.push({ u, t });
    new Rng(seed).shuffle(rows);
    const uttIds: string[] = [];
    const index = new Map<string, number>();
    const rowUtt = new Int32Array(rows.length),
      rowFrame = new Int32Array(rows.length);
    rows.forEach((r, i) => {
      if (!index.has(r.u.uttId)) {
        index.set(r.u.uttId, uttIds.length);
        uttIds.push(r.u.uttId);
      }
      rowUtt[i] = index.get(r.u.uttId)!;
      rowFrame[i] = r.t;
    });
    return { keys: { uttIds, rowUtt, rowFrame }, rows };
  }

  it("returns each row's targets whatever the order of the rows, from several files", async () => {
    const files = await twoShards({ probType: 'float32' });
    const index = await SoftTargetIndex.open(files);
    expect(index.size).toBe(9);
    expect(index.uttIds()).toEqual([...shardA, ...shardB].map((u) => u.uttId));
    const { keys, rows } = shuffledKeys([...shardA, ...shardB], 7);
    const got = await index.gather(keys);
    rows.forEach((r, i) => {
      expect(Array.from(got.ids.subarray(i * K, (i + 1) * K))).toEqual(
        Array.from(r.u.top.ids.subarray(r.t * K, (r.t + 1) * K)),
      );
      const m = r.u.top.keptMass[r.t];
      expectClose(
        got.probs.subarray(i * K, (i + 1) * K),
        Array.from(r.u.top.probs.subarray(r.t * K, (r.t + 1) * K), (p) => p / m),
        1e-6,
        `row ${i}`,
      );
    });
    const dense = await index.dense(keys);
    for (let i = 0; i < rows.length; i++)
      expect(dense.subarray(i * S, (i + 1) * S).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    await index.close();
  });

  it('bounds memory with an LRU cache of decoded utterances (reads again what was evicted)', async () => {
    const files = await twoShards();
    const frames = (u: Utt) => u.top.numFrames;
    const big = await SoftTargetIndex.open(files, { cacheFrames: 1_000_000 });
    const none = await SoftTargetIndex.open(files, { cacheFrames: 0 });
    const small = await SoftTargetIndex.open(files, { cacheFrames: frames(shardA[0]) + frames(shardA[1]) });
    for (const ix of [big, none, small]) {
      for (let pass = 0; pass < 2; pass++) for (const u of shardA) await ix.get(u.uttId);
    }
    expect(big.reads).toBe(5); // each utterance once
    expect(none.reads).toBe(10); // every lookup reads
    expect(small.reads).toBe(10); // a cyclic pass over more than the cache holds always misses (LRU)
    await small.get(shardA[4].uttId);
    expect(small.reads).toBe(10); // the most recent one is still cached
    await Promise.all([big.close(), none.close(), small.close()]);
  });

  it('reads files re-batched by other tools (an utterance spanning record batches)', async () => {
    const [a] = await twoShards();
    const rebatched = a.replace('.arrow', '.rebatched.arrow');
    rewriteArrow(a, rebatched, { batchRows: 4 });
    const want = await readAll(a);
    const streamed = await readAll(rebatched);
    expect(streamed.map((u) => [u.uttId, Array.from(u.ids)])).toEqual(want.map((u) => [u.uttId, Array.from(u.ids)]));
    const index = await SoftTargetIndex.open([rebatched]);
    for (const u of [...want].reverse()) {
      const g = (await index.get(u.uttId))!;
      expect(Array.from(g.ids)).toEqual(Array.from(u.ids));
      expectClose(g.probs, u.probs, 0, u.uttId);
    }
    await index.close();
  });

  it('spreads a stored residual over the senones not kept when densifying', () => {
    const t = {
      k: 2,
      ids: new Int32Array([3, 1]),
      probs: new Float32Array([0.6, 0.3]),
      residual: new Float32Array([0.1]),
    };
    const d = sparseToDense(t, 6);
    expectClose(d, [0.025, 0.3, 0.025, 0.6, 0.025, 0.025], 1e-7, 'dense row');
  });

  it('refuses lookups of unknown utterances or frames, and shards that do not belong together', async () => {
    const files = await twoShards();
    const index = await SoftTargetIndex.open(files);
    expect(await index.get('nope')).toBeUndefined();
    await expect(index.gather({ uttIds: ['nope'], rowUtt: [0], rowFrame: [0] })).rejects.toThrow(
      /no soft targets for this utterance/,
    );
    await expect(index.gather({ uttIds: [shardA[0].uttId], rowUtt: [0], rowFrame: [999] })).rejects.toThrow(
      /frame outside/,
    );
    await index.close();
    const dir = tempDir();
    const other = join(dir, 'k5.arrow');
    const five = makeUtts(4, 2, 'c').map((u) => ({
      uttId: u.uttId,
      top: topKRows(
        Float64Array.from({ length: u.top.numFrames * S }, (_, i) => (i % S) + 1).map((v) => v / 1275),
        u.top.numFrames,
        S,
        5,
      ),
    }));
    await writeFile(other, five, { k: 5 });
    await expect(SoftTargetIndex.open([files[0], other])).rejects.toThrow(
      /soft-target files differ in k.*k5\.arrow|k5\.arrow.*differ in k/,
    );
    await expect(SoftTargetIndex.open([files[0], files[0]])).rejects.toThrow(/occurs in two soft-target files/);
  });
});

describe('validation of soft-target files (fatal, naming the file and what differs)', () => {
  const utts = makeUtts(5, 2);
  let path = '';
  const file = async () => {
    if (!path) {
      path = join(tempDir(), 'train.arrow');
      await writeFile(path, utts);
    }
    return path;
  };

  it('detects a student/teacher senone inventory mismatch', async () => {
    const p = await file();
    await expect(SoftTargetIndex.open([p], { expect: { numSenones: S + 1 } })).rejects.toThrow(FormatError);
    await expect(SoftTargetIndex.open([p], { expect: { numSenones: S + 1 } })).rejects.toThrow(
      new RegExp(`${p}.*senone inventory.*51 senones.*50 senones`),
    );
    await expect(SoftTargetIndex.open([p], { expect: { senoneInventoryId: 'tree-2' } })).rejects.toThrow(
      /inventory tree-2.*found inventory tree-1/,
    );
  });

  it('detects targets made from other features or other alignments (config hashes)', async () => {
    const p = await file();
    await expect(
      SoftTargetIndex.open([p], {
        expect: { featureConfigHash: 'feat-OTHER', names: { features: 'exp/feats/train.arrow' } },
      }),
    ).rejects.toThrow(
      /made from other features; expected feature config hash feat-OTHER \(of exp\/feats\/train\.arrow\), found feat-hash/,
    );
    await expect(SoftTargetIndex.open([p], { expect: { alignmentConfigHash: 'align-OTHER' } })).rejects.toThrow(
      /made from other alignments.*align-OTHER.*found align-hash/,
    );
    await expect(
      SoftTargetIndex.open([p], {
        expect: {
          featureConfigHash: 'feat-hash',
          alignmentConfigHash: 'align-hash',
          numSenones: S,
          k: K,
          temperature: 2,
        },
      }),
    ).resolves.toBeTruthy();
  });

  it('detects a wrong k or temperature', async () => {
    const p = await file();
    await expect(SoftTargetIndex.open([p], { expect: { k: K + 1 } })).rejects.toThrow(
      /another top-k width; expected k = 7, found k = 6/,
    );
    const meta = await readSoftTargetMetadata(p);
    expect(() => checkSoftTargets(meta, p, { temperature: 1 })).toThrow(
      /another temperature; expected T = 1.*found T = 2/,
    );
  });

  it('detects list sizes that disagree with k, unknown formats and versions, and non-Arrow files', async () => {
    const p = await file();
    const dir = tempDir();
    const wrongK = join(dir, 'wrong-k.arrow');
    rewriteArrow(p, wrongK, { metadata: (m) => m.set(SOFT_META.k, String(K + 2)) });
    await expect(readSoftTargetMetadata(wrongK)).rejects.toThrow(
      /ids list size differs from k in the metadata; expected k = 8, found 6/,
    );
    const v2 = join(dir, 'v2.arrow');
    rewriteArrow(p, v2, { metadata: (m) => m.set(SOFT_META.formatVersion, '2') });
    await expect(readSoftTargetMetadata(v2)).rejects.toThrow(
      /unsupported soft-target file format version; expected 1, found 2/,
    );
    const feats = join(dir, 'feats.arrow');
    rewriteArrow(p, feats, { metadata: (m) => m.set(SOFT_META.format, 'am-distill.features') });
    await expect(readSoftTargetMetadata(feats)).rejects.toThrow(/not an am-distill soft-target file/);
    const text = join(dir, 'text.arrow');
    writeFileSync(text, 'utt frame ids\n');
    await expect(readSoftTargetMetadata(text)).rejects.toThrow(/not an Arrow IPC file/);
    await expect(readSoftTargetMetadata(join(dir, 'missing.arrow'))).rejects.toThrow(/soft-target file not found/);
  });

  it('detects corrupt rows: a repeated senone id in a frame, an id outside the inventory', async () => {
    const p = await file();
    const dir = tempDir();
    const dup = join(dir, 'dup.arrow');
    rewriteArrow(p, dup, {
      mutate: (t) => {
        const ids = t.batches[1].getChild('ids')!.data[0].children[0].values as Uint16Array;
        ids[1] = ids[0];
      },
    });
    await expect(readAll(dup)).rejects.toThrow(
      new RegExp(`${dup}, utterance 'u1': a senone id occurs twice in one frame`),
    );
    const out = join(dir, 'outside.arrow');
    rewriteArrow(p, out, {
      mutate: (t) => {
        (t.batches[0].getChild('ids')!.data[0].children[0].values as Uint16Array)[K + 2] = 999;
      },
    });
    await expect(readAll(out)).rejects.toThrow(
      /senone id outside the inventory; expected 0 <= id < 50, found 999 at frame 1/,
    );
    const index = await SoftTargetIndex.open([out]);
    await expect(index.get('u0')).rejects.toThrow(FormatError);
    await index.close();
  });
});
