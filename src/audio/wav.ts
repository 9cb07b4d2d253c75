/**
 * RIFF/WAVE (and RF64) reader and writer.
 *
 * Reads PCM 8 (unsigned) / 16 / 24 / 32-bit, IEEE float 32 / 64, G.711 mu-law / A-law, plain or
 * WAVE_FORMAT_EXTENSIBLE, any number of channels. Unknown chunks (LIST, fact, cue, ...) are skipped,
 * odd-sized chunks respect their pad byte. A data chunk size of 0xFFFFFFFF is the streaming sentinel
 * (the writer could not seek back): the data then runs to the end of the file. Any other size larger
 * than the file means the file is truncated, which is an error.
 *
 * Writes PCM 8/16/24/32-bit or float32, plain or extensible, rounding to nearest with clipping, so
 * int16 -> float (value / 32768) -> int16 is bit-exact.
 */
import { AudioFormatError } from '../util/errors.ts';
import { decodeInterleaved, encodeInterleavedLE, type SampleEncoding } from './pcm.ts';
import type { AudioData, AudioInfo } from './types.ts';

export const WAVE_FORMAT_PCM = 0x0001;
export const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
export const WAVE_FORMAT_ALAW = 0x0006;
export const WAVE_FORMAT_MULAW = 0x0007;
export const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** Data chunk size written by streaming writers that cannot seek back to fix the header. */
export const STREAMING_DATA_SIZE = 0xffffffff;

/** Tail of the KSDATAFORMAT_SUBTYPE_* GUIDs: {xxxxxxxx-0000-0010-8000-00AA00389B71}. */
const KSDATAFORMAT_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

/** Options of encodeWav / writeWav. */
export interface WavEncodeOptions {
  /** Bits per integer sample (8 is unsigned). Default 16. Ignored when `float` is true (always 32). */
  bitsPerSample?: 8 | 16 | 24 | 32;
  /** Write IEEE float32 samples. Default false. */
  float?: boolean;
  /** Write a WAVE_FORMAT_EXTENSIBLE fmt chunk (with channel mask and subformat GUID). Default false. */
  extensible?: boolean;
}

/** Where the samples of a WAV file are and how they are encoded. */
export interface WavLayout {
  /** Format tag after resolving WAVE_FORMAT_EXTENSIBLE to its subformat. */
  formatTag: number;
  extensible: boolean;
  numChannels: number;
  sampleRateHz: number;
  /** Container bits per sample as stored. */
  bitsPerSample: number;
  encoding: SampleEncoding;
  /** Bytes per frame (all channels). */
  blockAlign: number;
  /** Byte offset of the first sample in the file. */
  dataOffset: number;
  /** Bytes of whole frames available. */
  dataBytes: number;
  numSamples: number;
  /** True when the data chunk carried the streaming sentinel size and was read to end of file. */
  streamed: boolean;
}

/** Random-access byte reader: returns up to `length` bytes at `offset` (fewer at end of file). */
export type ByteReader = (offset: number, length: number) => Uint8Array;

function fourcc(b: Uint8Array, p: number): string {
  return String.fromCharCode(b[p], b[p + 1], b[p + 2], b[p + 3]);
}

function isChunkId(b: Uint8Array, p: number): boolean {
  if (b.length < p + 4) return false;
  for (let i = 0; i < 4; i++) if (b[p + i] < 0x20 || b[p + i] > 0x7e) return false;
  return true;
}

function u16(b: Uint8Array, p: number): number {
  return b[p] | (b[p + 1] << 8);
}

function u32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

function u64(b: Uint8Array, p: number): number {
  return u32(b, p) + u32(b, p + 4) * 4294967296;
}

function hex(b: Uint8Array, n: number): string {
  return Array.from(b.subarray(0, n), (x) => x.toString(16).padStart(2, '0')).join(' ');
}

function printable(b: Uint8Array, p: number, n: number): string {
  return JSON.stringify(String.fromCharCode(...b.subarray(p, p + n)));
}

function formatName(tag: number): string {
  const names: Record<number, string> = {
    [WAVE_FORMAT_PCM]: 'PCM',
    [WAVE_FORMAT_IEEE_FLOAT]: 'IEEE float',
    [WAVE_FORMAT_ALAW]: 'A-law',
    [WAVE_FORMAT_MULAW]: 'mu-law',
    0x0002: 'MS ADPCM',
    0x0011: 'IMA ADPCM',
    0x0055: 'MPEG layer 3',
  };
  return `0x${tag.toString(16).padStart(4, '0')}${names[tag] ? ` (${names[tag]})` : ''}`;
}

/**
 * Walk the RIFF chunks of a WAV file and locate its fmt and data chunks.
 * Only the header bytes are read through `read`; `fileSize` bounds the data chunk.
 */
export function parseWavLayout(read: ByteReader, fileSize: number, file = ''): WavLayout {
  const err = (msg: string, extra: { expected?: string; found?: string } = {}) =>
    new AudioFormatError(msg, { file: file || undefined, ...extra });
  const head = read(0, 12);
  if (head.length < 12)
    throw err('not a WAV file: shorter than a RIFF header', { expected: '>= 12 bytes', found: `${head.length}` });
  const riff = fourcc(head, 0);
  if (riff === 'RIFX')
    throw err('big-endian RIFX WAV is not supported', { expected: "'RIFF' or 'RF64'", found: "'RIFX'" });
  if (riff !== 'RIFF' && riff !== 'RF64')
    throw err('not a WAV file', { expected: "'RIFF' at byte 0", found: printable(head, 0, 4) });
  if (fourcc(head, 8) !== 'WAVE')
    throw err('not a WAV file', { expected: "'WAVE' at byte 8", found: printable(head, 8, 4) });

  let fmt: Uint8Array | null = null;
  let ds64DataSize: number | null = null;
  let off = 12;
  while (off + 8 <= fileSize) {
    const ch = read(off, 8);
    if (ch.length < 8) break;
    const id = fourcc(ch, 0);
    const size = u32(ch, 4);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16) throw err('bad fmt chunk', { expected: '>= 16 bytes', found: `${size}` });
      fmt = read(body, Math.min(size, 40));
      if (fmt.length < 16) throw err('truncated fmt chunk', { expected: `${size} bytes`, found: `${fmt.length}` });
    } else if (id === 'ds64') {
      const d = read(body, 28);
      if (d.length >= 16) ds64DataSize = u64(d, 8);
    } else if (id === 'data') {
      if (!fmt) throw err('data chunk before fmt chunk', { expected: "a 'fmt ' chunk first" });
      return finishLayout(fmt, body, size, ds64DataSize, riff === 'RF64', fileSize, err);
    }
    let next = body + size + (size & 1);
    // Some writers omit the pad byte of an odd-sized chunk: follow the unpadded position when
    // only that one starts like a chunk id.
    if ((size & 1) === 1 && next + 4 <= fileSize && !isChunkId(read(next, 4), 0) && isChunkId(read(next - 1, 4), 0))
      next -= 1;
    if (next <= off) break;
    off = next;
  }
  if (!fmt) throw err("no 'fmt ' chunk", { expected: "a 'fmt ' chunk", found: 'none before end of file' });
  throw err("no 'data' chunk", { expected: "a 'data' chunk", found: 'none before end of file' });
}

function finishLayout(
  fmt: Uint8Array,
  dataOffset: number,
  dataSizeField: number,
  ds64DataSize: number | null,
  isRf64: boolean,
  fileSize: number,
  err: (msg: string, extra?: { expected?: string; found?: string }) => AudioFormatError,
): WavLayout {
  let formatTag = u16(fmt, 0);
  const numChannels = u16(fmt, 2);
  const sampleRateHz = u32(fmt, 4);
  const blockAlign = u16(fmt, 12);
  const bitsPerSample = u16(fmt, 14);
  let extensible = false;
  if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
    if (fmt.length < 40 || u16(fmt, 16) < 22) {
      throw err('bad WAVE_FORMAT_EXTENSIBLE fmt chunk', {
        expected: 'cbSize >= 22 (40-byte fmt)',
        found: `${fmt.length}-byte fmt`,
      });
    }
    extensible = true;
    formatTag = u16(fmt, 24);
    for (let i = 0; i < 14; i++) {
      if (fmt[26 + i] !== KSDATAFORMAT_TAIL[i])
        throw err('unsupported WAVE_FORMAT_EXTENSIBLE subformat GUID', { found: hex(fmt.subarray(24), 16) });
    }
  }
  if (numChannels === 0) throw err('bad fmt chunk: zero channels', { expected: 'numChannels >= 1', found: '0' });
  if (sampleRateHz === 0) throw err('bad fmt chunk: zero sample rate', { expected: 'sampleRateHz >= 1', found: '0' });
  if (blockAlign === 0 || blockAlign % numChannels !== 0) {
    throw err('bad fmt chunk: block align is not a whole number of bytes per channel', {
      expected: `a positive multiple of ${numChannels} channels`,
      found: `${blockAlign}`,
    });
  }
  const bytes = blockAlign / numChannels;
  let encoding: SampleEncoding;
  switch (formatTag) {
    case WAVE_FORMAT_PCM:
      if (bytes < 1 || bytes > 4 || bitsPerSample === 0 || bitsPerSample > bytes * 8) {
        throw err('unsupported PCM sample size', {
          expected: '8, 16, 24 or 32 bits in 1-4 bytes',
          found: `${bitsPerSample} bits in ${bytes} bytes`,
        });
      }
      encoding = { kind: bytes === 1 ? 'uint8' : 'int', bytes, littleEndian: true };
      break;
    case WAVE_FORMAT_IEEE_FLOAT:
      if (!((bytes === 4 && bitsPerSample === 32) || (bytes === 8 && bitsPerSample === 64))) {
        throw err('unsupported float sample size', {
          expected: '32 or 64 bits',
          found: `${bitsPerSample} bits in ${bytes} bytes`,
        });
      }
      encoding = { kind: 'float', bytes, littleEndian: true };
      break;
    case WAVE_FORMAT_MULAW:
    case WAVE_FORMAT_ALAW:
      if (bytes !== 1)
        throw err('unsupported G.711 sample size', {
          expected: '8 bits',
          found: `${bitsPerSample} bits in ${bytes} bytes`,
        });
      encoding = { kind: formatTag === WAVE_FORMAT_MULAW ? 'mulaw' : 'alaw', bytes: 1, littleEndian: true };
      break;
    default:
      throw err('unsupported WAV format tag', {
        expected: 'PCM (1), IEEE float (3), A-law (6), mu-law (7) or extensible',
        found: formatName(formatTag),
      });
  }

  let dataSize = dataSizeField;
  let streamed = false;
  if (isRf64 && dataSizeField === STREAMING_DATA_SIZE && ds64DataSize !== null) {
    dataSize = ds64DataSize;
  } else if (dataSizeField === STREAMING_DATA_SIZE) {
    dataSize = Math.max(0, fileSize - dataOffset);
    streamed = true;
  }
  const available = Math.max(0, fileSize - dataOffset);
  if (dataSize > available) {
    throw err('truncated WAV: data chunk runs past end of file', {
      expected: `${dataSize} data bytes`,
      found: `${available}`,
    });
  }
  const numSamples = Math.floor(dataSize / blockAlign);
  if (numSamples === 0)
    throw err('empty audio (0 samples)', { expected: 'at least one sample', found: `${dataSize} data bytes` });
  return {
    formatTag,
    extensible,
    numChannels,
    sampleRateHz,
    bitsPerSample: encoding.kind === 'mulaw' || encoding.kind === 'alaw' ? 16 : bytes * 8,
    encoding,
    blockAlign,
    dataOffset,
    dataBytes: numSamples * blockAlign,
    numSamples,
    streamed,
  };
}

/** The AudioInfo view of a WAV layout. */
export function wavInfo(layout: WavLayout, path: string): AudioInfo {
  return {
    path,
    format: 'wav',
    sampleRateHz: layout.sampleRateHz,
    numChannels: layout.numChannels,
    numSamples: layout.numSamples,
    durationSec: layout.numSamples / layout.sampleRateHz,
    bitsPerSample: layout.bitsPerSample,
    sampleType: layout.encoding.kind === 'float' ? 'float' : 'int',
  };
}

function bytesReader(bytes: Uint8Array): ByteReader {
  return (offset, length) => bytes.subarray(Math.min(offset, bytes.length), Math.min(offset + length, bytes.length));
}

/** Parse only the header of in-memory WAV bytes. */
export function wavInfoFromBytes(bytes: Uint8Array, file = ''): AudioInfo {
  return wavInfo(parseWavLayout(bytesReader(bytes), bytes.length, file), file);
}

/** Decode a whole WAV file held in memory. `file` is only used in error messages and `path`. */
export function decodeWav(bytes: Uint8Array, file = ''): AudioData {
  const layout = parseWavLayout(bytesReader(bytes), bytes.length, file);
  const all = Array.from({ length: layout.numChannels }, (_, c) => c);
  const channels = decodeInterleaved(
    bytes,
    layout.dataOffset,
    layout.numSamples,
    layout.numChannels,
    layout.encoding,
    all,
  );
  return { ...wavInfo(layout, file), channels };
}

/** Default WAVE_FORMAT_EXTENSIBLE speaker mask: mono = front centre, stereo = FL|FR, else the first n speakers. */
function defaultChannelMask(numChannels: number): number {
  if (numChannels === 1) return 0x4;
  if (numChannels >= 32) return 0;
  return ((1 << numChannels) >>> 0) - 1;
}

/** Normalise the `channels` argument of the encoders to a non-empty array of equal-length channels. */
export function asChannelList(
  channels: readonly Float32Array[] | Float32Array,
  what: string,
  file = '',
): Float32Array[] {
  const list = channels instanceof Float32Array ? [channels] : [...channels];
  if (list.length === 0)
    throw new AudioFormatError(`${what}: no channels to encode`, {
      file: file || undefined,
      expected: '>= 1 channel',
      found: '0',
    });
  const n = list[0].length;
  for (let c = 1; c < list.length; c++) {
    if (list[c].length !== n) {
      throw new AudioFormatError(`${what}: channels differ in length`, {
        file: file || undefined,
        expected: `${n} samples in every channel`,
        found: `${list[c].length} in channel ${c}`,
      });
    }
  }
  return list;
}

/**
 * Encode float32 channels (nominally in [-1, 1)) as a WAV file.
 * Integer output rounds x * 2^(bits-1) to nearest and clips; float output stores the values as is.
 * NaN samples are an error.
 */
export function encodeWav(
  channels: Float32Array[] | Float32Array,
  sampleRateHz: number,
  opts: WavEncodeOptions = {},
): Uint8Array {
  return encodeWavFor(channels, sampleRateHz, opts, '');
}

/** encodeWav, naming `file` (the destination) in its errors. */
export function encodeWavFor(
  channels: Float32Array[] | Float32Array,
  sampleRateHz: number,
  opts: WavEncodeOptions,
  file: string,
): Uint8Array {
  const list = asChannelList(channels, 'encodeWav', file);
  const loc = { file: file || undefined };
  if (!Number.isInteger(sampleRateHz) || sampleRateHz <= 0 || sampleRateHz > 0xffffffff) {
    throw new AudioFormatError('encodeWav: bad sample rate', {
      ...loc,
      expected: 'a positive integer (Hz)',
      found: String(sampleRateHz),
    });
  }
  const float = opts.float ?? false;
  const bits = float ? 32 : (opts.bitsPerSample ?? 16);
  if (![8, 16, 24, 32].includes(bits)) {
    throw new AudioFormatError('encodeWav: unsupported bits per sample', {
      ...loc,
      expected: '8, 16, 24 or 32',
      found: String(bits),
    });
  }
  const extensible = opts.extensible ?? false;
  const numChannels = list.length;
  if (numChannels > 0xffff)
    throw new AudioFormatError('encodeWav: too many channels', {
      ...loc,
      expected: '<= 65535',
      found: String(numChannels),
    });
  const numSamples = list[0].length;
  const bytes = bits / 8;
  const blockAlign = bytes * numChannels;
  const dataBytes = numSamples * blockAlign;
  const fmtSize = extensible ? 40 : float ? 18 : 16;
  const factSize = extensible || float ? 12 : 0;
  const headerBytes = 12 + 8 + fmtSize + factSize + 8;
  const pad = dataBytes & 1;
  const riffSize = headerBytes - 8 + dataBytes + pad;
  if (riffSize > 0xffffffff) {
    throw new AudioFormatError('encodeWav: audio too large for a RIFF file', {
      ...loc,
      expected: '< 4 GiB',
      found: `${riffSize} bytes`,
    });
  }
  const out = new Uint8Array(headerBytes + dataBytes + pad);
  const view = new DataView(out.buffer);
  const ascii = (p: number, s: string) => {
    for (let i = 0; i < 4; i++) out[p + i] = s.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  view.setUint32(4, riffSize, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, fmtSize, true);
  const tag = float ? WAVE_FORMAT_IEEE_FLOAT : WAVE_FORMAT_PCM;
  view.setUint16(20, extensible ? WAVE_FORMAT_EXTENSIBLE : tag, true);
  view.setUint16(22, numChannels, true);
  view.setUint32(24, sampleRateHz, true);
  view.setUint32(28, sampleRateHz * blockAlign, true);
  view.setUint16(32, blockAlign, true);
  view.setUint16(34, bits, true);
  let p = 36;
  if (fmtSize > 16) {
    view.setUint16(36, fmtSize - 18, true); // cbSize
    if (extensible) {
      view.setUint16(38, bits, true); // valid bits per sample
      view.setUint32(40, defaultChannelMask(numChannels), true);
      view.setUint16(44, tag, true);
      out.set(KSDATAFORMAT_TAIL, 46);
    }
    p = 20 + fmtSize;
  }
  if (factSize) {
    ascii(p, 'fact');
    view.setUint32(p + 4, 4, true);
    view.setUint32(p + 8, numSamples >>> 0, true);
    p += 12;
  }
  ascii(p, 'data');
  view.setUint32(p + 4, dataBytes, true);
  p += 8;
  const nanAt = encodeInterleavedLE(list, view, p, bits as 8 | 16 | 24 | 32, float);
  if (nanAt >= 0)
    throw new AudioFormatError('encodeWav: NaN sample', {
      ...loc,
      expected: 'finite samples',
      found: `NaN at sample ${nanAt}`,
    });
  return out;
}
