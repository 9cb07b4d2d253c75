import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { encodeWav, readAudioChannel } from '../../src/audio/index.ts';
import {
  prepareFsdd,
  assignSpeakers,
  heldOutTakes,
  joinTakes,
  speakerNoiseRms,
  DIGIT_WORDS,
  ISOLATED_TEST_SPLIT,
} from '../../corpora/fsdd/index.ts';
import { prepareCorpus } from '../../corpora/index.ts';
import { readCorpus } from '../../src/corpus/manifest.ts';
import { validateDataDir } from '../../src/corpus/validate.ts';
import { CORRUPT_AUDIO_REASON, EMPTY_AUDIO_REASON } from '../../src/corpus/skips.ts';
import { ConfigError, CorpusError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { burst, emptyWav, garbage, makeFsddDir } from './helpers/fixtures.ts';
import { expectClose, memoryLogger, put, tmp } from '../corpus/helpers.ts';

const quiet = memoryLogger();
let corpus = '';
beforeAll(() => {
  corpus = makeFsddDir(join(tmp(), 'fsdd'), ['alice', 'bob', 'carol', 'dave'], 2);
});

describe('fsdd speaker splits', () => {
  it('defaults to sorted speakers: last -> test, the one before -> dev, the rest -> train', () => {
    expect(assignSpeakers(['yweweler', 'george', 'nicolas', 'jackson'], null, {})).toEqual({
      train: ['george', 'jackson'],
      dev: ['nicolas'],
      test: ['yweweler'],
    });
    expect(assignSpeakers(['a', 'b', 'c'], ['x', 'y'], {})).toEqual({
      train: ['a', 'b'],
      dev: ['c'],
      test: ['x', 'y'],
    });
    expect(assignSpeakers(['a', 'b', 'c', 'd'], null, { testSpeakers: ['a'], devSpeakers: ['b'] })).toEqual({
      train: ['c', 'd'],
      dev: ['b'],
      test: ['a'],
    });
  });
  it('rejects unknown speakers and too few speakers with a ConfigError', () => {
    expect(() => assignSpeakers(['a', 'b', 'c'], null, { devSpeakers: ['zed'] })).toThrow(
      /devSpeakers names speaker 'zed'/,
    );
    expect(() => assignSpeakers(['a', 'b'], null, {})).toThrow(ConfigError);
  });
});

describe('fsdd isolated digits', () => {
  it('makes one utterance per take with the digit word, pointing at the upstream file', async () => {
    const p = await prepareFsdd(corpus, { outDir: join(tmp(), 'out'), mode: 'isolated', logger: quiet });
    expect(p.info.splits).toEqual(['train', 'dev', 'test']);
    expect(p.info.options).toMatchObject({
      trainSpeakers: ['alice', 'bob'],
      devSpeakers: ['carol'],
      testSpeakers: ['dave'],
      mode: 'isolated',
    });
    expect(p.info.counts.train.supervisions).toBe(40);
    expect(p.info.counts.test.speakers).toBe(1);
    const s = p.splits.dev.supervisions.find((x) => x.id === 'carol_7_1')!;
    expect(s.text).toBe('SEVEN');
    const r = p.splits.dev.recordings.find((x) => x.id === 'carol_7_1')!;
    expect(r.path).toBe(join(corpus, 'recordings', '7_carol_1.wav'));
    expect(r.sampleRateHz).toBe(8000);
    expect(s.alignment!.word).toEqual([{ symbol: 'SEVEN', startSec: 0, durationSec: r.durationSec }]);
  });

  it('keeps a seeded subset when numUtterancesPerSpeaker is smaller than the number of takes', async () => {
    const a = await prepareFsdd(corpus, {
      outDir: tmp(),
      mode: 'isolated',
      numUtterancesPerSpeaker: 5,
      seed: 3,
      logger: quiet,
    });
    const b = await prepareFsdd(corpus, {
      outDir: tmp(),
      mode: 'isolated',
      numUtterancesPerSpeaker: 5,
      seed: 3,
      logger: quiet,
    });
    const c = await prepareFsdd(corpus, {
      outDir: tmp(),
      mode: 'isolated',
      numUtterancesPerSpeaker: 5,
      seed: 4,
      logger: quiet,
    });
    expect(a.info.counts.train.supervisions).toBe(10);
    expect(a.splits.train.supervisions.map((s) => s.id)).toEqual(b.splits.train.supervisions.map((s) => s.id));
    expect(a.splits.train.supervisions.map((s) => s.id)).not.toEqual(c.splits.train.supervisions.map((s) => s.id));
  });
});

describe('fsdd dev from held-out takes of the training speakers (devTakeFraction)', () => {
  it('assigns 3 train / 1 test speakers and no dev speaker', () => {
    expect(assignSpeakers(['yweweler', 'george', 'nicolas', 'jackson'], null, { devTakeFraction: 0.1 })).toEqual({
      train: ['george', 'jackson', 'nicolas'],
      dev: [],
      test: ['yweweler'],
    });
    expect(() => assignSpeakers(['a', 'b', 'c'], null, { devTakeFraction: 0.1, devSpeakers: ['b'] })).toThrow(
      /devSpeakers and devTakeFraction exclude each other/,
    );
    expect(() => assignSpeakers(['a', 'b', 'c'], null, { trainSpeakers: ['a', 'c'], testSpeakers: ['c'] })).toThrow(
      /training speakers also in dev or test; .*found c/,
    );
  });

  it("holds out the highest take indices of every digit, never a digit's only take", () => {
    const takes = [
      ...Array.from({ length: 10 }, (_, i) => ({ digit: 3, index: i })),
      { digit: 4, index: 0 },
      { digit: 5, index: 2 },
      { digit: 5, index: 7 },
    ];
    expect(heldOutTakes(takes, 0.2)).toEqual([
      { digit: 3, index: 8 },
      { digit: 3, index: 9 },
      { digit: 5, index: 7 },
    ]);
  });

  it('builds dev from takes that no training utterance uses; test stays a held-out speaker', async () => {
    const out = join(tmp(), 'data-heldout');
    const p = await prepareFsdd(corpus, {
      outDir: out,
      numUtterancesPerSpeaker: 10,
      devTakeFraction: 0.2,
      seed: 7,
      logger: quiet,
    });
    expect(p.info.counts).toMatchObject({
      train: { supervisions: 30, speakers: 3 },
      dev: { supervisions: 6, speakers: 3 },
      test: { supervisions: 10, speakers: 1 },
    });
    const sources = (split: string) =>
      new Set(p.splits[split].supervisions.flatMap((s) => s.custom!.sources as string[]));
    const train = sources('train');
    for (const f of sources('dev')) expect(train.has(f)).toBe(false);
    expect(p.splits.dev.supervisions.every((s) => /_d\d{4}_/.test(s.id))).toBe(true);
    const testSpeakers = new Set(p.splits.test.supervisions.map((s) => s.speaker));
    expect(p.splits.train.supervisions.some((s) => testSpeakers.has(s.speaker))).toBe(false);
    expect(p.info.options).toMatchObject({ devTakeFraction: 0.2, devSpeakers: [] });
    await expect(
      prepareFsdd(corpus, { outDir: join(tmp(), 'bad'), devTakeFraction: 0.9, logger: quiet }),
    ).rejects.toThrow(/devTakeFraction.*expected a number in \(0, 0\.5\]/);
  });
});

describe('fsdd connected digits', () => {
  it("joins one speaker's takes with noise pauses; word timings locate each take in the output", async () => {
    const out = join(tmp(), 'data');
    const p = await prepareFsdd(corpus, { outDir: out, numUtterancesPerSpeaker: 6, seed: 7, logger: quiet });
    expect(p.info.counts).toMatchObject({
      train: { supervisions: 12, speakers: 2 },
      dev: { supervisions: 6 },
      test: { supervisions: 6 },
    });
    for (const split of p.info.splits) {
      for (const s of p.splits[split].supervisions) {
        const words = s.text.split(' ');
        expect(words.length).toBeGreaterThanOrEqual(2);
        expect(words.length).toBeLessThanOrEqual(7);
        const digits = s.id.split('_')[2];
        expect(words).toEqual([...digits].map((d) => DIGIT_WORDS[Number(d)]));
        const srcs = s.custom!.sources as string[];
        expect(srcs.every((f) => f.startsWith('recordings/') && f.includes(`_${s.speaker}_`))).toBe(true);
        expect(srcs.map((f) => Number(f.split('/')[1][0]))).toEqual([...digits].map(Number));
      }
    }
    // Check one utterance sample by sample.
    const s = p.splits.train.supervisions[0];
    const r = p.splits.train.recordings.find((x) => x.id === s.recordingId)!;
    expect(r.path).toBe(join(out, 'wav', `${s.id}.wav`));
    const audio = await readAudioChannel(r.path);
    expect(audio.sampleRateHz).toBe(8000);
    expect(audio.samples.length).toBe(r.numSamples);
    const noise = s.custom!.noiseRms as number;
    const words = s.alignment!.word!;
    const srcs = s.custom!.sources as string[];
    for (let k = 0; k < words.length; k++) {
      const take = (await readAudioChannel(join(corpus, srcs[k]))).samples;
      const start = Math.round(words[k].startSec * 8000);
      expect(Math.round(words[k].durationSec * 8000)).toBe(take.length);
      // away from the 5 ms fades the output is the take plus the noise bed
      let err = 0;
      const from = 40,
        to = take.length - 40;
      for (let i = from; i < to; i++) err += (audio.samples[start + i] - take[i]) ** 2;
      expectClose(Math.sqrt(err / (to - from)), noise, noise * 0.5 + 1e-4);
      if (k > 0) {
        const gapMs = (words[k].startSec - (words[k - 1].startSec + words[k - 1].durationSec)) * 1000;
        expect(gapMs).toBeGreaterThanOrEqual(50 - 0.2);
        expect(gapMs).toBeLessThanOrEqual(300 + 0.2);
      }
    }
    // The pauses are low-level noise, not digital silence.
    const lead = audio.samples.subarray(0, Math.round(words[0].startSec * 8000));
    expect(lead.length).toBeGreaterThanOrEqual(800 - 1);
    let zeros = 0,
      e = 0;
    for (const v of lead) {
      if (v === 0) zeros++;
      e += v * v;
    }
    expect(zeros).toBeLessThan(lead.length * 0.2);
    expectClose(Math.sqrt(e / lead.length), noise, noise * 0.3 + 1e-4);
  });

  it('gives byte-identical output for the same seed and different output for another seed', async () => {
    const d1 = join(tmp(), 'a'),
      d2 = join(tmp(), 'b'),
      d3 = join(tmp(), 'c');
    await prepareCorpus('fsdd', corpus, { outDir: d1, numUtterancesPerSpeaker: 3, seed: 11, logger: quiet });
    await prepareCorpus('fsdd', corpus, { outDir: d2, numUtterancesPerSpeaker: 3, seed: 11, logger: quiet });
    await prepareCorpus('fsdd', corpus, { outDir: d3, numUtterancesPerSpeaker: 3, seed: 12, logger: quiet });
    const wavs = readdirSync(join(d1, 'wav')).sort();
    expect(wavs.length).toBe(12);
    expect(readdirSync(join(d2, 'wav')).sort()).toEqual(wavs);
    for (const f of wavs) expect(readFileSync(join(d1, 'wav', f))).toEqual(readFileSync(join(d2, 'wav', f)));
    for (const f of ['corpus.json', 'train/recordings.jsonl', 'train/supervisions.jsonl', 'test/supervisions.jsonl']) {
      expect(readFileSync(join(d1, f))).toEqual(readFileSync(join(d2, f)));
    }
    expect(readFileSync(join(d1, 'train/supervisions.jsonl'), 'utf8')).not.toBe(
      readFileSync(join(d3, 'train/supervisions.jsonl'), 'utf8'),
    );
    // The written data dir is self-contained (relative wav paths) and valid.
    expect(readFileSync(join(d1, 'train/recordings.jsonl'), 'utf8')).toContain('"path":"../wav/alice_c0000_');
    expect((await validateDataDir(d1)).sampleRateHz).toBe(8000);
    const back = await readCorpus(d1);
    expect(back.splits.train.recordings[0].path).toBe(join(d1, 'wav', `${back.splits.train.recordings[0].id}.wav`));
  });

  it('takes test speakers from evalDir and refuses a speaker present in both', async () => {
    const evalDir = makeFsddDir(join(tmp(), 'eval'), ['zoe'], 1, { seed: 9 });
    const p = await prepareFsdd(corpus, { outDir: tmp(), evalDir, numUtterancesPerSpeaker: 2, logger: quiet });
    expect(p.info.options).toMatchObject({
      trainSpeakers: ['alice', 'bob', 'carol'],
      devSpeakers: ['dave'],
      testSpeakers: ['zoe'],
    });
    expect(p.splits.test.supervisions.every((s) => s.speaker === 'zoe')).toBe(true);
    const clash = makeFsddDir(join(tmp(), 'eval2'), ['alice'], 1);
    await expect(prepareFsdd(corpus, { outDir: tmp(), evalDir: clash, logger: quiet })).rejects.toThrow(
      /'alice' appear in both dir and evalDir/,
    );
  });

  it('joinTakes places takes after the given gaps on a noise bed; the noise estimate uses take edges', () => {
    const rng = new Rng(1);
    const a = new Float32Array(100).fill(0.5),
      b = new Float32Array(60).fill(-0.25);
    const { samples, starts } = joinTakes([a, b], [0.01, 0.02, 0.005], 1000, 0, rng);
    expect(starts).toEqual([10, 130]);
    expect(samples.length).toBe(10 + 100 + 20 + 60 + 5);
    expect(samples[60]).toBe(0.5);
    expect(samples[160]).toBe(-0.25);
    expect(samples[5]).toBe(0);
    const x = burst(new Rng(2), 0.3, 8000, 0.003);
    expectClose(speakerNoiseRms([x, x, x], 8000), 0.003, 0.0015);
  });
});

describe('fsdd isolated-digit test split (isolatedTest)', () => {
  const sourcesOf = (m: { supervisions: { custom?: Record<string, unknown> }[] }) =>
    new Set(m.supervisions.flatMap((s) => s.custom!.sources as string[]));

  it("adds 'test-isolated': every take of the test speakers, one digit each, no recording of train or dev", async () => {
    const out = join(tmp(), 'data-iso');
    const p = await prepareCorpus('fsdd', corpus, {
      outDir: out,
      numUtterancesPerSpeaker: 10,
      devTakeFraction: 0.2,
      isolatedTest: true,
      seed: 7,
      logger: quiet,
    });
    expect(ISOLATED_TEST_SPLIT).toBe('test-isolated');
    expect(p.info.splits).toEqual(['train', 'dev', 'test', 'test-isolated']);
    expect(p.info.options).toMatchObject({
      testSpeakers: ['dave'],
      isolatedTest: true,
      isolatedTestSplit: 'test-isolated',
    });
    const iso = p.splits['test-isolated'];
    // dave has 2 takes of each digit: all 20, each its own utterance pointing at the upstream file.
    expect(iso.supervisions.map((s) => s.id)).toEqual(Array.from({ length: 20 }, (_, k) => `dave_${k >> 1}_${k & 1}`));
    for (const s of iso.supervisions) {
      const [, digit, index] = s.id.split('_');
      expect(s.speaker).toBe('dave');
      expect(s.text).toBe(DIGIT_WORDS[Number(digit)]);
      expect(s.text.split(' ')).toHaveLength(1);
      expect(s.custom!.sources).toEqual([`recordings/${digit}_dave_${index}.wav`]);
    }
    expect(iso.recordings.map((r) => r.path)).toEqual(
      iso.supervisions.map((s) => join(corpus, 'recordings', (s.custom!.sources as string[])[0].split('/')[1])),
    );
    // The same takes as the connected test split, none of the takes train or dev are made of.
    const isoSources = sourcesOf(iso);
    expect(isoSources).toEqual(new Set([...sourcesOf(p.splits.test)]));
    for (const split of ['train', 'dev'])
      for (const f of sourcesOf(p.splits[split])) expect(isoSources.has(f)).toBe(false);
    expect(p.info.counts['test-isolated']).toMatchObject({ supervisions: 20, speakers: 1 });
    expect((await validateDataDir(out)).counts['test-isolated'].supervisions).toBe(20);
    // The connected splits do not change when the isolated split is added.
    const without = await prepareFsdd(corpus, {
      outDir: join(tmp(), 'data-no-iso'),
      numUtterancesPerSpeaker: 10,
      devTakeFraction: 0.2,
      seed: 7,
      logger: quiet,
    });
    for (const split of ['train', 'dev', 'test'])
      expect(p.splits[split].supervisions).toEqual(without.splits[split].supervisions);
  });

  it('works with dev speakers (disjoint speakers elsewhere) and with evalDir test speakers', async () => {
    const p = await prepareFsdd(corpus, {
      outDir: tmp(),
      numUtterancesPerSpeaker: 2,
      isolatedTest: true,
      logger: quiet,
    });
    expect(p.info.options).toMatchObject({ devSpeakers: ['carol'], testSpeakers: ['dave'] });
    expect(p.info.counts['test-isolated'].supervisions).toBe(20);
    const evalDir = makeFsddDir(join(tmp(), 'eval-iso'), ['yan', 'zoe'], 1, { seed: 5 });
    const e = await prepareFsdd(corpus, {
      outDir: tmp(),
      evalDir,
      numUtterancesPerSpeaker: 2,
      isolatedTest: true,
      logger: quiet,
    });
    expect(e.info.counts['test-isolated']).toMatchObject({ supervisions: 20, speakers: 2 });
    expect(new Set(e.splits['test-isolated'].recordings.map((r) => r.path.startsWith(evalDir)))).toEqual(
      new Set([true]),
    );
  });

  it('is refused in isolated mode and for a non-boolean value', async () => {
    await expect(
      prepareFsdd(corpus, { outDir: tmp(), mode: 'isolated', isolatedTest: true, logger: quiet }),
    ).rejects.toThrow(/'isolatedTest' is for connected mode/);
    await expect(
      prepareFsdd(corpus, { outDir: tmp(), isolatedTest: 'yes' as unknown as boolean, logger: quiet }),
    ).rejects.toThrow(ConfigError);
  });
});

describe('fsdd bad input', () => {
  it('counts empty and corrupt takes and badly named files as skips, in both modes', async () => {
    const dir = makeFsddDir(join(tmp(), 'bad'), ['a1', 'b1', 'c1'], 1);
    put(join(dir, 'recordings', '3_a1_9.wav'), emptyWav());
    put(join(dir, 'recordings', '4_a1_9.wav'), garbage(new Rng(3)));
    put(join(dir, 'recordings', 'readme_copy.wav'), encodeWav(new Float32Array(10), 8000));
    const iso = await prepareFsdd(dir, { outDir: tmp(), mode: 'isolated', logger: quiet });
    expect(iso.info.skipped.reasons.map((r) => [r.reason, r.examples])).toEqual([
      [EMPTY_AUDIO_REASON, ['a1_3_9']],
      ['file name not {digit}_{speaker}_{index}.wav', ['readme_copy.wav']],
      [CORRUPT_AUDIO_REASON, ['a1_4_9']],
    ]);
    expect(iso.info.counts.train.supervisions).toBe(10);
    const conn = await prepareFsdd(dir, { outDir: tmp(), numUtterancesPerSpeaker: 4, logger: quiet });
    expect(conn.info.skipped.skipped).toBe(3);
    for (const s of conn.splits.train.supervisions) expect(s.custom!.sources).not.toContain('recordings/3_a1_9.wav');
  });

  it('refuses mixed sample rates naming both, unless resampleToHz is set', async () => {
    const dir = makeFsddDir(join(tmp(), 'mixed'), ['a1', 'b1'], 1);
    makeFsddDir(dir, ['c1'], 1, { rateHz: 16000 });
    const err = await prepareFsdd(dir, { outDir: tmp(), mode: 'isolated', logger: quiet }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorpusError);
    expect((err as Error).message).toMatch(
      /mixed sample rates.*8000 Hz everywhere \(e\.g\. .*_a1_0\.wav\).*16000 Hz in .*_c1_0\.wav/,
    );
    const out = tmp();
    const p = await prepareFsdd(dir, { outDir: out, mode: 'isolated', resampleToHz: 8000, logger: quiet });
    expect(p.info.sampleRateHz).toBe(8000);
    const r = p.splits.test.recordings[0];
    expect(r.path).toBe(join(out, 'wav', `${r.id}.wav`));
    expect((await readAudioChannel(r.path)).sampleRateHz).toBe(8000);
  });

  it('rejects unknown options and bad values with a ConfigError naming the key', async () => {
    await expect(prepareFsdd(corpus, { outDir: tmp(), numUtterances: 3 } as never)).rejects.toThrow(
      /unknown fsdd option 'numUtterances'/,
    );
    await expect(prepareFsdd(corpus, { outDir: tmp(), maxDigits: 1 })).rejects.toThrow(/key 'maxDigits'/);
    await expect(prepareFsdd(corpus, { outDir: tmp(), mode: 'spelled' as never })).rejects.toThrow(ConfigError);
  });
});
