/**
 * Word symbol table in Kaldi words.txt style: `<symbol> <id>` per line, `<eps>` = 0,
 * then the words in code-point order, then `#0`, `<s>`, `</s>` (for the decoder and the LM).
 */
import { readFileSync } from 'node:fs';
import { FormatError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fs.ts';

export class SymbolTable {
  readonly symbols: readonly string[];
  private readonly idOf: Map<string, number>;

  constructor(symbols: readonly string[]) {
    const idOf = new Map<string, number>();
    symbols.forEach((s, i) => {
      if (!/^\S+$/.test(s))
        throw new FormatError('symbol must be a non-empty token', {
          expected: 'no whitespace',
          found: JSON.stringify(s),
        });
      if (idOf.has(s))
        throw new FormatError(`duplicate symbol '${s}'`, {
          expected: 'unique symbols',
          found: `'${s}' at ids ${idOf.get(s)} and ${i}`,
        });
      idOf.set(s, i);
    });
    this.symbols = symbols;
    this.idOf = idOf;
  }

  /** words.txt for a word list: `<eps>`, sorted unique words, `#0`, `<s>`, `</s>`. */
  static forWords(words: Iterable<string>): SymbolTable {
    const special = new Set(['<eps>', '#0', '<s>', '</s>']);
    const uniq = [...new Set(words)].filter((w) => !special.has(w)).sort(compareCodePoints);
    return new SymbolTable(['<eps>', ...uniq, '#0', '<s>', '</s>']);
  }

  get size(): number {
    return this.symbols.length;
  }

  has(s: string): boolean {
    return this.idOf.has(s);
  }

  /** Id of a symbol, or undefined. */
  find(s: string): number | undefined {
    return this.idOf.get(s);
  }

  id(s: string): number {
    const i = this.idOf.get(s);
    if (i === undefined)
      throw new FormatError(`unknown symbol '${s}'`, { expected: 'a symbol of the table', found: s });
    return i;
  }

  symbol(id: number): string {
    const s = this.symbols[id];
    if (s === undefined)
      throw new FormatError(`unknown symbol id ${id}`, {
        expected: `0..${this.symbols.length - 1}`,
        found: String(id),
      });
    return s;
  }

  toText(): string {
    return this.symbols.map((s, i) => `${s} ${i}\n`).join('');
  }
}

export function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Parse words.txt / phones.txt style text; ids must be 0..n-1 in order. */
export function parseSymbolTable(text: string, file = 'words.txt'): SymbolTable {
  const symbols: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const parts = line.split(/\s+/);
    if (parts.length !== 2 || !/^\d+$/.test(parts[1])) {
      throw new FormatError('bad symbol table line', {
        file,
        line: i + 1,
        expected: '<symbol> <integer id>',
        found: JSON.stringify(line),
      });
    }
    if (Number(parts[1]) !== symbols.length) {
      throw new FormatError('symbol ids must be contiguous from 0', {
        file,
        line: i + 1,
        expected: String(symbols.length),
        found: parts[1],
      });
    }
    symbols.push(parts[0]);
  }
  try {
    return new SymbolTable(symbols);
  } catch (e) {
    throw new FormatError((e as Error).message, { file, cause: e });
  }
}

export function readSymbolTable(path: string): SymbolTable {
  return parseSymbolTable(readFileSync(path, 'utf8'), path);
}

export async function writeSymbolTable(path: string, table: SymbolTable): Promise<void> {
  await writeFileAtomic(path, table.toText());
}
