/**
 * Where speech begins and ends inside FSDD takes (issue 30's fsdd-digits boundary target): the
 * connected-digit reference puts each word boundary at its take's first and last sample, so a take
 * that keeps silence, noise or a long decay at its edges moves the reference boundary away from
 * the speech. Per speaker: the noise floor is the 5th percentile of the energies of all 10 ms frames
 * of all takes; for each margin above the floor, a take's lead is the time before its first frame
 * above floor + margin and its trail the time after its last. Prints the median, 75th and 90th
 * percentile and the share of takes with a trail over 50 ms.
 *
 *   node bin/run-ts.js scripts/take-edges.ts [../shared/corpora/fsdd] [margins in dB, default 10,15,20]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeWav } from '../src/audio/wav.ts';

const dir = process.argv[2] ?? '../shared/corpora/fsdd';
const margins = (process.argv[3] ?? '10,15,20').split(',').map(Number);
const recordings = join(dir, 'recordings');

const bySpeaker = new Map<string, Float64Array[]>();
for (const f of readdirSync(recordings).sort()) {
  const m = /^(\d)_([^_]+)_(\d+)\.wav$/.exec(f);
  if (!m) continue;
  const a = decodeWav(readFileSync(join(recordings, f)), join(recordings, f));
  const x = a.channels[0];
  const n = Math.round(0.01 * a.sampleRateHz);
  const frames = Math.floor(x.length / n);
  const db = new Float64Array(frames);
  for (let k = 0; k < frames; k++) {
    let e = 0;
    for (let i = k * n; i < (k + 1) * n; i++) e += x[i] * x[i];
    db[k] = 10 * Math.log10(e / n + 1e-12);
  }
  const list = bySpeaker.get(m[2]) ?? [];
  list.push(db);
  bySpeaker.set(m[2], list);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
console.log(
  '| speaker | takes | floor (dB) | margin (dB) | lead median / p75 (ms) | trail median / p75 / p90 (ms) | trail > 50 ms |',
);
console.log('|---|---:|---:|---:|---|---|---:|');
for (const [speaker, takes] of [...bySpeaker].sort((a, b) => a[0].localeCompare(b[0]))) {
  const all: number[] = [];
  for (const t of takes) for (const v of t) all.push(v);
  const floor = pct(all, 5);
  for (const margin of margins) {
    const lead: number[] = [];
    const trail: number[] = [];
    for (const t of takes) {
      let first = -1;
      let last = -1;
      for (let k = 0; k < t.length; k++)
        if (t[k] > floor + margin) {
          if (first < 0) first = k;
          last = k;
        }
      if (first < 0) continue;
      lead.push(first * 10);
      trail.push((t.length - 1 - last) * 10);
    }
    const over = trail.filter((v) => v > 50).length / trail.length;
    console.log(
      `| ${speaker} | ${takes.length} | ${floor.toFixed(1)} | ${margin} | ${pct(lead, 50)} / ${pct(lead, 75)} | ${pct(trail, 50)} / ${pct(trail, 75)} / ${pct(trail, 90)} | ${(100 * over).toFixed(0)} % |`,
    );
  }
}
