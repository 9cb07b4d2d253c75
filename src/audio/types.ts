/** Audio container formats recognised by their magic bytes. */
export type AudioFormat = 'wav' | 'flac' | 'sphere';

/** What a header says about a recording (no samples decoded). */
export interface AudioInfo {
  /** The file the information came from ('' for in-memory bytes). */
  path: string;
  format: AudioFormat;
  sampleRateHz: number;
  numChannels: number;
  /** Samples per channel. */
  numSamples: number;
  /** numSamples / sampleRateHz. */
  durationSec: number;
  /** Bits per stored sample (container size for WAV; 16 for 8-bit mu-law/A-law, which decode to 16-bit). */
  bitsPerSample: number;
  sampleType: 'int' | 'float';
}

/**
 * Decoded audio: one Float32Array per channel. Integer sources are scaled to [-1, 1)
 * (int16 value / 32768, int8 / 128, int24 / 2^23, int32 / 2^31); float sources are kept as stored.
 */
export interface AudioData extends AudioInfo {
  channels: Float32Array[];
}
