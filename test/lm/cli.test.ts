import { describe, it, expect, vi, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { main, EXIT_OK, EXIT_BAD_INPUT } from '../../src/cli/main.ts';
import { LM_GOLDEN } from './helpers.ts';

function capture() {
  const out: string[] = [],
    err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out.push(String(s));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err.push(String(s));
    return true;
  });
  return { out, err };
}

describe('am-distill lm', () => {
  afterEach(() => vi.restoreAllMocks());

  it('trains an ARPA file and prints perplexity as JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'amd-lm-'));
    const arpa = join(dir, 'lm.arpa');
    const io = capture();
    expect(
      await main([
        'node',
        'am-distill',
        'lm',
        'train',
        '--text',
        join(LM_GOLDEN, 'real.train.txt'),
        '--order',
        '2',
        '--out',
        arpa,
      ]),
    ).toBe(EXIT_OK);
    expect(readFileSync(arpa, 'utf8')).toMatch(/\\data\\\nngram 1=\d+\nngram 2=\d+\n/);
    expect(readdirSync(dir)).toEqual(['lm.arpa']);
    expect(io.err.join('')).toMatch(/13 sentences/);
    expect(
      await main([
        'node',
        'am-distill',
        'lm',
        'ppl',
        '--lm',
        arpa,
        '--text',
        join(LM_GOLDEN, 'real.test.txt'),
        '--json',
      ]),
    ).toBe(EXIT_OK);
    const r = JSON.parse(io.out.join(''));
    expect(Object.keys(r)).toEqual(expect.arrayContaining(['ppl', 'logprob', 'words', 'oovs']));
    expect(r.words).toBe(27);
    expect(r.oovs).toBeGreaterThan(0);
    expect(r.ppl).toBeGreaterThan(1);
    // The same model gzipped gives the same numbers; no cache file is left next to it.
    writeFileSync(`${arpa}.gz`, gzipSync(readFileSync(arpa)));
    io.out.length = 0;
    expect(
      await main([
        'node',
        'am-distill',
        'lm',
        'ppl',
        '--lm',
        `${arpa}.gz`,
        '--text',
        join(LM_GOLDEN, 'real.test.txt'),
        '--json',
      ]),
    ).toBe(EXIT_OK);
    expect(JSON.parse(io.out.join(''))).toEqual(r);
    expect(readdirSync(dir).sort()).toEqual(['lm.arpa', 'lm.arpa.gz']);
  });

  it('exits 2 with the file and line for a malformed ARPA file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'amd-lm-'));
    const bad = join(dir, 'bad.arpa');
    writeFileSync(bad, '\\data\\\nngram 1=2\n\n\\1-grams:\n-1\t</s>\n\n\\end\\\n');
    const text = join(dir, 't.txt');
    writeFileSync(text, 'a\n');
    const io = capture();
    expect(await main(['node', 'am-distill', 'lm', 'ppl', '--lm', bad, '--text', text])).toBe(EXIT_BAD_INPUT);
    expect(io.err.join('')).toContain(`${bad}:4: 1-gram count differs`);
  });
});
