/**
 * HTK feature files (HCopy output): a 12-byte big-endian header
 *   nSamples int32, sampPeriod int32 (100 ns units), sampSize int16 (bytes per frame), parmKind int16
 * followed by nSamples frames of big-endian float32 (compressed `_C` files are not supported).
 */
import { readFile } from 'node:fs/promises';
import { FormatError } from '../util/errors.ts';
import type { FeatureMatrix } from './matrix.ts';

const BASE_KINDS = [
  'WAVEFORM',
  'LPC',
  'LPREFC',
  'LPCEPSTRA',
  'LPDELCEP',
  'IREFC',
  'MFCC',
  'FBANK',
  'MELSPEC',
  'USER',
  'DISCRETE',
  'PLP',
];
const QUALIFIERS: [number, string][] = [
  [0o100, 'E'],
  [0o200, 'N'],
  [0o400, 'D'],
  [0o1000, 'A'],
  [0o2000, 'C'],
  [0o4000, 'Z'],
  [0o10000, 'K'],
  [0o20000, '0'],
  [0o40000, 'V'],
  [0o100000, 'T'],
];
const HTK_COMPRESSED = 0o2000;
const HTK_CRC = 0o10000;

export interface HtkFeatures extends FeatureMatrix {
  /** Frame period in seconds (sampPeriod * 100 ns). */
  framePeriodSec: number;
  /** Raw parmKind code. */
  parmKind: number;
  /** Readable kind, e.g. "MFCC_D_A_0", "FBANK". */
  parmKindName: string;
}

/** "MFCC_D_A_0" from a parmKind code. */
export function htkParmKindName(parmKind: number): string {
  const base = BASE_KINDS[parmKind & 0o77] ?? `KIND${parmKind & 0o77}`;
  return [base, ...QUALIFIERS.filter(([bit]) => (parmKind & bit) !== 0).map(([, q]) => q)].join('_');
}

/** Parse HTK feature bytes; `file` is named in errors. */
export function parseHtkFeatures(bytes: Uint8Array, file = '<htk>'): HtkFeatures {
  if (bytes.length < 12) {
    throw new FormatError('truncated HTK header', {
      file,
      expected: '12 header bytes',
      found: `${bytes.length} bytes`,
    });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nSamples = view.getInt32(0, false);
  const sampPeriod = view.getInt32(4, false);
  const sampSize = view.getInt16(8, false);
  const parmKind = view.getUint16(10, false);
  const name = htkParmKindName(parmKind);
  if (nSamples < 0 || sampPeriod <= 0 || sampSize <= 0) {
    throw new FormatError('implausible HTK header (is the file big-endian HTK?)', {
      file,
      expected: 'nSamples >= 0, sampPeriod > 0, sampSize > 0',
      found: `nSamples ${nSamples}, sampPeriod ${sampPeriod}, sampSize ${sampSize}`,
    });
  }
  if (parmKind & HTK_COMPRESSED) {
    throw new FormatError('compressed HTK features are not supported', {
      file,
      expected: 'uncompressed float32 frames',
      found: name,
    });
  }
  if (sampSize % 4 !== 0) {
    throw new FormatError('HTK frame size is not a whole number of float32 values', {
      file,
      expected: 'sampSize divisible by 4',
      found: String(sampSize),
    });
  }
  const dim = sampSize / 4;
  const bodyBytes = nSamples * sampSize;
  const trailer = parmKind & HTK_CRC ? 2 : 0;
  if (bytes.length !== 12 + bodyBytes + trailer) {
    throw new FormatError('HTK file size does not match its header', {
      file,
      expected: `${12 + bodyBytes + trailer} bytes (${nSamples} frames x ${sampSize} bytes${trailer ? ' + CRC' : ''})`,
      found: `${bytes.length} bytes`,
    });
  }
  const data = new Float32Array(nSamples * dim);
  for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(12 + 4 * i, false);
  return { numFrames: nSamples, dim, data, framePeriodSec: sampPeriod * 1e-7, parmKind, parmKindName: name };
}

export async function readHtkFeatures(path: string): Promise<HtkFeatures> {
  return parseHtkFeatures(await readFile(path), path);
}

/** HTK bytes of a feature matrix (for round trips and handing features to HTK tools). */
export function encodeHtkFeatures(m: FeatureMatrix, framePeriodSec: number, parmKind: number): Uint8Array {
  const bytes = new Uint8Array(12 + m.data.length * 4);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, m.numFrames, false);
  view.setInt32(4, Math.round(framePeriodSec * 1e7), false);
  view.setInt16(8, m.dim * 4, false);
  view.setUint16(10, parmKind, false);
  for (let i = 0; i < m.data.length; i++) view.setFloat32(12 + 4 * i, m.data[i], false);
  return bytes;
}
