/**
 * node --expose-gc bin/run-ts.js test/lm/big-arpa-child.ts <file.arpa> cache|nocache
 * Loads the file's n-gram store (through its binary cache with `cache`) and prints one JSON line:
 * where it came from, seconds, n-gram counts, the store's array bytes and a digest of the store,
 * and the process's resident set before and at its peak (measured before the digest) (for test/lm/big-arpa.e2e.test.ts).
 */
import { createHash } from 'node:crypto';
import { loadNgramStore } from '../../src/lm/store-file.ts';

const [file, mode] = process.argv.slice(2);
(globalThis as { gc?: () => void }).gc?.();
const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();
const loaded = await loadNgramStore(file, { cache: mode === 'cache' });
const sec = (performance.now() - t0) / 1000;
const s = loaded.store;
const peakRss = process.resourceUsage().maxRSS * 1024;
const arrays = [...s.words, ...s.probs, ...s.bows, ...s.childStart];
const arrayBytes = arrays.reduce((n, a) => n + a.byteLength, 0);
const hash = createHash('sha256');
for (const a of arrays) hash.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
hash.update(s.vocab.join('\n'));
console.log(
  JSON.stringify({
    from: loaded.from,
    cacheNote: loaded.cacheNote,
    sec,
    counts: s.counts,
    arrayBytes,
    digest: hash.digest('hex'),
    rssBefore,
    peakRss,
  }),
);
