import { describe, it, expect } from 'vitest';
import { util } from 'apache-arrow';
import { decodeFloat16, encodeFloat16, float16Bits, float16Value } from '../../src/distill/float16.ts';
import { Rng } from '../../src/util/rng.ts';

describe('float16 (Arrow Float16 bits)', () => {
  it('round-trips every finite half and both infinities bit-exactly, and decodes as arrow-js does', () => {
    const bad: string[] = [];
    let nans = 0;
    for (let b = 0; b < 65536; b++) {
      const v = float16Value(b);
      if (Number.isNaN(v)) {
        if ((b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0) nans++;
        else bad.push(`${b}: NaN`);
        continue;
      }
      if (float16Bits(v) !== b) bad.push(`${b}: encodes back to ${float16Bits(v)}`);
      if (v !== util.uint16ToFloat64(b)) bad.push(`${b}: ${v} vs arrow-js ${util.uint16ToFloat64(b)}`);
    }
    expect(bad).toEqual([]);
    expect(nans).toBe(2 * 1023);
    expect(Array.from(decodeFloat16(Uint16Array.of(0x7c00, 0xfc00, 0x8000)))).toEqual([Infinity, -Infinity, -0]);
  });

  it('rounds to the nearest half, ties to even, from float64 without double rounding', () => {
    expect(float16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and 1 + 2^-10: even (1)
    expect(float16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway between 1 + 2^-10 and 1 + 2^-9: even
    expect(float16Bits(1 + 2 ** -11 + 2 ** -40)).toBe(0x3c01); // just above halfway
    expect(float16Bits(2 ** -25)).toBe(0); // half the smallest subnormal: even (0)
    expect(float16Bits(3 * 2 ** -25)).toBe(2); // 1.5 subnormal steps: even (2)
    expect(float16Bits(65504)).toBe(0x7bff);
    expect(float16Bits(65519.99)).toBe(0x7bff);
    expect(float16Bits(65520)).toBe(0x7c00);
    expect(float16Bits(-0)).toBe(0x8000);
    expect(float16Bits(Number.NaN)).toBe(0x7e00);
    // Random doubles in the probability range: the chosen half is at least as close as its neighbours.
    const rng = new Rng(5);
    const bad: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const x = Math.exp(-25 * rng.next());
      const b = float16Bits(x);
      const d = Math.abs(float16Value(b) - x);
      if (
        d > Math.abs(float16Value(b + 1) - x) ||
        (b > 0 && d > Math.abs(float16Value(b - 1) - x)) ||
        (x >= 2 ** -14 && d / x > 2 ** -11)
      )
        bad.push(x);
    }
    expect(bad).toEqual([]);
  });

  it('encodes and decodes arrays', () => {
    const v = [0, 0.5, 0.25, 1 / 3, 1e-6, 1];
    const back = decodeFloat16(encodeFloat16(v));
    expect(Array.from(back.slice(0, 3))).toEqual([0, 0.5, 0.25]);
    expect(Math.abs(back[3] - 1 / 3)).toBeLessThan(2e-4);
    expect(Math.abs(back[4] - 1e-6)).toBeLessThan(3e-8);
    expect(back[5]).toBe(1);
  });
});
