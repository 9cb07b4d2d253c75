/**
 * Compare two experiment directories byte for byte, every file but the stages' run records
 * (stage.json, timing.json: wall times) and the `.jobs/` logs of a sharded run: how the sharded
 * and unsharded runs, or two commits' runs, were shown to give the same bytes (docs/cluster.md).
 *
 *   node bin/run-ts.js scripts/compare-exp.ts <expDirA> <expDirB>
 *
 * Prints the files only one side has and the files that differ; exits 1 if any.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const SKIP = new Set(['stage.json', 'timing.json']);

function files(root: string, dir = root, out = new Map<string, string>()): Map<string, string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (dir === root && e.name === '.jobs') continue;
      files(root, p, out);
    } else if (!SKIP.has(e.name)) out.set(relative(root, p), p);
  }
  return out;
}

const [a, b] = process.argv.slice(2);
if (!a || !b) {
  console.error('usage: node bin/run-ts.js scripts/compare-exp.ts <expDirA> <expDirB>');
  process.exit(2);
}
const fa = files(a);
const fb = files(b);
const only = [...new Set([...fa.keys(), ...fb.keys()])].filter((k) => !fa.has(k) || !fb.has(k)).sort();
const differ = [...fa.keys()].filter((k) => fb.has(k) && !readFileSync(fa.get(k)!).equals(readFileSync(fb.get(k)!)));
console.log(`${fa.size} and ${fb.size} files compared (stage.json, timing.json and .jobs/ left out)`);
console.log(`only on one side: ${only.length}${only.length ? `\n  ${only.slice(0, 20).join('\n  ')}` : ''}`);
console.log(`differing: ${differ.length}${differ.length ? `\n  ${differ.sort().join('\n  ')}` : ''}`);
process.exit(only.length + differ.length > 0 ? 1 : 0);
