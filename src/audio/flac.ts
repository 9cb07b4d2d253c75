/**
 * FLAC (LibriSpeech) through @wasm-audio-decoders/flac (libFLAC compiled to wasm).
 * The header (STREAMINFO) is parsed here, so audioInfo needs no decoding, and the decoded sample
 * count is checked against STREAMINFO: a truncated file is an error, not silently shorter audio.
 */
import { AudioFormatError } from '../util/errors.ts';
import type { ByteReader } from './wav.ts';
import type { AudioData, AudioInfo } from './types.ts';

/** The fields of a FLAC STREAMINFO block. */
export interface FlacStreamInfo {
  sampleRateHz: number;
  numChannels: number;
  bitsPerSample: number;
  /** Samples per channel; 0 means "unknown" in FLAC (streamed encoders). */
  totalSamples: number;
  /** Byte offset of the "fLaC" marker (after any ID3v2 tag). */
  markerOffset: number;
}

/** Length of an ID3v2 tag at the start of `head` (0 if none). */
function id3Length(head: Uint8Array): number {
  if (head.length < 10 || head[0] !== 0x49 || head[1] !== 0x44 || head[2] !== 0x33) return 0;
  const size = ((head[6] & 0x7f) << 21) | ((head[7] & 0x7f) << 14) | ((head[8] & 0x7f) << 7) | (head[9] & 0x7f);
  return 10 + size + (head[5] & 0x10 ? 10 : 0);
}

/** True when the bytes look like FLAC (optionally behind an ID3v2 tag). */
export function isFlac(head: Uint8Array): boolean {
  if (head.length >= 4 && head[0] === 0x66 && head[1] === 0x4c && head[2] === 0x61 && head[3] === 0x43) return true;
  return id3Length(head) > 0;
}

/** Parse the STREAMINFO block that must follow the "fLaC" marker. */
export function parseFlacStreamInfo(read: ByteReader, fileSize: number, file = ''): FlacStreamInfo {
  const err = (msg: string, extra: { expected?: string; found?: string } = {}) =>
    new AudioFormatError(msg, { file: file || undefined, ...extra });
  const markerOffset = id3Length(read(0, 10));
  const b = read(markerOffset, 4 + 4 + 34);
  if (b.length < 4 || b[0] !== 0x66 || b[1] !== 0x4c || b[2] !== 0x61 || b[3] !== 0x43) {
    throw err('not a FLAC file', {
      expected: `'fLaC' at byte ${markerOffset}`,
      found: b.length < 4 ? 'end of file' : JSON.stringify(String.fromCharCode(...b.subarray(0, 4))),
    });
  }
  if (b.length < 42)
    throw err('truncated FLAC file: no complete STREAMINFO block', {
      expected: `${markerOffset + 42} bytes`,
      found: `${fileSize}`,
    });
  const type = b[4] & 0x7f;
  const len = (b[5] << 16) | (b[6] << 8) | b[7];
  if (type !== 0 || len < 34)
    throw err('corrupt FLAC file: first metadata block is not STREAMINFO', {
      expected: 'type 0, length 34',
      found: `type ${type}, length ${len}`,
    });
  const s = 8;
  const sampleRateHz = (b[s + 10] << 12) | (b[s + 11] << 4) | (b[s + 12] >> 4);
  const numChannels = ((b[s + 12] >> 1) & 0x7) + 1;
  const bitsPerSample = (((b[s + 12] & 1) << 4) | (b[s + 13] >> 4)) + 1;
  const totalSamples =
    (b[s + 13] & 0x0f) * 4294967296 + (((b[s + 14] << 24) | (b[s + 15] << 16) | (b[s + 16] << 8) | b[s + 17]) >>> 0);
  if (sampleRateHz === 0)
    throw err('corrupt FLAC STREAMINFO: sample rate 0', { expected: 'sample rate > 0', found: '0' });
  return { sampleRateHz, numChannels, bitsPerSample, totalSamples, markerOffset };
}

export function flacInfo(si: FlacStreamInfo, path: string, numSamples = si.totalSamples): AudioInfo {
  return {
    path,
    format: 'flac',
    sampleRateHz: si.sampleRateHz,
    numChannels: si.numChannels,
    numSamples,
    durationSec: numSamples / si.sampleRateHz,
    bitsPerSample: si.bitsPerSample,
    sampleType: 'int',
  };
}

interface WasmFlacDecoder {
  ready: Promise<void>;
  decodeFile(data: Uint8Array): Promise<{
    channelData: Float32Array[];
    samplesDecoded: number;
    sampleRate: number;
    bitDepth: number;
    errors: { message: string; frameNumber?: number; inputBytes?: number }[];
  }>;
  free(): void;
}

// One decoder instance, used by one decode at a time (decodeFile resets it when done).
let decoderPromise: Promise<WasmFlacDecoder> | null = null;
let queue: Promise<unknown> = Promise.resolve();

async function getDecoder(): Promise<WasmFlacDecoder> {
  if (!decoderPromise) {
    decoderPromise = (async () => {
      const mod = (await import('@wasm-audio-decoders/flac')) as unknown as { FLACDecoder: new () => WasmFlacDecoder };
      const d = new mod.FLACDecoder();
      await d.ready;
      return d;
    })();
    decoderPromise.catch(() => {
      decoderPromise = null;
    });
  }
  return decoderPromise;
}

/**
 * Start `decodeFile` with console.error silenced: the wasm decoder prints its errors, which we
 * return typed instead. decodeFile decodes synchronously before its first await, so only that
 * part is silenced and no other code's messages are swallowed.
 */
function decodeQuietly(dec: WasmFlacDecoder, data: Uint8Array): ReturnType<WasmFlacDecoder['decodeFile']> {
  const orig = console.error;
  console.error = () => {};
  try {
    return dec.decodeFile(data);
  } finally {
    console.error = orig;
  }
}

/** Decode a whole FLAC file held in memory. */
export async function decodeFlac(bytes: Uint8Array, file = ''): Promise<AudioData> {
  const reader: ByteReader = (o, n) => bytes.subarray(Math.min(o, bytes.length), Math.min(o + n, bytes.length));
  const si = parseFlacStreamInfo(reader, bytes.length, file);
  const err = (msg: string, extra: { expected?: string; found?: string; cause?: unknown } = {}) =>
    new AudioFormatError(msg, { file: file || undefined, ...extra });
  if (si.totalSamples === 0 && bytes.length <= si.markerOffset + 42)
    throw err('empty audio (0 samples)', { expected: 'at least one sample', found: 'no audio frames' });
  const run = queue.then(async () => {
    const dec = await getDecoder();
    return decodeQuietly(dec, bytes.subarray(si.markerOffset));
  });
  queue = run.catch(() => undefined);
  let decoded;
  try {
    decoded = await run;
  } catch (cause) {
    throw err('corrupt FLAC file: decoder failed', { found: String((cause as Error)?.message ?? cause), cause });
  }
  if (decoded.errors.length > 0) {
    const e = decoded.errors[0];
    throw err('corrupt FLAC file', {
      found: `${decoded.errors.length} decoder error(s), first: ${e.message}${e.frameNumber !== undefined ? ` at frame ${e.frameNumber}` : ''}`,
    });
  }
  const n = decoded.samplesDecoded;
  if (si.totalSamples > 0 && n < si.totalSamples) {
    throw err('truncated or corrupt FLAC file: decoded fewer samples than STREAMINFO', {
      expected: `${si.totalSamples} samples`,
      found: `${n}`,
    });
  }
  if (n === 0) throw err('empty audio (0 samples)', { expected: 'at least one sample', found: '0 decoded samples' });
  if (decoded.channelData.length !== si.numChannels) {
    throw err('corrupt FLAC file: channel count differs from STREAMINFO', {
      expected: `${si.numChannels}`,
      found: `${decoded.channelData.length}`,
    });
  }
  const numSamples = si.totalSamples > 0 ? si.totalSamples : n;
  // The wasm decoder scales integers by 1 / (2^(bits-1) - 1); undo that exactly (the float32 error
  // is below 0.25 of an integer step up to 24 bits) and rescale by 1 / 2^(bits-1) like WAV, so the
  // same int16 samples give the same floats in every format. Copies out of the decoder's buffers.
  const bits = si.bitsPerSample;
  const up = 2 ** (bits - 1) - 1;
  const down = 1 / 2 ** (bits - 1);
  const channels = decoded.channelData.map((c) => {
    const out = new Float32Array(numSamples);
    for (let i = 0; i < numSamples; i++) out[i] = Math.round(c[i] * up) * down;
    return out;
  });
  return { ...flacInfo(si, file, numSamples), channels };
}
