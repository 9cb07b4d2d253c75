import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  computeFeatures,
  featurePaths,
  mergeFeatureShards,
  shardRange,
  type AudioReader,
} from '../../src/features/compute.ts';
import { readFeatureFile, type FeatureUtterance } from '../../src/features/store.ts';
import { readCmvnFile } from '../../src/features/cmvn-file.ts';
import { CmvnStats } from '../../src/features/cmvn.ts';
import { computeFbank } from '../../src/features/fbank.ts';
import { computeMfcc } from '../../src/features/mfcc.ts';
import { AudioFormatError, ConfigError, CorpusError, FormatError } from '../../src/util/errors.ts';
import { createLogger } from '../../src/util/log.ts';
import { Rng } from '../../src/util/rng.ts';
import type { Recording, Supervision } from '../../src/corpus/types.ts';
import { encodeWav16, expectClose, readWav } from './helpers.ts';

const RATE = 8000;

interface Fixture {
  dataDir: string;
  outDir: string;
  recordings: Recording[];
  supervisions: Supervision[];
}

/** A small prepared corpus: 3 speakers, 6 recordings of noisy tones, one split into two segments. */
function makeCorpus(
  seed: number,
  opts: { badRate?: boolean; corrupt?: string[]; missing?: string[]; tiny?: boolean } = {},
): Fixture {
  const root = mkdtempSync(join(tmpdir(), 'amd-featstage-'));
  const dataDir = join(root, 'data');
  const splitDir = join(dataDir, 'train');
  const wavDir = join(dataDir, 'wav');
  mkdirSync(splitDir, { recursive: true });
  mkdirSync(wavDir, { recursive: true });
  const rng = new Rng(seed);
  const recordings: Recording[] = [];
  const supervisions: Supervision[] = [];
  for (let i = 0; i < 6; i++) {
    const id = `rec${i}`;
    const speaker = `spk${i % 3}`;
    const durationSec = opts.tiny && i === 5 ? 0.02 : 0.3 + 0.1 * rng.int(5);
    const n = Math.round(durationSec * RATE);
    const f = 200 + rng.int(2000);
    const x = Float32Array.from(
      { length: n },
      (_, t) => 0.3 * Math.sin((2 * Math.PI * f * t) / RATE) + 0.02 * rng.gauss(),
    );
    const path = join(wavDir, `${id}.wav`);
    if (opts.corrupt?.includes(id)) writeFileSync(path, 'RIFF....WAVEjunk');
    else if (!opts.missing?.includes(id)) writeFileSync(path, encodeWav16(x, RATE));
    const declaredRate = opts.badRate && i === 3 ? 16000 : RATE;
    recordings.push({
      id,
      speaker,
      path: `../wav/${id}.wav`,
      format: 'wav',
      channel: 0,
      sampleRateHz: declaredRate,
      numSamples: n,
      durationSec,
    });
    if (i === 2) {
      const half = Math.floor(n / 2) / RATE;
      supervisions.push({ id: `${id}-a`, recordingId: id, speaker, startSec: 0, durationSec: half, text: 'A' });
      supervisions.push({
        id: `${id}-b`,
        recordingId: id,
        speaker,
        startSec: half,
        durationSec: durationSec - half,
        text: 'B',
      });
    } else {
      supervisions.push({ id: `${id}-u`, recordingId: id, speaker, startSec: 0, durationSec, text: 'X' });
    }
  }
  writeFileSync(join(splitDir, 'recordings.jsonl'), recordings.map((r) => JSON.stringify(r)).join('\n') + '\n');
  writeFileSync(join(splitDir, 'supervisions.jsonl'), supervisions.map((s) => JSON.stringify(s)).join('\n') + '\n');
  writeFileSync(
    join(dataDir, 'corpus.json'),
    JSON.stringify({
      corpus: 'test',
      splits: ['train'],
      sampleRateHz: RATE,
      counts: {},
      skipped: { done: 0, skipped: 0, reasons: [] },
      options: {},
    }),
  );
  return { dataDir, outDir: join(root, 'exp', 'features'), recordings, supervisions };
}

/** Test audio reader: 16-bit WAV with segment selection; undecodable files are AudioFormatErrors. */
const wavReader: AudioReader = async (path, o) => {
  let w;
  try {
    w = readWav(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
    throw new AudioFormatError((err as Error).message, { file: path });
  }
  const start = Math.round((o.startSec ?? 0) * w.sampleRateHz);
  const end =
    o.durationSec === undefined
      ? w.samples.length
      : Math.min(w.samples.length, start + Math.round(o.durationSec * w.sampleRateHz));
  return { sampleRateHz: w.sampleRateHz, samples: w.samples.subarray(start, end) };
};

function quietLogger(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = [];
  return { logger: createLogger({ stream: { write: (s: string) => chunks.push(s) } }), text: () => chunks.join('') };
}

async function readAll(path: string): Promise<FeatureUtterance[]> {
  const out: FeatureUtterance[] = [];
  for await (const u of readFeatureFile(path)) out.push(u);
  return out;
}

describe('features stage', () => {
  it('writes fbank (40 bins) + mfcc per supervision segment, equal to computing each segment directly', async () => {
    const fx = makeCorpus(1);
    const { logger, text } = quietLogger();
    const r = await computeFeatures({
      dataDir: fx.dataDir,
      split: 'train',
      outDir: fx.outDir,
      logger,
      readAudio: wavReader,
    });
    expect(r.featuresPath).toBe(join(fx.outDir, 'train.arrow'));
    expect(r.utterances).toBe(7);
    expect(r.skipped.skipped).toBe(0);
    expect(r.featureConfig.fbankDim).toBe(40);
    expect(r.featureConfig.mfccDim).toBe(13);
    expect(r.featureConfig.sampleRateHz).toBe(RATE);
    const utts = await readAll(r.featuresPath);
    expect(utts.map((u) => u.uttId)).toEqual(fx.supervisions.map((s) => s.id));
    for (const u of utts) {
      const sup = fx.supervisions.find((s) => s.id === u.uttId)!;
      const rec = fx.recordings.find((x) => x.id === sup.recordingId)!;
      const seg = await wavReader(join(fx.dataDir, 'wav', `${rec.id}.wav`), {
        startSec: sup.startSec,
        durationSec: sup.durationSec,
      });
      expect(u.fbank.data).toEqual(computeFbank(seg.samples, RATE, { numMelBins: 40 }).data);
      expect(u.mfcc!.data).toEqual(computeMfcc(seg.samples, RATE).data);
    }
    expect(r.frames).toBe(utts.reduce((s, u) => s + u.fbank.numFrames, 0));
    expect(text()).toMatch(/features train: 7\/7 utterances/);
    expect(text()).toMatch(/Done 7 utterances, skipped 0/);
  });

  it('writes per-speaker CMVN statistics of fbank and mfcc, with utt2spk', async () => {
    const fx = makeCorpus(2);
    const r = await computeFeatures({
      dataDir: fx.dataDir,
      split: 'train',
      outDir: fx.outDir,
      logger: quietLogger().logger,
      readAudio: wavReader,
    });
    const cmvn = await readCmvnFile(r.cmvnPath);
    expect(cmvn.configHash).toBe(r.configHash);
    expect([...cmvn.streams.keys()].sort()).toEqual(['fbank', 'mfcc']);
    expect(cmvn.utt2spk.get('rec2-b')).toBe('spk2');
    const utts = await readAll(r.featuresPath);
    const expected = new CmvnStats(40);
    for (const u of utts) if (cmvn.utt2spk.get(u.uttId) === 'spk1') expected.accumulate(u.fbank);
    const got = cmvn.streams.get('fbank')!.get('spk1')!;
    expect(got.count).toBe(expected.count);
    expectClose(got.sum, expected.sum, 1e-6, 'spk1 fbank sums');
  });

  it('computes shards as contiguous blocks whose merge equals the unsharded run', async () => {
    const fx = makeCorpus(3);
    const logger = quietLogger().logger;
    const whole = await computeFeatures({
      dataDir: fx.dataDir,
      split: 'train',
      outDir: fx.outDir,
      logger,
      readAudio: wavReader,
      fbank: { dither: 1, ditherSeed: 4 },
    });
    const shardDir = join(fx.outDir, 'sharded');
    for (let index = 0; index < 3; index++) {
      const r = await computeFeatures({
        dataDir: fx.dataDir,
        split: 'train',
        outDir: shardDir,
        logger,
        readAudio: wavReader,
        fbank: { dither: 1, ditherSeed: 4 },
        shard: { index, count: 3 },
      });
      expect(r.featuresPath).toBe(join(shardDir, `train.${index}-of-3.arrow`));
      expect(r.configHash).toBe(whole.configHash);
    }
    const merged = await mergeFeatureShards(shardDir, 'train', 3);
    expect(merged.metadata.counts).toEqual(whole.metadata.counts);
    expect(await readAll(merged.featuresPath)).toEqual(await readAll(whole.featuresPath));
    const a = await readCmvnFile(merged.cmvnPath);
    const b = await readCmvnFile(whole.cmvnPath);
    expect([...a.utt2spk]).toEqual([...b.utt2spk].sort());
    for (const spk of ['spk0', 'spk1', 'spk2'])
      expectClose(a.streams.get('mfcc')!.get(spk)!.sumSq, b.streams.get('mfcc')!.get(spk)!.sumSq, 1e-6, spk);
    expect(shardRange(7, { index: 0, count: 3 })).toEqual([0, 2]);
    expect(shardRange(7, { index: 2, count: 3 })).toEqual([4, 7]);
    expect(() => shardRange(7, { index: 3, count: 3 })).toThrow(ConfigError);
  });

  it('gives byte-identical outputs for the same config and seed, different ones for another seed', async () => {
    const fx = makeCorpus(4);
    const logger = quietLogger().logger;
    const run = async (outDir: string, seed: number) =>
      computeFeatures({
        dataDir: fx.dataDir,
        split: 'train',
        outDir,
        logger,
        readAudio: wavReader,
        fbank: { dither: 1, ditherSeed: seed },
      });
    const a = await run(join(fx.outDir, 'a'), 1);
    const b = await run(join(fx.outDir, 'b'), 1);
    const c = await run(join(fx.outDir, 'c'), 2);
    expect(readFileSync(a.featuresPath).equals(readFileSync(b.featuresPath))).toBe(true);
    expect(readFileSync(a.cmvnPath, 'utf8')).toBe(readFileSync(b.cmvnPath, 'utf8'));
    expect(readFileSync(a.featuresPath).equals(readFileSync(c.featuresPath))).toBe(false);
    expect(a.configHash).not.toBe(c.configHash);
  });

  it('counts undecodable, missing and too-short audio as skips and reports them', async () => {
    const fx = makeCorpus(5, { corrupt: ['rec1'], missing: ['rec4'], tiny: true });
    const { logger, text } = quietLogger();
    const r = await computeFeatures({
      dataDir: fx.dataDir,
      split: 'train',
      outDir: fx.outDir,
      logger,
      readAudio: wavReader,
    });
    expect(r.utterances).toBe(4);
    expect(r.skipped.skipped).toBe(3);
    expect(r.skipped.reasons.map((x) => [x.reason, x.examples])).toEqual([
      ['missing audio file', ['rec4-u']],
      ['shorter than one frame', ['rec5-u']],
      ['unreadable audio', ['rec1-u']],
    ]);
    expect(r.metadata.counts.skipped).toBe(3);
    expect(text()).toMatch(/Done 4 utterances, skipped 3/);
    expect(text()).toMatch(/skipping rec1-u: .*rec1\.wav/);
  });

  it('stops on a recording whose sample rate differs from the corpus, leaving no output', async () => {
    const fx = makeCorpus(6, { badRate: true });
    const run = computeFeatures({
      dataDir: fx.dataDir,
      split: 'train',
      outDir: fx.outDir,
      logger: quietLogger().logger,
      readAudio: wavReader,
    });
    await expect(run).rejects.toThrow(FormatError);
    await expect(
      computeFeatures({
        dataDir: fx.dataDir,
        split: 'train',
        outDir: fx.outDir,
        logger: quietLogger().logger,
        readAudio: wavReader,
      }),
    ).rejects.toThrow(
      /rec3\.wav, utterance 'rec3-u': recording sample rate differs from the corpus; expected 8000 Hz .*, found 16000 Hz/,
    );
    expect(readdirSync(fx.outDir)).toEqual([]);
  });

  it('stops when audio decodes at another rate than the corpus, and when configured for another rate', async () => {
    const fx = makeCorpus(7);
    const upsampled: AudioReader = async (p, o) => ({ ...(await wavReader(p, o)), sampleRateHz: 16000 });
    await expect(
      computeFeatures({
        dataDir: fx.dataDir,
        split: 'train',
        outDir: fx.outDir,
        logger: quietLogger().logger,
        readAudio: upsampled,
      }),
    ).rejects.toThrow(/audio sample rate differs from the corpus/);
    await expect(
      computeFeatures({
        dataDir: fx.dataDir,
        split: 'train',
        outDir: fx.outDir,
        logger: quietLogger().logger,
        readAudio: wavReader,
        fbank: { sampleRateHz: 16000 },
      }),
    ).rejects.toThrow(/sample rate differs/);
  });

  it('fails when nothing could be computed, and rejects bad options before reading audio', async () => {
    const fx = makeCorpus(8, { corrupt: ['rec0', 'rec1', 'rec2', 'rec3', 'rec4', 'rec5'] });
    await expect(
      computeFeatures({
        dataDir: fx.dataDir,
        split: 'train',
        outDir: fx.outDir,
        logger: quietLogger().logger,
        readAudio: wavReader,
      }),
    ).rejects.toThrow(CorpusError);
    expect(readdirSync(fx.outDir)).toEqual([]);
    await expect(
      computeFeatures({
        dataDir: fx.dataDir,
        split: 'train',
        outDir: fx.outDir,
        readAudio: wavReader,
        fbank: { numMelBin: 40 } as never,
      }),
    ).rejects.toThrow(/key 'fbank\.numMelBin': unknown feature option/);
    await expect(
      computeFeatures({
        dataDir: fx.dataDir,
        split: 'train',
        outDir: fx.outDir,
        readAudio: wavReader,
        mfcc: { frameShiftMs: 20 },
      }),
    ).rejects.toThrow(/same frames/);
  });

  it('can leave out the mfcc column', async () => {
    const fx = makeCorpus(9);
    const r = await computeFeatures({
      dataDir: fx.dataDir,
      split: 'train',
      outDir: fx.outDir,
      logger: quietLogger().logger,
      readAudio: wavReader,
      mfcc: false,
      fbank: { numMelBins: 23 },
    });
    const utts = await readAll(r.featuresPath);
    expect(utts[0].mfcc).toBeUndefined();
    expect(utts[0].fbank.dim).toBe(23);
    expect(featurePaths(fx.outDir, 'train').cmvn).toBe(r.cmvnPath);
  });

  it('reads audio through the project audio module by default (same result as a plain WAV reader)', async () => {
    const fx = makeCorpus(10, { corrupt: ['rec4'] });
    const logger = quietLogger().logger;
    const viaModule = await computeFeatures({
      dataDir: fx.dataDir,
      split: 'train',
      outDir: join(fx.outDir, 'm'),
      logger,
    });
    const viaTest = await computeFeatures({
      dataDir: fx.dataDir,
      split: 'train',
      outDir: join(fx.outDir, 't'),
      logger,
      readAudio: wavReader,
    });
    expect(viaModule.skipped.reasons.map((x) => x.reason)).toEqual(['unreadable audio']);
    expect(await readAll(viaModule.featuresPath)).toEqual(await readAll(viaTest.featuresPath));
  });
});

describe('features stage: VTLP copies', () => {
  it('writes each utterance then one copy per warp, computed with the warped mel bins, as new speakers', async () => {
    const fx = makeCorpus(11);
    const logger = quietLogger().logger;
    const plain = await computeFeatures({
      dataDir: fx.dataDir,
      split: 'train',
      outDir: join(fx.outDir, 'plain'),
      logger,
      readAudio: wavReader,
    });
    const r = await computeFeatures({
      dataDir: fx.dataDir,
      split: 'train',
      outDir: join(fx.outDir, 'vtlp'),
      logger,
      readAudio: wavReader,
      vtlpWarps: [0.9, 1.1],
    });
    expect(r.utterances).toBe(21);
    expect(r.skipped.done).toBe(7);
    expect(r.metadata.vtlpWarps).toEqual([0.9, 1.1]);
    expect(plain.metadata.vtlpWarps).toEqual([]);
    // Same feature config (the copies change the data, not the features' definition).
    expect(r.configHash).toBe(plain.configHash);
    const utts = await readAll(r.featuresPath);
    expect(utts.map((u) => u.uttId)).toEqual(
      fx.supervisions.flatMap((s) => [s.id, `vtlp0.9-${s.id}`, `vtlp1.1-${s.id}`]),
    );
    const originals = await readAll(plain.featuresPath);
    expect(utts.filter((u) => !u.uttId.startsWith('vtlp'))).toEqual(originals);
    for (const u of utts.filter((x) => x.uttId.startsWith('vtlp'))) {
      const warp = Number(/^vtlp([0-9.]+)-/.exec(u.uttId)![1]);
      const sup = fx.supervisions.find((s) => u.uttId.endsWith(`-${s.id}`))!;
      const seg = await wavReader(join(fx.dataDir, 'wav', `${sup.recordingId}.wav`), {
        startSec: sup.startSec,
        durationSec: sup.durationSec,
      });
      expect(u.fbank.data).toEqual(computeFbank(seg.samples, RATE, { numMelBins: 40, vtlnWarp: warp }).data);
      expect(u.mfcc!.data).toEqual(computeMfcc(seg.samples, RATE, { vtlnWarp: warp }).data);
      // Same frames as the source, different values.
      const src = originals.find((o) => o.uttId === sup.id)!;
      expect(u.fbank.numFrames).toBe(src.fbank.numFrames);
      expect(u.fbank.data).not.toEqual(src.fbank.data);
    }
    const cmvn = await readCmvnFile(r.cmvnPath);
    expect(cmvn.utt2spk.get('vtlp1.1-rec2-b')).toBe('vtlp1.1-spk2');
    expect(cmvn.utt2spk.get('rec2-b')).toBe('spk2');
    expect([...cmvn.streams.get('fbank')!.speakers.keys()].sort()).toEqual([
      'spk0',
      'spk1',
      'spk2',
      'vtlp0.9-spk0',
      'vtlp0.9-spk1',
      'vtlp0.9-spk2',
      'vtlp1.1-spk0',
      'vtlp1.1-spk1',
      'vtlp1.1-spk2',
    ]);
  });

  it('merges shards with copies into the unsharded file, and refuses to merge files with other warps', async () => {
    const fx = makeCorpus(12);
    const logger = quietLogger().logger;
    const opts = {
      dataDir: fx.dataDir,
      split: 'train',
      logger,
      readAudio: wavReader,
      fbank: { dither: 1, ditherSeed: 3 },
    };
    const whole = await computeFeatures({ ...opts, outDir: join(fx.outDir, 'whole'), vtlpWarps: [0.92] });
    const again = await computeFeatures({ ...opts, outDir: join(fx.outDir, 'again'), vtlpWarps: [0.92] });
    expect(readFileSync(whole.featuresPath).equals(readFileSync(again.featuresPath))).toBe(true);
    const shardDir = join(fx.outDir, 'sharded');
    for (let index = 0; index < 2; index++)
      await computeFeatures({ ...opts, outDir: shardDir, shard: { index, count: 2 }, vtlpWarps: [0.92] });
    const merged = await mergeFeatureShards(shardDir, 'train', 2);
    expect(merged.metadata.vtlpWarps).toEqual([0.92]);
    expect(await readAll(merged.featuresPath)).toEqual(await readAll(whole.featuresPath));
    // Shard 1 recomputed with another warp: the merge names it.
    await computeFeatures({ ...opts, outDir: shardDir, shard: { index: 1, count: 2 }, vtlpWarps: [1.08] });
    await expect(mergeFeatureShards(shardDir, 'train', 2)).rejects.toThrow(
      /train\.1-of-2\.arrow: cannot merge feature files with different VTLP copies; expected VTLP warps \[0\.92\]/,
    );
  });

  it('skips an utterance together with its copies', async () => {
    const fx = makeCorpus(13, { tiny: true });
    const r = await computeFeatures({
      dataDir: fx.dataDir,
      split: 'train',
      outDir: fx.outDir,
      logger: quietLogger().logger,
      readAudio: wavReader,
      vtlpWarps: [1.1],
    });
    expect(r.skipped.reasons.map((x) => [x.reason, x.examples])).toEqual([['shorter than one frame', ['rec5-u']]]);
    const ids = (await readAll(r.featuresPath)).map((u) => u.uttId);
    expect(ids).toHaveLength(12);
    expect(ids.some((id) => id.endsWith('rec5-u'))).toBe(false);
  });

  it('rejects bad warp factors and a warped base config before reading any audio', async () => {
    const fx = makeCorpus(14);
    let reads = 0;
    const counting: AudioReader = async (p, o) => {
      reads++;
      return wavReader(p, o);
    };
    const run = (extra: object) =>
      computeFeatures({
        dataDir: fx.dataDir,
        split: 'train',
        outDir: fx.outDir,
        logger: quietLogger().logger,
        readAudio: counting,
        ...extra,
      });
    await expect(run({ vtlpWarps: [0.9, 1] })).rejects.toThrow(
      /key 'vtlpWarps': bad VTLP warp factor; expected numbers in \(0\.5, 2\) other than 1.*found 1/,
    );
    await expect(run({ vtlpWarps: [0.3] })).rejects.toThrow(ConfigError);
    await expect(run({ vtlpWarps: [1.1, 1.1] })).rejects.toThrow(/repeated VTLP warp factor/);
    await expect(run({ vtlpWarps: [1.1], fbank: { vtlnWarp: 0.95 } })).rejects.toThrow(
      /key 'fbank\.vtlnWarp': VTLP copies need unwarped features; expected vtlnWarp 1 .*found 0\.95/,
    );
    await expect(run({ vtlpWarps: [1.1], mfcc: { vtlnWarp: 1.05 } })).rejects.toThrow(
      /key 'mfcc\.vtlnWarp': VTLP copies need unwarped features; expected vtlnWarp 1 .*found 1\.05/,
    );
    expect(reads).toBe(0);
    expect(existsSync(fx.outDir)).toBe(false);
  });
});
