import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { audioInfo, decodeAudio, encodeSphere, readAudio, readAudioChannel } from '../../src/audio/index.ts';
import { CORPORA, GOLDEN, corporaAvailable, expectSameSamples } from './helpers.ts';

interface RealFile {
  file: string;
  sampleRateHz: number;
  numChannels: number;
  bitsPerSample: number;
  numSamples: number;
  first8: number[];
  sum: number;
  sumSquares: number;
}

const reference = JSON.parse(readFileSync(join(GOLDEN, 'real-files.json'), 'utf8')) as { files: RealFile[] };
const have = corporaAvailable('', 'reading real recordings');

describe.skipIf(!have)('real recordings decode as Python wave does (needs ../shared)', () => {
  for (const r of reference.files) {
    it(`${r.file}: ${r.sampleRateHz} Hz, ${r.numSamples} samples`, async () => {
      const path = join(CORPORA, r.file);
      const info = await audioInfo(path);
      expect(info).toEqual({
        path,
        format: 'wav',
        sampleRateHz: r.sampleRateHz,
        numChannels: r.numChannels,
        numSamples: r.numSamples,
        durationSec: r.numSamples / r.sampleRateHz,
        bitsPerSample: r.bitsPerSample,
        sampleType: 'int',
      });
      const { samples } = await readAudioChannel(path);
      const ints = Array.from(samples, (v) => v * 32768);
      expect(ints.slice(0, 8)).toEqual(r.first8);
      let s = 0,
        s2 = 0;
      for (const v of ints) {
        s += v;
        s2 += v * v;
      }
      expect([s, s2]).toEqual([r.sum, r.sumSquares]);
    });
  }

  it('reads the header of all 2000 FSDD recordings (8 kHz mono 16-bit)', async () => {
    const dir = join(CORPORA, 'fsdd', 'recordings');
    const names = readdirSync(dir).filter((f) => f.endsWith('.wav'));
    expect(names.length).toBe(2000);
    let total = 0;
    for (const n of names) {
      const info = await audioInfo(join(dir, n));
      expect([info.sampleRateHz, info.numChannels, info.bitsPerSample], n).toEqual([8000, 1, 16]);
      expect(info.numSamples, n).toBeGreaterThan(0);
      total += info.durationSec;
    }
    expect(total).toBeGreaterThan(500); // about 0.4 s per digit
  });

  it('a real utterance survives WAV -> SPHERE (TIMIT layout) -> float bit-exactly', async () => {
    const path = join(CORPORA, 'pocketsphinx-librivox', 'sense_and_sensibility_01_austen_64kb-0880.wav');
    const d = await readAudio(path);
    const sph = encodeSphere(d.channels, d.sampleRateHz, { fields: { database_id: 'TIMIT' } });
    const back = await decodeAudio(sph, 'SI1.WAV');
    expect(back.format).toBe('sphere');
    expectSameSamples(back.channels[0], d.channels[0]);
  });
});
