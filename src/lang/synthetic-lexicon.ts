/**
 * A large synthetic lexicon for scale tests and benchmarks (issue 34): CMUdict's words first (all
 * their pronunciations, stress removed), then generated words whose pronunciations follow CMUdict's
 * phone bigrams and length distribution, some with a second pronunciation (one vowel changed), so
 * the whole has about `variantsPerWord` pronunciations per word. Deterministic per seed.
 */
import { Rng } from '../util/rng.ts';
import { ARPABET_PHONES } from './phones.ts';
import { Lexicon, loadCmudict } from './lexicon.ts';

export interface SyntheticLexiconOptions {
  /** Words in all. */
  words: number;
  /** CMUdict words taken first (alphabetically, at most `words`). Default: all of them. */
  cmudictWords?: number;
  /** Target pronunciations per word (>= 1). Default 1.1. */
  variantsPerWord?: number;
  /** Default 1. */
  seed?: number;
}

const VOWELS = new Set(['AA', 'AE', 'AH', 'AO', 'AW', 'AY', 'EH', 'ER', 'EY', 'IH', 'IY', 'OW', 'OY', 'UH', 'UW']);

/** The lexicon (without `<UNK>`), words upper-case. */
export async function syntheticLexicon(opts: SyntheticLexiconOptions): Promise<Lexicon> {
  const n = opts.words;
  const rng = new Rng(opts.seed ?? 1);
  const cmu = await loadCmudict();
  const out = new Lexicon();
  // Phone bigram and length counts of CMUdict (index 0 = word start / end).
  const idx = new Map(ARPABET_PHONES.map((p, i) => [p, i + 1]));
  const P = ARPABET_PHONES.length + 1;
  const bigram = Array.from({ length: P }, () => new Array<number>(P).fill(0));
  const lengths: number[] = [];
  let prons = 0;
  for (const w of cmu.words()) {
    if (w === '<UNK>') continue;
    for (const p of cmu.get(w)!) {
      let prev = 0;
      for (const ph of p) {
        const i = idx.get(ph)!;
        bigram[prev][i]++;
        prev = i;
      }
      bigram[prev][0]++;
      lengths[p.length] = (lengths[p.length] ?? 0) + 1;
    }
    if (out.size < Math.min(n, opts.cmudictWords ?? Infinity)) {
      out.set(w, cmu.get(w)!);
      prons += cmu.get(w)!.length;
    }
  }
  const lengthWeights = Array.from(lengths, (c) => c ?? 0);
  const target = (opts.variantsPerWord ?? 1.1) * n;
  let k = 0;
  while (out.size < n) {
    // A phone string of a CMUdict-like length along the bigram (an early end is retried once).
    const len = Math.max(1, rng.weighted(lengthWeights));
    const phones: string[] = [];
    let prev = 0;
    while (phones.length < len) {
      const row = phones.length < len - 1 ? bigram[prev].map((c, i) => (i === 0 ? 0 : c)) : bigram[prev];
      const next = rng.weighted(row.some((c) => c > 0) ? row : bigram[0].map((c, i) => (i === 0 ? 0 : c)));
      if (next === 0) break;
      phones.push(ARPABET_PHONES[next - 1]);
      prev = next;
    }
    if (phones.length === 0) continue;
    const word = `${phones.join('').slice(0, 12)}${(k++).toString(36).toUpperCase()}`;
    if (out.has(word)) continue;
    out.add(word, phones);
    prons++;
    const left = n - out.size;
    // Variants still wanted per word still to come (this one included); each later word brings one pronunciation.
    const wantVariant = (target - prons - left) / (left + 1);
    const vowels = phones.map((p, i) => (VOWELS.has(p) ? i : -1)).filter((i) => i >= 0);
    if (vowels.length && rng.next() < wantVariant) {
      const alt = [...phones];
      const vs = [...VOWELS];
      alt[vowels[rng.int(vowels.length)]] = vs[rng.int(vs.length)];
      const before = out.get(word)!.length;
      out.add(word, alt);
      prons += out.get(word)!.length - before;
    }
  }
  return out;
}
