import { describe, it, expect } from 'vitest';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  audioInfo,
  decodeAudio,
  encodeSphere,
  encodeWav,
  readAudio,
  readAudioChannel,
  resample,
  writeWav,
} from '../../src/audio/index.ts';
import { AudioFormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { GOLDEN, expectClose, expectSameSamples, randomInt16Floats, tempDir } from './helpers.ts';

async function expectAudioError(p: Promise<unknown>, re: RegExp, file: string): Promise<AudioFormatError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AudioFormatError);
  expect((e as Error).message).toMatch(re);
  expect((e as Error).message).toContain(file);
  return e as AudioFormatError;
}

const rng = new Rng(2024);
const left = randomInt16Floats(rng, 16000);
const right = randomInt16Floats(rng, 16000);

describe('audioInfo / readAudio: format sniffed from magic bytes, not the file name', () => {
  const dir = tempDir();
  const wavAsFlac = join(dir, 'really-a-wav.flac');
  const timit = join(dir, 'SA1.WAV');
  const flac = join(dir, 'x.wav');
  writeFileSync(wavAsFlac, encodeWav([left, right], 16000, { bitsPerSample: 24 }));
  writeFileSync(timit, encodeSphere(left, 16000, { fields: { database_id: 'TIMIT' } }));
  copyFileSync(join(GOLDEN, 'fixtures', 'mono16k16bit.flac'), flac);

  it('reports WAV, SPHERE and FLAC headers', async () => {
    expect(await audioInfo(wavAsFlac)).toEqual({
      path: wavAsFlac,
      format: 'wav',
      sampleRateHz: 16000,
      numChannels: 2,
      numSamples: 16000,
      durationSec: 1,
      bitsPerSample: 24,
      sampleType: 'int',
    });
    expect(await audioInfo(timit)).toMatchObject({
      format: 'sphere',
      sampleRateHz: 16000,
      numChannels: 1,
      numSamples: 16000,
      bitsPerSample: 16,
    });
    expect(await audioInfo(flac)).toMatchObject({ format: 'flac', sampleRateHz: 16000, numSamples: 4800 });
  });

  it('decodes every channel', async () => {
    const w = await readAudio(wavAsFlac);
    expectSameSamples(w.channels[0], left);
    expectSameSamples(w.channels[1], right);
    const s = await readAudio(timit);
    expect(s.format).toBe('sphere');
    expectSameSamples(s.channels[0], left);
    expect((await readAudio(flac)).numSamples).toBe(4800);
  });

  it('decodeAudio sniffs in-memory bytes the same way', async () => {
    expect((await decodeAudio(readFileSync(timit), 'mem')).format).toBe('sphere');
    expect((await decodeAudio(readFileSync(flac), 'mem')).format).toBe('flac');
  });
});

describe('readAudioChannel: channel, segment, resampling', () => {
  const dir = tempDir();
  const wav = join(dir, 'stereo.wav');
  const sph = join(dir, 'stereo.sph');
  const u8 = join(dir, 'u8.wav');
  writeFileSync(wav, encodeWav([left, right], 16000));
  writeFileSync(sph, encodeSphere([left, right], 16000, { byteOrder: 'big' }));
  const l8 = Float32Array.from(left, (v) => Math.min(127, Math.round(v * 128)) / 128);
  writeFileSync(u8, encodeWav(l8, 8000, { bitsPerSample: 8 }));

  it('reads channel 0 by default and any channel on request (WAV and SPHERE)', async () => {
    for (const f of [wav, sph]) {
      const a = await readAudioChannel(f);
      expect(a.sampleRateHz).toBe(16000);
      expectSameSamples(a.samples, left, `${f} channel 0`);
      expectSameSamples((await readAudioChannel(f, { channel: 1 })).samples, right, `${f} channel 1`);
    }
  });

  it('reads a segment, rounding start and duration to the nearest sample', async () => {
    for (const f of [wav, sph]) {
      const s = await readAudioChannel(f, { channel: 1, startSec: 0.25, durationSec: 0.1 });
      expectSameSamples(s.samples, right.subarray(4000, 5600), `${f} segment`);
      const r = await readAudioChannel(f, { startSec: 0.10003, durationSec: 0.00004 });
      expectSameSamples(r.samples, left.subarray(1600, 1601), `${f} rounded`);
      const tail = await readAudioChannel(f, { startSec: 0.9 });
      expectSameSamples(tail.samples, left.subarray(14400), `${f} to end`);
    }
    const s8 = await readAudioChannel(u8, { startSec: 0.5, durationSec: 0.25 });
    expectSameSamples(s8.samples, l8.subarray(4000, 6000), '8-bit segment');
  });

  it('cuts a segment that overshoots the end by at most toleranceSec (default 25 ms)', async () => {
    const s = await readAudioChannel(wav, { startSec: 0.9, durationSec: 0.12 });
    expectSameSamples(s.samples, left.subarray(14400), 'cut at end');
    await expectAudioError(
      readAudioChannel(wav, { startSec: 0.9, durationSec: 0.2 }),
      /segment ends after the end of the audio/,
      wav,
    );
    await expectAudioError(
      readAudioChannel(wav, { startSec: 0.9, durationSec: 0.12, toleranceSec: 0 }),
      /segment ends after/,
      wav,
    );
  });

  it('rejects a bad segment and a channel out of range, naming the file', async () => {
    await expectAudioError(readAudioChannel(wav, { startSec: 1 }), /segment starts after the end/, wav);
    await expectAudioError(readAudioChannel(wav, { startSec: -0.5 }), /bad segment start/, wav);
    await expectAudioError(readAudioChannel(wav, { durationSec: 0 }), /bad segment duration/, wav);
    const e = await expectAudioError(readAudioChannel(wav, { channel: 2 }), /channel out of range/, wav);
    expect([e.expected, e.found]).toEqual(['channel 0..1', '2']);
    await expectAudioError(readAudioChannel(sph, { channel: -1 }), /channel out of range/, sph);
    await expectAudioError(
      readAudioChannel(join(GOLDEN, 'fixtures', 'mono16k16bit.flac'), { channel: 1 }),
      /channel 0..0, found 1/,
      'mono16k16bit.flac',
    );
  });

  it('resamples the segment to targetRateHz', async () => {
    const s = await readAudioChannel(wav, { channel: 1, startSec: 0.5, targetRateHz: 8000 });
    expect(s.sampleRateHz).toBe(8000);
    expectClose(s.samples, resample(right.subarray(8000), 16000, 8000), 0, 'resampled segment');
    const same = await readAudioChannel(wav, { targetRateHz: 16000 });
    expectSameSamples(same.samples, left);
  });
});

describe('bad files are AudioFormatErrors naming the path', () => {
  const dir = tempDir();

  it('missing file', async () => {
    const p = join(dir, 'nope', 'missing.wav');
    const e = await expectAudioError(audioInfo(p), /audio file not found/, p);
    expect(e.found).toBe('ENOENT');
    await expectAudioError(readAudio(p), /audio file not found/, p);
    await expectAudioError(readAudioChannel(p), /audio file not found/, p);
  });

  it('a directory', async () => {
    await expectAudioError(audioInfo(dir), /not a regular file/, dir);
    await expectAudioError(readAudio(dir), /not a regular file/, dir);
  });

  it("a 0-byte file is 'empty audio'; a text file is an unknown format", async () => {
    const empty = join(dir, 'empty.wav');
    writeFileSync(empty, '');
    await expectAudioError(audioInfo(empty), /empty audio/, empty);
    await expectAudioError(readAudio(empty), /empty audio/, empty);
    const text = join(dir, 'text.wav');
    writeFileSync(text, 'utt1 hello world\n');
    await expectAudioError(audioInfo(text), /unknown audio format/, text);
    const ogg = join(dir, 'a.ogg');
    writeFileSync(ogg, 'OggS\0\x02\0\0\0\0');
    await expectAudioError(readAudio(ogg), /Ogg is not supported/, ogg);
  });

  it('a WAV truncated on disk fails in audioInfo (header check) and in every reader', async () => {
    const p = join(dir, 'trunc.wav');
    const full = encodeWav(left, 16000);
    writeFileSync(p, full.subarray(0, 1000));
    for (const op of [
      () => audioInfo(p),
      () => readAudio(p),
      () => readAudioChannel(p, { startSec: 0.01, durationSec: 0.001 }),
    ]) {
      await expectAudioError(op(), /truncated WAV/, p);
    }
  });

  it('a streamed WAV on disk (data size 0xFFFFFFFF) is read to the end of the file', async () => {
    const p = join(dir, 'streamed.wav');
    const b = encodeWav(left.subarray(0, 1000), 16000);
    new DataView(b.buffer).setUint32(40, 0xffffffff, true);
    writeFileSync(p, b);
    expect((await audioInfo(p)).numSamples).toBe(1000);
    expectSameSamples((await readAudioChannel(p, { startSec: 0.05 })).samples, left.subarray(800, 1000));
  });
});

describe('writeWav', () => {
  it('writes atomically: the file appears complete and no temporary file is left', async () => {
    const dir = tempDir();
    const p = join(dir, 'sub', 'out.wav');
    await writeWav(p, [left, right], 16000, { extensible: true });
    expect(readdirSync(join(dir, 'sub'))).toEqual(['out.wav']);
    const d = await readAudio(p);
    expectSameSamples(d.channels[1], right);
    await writeWav(p, left, 8000); // replace
    expect((await audioInfo(p)).sampleRateHz).toBe(8000);
    expect(readdirSync(join(dir, 'sub'))).toEqual(['out.wav']);
  });

  it('writes nothing when encoding fails', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'd'));
    const p = join(dir, 'd', 'bad.wav');
    await expectAudioError(writeWav(p, new Float32Array([0, NaN]), 16000), /NaN sample/, p);
    expect(existsSync(p)).toBe(false);
    expect(readdirSync(join(dir, 'd'))).toEqual([]);
  });
});
