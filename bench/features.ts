/**
 * npm run bench:features [-- --seconds 60 --runs 7 --rounds 5 --bins 40]
 *
 * Frames per second of our log-mel filterbank (one thread) against
 * torchaudio.compliance.kaldi.fbank with torch.set_num_threads(1), on the same 60 s of 16 kHz
 * audio: the pocketsphinx-librivox recordings from ../shared concatenated (repeated to length),
 * or a synthetic signal when ../shared is absent. The torchaudio side is
 * bench/features_torchaudio.py, a child process that gets the same samples as int16 and stays up,
 * so that rounds of the two sides alternate and see the same machine load. Each side: two
 * warm-up calls (JIT / allocator), then per round RUNS timed calls; only the call is timed (no
 * file I/O, no process start), for us `computeFbank(samples, rate, options)` as for torchaudio
 * `kaldi.fbank(wav, ...)` (both build window and mel banks per call) with the same options
 * (Kaldi defaults, dither 0). Per side the best call over all rounds gives frames/s; the spread of
 * the per-round ratios shows the noise of a shared machine.
 * Python: $AM_DISTILL_PYTHON, else python3, else /usr/bin/python3 (the first that imports
 * torchaudio); without torchaudio only our numbers are printed.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { computeFbank } from '../src/features/fbank.ts';
import { readAudioChannel } from '../src/audio/index.ts';

const args = process.argv.slice(2);
function arg(name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}
const SECONDS = arg('seconds', 60);
const RUNS = arg('runs', 7);
const ROUNDS = arg('rounds', 5);
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

/** Times `RUNS` calls of our fbank; seconds per call. */
function oursRound(samples: Float32Array): number[] {
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    computeFbank(samples, RATE, { numMelBins: BINS });
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return times;
}

const PY_SCRIPT = join(root, 'bench', 'features_torchaudio.py');

function findTorchaudio(): string | null {
  for (const py of [process.env.AM_DISTILL_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean) as string[]) {
    const r = spawnSync(py, ['-c', 'import torchaudio, numpy'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return null;
}

interface TorchaudioPeer {
  frames: number;
  version: string;
  /** Times `runs` calls; seconds per call. */
  round(runs: number): Promise<number[]>;
  close(): void;
}

/** Starts bench/features_torchaudio.py on `samples` (as int16) and waits for its warm-up. */
async function startTorchaudio(py: string, samples: Float32Array, dir: string): Promise<TorchaudioPeer> {
  const raw = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) raw[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i] * 32768)));
  const path = join(dir, 'audio.s16le');
  writeFileSync(path, Buffer.from(raw.buffer));
  const threads = { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };
  const child = spawn(py, [PY_SCRIPT, path, String(RATE), String(BINS)], { env: { ...process.env, ...threads }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done) throw new Error(`torchaudio benchmark ended early: ${stderr.trim()}`);
    return JSON.parse(r.value) as Record<string, unknown>;
  };
  const ready = await next();
  return {
    frames: ready.frames as number,
    version: `torch ${String(ready.torch)}, torchaudio ${String(ready.torchaudio)}`,
    async round(runs: number): Promise<number[]> {
      child.stdin.write(`${runs}\n`);
      return (await next()).seconds as number[];
    },
    close(): void {
      child.stdin.end('\n');
    },
  };
}

const fmt = (fps: number): string => Math.round(fps).toLocaleString('en-US').padStart(10);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const { samples, source } = await benchAudio();
console.log(`audio: ${SECONDS} s at ${RATE} Hz (${source}); ${BINS} mel bins, one thread, ${ROUNDS} alternating rounds of ${RUNS} calls per side`);
const frames = computeFbank(samples, RATE, { numMelBins: BINS }).numFrames;
computeFbank(samples, RATE, { numMelBins: BINS });
const py = findTorchaudio();
const dir = mkdtempSync(join(tmpdir(), 'amd-bench-'));
let peer: TorchaudioPeer | null = null;
try {
  if (!py) console.log('torchaudio: not available (no python with torchaudio + numpy; set AM_DISTILL_PYTHON); printing ours only');
  else {
    peer = await startTorchaudio(py, samples, dir);
    if (peer.frames !== frames) throw new Error(`frame counts differ: ours ${frames}, torchaudio ${peer.frames}`);
  }
  let bestOurs = Infinity;
  let bestTa = Infinity;
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const ours = Math.min(...oursRound(samples));
    bestOurs = Math.min(bestOurs, ours);
    let line = `round ${r + 1}: am-distill ${fmt(frames / ours)} frames/s`;
    if (peer) {
      const ta = Math.min(...(await peer.round(RUNS)));
      bestTa = Math.min(bestTa, ta);
      ratios.push(ta / ours);
      line += `   torchaudio ${fmt(frames / ta)} frames/s   ratio ${(ta / ours).toFixed(2)}x`;
    }
    console.log(line);
  }
  console.log(`am-distill fbank:          ${fmt(frames / bestOurs)} frames/s (${frames} frames, best call of ${ROUNDS * RUNS})`);
  if (peer) {
    console.log(`torchaudio kaldi.fbank:    ${fmt(frames / bestTa)} frames/s (${frames} frames, best call of ${ROUNDS * RUNS}; ${peer.version}, ${py})`);
    console.log(`ratio ours / torchaudio:   ${(bestTa / bestOurs).toFixed(2)}x (best vs best); per round median ${median(ratios).toFixed(2)}x, min ${Math.min(...ratios).toFixed(2)}x, max ${Math.max(...ratios).toFixed(2)}x`);
  }
} finally {
  peer?.close();
  rmSync(dir, { recursive: true, force: true });
}
