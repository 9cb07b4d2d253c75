/**
 * docs/gpu.md quotes the reasons the engine ladder gives when tfjs-node-gpu cannot be used: each
 * quoted reason is what initBackend says (where this machine can show it) or what
 * src/nnet/backend.ts writes, so the page cannot drift from the code.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { initBackend } from '../../src/nnet/backend.ts';
import { REPO_ROOT } from '../helpers.ts';

const doc = readFileSync(join(REPO_ROOT, 'docs', 'gpu.md'), 'utf8');
const source = readFileSync(join(REPO_ROOT, 'src', 'nnet', 'backend.ts'), 'utf8');
const PKG = '@tensorflow/tfjs-node-gpu';

/** The quoted reasons of the "What you see" table (second column, first code span). */
function quotedReasons(): string[] {
  const table = doc.slice(doc.indexOf('| situation |'));
  return table
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| situation') && !l.startsWith('|---'))
    .map((l) => /^\|[^|]*\| `([^`]*)`/.exec(l)?.[1] ?? '');
}

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
}

describe('docs/gpu.md', () => {
  it('quotes four reasons, each written by src/nnet/backend.ts', () => {
    const reasons = quotedReasons();
    expect(reasons).toHaveLength(4);
    for (const r of reasons) {
      // The code writes the package name as ${pkg}; '<...>' in the page stands for a variable part.
      const fixed = r.replaceAll(PKG, '${pkg}').split('<')[0];
      expect(fixed.length, r).toBeGreaterThan(10);
      expect(source, r).toContain(fixed);
    }
  });

  it.skipIf(installed(PKG))(
    'quotes word for word the error of a forced tfjs-node-gpu that is not installed',
    async () => {
      const err = await initBackend({ backend: 'tfjs-node-gpu', quiet: true }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toBe(`backend 'tfjs-node-gpu' is not available: ${quotedReasons()[0]}`);
    },
  );
});
