import { describe, it, expect, afterAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/nnet/backend.ts';
import { isWasmMatMulPatched, patchWasmMatMul, unpatchWasmMatMul } from '../../src/nnet/wasm-matmul.ts';
import { createFrameClassifier } from '../../src/nnet/model.ts';
import { hardLabelCrossEntropy } from '../../src/nnet/train.ts';
import type { Minibatch } from '../../src/nnet/data.ts';
import { Rng } from '../../src/util/rng.ts';
import { expectRelClose } from './helpers.ts';

type Backend = 'wasm-unpatched' | 'wasm-patched' | 'cpu';

async function use(b: Backend): Promise<void> {
  if (b === 'cpu') await initBackend({ backend: 'cpu', quiet: true });
  else await initBackend({ backend: 'wasm', wasmMatMulPatch: b === 'wasm-patched', quiet: true });
}

function randomArray(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.gauss());
}

/** Loss and gradients of a small MLP (17 -> 12 -> 9 -> 5, batch 7) on one backend. */
function lossAndGrads(): { loss: number; grads: Float32Array[] } {
  const clf = createFrameClassifier({ inputDim: 17, hiddenLayers: 2, hiddenUnits: 12, numSenones: 5 }, 3);
  // Non-zero biases so every path of the fused kernels is exercised.
  const rng = new Rng(11);
  clf.model.setWeights(clf.model.getWeights().map((w) => tf.tensor(randomArray(rng, w.size), w.shape)));
  const n = 7;
  const batch: Minibatch = {
    size: n,
    inputDim: 17,
    x: randomArray(rng, n * 17),
    labels: Int32Array.from({ length: n }, () => rng.int(5)),
    extras: {},
    uttIds: ['u'],
    rowUtt: new Int32Array(n),
    rowFrame: new Int32Array(n),
  };
  const x = tf.tensor2d(batch.x, [n, 17]);
  const { value, grads } = tf.variableGrads(() => hardLabelCrossEntropy(clf.logits(x, true), batch), clf.variables);
  const out = {
    loss: value.dataSync()[0],
    grads: clf.variables.map((v) => Float32Array.from(grads[v.name].dataSync() as Float32Array)),
  };
  tf.dispose([x, value, ...Object.values(grads)]);
  clf.dispose();
  return out;
}

describe('wasm transposed-matMul patch', () => {
  afterAll(async () => {
    await initBackend({ backend: 'wasm', quiet: true });
  });

  it('gives the same loss and gradients as the unpatched wasm backend and the cpu backend (1e-5 relative)', async () => {
    const results = {} as Record<Backend, { loss: number; grads: Float32Array[] }>;
    for (const b of ['wasm-unpatched', 'wasm-patched', 'cpu'] as const) {
      await use(b);
      if (b !== 'cpu') expect(isWasmMatMulPatched()).toBe(b === 'wasm-patched');
      results[b] = lossAndGrads();
    }
    const p = results['wasm-patched'];
    for (const ref of ['wasm-unpatched', 'cpu'] as const) {
      expectRelClose([p.loss], [results[ref].loss], 1e-5, `loss vs ${ref}`);
      expect(p.grads.length).toBe(6);
      p.grads.forEach((g, i) => expectRelClose(g, results[ref].grads[i], 1e-5, `gradient ${i} vs ${ref}`));
    }
    // The gradients are not trivially zero.
    expect(Math.max(...p.grads[0].map(Math.abs))).toBeGreaterThan(1e-3);
  });

  // Fused matMul is compared at rank 2 only (dense layers): tfjs-backend-wasm 4.22 adds the bias
  // wrongly for batched rank-3 _FusedMatMul with or without this patch (see docs/decisions.md).
  it('computes every transpose combination of matMul (rank 2, batched rank 3) and fused matMul (rank 2) like the cpu backend', async () => {
    const rng = new Rng(5);
    const cases: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [];
    for (const ta of [false, true])
      for (const tb of [false, true]) {
        cases.push({ a: ta ? [6, 4] : [4, 6], b: tb ? [3, 6] : [6, 3], ta, tb });
        cases.push({ a: ta ? [2, 6, 4] : [2, 4, 6], b: tb ? [2, 3, 6] : [2, 6, 3], ta, tb });
      }
    const inputs = cases.map((c) => ({
      ...c,
      av: randomArray(
        rng,
        c.a.reduce((x, y) => x * y),
      ),
      bv: randomArray(
        rng,
        c.b.reduce((x, y) => x * y),
      ),
      bias: randomArray(rng, 3),
    }));
    const run = () =>
      inputs.map((c) =>
        tf.tidy(() => {
          const a = tf.tensor(c.av, c.a),
            b = tf.tensor(c.bv, c.b);
          const plain = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, c.ta, c.tb).dataSync();
          if (c.a.length === 3) return [Float32Array.from(plain)];
          const fused = tf.fused
            .matMul({
              a: a as tf.Tensor2D,
              b: b as tf.Tensor2D,
              transposeA: c.ta,
              transposeB: c.tb,
              bias: tf.tensor1d(c.bias),
              activation: 'relu',
            })
            .dataSync();
          return [Float32Array.from(plain), Float32Array.from(fused)];
        }),
      );
    await use('cpu');
    const ref = run();
    expect(ref.filter((r) => r.length === 2).length).toBe(4);
    await use('wasm-patched');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const before = backend.numDataIds();
    const got = run();
    // The explicit transposes are freed: no wasm buffers leak.
    expect(backend.numDataIds()).toBe(before);
    got.forEach(([plain, fused], i) => {
      expectRelClose(plain, ref[i][0], 1e-5, `matMul case ${i}`);
      if (fused) expectRelClose(fused, ref[i][1], 1e-5, `fused matMul case ${i}`);
    });
  });

  it('installs and removes itself idempotently', async () => {
    await use('wasm-patched');
    patchWasmMatMul();
    expect(isWasmMatMulPatched()).toBe(true);
    unpatchWasmMatMul();
    unpatchWasmMatMul();
    expect(isWasmMatMulPatched()).toBe(false);
    const r = tf.tidy(() =>
      tf
        .matMul(
          tf.tensor2d([
            [1, 2],
            [3, 4],
          ]),
          tf.tensor2d([
            [1, 0],
            [0, 1],
          ]),
          true,
          false,
        )
        .arraySync(),
    );
    expect(r).toEqual([
      [1, 3],
      [2, 4],
    ]);
    patchWasmMatMul();
  });
});
