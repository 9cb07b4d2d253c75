/**
 * Writes the seeded synthetic LM fixtures synth.train.txt and synth.test.txt next to this file:
 * sentences from a sparse word Markov chain (each word has 2-12 successors with Zipf-like
 * weights) over 240 made-up words, so that n-grams of every order recur and some do not.
 * A sentence ends at a </s> successor or with probability 0.1 after each word (length >= 2).
 * The test text uses the same chain with ~4% of its words replaced by unseen (OOV) words.
 * Run: node bin/run-ts.js test/golden/lm/gen_text.ts
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../../src/util/rng.ts';

const here = dirname(fileURLToPath(import.meta.url));
const rng = new Rng(20240511);
const syll = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'ti', 'vo', 'ze', 'pu', 'da', 'gi'];
const vocab = new Set<string>();
while (vocab.size < 240) {
  const k = 1 + rng.int(3);
  let w = '';
  for (let i = 0; i < k; i++) w += rng.pick(syll);
  vocab.add(w);
}
const words = [...vocab];
// Successor lists: index words.length stands for </s>; start distribution over words.
const succ = words.map(() => {
  const k = 2 + rng.int(11);
  const s: number[] = [];
  for (let i = 0; i < k; i++) s.push(rng.int(words.length + 1));
  const w = s.map((_, i) => 1 / (i + 1));
  return { s, w };
});
const startW = words.map((_, i) => 1 / (i + 1) ** 0.8);
function sentence(oovRate: number, r: Rng): string {
  const out: string[] = [];
  let cur = r.weighted(startW);
  while (out.length < 25) {
    out.push(r.next() < oovRate ? `oov${r.int(1000)}` : words[cur]);
    const { s, w } = succ[cur];
    const nxt = s[r.weighted(w)];
    if ((nxt === words.length || r.next() < 0.1) && out.length >= 2) break;
    cur = nxt === words.length ? r.int(words.length) : nxt;
  }
  return out.join(' ');
}
const train = Array.from({ length: 400 }, () => sentence(0, rng));
const test = Array.from({ length: 60 }, () => sentence(0.04, rng));
writeFileSync(join(here, 'synth.train.txt'), train.join('\n') + '\n');
writeFileSync(join(here, 'synth.test.txt'), test.join('\n') + '\n');
console.log(`train ${train.length} sentences, test ${test.length}`);
