/**
 * Pronunciation lexicon: upper-case word -> one or more phone sequences (all variants kept).
 * Sources, in priority order (see docs/decisions.md, "Lexicon and OOV policy"):
 *   1. a corpus lexicon the user supplies (Kaldi lexicon.txt: `WORD P1 P2 ...`), whose entries
 *      replace CMUdict's for the same word;
 *   2. CMUdict (npm cmu-pronouncing-dictionary), stress removed, alternates `word(2)` merged;
 *   3. optionally a letter-to-sound model (./g2p.ts) trained from CMUdict.
 * A word none of them covers makes its utterance a counted skip, never a silent drop.
 */
import { readFileSync } from 'node:fs';
import { FormatError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { PhoneSet, SPN, stripStress } from './phones.ts';
import { compareCodePoints } from './symbols.ts';

/** The unknown word; pronounced SPN (spoken noise). */
export const UNK_WORD = '<UNK>';

export type Pronunciation = readonly string[];

export class Lexicon {
  private readonly entries = new Map<string, string[][]>();

  /** Add one pronunciation (deduplicated; order of first appearance kept). */
  add(word: string, phones: readonly string[]): void {
    if (phones.length === 0) throw new FormatError(`empty pronunciation for '${word}'`, { expected: 'at least one phone', found: 'none' });
    const list = this.entries.get(word);
    const key = phones.join(' ');
    if (!list) this.entries.set(word, [[...phones]]);
    else if (!list.some((p) => p.join(' ') === key)) list.push([...phones]);
  }

  has(word: string): boolean {
    return this.entries.has(word);
  }

  /** All pronunciations of a word, or undefined. */
  get(word: string): readonly Pronunciation[] | undefined {
    return this.entries.get(word);
  }

  /** Replace all pronunciations of a word. */
  set(word: string, prons: readonly Pronunciation[]): void {
    this.entries.delete(word);
    for (const p of prons) this.add(word, p);
  }

  get size(): number {
    return this.entries.size;
  }

  words(): string[] {
    return [...this.entries.keys()].sort(compareCodePoints);
  }

  /** Every phone used by some pronunciation. */
  phonesUsed(): Set<string> {
    const s = new Set<string>();
    for (const prons of this.entries.values()) for (const p of prons) for (const ph of p) s.add(ph);
    return s;
  }

  /** A lexicon restricted to the given words (those present). */
  subset(words: Iterable<string>): Lexicon {
    const out = new Lexicon();
    for (const w of words) {
      const p = this.entries.get(w);
      if (p) out.set(w, p);
    }
    return out;
  }

  /** Kaldi lexicon.txt: one `WORD P1 P2 ...` line per pronunciation, words sorted. */
  toLexiconTxt(): string {
    const lines: string[] = [];
    for (const w of this.words()) for (const p of this.entries.get(w)!) lines.push(`${w} ${p.join(' ')}\n`);
    return lines.join('');
  }
}

/**
 * Parse Kaldi lexicon.txt (`WORD P1 P2 ...`) or lexiconp.txt (`WORD PROB P1 ...`; the
 * probability is accepted and ignored). Words are upper-cased; ARPAbet stress digits are removed;
 * every phone must be in `phones`.
 */
export function parseLexiconTxt(text: string, phones: PhoneSet, file = 'lexicon.txt'): Lexicon {
  const lex = new Lexicon();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith(';;;')) continue;
    const parts = line.split(/\s+/);
    let prons = parts.slice(1);
    if (prons.length > 1 && /^(\d+(\.\d*)?|\.\d+)(e-?\d+)?$/i.test(prons[0])) prons = prons.slice(1);
    if (prons.length === 0) {
      throw new FormatError('lexicon line has a word but no pronunciation', { file, line: i + 1, expected: 'WORD PHONE [PHONE ...]', found: JSON.stringify(line) });
    }
    const ph = prons.map((p) => stripStress(p.toUpperCase()));
    for (const p of ph) {
      if (!phones.has(p)) {
        throw new FormatError(`unknown phone '${p}' in pronunciation of '${parts[0]}'`, { file, line: i + 1, expected: `a phone of ${phones.phones.join(' ')}`, found: p });
      }
    }
    lex.add(parts[0].toUpperCase(), ph);
  }
  return lex;
}

export function readLexiconTxt(path: string, phones: PhoneSet): Lexicon {
  return parseLexiconTxt(readFileSync(path, 'utf8'), phones, path);
}

export async function writeLexiconTxt(path: string, lex: Lexicon): Promise<void> {
  await writeFileAtomic(path, lex.toLexiconTxt());
}

let cmudictCache: Lexicon | null = null;

/**
 * CMUdict as a Lexicon: keys upper-cased, `word(2)` alternates merged into `WORD`, stress removed,
 * trailing `# comment`s dropped, duplicate pronunciations (after stress removal) merged.
 * Loaded once per process (about 0.3 s, 135k words). Includes `<UNK> SPN`.
 */
export async function loadCmudict(): Promise<Lexicon> {
  if (cmudictCache) return cmudictCache;
  const mod = (await import('cmu-pronouncing-dictionary')) as { dictionary: Record<string, string> };
  cmudictCache = cmudictFromRecord(mod.dictionary);
  return cmudictCache;
}

/** Convert a `{ "word(2)": "AH0 B ..." }` record (the npm package's shape) into a Lexicon. */
export function cmudictFromRecord(dict: Record<string, string>): Lexicon {
  const lex = new Lexicon();
  const phones = PhoneSet.arpabet();
  for (const key of Object.keys(dict)) {
    const word = key.replace(/\(\d+\)$/, '').toUpperCase();
    const pron = dict[key].replace(/#.*$/, '').trim();
    if (pron === '') continue;
    const ph = pron.split(/\s+/).map(stripStress);
    if (!ph.every((p) => phones.has(p))) {
      throw new FormatError(`CMUdict entry '${key}' has an unknown phone`, { expected: 'ARPAbet', found: pron });
    }
    lex.add(word, ph);
  }
  lex.add(UNK_WORD, [SPN]);
  return lex;
}

/** Something that can guess pronunciations for a spelling (a G2P model). */
export interface PronunciationGuesser {
  /** Up to `n` pronunciations of an upper-case word, best first; empty if it cannot. */
  guess(word: string, n?: number): string[][];
}

export interface LexiconSourcesOptions {
  /** Corpus lexicon (Kaldi lexicon.txt) merged first; its entries replace CMUdict's. Default: none. */
  corpusLexicon?: Lexicon;
  /** Use CMUdict for words the corpus lexicon lacks. Default true. */
  useCmudict?: boolean;
  /** Letter-to-sound fallback for words neither covers. Default: none (such words are OOV). */
  g2p?: PronunciationGuesser;
  /** Pronunciations per G2P-guessed word. Default 1. */
  g2pVariants?: number;
}

export interface LexiconForWords {
  /** Pronunciations of every covered word. */
  lexicon: Lexicon;
  /** Where each covered word came from. */
  sourceOf: Map<string, 'corpus' | 'cmudict' | 'g2p'>;
  /** Words nobody covers. */
  oovs: Set<string>;
}

/** Build the lexicon for a corpus word list from the sources in priority order. */
export async function lexiconForWords(words: Iterable<string>, opts: LexiconSourcesOptions = {}): Promise<LexiconForWords> {
  const useCmu = opts.useCmudict ?? true;
  const cmu = useCmu ? await loadCmudict() : null;
  const lexicon = new Lexicon();
  const sourceOf = new Map<string, 'corpus' | 'cmudict' | 'g2p'>();
  const oovs = new Set<string>();
  for (const w of new Set(words)) {
    const c = opts.corpusLexicon?.get(w);
    if (c) { lexicon.set(w, c); sourceOf.set(w, 'corpus'); continue; }
    const m = cmu?.get(w);
    if (m) { lexicon.set(w, m); sourceOf.set(w, 'cmudict'); continue; }
    const g = opts.g2p?.guess(w, opts.g2pVariants ?? 1) ?? [];
    if (g.length > 0) { lexicon.set(w, g); sourceOf.set(w, 'g2p'); continue; }
    oovs.add(w);
  }
  return { lexicon, sourceOf, oovs };
}
