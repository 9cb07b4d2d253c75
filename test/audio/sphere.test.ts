import { describe, it, expect } from 'vitest';
import { decodeSphere, encodeSphere, parseSphereLayout } from '../../src/audio/sphere.ts';
import { AudioFormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { expectSameSamples, randomInt16Floats } from './helpers.ts';

const latin1 = (b: Uint8Array) => String.fromCharCode(...b);

/** A SPHERE file from header lines (without the first two) and raw sample bytes. */
function sphere(
  lines: string[],
  data: Uint8Array,
  headerSize = 1024,
  sizeLine = String(headerSize).padStart(7),
): Uint8Array {
  const text = `NIST_1A\n${sizeLine}\n${lines.join('\n')}\n`;
  const out = new Uint8Array(headerSize + data.length).fill(0x20);
  for (let i = 0; i < Math.min(text.length, headerSize); i++) out[i] = text.charCodeAt(i);
  out.set(data, headerSize);
  return out;
}

function int16(values: number[], littleEndian = true): Uint8Array {
  const b = new Uint8Array(values.length * 2);
  values.forEach((v, i) => new DataView(b.buffer).setInt16(2 * i, v, littleEndian));
  return b;
}

const TIMIT_LINES = [
  'database_id -s5 TIMIT',
  'database_version -s3 1.0',
  'utterance_id -s8 aks0_sa1',
  'channel_count -i 1',
  'sample_count -i 4',
  'sample_rate -i 16000',
  'sample_min -i -3',
  'sample_max -i 4',
  'sample_n_bytes -i 2',
  'sample_byte_format -s2 01',
  'sample_sig_bits -i 16',
  'end_head',
];

function expectAudioError(fn: () => unknown, re: RegExp, file = 'x.sph'): AudioFormatError {
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

describe('NIST SPHERE reader', () => {
  it('reads a TIMIT-style header and its little-endian 16-bit samples', () => {
    const d = decodeSphere(sphere(TIMIT_LINES, int16([1, -3, 4, 2])), 'SA1.WAV');
    expect({ ...d, channels: undefined }).toEqual({
      path: 'SA1.WAV',
      format: 'sphere',
      sampleRateHz: 16000,
      numChannels: 1,
      numSamples: 4,
      durationSec: 4 / 16000,
      bitsPerSample: 16,
      sampleType: 'int',
      channels: undefined,
    });
    expect(Array.from(d.channels[0], (v) => v * 32768)).toEqual([1, -3, 4, 2]);
  });

  it('parses typed header fields (-i, -r, -sN with spaces)', () => {
    const b = sphere(
      ['sample_rate -r 8000.0', 'speaker_id -s9 dr1 fcjf0', 'channel_count -i 1', 'sample_n_bytes -i 2', 'end_head'],
      int16([5, 6, 7]),
    );
    const layout = parseSphereLayout((o, n) => b.subarray(o, o + n), b.length, 'x.sph');
    expect(layout.fields).toEqual({ sample_rate: 8000, speaker_id: 'dr1 fcjf0', channel_count: 1, sample_n_bytes: 2 });
    // No sample_count: the sample count follows from the file size.
    expect(layout.numSamples).toBe(3);
    expect(layout.sampleRateHz).toBe(8000);
  });

  it('reads big-endian (sample_byte_format 10) and interleaved multi-channel data', () => {
    const lines = [
      'channel_count -i 2',
      'sample_count -i 3',
      'sample_rate -i 8000',
      'sample_n_bytes -i 2',
      'sample_byte_format -s2 10',
      'end_head',
    ];
    const d = decodeSphere(sphere(lines, int16([1, -1, 2, -2, 300, -300], false)), 'be.sph');
    expect(Array.from(d.channels[0], (v) => v * 32768)).toEqual([1, 2, 300]);
    expect(Array.from(d.channels[1], (v) => v * 32768)).toEqual([-1, -2, -300]);
  });

  it('decodes mu-law coded SPHERE (1 byte per sample)', () => {
    const lines = [
      'channel_count -i 1',
      'sample_count -i 3',
      'sample_rate -i 8000',
      'sample_n_bytes -i 1',
      'sample_coding -s4 ulaw',
      'end_head',
    ];
    const d = decodeSphere(sphere(lines, Uint8Array.from([0xff, 0x80, 0x00])), 'mu.sph');
    expect(Array.from(d.channels[0], (v) => v * 32768)).toEqual([0, 32124, -32124]);
  });

  it('honours a header size other than 1024', () => {
    const d = decodeSphere(sphere(TIMIT_LINES, int16([1, 2, 3, 4]), 2048), 'big.sph');
    expect(Array.from(d.channels[0], (v) => v * 32768)).toEqual([1, 2, 3, 4]);
  });
});

describe('encodeSphere', () => {
  it('writes a TIMIT-layout file (1024-byte header, 01 byte order) that reads back bit-exactly', () => {
    const x = randomInt16Floats(new Rng(9), 500);
    const b = encodeSphere(x, 16000, { fields: { database_id: 'TIMIT', utterance_id: 'fcjf0_sa1' } });
    expect(b.length).toBe(1024 + 1000);
    const head = latin1(b.subarray(0, 1024));
    expect(head.startsWith('NIST_1A\n   1024\ndatabase_id -s5 TIMIT\nutterance_id -s9 fcjf0_sa1\n')).toBe(true);
    expect(head).toContain('sample_byte_format -s2 01\n');
    expect(head).toContain('sample_count -i 500\n');
    expect(head).toContain('\nend_head\n');
    const d = decodeSphere(b, 'fcjf0_sa1.wav');
    expectSameSamples(d.channels[0], x);
    let min = 0,
      max = 0;
    for (const v of x) {
      min = Math.min(min, v * 32768);
      max = Math.max(max, v * 32768);
    }
    const layout = parseSphereLayout((o, n) => b.subarray(o, o + n), b.length);
    expect([layout.fields.sample_min, layout.fields.sample_max]).toEqual([min, max]);
  });

  it('writes big-endian and multi-channel files', () => {
    const rng = new Rng(10);
    const ch = [randomInt16Floats(rng, 64), randomInt16Floats(rng, 64)];
    const b = encodeSphere(ch, 8000, { byteOrder: 'big' });
    expect(new DataView(b.buffer).getInt16(1024, false)).toBe(ch[0][0] * 32768);
    const d = decodeSphere(b, 'be.sph');
    expect(d.numChannels).toBe(2);
    expectSameSamples(d.channels[0], ch[0]);
    expectSameSamples(d.channels[1], ch[1]);
  });

  it('rejects fields that do not fit the header and bad values', () => {
    expect(() => encodeSphere(new Float32Array(4), 16000, { fields: { comment: 'x'.repeat(1100) } })).toThrow(
      /do not fit/,
    );
    expect(() => encodeSphere(new Float32Array(4), 16000, { fields: { 'bad name': 1 } })).toThrow(/bad field name/);
    expect(() => encodeSphere(new Float32Array([NaN]), 16000)).toThrow(/NaN/);
    expect(() => encodeSphere(new Float32Array(4), -1)).toThrow(/sample rate/);
  });
});

describe('bad SPHERE input is an AudioFormatError naming the file', () => {
  it('shorten-compressed (by sample_coding or by the ajkg magic) asks for sph2pipe', () => {
    const lines = [
      'channel_count -i 1',
      'sample_count -i 4',
      'sample_rate -i 16000',
      'sample_n_bytes -i 2',
      'sample_coding -s26 pcm,embedded-shorten-v2.00',
      'end_head',
    ];
    expectAudioError(
      () => decodeSphere(sphere(lines, new Uint8Array(8)), 'x.sph'),
      /shorten-compressed SPHERE not supported, decompress with sph2pipe/,
    );
    const magic = sphere(TIMIT_LINES, Uint8Array.from([0x61, 0x6a, 0x6b, 0x67, 0, 0, 0, 0]));
    expectAudioError(
      () => decodeSphere(magic, 'x.sph'),
      /shorten-compressed SPHERE not supported, decompress with sph2pipe/,
    );
  });

  it('truncated: fewer data bytes than sample_count, or shorter than the header', () => {
    const e = expectAudioError(
      () => decodeSphere(sphere(TIMIT_LINES, int16([1, 2, 3])), 'x.sph'),
      /truncated SPHERE file/,
    );
    expect([e.expected, e.found]).toEqual(['8 data bytes', '6']);
    expectAudioError(
      () => decodeSphere(sphere(TIMIT_LINES, int16([1, 2, 3, 4])).subarray(0, 600), 'x.sph'),
      /shorter than its header/,
    );
  });

  it('corrupt header: magic, size line, field syntax, no end_head, missing sample_rate', () => {
    const good = sphere(TIMIT_LINES, int16([1, 2, 3, 4]));
    const badMagic = good.slice();
    badMagic[5] = 0x32;
    expectAudioError(() => decodeSphere(badMagic, 'x.sph'), /not a NIST SPHERE file/);
    expectAudioError(
      () => decodeSphere(sphere(TIMIT_LINES, int16([1, 2, 3, 4]), 1024, '   abcd'), 'x.sph'),
      /bad header size/,
    );
    expectAudioError(
      () => decodeSphere(sphere(TIMIT_LINES, int16([1, 2, 3, 4]), 1024, '      8'), 'x.sph'),
      /header size too small/,
    );
    const e = expectAudioError(
      () => decodeSphere(sphere(['sample_rate 16000', 'end_head'], int16([1])), 'x.sph'),
      /corrupt SPHERE header field/,
    );
    expect(e.location.line).toBe(3);
    expectAudioError(
      () => decodeSphere(sphere(['sample_rate -i 16k', 'end_head'], int16([1])), 'x.sph'),
      /'sample_rate'.*expected an integer/,
    );
    expectAudioError(
      () => decodeSphere(sphere(TIMIT_LINES.slice(0, -1), int16([1, 2, 3, 4])), 'x.sph'),
      /no 'end_head'/,
    );
    expectAudioError(
      () => decodeSphere(sphere(['channel_count -i 1', 'end_head'], int16([1])), 'x.sph'),
      /lacks 'sample_rate'/,
    );
    expectAudioError(
      () => decodeSphere(sphere(['sample_rate -i 16000', 'channel_count -i 0', 'end_head'], int16([1])), 'x.sph'),
      /bad channel_count/,
    );
  });

  it('unsupported byte order, coding or sample size', () => {
    expectAudioError(
      () =>
        decodeSphere(
          sphere(['sample_rate -i 16000', 'sample_byte_format -s11 shortpack-v0', 'end_head'], int16([1])),
          'x.sph',
        ),
      /sample_byte_format/,
    );
    expectAudioError(
      () =>
        decodeSphere(sphere(['sample_rate -i 16000', 'sample_coding -s7 wavpack', 'end_head'], int16([1])), 'x.sph'),
      /unsupported SPHERE sample_coding/,
    );
    expectAudioError(
      () => decodeSphere(sphere(['sample_rate -i 16000', 'sample_n_bytes -i 1', 'end_head'], int16([1])), 'x.sph'),
      /PCM sample size/,
    );
  });

  it("sample_count 0 is 'empty audio (0 samples)'", () => {
    const lines = TIMIT_LINES.map((l) => (l.startsWith('sample_count') ? 'sample_count -i 0' : l));
    expectAudioError(() => decodeSphere(sphere(lines, new Uint8Array(0)), 'x.sph'), /empty audio \(0 samples\)/);
  });
});
