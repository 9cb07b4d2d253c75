/**
 * The tiny recipe (test/pipeline/tiny-experiment.ts) as a job graph with --shards N in worker
 * processes (the local executor), from scratch in a temporary directory: prints the whole run's
 * wall time and each decode job's seconds (their sum too), to compare the decode stage's shards
 * between two checkouts (run it in each, alternately):
 *
 *   node bin/run-ts.js bench/decode-shards.ts [N=4]
 */
import { join, resolve } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { runRecipeInShards } from '../src/pipeline/run-shards.ts';
import { defaultRegistry } from '../src/stages/index.ts';
import { captureLogger } from '../test/helpers.ts';
import { TINY_PIPELINE_SETS } from '../test/pipeline/tiny-experiment.ts';
const shards = Number(process.argv[2] ?? 4);
const tmp = mkdtempSync(join(tmpdir(), 'amd-measure-'));
const t0 = Date.now();
const r = await runRecipeInShards(
  { file: 'pipelines/demo.yaml', sets: TINY_PIPELINE_SETS, expDir: join(tmp, 'x') },
  { registry: defaultRegistry, shards, cwd: resolve('.'), log: captureLogger(), write: () => {} },
);
const dec = r.jobs.filter((j) => j.id.startsWith('decode'));
console.log(
  `all ${((Date.now() - t0) / 1000).toFixed(1)} s; decode jobs:`,
  dec.map((j) => `${j.id} ${(j.durationSec ?? 0).toFixed(1)}`).join(', '),
);
console.log(`decode job seconds summed ${dec.reduce((a, j) => a + (j.durationSec ?? 0), 0).toFixed(1)}`);
rmSync(tmp, { recursive: true, force: true });
