/**
 * Audio I/O: WAV (read/write), FLAC (read), NIST SPHERE (read; a small writer for fixtures),
 * band-limited resampling. The format of a file is sniffed from its magic bytes, never its name
 * (TIMIT's SPHERE files are called *.WAV).
 *
 * Every failure is an AudioFormatError naming the file: missing, truncated, corrupt, unsupported,
 * empty (0 samples), or a channel / segment that is not in the file.
 */
import { openSync, readSync, fstatSync, closeSync, promises as fsp } from 'node:fs';
import { AudioFormatError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { decodeInterleaved, type SampleEncoding } from './pcm.ts';
import { decodeWav, encodeWavFor, parseWavLayout, wavInfo, type ByteReader, type WavEncodeOptions } from './wav.ts';
import { decodeSphere, isSphere, parseSphereLayout, sphereInfo } from './sphere.ts';
import { decodeFlac, flacInfo, isFlac, parseFlacStreamInfo } from './flac.ts';
import { resample, type ResampleOptions } from './resample.ts';
import type { AudioData, AudioFormat, AudioInfo } from './types.ts';

export type { AudioData, AudioFormat, AudioInfo } from './types.ts';
export { decodeWav, encodeWav, parseWavLayout, type WavEncodeOptions, type WavLayout, type ByteReader } from './wav.ts';
export {
  decodeSphere,
  encodeSphere,
  parseSphereLayout,
  type SphereEncodeOptions,
  type SphereLayout,
} from './sphere.ts';
export { decodeFlac, parseFlacStreamInfo, type FlacStreamInfo } from './flac.ts';
export {
  resample,
  resampleKernel,
  resampledLength,
  RESAMPLE_KAISER_BEST,
  type ResampleOptions,
  type ResampleKernel,
} from './resample.ts';
export { muLawTable256, aLawTable256 } from './pcm.ts';
export { checkSamples, scanSamples, EXTREME_SAMPLE_ABS, type SampleScan } from './check.ts';

/** Options of readAudioChannel. */
export interface ReadAudioChannelOptions {
  /** 0-based channel to read. Default 0. */
  channel?: number;
  /** Segment start in seconds (rounded to the nearest sample). Default 0. */
  startSec?: number;
  /** Segment length in seconds (rounded to the nearest sample). Default: to the end of the audio. */
  durationSec?: number;
  /** Resample the segment to this rate (Hz) when it differs from the file's. Default: the file's rate. */
  targetRateHz?: number;
  /** Resampler settings used with `targetRateHz`. Default: see ResampleOptions. */
  resample?: ResampleOptions;
  /**
   * A segment may end up to this many seconds after the end of the audio (manifest durations are
   * rounded); it is then cut at the end. Beyond that it is an error. Default 0.025 (as lhotse).
   */
  toleranceSec?: number;
}

/** Which container the bytes hold, from their magic bytes. */
export function sniffFormat(head: Uint8Array, file = ''): AudioFormat {
  const tag = head.length >= 4 ? String.fromCharCode(head[0], head[1], head[2], head[3]) : '';
  if (tag === 'RIFF' || tag === 'RF64' || tag === 'RIFX') return 'wav';
  if (isSphere(head)) return 'sphere';
  if (isFlac(head)) return 'flac';
  if (head.length === 0)
    throw new AudioFormatError('empty audio (0 samples): the file is empty', {
      file: file || undefined,
      expected: 'a WAV, FLAC or SPHERE header',
      found: '0 bytes',
    });
  const what =
    tag === 'OggS'
      ? ' (Ogg is not supported)'
      : tag.startsWith('ID3') || (head[0] === 0xff && (head[1] & 0xe0) === 0xe0)
        ? ' (MP3 is not supported)'
        : '';
  throw new AudioFormatError(`unknown audio format${what}`, {
    file: file || undefined,
    expected: "'RIFF'/'RF64' (WAV), 'fLaC' (FLAC) or 'NIST_1A' (SPHERE) magic",
    found: JSON.stringify(String.fromCharCode(...head.subarray(0, 8))),
  });
}

interface OpenFile {
  size: number;
  read: ByteReader;
  close(): void;
}

function openAudioFile(path: string): OpenFile {
  let fd: number;
  let size: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new AudioFormatError(code === 'ENOENT' ? 'audio file not found' : 'cannot open audio file', {
      file: path,
      found: code ?? String(cause),
      cause,
    });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new AudioFormatError('not a regular file', {
        file: path,
        expected: 'an audio file',
        found: st.isDirectory() ? 'a directory' : 'a special file',
      });
    size = st.size;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  const read: ByteReader = (offset, length) => {
    const len = Math.max(0, Math.min(length, size - offset));
    const buf = new Uint8Array(len);
    let got = 0;
    while (got < len) {
      const n = readSync(fd, buf, got, len - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return got === len ? buf : buf.subarray(0, got);
  };
  return { size, read, close: () => closeSync(fd) };
}

async function readWhole(path: string): Promise<Uint8Array> {
  try {
    const buf = await fsp.readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const msg =
      code === 'ENOENT' ? 'audio file not found' : code === 'EISDIR' ? 'not a regular file' : 'cannot read audio file';
    throw new AudioFormatError(msg, { file: path, found: code ?? String(cause), cause });
  }
}

/** Read only the header of an audio file (WAV, FLAC or SPHERE, sniffed by magic bytes). */
export async function audioInfo(path: string): Promise<AudioInfo> {
  const f = openAudioFile(path);
  try {
    const format = sniffFormat(f.read(0, 16), path);
    if (format === 'wav') return wavInfo(parseWavLayout(f.read, f.size, path), path);
    if (format === 'sphere') return sphereInfo(parseSphereLayout(f.read, f.size, path), path);
    const si = parseFlacStreamInfo(f.read, f.size, path);
    if (si.totalSamples > 0) return flacInfo(si, path);
  } finally {
    f.close();
  }
  // A FLAC whose STREAMINFO leaves the length open (streamed encoder): count by decoding.
  const { channels: _channels, ...info } = await readAudio(path);
  return info;
}

/** Decode audio held in memory, format sniffed by magic bytes. `file` names it in errors. */
export async function decodeAudio(bytes: Uint8Array, file = ''): Promise<AudioData> {
  const format = sniffFormat(bytes.subarray(0, 16), file);
  if (format === 'wav') return decodeWav(bytes, file);
  if (format === 'flac') return decodeFlac(bytes, file);
  return decodeSphere(bytes, file);
}

/** Read and decode every channel of an audio file. */
export async function readAudio(path: string): Promise<AudioData> {
  return decodeAudio(await readWhole(path), path);
}

/** Sample range [start, start + count) of a segment, validated against the audio length. */
function segmentRange(
  path: string,
  numSamples: number,
  sampleRateHz: number,
  opts: ReadAudioChannelOptions,
): { start: number; count: number } {
  const startSec = opts.startSec ?? 0;
  const err = (msg: string, expected: string, found: string) =>
    new AudioFormatError(msg, { file: path, expected, found });
  if (!(startSec >= 0) || !Number.isFinite(startSec)) throw err('bad segment start', 'startSec >= 0', String(startSec));
  const start = Math.round(startSec * sampleRateHz);
  const lengthSec = numSamples / sampleRateHz;
  if (start >= numSamples)
    throw err('segment starts after the end of the audio', `startSec < ${lengthSec}`, String(startSec));
  if (opts.durationSec === undefined) return { start, count: numSamples - start };
  if (!(opts.durationSec > 0) || !Number.isFinite(opts.durationSec))
    throw err('bad segment duration', 'durationSec > 0', String(opts.durationSec));
  let count = Math.round(opts.durationSec * sampleRateHz);
  if (count === 0) count = 1;
  const over = start + count - numSamples;
  if (over > 0) {
    const tolSamples = Math.round((opts.toleranceSec ?? 0.025) * sampleRateHz);
    if (over > tolSamples) {
      throw err(
        'segment ends after the end of the audio',
        `startSec + durationSec <= ${lengthSec}`,
        `${startSec} + ${opts.durationSec} = ${startSec + opts.durationSec}`,
      );
    }
    count = numSamples - start;
  }
  return { start, count };
}

function checkChannel(path: string, channel: number, numChannels: number): void {
  if (!Number.isInteger(channel) || channel < 0 || channel >= numChannels) {
    throw new AudioFormatError('channel out of range', {
      file: path,
      expected: `channel 0..${numChannels - 1}`,
      found: String(channel),
    });
  }
}

/**
 * Read one channel (optionally a segment of it, optionally resampled) of an audio file.
 * WAV and SPHERE read only the bytes of the segment; FLAC is decoded whole.
 */
export async function readAudioChannel(
  path: string,
  opts: ReadAudioChannelOptions = {},
): Promise<{ sampleRateHz: number; samples: Float32Array }> {
  const channel = opts.channel ?? 0;
  const seg = (await readSegment(path, channel, opts)) ?? (await readFlacSegment(path, channel, opts));
  if (opts.targetRateHz === undefined || opts.targetRateHz === seg.sampleRateHz) return seg;
  return {
    sampleRateHz: opts.targetRateHz,
    samples: resample(seg.samples, seg.sampleRateHz, opts.targetRateHz, opts.resample),
  };
}

/** WAV / SPHERE: read only the bytes of the segment. Returns null for FLAC. */
async function readSegment(
  path: string,
  channel: number,
  opts: ReadAudioChannelOptions,
): Promise<{ sampleRateHz: number; samples: Float32Array } | null> {
  const f = openAudioFile(path);
  try {
    const format = sniffFormat(f.read(0, 16), path);
    if (format === 'flac') return null;
    const layout: {
      numChannels: number;
      sampleRateHz: number;
      numSamples: number;
      dataOffset: number;
      blockAlign: number;
      encoding: SampleEncoding;
    } = format === 'wav' ? parseWavLayout(f.read, f.size, path) : parseSphereLayout(f.read, f.size, path);
    checkChannel(path, channel, layout.numChannels);
    const { start, count } = segmentRange(path, layout.numSamples, layout.sampleRateHz, opts);
    const bytes = f.read(layout.dataOffset + start * layout.blockAlign, count * layout.blockAlign);
    if (bytes.length < count * layout.blockAlign) {
      throw new AudioFormatError('truncated audio: file shrank while reading', {
        file: path,
        expected: `${count * layout.blockAlign} bytes`,
        found: `${bytes.length}`,
      });
    }
    const samples = decodeInterleaved(bytes, 0, count, layout.numChannels, layout.encoding, [channel])[0];
    return { sampleRateHz: layout.sampleRateHz, samples };
  } finally {
    f.close();
  }
}

/** FLAC: decode the whole file, then cut the segment. */
async function readFlacSegment(
  path: string,
  channel: number,
  opts: ReadAudioChannelOptions,
): Promise<{ sampleRateHz: number; samples: Float32Array }> {
  const data = await readAudio(path);
  checkChannel(path, channel, data.numChannels);
  const { start, count } = segmentRange(path, data.numSamples, data.sampleRateHz, opts);
  const ch = data.channels[channel];
  return {
    sampleRateHz: data.sampleRateHz,
    samples: start === 0 && count === ch.length ? ch : ch.slice(start, start + count),
  };
}

/** Encode and write a WAV file atomically (temp file + rename). Options as encodeWav. */
export async function writeWav(
  path: string,
  channels: Float32Array[] | Float32Array,
  sampleRateHz: number,
  opts: WavEncodeOptions = {},
): Promise<void> {
  await writeFileAtomic(path, encodeWavFor(channels, sampleRateHz, opts, path));
}
