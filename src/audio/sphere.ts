/**
 * NIST SPHERE (TIMIT, WSJ, Switchboard ".wav"/".sph") reader and a small 16-bit PCM writer.
 *
 * Header: "NIST_1A\n", the header size in bytes on line 2 (normally 1024), then one field per line,
 * `name -type value` with type -i (integer), -r (real) or -sN (string of N bytes), up to "end_head".
 * Samples follow the header, interleaved, in the byte order of `sample_byte_format`
 * ("01" little-endian, "10" big-endian, "1" single byte). Coding pcm, ulaw or alaw is decoded;
 * shorten-compressed files (sample_coding "...shorten..." or data starting with "ajkg") are
 * rejected with advice to decompress them with sph2pipe.
 */
import { AudioFormatError } from '../util/errors.ts';
import { decodeInterleaved, encodeInterleavedLE, type SampleEncoding } from './pcm.ts';
import { asChannelList, type ByteReader } from './wav.ts';
import type { AudioData, AudioInfo } from './types.ts';

/** A parsed SPHERE header field value. */
export type SphereValue = number | string;

/** Where the samples of a SPHERE file are and how they are encoded. */
export interface SphereLayout {
  headerSizeBytes: number;
  fields: Record<string, SphereValue>;
  numChannels: number;
  sampleRateHz: number;
  encoding: SampleEncoding;
  /** Bits per decoded sample (16 for mu-law / A-law). */
  bitsPerSample: number;
  blockAlign: number;
  dataOffset: number;
  numSamples: number;
}

/** Options of encodeSphere. */
export interface SphereEncodeOptions {
  /** Sample byte order: 'little' writes sample_byte_format 01 (TIMIT), 'big' writes 10. Default 'little'. */
  byteOrder?: 'little' | 'big';
  /**
   * Extra header fields written before the standard ones, in insertion order, e.g.
   * { database_id: 'TIMIT', utterance_id: 'fcjf0_sa1' }. Integers are written as -i, other numbers
   * as -r, strings as -sN. Default none.
   */
  fields?: Record<string, SphereValue>;
  /** Header size in bytes (a multiple of 1024 is conventional). Default 1024. */
  headerSizeBytes?: number;
}

const MAGIC = 'NIST_1A\n';

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

/** True when the bytes start with the SPHERE magic line. */
export function isSphere(head: Uint8Array): boolean {
  return head.length >= 7 && latin1(head.subarray(0, 7)) === 'NIST_1A';
}

/** Makes the AudioFormatError of a bad header, naming the file. */
type HeaderError = (msg: string, extra?: { expected?: string; found?: string; line?: number }) => AudioFormatError;

/** A numeric header field (integer or numeric string), or `dflt` when absent; an error when required and absent. */
type NumericField = (name: string, dflt?: number) => number;

/** Parse a SPHERE header and locate the samples. Only the header is read through `read`. */
export function parseSphereLayout(read: ByteReader, fileSize: number, file = ''): SphereLayout {
  const err: HeaderError = (msg, extra = {}) => new AudioFormatError(msg, { file: file || undefined, ...extra });
  const { headerSizeBytes, fieldsOffset } = headerPreamble(read, fileSize, err);
  const fields = headerFields(latin1(read(0, headerSizeBytes)), fieldsOffset, headerSizeBytes, err);
  const num: NumericField = (name, dflt) => {
    const v = fields[name];
    if (v === undefined) {
      if (dflt === undefined) throw err(`SPHERE header lacks '${name}'`, { expected: `a '${name}' field` });
      return dflt;
    }
    const n = typeof v === 'number' ? v : Number(v.trim());
    if (!Number.isFinite(n))
      throw err(`corrupt SPHERE header field '${name}'`, { expected: 'a number', found: JSON.stringify(v) });
    return n;
  };
  const coding = String(fields.sample_coding ?? 'pcm')
    .trim()
    .toLowerCase();
  if (coding.includes('shorten')) {
    throw err('shorten-compressed SPHERE not supported, decompress with sph2pipe', {
      found: `sample_coding ${coding}`,
    });
  }
  const sampleRateHz = Math.round(num('sample_rate'));
  const numChannels = num('channel_count', 1);
  const sampleBytes = num('sample_n_bytes', coding === 'ulaw' || coding === 'mu-law' || coding === 'alaw' ? 1 : 2);
  if (!(sampleRateHz > 0))
    throw err('corrupt SPHERE header: bad sample_rate', { expected: '> 0', found: `${fields.sample_rate}` });
  if (!(numChannels >= 1 && Number.isInteger(numChannels)))
    throw err('corrupt SPHERE header: bad channel_count', { expected: '>= 1', found: `${numChannels}` });
  const encoding = sampleEncoding(fields, coding, sampleBytes, err);
  const blockAlign = sampleBytes * numChannels;
  const numSamples = sampleCount(read, fileSize, headerSizeBytes, blockAlign, fields, num, err);
  return {
    headerSizeBytes,
    fields,
    numChannels,
    sampleRateHz,
    encoding,
    bitsPerSample: encoding.kind === 'int' ? sampleBytes * 8 : 16,
    blockAlign,
    dataOffset: headerSizeBytes,
    numSamples,
  };
}

/** Lines 1 and 2: the magic and the header size; where the field lines start. */
function headerPreamble(
  read: ByteReader,
  fileSize: number,
  err: HeaderError,
): { headerSizeBytes: number; fieldsOffset: number } {
  const first = read(0, 16);
  const start = latin1(first);
  if (!start.startsWith(MAGIC)) {
    throw err('not a NIST SPHERE file', { expected: "'NIST_1A' on line 1", found: JSON.stringify(start.slice(0, 8)) });
  }
  const m = /^ *(\d+) *\n/.exec(start.slice(8));
  if (!m)
    throw err('corrupt SPHERE header: bad header size', {
      line: 2,
      expected: 'a byte count such as "   1024"',
      found: JSON.stringify(start.slice(8, 16)),
    });
  const headerSizeBytes = Number(m[1]);
  if (headerSizeBytes < 16)
    throw err('corrupt SPHERE header: header size too small', {
      line: 2,
      expected: '>= 16 bytes',
      found: `${headerSizeBytes}`,
    });
  if (headerSizeBytes > fileSize) {
    throw err('truncated SPHERE file: shorter than its header', {
      expected: `>= ${headerSizeBytes} bytes`,
      found: `${fileSize}`,
    });
  }
  return { headerSizeBytes, fieldsOffset: 8 + m[0].length };
}

/** The `name -i|-r|-sN value` lines from line 3 up to `end_head` (comments and blank lines skipped). */
function headerFields(
  text: string,
  fieldsOffset: number,
  headerSizeBytes: number,
  err: HeaderError,
): Record<string, SphereValue> {
  const fields: Record<string, SphereValue> = {};
  let pos = fieldsOffset;
  let lineNo = 3;
  let ended = false;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const line = text.slice(pos, nl < 0 ? text.length : nl).replace(/\r$/, '');
    if (line.trim() === 'end_head') {
      ended = true;
      break;
    }
    if (line.trim() !== '' && !line.startsWith(';')) {
      const f = /^(\S+)\s+-(i|r|s(\d+))\s(.*)$/.exec(line);
      if (!f)
        throw err('corrupt SPHERE header field', {
          line: lineNo,
          expected: "'name -i|-r|-sN value'",
          found: JSON.stringify(line.slice(0, 60)),
        });
      const [, name, type, strLen, rest] = f;
      if (type === 'i' || type === 'r') {
        const v = Number(rest.trim());
        if (!Number.isFinite(v) || (type === 'i' && !Number.isInteger(v))) {
          throw err(`corrupt SPHERE header field '${name}'`, {
            line: lineNo,
            expected: type === 'i' ? 'an integer' : 'a number',
            found: JSON.stringify(rest),
          });
        }
        fields[name] = v;
      } else {
        // -sN: exactly N bytes; tolerate writers that count differently by trimming.
        fields[name] = rest.length >= Number(strLen) ? rest.slice(0, Number(strLen)) : rest;
      }
    }
    if (nl < 0) break;
    pos = nl + 1;
    lineNo++;
  }
  if (!ended)
    throw err("corrupt SPHERE header: no 'end_head'", {
      expected: `'end_head' within ${headerSizeBytes} header bytes`,
      found: 'none',
    });
  return fields;
}

/** The sample encoding from sample_coding, sample_n_bytes and sample_byte_format. */
function sampleEncoding(
  fields: Record<string, SphereValue>,
  coding: string,
  sampleBytes: number,
  err: HeaderError,
): SampleEncoding {
  const byteFormat = String(fields.sample_byte_format ?? (sampleBytes === 1 ? '1' : '01')).trim();
  let littleEndian: boolean;
  if (sampleBytes === 1) littleEndian = true;
  else if (byteFormat === '01' || byteFormat === '012' || byteFormat === '0123') littleEndian = true;
  else if (byteFormat === '10' || byteFormat === '210' || byteFormat === '3210') littleEndian = false;
  else
    throw err('unsupported SPHERE sample_byte_format', { expected: "'01' or '10'", found: JSON.stringify(byteFormat) });
  if (coding === 'pcm' || coding === '') {
    if (sampleBytes < 2 || sampleBytes > 4)
      throw err('unsupported SPHERE PCM sample size', {
        expected: 'sample_n_bytes 2, 3 or 4',
        found: `${sampleBytes}`,
      });
    return { kind: 'int', bytes: sampleBytes, littleEndian };
  } else if (coding === 'ulaw' || coding === 'mu-law' || coding === 'alaw') {
    if (sampleBytes !== 1)
      throw err(`unsupported SPHERE ${coding} sample size`, { expected: 'sample_n_bytes 1', found: `${sampleBytes}` });
    return { kind: coding === 'alaw' ? 'alaw' : 'mulaw', bytes: 1, littleEndian: true };
  } else {
    throw err('unsupported SPHERE sample_coding', { expected: 'pcm, ulaw or alaw', found: JSON.stringify(coding) });
  }
}

/**
 * Samples per channel: sample_count, checked against the bytes after the header, or as many
 * whole blocks as there are; shorten data (magic 'ajkg' after the header) and 0 samples are errors.
 */
function sampleCount(
  read: ByteReader,
  fileSize: number,
  headerSizeBytes: number,
  blockAlign: number,
  fields: Record<string, SphereValue>,
  num: NumericField,
  err: HeaderError,
): number {
  const available = fileSize - headerSizeBytes;
  const dataStart = read(headerSizeBytes, 4);
  if (dataStart.length === 4 && latin1(dataStart) === 'ajkg') {
    throw err('shorten-compressed SPHERE not supported, decompress with sph2pipe', {
      found: "shorten magic 'ajkg' after the header",
    });
  }
  let numSamples: number;
  if (fields.sample_count !== undefined) {
    numSamples = num('sample_count');
    if (!(numSamples >= 0 && Number.isInteger(numSamples)))
      throw err('corrupt SPHERE header: bad sample_count', { expected: 'an integer >= 0', found: `${numSamples}` });
    if (numSamples * blockAlign > available) {
      throw err('truncated SPHERE file: fewer samples than sample_count', {
        expected: `${numSamples * blockAlign} data bytes`,
        found: `${available}`,
      });
    }
  } else {
    numSamples = Math.floor(available / blockAlign);
  }
  if (numSamples === 0)
    throw err('empty audio (0 samples)', { expected: 'at least one sample', found: 'sample_count 0' });
  return numSamples;
}

/** The AudioInfo view of a SPHERE layout. */
export function sphereInfo(layout: SphereLayout, path: string): AudioInfo {
  return {
    path,
    format: 'sphere',
    sampleRateHz: layout.sampleRateHz,
    numChannels: layout.numChannels,
    numSamples: layout.numSamples,
    durationSec: layout.numSamples / layout.sampleRateHz,
    bitsPerSample: layout.bitsPerSample,
    sampleType: 'int',
  };
}

/** Decode a whole SPHERE file held in memory. `file` is only used in error messages and `path`. */
export function decodeSphere(bytes: Uint8Array, file = ''): AudioData {
  const reader: ByteReader = (o, n) => bytes.subarray(Math.min(o, bytes.length), Math.min(o + n, bytes.length));
  const layout = parseSphereLayout(reader, bytes.length, file);
  const all = Array.from({ length: layout.numChannels }, (_, c) => c);
  const channels = decodeInterleaved(
    bytes,
    layout.dataOffset,
    layout.numSamples,
    layout.numChannels,
    layout.encoding,
    all,
  );
  return { ...sphereInfo(layout, file), channels };
}

function fieldLine(name: string, v: SphereValue): string {
  if (!/^\S+$/.test(name))
    throw new AudioFormatError('encodeSphere: bad field name', {
      expected: 'no whitespace',
      found: JSON.stringify(name),
    });
  if (typeof v === 'number') return Number.isInteger(v) ? `${name} -i ${v}` : `${name} -r ${v}`;
  if (v.includes('\n'))
    throw new AudioFormatError('encodeSphere: field value contains a newline', { found: `${name}` });
  return `${name} -s${Buffer.byteLength(v, 'latin1')} ${v}`;
}

/**
 * Encode float32 channels as a 16-bit PCM NIST SPHERE file (TIMIT layout by default:
 * 1024-byte header, sample_byte_format 01). Samples are rounded to nearest and clipped like encodeWav.
 */
export function encodeSphere(
  channels: Float32Array[] | Float32Array,
  sampleRateHz: number,
  opts: SphereEncodeOptions = {},
): Uint8Array {
  const list = asChannelList(channels, 'encodeSphere');
  if (!Number.isInteger(sampleRateHz) || sampleRateHz <= 0) {
    throw new AudioFormatError('encodeSphere: bad sample rate', {
      expected: 'a positive integer (Hz)',
      found: String(sampleRateHz),
    });
  }
  const headerSizeBytes = opts.headerSizeBytes ?? 1024;
  const big = (opts.byteOrder ?? 'little') === 'big';
  const numSamples = list[0].length;
  const numChannels = list.length;
  const dataBytes = numSamples * numChannels * 2;
  const out = new Uint8Array(headerSizeBytes + dataBytes);
  const view = new DataView(out.buffer);
  const nanAt = encodeInterleavedLE(list, view, headerSizeBytes, 16, false);
  if (nanAt >= 0)
    throw new AudioFormatError('encodeSphere: NaN sample', {
      expected: 'finite samples',
      found: `NaN at sample ${nanAt}`,
    });
  let min = 0,
    max = 0;
  for (let p = headerSizeBytes; p < out.length; p += 2) {
    const v = view.getInt16(p, true);
    if (v < min) min = v;
    if (v > max) max = v;
    if (big) view.setInt16(p, v, false);
  }
  const lines = [
    ...Object.entries(opts.fields ?? {}).map(([k, v]) => fieldLine(k, v)),
    fieldLine('channel_count', numChannels),
    fieldLine('sample_count', numSamples),
    fieldLine('sample_rate', sampleRateHz),
    fieldLine('sample_min', min),
    fieldLine('sample_max', max),
    fieldLine('sample_n_bytes', 2),
    fieldLine('sample_byte_format', big ? '10' : '01'),
    fieldLine('sample_sig_bits', 16),
    'end_head',
  ];
  const header = `NIST_1A\n${String(headerSizeBytes).padStart(7, ' ')}\n${lines.join('\n')}\n`;
  if (header.length > headerSizeBytes) {
    throw new AudioFormatError('encodeSphere: header fields do not fit', {
      expected: `<= ${headerSizeBytes} bytes`,
      found: `${header.length}`,
    });
  }
  out.fill(0x20, 0, headerSizeBytes); // pad with spaces like the NIST tools
  for (let i = 0; i < header.length; i++) out[i] = header.charCodeAt(i) & 0xff;
  return out;
}
