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
import { PhoneSet, SPN, basePhone, markWordPositions, stripStress } from './phones.ts';
import { compareCodePoints } from './symbols.ts';

/** The unknown word; pronounced SPN (spoken noise). */
export const UNK_WORD = '<UNK>';

export type Pronunciation = readonly string[];

export class Lexicon {
  private readonly entries = new Map<string, string[][]>();

  /** Add one pronunciation (deduplicated; order of first appearance kept). */
  add(word: string, phones: readonly string[]): void {
    if (phones.length === 0)
      throw new FormatError(`empty pronunciation for '${word}'`, { expected: 'at least one phone', found: 'none' });
    const list = this.entries.get(word);
    if (!list) this.entries.set(word, [[...phones]]);
    else if (!list.some((p) => p.length === phones.length && p.every((x, i) => x === phones[i])))
      list.push([...phones]);
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

/** One pronunciation line of a lexicon.txt: 1-based line number, upper-case word, stress-free phones. */
interface LexiconLine {
  line: number;
  word: string;
  phones: string[];
}

/** The pronunciation lines of Kaldi lexicon.txt or lexiconp.txt text (blank and `;;;` lines skipped). */
function* lexiconLines(text: string, file: string): Generator<LexiconLine> {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith(';;;')) continue;
    const parts = line.split(/\s+/);
    let prons = parts.slice(1);
    if (prons.length > 1 && /^(\d+(\.\d*)?|\.\d+)(e-?\d+)?$/i.test(prons[0])) prons = prons.slice(1);
    if (prons.length === 0) {
      throw new FormatError('lexicon line has a word but no pronunciation', {
        file,
        line: i + 1,
        expected: 'WORD PHONE [PHONE ...]',
        found: JSON.stringify(line),
      });
    }
    yield { line: i + 1, word: parts[0].toUpperCase(), phones: prons.map((p) => stripStress(p.toUpperCase())) };
  }
}

/**
 * Parse Kaldi lexicon.txt (`WORD P1 P2 ...`) or lexiconp.txt (`WORD PROB P1 ...`; the
 * probability is accepted and ignored). Words are upper-cased; ARPAbet stress digits are removed;
 * every phone must be in `phones`.
 */
export function parseLexiconTxt(text: string, phones: PhoneSet, file = 'lexicon.txt'): Lexicon {
  const lex = new Lexicon();
  for (const { line, word, phones: ph } of lexiconLines(text, file)) {
    for (const p of ph) {
      if (!phones.has(p)) {
        throw new FormatError(`unknown phone '${p}' in pronunciation of '${word}'`, {
          file,
          line,
          expected: `a phone of ${phones.phones.join(' ')}`,
          found: p,
        });
      }
    }
    lex.add(word, ph);
  }
  return lex;
}

/** A lexicon read against an acoustic model's phone set, with what could not be used. */
export interface LexiconForPhones {
  /** The usable pronunciations (phones of the set, word positions marked when the set has them). */
  lexicon: Lexicon;
  /** Words and pronunciation lines in the file. */
  wordsRead: number;
  pronunciationsRead: number;
  /** The set is word-position-dependent and the file's phones were not: positions were marked (markWordPositions). */
  positionsMarked: boolean;
  /** Pronunciations left out because of a phone outside the set, per such phone (a pronunciation counts once per phone). */
  unknownPhones: Record<string, number>;
  /** Pronunciations left out (a phone outside the set). */
  droppedPronunciations: number;
  /** Words that lost every pronunciation, in file order. */
  unusableWords: string[];
  /** Line of the first pronunciation left out, or null. */
  firstDroppedLine: number | null;
}

/**
 * Parse a lexicon.txt for decoding with an acoustic model's phone set: pronunciations with a phone
 * outside the set are left out and counted (per phone, and the words that lose all of them), not an
 * error. With a word-position-dependent set (AH_B, AH_I, ...) and a file without position phones
 * (no phone of the file is a position variant in the set), positions are marked first.
 */
export function parseLexiconForPhones(text: string, phones: PhoneSet, file = 'lexicon.txt'): LexiconForPhones {
  const entries = [...lexiconLines(text, file)];
  const positionsMarked =
    phones.wordPositions && !entries.some((e) => e.phones.some((p) => p !== basePhone(p) && phones.has(p)));
  const lexicon = new Lexicon();
  const unknownPhones: Record<string, number> = {};
  const seen = new Set<string>();
  const order: string[] = [];
  let droppedPronunciations = 0,
    firstDroppedLine: number | null = null;
  for (const e of entries) {
    if (!seen.has(e.word)) {
      seen.add(e.word);
      order.push(e.word);
    }
    const ph = positionsMarked ? markWordPositions(e.phones, phones.silencePhones) : e.phones;
    const bad = [...new Set(ph.filter((p) => !phones.has(p)))];
    if (bad.length) {
      for (const p of bad) unknownPhones[p] = (unknownPhones[p] ?? 0) + 1;
      droppedPronunciations++;
      firstDroppedLine ??= e.line;
      continue;
    }
    lexicon.add(e.word, ph);
  }
  return {
    lexicon,
    wordsRead: order.length,
    pronunciationsRead: entries.length,
    positionsMarked,
    unknownPhones,
    droppedPronunciations,
    unusableWords: order.filter((w) => !lexicon.has(w)),
    firstDroppedLine,
  };
}

/** parseLexiconForPhones of a file. */
export function readLexiconForPhones(path: string, phones: PhoneSet): LexiconForPhones {
  return parseLexiconForPhones(readFileSync(path, 'utf8'), phones, path);
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
export async function lexiconForWords(
  words: Iterable<string>,
  opts: LexiconSourcesOptions = {},
): Promise<LexiconForWords> {
  const useCmu = opts.useCmudict ?? true;
  const cmu = useCmu ? await loadCmudict() : null;
  const lexicon = new Lexicon();
  const sourceOf = new Map<string, 'corpus' | 'cmudict' | 'g2p'>();
  const oovs = new Set<string>();
  for (const w of new Set(words)) {
    const c = opts.corpusLexicon?.get(w);
    if (c) {
      lexicon.set(w, c);
      sourceOf.set(w, 'corpus');
      continue;
    }
    const m = cmu?.get(w);
    if (m) {
      lexicon.set(w, m);
      sourceOf.set(w, 'cmudict');
      continue;
    }
    const g = opts.g2p?.guess(w, opts.g2pVariants ?? 1) ?? [];
    if (g.length > 0) {
      lexicon.set(w, g);
      sourceOf.set(w, 'g2p');
      continue;
    }
    oovs.add(w);
  }
  return { lexicon, sourceOf, oovs };
}
