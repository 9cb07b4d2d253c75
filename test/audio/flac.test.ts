import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFlac } from '../../src/audio/flac.ts';
import { audioInfo, readAudio, readAudioChannel, writeWav } from '../../src/audio/index.ts';
import { AudioFormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { GOLDEN, expectSameSamples, randomInt16Floats, tempDir } from './helpers.ts';

const MONO = join(GOLDEN, 'fixtures', 'mono16k16bit.flac');
const STEREO = join(GOLDEN, 'fixtures', 'stereo8k24bit.flac');

/** The integer signal of the committed fixtures; must match sample() in test/golden/audio/gen_flac_fixtures.py. */
function fixtureSample(n: number, ch: number, bits: 16 | 24): number {
  const k = bits === 16 ? 300 : 300 * 256;
  return (((n * (7 + 3 * ch)) % 200) - 100) * k + (((n * n) % 17) - 8) * (bits === 16 ? 1 : 256);
}

function expected(numSamples: number, ch: number, bits: 16 | 24): Float32Array {
  return Float32Array.from({ length: numSamples }, (_, n) => fixtureSample(n, ch, bits) / 2 ** (bits - 1));
}

async function expectAudioError(p: Promise<unknown>, re: RegExp, file: string): Promise<void> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AudioFormatError);
  expect((e as Error).message).toMatch(re);
  expect((e as Error).message).toContain(file);
}

function hasFlacTool(): boolean {
  try {
    execFileSync('flac', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('FLAC reader (committed fixtures, see test/golden/audio/HOW-GENERATED.md)', () => {
  it('reads the STREAMINFO header without decoding', async () => {
    expect(await audioInfo(MONO)).toEqual({
      path: MONO,
      format: 'flac',
      sampleRateHz: 16000,
      numChannels: 1,
      numSamples: 4800,
      durationSec: 0.3,
      bitsPerSample: 16,
      sampleType: 'int',
    });
    const s = await audioInfo(STEREO);
    expect([s.sampleRateHz, s.numChannels, s.numSamples, s.bitsPerSample]).toEqual([8000, 2, 2000, 24]);
  });

  it('decodes 16-bit samples to exactly int16 / 32768 (same floats as WAV)', async () => {
    const d = await readAudio(MONO);
    expect(d.format).toBe('flac');
    expectSameSamples(d.channels[0], expected(4800, 0, 16));
  });

  it('decodes 24-bit stereo to exactly int24 / 2^23 and selects a channel', async () => {
    const d = await readAudio(STEREO);
    expectSameSamples(d.channels[0], expected(2000, 0, 24), 'channel 0');
    expectSameSamples(d.channels[1], expected(2000, 1, 24), 'channel 1');
    const seg = await readAudioChannel(STEREO, { channel: 1, startSec: 0.1, durationSec: 0.05 });
    expect(seg.sampleRateHz).toBe(8000);
    expectSameSamples(seg.samples, expected(2000, 1, 24).subarray(800, 1200));
  });

  it('decodes concurrent requests independently (one shared wasm decoder)', async () => {
    const [a, b, c] = await Promise.all([readAudio(STEREO), readAudio(MONO), readAudio(STEREO)]);
    expectSameSamples(a.channels[1], expected(2000, 1, 24));
    expectSameSamples(b.channels[0], expected(4800, 0, 16));
    expectSameSamples(c.channels[0], expected(2000, 0, 24));
  });

  it('skips an ID3v2 tag in front of the fLaC marker', async () => {
    const flac = new Uint8Array(readFileSync(MONO));
    const tag = Uint8Array.from([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5]);
    const d = await decodeFlac(Uint8Array.from([...tag, ...flac]), 'id3.flac');
    expectSameSamples(d.channels[0], expected(4800, 0, 16));
  });
});

describe('bad FLAC input is an AudioFormatError naming the file', () => {
  const flac = new Uint8Array(readFileSync(MONO));

  it('truncated in the audio frames', async () => {
    await expectAudioError(
      decodeFlac(flac.subarray(0, flac.length - 1000), 'cut.flac'),
      /truncated or corrupt FLAC file: decoded fewer samples than STREAMINFO/,
      'cut.flac',
    );
    await expectAudioError(decodeFlac(flac.subarray(0, 42), 'hdr.flac'), /truncated or corrupt FLAC/, 'hdr.flac');
  });

  it('truncated in the header', async () => {
    await expectAudioError(decodeFlac(flac.subarray(0, 20), 'short.flac'), /no complete STREAMINFO/, 'short.flac');
  });

  it('corrupt frame data', async () => {
    const bad = flac.slice();
    for (let i = 300; i < bad.length; i++) bad[i] = (i * 7919) & 0xff;
    await expectAudioError(decodeFlac(bad, 'bad.flac'), /corrupt FLAC/, 'bad.flac');
  });

  it('corrupt STREAMINFO: wrong first block type, sample rate 0', async () => {
    const wrongType = flac.slice();
    wrongType[4] = (wrongType[4] & 0x80) | 4;
    await expectAudioError(decodeFlac(wrongType, 'type.flac'), /first metadata block is not STREAMINFO/, 'type.flac');
    const rate0 = flac.slice();
    rate0[18] = 0;
    rate0[19] = 0;
    rate0[20] &= 0x0f;
    await expectAudioError(decodeFlac(rate0, 'rate.flac'), /sample rate 0/, 'rate.flac');
  });

  it('not FLAC at all', async () => {
    await expectAudioError(decodeFlac(new Uint8Array(64), 'zero.flac'), /not a FLAC file/, 'zero.flac');
  });
});

const flacTool = hasFlacTool();
if (!flacTool)
  console.warn('SKIPPED FLAC round trip through the flac tool: `flac` not installed (apt-get install flac)');

describe.skipIf(!flacTool)('FLAC written by the flac tool with default settings (needs `flac`)', () => {
  it('decodes what flac encoded from our WAV, sample for sample, as LibriSpeech-style files', async () => {
    const dir = tempDir();
    const rng = new Rng(77);
    const x = randomInt16Floats(rng, 20000);
    for (let i = 1; i < x.length; i++) x[i] = Math.round((0.9 * x[i - 1] + 0.1 * x[i]) * 32768) / 32768; // speech-like low-pass
    const wav = join(dir, 'in.wav');
    await writeWav(wav, x, 16000);
    const out = join(dir, '1089-134686-0000.flac');
    execFileSync('flac', ['--silent', '--force', '-o', out, wav]);
    const d = await readAudio(out);
    expect([d.sampleRateHz, d.numSamples, d.bitsPerSample]).toEqual([16000, 20000, 16]);
    expectSameSamples(d.channels[0], x);
  });
});
