/**
 * Floored natural log of a block of doubles (Kaldi's log(max(x, FLT_EPSILON)) of the mel
 * energies), about twice as fast as Math.log in V8 and within 1e-13 of it (an ulp or two of the
 * result), so float32 results equal Math.log's except at rare rounding ties (one float32 ulp).
 *
 * v = 2^e m, m in [1, 2): the exponent field indexes a table of e ln 2 and 2^-e; the top 8
 * mantissa bits pick c = 1 + (j + 1/2) / 256 with tabulated 1 / c and ln c, and
 * ln v = e ln 2 + ln c + ln(1 + r), r = m / c - 1, |r| < 1/512, from a 5-term series
 * (truncation error |r|^6 / 6 < 1e-17). No division, only predictable branches, and the
 * exponent is read through a Uint32Array view of the caller's Float64Array (no store-forwarding
 * stall, which a scratch Float64Array / Uint32Array pair per value would cause).
 */

const MANT_BITS = 8;
const MANT_SIZE = 1 << MANT_BITS;
/** (e - 1023) ln 2 and 2^(1023 - e) for every biased exponent e. */
const EXP_LOG = new Float64Array(2048);
const EXP_INV = new Float64Array(2048);
for (let e = 1; e < 2047; e++) {
  EXP_LOG[e] = (e - 1023) * Math.LN2;
  EXP_INV[e] = Math.pow(2, 1023 - e);
}
const MANT_INV = new Float64Array(MANT_SIZE);
const MANT_LOG = new Float64Array(MANT_SIZE);
for (let j = 0; j < MANT_SIZE; j++) {
  const c = 1 + (j + 0.5) / MANT_SIZE;
  MANT_INV[j] = 1 / c;
  MANT_LOG[j] = Math.log(c);
}

/**
 * A Float64Array with a Uint32Array view of the same memory, the input of `logFlooredInto`
 * (word 2i + 1 is the high word of element i on little-endian platforms; on big-endian ones
 * `logFlooredInto` falls back to Math.log).
 */
export class LogBuffer {
  readonly values: Float64Array;
  readonly words: Uint32Array;
  constructor(length: number) {
    this.values = new Float64Array(length);
    this.words = new Uint32Array(this.values.buffer);
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * out[offset + i] = ln(v > floor ? v : floor) with v = buf.values[i], for i < n: Kaldi's floored
 * log (NaN becomes the floor, as in Kaldi's and the plain code's comparison). `floor` must be a
 * positive normal number (e.g. FLT_EPSILON); +Infinity takes Math.log.
 */
export function logFlooredInto(
  buf: LogBuffer,
  n: number,
  floor: number,
  out: Float32Array | Float64Array,
  offset: number,
): void {
  if (!(floor >= 2.2250738585072014e-308 && floor < Infinity))
    throw new RangeError(`logFlooredInto: floor must be a positive normal number, got ${floor}`);
  const x = buf.values;
  const logFloor = Math.log(floor);
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < n; i++) out[offset + i] = x[i] > floor ? Math.log(x[i]) : logFloor;
    return;
  }
  const w = buf.words;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    if (!(v > floor)) {
      out[offset + i] = logFloor;
      continue;
    }
    const hi = w[2 * i + 1];
    const e = hi >>> 20;
    if (e >= 2047) {
      out[offset + i] = Math.log(v);
      continue;
    }
    const j = (hi >>> (20 - MANT_BITS)) & (MANT_SIZE - 1);
    const r = v * EXP_INV[e] * MANT_INV[j] - 1;
    out[offset + i] = EXP_LOG[e] + MANT_LOG[j] + r * (1 - r * (0.5 - r * (1 / 3 - r * (0.25 - r * 0.2))));
  }
}
