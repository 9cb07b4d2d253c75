/**
 * Transcript normalisation shared by every corpus adapter.
 *
 * Output: upper-case words over the letters A-Z and the apostrophe, separated by single spaces.
 * Rules, in order:
 *   1. Typographic apostrophes (U+2018, U+2019, U+02BC) become `'`.
 *   2. `.` is deleted (abbreviations: "Mr." -> "MR", "U.S." -> "US").
 *   3. `, ? ! ; : "` and the hyphens `-`, U+2010, U+2011, U+2013, U+2014 become a space
 *      ("long-term" -> "LONG TERM", "yes,no" -> "YES NO").
 *   4. Any whitespace run becomes one space; leading and trailing space is removed.
 *   5. Letters a-z become A-Z.
 *   6. Apostrophes are kept inside a word ("DON'T", "JAMES'S") and removed at the start or end
 *      of a word, where they act as quotation marks ("'hello'" -> "HELLO"; note "'tis" -> "TIS").
 *   7. Any other character (digits, other punctuation, letters outside A-Z such as "É" or "ß",
 *      non-Latin scripts) is not guessed at: it raises a {@link TranscriptError} naming the
 *      utterance and the character. Adapters turn that into a counted skip.
 *   8. A transcript that is empty after normalisation raises a {@link TranscriptError} too.
 */
import { CorpusError, type ErrorLocation } from '../util/errors.ts';

/** The skip reason adapters report for characters outside the alphabet. */
export const UNSUPPORTED_CHARACTER_REASON = 'transcript characters the lexicon cannot take';
/** The skip reason adapters report for transcripts with no words. */
export const EMPTY_TRANSCRIPT_REASON = 'empty transcript';

/** A transcript the lexicon cannot take. `reason` is the short, countable skip reason. */
export class TranscriptError extends CorpusError {
  /** Short reason for a SkipCounter, e.g. "transcript characters the lexicon cannot take: '3'". */
  readonly reason: string;
  /** The offending characters (deduplicated, in order of appearance); empty for an empty transcript. */
  readonly characters: string[];

  constructor(
    message: string,
    reason: string,
    characters: string[],
    opts: ErrorLocation & { expected?: string; found?: string } = {},
  ) {
    super(message, opts);
    this.reason = reason;
    this.characters = characters;
  }
}

const DELETE = new Set(['.']);
const TO_SPACE = new Set([',', '?', '!', ';', ':', '"', '-', '\u2010', '\u2011', '\u2013', '\u2014']);
const APOSTROPHES = new Set(["'", '\u2018', '\u2019', '\u02bc']);

function describeChar(c: string): string {
  const cp = c.codePointAt(0)!;
  return `'${c}' (U+${cp.toString(16).toUpperCase().padStart(4, '0')})`;
}

/**
 * Normalise one transcript (see the module comment for the rules).
 * @param raw the transcript as found in the corpus
 * @param where file / line / utterance, for the error message
 * @throws TranscriptError for characters outside the alphabet or an empty result
 */
export function normalizeTranscript(raw: string, where: ErrorLocation = {}): string {
  let out = '';
  const bad: string[] = [];
  for (const c of raw) {
    if (c >= 'a' && c <= 'z') out += c.toUpperCase();
    else if ((c >= 'A' && c <= 'Z') || c === ' ') out += c;
    else if (APOSTROPHES.has(c)) out += "'";
    else if (DELETE.has(c)) continue;
    else if (TO_SPACE.has(c) || /\s/u.test(c)) out += ' ';
    else if (!bad.includes(c)) bad.push(c);
  }
  if (bad.length > 0) {
    const list = bad.map(describeChar).join(', ');
    throw new TranscriptError(
      `${UNSUPPORTED_CHARACTER_REASON}: ${list} in "${raw.trim()}"`,
      `${UNSUPPORTED_CHARACTER_REASON}: ${bad.map((c) => `'${c}'`).join(' ')}`,
      bad,
      {
        ...where,
        expected: 'letters A-Z, apostrophes inside words, spaces and the punctuation , . ? ! ; : " -',
        found: list,
      },
    );
  }
  const words: string[] = [];
  for (const w of out.split(' ')) {
    const trimmed = w.replace(/^'+|'+$/g, '');
    if (trimmed.length > 0) words.push(trimmed);
  }
  if (words.length === 0) {
    throw new TranscriptError(`${EMPTY_TRANSCRIPT_REASON}: "${raw}"`, EMPTY_TRANSCRIPT_REASON, [], {
      ...where,
      expected: 'at least one word',
      found: 'none',
    });
  }
  return words.join(' ');
}

/** Words of a normalised transcript. */
export function transcriptWords(text: string): string[] {
  return text.length === 0 ? [] : text.split(' ');
}
