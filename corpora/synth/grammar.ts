/**
 * The sentence grammar of the synthetic corpus: a small probabilistic context-free grammar (PCFG)
 * over a closed vocabulary of 500 English words, every one of them in CMUdict.
 *
 * Why a grammar and not random words: the corpus has to make a word n-gram LM matter (docs/design.md
 * section 2: the `lm` and `decode` stages), so sentences follow a dozen templates (statements, questions,
 * requests, timetables, prices, weather) whose slots are noun phrases, verbs, adjectives, numbers,
 * clock times, days and places. The grammar is data: `SYNTH_GRAMMAR` maps a nonterminal to its
 * weighted productions; a production is a list of symbols, where `<NAME>` is a nonterminal and
 * anything else a terminal. Terminals are lower-case words, or the punctuation marks `,` `.` `?`
 * that are passed to espeak for prosody (pauses, question intonation) but are not transcript words.
 *
 * Generation is top-down with a seeded Rng (same seed -> same sentences); a sentence whose length
 * is outside [minWords, maxWords] is redrawn. The article `a` becomes `an` before a word whose
 * CMUdict pronunciation starts with a vowel ("an old boat", "a uniform" would stay "a").
 */
import { dictionary } from 'cmu-pronouncing-dictionary';
import { ConfigError } from '../../src/util/errors.ts';
import type { Rng } from '../../src/util/rng.ts';

/** One weighted right-hand side. */
export interface Production {
  symbols: readonly string[];
  weight: number;
}

/** Nonterminal name (without the angle brackets) -> productions. The start symbol is `S`. */
export type Grammar = Readonly<Record<string, readonly Production[]>>;

/** Punctuation terminals: spoken by espeak as prosody, never transcript words. */
export const PUNCTUATION = new Set([',', '.', '?']);

const NONTERMINAL = /^<([A-Z0-9_]+)>$/;

/** `rules('3 the <NOUN> | 1 a <NOUN>')`: weighted alternatives separated by `|`; an empty one is epsilon. */
function rules(spec: string): Production[] {
  return spec.split('|').map((alt) => {
    const toks = alt
      .trim()
      .split(/\s+/)
      .filter((t) => t.length > 0);
    const weight = Number(toks[0]);
    if (!(weight > 0)) throw new Error(`grammar: alternative '${alt.trim()}' must start with a positive weight`);
    return { symbols: toks.slice(1), weight };
  });
}

/** A word list: every word one production of weight 1. */
function words(list: string): Production[] {
  return list
    .trim()
    .split(/\s+/)
    .map((w) => ({ symbols: [w], weight: 1 }));
}

/** Pairs `past/base` -> two word lists in the same order. */
function verbPairs(list: string): { past: Production[]; base: Production[] } {
  const pairs = list
    .trim()
    .split(/\s+/)
    .map((p) => p.split('/'));
  return {
    past: pairs.map(([past]) => ({ symbols: [past], weight: 1 })),
    base: pairs.map(([, base]) => ({ symbols: [base], weight: 1 })),
  };
}

const TRANSITIVE = verbPairs(`
  found/find saw/see took/take bought/buy sold/sell carried/carry painted/paint opened/open
  closed/close cleaned/clean washed/wash moved/move lost/lose kept/keep watched/watch brought/bring
  made/make built/build fixed/fix pushed/push held/hold caught/catch
  left/leave wanted/want needed/need liked/like visited/visit met/meet called/call
  helped/help followed/follow picked/pick filled/fill packed/pack ordered/order cooked/cook
  sent/send borrowed/borrow 
`);

const MOTION = verbPairs(`
  walked/walk ran/run went/go came/come drove/drive flew/fly sailed/sail returned/return
  hurried/hurry climbed/climb jumped/jump swam/swim
`);

const STATIONARY = verbPairs(`
  waited/wait stayed/stay slept/sleep worked/work played/play sang/sing danced/dance rested/rest
`);

/** The grammar of the synthetic corpus (start symbol `S`). */
export const SYNTH_GRAMMAR: Grammar = {
  S: rules(`
    6 <NP_SUBJ> <VT_PAST> <NP_OBJ> <OPT_PP> <OPT_TIME> .
    | 3 <NP_SUBJ> <VM_PAST> <OPT_ADV> <PP_GO> <OPT_TIME> .
    | 2 <NP_SUBJ> <VS_PAST> <OPT_ADV> <PREP_LOC> the <PLACE> <OPT_TIME> .
    | 2 <TIME> , <NP_SUBJ> <VT_PAST> <NP_OBJ> .
    | 2 <NP_SUBJ> <VT_PAST> <NP_OBJ> and <VT_PAST> <NP_OBJ> .
    | 2 <NP_SUBJ> <VM_PAST> <PP_GO> because <REASON> .
    | 2 <NAME> bought <COUNT_NP> for <MONEY> .
    | 2 the <TRANSPORT> to <CITY> <DEPARTS> at <CLOCK> .
    | 2 it will be <WEATHER> in <CITY> <WHEN_FUT> .
    | 2 <NP_SUBJ> was <OPT_DEGREE> <STATE> .
    | 2 the <NOUN_OBJ> is <PREP_LOC> the <PLACE> .
    | 2 <NP_SUBJ> will <VT_BASE> <NP_OBJ> <WHEN_FUT> .
    | 1 <NP_SUBJ> wanted to <VM_BASE> <PP_GO> .
    | 1 <NP_SUBJ> wanted to <VS_BASE> <PREP_LOC> the <PLACE> .
    | 1 we will meet at the <PLACE> at <CLOCK> .
    | 1 <NAME> said that <NP_SUBJ> <VT_PAST> <NP_OBJ> .
    | 1 there are <NUM_PLURAL> <NOUN_PL> <PREP_LOC> the <PLACE> .
    | 2 please <VT_BASE> the <OPT_OBJ_ADJ> <NOUN_OBJ> <OPT_PP> .
    | 2 did <NP_SUBJ> <VT_BASE> <NP_OBJ> <OPT_TIME> ?
    | 1 where did <NAME> <VT_BASE> the <NOUN_OBJ> ?
    | 1 how many <NOUN_PL> did <NP_SUBJ> <VT_BASE> ?
    | 1 could you <VT_BASE> the <NOUN_OBJ> for me ?
    | 1 when does the <TRANSPORT> to <CITY> leave ?
  `),

  NP_SUBJ: rules(`
    4 the <OPT_PERSON_ADJ> <PERSON> | 3 <NAME> | 2 <POSS> <KIN> | 2 <PRONOUN> | 1 the <ANIMAL>
    | 1 <NAME> and <NAME>
  `),
  NP_OBJ: rules(`
    4 the <OPT_OBJ_ADJ> <NOUN_OBJ> | 3 a <OPT_OBJ_ADJ> <NOUN_OBJ> | 1 <POSS> <NOUN_OBJ> | 1 <COUNT_NP>
    | 1 some <MASS> | 1 the <ANIMAL> | 1 <NAME> | 1 <POSS> <KIN>
  `),
  COUNT_NP: rules('3 <NUM_PLURAL> <OPT_OBJ_ADJ> <NOUN_PL> | 1 a <NOUN_OBJ> | 1 some <NOUN_PL>'),
  OPT_OBJ_ADJ: rules('5 | 3 <OBJ_ADJ> | 1 <COLOUR> | 1 <OBJ_ADJ> <COLOUR>'),
  OPT_PERSON_ADJ: rules('3 | 1 <PERSON_ADJ>'),
  OPT_PP: rules('4 | 2 <PREP_LOC> the <PLACE> | 1 from the <PLACE> | 1 for <POSS> <KIN> | 1 with <POSS> <KIN>'),
  PP_GO: rules('4 <PREP_GO> the <PLACE> | 2 to <CITY> | 1 home'),
  OPT_ADV: rules('4 | 1 <ADVERB>'),
  OPT_TIME: rules('3 | 2 <TIME>'),
  OPT_DEGREE: rules('2 | 1 very | 1 so | 1 really | 1 not'),
  TIME: rules(`
    2 yesterday | 2 last <DAY> | 2 on <DAY> | 2 in the <PART_OF_DAY> | 1 <DAY> <PART_OF_DAY>
    | 1 yesterday <PART_OF_DAY> | 1 last <PERIOD> | 2 at <CLOCK> | 1 in <MONTH> | 1 this <PART_OF_DAY>
  `),
  WHEN_FUT: rules(
    '2 tomorrow | 2 next <DAY> | 2 on <DAY> | 1 tonight | 1 next <PERIOD> | 1 in <MONTH> | 1 tomorrow <PART_OF_DAY>',
  ),
  CLOCK: rules(`
    3 <HOUR> | 3 <HOUR> <MINUTES> | 1 half past <HOUR> | 1 a quarter to <HOUR> | 1 a quarter past <HOUR>
    | 1 noon | 1 midnight
  `),
  MINUTES: rules('2 fifteen | 2 thirty | 2 forty five | 1 ten | 1 twenty | 1 fifty'),
  MONEY: rules('2 <NUMBER> dollars | 1 <NUMBER> pounds | 1 a hundred dollars'),
  DEPARTS: rules('3 leaves | 2 arrives | 1 left | 1 arrived'),
  REASON: rules(`
    2 it was <WEATHER> | 2 <PRONOUN> was <OPT_DEGREE> <STATE> | 1 the <TRANSPORT> was late
    | 1 <POSS> <KIN> was <STATE>
  `),
  WEATHER: rules('4 <WEATHER_ADJ> | 1 <WEATHER_ADJ> and <WEATHER_ADJ>'),

  // Numbers: NUMBER is 1..99, NUM_PLURAL 2..99 (for plural nouns).
  NUMBER: rules('2 one | 8 <NUM_PLURAL>'),
  NUM_PLURAL: rules('8 <DIGIT_2_9> | 4 <TEEN> | 3 <TENS> | 3 <TENS> <DIGIT_1_9>'),
  DIGIT_1_9: rules('1 one | 8 <DIGIT_2_9>'),
  DIGIT_2_9: words('two three four five six seven eight nine'),
  TEEN: words('ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen'),
  TENS: words('twenty thirty forty fifty sixty seventy eighty ninety'),
  HOUR: words('one two three four five six seven eight nine ten eleven twelve'),

  PERSON: words(`
    man woman boy girl teacher doctor farmer driver student child friend neighbor baker nurse
    pilot captain artist singer writer lawyer soldier king queen officer stranger visitor
  `),
  PERSON_ADJ: words('old young tall happy tired hungry rich poor kind clever famous busy'),
  KIN: words('mother father sister brother uncle aunt cousin son daughter wife husband'),
  NAME: words('john mary david sarah peter anna james laura michael susan robert linda paul emma thomas helen'),
  PRONOUN: words('he she we they i you'),
  POSS: words('my his her our their your'),
  ANIMAL: words('dog cat horse bird cow sheep rabbit fox bear lion'),
  NOUN_OBJ: words(`
 book letter box cup chair table door window car boat bike ball bag hat coat key phone
 bottle glass plate knife map picture clock bed cake egg fish orange flower 
 shoe radio camera ticket basket blanket candle piano guitar umbrella wallet apple
 `),
  NOUN_PL: words(`
 books letters boxes cups chairs apples eggs flowers stones shoes tickets cakes bottles
 plates keys horses dogs cats birds oranges pictures 
 `),
  MASS: words('bread milk coffee tea water soup rice sugar butter cheese juice'),
  PLACE: words(`
    house school station office market garden park kitchen library hospital church hotel bank
    shop farm river beach forest village bridge street harbor museum airport restaurant theater
    castle lake
  `),
  CITY: words(
    'london paris boston chicago berlin madrid dublin denver dallas seattle portland toronto sydney rome vienna glasgow',
  ),
  TRANSPORT: words('train bus ship plane ferry'),
  OBJ_ADJ: words(`
 old new big small little long short heavy warm cold hot dark clean dirty strange beautiful
 empty full broken famous cheap expensive large soft hard fresh
 `),
  COLOUR: words('red blue green yellow white black brown grey'),
  STATE: words('tired hungry late busy sick happy angry sorry ready early afraid lucky'),
  WEATHER_ADJ: words('sunny rainy cold warm windy cloudy foggy hot dry wet'),
  ADVERB: words('quickly slowly quietly carefully suddenly finally'),
  PREP_LOC: words('in near behind under beside inside outside at'),
  PREP_GO: words('to into from across through along towards past'),
  DAY: words('monday tuesday wednesday thursday friday saturday sunday'),
  PART_OF_DAY: words('morning afternoon evening night'),
  PERIOD: words('week month year weekend summer winter spring autumn'),
  MONTH: words('january february march april may june july august september october november december'),
  VT_PAST: TRANSITIVE.past,
  VT_BASE: TRANSITIVE.base,
  VM_PAST: MOTION.past,
  VM_BASE: MOTION.base,
  VS_PAST: STATIONARY.past,
  VS_BASE: STATIONARY.base,
};

/** Options of {@link generateSentence}. */
export interface SentenceOptions {
  /** Fewest transcript words in a sentence (default 4). */
  minWords?: number;
  /** Most transcript words in a sentence (default 16). */
  maxWords?: number;
}

export interface Sentence {
  /** Transcript words, lower case, in order (no punctuation). */
  words: string[];
  /** The text espeak reads: the words with the grammar's `,` `.` `?` attached. */
  spokenText: string;
}

/** Deepest nesting of nonterminals a derivation may reach (the grammar is not recursive). */
const MAX_DEPTH = 20;
/** Redraws allowed before a length range is declared impossible. */
const MAX_TRIES = 1000;

/**
 * Check a grammar's structure: start symbol S present, every referenced nonterminal defined,
 * positive weights, no production that refers to its own nonterminal (derivations terminate).
 * Returns the terminals reachable from S, sorted.
 */
export function checkGrammar(grammar: Grammar): string[] {
  if (!grammar.S)
    throw new ConfigError('grammar has no start symbol S', {
      expected: 'a nonterminal named S',
      found: Object.keys(grammar).join(', '),
    });
  const terminals = new Set<string>();
  const seen = new Set<string>();
  const visit = (nt: string, path: string[]) => {
    if (path.includes(nt))
      throw new ConfigError(`grammar is recursive: ${[...path, nt].join(' -> ')}`, {
        expected: 'a non-recursive grammar',
      });
    if (seen.has(nt)) return;
    const prods = grammar[nt];
    if (!prods || prods.length === 0) {
      throw new ConfigError(`grammar nonterminal <${nt}> is not defined`, {
        expected: 'one or more productions',
        found: `used in <${path[path.length - 1] ?? 'S'}>`,
      });
    }
    for (const p of prods) {
      if (!(p.weight > 0) || !Number.isFinite(p.weight))
        throw new ConfigError(`grammar production of <${nt}> has weight ${p.weight}`, {
          expected: 'a positive finite weight',
        });
      for (const s of p.symbols) {
        const m = NONTERMINAL.exec(s);
        if (m) visit(m[1], [...path, nt]);
        else terminals.add(s);
      }
    }
    seen.add(nt);
  };
  visit('S', []);
  return [...terminals].sort();
}

/** The transcript vocabulary of a grammar: its reachable terminals minus punctuation, plus `an`, sorted. */
export function grammarVocabulary(grammar: Grammar = SYNTH_GRAMMAR): string[] {
  const terminals = checkGrammar(grammar).filter((t) => !PUNCTUATION.has(t));
  // "a" turns into "an" before a vowel (see deriveTokens).
  if (terminals.includes('a') && !terminals.includes('an')) terminals.push('an');
  return terminals.sort();
}

const VOWEL_PHONES = /^(AA|AE|AH|AO|AW|AY|EH|ER|EY|IH|IY|OW|OY|UH|UW)/;

/** True if CMUdict's first pronunciation of `word` starts with a vowel (so "a" becomes "an"). */
export function startsWithVowelSound(word: string): boolean {
  const pron = (dictionary as Record<string, string>)[word];
  return pron !== undefined && VOWEL_PHONES.test(pron);
}

function expand(grammar: Grammar, nt: string, rng: Rng, out: string[], depth: number): void {
  if (depth > MAX_DEPTH)
    throw new ConfigError(`grammar derivation deeper than ${MAX_DEPTH}`, { expected: 'a non-recursive grammar' });
  const prods = grammar[nt];
  if (!prods) throw new ConfigError(`grammar nonterminal <${nt}> is not defined`);
  const p = prods[rng.weighted(prods.map((x) => x.weight))];
  for (const s of p.symbols) {
    const m = NONTERMINAL.exec(s);
    if (m) expand(grammar, m[1], rng, out, depth + 1);
    else out.push(s);
  }
}

/** Draw one derivation of S (tokens incl. punctuation), with a/an agreement applied. */
export function deriveTokens(rng: Rng, grammar: Grammar = SYNTH_GRAMMAR): string[] {
  const toks: string[] = [];
  expand(grammar, 'S', rng, toks, 0);
  for (let i = 0; i + 1 < toks.length; i++) {
    if (toks[i] === 'a' && startsWithVowelSound(toks[i + 1])) toks[i] = 'an';
  }
  return toks;
}

/**
 * Generate one sentence with `minWords..maxWords` transcript words (redrawing longer or shorter
 * ones). Deterministic for a given Rng state.
 * @throws ConfigError when the range is empty or the grammar cannot produce such a length
 */
export function generateSentence(rng: Rng, opts: SentenceOptions = {}, grammar: Grammar = SYNTH_GRAMMAR): Sentence {
  const minWords = opts.minWords ?? 4;
  const maxWords = opts.maxWords ?? 16;
  if (!Number.isInteger(minWords) || !Number.isInteger(maxWords) || minWords < 1 || maxWords < minWords) {
    throw new ConfigError('bad sentence length range', {
      keyPath: 'minWords',
      expected: 'integers 1 <= minWords <= maxWords',
      found: `minWords ${minWords}, maxWords ${maxWords}`,
    });
  }
  for (let t = 0; t < MAX_TRIES; t++) {
    const toks = deriveTokens(rng, grammar);
    const words = toks.filter((x) => !PUNCTUATION.has(x));
    if (words.length < minWords || words.length > maxWords) continue;
    let spokenText = '';
    for (const x of toks) spokenText += PUNCTUATION.has(x) ? x : (spokenText.length > 0 ? ' ' : '') + x;
    return { words, spokenText };
  }
  throw new ConfigError(`the grammar produced no sentence of ${minWords}..${maxWords} words in ${MAX_TRIES} draws`, {
    keyPath: 'minWords',
    expected: 'a length range the grammar can produce (most sentences have 4..14 words)',
    found: `minWords ${minWords}, maxWords ${maxWords}`,
  });
}
