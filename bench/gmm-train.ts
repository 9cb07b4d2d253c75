/**
 * CPU seconds of the align stage's GMM training (planAlignment + trainAlignModels: the chain and
 * its model files, no final alignment) on a finished experiment's prepare and features, with the
 * code of the checkout named first, so that two checkouts (a commit and its parent in a git
 * worktree) can be timed alternately on the same data:
 *
 *   node bin/run-ts.js bench/gmm-train.ts <checkout> <expDir> [numLeaves] [triGaussians] [seed]
 *   node bin/run-ts.js bench/gmm-train.ts /work/main exp/demo 200 2900 1      # the demo's align options
 *
 * Prints the checkout, CPU and wall seconds, each model's training seconds and the Gaussians.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';

const [checkout, expDir, leaves = '200', gaussians = '2900', seed = '1'] = process.argv.slice(2);
if (!checkout || !expDir) {
  console.error('usage: bench/gmm-train.ts <checkout> <expDir> [numLeaves] [triGaussians] [seed]');
  process.exit(2);
}
const root = resolve(checkout);
const { planAlignment, trainAlignModels } = await import(join(root, 'src/align/corpus.ts'));
const { createLogger } = await import(join(root, 'src/util/log.ts'));
const out = mkdtempSync(join(tmpdir(), 'amd-gmm-train-'));
try {
  const p = await planAlignment({
    dataDir: join(resolve(expDir), 'prepare'),
    featuresDir: join(resolve(expDir), 'features'),
    outDir: out,
    numLeaves: Number(leaves),
    triGaussians: Number(gaussians),
    seed: Number(seed),
    writeTiming: false,
    logger: createLogger({ stream: { write: () => true } }),
  });
  const c0 = process.cpuUsage();
  const t0 = Date.now();
  const r = await trainAlignModels(p, out);
  const c = process.cpuUsage(c0);
  console.log(
    `${root}: cpu ${((c.user + c.system) / 1e6).toFixed(1)} s, wall ${((Date.now() - t0) / 1000).toFixed(1)} s, ${JSON.stringify(r.modelSeconds)}, ${r.model.am.numGaussians} Gaussians`,
  );
} finally {
  rmSync(out, { recursive: true, force: true });
}
