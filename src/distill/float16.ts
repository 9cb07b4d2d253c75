/**
 * IEEE 754 binary16 ("half", Arrow Float16) conversion for stored probabilities.
 *
 * arrow-js 21 stores Float16 columns as raw Uint16Array bits and converts with
 * `util.float64ToUint16`, which rounds the mantissa half-up and mishandles part of the subnormal
 * range; we encode ourselves with round-to-nearest-even directly from float64 (no double
 * rounding through float32), so the bits equal numpy's `np.float16(x)` and pyarrow's.
 * Decoding is exact (every half is a float32) through a 64 K-entry table.
 */

const TWO_POW_24 = 16777216; // 2^24: one subnormal half step is 2^-24
const MIN_NORMAL = 6.103515625e-5; // 2^-14
/** Halves round up to +-Infinity from here (65504 + half an ulp of 32). */
const OVERFLOW = 65520;

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Bits of the half nearest to `x` (ties to even); NaN -> 0x7e00, overflow -> +-Infinity. */
export function float16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= OVERFLOW) return sign | 0x7c00;
  if (a < MIN_NORMAL) {
    // Subnormal (or zero): value = m * 2^-24, m in [0, 1024]; m = 1024 is the smallest normal (0x0400).
    return sign | roundHalfEven(a * TWO_POW_24);
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  // a / 2^e is exact in float64; the mantissa rounding may carry into the exponent (m = 1024).
  const m = roundHalfEven((a / 2 ** e - 1) * 1024);
  return sign | (((e + 15) << 10) + m);
}

let table: Float32Array | null = null;

/** The value of a half given its bits (exact). */
export function float16Value(bits: number): number {
  const expo = (bits >> 10) & 0x1f;
  const mant = bits & 0x3ff;
  const sign = bits & 0x8000 ? -1 : 1;
  if (expo === 0x1f) return mant ? Number.NaN : sign * Infinity;
  if (expo === 0) return sign * mant * 2 ** -24;
  return sign * 2 ** (expo - 15) * (1 + mant / 1024);
}

function decodeTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let b = 0; b < 65536; b++) table[b] = float16Value(b);
  }
  return table;
}

/** Encode values as half bits (round to nearest, ties to even). */
export function encodeFloat16(values: ArrayLike<number>, out = new Uint16Array(values.length)): Uint16Array {
  for (let i = 0; i < values.length; i++) out[i] = float16Bits(values[i]);
  return out;
}

/** Decode half bits to float32. */
export function decodeFloat16(
  bits: Uint16Array,
  out: Float32Array<ArrayBufferLike> = new Float32Array(bits.length),
): Float32Array<ArrayBufferLike> {
  const t = decodeTable();
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  return out;
}

/** Largest relative rounding error of a normal half: 2^-11. */
export const FLOAT16_RELATIVE_PRECISION = 2 ** -11;
