import { describe, it, expect } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, hashString32 } from '../src/util/rng.ts';
import { writeFileAtomic, withAtomicOutput } from '../src/util/fs.ts';
import { canonicalJson, hashConfig } from '../src/util/hash.ts';
import { CorpusError, SkipCounter } from '../src/util/errors.ts';

describe('Rng', () => {
  it('gives the same stream for the same seed and different streams for different seeds', () => {
    const a = new Rng(42),
      b = new Rng(42),
      c = new Rng(43);
    const sa = Array.from({ length: 10 }, () => a.nextUint32());
    const sb = Array.from({ length: 10 }, () => b.nextUint32());
    const sc = Array.from({ length: 10 }, () => c.nextUint32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
  });
  it('produces uniform values in [0,1) and standard normals with the right moments', () => {
    const r = new Rng(7);
    let s = 0,
      s2 = 0,
      g = 0,
      g2 = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const u = r.next();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      s += u;
      s2 += u * u;
      const z = r.gauss();
      g += z;
      g2 += z * z;
    }
    expect(s / n).toBeCloseTo(0.5, 1);
    expect(s2 / n - (s / n) ** 2).toBeCloseTo(1 / 12, 2);
    expect(g / n).toBeCloseTo(0, 1);
    expect(g2 / n).toBeCloseTo(1, 1);
  });
  it('hashes strings with FNV-1a', () => {
    expect(hashString32('')).toBe(0x811c9dc5);
    expect(hashString32('a')).toBe(0xe40c292c);
  });
});

describe('atomic output', () => {
  it('leaves no file and no temp file when filling fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'amd-'));
    const out = join(dir, 'out.bin');
    await expect(
      withAtomicOutput(out, async (tmp) => {
        await writeFileAtomic(tmp, 'partial');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
  it('replaces an existing output in one step', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'amd-'));
    const out = join(dir, 'x.txt');
    await writeFileAtomic(out, 'one');
    await writeFileAtomic(out, 'two');
    expect(readFileSync(out, 'utf8')).toBe('two');
    expect(readdirSync(dir)).toEqual(['x.txt']);
  });
});

describe('config hashing', () => {
  it('ignores key order and undefined values', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: undefined } })).toBe('{"a":{"d":2},"b":1}');
    expect(hashConfig({ x: 1, y: 2 })).toBe(hashConfig({ y: 2, x: 1 }));
    expect(hashConfig({ x: 1 })).not.toBe(hashConfig({ x: 2 }));
  });
});

describe('errors', () => {
  it('name the file, line and what was expected', () => {
    const e = new CorpusError('bad line', { file: 'a/text', line: 3, expected: 'uttId TEXT', found: '""' });
    expect(e.message).toBe('a/text:3: bad line; expected uttId TEXT, found ""');
    expect(e.code).toBe('E_CORPUS');
  });
  it('SkipCounter reports counts per reason', () => {
    const s = new SkipCounter();
    s.done = 10;
    s.skip('u1', 'empty audio');
    s.skip('u2', 'empty audio');
    s.skip('u3', 'oov');
    expect(s.skipped).toBe(3);
    expect(s.summary()).toContain('Done 10 utterances, skipped 3');
    expect(s.reasons()[0]).toEqual({ reason: 'empty audio', count: 2, examples: ['u1', 'u2'] });
  });
});
