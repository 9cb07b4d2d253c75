/**
 * sclite `trn` transcripts: one utterance per line, `WORD WORD ... (uttId)`.
 * The id is the last whitespace-separated token, in parentheses; an utterance may be empty
 * (`(uttId)` alone). Lines that are blank or start with `;;` are comments (as in sclite).
 * The speaker is taken from the id as sclite's `-i spu_id` does: the text before the first `_`
 * (the whole id when it has no `_`).
 */
import { FormatError } from '../util/errors.ts';
import { readInputText, writeFileAtomic } from '../util/fs.ts';

export interface TrnUtterance {
  uttId: string;
  words: string[];
  /** 1-based line in the source file (0 when built in memory). */
  line: number;
}

/** Speaker of an utterance id, sclite `spu_id` convention: prefix up to the first `_`. */
export function speakerOf(uttId: string): string {
  const i = uttId.indexOf('_');
  return i > 0 ? uttId.slice(0, i) : uttId;
}

/**
 * Parse trn text. Throws FormatError naming the file and line for a line without an id and for a
 * duplicate id.
 */
export function parseTrn(text: string, file = '<trn>'): TrnUtterance[] {
  const out: TrnUtterance[] = [];
  const seen = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === '' || raw.startsWith(';;')) continue;
    const m = /^(.*?)\s*\(([^()\s]+)\)$/.exec(raw);
    if (!m) {
      throw new FormatError('trn line without an utterance id', {
        file,
        line: i + 1,
        expected: "'WORD ... (uttId)'",
        found: JSON.stringify(raw.slice(0, 80)),
      });
    }
    const uttId = m[2];
    const prev = seen.get(uttId);
    if (prev !== undefined) {
      throw new FormatError(`duplicate utterance id '${uttId}'`, {
        file,
        line: i + 1,
        expected: 'each id once',
        found: `first seen on line ${prev}`,
      });
    }
    seen.set(uttId, i + 1);
    const words = m[1] === '' ? [] : m[1].split(/\s+/);
    out.push({ uttId, words, line: i + 1 });
  }
  return out;
}

export function readTrn(path: string): TrnUtterance[] {
  return parseTrn(readInputText(path, 'an sclite trn file'), path);
}

/** Format utterances as trn text (input order kept, `\n` after each line). */
export function formatTrn(utts: readonly { uttId: string; words: readonly string[] }[]): string {
  let s = '';
  for (const u of utts) s += (u.words.length ? u.words.join(' ') + ' ' : '') + `(${u.uttId})\n`;
  return s;
}

export async function writeTrn(
  path: string,
  utts: readonly { uttId: string; words: readonly string[] }[],
): Promise<void> {
  await writeFileAtomic(path, formatTrn(utts));
}
