/**
 * npm run bench:features [-- --seconds 60 --runs 7 --bins 40]
 *
 * Frames per second of our log-mel filterbank (one thread) against
 * torchaudio.compliance.kaldi.fbank with torch.set_num_threads(1), on the same 60 s of 16 kHz
 * audio: the pocketsphinx-librivox recordings from ../shared concatenated (repeated to length),
 * or a synthetic signal when ../shared is absent. Both take the best of N timed runs after a
 * warm-up. The torchaudio side is bench/features_torchaudio.py, run on the same int16 samples. Python: $AM_DISTILL_PYTHON, else python3, else /usr/bin/python3 (the first that
 * imports torchaudio); without torchaudio only our number is printed.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { FbankComputer } from '../src/features/fbank.ts';
import { readAudioChannel } from '../src/audio/index.ts';

const args = process.argv.slice(2);
function arg(name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}
const SECONDS = arg('seconds', 60);
const RUNS = arg('runs', 7);
const BINS = arg('bins', 40);
const RATE = 16000;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const librivox = resolve(root, '..', 'shared', 'corpora', 'pocketsphinx-librivox');

async function benchAudio(): Promise<{ samples: Float32Array; source: string }> {
  const n = SECONDS * RATE;
  const out = new Float32Array(n);
  if (existsSync(librivox)) {
    const files = readdirSync(librivox).filter((f) => f.endsWith('.wav')).sort();
    const parts: Float32Array[] = [];
    for (const f of files) {
      const a = await readAudioChannel(join(librivox, f), {});
      if (a.sampleRateHz !== RATE) throw new Error(`${f}: expected ${RATE} Hz, found ${a.sampleRateHz}`);
      parts.push(a.samples);
    }
    let o = 0;
    while (o < n) {
      for (const p of parts) {
        const k = Math.min(p.length, n - o);
        out.set(p.subarray(0, k), o);
        o += k;
        if (o >= n) break;
      }
    }
    return { samples: out, source: `${files.length} pocketsphinx-librivox recordings from ../shared, concatenated and repeated` };
  }
  // Synthetic: chirp + noise, int16 values.
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const t = i / RATE;
    out[i] = Math.round(6000 * Math.sin(2 * Math.PI * (150 * t + 20 * t * t)) + (((x >>> 16) % 2001) - 1000)) / 32768;
  }
  return { samples: out, source: 'synthetic chirp + noise (../shared not found)' };
}

function oursFramesPerSec(samples: Float32Array): { fps: number; frames: number } {
  const c = new FbankComputer({ numMelBins: BINS }, RATE);
  let frames = 0;
  for (let i = 0; i < 2; i++) frames = c.compute(samples).numFrames;
  let best = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    c.compute(samples);
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.min(best, dt);
  }
  return { fps: frames / best, frames };
}

const PY_SCRIPT = join(root, 'bench', 'features_torchaudio.py');

function findTorchaudio(): string | null {
  for (const py of [process.env.AM_DISTILL_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean) as string[]) {
    const r = spawnSync(py, ['-c', 'import torchaudio, numpy'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return null;
}

function torchaudioFramesPerSec(py: string, samples: Float32Array): { fps: number; frames: number; torch: string; torchaudio: string } {
  const dir = mkdtempSync(join(tmpdir(), 'amd-bench-'));
  try {
    const raw = new Int16Array(samples.length);
    for (let i = 0; i < samples.length; i++) raw[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i] * 32768)));
    const path = join(dir, 'audio.s16le');
    writeFileSync(path, Buffer.from(raw.buffer));
    const r = spawnSync(py, [PY_SCRIPT, path, String(RATE), String(BINS), String(RUNS)], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    if (r.status !== 0) throw new Error(`torchaudio benchmark failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const { samples, source } = await benchAudio();
console.log(`audio: ${SECONDS} s at ${RATE} Hz (${source}); ${BINS} mel bins, best of ${RUNS} runs, one thread`);
const ours = oursFramesPerSec(samples);
console.log(`am-distill fbank:          ${Math.round(ours.fps).toLocaleString('en-US').padStart(10)} frames/s (${ours.frames} frames)`);
const py = findTorchaudio();
if (!py) {
  console.log('torchaudio: not available (no python with torchaudio + numpy; set AM_DISTILL_PYTHON); printing ours only');
} else {
  const ta = torchaudioFramesPerSec(py, samples);
  console.log(`torchaudio kaldi.fbank:    ${Math.round(ta.fps).toLocaleString('en-US').padStart(10)} frames/s (${ta.frames} frames, torchaudio ${ta.torchaudio}, ${py})`);
  console.log(`ratio ours / torchaudio:   ${(ours.fps / ta.fps).toFixed(2)}x`);
}
