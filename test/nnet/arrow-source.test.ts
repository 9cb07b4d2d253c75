import { describe, it, expect } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Dictionary,
  Float32,
  Int32,
  RecordBatchFileWriter,
  Schema,
  Table,
  Utf8,
  makeVector,
  vectorFromArray,
} from 'apache-arrow';
import { FeatureFileWriter, type FeatureConfig } from '../../src/features/store.ts';
import { fbankOptions } from '../../src/features/options.ts';
import { ArrowFrameSource, arrowUttIds } from '../../src/nnet/arrow-source.ts';
import { openFrameSource } from '../../src/nnet/sources.ts';
import { trainFrameClassifier } from '../../src/nnet/train.ts';
import { Minibatches, type Utterance } from '../../src/nnet/data.ts';
import { FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { captureLogger, tempDir } from './helpers.ts';

interface Rows {
  uttIds: string[];
  frames: number[];
}

function rowsOf(utts: { uttId: string; numFrames: number }[]): Rows {
  const uttIds: string[] = [],
    frames: number[] = [];
  for (const u of utts)
    for (let t = 0; t < u.numFrames; t++) {
      uttIds.push(u.uttId);
      frames.push(t);
    }
  return { uttIds, frames };
}

/** Write a table as an Arrow IPC file in record batches of `batchRows` rows (one shared dictionary). */
function writeTable(path: string, table: Table, batchRows: number, metadata: Record<string, string> = {}): void {
  const [rb] = table.batches;
  const writer = new RecordBatchFileWriter();
  writer.reset(undefined, new Schema(table.schema.fields, new Map(Object.entries(metadata))));
  for (let s = 0; s < rb.numRows; s += batchRows) writer.write(rb.slice(s, Math.min(rb.numRows, s + batchRows)));
  writer.finish();
  writeFileSync(path, writer.toUint8Array(true));
}

const FBANK = fbankOptions({ numMelBins: 3 });
const FEATURE_CONFIG: FeatureConfig = {
  sampleRateHz: 16000,
  frameShiftMs: FBANK.frameShiftMs,
  frameLengthMs: FBANK.frameLengthMs,
  numMelBins: 3,
  fbankDim: 3,
  mfccDim: null,
  fbank: FBANK,
  mfcc: null,
};

/** A feature file written by the feature store (one record batch per utterance). */
async function writeFeatures(path: string, utts: Utterance[], configHash = 'feat-hash-1'): Promise<void> {
  const w = await FeatureFileWriter.open(path, { configHash, featureConfig: FEATURE_CONFIG });
  for (const u of utts) w.add(u.uttId, { numFrames: u.numFrames, dim: u.dim, data: u.feats });
  await w.finish();
}

function alignmentTable(
  utts: { uttId: string; numFrames: number; labels: Int32Array }[],
  rows: Rows = rowsOf(utts),
): Table {
  const senone = new Int32Array(rows.uttIds.length);
  let off = 0;
  for (const u of utts) {
    senone.set(u.labels, off);
    off += u.labels.length;
  }
  return new Table({
    utt_id: vectorFromArray(rows.uttIds, new Dictionary(new Utf8(), new Int32())),
    frame: vectorFromArray(rows.frames, new Int32()),
    senone: makeVector(senone),
  });
}

function makeUtt(uttId: string, numFrames: number, dim: number, rng: Rng, numSenones = 4): Utterance {
  return {
    uttId,
    numFrames,
    dim,
    feats: Float32Array.from({ length: numFrames * dim }, () => rng.gauss()),
    labels: Int32Array.from({ length: numFrames }, () => rng.int(numSenones)),
  };
}

async function all(src: ArrowFrameSource, orderSeed?: number): Promise<Utterance[]> {
  const out: Utterance[] = [];
  for await (const u of src.utterances({ orderSeed })) out.push(u);
  return out;
}

describe('Arrow feature + alignment files as a frame source', () => {
  const rng = new Rng(9);
  const u1 = makeUtt('u1', 5, 3, rng),
    u2 = makeUtt('u2', 6, 3, rng),
    u3 = makeUtt('u3', 4, 3, rng),
    x9 = makeUtt('x9', 2, 3, rng);

  it('joins features and alignments by utterance across record batches, counting what has no partner', async () => {
    const dir = tempDir();
    const feats = join(dir, 'feats.arrow'),
      ali = join(dir, 'ali.arrow');
    await writeFeatures(feats, [u1, u2, u3]);
    writeTable(ali, alignmentTable([u1 as never, x9 as never, u3 as never]), 3, {
      'am_distill.feature_config_hash': 'feat-hash-1',
      'am_distill.num_senones': '4',
    }); // u1 spans batches
    expect(await arrowUttIds(feats)).toEqual(['u1', 'u2', 'u3']);
    const src = await ArrowFrameSource.open({
      features: [feats],
      alignments: [ali],
      uttToSpeaker: { u1: 'spkA', u3: 'spkA' },
    });
    expect(src.featureDim).toBe(3);
    expect(src.numSenones).toBe(4);
    expect(src.featureConfig.numMelBins).toBe(3);
    const got = await all(src);
    expect(got.map((u) => u.uttId)).toEqual(['u1', 'u3']);
    expect(Array.from(got[0].feats)).toEqual(Array.from(u1.feats));
    expect(Array.from(got[0].labels!)).toEqual(Array.from(u1.labels!));
    expect(Array.from(got[1].feats)).toEqual(Array.from(u3.feats));
    expect(Array.from(got[1].labels!)).toEqual(Array.from(u3.labels!));
    expect(got[1].speaker).toBe('spkA');
    expect(src.skips.done).toBe(2);
    expect(
      src.skips
        .reasons()
        .map((r) => `${r.reason}: ${r.examples}`)
        .sort(),
    ).toEqual(['alignment without features: x9', 'no alignment: u2']);
    // Unlabelled reading (no alignments) gives every utterance.
    const plain = await ArrowFrameSource.open({ features: [feats] });
    expect((await all(plain)).map((u) => [u.uttId, u.numFrames, u.labels])).toEqual([
      ['u1', 5, undefined],
      ['u2', 6, undefined],
      ['u3', 4, undefined],
    ]);
  });

  it('visits every utterance of every shard in a seeded random order (same seed, same order)', async () => {
    const dir = tempDir();
    const utts = Array.from({ length: 12 }, (_, i) => makeUtt(`u${String(i).padStart(2, '0')}`, 3 + (i % 4), 3, rng));
    const shards = [0, 1, 2].map((i) => {
      const us = utts.slice(4 * i, 4 * i + 4);
      const f = join(dir, `feats.${i}.arrow`),
        a = join(dir, `ali.${i}.arrow`);
      writeTable(a, alignmentTable(us as never), 5); // record batches across utterances: the mapped path
      return { f, a, us };
    });
    for (const sh of shards) await writeFeatures(sh.f, sh.us);
    const src = await ArrowFrameSource.open({ features: shards.map((s) => s.f), alignments: shards.map((s) => s.a) });
    const ids = utts.map((u) => u.uttId);
    expect((await all(src)).map((u) => u.uttId)).toEqual(ids);
    const a = await all(src, 3);
    expect(a.map((u) => u.uttId)).not.toEqual(ids);
    expect([...a.map((u) => u.uttId)].sort()).toEqual(ids);
    for (const u of a) {
      const ref = utts.find((x) => x.uttId === u.uttId)!;
      expect(Array.from(u.feats)).toEqual(Array.from(ref.feats));
      expect(Array.from(u.labels!)).toEqual(Array.from(ref.labels!));
    }
    // Shards interleave: some utterance of one shard comes between two of another.
    const shardOf = (id: string) => Math.floor(Number(id.slice(1)) / 4);
    const runs = a.map((u) => shardOf(u.uttId)).filter((s, i, xs) => i === 0 || s !== xs[i - 1]).length;
    expect(runs).toBeGreaterThan(3);
    expect(await all(src, 3)).toEqual(a);
    expect((await all(src, 4)).map((u) => u.uttId)).not.toEqual(a.map((u) => u.uttId));
    expect(src.skips.done).toBe(12);
  });

  it('counts an utterance without alignment and an alignment without features on a shuffled pass too', async () => {
    const dir = tempDir();
    const feats = join(dir, 'feats.arrow'),
      ali = join(dir, 'ali.arrow');
    await writeFeatures(feats, [u1, u2, u3]);
    writeTable(ali, alignmentTable([u1 as never, x9 as never, u3 as never]), 3);
    const src = await ArrowFrameSource.open({ features: [feats], alignments: [ali] });
    expect((await all(src, 1)).map((u) => u.uttId).sort()).toEqual(['u1', 'u3']);
    expect(src.skips.reasons().map((r) => [r.reason, r.count, r.examples])).toEqual([
      ['alignment without features', 1, ['x9']],
      ['no alignment', 1, ['u2']],
    ]);
  });

  it('refuses an utterance aligned in two alignment files on a shuffled pass, naming both', async () => {
    const dir = tempDir();
    const feats = join(dir, 'feats.arrow'),
      a1 = join(dir, 'ali.1.arrow'),
      a2 = join(dir, 'ali.2.arrow');
    await writeFeatures(feats, [u1, u2, u3]);
    writeTable(a1, alignmentTable([u1 as never, u2 as never]), 3);
    writeTable(a2, alignmentTable([u2 as never, u3 as never]), 3);
    const src = await ArrowFrameSource.open({ features: [feats], alignments: [a1, a2] });
    await expect(all(src, 1)).rejects.toThrow(FormatError);
    await expect(all(src, 1)).rejects.toThrow(
      /ali\.2\.arrow.*utterance 'u2'.*occurs in two alignment files.*also in .*ali\.1\.arrow/,
    );
  });

  it('a corpus stored in speaker order feeds every tenth of an epoch with each speaker near its share', async () => {
    // 8 speakers x 1000 utterances of 10 frames, stored speaker after speaker in two shards; a
    // 4000-frame shuffle buffer (a tenth of the corpus). Speaker shares per tenth of the epoch's
    // frames must stay within 5 points of the speaker's overall share (12.5 %).
    const dir = tempDir();
    const speakers = Array.from({ length: 8 }, (_, s) => `spk${s}`);
    const utts: Utterance[] = [];
    const uttToSpeaker: Record<string, string> = {};
    for (const spk of speakers) {
      for (let i = 0; i < 1000; i++) {
        const u = makeUtt(`${spk}-${String(i).padStart(4, '0')}`, 10, 3, rng);
        utts.push(u);
        uttToSpeaker[u.uttId] = spk;
      }
    }
    const files = [utts.slice(0, 4000), utts.slice(4000)].map((us, i) => ({
      f: join(dir, `f${i}.arrow`),
      a: join(dir, `a${i}.arrow`),
      us,
    }));
    for (const x of files) {
      await writeFeatures(x.f, x.us);
      writeTable(x.a, alignmentTable(x.us as never), 10);
    }
    const src = await ArrowFrameSource.open({
      features: files.map((x) => x.f),
      alignments: files.map((x) => x.a),
      uttToSpeaker,
    });
    const worstDeviation = async (
      source: { featureDim: number; name: string; utterances: typeof src.utterances },
      seed: number,
    ) => {
      const rows: number[] = [];
      for await (const b of new Minibatches(source as never, {
        batchSize: 256,
        shuffleBufferFrames: 4000,
        seed,
        splice: { leftContext: 0, rightContext: 0 },
        numSenones: 4,
      })) {
        for (let r = 0; r < b.size; r++) rows.push(speakers.indexOf(uttToSpeaker[b.uttIds[b.rowUtt[r]]]));
      }
      expect(rows.length).toBe(80_000);
      let worst = 0;
      for (let tenth = 0; tenth < 10; tenth++) {
        const part = rows.slice(tenth * 8000, (tenth + 1) * 8000);
        for (let s = 0; s < 8; s++)
          worst = Math.max(worst, Math.abs(part.filter((x) => x === s).length / part.length - 1 / 8));
      }
      return worst;
    };
    expect(await worstDeviation(src, 1)).toBeLessThan(0.05); // 0.034 measured (0.028 with seed 2)
    // The same buffer over the stored order (a source that ignores the order seed) fails the criterion.
    const stored = { featureDim: src.featureDim, name: src.name, utterances: () => src.utterances() };
    expect(await worstDeviation(stored, 1)).toBeGreaterThan(0.3);
  }, 60_000);

  it('refuses alignments in another utterance order, naming the utterance', async () => {
    const dir = tempDir();
    await writeFeatures(join(dir, 'f.arrow'), [u1, u3]);
    writeTable(join(dir, 'a.arrow'), alignmentTable([u3 as never, u1 as never]), 10);
    const src = await ArrowFrameSource.open({ features: [join(dir, 'f.arrow')], alignments: [join(dir, 'a.arrow')] });
    const err = await all(src).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toMatch(
      /a\.arrow, utterance 'u3': alignments are not in the utterance order.*expected 'u1' next/,
    );
  });

  it('refuses alignments made from other features, missing frames, a wrong column type and a file that is not Arrow', async () => {
    const dir = tempDir();
    const feats = join(dir, 'f.arrow');
    await writeFeatures(feats, [u1]);
    writeTable(join(dir, 'other.arrow'), alignmentTable([u1 as never]), 10, {
      'am_distill.feature_config_hash': 'feat-hash-2',
    });
    await expect(ArrowFrameSource.open({ features: [feats], alignments: [join(dir, 'other.arrow')] })).rejects.toThrow(
      /other\.arrow: alignments were made from other features; expected feature config hash feat-hash-1 .*found feat-hash-2/,
    );

    const rows = rowsOf([u1]);
    rows.frames[3] = 7;
    writeTable(join(dir, 'gap.arrow'), alignmentTable([u1 as never], rows), 10);
    const gap = await ArrowFrameSource.open({ features: [feats], alignments: [join(dir, 'gap.arrow')] });
    await expect(all(gap)).rejects.toThrow(
      /gap\.arrow, utterance 'u1': frame numbers are not 0, 1, 2.*expected frame 3, found frame 7/,
    );

    const wrong = new Table({
      utt_id: vectorFromArray(['u1'], new Dictionary(new Utf8(), new Int32())),
      frame: vectorFromArray([0], new Int32()),
      senone: vectorFromArray([1.5], new Float32()),
    });
    writeTable(join(dir, 'wrong.arrow'), wrong, 10);
    const w = await ArrowFrameSource.open({ features: [feats], alignments: [join(dir, 'wrong.arrow')] });
    await expect(all(w)).rejects.toThrow(/wrong\.arrow: column 'senone' has the wrong type.*found Float32/);

    writeFileSync(join(dir, 'text.arrow'), 'not arrow at all');
    await expect(ArrowFrameSource.open({ features: [feats], alignments: [join(dir, 'text.arrow')] })).rejects.toThrow(
      /text\.arrow: not an Arrow IPC file/,
    );
    await expect(ArrowFrameSource.open({ features: [join(dir, 'absent.arrow')] })).rejects.toThrow(FormatError);
  });

  it('feeds training through a plain-data source spec (as a worker would open it)', async () => {
    const dir = tempDir();
    const r = new Rng(4);
    const utts = Array.from({ length: 6 }, (_, i) => makeUtt(`utt${i}`, 20, 3, r));
    await writeFeatures(join(dir, 'f.arrow'), utts);
    writeTable(join(dir, 'a.arrow'), alignmentTable(utts as never), 32);
    const source = await openFrameSource({
      kind: 'arrow',
      options: { features: [join(dir, 'f.arrow')], alignments: [join(dir, 'a.arrow')] },
    });
    const res = await trainFrameClassifier({
      outDir: join(dir, 'exp'),
      train: source,
      backend: 'wasm',
      logger: captureLogger(),
      config: {
        numSenones: 4,
        hiddenLayers: 1,
        hiddenUnits: 8,
        maxEpochs: 1,
        batchSize: 16,
        splice: { leftContext: 1, rightContext: 1 },
      },
    });
    expect(res.history[0].frames).toBe(120);
    expect(res.sidecar.featureDim).toBe(3);
    // The sidecar records the producer's feature config read from the feature file.
    expect(res.sidecar.featureConfig).toEqual(JSON.parse(JSON.stringify(FEATURE_CONFIG)));
    // Alignments that declare another senone count than the model are refused.
    writeTable(join(dir, 'a5.arrow'), alignmentTable(utts as never), 32, { 'am_distill.num_senones': '5' });
    const five = await openFrameSource({
      kind: 'arrow',
      options: { features: [join(dir, 'f.arrow')], alignments: [join(dir, 'a5.arrow')] },
    });
    await expect(
      trainFrameClassifier({
        outDir: join(dir, 'exp5'),
        train: five,
        backend: 'wasm',
        logger: captureLogger(),
        config: { numSenones: 4, maxEpochs: 1 },
      }),
    ).rejects.toThrow(/key 'numSenones': the alignments have another senone count than the model; expected 4, found 5/);
  });
});
