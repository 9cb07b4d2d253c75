/**
 * npm run bench:features [-- --seconds 60 --runs 7 --rounds 5 --bins 40]
 *
 * Frames per second of our log-mel filterbank (one thread; both engines: 'wasm', the default,
 * WebAssembly SIMD generated at run time, and 'js', plain JavaScript) against
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
 * torchaudio); without torchaudio only our numbers are printed, with a SKIPPED line saying why.
 *
 * Fairness: torchaudio computes its mel energies with torch.mm, so the BLAS torch loaded decides
 * much of its speed (Debian's python3-torch runs on the slow reference BLAS unless
 * libopenblas0-pthread is installed). The peer reports the BLAS libraries mapped into its process,
 * torch's BLAS_INFO and OpenBLAS's core (kernel) name, all printed. The npm script unsets
 * OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (which this kind of machine sets for older OpenBLAS
 * builds) for the benchmark only, so that OpenBLAS picks its kernel for the CPU; the header line
 * says whether they were set.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { computeFbank } from '../src/features/fbank.ts';
import type { SpectrumEngine } from '../src/features/frontend.ts';
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
    const files = readdirSync(librivox)
      .filter((f) => f.endsWith('.wav'))
      .sort();
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
    return {
      samples: out,
      source: `${files.length} pocketsphinx-librivox recordings from ../shared, concatenated and repeated`,
    };
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

/** Times `RUNS` calls of our fbank on `engine`; seconds per call. */
function oursRound(samples: Float32Array, engine: SpectrumEngine): number[] {
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    computeFbank(samples, RATE, { numMelBins: BINS }, { engine });
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

interface BlasInfo {
  libraries: string[];
  threads: number;
  torch_blas_info: string | null;
  openblas_core?: string;
  openblas_config?: string;
  env: Record<string, string | null>;
}

interface TorchaudioPeer {
  frames: number;
  version: string;
  blas: BlasInfo;
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
  const child = spawn(py, [PY_SCRIPT, path, String(RATE), String(BINS)], {
    env: { ...process.env, ...threads },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
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
    blas: ready.blas as BlasInfo,
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

/** One line on the BLAS the peer loaded. */
function describeBlas(b: BlasInfo): string {
  const libs = b.libraries.length ? b.libraries.join(', ') : 'no BLAS library mapped';
  const kind = b.libraries.some((l) => /openblas/i.test(l))
    ? 'OpenBLAS'
    : b.libraries.some((l) => /mkl/i.test(l))
      ? 'MKL'
      : b.libraries.some((l) => /libblas/.test(l))
        ? 'reference BLAS (libblas3: slow)'
        : 'unknown';
  const core = b.openblas_core ? `; OpenBLAS core ${b.openblas_core} (${b.openblas_config ?? ''})` : '';
  return `${kind}: ${libs}; torch BLAS_INFO=${b.torch_blas_info ?? '?'}, ${b.threads} torch thread(s)${core}`;
}

const ENGINES: SpectrumEngine[] = ['wasm', 'js'];
const { samples, source } = await benchAudio();
const envNote = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE']
  .map((k) => `${k} ${process.env[k] === undefined ? 'unset' : `=${process.env[k]}`}`)
  .join(', ');
console.log(
  `audio: ${SECONDS} s at ${RATE} Hz (${source}); ${BINS} mel bins, one thread, ${ROUNDS} alternating rounds of ${RUNS} calls per side; ${envNote}`,
);
const frames = computeFbank(samples, RATE, { numMelBins: BINS }).numFrames;
for (const engine of ENGINES) for (let i = 0; i < 3; i++) computeFbank(samples, RATE, { numMelBins: BINS }, { engine });
const py = findTorchaudio();
const dir = mkdtempSync(join(tmpdir(), 'amd-bench-'));
let peer: TorchaudioPeer | null = null;
try {
  if (!py)
    console.log(
      'torchaudio: SKIPPED, not available (no python with torchaudio + numpy; set AM_DISTILL_PYTHON); printing ours only',
    );
  else {
    peer = await startTorchaudio(py, samples, dir);
    if (peer.frames !== frames) throw new Error(`frame counts differ: ours ${frames}, torchaudio ${peer.frames}`);
    console.log(`torchaudio BLAS: ${describeBlas(peer.blas)}`);
  }
  const best: Record<string, number> = { wasm: Infinity, js: Infinity, torchaudio: Infinity };
  const ratios: Record<SpectrumEngine, number[]> = { wasm: [], js: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const t: Record<string, number> = {};
    for (const engine of ENGINES) t[engine] = Math.min(...oursRound(samples, engine));
    if (peer) t.torchaudio = Math.min(...(await peer.round(RUNS)));
    let line = `round ${r + 1}:`;
    for (const [side, sec] of Object.entries(t)) {
      best[side] = Math.min(best[side], sec);
      line += `  ${side} ${fmt(frames / sec)} frames/s`;
    }
    if (peer) {
      for (const engine of ENGINES) ratios[engine].push(t.torchaudio / t[engine]);
      line += `   ratio wasm ${ratios.wasm[r].toFixed(2)}x, js ${ratios.js[r].toFixed(2)}x`;
    }
    console.log(line);
  }
  for (const engine of ENGINES) {
    console.log(
      `am-distill fbank (${engine.padEnd(4)}):   ${fmt(frames / best[engine])} frames/s (${frames} frames, best call of ${ROUNDS * RUNS})`,
    );
  }
  if (peer) {
    console.log(
      `torchaudio kaldi.fbank:    ${fmt(frames / best.torchaudio)} frames/s (${frames} frames, best call of ${ROUNDS * RUNS}; ${peer.version}, ${py})`,
    );
    for (const engine of ENGINES) {
      const rs = ratios[engine];
      console.log(
        `ratio ours (${engine}) / torchaudio: ${(best.torchaudio / best[engine]).toFixed(2)}x (best vs best); per round median ${median(rs).toFixed(2)}x, min ${Math.min(...rs).toFixed(2)}x, max ${Math.max(...rs).toFixed(2)}x`,
      );
    }
  }
} finally {
  peer?.close();
  rmSync(dir, { recursive: true, force: true });
}
