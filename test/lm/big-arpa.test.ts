import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArpa } from '../../src/lm/arpa.ts';
import { NgramStore } from '../../src/lm/ngram-store.ts';
import { bigArpaCounts, writeBigArpa } from './big-arpa.ts';

const dir = mkdtempSync(join(tmpdir(), 'amd-big-arpa-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the large ARPA generator of the 1 GB test', () => {
  it('writes a well-formed 3-gram file with the counts it announces, the same bytes every time', async () => {
    const o = { words: 300, successors: 7, contextEvery: 3, trigramSuccessors: 4 };
    const a = join(dir, 'a.arpa'),
      b = join(dir, 'b.arpa');
    expect(await writeBigArpa(a, o)).toEqual(bigArpaCounts(o));
    await writeBigArpa(b, o);
    const text = readFileSync(a, 'utf8');
    expect(readFileSync(b, 'utf8')).toBe(text);
    const data = parseArpa(text, a);
    expect(data.ngrams.map((l) => l.length)).toEqual(bigArpaCounts(o));
    // No duplicates (the store rejects them), and every trigram's history is a bigram with a back-off weight.
    const store = NgramStore.fromArpaData(data, a);
    expect(store.counts).toEqual(bigArpaCounts(o));
    const bigrams = new Map(data.ngrams[1].map((e) => [e.words.join(' '), e]));
    for (const t of data.ngrams[2]) expect(bigrams.get(t.words.slice(0, 2).join(' '))?.logBackoff).toBeDefined();
  });
});
