/** `am-distill fbank`: one file's features as a Kaldi text archive or JSON. */
import { describe, it, expect, vi, afterEach } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { computeFbank } from '../../src/features/fbank.ts';
import { formatG, formatKaldiTextMatrix } from '../../src/features/kaldi-text.ts';
import { fromRows } from '../../src/features/matrix.ts';
import { GOLDEN, SHARED, encodeWav16, expectClose, sharedAvailable } from './helpers.ts';
import { syntheticSamples } from './synthetic.ts';
import { floatWavBytes } from '../helpers.ts';

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = vi
    .spyOn(process.stdout, 'write')
    .mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
  const e = vi
    .spyOn(process.stderr, 'write')
    .mockImplementation((s: string | Uint8Array) => (err.push(String(s)), true));
  try {
    const code = await main(['node', 'am-distill', 'fbank', ...args]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

function wavFile(rate: number): { path: string; samples: Float32Array } {
  const dir = mkdtempSync(join(tmpdir(), 'amd-cli-fbank-'));
  const samples = syntheticSamples({ sampleRateHz: rate, durationSec: 0.3, seed: 13 });
  const path = join(dir, 'digits.wav');
  writeFileSync(path, encodeWav16(samples, rate));
  return { path, samples };
}

describe('Kaldi text format', () => {
  it('prints numbers as C++ iostreams with 6 significant digits', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [0.1, '0.1'],
      [-15.942385, '-15.9424'],
      [100, '100'],
      [123456, '123456'],
      [1234567, '1.23457e+06'],
      [0.0001234, '0.0001234'],
      [0.00001234, '1.234e-05'],
      [2.5e-10, '2.5e-10'],
      [1e21, '1e+21'],
      [Math.fround(0.3), '0.3'],
    ];
    for (const [x, s] of cases) expect(formatG(x), String(x)).toBe(s);
  });
  it('writes "key  [" then one row per line and " ]", or "key  [ ]" when empty', () => {
    expect(
      formatKaldiTextMatrix(
        'u1',
        fromRows([
          [1, 2.5],
          [-3, 0.125],
        ]),
      ),
    ).toBe('u1  [\n  1 2.5 \n  -3 0.125 ]\n');
    expect(formatKaldiTextMatrix('u2', fromRows([], 3))).toBe('u2  [ ]\n');
  });
});

describe('am-distill fbank', () => {
  it('prints a Kaldi text archive keyed by the file name, with 23 bins by default', async () => {
    const { path, samples } = wavFile(8000);
    const r = await run([path]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(formatKaldiTextMatrix('digits', computeFbank(samples, 8000)));
    expect(r.stdout.split('\n')[1].trim().split(' ')).toHaveLength(23);
  });
  it('prints JSON with --json and honours --num-mel-bins, --utt-id, --snip-edges and --use-energy', async () => {
    const { path, samples } = wavFile(16000);
    const r = await run([path, '--json', '--num-mel-bins', '40', '--snip-edges', 'false', '--use-energy', 'true']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const expected = computeFbank(samples, 16000, { numMelBins: 40, snipEdges: false, useEnergy: true });
    expect([j.sampleRateHz, j.numFrames, j.numMelBins]).toEqual([16000, expected.numFrames, 40]);
    expect(j.frames[0]).toHaveLength(41);
    expectClose(j.frames.flat(), expected.data, 0, 'frames');
    const t = await run([path, '--utt-id', 'spk1_utt7', '--dither', '1', '--seed', '3']);
    expect(t.stdout.startsWith('spk1_utt7  [\n')).toBe(true);
    expect((await run([path, '--utt-id', 'x', '--dither', '1', '--seed', '3'])).stdout.slice(1)).toBe(
      t.stdout.slice('spk1_utt7'.length),
    );
  });
  it('fails with exit code 2 on a sample rate mismatch, a bad number and an unreadable file', async () => {
    const { path } = wavFile(8000);
    const a = await run([path, '--sample-frequency', '16000']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/sample rate.*expected 16000 Hz, found 8000 Hz/);
    const b = await run([path, '--num-mel-bins', 'forty']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--num-mel-bins.*not a number/);
    const bad = join(mkdtempSync(join(tmpdir(), 'amd-cli-fbank-')), 'bad.wav');
    writeFileSync(bad, 'not audio');
    const c = await run([bad]);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('bad.wav');
    const d = await run([path, '--num-mel-bins', '200']);
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/too many mel bins/);
  });
});

describe('am-distill fbank on float WAVs with non-finite or extreme samples', () => {
  const dir = mkdtempSync(join(tmpdir(), 'amd-cli-fbank-nan-'));
  const tone = () => syntheticSamples({ sampleRateHz: 8000, durationSec: 0.3, seed: 5 });
  it('fails with exit code 2 naming the file and the first NaN or infinite sample (with and without --use-energy)', async () => {
    for (const [bad, what] of [
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
    ] as const) {
      const samples = tone();
      samples[1000] = bad;
      const path = join(dir, `${what}.wav`);
      writeFileSync(path, floatWavBytes(samples, 8000));
      for (const extra of [[], ['--use-energy', 'true']]) {
        const r = await run([path, '--json', ...extra]);
        expect(r.code).toBe(2);
        expect(r.stdout).toBe('');
        expect(r.stderr).toContain(
          `error [E_AUDIO_FORMAT]: ${path}: non-finite audio sample; expected finite samples, found ${what} at sample 1000 (0.125 s)`,
        );
      }
    }
  });
  it('warns, naming the file, about finite samples far beyond full scale', async () => {
    const samples = tone();
    samples[10] = 1e30;
    const path = join(dir, 'loud.wav');
    writeFileSync(path, floatWavBytes(samples, 8000));
    const r = await run([path, '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      `WARN: ${path}: samples far beyond full scale (largest |x| 1e+30 at sample 10, 0.00125 s; float audio is expected in [-1, 1])`,
    );
    const quiet = join(dir, 'fine.wav');
    writeFileSync(quiet, floatWavBytes(tone(), 8000));
    expect((await run([quiet, '--json'])).stderr).toBe('');
  });
});

const haveFsdd = sharedAvailable('corpora/fsdd/recordings/0_george_0.wav', 'am-distill fbank on an fsdd recording');

describe.skipIf(!haveFsdd)('am-distill fbank on a real 8 kHz recording matches torchaudio (needs ../shared)', () => {
  it('0_george_0.wav, 23 and 40 bins, within 1e-3', async () => {
    const golden = JSON.parse(readFileSync(join(GOLDEN, 'real.json'), 'utf8')).cases as {
      name: string;
      frames: number[][];
    }[];
    for (const bins of [23, 40]) {
      const r = await run([
        join(SHARED, 'corpora/fsdd/recordings/0_george_0.wav'),
        '--json',
        '--num-mel-bins',
        String(bins),
      ]);
      expect(r.code).toBe(0);
      const ref = golden.find((c) => c.name === `0_george_0-fbank-${bins}`)!;
      expectClose(JSON.parse(r.stdout).frames.flat(), ref.frames.flat(), 1e-3, `${bins} bins`);
    }
  });
});
