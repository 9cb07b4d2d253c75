/**
 * The `lang` directory (Kaldi data/lang, reduced): phones.txt, words.txt, lexicon.txt,
 * oov.txt (words no source covers, with counts) and lang.json (options + summary).
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../util/errors.ts';
import { withAtomicOutput, writeFileAtomic } from '../util/fs.ts';
import { PhoneSet, markWordPositions } from './phones.ts';
import { SymbolTable } from './symbols.ts';
import { Lexicon, UNK_WORD, lexiconForWords, readLexiconTxt, type PronunciationGuesser } from './lexicon.ts';

export interface LangOptions {
  /** Corpus lexicon (Kaldi lexicon.txt) merged first. Default: none. */
  corpusLexiconPath?: string | null;
  /** Use CMUdict after the corpus lexicon. Default true. */
  useCmudict?: boolean;
  /** Probability of optional silence between words (and at the edges). Default 0.5 (Kaldi). */
  optionalSilenceProb?: number;
  /**
   * Word-position-dependent phones (Kaldi prepare_lang.sh --position-dependent-phones true):
   * every pronunciation's phones get _B/_I/_E/_S, the phone set has the four variants of each
   * ARPAbet phone, silence phones none. Default false.
   */
  wordPositionPhones?: boolean;
}

export interface Lang {
  phones: PhoneSet;
  lexicon: Lexicon;
  words: SymbolTable;
  /** Words of the corpus that no source covers, with their token counts. */
  oovs: Map<string, number>;
  sourceCounts: Record<'corpus' | 'cmudict' | 'g2p', number>;
  options: Required<Omit<LangOptions, 'corpusLexiconPath' | 'wordPositionPhones'>> & {
    corpusLexiconPath: string | null;
    wordPositionPhones?: true;
  };
}

const KNOWN = new Set(['corpusLexiconPath', 'useCmudict', 'optionalSilenceProb', 'wordPositionPhones']);

/** Build the lexicon, phone set and word list for the words (tokens) of a corpus. */
export async function buildLang(
  wordTokens: Iterable<string>,
  opts: LangOptions = {},
  g2p?: PronunciationGuesser,
): Promise<Lang> {
  for (const k of Object.keys(opts))
    if (!KNOWN.has(k))
      throw new ConfigError(`unknown lang option '${k}'`, {
        keyPath: `lang.${k}`,
        expected: [...KNOWN].join(', '),
        found: k,
      });
  const p = opts.optionalSilenceProb ?? 0.5;
  if (!(p >= 0 && p < 1))
    throw new ConfigError('optionalSilenceProb must be in [0, 1)', {
      keyPath: 'lang.optionalSilenceProb',
      expected: '0 <= p < 1',
      found: String(p),
    });
  // Sources (CMUdict, a corpus lexicon, G2P) give base phones; positions are marked afterwards.
  const basePhones = PhoneSet.arpabet();
  const phones = opts.wordPositionPhones ? PhoneSet.arpabet({ wordPositions: true }) : basePhones;
  const counts = new Map<string, number>();
  for (const w of wordTokens) counts.set(w, (counts.get(w) ?? 0) + 1);
  const corpusLexicon = opts.corpusLexiconPath ? readLexiconTxt(opts.corpusLexiconPath, basePhones) : undefined;
  const r = await lexiconForWords(counts.keys(), { corpusLexicon, useCmudict: opts.useCmudict ?? true, g2p });
  if (opts.wordPositionPhones)
    for (const w of r.lexicon.words())
      r.lexicon.set(
        w,
        r.lexicon.get(w)!.map((p) => markWordPositions(p, phones.silencePhones)),
      );
  r.lexicon.set(UNK_WORD, [['SPN']]);
  const oovs = new Map([...r.oovs].map((w) => [w, counts.get(w) ?? 0]));
  const sourceCounts = { corpus: 0, cmudict: 0, g2p: 0 };
  for (const s of r.sourceOf.values()) sourceCounts[s]++;
  return {
    phones,
    lexicon: r.lexicon,
    words: SymbolTable.forWords(r.lexicon.words()),
    oovs,
    sourceCounts,
    options: {
      corpusLexiconPath: opts.corpusLexiconPath ?? null,
      useCmudict: opts.useCmudict ?? true,
      optionalSilenceProb: p,
      ...(opts.wordPositionPhones ? { wordPositionPhones: true as const } : {}),
    },
  };
}

/** Write a lang directory atomically. */
export async function writeLang(dir: string, lang: Lang): Promise<void> {
  await withAtomicOutput(dir, async (tmp) => {
    await writeFileAtomic(join(tmp, 'phones.txt'), lang.phones.toPhonesTxt());
    await writeFileAtomic(join(tmp, 'words.txt'), lang.words.toText());
    await writeFileAtomic(join(tmp, 'lexicon.txt'), lang.lexicon.toLexiconTxt());
    const oovLines = [...lang.oovs.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .map(([w, c]) => `${w} ${c}\n`);
    await writeFileAtomic(join(tmp, 'oov.txt'), oovLines.join(''));
    await writeFileAtomic(
      join(tmp, 'lang.json'),
      JSON.stringify(
        {
          format: 'am-distill-lang',
          version: 1,
          options: lang.options,
          phones: lang.phones.toJSON(),
          numWords: lang.lexicon.size,
          sourceCounts: lang.sourceCounts,
          numOovWords: lang.oovs.size,
        },
        null,
        2,
      ) + '\n',
    );
  });
}

/** Read back the phone set of a lang directory (lang.json). */
export function readLangPhones(dir: string): PhoneSet {
  const meta = JSON.parse(readFileSync(join(dir, 'lang.json'), 'utf8')) as {
    phones: { phones: string[]; silencePhones: string[] };
  };
  return PhoneSet.fromJSON(meta.phones);
}

/** Read back phones + lexicon of a lang directory. */
export function readLang(dir: string): { phones: PhoneSet; lexicon: Lexicon } {
  const phones = readLangPhones(dir);
  return { phones, lexicon: readLexiconTxt(join(dir, 'lexicon.txt'), phones) };
}
