/**
 * The 1 GB ARPA acceptance of issue 34: a generated 3-gram ARPA file of about 1 GB (38M n-grams)
 * is read line by line into the compact store with memory proportional to the model (the old
 * reader held the file as one string, which V8 cannot even make at this size), and its binary
 * cache reloads the same store in seconds. Each load runs in a child process, so that its peak
 * resident set is its own.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bigArpaCounts, writeBigArpa, type BigArpaOptions } from './big-arpa.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'amd-big-arpa-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Load {
  from: string;
  sec: number;
  counts: number[];
  arrayBytes: number;
  digest: string;
  rssBefore: number;
  peakRss: number;
}

function load(file: string, mode: 'cache' | 'nocache'): Load {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', join(ROOT, 'bin/run-ts.js'), 'test/lm/big-arpa-child.ts', file, mode],
    { cwd: ROOT, encoding: 'utf8' },
  );
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as Load;
  const MiB = (b: number) => (b / 2 ** 20).toFixed(0);
  console.log(
    `${mode} -> from ${r.from}: ${r.sec.toFixed(2)} s, store arrays ${MiB(r.arrayBytes)} MiB, resident set ${MiB(r.rssBefore)} MiB before, ${MiB(r.peakRss)} MiB at the peak`,
  );
  return r;
}

describe('a 1 GB ARPA file', () => {
  it('loads with memory proportional to the model, and its binary cache reloads the same store in seconds', async () => {
    const o: BigArpaOptions = { words: 500_000, successors: 30, contextEvery: 2, trigramSuccessors: 3 };
    const file = join(dir, 'big.arpa');
    const t0 = performance.now();
    await writeBigArpa(file, o);
    const bytes = statSync(file).size;
    console.log(
      `generated ${(bytes / 1e9).toFixed(3)} GB, ${bigArpaCounts(o).join(' + ')} n-grams, in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    expect(bytes).toBeGreaterThan(1e9);

    const first = load(file, 'cache');
    expect(first.from).toBe('arpa');
    expect(first.counts).toEqual(bigArpaCounts(o));
    // 16-28 bytes per n-gram while reading, 12-24 in the store: about 2.4x the store at the peak
    // (measured), bounded by the model's size, not the file's.
    expect(first.peakRss - first.rssBefore).toBeLessThan(3 * first.arrayBytes);
    expect(statSync(join(dir, 'big.arpa.amdlm')).size).toBeGreaterThan(first.arrayBytes);

    const again = load(file, 'cache');
    expect(again.from).toBe('cache');
    expect(again.digest).toBe(first.digest);
    expect(again.peakRss - again.rssBefore).toBeLessThan(1.3 * again.arrayBytes + 64 * 2 ** 20);
    // "In seconds": about 1 s on a loaded 2-core machine; the bound only catches a re-parse.
    expect(again.sec).toBeLessThan(20);
  });
});
