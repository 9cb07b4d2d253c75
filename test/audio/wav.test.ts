import { describe, it, expect } from 'vitest';
import { decodeWav, encodeWav, parseWavLayout } from '../../src/audio/wav.ts';
import { AudioFormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { expectSameSamples, fmtBody, int16Bytes, randomInt16Floats, riff } from './helpers.ts';

const KSDATAFORMAT_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

/** Expect `fn` to throw an AudioFormatError whose message names `file` and matches `re`. */
function expectAudioError(fn: () => unknown, re: RegExp, file = 'x.wav'): AudioFormatError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AudioFormatError);
    expect((e as Error).message).toMatch(re);
    expect((e as Error).message).toContain(file);
    return e as AudioFormatError;
  }
  return expect.fail(`expected an AudioFormatError matching ${re}`);
}

function dataView(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Offset of the data chunk body in an encoded file. */
function dataOffset(b: Uint8Array): number {
  return parseWavLayout((o, n) => b.subarray(o, o + n), b.length).dataOffset;
}

describe('encodeWav / decodeWav: 16-bit PCM', () => {
  it('round-trips every int16 value bit-exactly (int16 -> float -> int16 and back)', () => {
    const all = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) all[i] = (i - 32768) / 32768;
    const bytes = encodeWav(all, 16000);
    const v = dataView(bytes);
    const off = dataOffset(bytes);
    for (let i = 0; i < 65536; i++) {
      if (v.getInt16(off + 2 * i, true) !== i - 32768)
        expect.fail(`int16 ${i - 32768} encoded as ${v.getInt16(off + 2 * i, true)}`);
    }
    const back = decodeWav(bytes, 'all.wav');
    expectSameSamples(back.channels[0], all, 'decoded floats');
    expect(encodeWav(back.channels, 16000)).toEqual(bytes);
  });

  it('writes the canonical 44-byte header', () => {
    const b = encodeWav(new Float32Array([0, 0.5, -0.5]), 8000);
    const v = dataView(b);
    const str = (p: number) => String.fromCharCode(...b.subarray(p, p + 4));
    expect(b.length).toBe(44 + 6);
    expect([str(0), str(8), str(12), str(36)]).toEqual(['RIFF', 'WAVE', 'fmt ', 'data']);
    expect(v.getUint32(4, true)).toBe(b.length - 8);
    expect(v.getUint32(16, true)).toBe(16);
    expect(v.getUint16(20, true)).toBe(1); // PCM
    expect(v.getUint16(22, true)).toBe(1); // channels
    expect(v.getUint32(24, true)).toBe(8000);
    expect(v.getUint32(28, true)).toBe(16000); // byte rate
    expect(v.getUint16(32, true)).toBe(2); // block align
    expect(v.getUint16(34, true)).toBe(16);
    expect(v.getUint32(40, true)).toBe(6);
    expect([v.getInt16(44, true), v.getInt16(46, true), v.getInt16(48, true)]).toEqual([0, 16384, -16384]);
  });

  it('rounds to nearest (halves away from zero) instead of truncating', () => {
    const q = 1 / 32768;
    const x = new Float32Array([
      0.49 * q,
      0.51 * q,
      -0.49 * q,
      -0.51 * q,
      0.99 * q,
      1.5 * q,
      -1.5 * q,
      100.7 * q,
      -100.7 * q,
    ]);
    const b = encodeWav(x, 16000);
    const off = dataOffset(b);
    const got = Array.from({ length: x.length }, (_, i) => dataView(b).getInt16(off + 2 * i, true));
    expect(got).toEqual([0, 1, 0, -1, 1, 2, -2, 101, -101]);
  });

  it('clips values outside [-1, 1) to the int16 range', () => {
    const b = encodeWav(new Float32Array([1, -1, 2, -2, Infinity, -Infinity, 32767.4 / 32768, 32767.6 / 32768]), 16000);
    const off = dataOffset(b);
    const got = Array.from({ length: 8 }, (_, i) => dataView(b).getInt16(off + 2 * i, true));
    expect(got).toEqual([32767, -32768, 32767, -32768, 32767, -32768, 32767, 32767]);
  });

  it('rejects NaN samples, a bad sample rate and channels of different lengths', () => {
    expect(() => encodeWav(new Float32Array([0, NaN]), 16000)).toThrow(/NaN at sample 1/);
    expect(() => encodeWav(new Float32Array(4), 0)).toThrow(AudioFormatError);
    expect(() => encodeWav(new Float32Array(4), 16000.5)).toThrow(/sample rate/);
    expect(() => encodeWav([new Float32Array(4), new Float32Array(3)], 16000)).toThrow(/differ in length/);
    expect(() => encodeWav([], 16000)).toThrow(/no channels/);
  });

  it('decodes from a Node Buffer slice at an odd byte offset', () => {
    const x = randomInt16Floats(new Rng(1), 100);
    const enc = encodeWav(x, 16000);
    const big = Buffer.alloc(enc.length + 1);
    big.set(enc, 1);
    expectSameSamples(decodeWav(big.subarray(1), 'odd.wav').channels[0], x);
  });
});

describe('encodeWav / decodeWav: other sample formats', () => {
  it('8-bit is unsigned with offset 128 and round-trips all 256 values', () => {
    const x = new Float32Array(256);
    for (let i = 0; i < 256; i++) x[i] = (i - 128) / 128;
    const b = encodeWav(x, 8000, { bitsPerSample: 8 });
    const off = dataOffset(b);
    expect(Array.from(b.subarray(off, off + 256))).toEqual(Array.from({ length: 256 }, (_, i) => i));
    const d = decodeWav(b, 'u8.wav');
    expect(d.bitsPerSample).toBe(8);
    expectSameSamples(d.channels[0], x);
    expect(
      Array.from(encodeWav(new Float32Array([1, -1, 0.3 / 128]), 8000, { bitsPerSample: 8 }).subarray(off, off + 3)),
    ).toEqual([255, 0, 128]);
  });

  it('24-bit round-trips signed values including the extremes', () => {
    const rng = new Rng(24);
    const ints = [-8388608, 8388607, -1, 0, 1, ...Array.from({ length: 1000 }, () => rng.int(1 << 24) - (1 << 23))];
    const x = Float32Array.from(ints, (v) => v / 8388608);
    const b = encodeWav(x, 16000, { bitsPerSample: 24 });
    const off = dataOffset(b);
    for (let i = 0; i < ints.length; i++) {
      const p = off + 3 * i;
      const v = ((b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) << 8) >> 8;
      if (v !== ints[i]) expect.fail(`sample ${i}: ${v} vs ${ints[i]}`);
    }
    const d = decodeWav(b, 'i24.wav');
    expect(d.bitsPerSample).toBe(24);
    expectSameSamples(d.channels[0], x);
  });

  it('32-bit integer round-trips values representable in float32', () => {
    const rng = new Rng(32);
    const x = Float32Array.from({ length: 1000 }, () => ((rng.int(1 << 24) - (1 << 23)) * 256) / 2147483648);
    x[0] = -1;
    const d = decodeWav(encodeWav(x, 16000, { bitsPerSample: 32 }), 'i32.wav');
    expect([d.bitsPerSample, d.sampleType]).toEqual([32, 'int']);
    expectSameSamples(d.channels[0], x);
  });

  it('float32 stores values as is (no clipping) and round-trips bit-exactly', () => {
    const rng = new Rng(3);
    const x = Float32Array.from({ length: 1000 }, () => rng.gauss() * 2);
    const b = encodeWav(x, 16000, { float: true });
    const d = decodeWav(b, 'f32.wav');
    expect([d.bitsPerSample, d.sampleType]).toEqual([32, 'float']);
    expect(dataView(b).getUint16(20, true)).toBe(3);
    expectSameSamples(d.channels[0], x);
  });

  it('reads float64 WAV as float32', () => {
    const vals = [0.1, -0.25, 1.5, -3e-9];
    const body = new Uint8Array(vals.length * 8);
    vals.forEach((v, i) => dataView(body).setFloat64(i * 8, v, true));
    const d = decodeWav(
      riff([
        { id: 'fmt ', body: fmtBody(3, 1, 16000, 8, 64) },
        { id: 'data', body },
      ]),
      'f64.wav',
    );
    expect([d.bitsPerSample, d.sampleType, d.numSamples]).toEqual([64, 'float', 4]);
    expectSameSamples(d.channels[0], Float32Array.from(vals));
  });

  it('decodes G.711 mu-law and A-law to their 16-bit linear values', () => {
    const mu = decodeWav(
      riff([
        { id: 'fmt ', body: fmtBody(7, 1, 8000, 1, 8) },
        { id: 'data', body: Uint8Array.from([0xff, 0x80, 0x00, 0x7f]) },
      ]),
      'mu.wav',
    );
    expect(Array.from(mu.channels[0], (v) => v * 32768)).toEqual([0, 32124, -32124, 0]);
    const a = decodeWav(
      riff([
        { id: 'fmt ', body: fmtBody(6, 1, 8000, 1, 8) },
        { id: 'data', body: Uint8Array.from([0xd5, 0x55, 0xaa, 0x2a]) },
      ]),
      'a.wav',
    );
    expect(Array.from(a.channels[0], (v) => v * 32768)).toEqual([8, -8, 32256, -32256]);
    expect(mu.bitsPerSample).toBe(16);
  });
});

describe('multi-channel and WAVE_FORMAT_EXTENSIBLE', () => {
  it('interleaves channels frame by frame and decodes each channel back', () => {
    const rng = new Rng(5);
    const ch = [randomInt16Floats(rng, 50), randomInt16Floats(rng, 50), randomInt16Floats(rng, 50)];
    const b = encodeWav(ch, 16000);
    const off = dataOffset(b);
    const v = dataView(b);
    for (let i = 0; i < 50; i++)
      for (let c = 0; c < 3; c++) expect(v.getInt16(off + 6 * i + 2 * c, true)).toBe(ch[c][i] * 32768);
    const d = decodeWav(b, 'three.wav');
    expect(d.numChannels).toBe(3);
    for (let c = 0; c < 3; c++) expectSameSamples(d.channels[c], ch[c], `channel ${c}`);
  });

  it('writes and reads WAVE_FORMAT_EXTENSIBLE (PCM and float subformats, channel mask)', () => {
    const rng = new Rng(6);
    const ch = [randomInt16Floats(rng, 20), randomInt16Floats(rng, 20)];
    for (const opts of [{ bitsPerSample: 16 as const }, { bitsPerSample: 24 as const }, { float: true }]) {
      const b = encodeWav(ch, 48000, { ...opts, extensible: true });
      const v = dataView(b);
      expect(v.getUint32(16, true)).toBe(40); // fmt size
      expect(v.getUint16(20, true)).toBe(0xfffe);
      expect(v.getUint16(36, true)).toBe(22); // cbSize
      expect(v.getUint16(38, true)).toBe(opts.float ? 32 : opts.bitsPerSample); // valid bits
      expect(v.getUint32(40, true)).toBe(3); // FL | FR
      expect(v.getUint16(44, true)).toBe(opts.float ? 3 : 1);
      expect(Array.from(b.subarray(46, 60))).toEqual(KSDATAFORMAT_TAIL);
      const d = decodeWav(b, 'ext.wav');
      expect(d.sampleType).toBe(opts.float ? 'float' : 'int');
      for (let c = 0; c < 2; c++) expectSameSamples(d.channels[c], ch[c]);
    }
  });

  it('reads an extensible file with 20 valid bits in a 24-bit container', () => {
    const ext = new Uint8Array(22);
    const v = dataView(ext);
    v.setUint16(0, 20, true);
    v.setUint32(2, 4, true);
    v.setUint16(6, 1, true);
    ext.set(KSDATAFORMAT_TAIL, 8);
    const samples = Uint8Array.from([0x00, 0x00, 0x80, 0x10, 0x00, 0x00]); // -2^23, 16
    const d = decodeWav(
      riff([
        { id: 'fmt ', body: fmtBody(0xfffe, 1, 16000, 3, 24, ext) },
        { id: 'data', body: samples },
      ]),
      'v20.wav',
    );
    expect(Array.from(d.channels[0])).toEqual([-1, 16 / 8388608]);
  });

  it('rejects an extensible subformat GUID that is not KSDATAFORMAT', () => {
    const ext = new Uint8Array(22);
    dataView(ext).setUint16(6, 1, true);
    expectAudioError(
      () =>
        decodeWav(
          riff([
            { id: 'fmt ', body: fmtBody(0xfffe, 1, 16000, 2, 16, ext) },
            { id: 'data', body: int16Bytes([1]) },
          ]),
          'x.wav',
        ),
      /subformat GUID/,
    );
  });
});

describe('RIFF chunk walking', () => {
  const fmt = fmtBody(1, 1, 16000, 2, 16);
  const data = int16Bytes([1, -2, 3, -4, 5]);
  const expected = Float32Array.from([1, -2, 3, -4, 5], (v) => v / 32768);

  it('skips unknown chunks (LIST, odd-sized with pad byte) before and after the data', () => {
    const odd = new Uint8Array(7).fill(0x41);
    const b = riff([
      { id: 'LIST', body: odd },
      { id: 'fmt ', body: fmt },
      { id: 'junk', body: new Uint8Array(3) },
      { id: 'data', body: data },
      { id: 'cue ', body: new Uint8Array(5) },
    ]);
    const d = decodeWav(b, 'list.wav');
    expectSameSamples(d.channels[0], expected);
  });

  it('tolerates a writer that omitted the pad byte of an odd-sized chunk', () => {
    const b = riff([
      { id: 'fmt ', body: fmt },
      { id: 'LIST', body: new Uint8Array(5).fill(0x41), noPad: true },
      { id: 'data', body: data },
    ]);
    expectSameSamples(decodeWav(b, 'nopad.wav').channels[0], expected);
  });

  it('ignores an odd trailing byte in the data chunk (whole frames only)', () => {
    const b = riff([
      { id: 'fmt ', body: fmt },
      { id: 'data', body: Uint8Array.from([...data, 0x7f]) },
    ]);
    expect(decodeWav(b, 'odd.wav').numSamples).toBe(5);
  });

  it('reads a streamed WAV (data size 0xFFFFFFFF) to the end of the file, dropping a partial frame', () => {
    const b = riff([
      { id: 'fmt ', body: fmt },
      { id: 'data', body: Uint8Array.from([...data, 0x01]), size: 0xffffffff, noPad: true },
    ]);
    dataView(b).setUint32(4, 0xffffffff, true);
    const d = decodeWav(b, 'stream.wav');
    expect(d.numSamples).toBe(5);
    expectSameSamples(d.channels[0], expected);
  });

  it('reads RF64 with the data size taken from the ds64 chunk', () => {
    const ds64 = new Uint8Array(28);
    dataView(ds64).setUint32(8, 6, true); // data size: 3 samples of the 5 present
    const b = riff(
      [
        { id: 'ds64', body: ds64 },
        { id: 'fmt ', body: fmt },
        { id: 'data', body: data, size: 0xffffffff },
      ],
      'RF64',
    );
    expectSameSamples(decodeWav(b, 'rf64.wav').channels[0], expected.subarray(0, 3));
  });
});

describe('bad WAV input is an AudioFormatError naming the file', () => {
  const fmt = fmtBody(1, 1, 16000, 2, 16);
  const data = int16Bytes([1, 2, 3, 4]);

  it('truncated: the data chunk claims more bytes than the file has', () => {
    const good = riff([
      { id: 'fmt ', body: fmt },
      { id: 'data', body: data },
    ]);
    const e = expectAudioError(() => decodeWav(good.subarray(0, good.length - 3), 'x.wav'), /truncated WAV/);
    expect(e.expected).toBe('8 data bytes');
    expect(e.found).toBe('5');
    expectAudioError(
      () =>
        decodeWav(
          riff([
            { id: 'fmt ', body: fmt },
            { id: 'data', body: data, size: 0x7fffffff },
          ]),
          'x.wav',
        ),
      /truncated/,
    );
  });

  it('truncated: the file ends inside the header', () => {
    const good = riff([
      { id: 'fmt ', body: fmt },
      { id: 'data', body: data },
    ]);
    expectAudioError(() => decodeWav(good.subarray(0, 8), 'x.wav'), /shorter than a RIFF header/);
    expectAudioError(() => decodeWav(good.subarray(0, 30), 'x.wav'), /truncated fmt chunk|no 'data' chunk/);
  });

  it('not RIFF / not WAVE / big-endian RIFX', () => {
    const good = riff([
      { id: 'fmt ', body: fmt },
      { id: 'data', body: data },
    ]);
    const notRiff = good.slice();
    notRiff.set([0x4a, 0x55, 0x4e, 0x4b], 0);
    expectAudioError(() => decodeWav(notRiff, 'x.wav'), /not a WAV file.*expected 'RIFF'/);
    const notWave = good.slice();
    notWave.set([0x41, 0x56, 0x49, 0x20], 8);
    expectAudioError(() => decodeWav(notWave, 'x.wav'), /expected 'WAVE'/);
    expectAudioError(
      () =>
        decodeWav(
          riff(
            [
              { id: 'fmt ', body: fmt },
              { id: 'data', body: data },
            ],
            'RIFX',
          ),
          'x.wav',
        ),
      /RIFX/,
    );
  });

  it('bad fmt chunk: too short, zero channels, zero rate, inconsistent block align', () => {
    expectAudioError(
      () =>
        decodeWav(
          riff([
            { id: 'fmt ', body: fmt.subarray(0, 14) },
            { id: 'data', body: data },
          ]),
          'x.wav',
        ),
      /bad fmt chunk/,
    );
    expectAudioError(
      () =>
        decodeWav(
          riff([
            { id: 'fmt ', body: fmtBody(1, 0, 16000, 2, 16) },
            { id: 'data', body: data },
          ]),
          'x.wav',
        ),
      /zero channels/,
    );
    expectAudioError(
      () =>
        decodeWav(
          riff([
            { id: 'fmt ', body: fmtBody(1, 1, 0, 2, 16) },
            { id: 'data', body: data },
          ]),
          'x.wav',
        ),
      /zero sample rate/,
    );
    expectAudioError(
      () =>
        decodeWav(
          riff([
            { id: 'fmt ', body: fmtBody(1, 2, 16000, 3, 16) },
            { id: 'data', body: data },
          ]),
          'x.wav',
        ),
      /block align/,
    );
    expectAudioError(
      () =>
        decodeWav(
          riff([
            { id: 'fmt ', body: fmtBody(1, 1, 16000, 2, 24) },
            { id: 'data', body: data },
          ]),
          'x.wav',
        ),
      /unsupported PCM sample size/,
    );
    expectAudioError(
      () =>
        decodeWav(
          riff([
            { id: 'fmt ', body: fmtBody(3, 1, 16000, 2, 16) },
            { id: 'data', body: data },
          ]),
          'x.wav',
        ),
      /unsupported float sample size/,
    );
  });

  it('unsupported format tag names the tag', () => {
    const e = expectAudioError(
      () =>
        decodeWav(
          riff([
            { id: 'fmt ', body: fmtBody(0x55, 1, 16000, 1, 0) },
            { id: 'data', body: data },
          ]),
          'x.wav',
        ),
      /unsupported WAV format tag/,
    );
    expect(e.found).toBe('0x0055 (MPEG layer 3)');
    expectAudioError(
      () =>
        decodeWav(
          riff([
            { id: 'fmt ', body: fmtBody(2, 1, 16000, 256, 4) },
            { id: 'data', body: data },
          ]),
          'x.wav',
        ),
      /0x0002 \(MS ADPCM\)/,
    );
  });

  it('missing or misplaced chunks', () => {
    expectAudioError(
      () =>
        decodeWav(
          riff([
            { id: 'data', body: data },
            { id: 'fmt ', body: fmt },
          ]),
          'x.wav',
        ),
      /data chunk before fmt chunk/,
    );
    expectAudioError(() => decodeWav(riff([{ id: 'fmt ', body: fmt }]), 'x.wav'), /no 'data' chunk/);
    expectAudioError(() => decodeWav(riff([{ id: 'LIST', body: new Uint8Array(4) }]), 'x.wav'), /no 'fmt ' chunk/);
  });

  it("empty audio: a data chunk of 0 bytes is 'empty audio (0 samples)'", () => {
    expectAudioError(
      () =>
        decodeWav(
          riff([
            { id: 'fmt ', body: fmt },
            { id: 'data', body: new Uint8Array(0) },
          ]),
          'x.wav',
        ),
      /empty audio \(0 samples\)/,
    );
    expectAudioError(() => decodeWav(encodeWav(new Float32Array(0), 16000), 'x.wav'), /empty audio/);
  });
});
