/**
 * Does the BLAS thread count change the native engine's bits? Multiplies the GEMM shapes of the
 * demo's nets (forward, input gradient, weight gradient) with 1 thread and with `--threads N`
 * (default 2) and counts the outputs whose bits differ (docs/compute.md, "Parallelism").
 *
 *   node bin/run-ts.js scripts/blas-thread-bits.ts [--threads N]
 *
 * The answer depends on the OpenBLAS kernel and blocking, so the environment matters: compare
 * with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE node bin/run-ts.js scripts/blas-thread-bits.ts`.
 */
import { loadNativeEngine } from '../src/nnet/native.ts';

const i = process.argv.indexOf('--threads');
const threads = i >= 0 ? Number(process.argv[i + 1]) : 2;
const s = loadNativeEngine();
if (!s.ok) {
  console.error(`native engine unavailable: ${s.reason}`);
  process.exit(1);
}
const { addon, blas } = s;
console.log(
  `${blas.library} ${blas.path}, kernel ${blas.corename}; OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? '(unset)'}, OPENBLAS_L2_SIZE=${process.env.OPENBLAS_L2_SIZE ?? '(unset)'}`,
);

/** Deterministic values in [-0.5, 0.5). */
function values(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let x = seed >>> 0;
  for (let k = 0; k < n; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    a[k] = x / 2 ** 32 - 0.5;
  }
  return a;
}

// [m, n, k, transA, transB]: batch 256, 440 inputs (11 x 40 spliced), 512 hidden, 200 senones.
const shapes: [number, number, number, boolean, boolean][] = [
  [256, 512, 440, false, false],
  [256, 512, 512, false, false],
  [256, 200, 512, false, false],
  [256, 512, 200, false, true],
  [512, 512, 256, true, false],
  [440, 512, 256, true, false],
];
for (const [m, n, k, ta, tb] of shapes) {
  const a = values(m * k, 1);
  const b = values(k * n, 2);
  const out = [1, threads].map((t) => {
    addon.setThreads(t);
    const c = new Float32Array(m * n);
    addon.gemm(ta, tb, m, n, k, 1, a, b, 0, c);
    return new Uint32Array(c.buffer);
  });
  let differ = 0;
  for (let e = 0; e < m * n; e++) if (out[0][e] !== out[1][e]) differ++;
  console.log(
    `gemm ${ta ? 'A^T' : 'A'} ${tb ? 'B^T' : 'B'} m ${m} n ${n} k ${k}: ${differ} of ${m * n} outputs differ between 1 and ${threads} threads`,
  );
}
