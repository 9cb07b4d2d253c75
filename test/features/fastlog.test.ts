import { describe, it, expect } from 'vitest';
import { LogBuffer, logFlooredInto } from '../../src/features/fastlog.ts';
import { FLT_EPSILON } from '../../src/features/frontend.ts';
import { Rng } from '../../src/util/rng.ts';
import { expectClose } from './helpers.ts';

/** Math.log(max(v, floor)) with Kaldi's comparison (NaN -> floor), the reference. */
function reference(values: ArrayLike<number>, floor: number): Float64Array {
  return Float64Array.from(values, (v) => Math.log(v > floor ? v : floor));
}

function fastLog(values: ArrayLike<number>, floor: number): Float64Array {
  const buf = new LogBuffer(values.length);
  buf.values.set(values);
  const out = new Float64Array(values.length);
  logFlooredInto(buf, values.length, floor, out, 0);
  return out;
}

describe('floored log of mel energies (logFlooredInto)', () => {
  it('is within 1e-13 of Math.log over 200 decades and across every mantissa table cell', () => {
    const rng = new Rng(11);
    const values = new Float64Array(200_000);
    for (let i = 0; i < values.length; i++) values[i] = Math.exp((rng.next() - 0.5) * 460);
    // Both ends of each of the 256 mantissa cells and the powers of two around them.
    const edges: number[] = [];
    for (let j = 0; j <= 256; j++)
      for (const e of [-20, 0, 1, 33]) {
        const m = 1 + j / 256;
        edges.push(m * 2 ** e, (m - 2 ** -52) * 2 ** e, (m + 2 ** -52) * 2 ** e);
      }
    const all = Float64Array.from([...values, ...edges].filter((v) => v > FLT_EPSILON));
    expectClose(fastLog(all, FLT_EPSILON), reference(all, FLT_EPSILON), 1e-13, 'ln v');
  });

  it('gives the same float32 values as Math.log for realistic mel energies (int16-scale power)', () => {
    const rng = new Rng(12);
    const n = 100_000;
    const values = Float64Array.from({ length: n }, () => Math.exp(rng.next() * 60 - 15));
    const buf = new LogBuffer(n);
    buf.values.set(values);
    const fast = new Float32Array(n);
    logFlooredInto(buf, n, FLT_EPSILON, fast, 0);
    const slow = Float32Array.from(values, (v) => Math.log(v));
    let differ = 0;
    for (let i = 0; i < n; i++) if (fast[i] !== slow[i]) differ++;
    // A difference needs a value within 1e-13 of a float32 rounding boundary: (almost) never.
    expect(differ).toBeLessThanOrEqual(2);
    expectClose(fast, slow, 4e-6, 'float32 ln v');
  });

  it('floors at the given floor, maps NaN, zero, negatives and subnormals to log(floor), and Infinity to Infinity', () => {
    const special = [0, -0, -1, -Infinity, NaN, 5e-324, 1e-310, FLT_EPSILON, FLT_EPSILON / 2, Infinity, 1];
    const got = fastLog(special, FLT_EPSILON);
    const want = reference(special, FLT_EPSILON);
    for (let i = 0; i < 10; i++) expect(got[i], `ln(max(${special[i]}, floor))`).toBe(want[i]);
    expect(got[4]).toBe(Math.log(FLT_EPSILON));
    expect(got[9]).toBe(Infinity);
    expect(Math.abs(got[10])).toBeLessThan(1e-15);
  });

  it('writes n values at the offset and leaves the rest of the output alone', () => {
    const buf = new LogBuffer(8);
    buf.values.set([1, Math.E, 10, 100]);
    const out = new Float32Array(7).fill(-7);
    logFlooredInto(buf, 3, FLT_EPSILON, out, 2);
    expect(Array.from(out.subarray(0, 2))).toEqual([-7, -7]);
    expectClose(out.subarray(2, 5), [0, 1, Math.log(10)], 1e-7, 'written');
    expect(Array.from(out.subarray(5))).toEqual([-7, -7]);
  });

  it('rejects a floor that is not a positive normal number', () => {
    const buf = new LogBuffer(1);
    const out = new Float32Array(1);
    for (const floor of [0, -1, 1e-310, NaN, Infinity]) {
      expect(() => logFlooredInto(buf, 1, floor, out, 0), `floor ${floor}`).toThrow(RangeError);
    }
  });
});
