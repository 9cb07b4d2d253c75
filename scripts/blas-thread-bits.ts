/**
 * Does the BLAS thread count change the native engine's bits? Multiplies the GEMM shapes of the
 * demo's nets (forward, input gradient, weight gradient) with 1 thread and with `--threads N`
 * (default 2) and counts the outputs whose bits differ (docs/compute.md, "Parallelism").
 *
 *   node bin/run-ts.js scripts/blas-thread-bits.ts [--threads N]
 *   node bin/run-ts.js scripts/blas-thread-bits.ts --stress ITERATIONS
 *
 * --stress: the GEMM shapes of test/nnet/native.test.ts's 600-unit net (batch 512, beta 0.5), once
 * with 1 thread as the reference, then ITERATIONS times with the thread count cycling 1, 2, 3;
 * prints every GEMM whose bits differ from the reference (docs/decisions.md, "Not explained: one
 * more mismatch"). Run two at once to load the machine.
 *
 * The answer depends on the OpenBLAS kernel and blocking, so the environment matters: compare
 * with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE node bin/run-ts.js scripts/blas-thread-bits.ts`.
 */
import { loadNativeEngine } from '../src/nnet/native.ts';

const i = process.argv.indexOf('--threads');
const threads = i >= 0 ? Number(process.argv[i + 1]) : 2;
const si = process.argv.indexOf('--stress');
const stressIterations = si >= 0 ? Number(process.argv[si + 1]) : 0;
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

/** --stress: thread counts 1, 2, 3 in turn against a 1-thread reference, on the native test's shapes. */
function stress(iters: number): void {
  const shapes: [number, number, number, boolean, boolean][] = [
    [512, 600, 440, false, false],
    [512, 600, 600, false, false],
    [512, 150, 600, false, false],
    [512, 600, 150, false, true],
    [600, 600, 512, true, false],
    [440, 600, 512, true, false],
    [512, 600, 600, false, true],
  ];
  addon.setThreads(1);
  const ref = shapes.map(([m, n, k, ta, tb], i) => {
    const a = values(m * k, 1 + i);
    const b = values(k * n, 100 + i);
    const c = values(m * n, 7);
    addon.gemm(ta, tb, m, n, k, 1, a, b, 0.5, c);
    return { a, b, c: new Uint32Array(c.buffer) };
  });
  let bad = 0;
  const t0 = Date.now();
  for (let it = 0; it < iters; it++) {
    const t = 1 + (it % 3);
    addon.setThreads(t);
    shapes.forEach(([m, n, k, ta, tb], i) => {
      const c = values(m * n, 7);
      addon.gemm(ta, tb, m, n, k, 1, ref[i].a, ref[i].b, 0.5, c);
      const u = new Uint32Array(c.buffer);
      let d = 0;
      for (let e = 0; e < u.length; e++) if (u[e] !== ref[i].c[e]) d++;
      if (d) {
        bad++;
        console.log(`iteration ${it}, ${t} threads, shape ${i}: ${d} of ${u.length} outputs differ`);
      }
    });
  }
  console.log(`${bad} of ${iters * shapes.length} GEMMs differ (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}
if (stressIterations > 0) {
  stress(stressIterations);
  process.exit(0);
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
