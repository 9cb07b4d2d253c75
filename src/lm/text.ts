/**
 * Sentences for LM training and evaluation: one sentence per line, words separated by white
 * space. A leading `<s>` and a trailing `</s>` are removed (Sphinx transcription lines,
 * `<s> words </s> (uttId)`, are accepted: the `(uttId)` after `</s>` is dropped too).
 * Empty lines are skipped. `<s>`/`</s>` anywhere else is an error naming the line.
 */
import { FormatError } from '../util/errors.ts';

export const BOS = '<s>';
export const EOS = '</s>';
export const UNK = '<unk>';

export interface Sentence {
  words: string[];
  /** 1-based line number in the source text. */
  line: number;
}

export function parseSentences(text: string, file = '<text>'): Sentence[] {
  const out: Sentence[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i].trim();
    if (t === '') continue;
    let words = t.split(/\s+/);
    const last = words.length - 1;
    if (words.length >= 2 && words[last - 1] === EOS && /^\(.*\)$/.test(words[last])) words = words.slice(0, last);
    if (words[0] === BOS) words = words.slice(1);
    if (words.length && words[words.length - 1] === EOS) words = words.slice(0, -1);
    for (const w of words) {
      if (w === BOS || w === EOS) {
        throw new FormatError(`sentence marker '${w}' inside a sentence`, {
          file,
          line: i + 1,
          expected: '<s> only first and </s> only last on a line',
          found: JSON.stringify(t.slice(0, 80)),
        });
      }
    }
    if (words.length) out.push({ words, line: i + 1 });
  }
  return out;
}
