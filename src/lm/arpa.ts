/**
 * ARPA back-off language model text format: write (from an estimated model) and read (with
 * validation). Reading checks the `\data\` header, section order, the number of fields on every
 * line, finite numbers, duplicate n-grams, that every section has exactly the count announced in
 * the header, and `\end\`; each failure is a FormatError naming the file and line.
 */
import { FormatError } from '../util/errors.ts';
import { readInputText, writeFileAtomic } from '../util/fs.ts';
import type { NgramEntry, NgramModel } from './kneser-ney.ts';

/** log10 value with 7 significant digits, shortest form ("-1.234567", "-99"). */
export function formatLog10(x: number): string {
  return String(Number(x.toPrecision(7)));
}

/** ARPA text of a model (deterministic: same model -> same bytes). */
export function formatArpa(model: Pick<NgramModel, 'order' | 'ngrams'>): string {
  const parts: string[] = ['', '\\data\\'];
  for (let n = 1; n <= model.order; n++) parts.push(`ngram ${n}=${model.ngrams[n - 1].length}`);
  for (let n = 1; n <= model.order; n++) {
    parts.push('', `\\${n}-grams:`);
    for (const e of model.ngrams[n - 1]) {
      let line = `${formatLog10(e.logProb)}\t${e.words.join(' ')}`;
      if (e.logBackoff !== undefined) line += `\t${formatLog10(e.logBackoff)}`;
      parts.push(line);
    }
  }
  parts.push('', '\\end\\', '');
  return parts.join('\n');
}

export async function writeArpa(path: string, model: Pick<NgramModel, 'order' | 'ngrams'>): Promise<void> {
  await writeFileAtomic(path, formatArpa(model));
}

export interface ArpaData {
  order: number;
  /** n-grams per order (index 0 = unigrams), in file order. */
  ngrams: NgramEntry[][];
}

function parseNumber(tok: string, file: string, line: number, what: string): number {
  const x = Number(tok);
  if (tok === '' || !Number.isFinite(x)) {
    throw new FormatError(`bad ${what}`, { file, line, expected: 'a finite log10 number', found: JSON.stringify(tok) });
  }
  return x;
}

/** Parse ARPA text. */
export function parseArpa(text: string, file = '<arpa>'): ArpaData {
  const lines = text.split(/\r?\n/);
  let i = 0;
  const next = () => lines[i++];
  // Skip anything before \data\ (ARPA allows free text there).
  while (i < lines.length && lines[i].trim() !== '\\data\\') i++;
  if (i >= lines.length) throw new FormatError('no \\data\\ header', { file, line: 1, expected: '\\data\\', found: 'end of file' });
  next();
  const declared: number[] = [];
  while (i < lines.length) {
    const t = lines[i].trim();
    if (t === '') { i++; continue; }
    const m = /^ngram\s+(\d+)\s*=\s*(\d+)$/.exec(t);
    if (!m) break;
    const n = Number(m[1]);
    if (n !== declared.length + 1) {
      throw new FormatError('ngram counts out of order in \\data\\', { file, line: i + 1, expected: `ngram ${declared.length + 1}=...`, found: t });
    }
    declared.push(Number(m[2]));
    i++;
  }
  if (declared.length === 0) throw new FormatError('\\data\\ header without ngram counts', { file, line: i + 1, expected: "'ngram 1=N'", found: JSON.stringify(lines[i] ?? '') });
  const order = declared.length;
  const ngrams: NgramEntry[][] = [];
  for (let n = 1; n <= order; n++) {
    while (i < lines.length && lines[i].trim() === '') i++;
    const head = (lines[i] ?? '').trim();
    if (head !== `\\${n}-grams:`) {
      throw new FormatError('missing n-gram section', { file, line: i + 1, expected: `\\${n}-grams:`, found: JSON.stringify(head) });
    }
    const sectionLine = i + 1;
    i++;
    const list: NgramEntry[] = [];
    const seen = new Set<string>();
    while (i < lines.length) {
      const raw = lines[i];
      const t = raw.trim();
      if (t === '') { i++; continue; }
      if (t.startsWith('\\')) break;
      const lineNo = i + 1;
      const f = t.split(/\s+/);
      if (f.length !== n + 1 && f.length !== n + 2) {
        throw new FormatError(`wrong number of fields in a ${n}-gram line`, { file, line: lineNo, expected: `log10prob, ${n} word(s) and an optional back-off weight (${n + 1} or ${n + 2} fields)`, found: `${f.length} fields` });
      }
      const logProb = parseNumber(f[0], file, lineNo, 'probability');
      if (logProb > 0) throw new FormatError('log10 probability above 0', { file, line: lineNo, expected: '<= 0', found: f[0] });
      const words = f.slice(1, n + 1);
      const key = words.join(' ');
      if (seen.has(key)) throw new FormatError(`duplicate ${n}-gram '${key}'`, { file, line: lineNo, expected: 'each n-gram once', found: 'a repeat' });
      seen.add(key);
      const e: NgramEntry = { words, logProb };
      if (f.length === n + 2) e.logBackoff = parseNumber(f[n + 1], file, lineNo, 'back-off weight');
      list.push(e);
      i++;
    }
    if (list.length !== declared[n - 1]) {
      throw new FormatError(`${n}-gram count differs from the \\data\\ header`, { file, line: sectionLine, expected: `${declared[n - 1]} ${n}-grams`, found: String(list.length) });
    }
    ngrams.push(list);
  }
  while (i < lines.length && lines[i].trim() === '') i++;
  const end = (lines[i] ?? '').trim();
  if (end !== '\\end\\') throw new FormatError('missing \\end\\', { file, line: i + 1, expected: '\\end\\', found: JSON.stringify(end || 'end of file') });
  return { order, ngrams };
}

export function readArpa(path: string): ArpaData {
  return parseArpa(readInputText(path, 'an ARPA language model'), path);
}
