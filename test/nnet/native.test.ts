import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { initBackend, setDefaultComputeThreads } from '../../src/nnet/backend.ts';
import { loadNativeEngine, type NativeAddon } from '../../src/nnet/native.ts';
import { NativeMlp, NativeOptimizer, NativeWeightAverager, layerDims } from '../../src/nnet/native-net.ts';
import { createFrameClassifier } from '../../src/nnet/model.ts';
import {
  trainFrameClassifier,
  utteranceLogits,
  evaluateFrameAccuracy,
  type TrainOptions,
} from '../../src/nnet/train.ts';
import { loadModelDir } from '../../src/nnet/io.ts';
import { scanSource, type Minibatch } from '../../src/nnet/data.ts';
import { SyntheticFrameSource } from '../../src/nnet/synthetic.ts';
import { distillationNativeLossFn } from '../../src/distill/loss.ts';
import { SOFT_IDS, SOFT_PROBS, SOFT_RESIDUAL } from '../../src/distill/loss.ts';
import { Rng } from '../../src/util/rng.ts';
import { REPO_ROOT } from '../helpers.ts';
import { captureLogger, expectRelClose, tempDir, TINY_DEV, TINY_MODEL, TINY_TRAIN } from './helpers.ts';

const status = loadNativeEngine();
if (!status.ok) console.warn(`SKIPPED: the native-engine tests (no native engine: ${status.reason})`);
const addon = (): NativeAddon => (status.ok ? status.addon : (null as never));

// ---- float64 references -------------------------------------------------------------------

/** Logits of each row in float64 for the network's float32 parameters. */
function refForward(
  params: readonly ArrayLike<number>[],
  dims: number[],
  x: ArrayLike<number>,
  n: number,
): Float64Array {
  let a = Float64Array.from(x);
  for (let l = 0; l + 1 < dims.length; l++) {
    const din = dims[l],
      dout = dims[l + 1],
      W = params[2 * l],
      b = params[2 * l + 1];
    const out = new Float64Array(n * dout);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < dout; j++) {
        let s = b[j];
        for (let k = 0; k < din; k++) s += a[i * din + k] * W[k * dout + j];
        out[i * dout + j] = l + 2 < dims.length ? Math.max(0, s) : s;
      }
    }
    a = out;
  }
  return a;
}

function logSumExp(z: ArrayLike<number>, off: number, s: number, t = 1): number {
  let m = -Infinity;
  for (let j = 0; j < s; j++) m = Math.max(m, z[off + j] / t);
  let sum = 0;
  for (let j = 0; j < s; j++) sum += Math.exp(z[off + j] / t - m);
  return m + Math.log(sum);
}

function refHardLoss(z: ArrayLike<number>, n: number, s: number, labels: Int32Array): number {
  let loss = 0;
  for (let i = 0; i < n; i++) loss += logSumExp(z, i * s, s) - z[i * s + labels[i]];
  return loss / n;
}

interface SparseTargets {
  k: number;
  ids: Int32Array;
  probs: Float32Array;
  residual: Float32Array | null;
}

/** The distillation loss (mean over rows) with dense p built from top-k + residual spread. */
function refDistillLoss(
  z: ArrayLike<number>,
  n: number,
  s: number,
  t: SparseTargets,
  T: number,
  labels: Int32Array | null,
  w: ArrayLike<number>,
  convex: boolean,
): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const p = new Float64Array(s);
    const spread = t.residual && s > t.k ? t.residual[i] / (s - t.k) : 0;
    p.fill(spread);
    for (let j = 0; j < t.k; j++) p[t.ids[i * t.k + j]] = t.probs[i * t.k + j];
    const lseT = logSumExp(z, i * s, s, T);
    let soft = 0;
    for (let j = 0; j < s; j++) soft -= p[j] * (z[i * s + j] / T - lseT);
    let row = T * T * soft;
    if (labels && w[i] > 0) row += w[i] * (logSumExp(z, i * s, s) - z[i * s + labels[i]]);
    total += convex ? row / (1 + w[i]) : row;
  }
  return total / n;
}

/** Central finite difference of f at x[i] (x is float64 and restored afterwards). */
function fd(f: () => number, x: Float64Array, i: number, h: number): number {
  const keep = x[i];
  x[i] = keep + h;
  const up = f();
  x[i] = keep - h;
  const down = f();
  x[i] = keep;
  return (up - down) / (2 * h);
}

function randomArray(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.gauss() * scale);
}

function sparseTargets(rng: Rng, n: number, s: number, k: number): SparseTargets {
  const ids = new Int32Array(n * k),
    probs = new Float32Array(n * k),
    residual = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const chosen = new Set<number>();
    while (chosen.size < k) chosen.add(rng.int(s));
    const raw = Array.from({ length: k }, () => rng.next() + 0.05);
    const r = 0.1 * rng.next();
    const sum = raw.reduce((a, b) => a + b, 0);
    [...chosen].forEach((id, j) => {
      ids[i * k + j] = id;
      probs[i * k + j] = ((1 - r) * raw[j]) / sum;
    });
    residual[i] = r;
  }
  return { k, ids, probs, residual };
}

function batchOf(
  x: Float32Array,
  n: number,
  inputDim: number,
  labels: Int32Array | null,
  t?: SparseTargets,
  uttIds = ['u0'],
): Minibatch {
  const extras: Minibatch['extras'] = {};
  if (t) {
    extras[SOFT_IDS] = { dim: t.k, data: t.ids };
    extras[SOFT_PROBS] = { dim: t.k, data: t.probs };
    if (t.residual) extras[SOFT_RESIDUAL] = { dim: 1, data: t.residual };
  }
  return {
    size: n,
    inputDim,
    x,
    labels: labels ?? undefined,
    extras,
    uttIds,
    rowUtt: new Int32Array(n),
    rowFrame: Int32Array.from({ length: n }, (_, i) => i),
  } as Minibatch;
}

// ---- tests ---------------------------------------------------------------------------------

describe.skipIf(!status.ok)('the native engine against float64 references (needs the native engine)', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'native', quiet: true, threads: 1 });
  });

  const shape = { inputDim: 7, hiddenLayers: 2, hiddenUnits: 6, numSenones: 5 };
  const dims = layerDims(shape);

  it('names the BLAS it loaded and the instruction set of its own kernels', () => {
    if (!status.ok) return;
    expect(status.blas.path).toMatch(/blas/i);
    expect(['avx512f', 'avx2', 'default']).toContain(status.blas.kernelIsa);
  });

  it('computes GEMMs with every transpose combination as the definition says', () => {
    const rng = new Rng(3);
    const m = 5,
      n = 4,
      k = 3;
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      const A = randomArray(rng, m * k),
        B = randomArray(rng, k * n),
        C = randomArray(rng, m * n);
      const want = new Float64Array(m * n);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += (ta ? A[p * m + i] : A[i * k + p]) * (tb ? B[j * k + p] : B[p * n + j]);
          want[i * n + j] = 0.5 * s + 2 * C[i * n + j];
        }
      addon().gemm(ta, tb, m, n, k, 0.5, A, B, 2, C);
      expectRelClose(C, want, 1e-6, `gemm transA=${ta} transB=${tb}`);
    }
  });

  it('runs the forward pass (bias, ReLU, logits) as the float64 reference does', () => {
    const rng = new Rng(4);
    const net = new NativeMlp(
      shape,
      dims.slice(0, -1).flatMap((d, l) => [randomArray(rng, d * dims[l + 1], 0.5), randomArray(rng, dims[l + 1], 0.3)]),
    );
    const n = 9;
    const x = randomArray(rng, n * shape.inputDim);
    expectRelClose(net.forward(x, n), refForward(net.params, dims, x, n), 1e-5, 'logits');
  });

  it('back-propagates the hard-label loss: every parameter gradient matches finite differences of the float64 loss', () => {
    const rng = new Rng(5);
    const net = new NativeMlp(
      shape,
      dims.slice(0, -1).flatMap((d, l) => [randomArray(rng, d * dims[l + 1], 0.6), randomArray(rng, dims[l + 1], 0.3)]),
    );
    const n = 6;
    const x = randomArray(rng, n * shape.inputDim);
    const labels = Int32Array.from({ length: n }, () => rng.int(shape.numSenones));
    const z = net.forward(x, n);
    const out = new Float64Array(2);
    addon().xentHard(z, n, shape.numSenones, labels, net.logitGradBuffer(n), 1 / n, out);
    net.backward(x, n);
    const p64 = net.params.map((p) => Float64Array.from(p));
    const loss = () => refHardLoss(refForward(p64, dims, x, n), n, shape.numSenones, labels);
    expect(out[0] / n).toBeCloseTo(loss(), 5);
    p64.forEach((p, a) => {
      const numeric = Array.from(p, (_, i) => fd(loss, p, i, 1e-6));
      expectRelClose(net.grads[a], numeric, 2e-4, `gradient of parameter array ${a}`, 1e-3);
    });
  });

  it('computes the distillation loss (top-k + residual, T = 2, per-row hard weights, convex) and its logit gradient as the float64 reference', () => {
    const rng = new Rng(6);
    const n = 7,
      S = 9,
      k = 3,
      T = 2;
    for (const convex of [false, true]) {
      const z = randomArray(rng, n * S, 2);
      const t = sparseTargets(rng, n, S, k);
      const labels = Int32Array.from({ length: n }, () => rng.int(S));
      const rowW = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : 0.5));
      const dz = new Float32Array(n * S);
      const out = new Float64Array(4);
      addon().xentDistill(z, n, S, T, t.ids, t.probs, k, t.residual, labels, rowW, 0.5, convex, dz, 1 / n, out);
      const z64 = Float64Array.from(z);
      const f = () => refDistillLoss(z64, n, S, t, T, labels, rowW, convex);
      expect(out[2] / n).toBeCloseTo(f(), 5);
      expectRelClose(
        dz,
        Array.from(z64, (_, i) => fd(f, z64, i, 1e-6)),
        1e-4,
        `dL/dz (convex ${convex})`,
        1e-3,
      );
    }
  });

  it('takes dense targets and no labels (hard weight 0) in the same kernel', () => {
    const rng = new Rng(7);
    const n = 4,
      S = 6,
      T = 3;
    const z = randomArray(rng, n * S);
    const dense = new Float32Array(n * S);
    for (let i = 0; i < n; i++) {
      const raw = Array.from({ length: S }, () => rng.next());
      const sum = raw.reduce((a, b) => a + b, 0);
      raw.forEach((v, j) => (dense[i * S + j] = v / sum));
    }
    const dz = new Float32Array(n * S);
    const out = new Float64Array(4);
    addon().xentDistill(z, n, S, T, null, dense, 0, null, null, null, 0, false, dz, 1 / n, out);
    const z64 = Float64Array.from(z);
    const f = () => {
      let total = 0;
      for (let i = 0; i < n; i++) {
        const lse = logSumExp(z64, i * S, S, T);
        for (let j = 0; j < S; j++) total -= T * T * dense[i * S + j] * (z64[i * S + j] / T - lse);
      }
      return total / n;
    };
    expect(out[2] / n).toBeCloseTo(f(), 5);
    expectRelClose(
      dz,
      Array.from(z64, (_, i) => fd(f, z64, i, 1e-6)),
      1e-4,
      'dL/dz dense',
      1e-3,
    );
  });

  it('plugs the distillation loss into training as the TF.js loss does (same value on the same batch)', async () => {
    const rng = new Rng(8);
    const n = 5,
      S = 8,
      k = 3;
    const t = sparseTargets(rng, n, S, k);
    const labels = Int32Array.from({ length: n }, () => rng.int(S));
    const z = randomArray(rng, n * S);
    const batch = batchOf(new Float32Array(n), n, 1, labels, t, ['vtlp0.9-a']);
    const fn = distillationNativeLossFn({ temperature: 2, hardWeight: 0.5, copiesHardWeight: 0, softTerm: 'kl' }, k);
    const r = fn(addon(), z, null, batch, S);
    // Every row is a VTLP copy (weight 0): the KL soft term alone.
    const ce = refDistillLoss(Float64Array.from(z), n, S, t, 2, labels, new Float64Array(n), false);
    let h = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < k; j++) h -= t.probs[i * k + j] * Math.log(t.probs[i * k + j]);
      const spread = t.residual![i] / (S - k);
      h -= (S - k) * spread * Math.log(spread);
    }
    expect(r.loss).toBeCloseTo(ce - (4 * h) / n, 5);
    expect(() =>
      fn(
        addon(),
        z,
        null,
        batchOf(new Float32Array(n), n, 1, labels, {
          ...t,
          k: 2,
          ids: t.ids.subarray(0, n * 2),
          probs: t.probs.subarray(0, n * 2),
        }),
        S,
      ),
    ).toThrow(/another top-k width; expected k = 3, found k = 2/);
  });

  it('rejects a label outside the outputs with a message naming the row', () => {
    const z = new Float32Array(2 * 3);
    expect(() => addon().xentHard(z, 2, 3, Int32Array.from([0, 3]), null, 1, new Float64Array(2))).toThrow(
      /label 3 of row 1 outside 0..2/,
    );
    expect(() =>
      addon().gemm(false, false, 2, 2, 2, 1, new Float32Array(3), new Float32Array(4), 0, new Float32Array(4)),
    ).toThrow(/A: too short/);
  });

  it('updates weights with Adam and SGD-momentum as the float64 formulas (with L2)', () => {
    const rng = new Rng(9);
    const net = new NativeMlp({ inputDim: 3, hiddenLayers: 0, hiddenUnits: 1, numSenones: 2 }, [
      randomArray(rng, 6),
      randomArray(rng, 2),
    ]);
    for (const kind of ['adam', 'sgd'] as const) {
      const start = net.params.map((p) => Float64Array.from(p));
      const w = start.map((p) => Float64Array.from(p));
      const m = w.map((p) => new Float64Array(p.length)),
        v = w.map((p) => new Float64Array(p.length));
      const opt = new NativeOptimizer(net, { kind, l2: 0.01, momentum: 0.9 });
      const lr = kind === 'adam' ? 0.01 : 0.1;
      for (let step = 1; step <= 3; step++) {
        net.grads.forEach((g) => g.set(randomArray(rng, g.length)));
        opt.apply(lr);
        net.grads.forEach((g, a) => {
          for (let i = 0; i < g.length; i++) {
            const gi = g[i] + 0.01 * w[a][i];
            if (kind === 'sgd') {
              m[a][i] = 0.9 * m[a][i] + gi;
              w[a][i] -= lr * m[a][i];
            } else {
              m[a][i] = 0.9 * m[a][i] + 0.1 * gi;
              v[a][i] = 0.999 * v[a][i] + 0.001 * gi * gi;
              const c1 = 1 - 0.9 ** step,
                c2 = 1 - 0.999 ** step;
              w[a][i] -= ((lr * Math.sqrt(c2)) / c1) * (m[a][i] / (Math.sqrt(v[a][i]) + 1e-8 * Math.sqrt(c2)));
            }
          }
        });
      }
      net.params.forEach((p, a) => expectRelClose(p, w[a], 1e-5, `${kind} weights ${a}`));
      // The state round-trips through the checkpoint format.
      const saved = opt.saveState();
      const again = new NativeOptimizer(net, { kind, l2: 0.01 });
      again.loadState(saved.header, saved.data, 'test');
      expect(Buffer.from(again.saveState().data).equals(Buffer.from(saved.data))).toBe(true);
      expect(() =>
        new NativeOptimizer(net, { kind: kind === 'adam' ? 'sgd' : 'adam' }).loadState(
          saved.header,
          saved.data,
          'opt.bin',
        ),
      ).toThrow(/opt.bin: optimizer state does not fit/);
      net.setParams(start.map((p) => Float32Array.from(p)));
    }
  });

  it('keeps the running mean of the weights', () => {
    const net = new NativeMlp({ inputDim: 2, hiddenLayers: 0, hiddenUnits: 1, numSenones: 1 }, [
      Float32Array.from([1, 2]),
      Float32Array.from([3]),
    ]);
    const avg = new NativeWeightAverager(net);
    avg.update(4);
    net.setParams([Float32Array.from([3, 6]), Float32Array.from([5])]);
    avg.update(4);
    avg.assign();
    expect(Array.from(net.params[0])).toEqual([2, 4]);
    expect(Array.from(net.params[1])).toEqual([4]);
    expect(avg.fromEpoch).toBe(4);
  });
});

const train = new SyntheticFrameSource(TINY_TRAIN);
const dev = new SyntheticFrameSource(TINY_DEV);
function opts(
  outDir: string,
  backend: TrainOptions['backend'],
  config: Partial<TrainOptions['config']> = {},
): TrainOptions {
  return {
    outDir,
    train,
    dev,
    backend,
    logger: captureLogger(),
    config: { ...TINY_MODEL, maxEpochs: 3, schedule: 'constant', ...config },
  };
}

describe.skipIf(!status.ok)('training on the native engine (needs the native engine)', () => {
  let dirN: string, dirW: string;
  let rN: Awaited<ReturnType<typeof trainFrameClassifier>>, rW: Awaited<ReturnType<typeof trainFrameClassifier>>;

  beforeAll(async () => {
    dirW = tempDir();
    rW = await trainFrameClassifier(opts(dirW, 'wasm'));
    dirN = tempDir();
    setDefaultComputeThreads(1);
    rN = await trainFrameClassifier(opts(dirN, 'native'));
  });

  it("reaches the wasm engine's accuracy on the same data and seed (within 2 points, every epoch)", () => {
    expect(rN.backend.name).toBe('native');
    expect(rN.bestAccuracy).toBeGreaterThan(0.6);
    rN.history.forEach((h, i) => {
      expect(Math.abs(h.devAccuracy! - rW.history[i].devAccuracy!)).toBeLessThan(0.02);
      expect(Math.abs(h.trainLoss - rW.history[i].trainLoss)).toBeLessThan(0.02 * rW.history[i].trainLoss + 1e-3);
    });
  });

  it('gives the same bytes for the same config and seed whatever the thread count (tiled GEMMs)', async () => {
    const again = tempDir();
    setDefaultComputeThreads(2);
    try {
      await trainFrameClassifier(opts(again, 'native'));
    } finally {
      setDefaultComputeThreads(null);
    }
    for (const f of ['weights.bin', 'model.json'])
      expect(readFileSync(join(again, 'final', f)).equals(readFileSync(join(dirN, 'final', f))), f).toBe(true);
    // A model whose GEMMs span several 256 x 256 tiles: 1, 2 and 3 compute threads give the same
    // bytes, because each tile is one single-threaded BLAS call whatever thread runs it (OpenBLAS's
    // own threading changed the bits with the thread count: scripts/blas-thread-bits.ts).
    const big = { hiddenUnits: 600, batchSize: 512, maxEpochs: 1 };
    const [one, two, three] = [tempDir(), tempDir(), tempDir()];
    for (const [dir, threads] of [
      [one, 1],
      [two, 2],
      [three, 3],
    ] as const) {
      setDefaultComputeThreads(threads);
      try {
        await trainFrameClassifier(opts(dir, 'native', big));
      } finally {
        setDefaultComputeThreads(null);
      }
    }
    const weights = (dir: string) => readFileSync(join(dir, 'final', 'weights.bin'));
    // On a mismatch, say how many weights differ and by how much: a few ulps point at rounding
    // (a blocking that changed), large differences at a race (a tile written twice or read early).
    const differences = (a: Buffer, b: Buffer) => {
      const x = new Float32Array(a.buffer, a.byteOffset, a.length / 4);
      const y = new Float32Array(b.buffer, b.byteOffset, b.length / 4);
      let n = 0;
      let max = 0;
      for (let i = 0; i < x.length; i++)
        if (x[i] !== y[i]) {
          n++;
          max = Math.max(max, Math.abs(x[i] - y[i]));
        }
      return `${n} of ${x.length} weights differ, by up to ${max}`;
    };
    const same = /^0 of /;
    expect(differences(weights(one), weights(two)), '1 vs 2 threads').toMatch(same);
    expect(differences(weights(one), weights(three)), '1 vs 3 threads').toMatch(same);
    expect(weights(one).equals(weights(two))).toBe(true);
  });

  it('saves TF.js models that load and run on both engines with the same logits', async () => {
    const { classifier, sidecar } = await loadModelDir(join(dirN, 'final'));
    const devScan = await scanSource(dev, { numSenones: 8 });
    const u = dev.utterance(0);
    await initBackend({ backend: 'native', quiet: true });
    const zn = utteranceLogits(classifier, u, { cmvn: devScan.cmvn, splice: sidecar.splice, batchSize: 7 });
    const evN = await evaluateFrameAccuracy(classifier, dev, {
      cmvn: devScan.cmvn,
      splice: sidecar.splice,
      numSenones: 8,
    });
    await initBackend({ backend: 'wasm', quiet: true });
    const { classifier: c2 } = await loadModelDir(join(dirN, 'final'));
    const zw = utteranceLogits(c2, u, { cmvn: devScan.cmvn, splice: sidecar.splice, batchSize: 7 });
    const evW = await evaluateFrameAccuracy(c2, dev, { cmvn: devScan.cmvn, splice: sidecar.splice, numSenones: 8 });
    expectRelClose(zn, zw, 1e-5, 'logits native vs wasm');
    expect(evN.accuracy).toBeCloseTo(evW.accuracy, 2);
    expect(evN.accuracy).toBeCloseTo(rN.bestAccuracy, 10);
    classifier.dispose();
    c2.dispose();
  });

  it('resumes a wasm checkpoint on the native engine (same checkpoint format)', async () => {
    const dir = tempDir();
    await trainFrameClassifier(opts(dir, 'wasm', { maxEpochs: 1 }));
    const r = await trainFrameClassifier(opts(dir, 'native', { maxEpochs: 3 }));
    expect(r.resumedAfterEpoch).toBe(1);
    expect(r.history.length).toBe(3);
    expect(r.bestAccuracy).toBeGreaterThan(0.6);
  });

  it('refuses a TF.js-only loss with a config error that says which backend to use', async () => {
    const dir = tempDir();
    await expect(trainFrameClassifier({ ...opts(dir, 'native'), loss: () => null as never })).rejects.toThrow(
      /no native implementation.*'wasm'/,
    );
  });

  it('creates the same initial weights as the TF.js model', () => {
    const c = createFrameClassifier({ inputDim: 4, hiddenLayers: 1, hiddenUnits: 3, numSenones: 2 }, 11);
    const net = NativeMlp.fromClassifier(c);
    c.weightArrays().forEach((w, i) => expect(Array.from(net.params[i])).toEqual(Array.from(w)));
    c.dispose();
  });
});

describe('choosing the engine (child processes)', () => {
  const runTs = join(REPO_ROOT, 'bin', 'run-ts.js');
  const script = join(REPO_ROOT, 'test', 'nnet', 'fixtures', 'print-backend.ts');
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, [runTs, script], { encoding: 'utf8', env: { ...process.env, ...env } });

  it('falls back to wasm with one line saying why the native engine is absent and how to get it', () => {
    const r = run({ AM_DISTILL_NATIVE: '0' });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(j.name).toBe('wasm');
    expect(j.description).toMatch(/not used: .*native \(disabled by AM_DISTILL_NATIVE=0\)/);
    expect(r.stderr.split('\n').filter((l) => l.includes('nnet backend:'))).toHaveLength(1);
  });

  it('never fails the install: a broken toolchain leaves a status file with the reason, and the script exits 0', () => {
    const dir = tempDir('native-build-');
    for (const f of ['engine.cc', 'binding.gyp'])
      writeFileSync(join(dir, f), readFileSync(join(REPO_ROOT, 'native', f)));
    const { AM_DISTILL_NATIVE: _off, ...env } = process.env; // the build must be attempted, whatever the caller's setting
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-native.mjs'), '--dir', dir], {
      encoding: 'utf8',
      env: { ...env, CXX: '/bin/false', CC: '/bin/false' },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/native engine not built \(the wasm engine will be used\)/);
    const st = JSON.parse(readFileSync(join(dir, 'build', 'status.json'), 'utf8'));
    expect(st.ok).toBe(false);
    expect(st.reason).toMatch(/the C\+\+ build failed .*(make|Error)/);
  });

  it('names the missing BLAS and the apt line when no BLAS opens', () => {
    const r = run({ AM_DISTILL_BLAS: '/nonexistent/libnoblas.so.0' });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    if (!status.ok && !/no optimised BLAS/.test(j.description)) return; // no addon at all: covered above
    expect(j.name).toBe('wasm');
    expect(j.description).toMatch(
      /native \(no optimised BLAS found \(.*libnoblas.*\); apt-get install libopenblas0 \(or libopenblas-dev\); no rebuild needed\)/,
    );
  });

  it.skipIf(!status.ok)(
    'chooses the native engine automatically when the addon and OpenBLAS are there, naming the library and threads',
    () => {
      const r = run({});
      expect(r.status, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
      expect(j.name).toBe('native');
      expect(j.description).toMatch(
        /^native \(OpenBLAS [\d.]+ \S+libopenblas\S*\.so[\d.]*, kernel \w+, \d+ compute threads?, elementwise \w+\)/,
      );
    },
  );
});
