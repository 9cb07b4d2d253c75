/**
 * The large-vocabulary setup of `npm run bench:decode -- --vocab N` (issue 34 item 4), generated
 * once and cached under `tmp/bench-decode/vocab-<N>-<key>/` (the key hashes the settings and the
 * experiment files it is built from, so a changed experiment makes a new setup):
 *
 *   lexicon.txt  N words: the experiment's own lexicon (align/lang/lexicon.txt, so that the test
 *                sentences keep their pronunciations), then CMUdict's words, then generated words
 *                over CMUdict's phones (src/lang/synthetic-lexicon.ts), about 1.1 pronunciations
 *                per word.
 *   text.txt     training text: the experiment's LM text (lm/train.txt) and the test split's
 *                sentences, then generated sentences (see `generateText`), then every word the
 *                generator never drew, in sentences of 8 (so every lexicon word is in the LM).
 *   lm.arpa      an interpolated modified Kneser-Ney 3-gram of text.txt (src/lm), and its binary
 *                cache lm.arpa.amdlm once a decoder has read it.
 *   setup.json   what was generated (written last: a directory without it is regenerated).
 *
 * Generated sentences: 3-20 words; the first word is drawn from a Zipf distribution over a seeded
 * random ranking of the vocabulary (exponent 1, as word frequencies in English), each next word
 * with probability `follow` from the previous word's 8 favourite successors (themselves Zipf
 * draws, fixed per word, picked with weight 1/(k+1)), else from the Zipf distribution again, so
 * that bigrams and trigrams repeat as in text rather than being all singletons. The experiment's
 * own words get ranks among the 20,000 most frequent (they are common English words).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSplitTranscripts } from '../src/score/references.ts';
import { Lexicon, loadCmudict, writeLexiconTxt } from '../src/lang/lexicon.ts';
import { syntheticLexicon } from '../src/lang/synthetic-lexicon.ts';
import { estimateKneserNey } from '../src/lm/kneser-ney.ts';
import { writeArpa } from '../src/lm/arpa.ts';
import { parseSentences, type Sentence } from '../src/lm/text.ts';
import { sha256Hex } from '../src/util/hash.ts';
import { Rng } from '../src/util/rng.ts';
import { writeFileAtomic } from '../src/util/fs.ts';
import type { Logger } from '../src/util/log.ts';
import type { TrnUtterance } from '../src/score/trn.ts';

export interface LargeVocabOptions {
  /** Experiment directory (align/lang, lm/train.txt, prepare). */
  expDir: string;
  /** Words in the lexicon. */
  vocab: number;
  /** Generated running words of LM training text (before the coverage sentences). */
  tokens: number;
  /** Split whose sentences the LM text contains. */
  split: string;
  seed: number;
  /** Where setups are cached. Default tmp/bench-decode. */
  cacheRoot?: string;
}

export interface LargeVocabSetup {
  dir: string;
  lexicon: string;
  lm: string;
  vocab: number;
  pronunciations: number;
  /** n-grams per order of lm.arpa. */
  ngrams: number[];
  sentences: number;
  tokens: number;
  generateSec: number;
}

const VERSION = 1;
const FAVOURITES = 8;
const TOP_RANKS = 20000;

/** The experiment's pronunciations (align/lang/lexicon.txt), `<UNK>` left out. */
function experimentLexicon(file: string): Lexicon {
  const lex = new Lexicon();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const p = line.trim().split(/\s+/);
    if (p.length >= 2 && p[0] !== '<UNK>') lex.add(p[0], p.slice(1));
  }
  return lex;
}

/** `vocab` words: the experiment's, then CMUdict's and generated ones (syntheticLexicon) up to the size. */
async function largeLexicon(own: Lexicon, vocab: number, seed: number): Promise<Lexicon> {
  const cmu = await loadCmudict();
  const ownWords = own.words();
  const extra = ownWords.filter((w) => !cmu.has(w)).length;
  const lex = await syntheticLexicon({ words: vocab - extra, seed });
  for (const w of ownWords) lex.set(w, own.get(w)!);
  return lex;
}

/** Inverse CDF sampling of ranks 0..V-1 with p(r) proportional to 1 / (r + 1). */
class Zipf {
  private readonly cdf: Float64Array;
  constructor(size: number) {
    this.cdf = new Float64Array(size);
    let acc = 0;
    for (let r = 0; r < size; r++) this.cdf[r] = acc += 1 / (r + 1);
    for (let r = 0; r < size; r++) this.cdf[r] /= acc;
  }
  /** The rank of a uniform number u in [0, 1). */
  rank(u: number): number {
    let lo = 0,
      hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/** A uniform number in [0, 1) fixed by (a, b): the favourite successors of a word. */
function hashUniform(a: number, b: number, seed: number): number {
  let h = Math.imul(a ^ seed, 0x9e3779b1) ^ Math.imul(b + 0x632be5ab, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  h = Math.imul(h, 0x297a2d39);
  h ^= h >>> 15;
  return (h >>> 0) / 4294967296;
}

/** Words by rank: a seeded shuffle, with the experiment's words moved among the first TOP_RANKS. */
function rankWords(words: readonly string[], own: ReadonlySet<string>, rng: Rng): string[] {
  const ranked = rng.shuffle([...words]);
  const top = Math.min(TOP_RANKS, ranked.length);
  for (let i = 0; i < ranked.length; i++) {
    if (i < top || !own.has(ranked[i])) continue;
    let j = rng.int(top);
    while (own.has(ranked[j])) j = rng.int(top);
    [ranked[i], ranked[j]] = [ranked[j], ranked[i]];
  }
  return ranked;
}

/** Generated sentences of about `tokens` words over `ranked` (see the module comment), then coverage sentences. */
export function generateText(ranked: readonly string[], tokens: number, rng: Rng, follow = 0.6): string[][] {
  const V = ranked.length,
    zipf = new Zipf(V),
    seen = new Uint8Array(V);
  const favWeights = Array.from({ length: FAVOURITES }, (_, k) => 1 / (k + 1));
  const out: string[][] = [];
  let n = 0;
  while (n < tokens) {
    const len = 3 + rng.int(18);
    const ids: number[] = [zipf.rank(rng.next())];
    while (ids.length < len) {
      const prev = ids[ids.length - 1];
      ids.push(
        rng.next() < follow ? zipf.rank(hashUniform(prev, rng.weighted(favWeights), 0x5eed)) : zipf.rank(rng.next()),
      );
    }
    for (const r of ids) seen[r] = 1;
    out.push(ids.map((r) => ranked[r]));
    n += len;
  }
  const unseen = rng.shuffle(ranked.filter((_, r) => !seen[r]));
  for (let i = 0; i < unseen.length; i += 8) out.push(unseen.slice(i, i + 8));
  return out;
}

/** The setup's directory (named by a hash of the options and the experiment files), with the inputs read for the key. */
async function setupDir(
  o: LargeVocabOptions,
): Promise<{ dir: string; lexFile: string; textFile: string; refs: TrnUtterance[] }> {
  const lexFile = join(o.expDir, 'align', 'lang', 'lexicon.txt'),
    textFile = join(o.expDir, 'lm', 'train.txt');
  const refs = (await readSplitTranscripts(join(o.expDir, 'prepare'), o.split)).refs;
  const key = sha256Hex(
    JSON.stringify({
      VERSION,
      vocab: o.vocab,
      tokens: o.tokens,
      split: o.split,
      seed: o.seed,
      lex: sha256Hex(readFileSync(lexFile)),
      text: sha256Hex(readFileSync(textFile)),
      refs: refs.map((r) => r.words.join(' ')),
    }),
  ).slice(0, 12);
  return { dir: join(o.cacheRoot ?? join('tmp', 'bench-decode'), `vocab-${o.vocab}-${key}`), lexFile, textFile, refs };
}

/** Whether the setup of these options is cached. */
export async function setupExists(o: LargeVocabOptions): Promise<boolean> {
  return existsSync(join((await setupDir(o)).dir, 'setup.json'));
}

/** The cached setup of these options, generated when missing. */
export async function largeVocabSetup(o: LargeVocabOptions, logger: Logger): Promise<LargeVocabSetup> {
  const { dir, lexFile, textFile, refs } = await setupDir(o);
  const setupFile = join(dir, 'setup.json');
  if (existsSync(setupFile)) return JSON.parse(readFileSync(setupFile, 'utf8')) as LargeVocabSetup;
  const t0 = performance.now();
  mkdirSync(dir, { recursive: true });
  const own = experimentLexicon(lexFile);
  const lex = await largeLexicon(own, o.vocab, o.seed);
  const setup: LargeVocabSetup = {
    dir,
    lexicon: join(dir, 'lexicon.txt'),
    lm: join(dir, 'lm.arpa'),
    vocab: lex.size,
    pronunciations: lex.words().reduce((s, w) => s + lex.get(w)!.length, 0),
    ngrams: [],
    sentences: 0,
    tokens: 0,
    generateSec: 0,
  };
  await writeLexiconTxt(setup.lexicon, lex);
  logger.info(`bench: lexicon of ${setup.vocab} words (${setup.pronunciations} pronunciations) -> ${setup.lexicon}`);
  const rng = new Rng(`bench-large-vocab-${o.seed}`);
  const ranked = rankWords(lex.words(), new Set(own.words()), rng.fork('ranks'));
  const ownText: Sentence[] = [
    ...parseSentences(readFileSync(textFile, 'utf8'), textFile),
    ...refs.map((r) => ({ words: r.words, line: 0 })),
  ];
  const text = [...ownText.map((s) => s.words), ...generateText(ranked, o.tokens, rng.fork('text'))];
  writeFileSync(join(dir, 'text.txt'), text.map((s) => s.join(' ')).join('\n') + '\n');
  logger.info(`bench: ${text.length} sentences of LM text -> ${join(dir, 'text.txt')}; estimating the 3-gram`);
  const model = estimateKneserNey(
    text.map((words, i) => ({ words, line: i + 1 })),
    { order: 3, logger },
  );
  await writeArpa(setup.lm, model);
  setup.ngrams = model.ngrams.map((l) => l.length);
  setup.sentences = model.sentences;
  setup.tokens = model.tokens;
  setup.generateSec = Math.round((performance.now() - t0) / 100) / 10;
  await writeFileAtomic(setupFile, JSON.stringify(setup, null, 2) + '\n');
  logger.info(
    `bench: LM ${setup.ngrams.join(' + ')} n-grams -> ${setup.lm} (setup generated in ${setup.generateSec} s)`,
  );
  return setup;
}
