/**
 * src/util/packed.ts: what the sharded GMM training writes between jobs comes back bit for bit
 * (typed arrays raw, plain numbers exact, NaN, the infinities and -0 included), and a damaged
 * file is a located FormatError.
 */
import { describe, it, expect } from 'vitest';
import { packValue, unpackValue } from '../../src/util/packed.ts';
import { FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';

describe('packed values', () => {
  it('come back bit for bit: typed arrays, plain numbers, NaN, infinities and -0', () => {
    const rng = new Rng(7);
    const f64 = Float64Array.from({ length: 101 }, () => rng.gauss() * 1e-300 + rng.gauss());
    f64[3] = -0;
    f64[4] = NaN;
    const value = {
      kind: 'iter',
      f64,
      i32: Int32Array.of(-1, 2 ** 31 - 1),
      u8: Uint8Array.of(1, 2, 3),
      f32: Float32Array.of(0.1, -0),
      nested: [{ ll: -0, frames: 3, big: 1e308, tiny: 5e-324, inf: -Infinity, nan: NaN }, [f64.subarray(10, 13)]],
      text: 'utt-1 "x"',
      none: null,
    };
    const back = unpackValue(packValue(value), 'x.pack') as typeof value;
    expect(Buffer.from(back.f64.buffer).equals(Buffer.from(f64.buffer))).toBe(true);
    expect(back.i32).toEqual(value.i32);
    expect(back.u8).toEqual(value.u8);
    expect(Object.is(back.f32[1], -0)).toBe(true);
    const n = back.nested[0] as Record<string, number>;
    expect(Object.is(n.ll, -0)).toBe(true);
    expect([n.frames, n.big, n.tiny, n.inf]).toEqual([3, 1e308, 5e-324, -Infinity]);
    expect(Number.isNaN(n.nan)).toBe(true);
    expect(Array.from((back.nested[1] as Float64Array[])[0])).toEqual(Array.from(f64.subarray(10, 13)));
    expect([back.text, back.none]).toEqual(['utt-1 "x"', null]);
    // The same value packs to the same bytes.
    expect(packValue(back).equals(packValue(value))).toBe(true);
  });

  it('refuses another file and one cut short, naming it', () => {
    expect(() => unpackValue(Buffer.from('{"a":1}'), 'a.json')).toThrow(FormatError);
    const bytes = packValue({ x: new Float64Array(16) });
    expect(() => unpackValue(bytes.subarray(0, bytes.length - 8), 'cut.pack')).toThrow(/cut\.pack.*outside the file/);
  });
});
