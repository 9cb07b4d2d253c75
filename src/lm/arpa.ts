/**
 * ARPA back-off language model text format: write (from an estimated model) and read (with
 * validation). Reading checks the `\data\` header, section order, the number of fields on every
 * line, finite numbers, duplicate n-grams, that every section has exactly the count announced in
 * the header, and `\end\`; each failure is a FormatError naming the file and line.
 *
 * The reader is a line-driven state machine (ArpaLineParser) that hands each n-gram to a sink as
 * it is read, so a file is never held as one string: parseArpa feeds it the lines of a string,
 * readArpaStream / streamArpa the lines of a file (plain or gzip, by its `.gz` suffix) read
 * through a stream.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { FormatError } from '../util/errors.ts';
import { inputPathError, writeFileAtomic } from '../util/fs.ts';
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

/** Receives what an ArpaLineParser reads, in file order. */
export interface ArpaSink {
  /** The `\data\` header's n-gram counts (index 0 = unigrams), before any n-gram. */
  header(counts: readonly number[]): void;
  /** One n-gram line of the `\n-grams:` section (1-based line number). */
  ngram(n: number, words: string[], logProb: number, logBackoff: number | undefined, line: number): void;
}

function parseNumber(tok: string, file: string, line: number, what: string): number {
  const x = Number(tok);
  if (tok === '' || !Number.isFinite(x)) {
    throw new FormatError(`bad ${what}`, { file, line, expected: 'a finite log10 number', found: JSON.stringify(tok) });
  }
  return x;
}

const COUNT_LINE = /^ngram\s+(\d+)\s*=\s*(\d+)$/;

/**
 * ARPA reading one line at a time: `push` every line (without its line break), then `finish`.
 * Throws the first FormatError the lines contain, located at its line.
 */
export class ArpaLineParser {
  private phase: 'preamble' | 'counts' | 'head' | 'section' | 'end' | 'done' = 'preamble';
  private lineNo = 0;
  private readonly declared: number[] = [];
  /** Order of the section being read (or whose header is expected). */
  private n = 1;
  private sectionLine = 0;
  private sectionCount = 0;

  constructor(
    private readonly sink: ArpaSink,
    private readonly file = '<arpa>',
  ) {}

  /** Lines read so far. */
  get lineCount(): number {
    return this.lineNo;
  }

  /** The model's order once the `\data\` header has been read (0 before). */
  get order(): number {
    return this.phase === 'preamble' || this.phase === 'counts' ? 0 : this.declared.length;
  }

  push(raw: string): void {
    this.lineNo++;
    this.take(raw, raw.trim());
  }

  /** End of input: a file that stops early gets the error of its missing part. */
  finish(): void {
    const at = this.lineNo + 1;
    const file = this.file;
    switch (this.phase) {
      case 'preamble':
        throw new FormatError('no \\data\\ header', { file, line: 1, expected: '\\data\\', found: 'end of file' });
      case 'counts':
        this.endCounts(at, '');
        break;
      case 'section':
        this.endSection();
        break;
      default:
        break;
    }
    // After the counts or a section, the next section or \end\ is missing.
    if (this.phase === 'head')
      throw new FormatError('missing n-gram section', { file, line: at, expected: `\\${this.n}-grams:`, found: '""' });
    if (this.phase === 'end')
      throw new FormatError('missing \\end\\', { file, line: at, expected: '\\end\\', found: '"end of file"' });
  }

  private take(raw: string, t: string): void {
    const file = this.file,
      line = this.lineNo;
    switch (this.phase) {
      case 'preamble':
        // Anything before \data\ is free text.
        if (t === '\\data\\') this.phase = 'counts';
        return;
      case 'counts': {
        if (t === '') return;
        const m = COUNT_LINE.exec(t);
        if (!m) {
          this.endCounts(line, raw);
          this.take(raw, t);
          return;
        }
        if (Number(m[1]) !== this.declared.length + 1) {
          throw new FormatError('ngram counts out of order in \\data\\', {
            file,
            line,
            expected: `ngram ${this.declared.length + 1}=...`,
            found: t,
          });
        }
        this.declared.push(Number(m[2]));
        return;
      }
      case 'head':
        if (t === '') return;
        if (t !== `\\${this.n}-grams:`)
          throw new FormatError('missing n-gram section', {
            file,
            line,
            expected: `\\${this.n}-grams:`,
            found: JSON.stringify(t),
          });
        this.phase = 'section';
        this.sectionLine = line;
        this.sectionCount = 0;
        return;
      case 'section':
        if (t === '') return;
        if (t.startsWith('\\')) {
          this.endSection();
          this.take(raw, t);
          return;
        }
        this.ngramLine(t, line);
        return;
      case 'end':
        if (t === '') return;
        if (t !== '\\end\\')
          throw new FormatError('missing \\end\\', { file, line, expected: '\\end\\', found: JSON.stringify(t) });
        this.phase = 'done';
        return;
      case 'done':
        return;
    }
  }

  private endCounts(line: number, raw: string): void {
    if (this.declared.length === 0)
      throw new FormatError('\\data\\ header without ngram counts', {
        file: this.file,
        line,
        expected: "'ngram 1=N'",
        found: JSON.stringify(raw),
      });
    this.sink.header(this.declared);
    this.phase = 'head';
    this.n = 1;
  }

  private endSection(): void {
    const n = this.n;
    if (this.sectionCount !== this.declared[n - 1]) {
      throw new FormatError(`${n}-gram count differs from the \\data\\ header`, {
        file: this.file,
        line: this.sectionLine,
        expected: `${this.declared[n - 1]} ${n}-grams`,
        found: String(this.sectionCount),
      });
    }
    if (n < this.declared.length) {
      this.n = n + 1;
      this.phase = 'head';
    } else this.phase = 'end';
  }

  private ngramLine(t: string, line: number): void {
    const n = this.n,
      file = this.file;
    const f = t.split(/\s+/);
    if (f.length !== n + 1 && f.length !== n + 2) {
      throw new FormatError(`wrong number of fields in a ${n}-gram line`, {
        file,
        line,
        expected: `log10prob, ${n} word(s) and an optional back-off weight (${n + 1} or ${n + 2} fields)`,
        found: `${f.length} fields`,
      });
    }
    const logProb = parseNumber(f[0], file, line, 'probability');
    if (logProb > 0) throw new FormatError('log10 probability above 0', { file, line, expected: '<= 0', found: f[0] });
    const logBackoff = f.length === n + 2 ? parseNumber(f[n + 1], file, line, 'back-off weight') : undefined;
    this.sectionCount++;
    this.sink.ngram(n, f.slice(1, n + 1), logProb, logBackoff, line);
  }
}

/** A sink that keeps every n-gram as an NgramEntry (ArpaData), rejecting duplicates at their line. */
class ArpaDataSink implements ArpaSink {
  ngrams: NgramEntry[][] = [];
  private seen: Set<string>[] = [];
  constructor(private readonly file: string) {}
  header(counts: readonly number[]): void {
    this.ngrams = counts.map(() => []);
    this.seen = counts.map(() => new Set<string>());
  }
  ngram(n: number, words: string[], logProb: number, logBackoff: number | undefined, line: number): void {
    const key = words.join(' ');
    const seen = this.seen[n - 1];
    if (seen.has(key))
      throw new FormatError(`duplicate ${n}-gram '${key}'`, {
        file: this.file,
        line,
        expected: 'each n-gram once',
        found: 'a repeat',
      });
    seen.add(key);
    const e: NgramEntry = { words, logProb };
    if (logBackoff !== undefined) e.logBackoff = logBackoff;
    this.ngrams[n - 1].push(e);
  }
  data(): ArpaData {
    return { order: this.ngrams.length, ngrams: this.ngrams };
  }
}

/** Parse ARPA text. */
export function parseArpa(text: string, file = '<arpa>'): ArpaData {
  const sink = new ArpaDataSink(file);
  const parser = new ArpaLineParser(sink, file);
  for (const line of text.split(/\r?\n/)) parser.push(line);
  parser.finish();
  return sink.data();
}

/**
 * Read an ARPA file (`.gz`: gzip-compressed) line by line into `sink`; memory is what the sink
 * keeps. A missing file is a ConfigError, a damaged gzip stream a FormatError naming the file.
 */
export async function streamArpa(path: string, sink: ArpaSink): Promise<void> {
  const parser = new ArpaLineParser(sink, path);
  const file = createReadStream(path);
  let input: Readable = file;
  if (path.endsWith('.gz')) {
    const gunzip = createGunzip();
    file.on('error', (err) => gunzip.destroy(err));
    input = file.pipe(gunzip);
  }
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) parser.push(line);
  } catch (err) {
    if (err instanceof FormatError) throw err;
    const located = inputPathError(path, 'an ARPA language model', err);
    if (located) throw located;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_'))
      throw new FormatError('damaged gzip stream', {
        file: path,
        line: parser.lineCount + 1,
        expected: 'a gzip-compressed ARPA file',
        found: (err as Error).message,
        cause: err,
      });
    throw err;
  } finally {
    lines.close();
    input.destroy();
    file.destroy();
  }
  parser.finish();
}

/** An ARPA file (plain or `.gz`) as ArpaData, read line by line (what parseArpa gives for its text). */
export async function readArpaStream(path: string): Promise<ArpaData> {
  const sink = new ArpaDataSink(path);
  await streamArpa(path, sink);
  return sink.data();
}
