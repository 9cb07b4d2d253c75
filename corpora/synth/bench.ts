/**
 * Synthesis speed of the synth corpus: `npx tsx corpora/synth/bench.ts [numSpeakers] [utterancesPerSpeaker]`
 * (defaults: the corpus defaults, 16 x 25). Writes to a temporary directory, prints one JSON line
 * with utterances/s and seconds of audio per second (wall clock, espeak load included), then
 * removes the directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/util/log.ts';
import { prepareSynth } from './index.ts';

const numSpeakers = Number(process.argv[2] ?? 16);
const utterancesPerSpeaker = Number(process.argv[3] ?? 25);
const dir = mkdtempSync(join(tmpdir(), 'amd-synth-bench-'));
try {
  const started = performance.now();
  const p = await prepareSynth(join(dir, 'data'), {
    numSpeakers,
    utterancesPerSpeaker,
    logger: createLogger({ prefix: 'bench' }),
  });
  const wallSec = (performance.now() - started) / 1000;
  const utterances = p.info.skipped.done;
  const audioSec = Object.values(p.info.counts).reduce((a, c) => a + c.durationSec, 0);
  console.log(
    JSON.stringify({
      numSpeakers,
      utterancesPerSpeaker,
      utterances,
      skipped: p.info.skipped.skipped,
      audioSec: Number(audioSec.toFixed(1)),
      wallSec: Number(wallSec.toFixed(2)),
      utterancesPerSec: Number((utterances / wallSec).toFixed(1)),
      audioSecPerSec: Number((audioSec / wallSec).toFixed(1)),
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
