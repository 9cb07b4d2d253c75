/**
 * Sample codecs shared by the WAV and SPHERE readers: interleaved integer / float / G.711 bytes
 * to planar float32, and float32 back to interleaved integers (round to nearest, clipped).
 * Plain typed-array loops over a DataView: no per-sample allocation.
 */

/** How one stored sample is encoded. */
export interface SampleEncoding {
  /** 'uint8': unsigned 8-bit PCM (WAV), 'int': signed two's complement, 'float': IEEE, 'mulaw'/'alaw': G.711. */
  kind: 'uint8' | 'int' | 'float' | 'mulaw' | 'alaw';
  /** Bytes per stored sample: 1 (uint8, mulaw, alaw), 1-4 (int), 4 or 8 (float). */
  bytes: number;
  littleEndian: boolean;
}

let muLawTable: Float32Array | null = null;
let aLawTable: Float32Array | null = null;

/** G.711 mu-law byte -> 16-bit linear value / 32768 (ITU-T G.711, as in sox and sph2pipe). */
export function muLawTable256(): Float32Array {
  if (muLawTable) return muLawTable;
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) {
    const u = ~b & 0xff;
    const exponent = (u >> 4) & 7;
    const mantissa = u & 0x0f;
    const mag = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    t[b] = (u & 0x80 && mag !== 0 ? -mag : mag) / 32768;
  }
  return (muLawTable = t);
}

/** G.711 A-law byte -> 16-bit linear value / 32768. */
export function aLawTable256(): Float32Array {
  if (aLawTable) return aLawTable;
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) {
    const a = b ^ 0x55;
    const exponent = (a >> 4) & 7;
    const mantissa = a & 0x0f;
    const mag = exponent === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
    t[b] = (a & 0x80 ? mag : -mag) / 32768;
  }
  return (aLawTable = t);
}

/**
 * Decode `numFrames` interleaved frames of `numChannels` samples starting at `bytes[offset]`
 * into one Float32Array per requested channel (in the order of `channelIdx`).
 */
export function decodeInterleaved(
  bytes: Uint8Array,
  offset: number,
  numFrames: number,
  numChannels: number,
  enc: SampleEncoding,
  channelIdx: readonly number[],
): Float32Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frameBytes = enc.bytes * numChannels;
  const out: Float32Array[] = [];
  const le = enc.littleEndian;
  for (const c of channelIdx) {
    const dst = new Float32Array(numFrames);
    let p = offset + c * enc.bytes;
    switch (enc.kind) {
      case 'uint8':
        for (let i = 0; i < numFrames; i++, p += frameBytes) dst[i] = (bytes[p] - 128) / 128;
        break;
      case 'mulaw':
      case 'alaw': {
        const table = enc.kind === 'mulaw' ? muLawTable256() : aLawTable256();
        for (let i = 0; i < numFrames; i++, p += frameBytes) dst[i] = table[bytes[p]];
        break;
      }
      case 'float':
        if (enc.bytes === 4) for (let i = 0; i < numFrames; i++, p += frameBytes) dst[i] = view.getFloat32(p, le);
        else for (let i = 0; i < numFrames; i++, p += frameBytes) dst[i] = view.getFloat64(p, le);
        break;
      case 'int':
        switch (enc.bytes) {
          case 1:
            for (let i = 0; i < numFrames; i++, p += frameBytes) dst[i] = view.getInt8(p) / 128;
            break;
          case 2:
            for (let i = 0; i < numFrames; i++, p += frameBytes) dst[i] = view.getInt16(p, le) / 32768;
            break;
          case 3:
            if (le) {
              for (let i = 0; i < numFrames; i++, p += frameBytes) {
                dst[i] = (bytes[p] | (bytes[p + 1] << 8) | ((bytes[p + 2] << 24) >> 8)) / 8388608;
              }
            } else {
              for (let i = 0; i < numFrames; i++, p += frameBytes) {
                dst[i] = (bytes[p + 2] | (bytes[p + 1] << 8) | ((bytes[p] << 24) >> 8)) / 8388608;
              }
            }
            break;
          case 4:
            for (let i = 0; i < numFrames; i++, p += frameBytes) dst[i] = view.getInt32(p, le) / 2147483648;
            break;
          default:
            throw new RangeError(`decodeInterleaved: unsupported integer sample size ${enc.bytes}`);
        }
        break;
    }
    out.push(dst);
  }
  return out;
}

/**
 * Encode planar float32 channels as interleaved little-endian samples into `view` at `offset`.
 * Integers: round(x * 2^(bits-1)) to nearest (halves away from zero), clipped to the integer range;
 * 8-bit is unsigned (offset 128). Returns the index of the first NaN sample, or -1.
 */
export function encodeInterleavedLE(
  channels: readonly Float32Array[],
  view: DataView,
  offset: number,
  bitsPerSample: 8 | 16 | 24 | 32,
  float: boolean,
): number {
  const numChannels = channels.length;
  const n = numChannels > 0 ? channels[0].length : 0;
  const bytes = float ? 4 : bitsPerSample / 8;
  const frameBytes = bytes * numChannels;
  for (let c = 0; c < numChannels; c++) {
    const src = channels[c];
    let p = offset + c * bytes;
    if (float) {
      for (let i = 0; i < n; i++, p += frameBytes) {
        const x = src[i];
        if (x !== x) return i;
        view.setFloat32(p, x, true);
      }
      continue;
    }
    switch (bitsPerSample) {
      case 8:
        for (let i = 0; i < n; i++, p += frameBytes) {
          const x = src[i];
          if (x !== x) return i;
          let v = roundHalfAway(x * 128);
          v = v > 127 ? 127 : v < -128 ? -128 : v;
          view.setUint8(p, v + 128);
        }
        break;
      case 16:
        for (let i = 0; i < n; i++, p += frameBytes) {
          const x = src[i];
          if (x !== x) return i;
          let v = roundHalfAway(x * 32768);
          v = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
          view.setInt16(p, v, true);
        }
        break;
      case 24:
        for (let i = 0; i < n; i++, p += frameBytes) {
          const x = src[i];
          if (x !== x) return i;
          let v = roundHalfAway(x * 8388608);
          v = v > 8388607 ? 8388607 : v < -8388608 ? -8388608 : v;
          view.setUint8(p, v & 0xff);
          view.setUint8(p + 1, (v >> 8) & 0xff);
          view.setUint8(p + 2, (v >> 16) & 0xff);
        }
        break;
      case 32:
        for (let i = 0; i < n; i++, p += frameBytes) {
          const x = src[i];
          if (x !== x) return i;
          let v = roundHalfAway(x * 2147483648);
          v = v > 2147483647 ? 2147483647 : v < -2147483648 ? -2147483648 : v;
          view.setInt32(p, v, true);
        }
        break;
    }
  }
  return -1;
}

/** Round to nearest, halves away from zero (symmetric for positive and negative samples). */
function roundHalfAway(x: number): number {
  return x >= 0 ? Math.floor(x + 0.5) : -Math.floor(0.5 - x);
}
