/**
 * The synth corpus at its default size: 16 speakers x 25 sentences, all 16 variants and 8 voices
 * (the demo sets its own size in pipelines/demo.yaml). About 15 s of synthesis on a laptop core
 * (npm run test:e2e).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { readAudioChannel } from '../../src/audio/index.ts';
import { validateDataDir } from '../../src/corpus/validate.ts';
import type { PreparedCorpus } from '../../src/corpus/types.ts';
import { prepareSynth } from '../../corpora/synth/index.ts';
import { memoryLogger, tmp } from '../corpus/helpers.ts';

/** espeak variants with an echo setting: a reverberant tail follows the last word. */
const ECHO_VARIANTS = new Set(['m2', 'f2', 'f3', 'f4', 'f5']);

let dir = '';
let prepared: PreparedCorpus;
beforeAll(async () => {
  dir = tmp('amd-synth-e2e-');
  prepared = await prepareSynth(join(dir, 'data'), { logger: memoryLogger() });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('synth corpus at the default size (e2e)', () => {
  it('synthesises every sentence (no skips), 12/2/2 speakers, one sentence never twice', async () => {
    expect(prepared.info.skipped.skipped).toBe(0);
    expect(prepared.info.skipped.done).toBe(400);
    expect(Object.fromEntries(Object.entries(prepared.info.counts).map(([k, c]) => [k, c.speakers]))).toEqual({
      train: 12,
      dev: 2,
      test: 2,
    });
    const texts = Object.values(prepared.splits).flatMap((m) => m.supervisions.map((s) => s.text));
    expect(new Set(texts).size).toBe(400);
    await validateDataDir(join(dir, 'data'), { disjointSpeakers: true });
  });

  it('agrees with the waveform energy: onset within 10 ms everywhere, offset within 10 ms for dry voices', async () => {
    const worst = { onset: 0, dryOffset: 0, echoEarly: 0 };
    for (const m of Object.values(prepared.splits)) {
      for (const r of m.recordings) {
        const s = m.supervisions.find((x) => x.recordingId === r.id)!;
        const { samples, sampleRateHz } = await readAudioChannel(r.path);
        const hop = Math.round(0.005 * sampleRateHz);
        const win = 2 * hop;
        const db: number[] = [];
        for (let a = 0; a + win <= samples.length; a += hop) {
          let e = 0;
          for (let k = a; k < a + win; k++) e += samples[k] * samples[k];
          db.push(10 * Math.log10(e / win + 1e-20));
        }
        const thr = Math.max(...db) - 40;
        const first = db.findIndex((d) => d > thr);
        let last = db.length - 1;
        while (db[last] <= thr) last--;
        const w = s.alignment!.word!;
        const onsetErr = (first * hop + win / 2) / sampleRateHz - w[0].startSec;
        const offsetErr =
          (last * hop + win / 2) / sampleRateHz - (w[w.length - 1].startSec + w[w.length - 1].durationSec);
        worst.onset = Math.max(worst.onset, Math.abs(onsetErr));
        const variant = String(s.custom!.espeakVoice).split('+')[1];
        if (ECHO_VARIANTS.has(variant)) worst.echoEarly = Math.max(worst.echoEarly, -offsetErr);
        else worst.dryOffset = Math.max(worst.dryOffset, Math.abs(offsetErr));
      }
    }
    expect(worst.onset).toBeLessThan(0.01);
    expect(worst.dryOffset).toBeLessThan(0.01);
    // With echo the energy lasts longer than the words, never shorter.
    expect(worst.echoEarly).toBeLessThan(0.01);
  });
});
