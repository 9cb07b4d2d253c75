import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  resample,
  resampledLength,
  resampleKernel,
  RESAMPLE_KAISER_BEST,
  type ResampleOptions,
} from '../../src/audio/resample.ts';
import { readAudioChannel } from '../../src/audio/index.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { CORPORA, GOLDEN, chirp, corporaAvailable, expectClose, rms, tone } from './helpers.ts';

interface GoldenCase {
  name: string;
  source: { chirp?: [number, number, number, number, number]; file?: string };
  fromHz: number;
  toHz: number;
  options: ResampleOptions;
  inputLength: number;
  outputLength: number;
  first: number[];
  last: number[];
  index: number[];
  values: number[];
  sum: number;
  sumSquares: number;
  firstFloat32: number[];
  torchFloat32VsFloat64MaxAbs: number;
}

const golden = JSON.parse(readFileSync(join(GOLDEN, 'resample.json'), 'utf8')) as { cases: GoldenCase[] };

/**
 * Tolerances against torchaudio.functional.resample (see test/golden/audio/HOW-GENERATED.md):
 * - vs its float64 run (same filter, float64 kernel): 2e-7 max abs, i.e. float32 output rounding
 *   (measured <= 3e-8 on every case);
 * - vs its default float32 run: its own float32-vs-float64 gap (<= 1.5e-5 here, half an int16 step) + 2e-7.
 */
const TOL_F64 = 2e-7;

function checkGolden(c: GoldenCase, x: Float32Array): void {
  expect(x.length, 'input length').toBe(c.inputLength);
  const y = resample(x, c.fromHz, c.toHz, c.options);
  expect(y.length, 'output length').toBe(c.outputLength);
  expectClose(y.subarray(0, 16), c.first, TOL_F64, `${c.name}: first 16`);
  expectClose(y.subarray(y.length - 16), c.last, TOL_F64, `${c.name}: last 16`);
  expectClose(
    c.index.map((i) => y[i]),
    c.values,
    TOL_F64,
    `${c.name}: ${c.index.length} spread samples`,
  );
  expectClose(
    y.subarray(0, 16),
    c.firstFloat32,
    c.torchFloat32VsFloat64MaxAbs + TOL_F64,
    `${c.name}: vs torchaudio float32`,
  );
  let s = 0,
    s2 = 0;
  for (const v of y) {
    s += v;
    s2 += v * v;
  }
  expect(Math.abs(s - c.sum), `${c.name}: sum`).toBeLessThan(1e-7 * y.length);
  expect(Math.abs(s2 - c.sumSquares) / c.sumSquares, `${c.name}: relative energy`).toBeLessThan(1e-6);
}

describe('resample matches torchaudio.functional.resample (golden chirps)', () => {
  for (const c of golden.cases.filter((k) => k.source.chirp)) {
    it(c.name, () => checkGolden(c, chirp(...c.source.chirp!)));
  }
});

const haveShared = corporaAvailable('', 'resample golden values on real recordings');
describe.skipIf(!haveShared)('resample matches torchaudio on real recordings (needs ../shared)', () => {
  for (const c of golden.cases.filter((k) => k.source.file)) {
    it(c.name, async () => {
      const { samples } = await readAudioChannel(join(CORPORA, c.source.file!));
      checkGolden(c, samples);
    });
  }
});

/** Level of y relative to a 0.5-amplitude sine, in dB, away from the edges. */
function levelDb(y: Float32Array, edge: number): number {
  return 20 * Math.log10(rms(y, edge, y.length - edge) / (0.5 / Math.SQRT2));
}

describe('resample: anti-aliasing and passband', () => {
  const pairs: [number, number][] = [
    [16000, 8000],
    [44100, 16000],
    [22050, 16000],
    [48000, 16000],
  ];

  for (const [from, to] of pairs) {
    it(`${from} -> ${to}: a tone at 1.5x the new Nyquist is attenuated by >= 40 dB (default filter)`, () => {
      const y = resample(tone(from, from / 2, 0.75 * to), from, to);
      expect(levelDb(y, 200)).toBeLessThan(-40); // measured about -55 dB
    });
    it(`${from} -> ${to}: a tone at 1.05x the new Nyquist is attenuated by >= 40 dB (kaiser_best)`, () => {
      const y = resample(tone(from, from / 2, 0.525 * to), from, to, RESAMPLE_KAISER_BEST);
      expect(levelDb(y, 1000)).toBeLessThan(-40); // measured about -146 dB
    });
    it(`${from} -> ${to}: a tone at half the new Nyquist passes within 0.1 dB at the right frequency`, () => {
      const f = 0.25 * to;
      const y = resample(tone(from, from / 2, f), from, to);
      expect(Math.abs(levelDb(y, 200))).toBeLessThan(0.1);
      const ideal = tone(to, y.length, f);
      expectClose(
        y.subarray(200, y.length - 200),
        ideal.subarray(200, y.length - 200),
        5e-3,
        'resampled tone vs ideal tone',
      );
    });
  }

  it('the default filter is soft, like torchaudio: -28 dB at 1.2x the new Nyquist (documents the trade-off)', () => {
    const y = resample(tone(16000, 8000, 4800), 16000, 8000);
    expect(levelDb(y, 200)).toBeGreaterThan(-35);
    expect(levelDb(y, 200)).toBeLessThan(-20);
  });

  it('upsampling 8000 -> 16000 reproduces a band-limited tone without images', () => {
    const y = resample(tone(8000, 4000, 1000), 8000, 16000);
    expect(y.length).toBe(8000);
    expectClose(y.subarray(200, 7800), tone(16000, 8000, 1000).subarray(200, 7800), 2e-3, 'upsampled tone');
  });

  it('keeps DC (filter gain within 0.1% of 1 in every phase)', () => {
    for (const [from, to] of [...pairs, [8000, 22050] as [number, number]]) {
      for (const w of resampleKernel(from, to).weights) {
        const g = w.reduce((a, b) => a + b, 0);
        expect(Math.abs(g - 1)).toBeLessThan(1e-3);
      }
    }
  });
});

describe('resample: lengths, identity, errors', () => {
  it('output length is ceil(n * to / from), as torchaudio', () => {
    const rng = new Rng(11);
    for (let k = 0; k < 50; k++) {
      const n = 1 + rng.int(5000);
      const [from, to] = [
        [22050, 16000],
        [44100, 16000],
        [16000, 8000],
        [8000, 16000],
        [11025, 16000],
      ][k % 5];
      expect(resampledLength(n, from, to)).toBe(Math.ceil((n * to) / from - 1e-9));
      expect(resample(new Float32Array(n), from, to).length).toBe(resampledLength(n, from, to));
    }
    expect(resample(new Float32Array(0), 22050, 16000).length).toBe(0);
  });

  it('is linear and equal rates return a copy', () => {
    const rng = new Rng(12);
    const a = Float32Array.from({ length: 2000 }, () => rng.gauss() * 0.1);
    const b = Float32Array.from({ length: 2000 }, () => rng.gauss() * 0.1);
    const sum = Float32Array.from(a, (v, i) => v + b[i]);
    const ya = resample(a, 22050, 16000),
      yb = resample(b, 22050, 16000);
    expectClose(
      resample(sum, 22050, 16000),
      Float32Array.from(ya, (v, i) => v + yb[i]),
      1e-6,
      'linearity',
    );
    const same = resample(a, 16000, 16000);
    expect(same).not.toBe(a);
    expectClose(same, a, 0, 'identity');
  });

  it('rejects non-integer or non-positive rates and bad options with a ConfigError', () => {
    const x = new Float32Array(10);
    expect(() => resample(x, 0, 16000)).toThrow(ConfigError);
    expect(() => resample(x, 16000, 22050.5)).toThrow(/bad toHz.*positive integer/);
    expect(() => resample(x, -8000, 16000)).toThrow(/bad fromHz/);
    expect(() => resample(x, 16000, 8000, { rolloff: 1.5 })).toThrow(/rolloff/);
    expect(() => resample(x, 16000, 8000, { lowpassFilterWidth: 0 })).toThrow(/lowpassFilterWidth/);
    expect(() => resample(x, 16000, 8000, { method: 'linear' as never })).toThrow(/unknown method/);
  });

  it("accepts torchaudio 0.x method names ('sinc_interpolation', 'kaiser_window')", () => {
    const x = chirp(16000, 0.1, 100, 7000, 0.5);
    expectClose(resample(x, 16000, 8000, { method: 'sinc_interpolation' }), resample(x, 16000, 8000), 0, 'hann alias');
    expectClose(
      resample(x, 16000, 8000, { method: 'kaiser_window' }),
      resample(x, 16000, 8000, { method: 'sinc_interp_kaiser' }),
      0,
      'kaiser alias',
    );
  });
});
