/**
 * npm run bench:nnet -- training and inference frames/s of the frame classifier on our engines
 * (native, wasm) against their peers, measured in the same run, in interleaved rounds:
 *
 *   floor      the step's exact GEMM sequence in a C loop through the same BLAS (native/engine.cc
 *              gemmFloor): one process with all cores' threads, and one worker per core with one
 *              thread each, summed; the floor is the better of the two
 *   native     this project's engine (src/nnet/native-net.ts): 1 worker with the cores' BLAS
 *              threads, and one worker per core with 1 thread each (the ensemble setting); its GEMMs are
 *              cut into fixed tiles, one single-threaded BLAS call each (native/engine.cc)
 *   wasm       TF.js wasm (src/nnet/trainer.ts TfjsTrainer), 1 worker and one per core
 *   torch      PyTorch CPU (bench/nnet_torch.py, /usr/bin/python3): (a) default threads and
 *              environment, what `apt-get install python3-torch libopenblas0-pthread` gives; (b)
 *              tuned: 1 process with 2 threads (OMP_WAIT_POLICY=PASSIVE), and 2 processes with 1
 *              thread each (OPENBLAS_NUM_THREADS=1), both with the tuned malloc settings
 *   feeder     the data feed alone (bounded shuffle buffer, CMVN, splicing, batching) on a
 *              synthetic corpus: it must outrun the engines
 *
 * Training: Adam, batch 256, hard-label cross-entropy. Inference: batch 1024, forward + softmax,
 * the result read back. Per measurement the best of the rounds counts (the machine is shared).
 *
 *   npm run bench:nnet [-- --seconds 3 --rounds 2 --models 440-1024x3-2000,440-512x3-150
 *                          --engines floor,native,wasm,torch,feeder --json]
 *
 * The npm script unsets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (this machine's settings for older
 * OpenBLAS builds) for the benchmark only, so every peer runs the kernel OpenBLAS picks for the
 * CPU; the kernel each peer ran is printed. --json prints one JSON object per line:
 * {"engine", "workers", "model", "trainFps", "inferFps", "floorTrainFps", "floorInferFps"}.
 * --memory instead trains one epoch on a synthetic corpus and on one 4x larger (fresh process
 * each) and prints peak RSS and the shuffle buffer's peak: memory must not grow with the corpus.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend, setDefaultComputeThreads } from '../src/nnet/backend.ts';
import { createFrameClassifier } from '../src/nnet/model.ts';
import { HARD_LABEL_LOSS, NativeTrainer, TfjsTrainer, type NetTrainer } from '../src/nnet/trainer.ts';
import { loadNativeEngine, nativeAddon } from '../src/nnet/native.ts';
import { layerDims } from '../src/nnet/native-net.ts';
import { startModuleWorker } from '../src/nnet/pool.ts';
import { Minibatches, scanSource, type Minibatch } from '../src/nnet/data.ts';
import { SyntheticFrameSource } from '../src/nnet/synthetic.ts';
import { Rng } from '../src/util/rng.ts';

interface Shape {
  input: number;
  hidden: number;
  layers: number;
  output: number;
}
interface Rates {
  trainFps: number;
  inferFps: number;
}
type Engine = 'floor' | 'native' | 'wasm';

const TRAIN_BATCH = 256;
const INFER_BATCH = 1024;
const cores = availableParallelism();

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

function parseShape(s: string): Shape {
  const m = /^(\d+)-(\d+)x(\d+)-(\d+)$/.exec(s);
  if (!m) throw new Error(`bad model '${s}': expected input-hiddenxlayers-output, e.g. 440-1024x3-2000`);
  return { input: +m[1], hidden: +m[2], layers: +m[3], output: +m[4] };
}

const shapeName = (s: Shape) => `${s.input}-${s.hidden}x${s.layers}-${s.output}`;
const dimsOf = (s: Shape) =>
  layerDims({ inputDim: s.input, hiddenLayers: s.layers, hiddenUnits: s.hidden, numSenones: s.output });

/** Calls of fn for `seconds` after a warm-up; frames per second at `rows` frames per call. */
function timed(fn: () => void, rows: number, seconds: number): number {
  fn();
  let k = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    fn();
    k++;
  }
  return (k * rows) / ((performance.now() - t0) / 1000);
}

function randomBatch(shape: Shape, n: number, seed: number): Minibatch {
  const rng = new Rng(seed);
  return {
    size: n,
    inputDim: shape.input,
    x: Float32Array.from({ length: n * shape.input }, () => rng.gauss()),
    labels: Int32Array.from({ length: n }, () => rng.int(shape.output)),
    extras: {},
    uttIds: ['bench'],
    rowUtt: new Int32Array(n),
    rowFrame: new Int32Array(n),
  } as Minibatch;
}

/** One engine's training and inference rates in this thread. */
async function measureHere(engine: Engine, shape: Shape, seconds: number, threads: number): Promise<Rates> {
  if (engine === 'floor') {
    await initBackend({ backend: 'native', quiet: true, threads });
    const a = nativeAddon();
    const dims = Float64Array.from(dimsOf(shape));
    const rate = (batch: number, train: boolean) => {
      a.gemmFloor(dims, batch, train, 1);
      let it = 1;
      let s: number;
      while ((s = a.gemmFloor(dims, batch, train, it)) < seconds / 2) it *= 2;
      return (it * batch) / s;
    };
    return { trainFps: rate(TRAIN_BATCH, true), inferFps: rate(INFER_BATCH, false) };
  }
  await initBackend({ backend: engine, quiet: true, threads });
  const clf = createFrameClassifier(
    { inputDim: shape.input, hiddenLayers: shape.layers, hiddenUnits: shape.hidden, numSenones: shape.output },
    0,
  );
  const trainer: NetTrainer =
    engine === 'native'
      ? new NativeTrainer(clf, { kind: 'adam', learningRate: 1e-3 }, HARD_LABEL_LOSS)
      : new TfjsTrainer(clf, { kind: 'adam', learningRate: 1e-3 }, HARD_LABEL_LOSS);
  const batch = randomBatch(shape, TRAIN_BATCH, 1);
  const trainFps = timed(() => trainer.step(batch, 1e-3, () => 'bench batch'), TRAIN_BATCH, seconds);
  const x = randomBatch(shape, INFER_BATCH, 2).x;
  let inferFps: number;
  if (engine === 'native') {
    const net = (trainer as NativeTrainer).net;
    const a = nativeAddon();
    const post = new Float32Array(INFER_BATCH * shape.output);
    inferFps = timed(
      () => a.softmaxRows(net.forward(x, INFER_BATCH), INFER_BATCH, shape.output, 1, post),
      INFER_BATCH,
      seconds,
    );
  } else {
    const xt = tf.tensor2d(x, [INFER_BATCH, shape.input]);
    // The posteriors leave tf.tidy as a tensor and are read once (dataSync inside tidy made tfjs
    // walk the returned array element by element: the old bench's 7x too slow inference).
    inferFps = timed(
      () => {
        const y = tf.tidy(() => tf.softmax(clf.logits(xt)));
        y.dataSync();
        y.dispose();
      },
      INFER_BATCH,
      seconds,
    );
    xt.dispose();
  }
  trainer.dispose();
  return { trainFps, inferFps };
}

/** `k` worker threads measuring at once (started together); the sum of their rates. */
async function inWorkers(engine: Engine, k: number, shape: Shape, seconds: number, threads: number): Promise<Rates> {
  const url = new URL(import.meta.url);
  const gate = new Int32Array(new SharedArrayBuffer(8));
  const workers = Array.from({ length: k }, () => startModuleWorker(url, { engine, shape, seconds, threads, gate }));
  const results = workers.map(
    (w) =>
      new Promise<Rates>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      }),
  );
  // Release the workers together once all are up.
  while (Atomics.load(gate, 0) < k) await new Promise((r) => setTimeout(r, 5));
  Atomics.store(gate, 1, 1);
  Atomics.notify(gate, 1);
  const all = await Promise.all(results);
  // A finished worker's teardown (its TF.js/wasm heap) keeps a core busy for a while: wait for
  // the exit and let it settle, or the next measurement loses a core (seen: 2-thread rates halved
  // right after the wasm workers).
  await Promise.all(workers.map((w) => w.terminate()));
  await new Promise((r) => setTimeout(r, 1000));
  return { trainFps: all.reduce((s, m) => s + m.trainFps, 0), inferFps: all.reduce((s, m) => s + m.inferFps, 0) };
}

/** The data feed on a synthetic corpus with the recipes' input: 40 bins, +-5 frames, speaker CMVN. */
async function measureFeeder(seconds: number): Promise<number> {
  const source = new SyntheticFrameSource({
    numUtterances: 400,
    featureDim: 40,
    numSenones: 200,
    minFrames: 80,
    maxFrames: 300,
  });
  const scan = await scanSource(source, { numSenones: 200 });
  let frames = 0;
  const t0 = performance.now();
  for (let epoch = 0; performance.now() - t0 < seconds * 1000; epoch++) {
    const batches = new Minibatches(source, {
      batchSize: TRAIN_BATCH,
      shuffle: true,
      shuffleBufferFrames: 100_000,
      seed: epoch,
      splice: { leftContext: 5, rightContext: 5 },
      numSenones: 200,
      cmvn: scan.cmvn,
    });
    for await (const b of batches) {
      frames += b.size;
      if (performance.now() - t0 > seconds * 1000) break;
    }
  }
  return frames / ((performance.now() - t0) / 1000);
}

// ---- PyTorch ------------------------------------------------------------------------------

interface TorchResult extends Rates {
  torch: string;
  blas: string[];
  openblasCoretype: string | null;
  openblasThreads: number | null;
  threads: number;
}

const TORCH_PY = '/usr/bin/python3';
const MALLOC_TUNED = {
  MALLOC_MMAP_THRESHOLD_: '1000000000',
  MALLOC_TRIM_THRESHOLD_: '1000000000',
  MALLOC_TOP_PAD_: '268435456',
};

function torchAvailable(): string | null {
  for (const py of [process.env.AM_DISTILL_PYTHON, TORCH_PY, 'python3'].filter(Boolean) as string[]) {
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return null;
}

function torchMeasure(
  py: string,
  shape: Shape,
  seconds: number,
  threads: number,
  processes: number,
  env: Record<string, string>,
): TorchResult {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'nnet_torch.py');
  const args = [
    script,
    '--threads',
    String(threads),
    '--processes',
    String(processes),
    '--input',
    String(shape.input),
    '--hidden',
    String(shape.hidden),
    '--layers',
    String(shape.layers),
    '--output',
    String(shape.output),
    '--batch',
    String(TRAIN_BATCH),
    '--infer-batch',
    String(INFER_BATCH),
    '--seconds',
    String(seconds),
    '--optimizer',
    'adam',
  ];
  const r = spawnSync(py, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`PyTorch peer failed: ${r.stderr.slice(-2000)}`);
  const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  return {
    trainFps: j.trainFramesPerSec,
    inferFps: j.inferFramesPerSec,
    torch: j.torch,
    blas: j.blas ?? [],
    openblasCoretype: j.openblasCoretype ?? null,
    openblasThreads: j.openblasThreads ?? null,
    threads: j.threads,
  };
}

// ---- main ---------------------------------------------------------------------------------

interface Row {
  engine: string;
  workers: number;
  label: string;
  rounds: Rates[];
  note?: string;
}

function best(rows: Rates[]): Rates {
  return { trainFps: Math.max(...rows.map((r) => r.trainFps)), inferFps: Math.max(...rows.map((r) => r.inferFps)) };
}

async function benchModel(
  shape: Shape,
  engines: Set<string>,
  seconds: number,
  rounds: number,
  py: string | null,
  json: boolean,
): Promise<void> {
  const rows = new Map<string, Row>();
  const add = (key: string, row: Omit<Row, 'rounds'>, r: Rates) => {
    const have = rows.get(key) ?? { ...row, rounds: [] };
    have.rounds.push(r);
    if (row.note) have.note = row.note;
    rows.set(key, have);
  };
  const haveNative = loadNativeEngine().ok;
  for (let round = 0; round < rounds; round++) {
    if (engines.has('floor') && haveNative) {
      add(
        'floor-1',
        { engine: 'floor', workers: 1, label: `GEMM floor, 1 process x ${cores} BLAS threads` },
        await inWorkers('floor', 1, shape, seconds, cores),
      );
      add(
        'floor-k',
        { engine: 'floor', workers: cores, label: `GEMM floor, ${cores} workers x 1 BLAS thread` },
        await inWorkers('floor', cores, shape, seconds, 1),
      );
    }
    if (engines.has('native') && haveNative) {
      add(
        'native-1',
        { engine: 'native', workers: 1, label: `native, 1 worker x ${cores} threads (tiled)` },
        await inWorkers('native', 1, shape, seconds, cores),
      );
      add(
        'native-k',
        { engine: 'native', workers: cores, label: `native, ${cores} workers x 1 thread (tiled)` },
        await inWorkers('native', cores, shape, seconds, 1),
      );
    }
    if (engines.has('wasm')) {
      add(
        'wasm-1',
        { engine: 'wasm', workers: 1, label: 'wasm, 1 worker' },
        await inWorkers('wasm', 1, shape, seconds, 1),
      );
      add(
        'wasm-k',
        { engine: 'wasm', workers: cores, label: `wasm, ${cores} workers` },
        await inWorkers('wasm', cores, shape, seconds, 1),
      );
    }
    if (engines.has('torch') && py) {
      const a = torchMeasure(py, shape, seconds, 0, 1, {});
      add(
        'torch-default',
        {
          engine: 'torch-default',
          workers: 1,
          label: `PyTorch ${a.torch}, default (${a.threads} threads, OpenBLAS ${a.openblasThreads ?? '?'})`,
          note: `${a.blas.join(', ') || 'no BLAS library mapped'}; kernel ${a.openblasCoretype ?? '?'}`,
        },
        a,
      );
      // torch's OpenMP threads spin between parallel sections while OpenBLAS's threads run the
      // GEMMs: on 2 cores that halves training unless they yield (bench/nnet_torch.py docstring).
      const b1 = torchMeasure(py, shape, seconds, cores, 1, {
        ...MALLOC_TUNED,
        OPENBLAS_NUM_THREADS: String(cores),
        OMP_WAIT_POLICY: 'PASSIVE',
      });
      add(
        'torch-tuned-1',
        {
          engine: 'torch-tuned',
          workers: 1,
          label: `PyTorch tuned, 1 process x ${cores} threads`,
          note: `kernel ${b1.openblasCoretype ?? '?'}`,
        },
        b1,
      );
      const b2 = torchMeasure(py, shape, seconds, 1, cores, { ...MALLOC_TUNED, OPENBLAS_NUM_THREADS: '1' });
      add(
        'torch-tuned-k',
        { engine: 'torch-tuned', workers: cores, label: `PyTorch tuned, ${cores} processes x 1 thread` },
        b2,
      );
    }
  }
  if (engines.has('feeder')) {
    const f = await measureFeeder(seconds);
    add(
      'feeder',
      { engine: 'feeder', workers: 1, label: 'data feed (shuffle buffer, CMVN, splice +-5, batch 256), 1 thread' },
      { trainFps: f, inferFps: NaN },
    );
  }

  const floorRows = ['floor-1', 'floor-k'].map((k) => rows.get(k)).filter((r): r is Row => !!r);
  const floor = floorRows.length
    ? {
        trainFps: Math.max(...floorRows.map((r) => best(r.rounds).trainFps)),
        inferFps: Math.max(...floorRows.map((r) => best(r.rounds).inferFps)),
      }
    : null;
  const tunedRows = ['torch-tuned-1', 'torch-tuned-k'].map((k) => rows.get(k)).filter((r): r is Row => !!r);
  const tuned = tunedRows.length
    ? {
        trainFps: Math.max(...tunedRows.map((r) => best(r.rounds).trainFps)),
        inferFps: Math.max(...tunedRows.map((r) => best(r.rounds).inferFps)),
      }
    : null;
  const dflt = rows.get('torch-default') ? best(rows.get('torch-default')!.rounds) : null;

  if (json) {
    for (const r of rows.values()) {
      const b = best(r.rounds);
      console.log(
        JSON.stringify({
          engine: r.engine,
          workers: r.workers,
          model: shapeName(shape),
          trainFps: Math.round(b.trainFps),
          inferFps: Number.isNaN(b.inferFps) ? null : Math.round(b.inferFps),
          floorTrainFps: floor ? Math.round(floor.trainFps) : null,
          floorInferFps: floor ? Math.round(floor.inferFps) : null,
        }),
      );
    }
    return;
  }
  console.log(
    `\nmodel ${shapeName(shape)}: train batch ${TRAIN_BATCH} (Adam), inference batch ${INFER_BATCH} (forward + softmax); best of ${rounds} round(s) of ${seconds} s`,
  );
  const pad = Math.max(...[...rows.values()].map((r) => r.label.length));
  const pct = (a: number, b?: number | null) =>
    (b && Number.isFinite(a) ? `${((100 * a) / b).toFixed(0)}%` : '-').padStart(7);
  const x = (a: number, b?: number | null) => (b && Number.isFinite(a) ? `${(a / b).toFixed(2)}x` : '-').padStart(7);
  console.log(`${''.padEnd(pad)}  train f/s  % floor  vs tuned  vs default  infer f/s  % floor  vs tuned  vs default`);
  for (const r of rows.values()) {
    const b = best(r.rounds);
    console.log(
      `${r.label.padEnd(pad)}  ${b.trainFps.toFixed(0).padStart(9)}  ${pct(b.trainFps, floor?.trainFps)}  ${x(b.trainFps, tuned?.trainFps).padStart(8)}  ${x(b.trainFps, dflt?.trainFps).padStart(10)}  ${(Number.isNaN(b.inferFps) ? '-' : b.inferFps.toFixed(0)).padStart(9)}  ${pct(b.inferFps, floor?.inferFps)}  ${x(b.inferFps, tuned?.inferFps).padStart(8)}  ${x(b.inferFps, dflt?.inferFps).padStart(10)}` +
        (rounds > 1 && r.rounds.length > 1 ? `  rounds: ${r.rounds.map((q) => q.trainFps.toFixed(0)).join('/')}` : ''),
    );
    if (r.note) console.log(`${''.padEnd(pad)}    ${r.note}`);
  }
}

const MEMORY_BASE_UTTS = 300;

/** One epoch of a 440-256x2-500 model on `numUtterances` synthetic utterances (~100 frames each). */
async function memoryChild(numUtterances: number): Promise<void> {
  const { trainFrameClassifier } = await import('../src/nnet/train.ts');
  const { createLogger } = await import('../src/util/log.ts');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'nnet-mem-'));
  const quiet = createLogger({ stream: { write: () => true } });
  const syn = { numUtterances, featureDim: 40, numSenones: 500, minFrames: 50, maxFrames: 150 };
  const r = await trainFrameClassifier({
    outDir: dir,
    train: new SyntheticFrameSource(syn),
    backend: 'auto',
    logger: quiet,
    config: { numSenones: 500, hiddenLayers: 2, hiddenUnits: 256, maxEpochs: 1, shuffleBufferFrames: 10_000 },
  });
  rmSync(dir, { recursive: true, force: true });
  const h = r.history[0];
  console.log(
    JSON.stringify({
      numUtterances,
      backend: r.backend.name,
      frames: h.frames,
      peakBufferedFrames: h.peakBufferedFrames,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
    }),
  );
}

function memoryMain(): void {
  console.log('one training epoch, 440-256x2-500 model, shuffle buffer 10000 frames, fresh process per corpus size');
  for (const n of [MEMORY_BASE_UTTS, 4 * MEMORY_BASE_UTTS]) {
    const runTs = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'run-ts.js');
    const r = spawnSync(process.execPath, [runTs, fileURLToPath(import.meta.url), '--memory-child', String(n)], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`memory run failed: ${r.stderr}`);
    const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    console.log(
      `${String(j.numUtterances).padStart(5)} utterances, ${String(j.frames).padStart(7)} frames (${j.backend}): peak RSS ${(j.maxRssBytes / 2 ** 20).toFixed(0)} MiB, shuffle buffer peak ${j.peakBufferedFrames} frames`,
    );
  }
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const seconds = +arg('seconds', '3');
  const rounds = +arg('rounds', '2');
  const models = arg('models', '440-1024x3-2000,440-512x3-150,440-512x3-200').split(',').map(parseShape);
  const engines = new Set(arg('engines', 'floor,native,wasm,torch,feeder').split(','));
  const native = loadNativeEngine();
  const py = engines.has('torch') ? torchAvailable() : null;
  if (!json) {
    console.log(
      `${cpus().length} cores (${cpus()[0]?.model ?? '?'}); OPENBLAS_CORETYPE ${process.env.OPENBLAS_CORETYPE ?? 'unset'}, OPENBLAS_L2_SIZE ${process.env.OPENBLAS_L2_SIZE ?? 'unset'}`,
    );
    console.log(
      native.ok
        ? `native engine and floor: ${native.blas.library} ${native.blas.path}, kernel ${native.blas.corename}, elementwise ${native.blas.kernelIsa}`
        : `native engine and floor: SKIPPED (${native.reason})`,
    );
    const w = await initBackend({ backend: 'wasm', quiet: true });
    console.log(`wasm: ${w.description}`);
    if (engines.has('torch') && !py)
      console.log(
        `PyTorch: SKIPPED (no python imports torch; Debian: apt-get install python3-torch libopenblas0-pthread)`,
      );
    if (!existsSync(TORCH_PY)) console.log(`(${TORCH_PY} absent)`);
  }
  for (const shape of models) {
    await benchModel(shape, engines, seconds, rounds, py, json);
    engines.delete('feeder'); // the feed does not depend on the model
  }
}

if (!isMainThread) {
  const { engine, shape, seconds, threads, gate } = workerData as {
    engine: Engine;
    shape: Shape;
    seconds: number;
    threads: number;
    gate: Int32Array;
  };
  setDefaultComputeThreads(threads);
  // Wait at the gate until every worker is up, so that they build, warm up and time together.
  Atomics.add(gate, 0, 1);
  Atomics.wait(gate, 1, 0);
  parentPort!.postMessage(await measureHere(engine, shape, seconds, threads));
} else if (process.argv.includes('--memory-child')) {
  await memoryChild(Number(arg('memory-child', '0')));
} else if (process.argv.includes('--memory')) {
  memoryMain();
} else {
  await main();
}
