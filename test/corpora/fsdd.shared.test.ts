import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareFsdd } from '../../corpora/fsdd/index.ts';
import { readAudioChannel } from '../../src/audio/index.ts';
import { expectClose, memoryLogger, tmp } from '../corpus/helpers.ts';

const FSDD = fileURLToPath(new URL('../../../shared/corpora/fsdd', import.meta.url));
const present = existsSync(join(FSDD, 'recordings'));
if (!present) console.warn(`SKIPPED: FSDD tests need ../shared/corpora/fsdd (looked in ${FSDD})`);

describe.skipIf(!present)('fsdd on the real recordings (needs ../shared)', () => {
  it('isolated mode: 2000 takes of 4 speakers, 500 each, split george+jackson / nicolas / yweweler', async () => {
    const p = await prepareFsdd(FSDD, { outDir: tmp(), mode: 'isolated', logger: memoryLogger() });
    expect(p.info.options).toMatchObject({
      trainSpeakers: ['george', 'jackson'],
      devSpeakers: ['nicolas'],
      testSpeakers: ['yweweler'],
    });
    expect(p.info.counts.train).toMatchObject({ supervisions: 1000, speakers: 2 });
    expect(p.info.counts.dev.supervisions).toBe(500);
    expect(p.info.counts.test.supervisions).toBe(500);
    expect(p.info.sampleRateHz).toBe(8000);
    expect(p.info.skipped.skipped).toBe(0);
    const total = p.info.splits.reduce((a, s) => a + p.info.counts[s].durationSec, 0);
    expectClose(total, 831, 1); // SOURCE.md: "about 831 s"
  });

  it("connected mode: digit strings at each speaker's own noise floor", async () => {
    const p = await prepareFsdd(FSDD, { outDir: tmp(), numUtterancesPerSpeaker: 10, seed: 1, logger: memoryLogger() });
    expect(p.info.counts.train.supervisions).toBe(20);
    const s = p.splits.test.supervisions[0];
    expect(s.speaker).toBe('yweweler');
    const noise = s.custom!.noiseRms as number;
    // yweweler's takes are very clean; the pause noise matches that (about -69 dBFS), never zeros
    expect(noise).toBeGreaterThan(1e-4);
    expect(noise).toBeLessThan(1e-3);
    const r = p.splits.test.recordings[0];
    const x = (await readAudioChannel(r.path)).samples;
    const lead = x.subarray(0, Math.round(s.alignment!.word![0].startSec * 8000));
    let zeros = 0;
    for (const v of lead) if (v === 0) zeros++;
    expect(zeros / lead.length).toBeLessThan(0.1);
  });

  it("isolatedTest (pipelines/fsdd-digits.yaml's split): the test speaker's 500 takes, no take of the 3 training speakers", async () => {
    const p = await prepareFsdd(FSDD, {
      outDir: tmp(),
      numUtterancesPerSpeaker: 2,
      devTakeFraction: 0.1,
      isolatedTest: true,
      seed: 1,
      logger: memoryLogger(),
    });
    expect(p.info.options).toMatchObject({
      trainSpeakers: ['george', 'jackson', 'nicolas'],
      testSpeakers: ['yweweler'],
    });
    expect(p.info.counts['test-isolated']).toMatchObject({ supervisions: 500, speakers: 1 });
    const iso = p.splits['test-isolated'].supervisions;
    expect(iso.every((s) => s.speaker === 'yweweler' && s.text.split(' ').length === 1)).toBe(true);
    expect(new Set(iso.map((s) => s.text)).size).toBe(10);
  });
});
