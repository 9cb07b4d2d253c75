/**
 * npm run bench:nnet -- training and inference frames/s of the default-size frame classifier
 * (440 -> 3 x 1024 ReLU -> 2000, batch 256, Adam) on the wasm backend with one worker and with two
 * workers training at once, against PyTorch CPU on the same model and batch with the same number of
 * threads, in the same run. Prints a table and the ratios.
 *
 *   node bin/run-ts.js bench/nnet.ts [--seconds 3] [--hidden 1024] [--layers 3] [--input 440]
 *                                    [--output 2000] [--batch 256] [--unpatched] [--workers 1,2]
 *
 * --unpatched also times one training step of wasm without the transposed-matMul patch.
 * --memory instead trains one epoch on a synthetic corpus and on one 4x larger (fresh process each)
 * and prints peak RSS and the shuffle buffer's peak: memory must not grow with the corpus.
 * On a shared machine the numbers are provisional: rerun when the cores are idle.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/nnet/backend.ts';
import { createFrameClassifier } from '../src/nnet/model.ts';
import { Optimizer } from '../src/nnet/optim.ts';
import { hardLabelCrossEntropy, trainStep } from '../src/nnet/train.ts';
import { startModuleWorker } from '../src/nnet/pool.ts';
import type { Minibatch } from '../src/nnet/data.ts';
import { Rng } from '../src/util/rng.ts';

interface Shape { input: number; hidden: number; layers: number; output: number; batch: number }
interface Measure { trainFramesPerSec: number; inferFramesPerSec: number; trainSteps: number }

async function measure(shape: Shape, seconds: number, patch: boolean, maxSteps = Infinity): Promise<Measure> {
  await initBackend({ backend: 'wasm', wasmMatMulPatch: patch, quiet: true });
  const clf = createFrameClassifier({ inputDim: shape.input, hiddenLayers: shape.layers, hiddenUnits: shape.hidden, numSenones: shape.output }, 0);
  const opt = new Optimizer(clf.variables, { kind: 'adam', learningRate: 1e-3 });
  const rng = new Rng(1);
  const n = shape.batch;
  const batch: Minibatch = {
    size: n, inputDim: shape.input,
    x: Float32Array.from({ length: n * shape.input }, () => rng.gauss()),
    labels: Int32Array.from({ length: n }, () => rng.int(shape.output)),
    extras: {}, uttIds: ['bench'], rowUtt: new Int32Array(n), rowFrame: new Int32Array(n),
  };
  const vars = clf.variables;
  const step = () => trainStep(clf, opt, vars, hardLabelCrossEntropy, batch, 1e-3, () => 'bench batch');
  const timed = (fn: () => void, limit: number) => {
    fn(); // warm-up
    let k = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000 && k < limit) {
      fn();
      k++;
    }
    return { fps: (k * n) / ((performance.now() - t0) / 1000), steps: k };
  };
  const tr = timed(step, maxSteps);
  const x = tf.tensor2d(batch.x, [n, shape.input]);
  const inf = timed(() => tf.tidy(() => clf.logits(x).dataSync()), maxSteps === Infinity ? Infinity : 2);
  x.dispose();
  opt.dispose();
  clf.dispose();
  return { trainFramesPerSec: tr.fps, inferFramesPerSec: inf.fps, trainSteps: tr.steps };
}

const MEMORY_BASE_UTTS = 300;

/** One epoch of a 440-256x2-500 model on `numUtterances` synthetic utterances (~100 frames each). */
async function memoryChild(numUtterances: number): Promise<void> {
  const { trainFrameClassifier } = await import('../src/nnet/train.ts');
  const { SyntheticFrameSource } = await import('../src/nnet/synthetic.ts');
  const { createLogger } = await import('../src/util/log.ts');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'nnet-mem-'));
  const quiet = createLogger({ stream: { write: () => true } });
  const syn = { numUtterances, featureDim: 40, numSenones: 500, minFrames: 50, maxFrames: 150 };
  const r = await trainFrameClassifier({
    outDir: dir, train: new SyntheticFrameSource(syn), backend: 'wasm', logger: quiet,
    config: { numSenones: 500, hiddenLayers: 2, hiddenUnits: 256, maxEpochs: 1, shuffleBufferFrames: 10_000 },
  });
  rmSync(dir, { recursive: true, force: true });
  const h = r.history[0];
  console.log(JSON.stringify({ numUtterances, frames: h.frames, peakBufferedFrames: h.peakBufferedFrames, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
}

function memoryMain(): void {
  console.log('one training epoch, 440-256x2-500 model, shuffle buffer 10000 frames, fresh process per corpus size');
  for (const n of [MEMORY_BASE_UTTS, 4 * MEMORY_BASE_UTTS]) {
    const runTs = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'run-ts.js');
    const r = spawnSync(process.execPath, [runTs, fileURLToPath(import.meta.url), '--memory-child', String(n)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`memory run failed: ${r.stderr}`);
    const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    console.log(`${String(j.numUtterances).padStart(5)} utterances, ${String(j.frames).padStart(7)} frames: peak RSS ${(j.maxRssBytes / 2 ** 20).toFixed(0)} MiB, shuffle buffer peak ${j.peakBufferedFrames} frames`);
  }
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

async function inWorkers(k: number, shape: Shape, seconds: number): Promise<Measure[]> {
  const url = new URL(import.meta.url);
  return Promise.all(Array.from({ length: k }, () => new Promise<Measure>((resolve, reject) => {
    const w = startModuleWorker(url, { shape, seconds, patch: true });
    w.once('message', (m: Measure) => { resolve(m); void w.terminate(); });
    w.once('error', reject);
  })));
}

function torchCommand(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return null;
}

function torchMeasure(py: string, threads: number, shape: Shape, seconds: number): Measure & { torch: string } {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'nnet_torch.py');
  const args = [script, '--threads', String(threads), '--input', String(shape.input), '--hidden', String(shape.hidden), '--layers', String(shape.layers), '--output', String(shape.output), '--batch', String(shape.batch), '--seconds', String(seconds)];
  const r = spawnSync(py, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`PyTorch reference failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  return { trainFramesPerSec: j.trainFramesPerSec, inferFramesPerSec: j.inferFramesPerSec, trainSteps: NaN, torch: j.torch };
}

async function main(): Promise<void> {
  const shape: Shape = { input: +arg('input', '440'), hidden: +arg('hidden', '1024'), layers: +arg('layers', '3'), output: +arg('output', '2000'), batch: +arg('batch', '256') };
  const seconds = +arg('seconds', '3');
  const workerCounts = arg('workers', '1,2').split(',').map(Number);
  const info = await initBackend({ backend: 'wasm', quiet: true });
  console.log(`model ${shape.input}-${shape.hidden}x${shape.layers}-${shape.output}, batch ${shape.batch}, Adam; ${seconds} s per measurement; ${cpus().length} cores (${cpus()[0]?.model ?? '?'})`);
  console.log(`wasm: ${info.description}`);
  const rows: { name: string; threads: number; m: Measure }[] = [];
  if (process.argv.includes('--unpatched')) {
    const m = await measure(shape, seconds, false, 1);
    rows.push({ name: 'wasm, no transpose patch (1 step)', threads: 1, m });
  }
  for (const k of workerCounts) {
    const ms = await inWorkers(k, shape, seconds);
    const sum = { trainFramesPerSec: ms.reduce((s, m) => s + m.trainFramesPerSec, 0), inferFramesPerSec: ms.reduce((s, m) => s + m.inferFramesPerSec, 0), trainSteps: ms.reduce((s, m) => s + m.trainSteps, 0) };
    rows.push({ name: `wasm, ${k} worker${k > 1 ? 's' : ''} (sum)`, threads: k, m: sum });
  }
  const py = torchCommand();
  const torchRows = new Map<number, Measure>();
  if (py === null) {
    console.log('PyTorch: not available (neither python3 nor /usr/bin/python3 imports torch; Debian: apt-get install python3-torch)');
  } else {
    for (const k of workerCounts) {
      const m = torchMeasure(py, k, shape, seconds);
      torchRows.set(k, m);
      rows.push({ name: `PyTorch ${m.torch} CPU, ${k} thread${k > 1 ? 's' : ''}`, threads: k, m });
    }
  }
  const pad = Math.max(...rows.map((r) => r.name.length));
  console.log(`${'backend'.padEnd(pad)}  train frames/s  infer frames/s  train vs PyTorch  infer vs PyTorch`);
  for (const r of rows) {
    const t = torchRows.get(r.threads);
    const ratio = (a: number, b?: number) => (b ? `${(a / b).toFixed(2)}x` : '-').padStart(16);
    const isTorch = r.name.startsWith('PyTorch');
    console.log(`${r.name.padEnd(pad)}  ${r.m.trainFramesPerSec.toFixed(0).padStart(14)}  ${r.m.inferFramesPerSec.toFixed(0).padStart(14)}  ${isTorch ? '-'.padStart(16) : ratio(r.m.trainFramesPerSec, t?.trainFramesPerSec)}  ${isTorch ? '-'.padStart(16) : ratio(r.m.inferFramesPerSec, t?.inferFramesPerSec)}`);
  }
}

if (!isMainThread) {
  const { shape, seconds, patch } = workerData as { shape: Shape; seconds: number; patch: boolean };
  parentPort!.postMessage(await measure(shape, seconds, patch));
} else if (process.argv.includes('--memory-child')) {
  await memoryChild(Number(arg('memory-child', '0')));
} else if (process.argv.includes('--memory')) {
  memoryMain();
} else {
  await main();
}
