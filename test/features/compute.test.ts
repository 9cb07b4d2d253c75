import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeFeatures, featurePaths, mergeFeatureShards, shardRange, type AudioReader } from '../../src/features/compute.ts';
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
function makeCorpus(seed: number, opts: { badRate?: boolean; corrupt?: string[]; missing?: string[]; tiny?: boolean } = {}): Fixture {
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
    const x = Float32Array.from({ length: n }, (_, t) => 0.3 * Math.sin((2 * Math.PI * f * t) / RATE) + 0.02 * rng.gauss());
    const path = join(wavDir, `${id}.wav`);
    if (opts.corrupt?.includes(id)) writeFileSync(path, 'RIFF....WAVEjunk');
    else if (!opts.missing?.includes(id)) writeFileSync(path, encodeWav16(x, RATE));
    const declaredRate = opts.badRate && i === 3 ? 16000 : RATE;
    recordings.push({ id, speaker, path: `../wav/${id}.wav`, format: 'wav', channel: 0, sampleRateHz: declaredRate, numSamples: n, durationSec });
    if (i === 2) {
      const half = Math.floor(n / 2) / RATE;
      supervisions.push({ id: `${id}-a`, recordingId: id, speaker, startSec: 0, durationSec: half, text: 'A' });
      supervisions.push({ id: `${id}-b`, recordingId: id, speaker, startSec: half, durationSec: durationSec - half, text: 'B' });
    } else {
      supervisions.push({ id: `${id}-u`, recordingId: id, speaker, startSec: 0, durationSec, text: 'X' });
    }
  }
  writeFileSync(join(splitDir, 'recordings.jsonl'), recordings.map((r) => JSON.stringify(r)).join('\n') + '\n');
  writeFileSync(join(splitDir, 'supervisions.jsonl'), supervisions.map((s) => JSON.stringify(s)).join('\n') + '\n');
  writeFileSync(join(dataDir, 'corpus.json'), JSON.stringify({
    corpus: 'test', splits: ['train'], sampleRateHz: RATE, counts: {}, skipped: { done: 0, skipped: 0, reasons: [] }, options: {},
  }));
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
  const end = o.durationSec === undefined ? w.samples.length : Math.min(w.samples.length, start + Math.round(o.durationSec * w.sampleRateHz));
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
    const r = await computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: fx.outDir, logger, readAudio: wavReader });
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
      const seg = await wavReader(join(fx.dataDir, 'wav', `${rec.id}.wav`), { startSec: sup.startSec, durationSec: sup.durationSec });
      expect(u.fbank.data).toEqual(computeFbank(seg.samples, RATE, { numMelBins: 40 }).data);
      expect(u.mfcc!.data).toEqual(computeMfcc(seg.samples, RATE).data);
    }
    expect(r.frames).toBe(utts.reduce((s, u) => s + u.fbank.numFrames, 0));
    expect(text()).toMatch(/features train: 7\/7 utterances/);
    expect(text()).toMatch(/Done 7 utterances, skipped 0/);
  });

  it('writes per-speaker CMVN statistics of fbank and mfcc, with utt2spk', async () => {
    const fx = makeCorpus(2);
    const r = await computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: fx.outDir, logger: quietLogger().logger, readAudio: wavReader });
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
    const whole = await computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: fx.outDir, logger, readAudio: wavReader, fbank: { dither: 1, ditherSeed: 4 } });
    const shardDir = join(fx.outDir, 'sharded');
    for (let index = 0; index < 3; index++) {
      const r = await computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: shardDir, logger, readAudio: wavReader, fbank: { dither: 1, ditherSeed: 4 }, shard: { index, count: 3 } });
      expect(r.featuresPath).toBe(join(shardDir, `train.${index}-of-3.arrow`));
      expect(r.configHash).toBe(whole.configHash);
    }
    const merged = await mergeFeatureShards(shardDir, 'train', 3);
    expect(merged.metadata.counts).toEqual(whole.metadata.counts);
    expect(await readAll(merged.featuresPath)).toEqual(await readAll(whole.featuresPath));
    const a = await readCmvnFile(merged.cmvnPath);
    const b = await readCmvnFile(whole.cmvnPath);
    expect([...a.utt2spk]).toEqual([...b.utt2spk].sort());
    for (const spk of ['spk0', 'spk1', 'spk2']) expectClose(a.streams.get('mfcc')!.get(spk)!.sumSq, b.streams.get('mfcc')!.get(spk)!.sumSq, 1e-6, spk);
    expect(shardRange(7, { index: 0, count: 3 })).toEqual([0, 2]);
    expect(shardRange(7, { index: 2, count: 3 })).toEqual([4, 7]);
    expect(() => shardRange(7, { index: 3, count: 3 })).toThrow(ConfigError);
  });

  it('gives byte-identical outputs for the same config and seed, different ones for another seed', async () => {
    const fx = makeCorpus(4);
    const logger = quietLogger().logger;
    const run = async (outDir: string, seed: number) =>
      computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir, logger, readAudio: wavReader, fbank: { dither: 1, ditherSeed: seed } });
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
    const r = await computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: fx.outDir, logger, readAudio: wavReader });
    expect(r.utterances).toBe(4);
    expect(r.skipped.skipped).toBe(3);
    expect(r.skipped.reasons.map((x) => [x.reason, x.examples])).toEqual([
      ['missing audio file', ['rec4-u']], ['shorter than one frame', ['rec5-u']], ['unreadable audio', ['rec1-u']],
    ]);
    expect(r.metadata.counts.skipped).toBe(3);
    expect(text()).toMatch(/Done 4 utterances, skipped 3/);
    expect(text()).toMatch(/skipping rec1-u: .*rec1\.wav/);
  });

  it('stops on a recording whose sample rate differs from the corpus, leaving no output', async () => {
    const fx = makeCorpus(6, { badRate: true });
    const run = computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: fx.outDir, logger: quietLogger().logger, readAudio: wavReader });
    await expect(run).rejects.toThrow(FormatError);
    await expect(computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: fx.outDir, logger: quietLogger().logger, readAudio: wavReader }))
      .rejects.toThrow(/rec3\.wav, utterance 'rec3-u': recording sample rate differs from the corpus; expected 8000 Hz .*, found 16000 Hz/);
    expect(readdirSync(fx.outDir)).toEqual([]);
  });

  it('stops when audio decodes at another rate than the corpus, and when configured for another rate', async () => {
    const fx = makeCorpus(7);
    const upsampled: AudioReader = async (p, o) => ({ ...(await wavReader(p, o)), sampleRateHz: 16000 });
    await expect(computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: fx.outDir, logger: quietLogger().logger, readAudio: upsampled }))
      .rejects.toThrow(/audio sample rate differs from the corpus/);
    await expect(computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: fx.outDir, logger: quietLogger().logger, readAudio: wavReader, fbank: { sampleRateHz: 16000 } }))
      .rejects.toThrow(/sample rate differs/);
  });

  it('fails when nothing could be computed, and rejects bad options before reading audio', async () => {
    const fx = makeCorpus(8, { corrupt: ['rec0', 'rec1', 'rec2', 'rec3', 'rec4', 'rec5'] });
    await expect(computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: fx.outDir, logger: quietLogger().logger, readAudio: wavReader }))
      .rejects.toThrow(CorpusError);
    expect(readdirSync(fx.outDir)).toEqual([]);
    await expect(computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: fx.outDir, readAudio: wavReader, fbank: { numMelBin: 40 } as never }))
      .rejects.toThrow(/key 'fbank\.numMelBin': unknown feature option/);
    await expect(computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: fx.outDir, readAudio: wavReader, mfcc: { frameShiftMs: 20 } }))
      .rejects.toThrow(/same frames/);
  });

  it('can leave out the mfcc column', async () => {
    const fx = makeCorpus(9);
    const r = await computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: fx.outDir, logger: quietLogger().logger, readAudio: wavReader, mfcc: false, fbank: { numMelBins: 23 } });
    const utts = await readAll(r.featuresPath);
    expect(utts[0].mfcc).toBeUndefined();
    expect(utts[0].fbank.dim).toBe(23);
    expect(featurePaths(fx.outDir, 'train').cmvn).toBe(r.cmvnPath);
  });

  it('reads audio through the project audio module by default (same result as a plain WAV reader)', async () => {
    const fx = makeCorpus(10, { corrupt: ['rec4'] });
    const logger = quietLogger().logger;
    const viaModule = await computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: join(fx.outDir, 'm'), logger });
    const viaTest = await computeFeatures({ dataDir: fx.dataDir, split: 'train', outDir: join(fx.outDir, 't'), logger, readAudio: wavReader });
    expect(viaModule.skipped.reasons.map((x) => x.reason)).toEqual(['unreadable audio']);
    expect(await readAll(viaModule.featuresPath)).toEqual(await readAll(viaTest.featuresPath));
  });
});
