import { describe, it, expect, afterAll } from 'vitest';
import {
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { formatArpa, parseArpa, readArpaStream } from '../../src/lm/arpa.ts';
import { estimateKneserNey } from '../../src/lm/kneser-ney.ts';
import { BackoffLm } from '../../src/lm/model.ts';
import { NgramStore, NgramStoreBuilder } from '../../src/lm/ngram-store.ts';
import { cachePathOf, loadNgramStore } from '../../src/lm/store-file.ts';
import { parseSentences } from '../../src/lm/text.ts';
import { SearchLm } from '../../src/decode/search-lm.ts';
import { FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { quietLogger } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'amd-ngram-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A trigram ARPA text trained on seeded random sentences. */
function trainedArpa(seed: string, order = 3): string {
  const rng = new Rng(seed);
  const words = Array.from({ length: 30 }, (_, i) => `w${i}`);
  const lines = Array.from({ length: 200 }, () =>
    Array.from({ length: 1 + rng.int(8) }, () => words[rng.int(words.length)]).join(' '),
  );
  return formatArpa(estimateKneserNey(parseSentences(lines.join('\n') + '\n'), { order, logger: quietLogger() }));
}

/** Scores of every word after the empty history, every one-word history and a third of the two-word ones. */
function allScores(lm: BackoffLm): number[] {
  const out: number[] = [];
  const V = lm.vocab.length;
  for (let w = 0; w < V; w++) {
    out.push(lm.scoreIds(w, []).logProb);
    for (let a = 0; a < V; a++) {
      out.push(lm.scoreIds(w, [a]).logProb);
      for (let b = 0; b < V; b += 3) out.push(lm.scoreIds(w, [b, a]).logProb);
    }
  }
  return out;
}

async function errorOf(p: Promise<unknown>): Promise<FormatError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(FormatError);
  return e as FormatError;
}

describe('streaming ARPA reader', () => {
  const text = trainedArpa('stream');
  const plain = join(dir, 'lm.arpa');
  const gz = join(dir, 'lm.arpa.gz');
  writeFileSync(plain, text);
  writeFileSync(gz, gzipSync(Buffer.from(text.replace(/\n/g, '\r\n'))));

  it('reads plain and gzipped (CRLF) files exactly as parseArpa reads the text', async () => {
    const ref = parseArpa(text, plain);
    expect(await readArpaStream(plain)).toEqual(ref);
    expect(await readArpaStream(gz)).toEqual(ref);
  });

  it('locates a malformed line by file and line, also inside a gzip file', async () => {
    const lines = text.split('\n');
    const at = lines.findIndex((l) => l.startsWith('\\2-grams:')) + 2;
    lines[at] = '-0.5\tw1';
    const bad = join(dir, 'bad.arpa.gz');
    writeFileSync(bad, gzipSync(lines.join('\n')));
    const e = await errorOf(readArpaStream(bad));
    expect(e.location).toEqual({ file: bad, line: at + 1 });
    expect(e.message).toContain(
      `${bad}:${at + 1}: wrong number of fields in a 2-gram line; expected log10prob, 2 word(s)`,
    );
  });

  it('reports a damaged gzip stream and a missing file', async () => {
    const cut = join(dir, 'cut.arpa.gz');
    const z = gzipSync(text);
    writeFileSync(cut, z.subarray(0, z.length >> 1));
    expect((await errorOf(readArpaStream(cut))).message).toMatch(
      new RegExp(
        `^${cut.replace(/[.]/g, '\\.')}:\\d+: damaged gzip stream; expected a gzip-compressed ARPA file, found unexpected end of file$`,
      ),
    );
    await expect(loadNgramStore(join(dir, 'nope.arpa'))).rejects.toThrow(/nope\.arpa: file not found/);
  });
});

describe('NgramStore', () => {
  it('scores every history exactly as the ARPA entries say (trigram, bit-identical to the parsed data)', () => {
    const text = trainedArpa('store');
    const data = parseArpa(text);
    const lm = new BackoffLm(data);
    // Reference: the back-off rule written out over the parsed entries (log10).
    const p = new Map<string, number>(),
      b = new Map<string, number>();
    for (const list of data.ngrams)
      for (const e of list) {
        p.set(e.words.join(' '), e.logProb);
        if (e.logBackoff !== undefined) b.set(e.words.join(' '), e.logBackoff);
      }
    const ref = (w: string, h: string[]): number => {
      for (let s = 0; s <= h.length; s++) {
        const hh = h.slice(s);
        const key = [...hh, w].join(' ');
        if (p.has(key)) return backoffSum(h, s) + p.get(key)!;
      }
      throw new Error('unreachable');
    };
    const backoffSum = (h: string[], s: number): number => {
      let acc = 0;
      for (let k = 0; k < s; k++) acc += b.get(h.slice(k).join(' ')) ?? 0;
      return acc;
    };
    const V = lm.vocab;
    for (let w = 0; w < V.length; w++) {
      for (let a = 0; a < V.length; a++) {
        for (const h of [[V[a]], [V[(a * 7) % V.length], V[a]]]) {
          expect(lm.score(V[w], h)).toBe(ref(V[w], h));
        }
      }
    }
  });

  it('adds a blank context for an n-gram whose prefix the file lacks (SRILM pruning)', () => {
    const text = [
      '\\data\\',
      'ngram 1=5',
      'ngram 2=1',
      'ngram 3=1',
      '',
      '\\1-grams:',
      '-1\t</s>',
      '-99\t<s>\t-0.3',
      '-0.5\ta\t-0.2',
      '-0.7\tb\t-0.1',
      '-0.9\tc',
      '',
      '\\2-grams:',
      '-0.4\t<s> a\t-0.05',
      '',
      '\\3-grams:',
      '-0.25\ta b c',
      '',
      '\\end\\',
      '',
    ].join('\n');
    const lm = new BackoffLm(parseArpa(text));
    const id = (w: string) => lm.wordId(w);
    expect(lm.store.counts).toEqual([5, 2, 1]);
    expect(lm.scoreIds(id('c'), [id('a'), id('b')])).toEqual({ logProb: -0.25, ngramLength: 3 });
    // "a b" is not an n-gram: p(b | a) backs off to the unigram.
    expect(lm.scoreIds(id('b'), [id('a')])).toEqual({ logProb: -0.2 + -0.7, ngramLength: 1 });
    expect(lm.scoreIds(id('a'), [id('a'), id('b')])).toEqual({ logProb: -0.1 + -0.5, ngramLength: 1 });
    const slm = new SearchLm(parseArpa(text));
    const st = slm.next(slm.next(slm.startState, id('a')), id('b'));
    expect(slm.stateWords(st)).toEqual(['a', 'b']);
    expect(slm.logProb(st, id('c'))).toBe(-0.25 * Math.LN10);
    expect(slm.logProbs(st)[id('c')]).toBe(-0.25 * Math.LN10);
  });

  it('numbers words in unigram order past the declared count (the word index grows)', () => {
    const b = new NgramStoreBuilder('grow.arpa');
    b.header([1, 1]);
    const words = Array.from({ length: 300 }, (_, i) => `word${i}`);
    words.forEach((w, i) => b.ngram(1, [w], -1 - i / 1000, -0.5, i + 1));
    expect(() => b.ngram(1, ['word7'], -1, undefined, 301)).toThrow(/grow\.arpa:301: duplicate 1-gram 'word7'/);
    b.ngram(2, ['word299', 'word0'], -0.25, undefined, 400);
    const store = b.finish();
    expect(words.map((w) => store.wordId(w))).toEqual(words.map((_, i) => i));
    expect(store.wordId('word300')).toBe(-1);
    expect(store.probs[1][store.child(2, 299, 0)]).toBe(-0.25);
  });

  it('rejects a duplicate higher-order n-gram at the line of its repeat', async () => {
    const lines = trainedArpa('dup').split('\n');
    const first = lines.findIndex((l) => l.startsWith('\\3-grams:')) + 1;
    const last = lines.findIndex((l) => l.startsWith('\\end\\')) - 2;
    const f = lines[first].split('\t');
    lines[last] = `-0.5\t${f[1]}`;
    const file = join(dir, 'dup.arpa');
    writeFileSync(file, lines.join('\n'));
    const e = await errorOf(loadNgramStore(file, { cache: false }));
    expect(e.location).toEqual({ file, line: last + 1 });
    expect(e.message).toContain(`duplicate 3-gram '${f[1]}'`);
  });
});

describe('binary LM cache', () => {
  it('reloads the same arrays without parsing, and rebuilds a stale or damaged cache', async () => {
    const file = join(dir, 'cached.arpa.gz');
    writeFileSync(file, gzipSync(trainedArpa('cache', 4)));
    const cache = cachePathOf(file);
    const first = await loadNgramStore(file);
    expect(first.from).toBe('arpa');
    expect(first.cacheNote).toBe('no cache yet; written');
    const second = await loadNgramStore(file);
    expect(second.from).toBe('cache');
    expect(second.store.arrays()).toEqual(first.store.arrays());
    const ref = new BackoffLm(await readArpaStream(file));
    expect(allScores(new BackoffLm(second.store))).toEqual(allScores(ref));
    // Same bytes again when written again (deterministic layout).
    const bytes = readFileSync(cache);
    rmSync(cache);
    await loadNgramStore(file);
    expect(readFileSync(cache).equals(bytes)).toBe(true);
    // A newer ARPA file (other mtime) or a cut cache is rebuilt.
    const t = statSync(file).mtime;
    utimesSync(file, t, new Date(t.getTime() + 5000));
    const stale = await loadNgramStore(file);
    expect([stale.from, stale.cacheNote]).toEqual(['arpa', 'made from another version of the ARPA file; written']);
    truncateSync(cache, 200);
    const cut = await loadNgramStore(file);
    expect(cut.from).toBe('arpa');
    expect(cut.cacheNote).toMatch(/truncated|damaged/);
    expect((await loadNgramStore(file)).from).toBe('cache');
  });

  it('writes no cache with cache: false', async () => {
    const file = join(dir, 'nocache.arpa');
    writeFileSync(file, trainedArpa('nocache', 2));
    const r = await loadNgramStore(file, { cache: false });
    expect([r.from, r.cachePath]).toEqual(['arpa', null]);
    expect(existsSync(cachePathOf(file))).toBe(false);
    expect(new BackoffLm(r.store).order).toBe(2);
    expect(r.store).toBeInstanceOf(NgramStore);
  });
});
