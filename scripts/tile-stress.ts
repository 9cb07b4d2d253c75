/**
 * Stress the native engine's tiled GEMM for bits that depend on the thread count (docs/decisions.md,
 * "Not explained: one more mismatch"): the GEMM shapes of test/nnet/native.test.ts's 600-unit net
 * (batch 512), computed once with 1 compute thread as the reference, then `iterations` times with
 * the thread count cycling 1, 2, 3; prints every GEMM whose bits differ from the reference.
 *
 *   node bin/run-ts.js scripts/tile-stress.ts [iterations, default 200]
 */
import { loadNativeEngine } from '../src/nnet/native.ts';
const s = loadNativeEngine();
if (!s.ok) throw new Error(s.reason);
const { addon } = s;
function values(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let x = seed >>> 0;
  for (let k = 0; k < n; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    a[k] = x / 2 ** 32 - 0.5;
  }
  return a;
}
const shapes: [number, number, number, boolean, boolean][] = [
  [512, 600, 440, false, false],
  [512, 600, 600, false, false],
  [512, 150, 600, false, false],
  [512, 600, 150, false, true],
  [600, 600, 512, true, false],
  [440, 600, 512, true, false],
  [512, 600, 600, false, true],
];
const iters = Number(process.argv[2] ?? 200);
const ref = shapes.map(([m, n, k, ta, tb], i) => {
  addon.setThreads(1);
  const a = values(m * k, 1 + i),
    b = values(k * n, 100 + i),
    c = values(m * n, 7);
  addon.gemm(ta, tb, m, n, k, 1, a, b, 0.5, c);
  return { a, b, c: new Uint32Array(c.buffer) };
});
let bad = 0,
  total = 0;
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
    total++;
    if (d) {
      bad++;
      console.log(`iter ${it} threads ${t} shape ${i}: ${d} of ${u.length} differ`);
    }
  });
}
console.log(`${bad} of ${total} GEMMs differ (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
