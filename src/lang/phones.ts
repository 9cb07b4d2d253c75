/**
 * Phone inventory: the 39 stress-free ARPAbet phones of CMUdict plus the silence phones
 * `SIL` (silence) and `SPN` (spoken noise, the pronunciation of `<UNK>`), Kaldi style.
 * Phone ids follow Kaldi's phones.txt: id 0 is `<eps>`, real phones start at 1.
 */
import { readFileSync } from 'node:fs';
import { FormatError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fs.ts';

/** The 39 ARPAbet phones of CMUdict without stress marks, alphabetical. */
export const ARPABET_PHONES: readonly string[] = [
  'AA',
  'AE',
  'AH',
  'AO',
  'AW',
  'AY',
  'B',
  'CH',
  'D',
  'DH',
  'EH',
  'ER',
  'EY',
  'F',
  'G',
  'HH',
  'IH',
  'IY',
  'JH',
  'K',
  'L',
  'M',
  'N',
  'NG',
  'OW',
  'OY',
  'P',
  'R',
  'S',
  'SH',
  'T',
  'TH',
  'UH',
  'UW',
  'V',
  'W',
  'Y',
  'Z',
  'ZH',
];

/** Silence phone (utterance edges and optional inter-word silence). */
export const SIL = 'SIL';
/** Spoken-noise phone: the pronunciation of the unknown word `<UNK>`; uses the silence topology. */
export const SPN = 'SPN';
export const EPS = '<eps>';

/**
 * Word-position suffixes of position-dependent phones (Kaldi prepare_lang.sh
 * --position-dependent-phones): word-Begin, word-Internal, word-End, Singleton (one-phone word).
 */
export const WORD_POSITIONS = ['B', 'E', 'I', 'S'] as const;
const POSITION_SUFFIX = /_[BEIS]$/;

/** The phone without its word-position suffix: `AH_B` -> `AH`; `SIL` -> `SIL`. */
export function basePhone(symbol: string): string {
  return symbol.replace(POSITION_SUFFIX, '');
}

/** A word's pronunciation with word-position phones: `[K, AE, T]` -> `[K_B, AE_I, T_E]`, `[AH]` -> `[AH_S]`; silence phones stay as they are. */
export function markWordPositions(pron: readonly string[], silencePhones: ReadonlySet<string>): string[] {
  return pron.map((p, i) =>
    silencePhones.has(p) ? p : `${p}_${pron.length === 1 ? 'S' : i === 0 ? 'B' : i === pron.length - 1 ? 'E' : 'I'}`,
  );
}

/**
 * The shared root of every phone id: the smallest id with the same base phone (Kaldi's
 * roots.txt "shared split" over a phone's position variants). Without position suffixes every
 * phone is its own root. Index 0 (`<eps>`) maps to 0.
 */
export function phoneRoots(symbols: readonly string[]): Int32Array {
  const first = new Map<string, number>();
  return Int32Array.from(symbols, (s, i) => {
    if (i === 0) return 0;
    const b = basePhone(s);
    if (!first.has(b)) first.set(b, i);
    return first.get(b)!;
  });
}

/** Remove CMUdict stress digits: `AH0` -> `AH`. */
export function stripStress(phone: string): string {
  return phone.replace(/[012]$/, '');
}

/**
 * An ordered phone set with integer ids (0 = `<eps>`), and which phones are silence phones
 * (silence phones get the 5-state silence topology).
 */
export class PhoneSet {
  /** Symbol per id; index 0 is `<eps>`. */
  readonly symbols: readonly string[];
  readonly silencePhones: ReadonlySet<string>;
  private readonly idOf: Map<string, number>;

  constructor(phones: readonly string[], silencePhones: readonly string[] = [SIL, SPN]) {
    const symbols = [EPS, ...phones.filter((p) => p !== EPS)];
    const idOf = new Map<string, number>();
    symbols.forEach((p, i) => {
      if (!/^\S+$/.test(p))
        throw new FormatError('phone symbol must be non-empty without whitespace', {
          expected: 'a token',
          found: JSON.stringify(p),
        });
      if (idOf.has(p))
        throw new FormatError(`duplicate phone '${p}'`, { expected: 'unique phone symbols', found: `'${p}' twice` });
      idOf.set(p, i);
    });
    for (const s of silencePhones) {
      if (!idOf.has(s))
        throw new FormatError(`silence phone '${s}' is not in the phone set`, {
          expected: 'a phone of the set',
          found: s,
        });
    }
    this.symbols = symbols;
    this.idOf = idOf;
    this.silencePhones = new Set(silencePhones);
  }

  /**
   * The default set: SIL, SPN, then the 39 ARPAbet phones (ids 1..41); with `wordPositions`, each
   * ARPAbet phone in its four position variants instead (AA_B AA_E AA_I AA_S ..., ids 3..158,
   * Kaldi's order); the silence phones have no positions.
   */
  static arpabet(opts: { wordPositions?: boolean } = {}): PhoneSet {
    const phones = opts.wordPositions
      ? ARPABET_PHONES.flatMap((p) => WORD_POSITIONS.map((w) => `${p}_${w}`))
      : ARPABET_PHONES;
    return new PhoneSet([SIL, SPN, ...phones], [SIL, SPN]);
  }

  /** Whether the set has word-position phones (any symbol with a _B/_E/_I/_S suffix). */
  get wordPositions(): boolean {
    return this.symbols.some((s) => POSITION_SUFFIX.test(s));
  }

  /** Number of real phones (without `<eps>`). */
  get size(): number {
    return this.symbols.length - 1;
  }

  /** Real phones (without `<eps>`), in id order. */
  get phones(): string[] {
    return this.symbols.slice(1);
  }

  has(phone: string): boolean {
    return this.idOf.has(phone) && phone !== EPS;
  }

  id(phone: string): number {
    const i = this.idOf.get(phone);
    if (i === undefined || i === 0)
      throw new FormatError(`unknown phone '${phone}'`, { expected: `one of ${this.phones.join(' ')}`, found: phone });
    return i;
  }

  symbol(id: number): string {
    const s = this.symbols[id];
    if (s === undefined)
      throw new FormatError(`unknown phone id ${id}`, { expected: `0..${this.symbols.length - 1}`, found: String(id) });
    return s;
  }

  isSilence(phone: string | number): boolean {
    return this.silencePhones.has(typeof phone === 'number' ? this.symbol(phone) : phone);
  }

  /** Kaldi phones.txt text: `<symbol> <id>` per line. */
  toPhonesTxt(): string {
    return this.symbols.map((s, i) => `${s} ${i}\n`).join('');
  }

  toJSON(): { phones: string[]; silencePhones: string[] } {
    return { phones: this.phones, silencePhones: [...this.silencePhones] };
  }

  static fromJSON(j: { phones: string[]; silencePhones: string[] }): PhoneSet {
    return new PhoneSet(j.phones, j.silencePhones);
  }
}

/**
 * Parse Kaldi phones.txt (`<symbol> <id>` lines, ids 0..n-1 contiguous, `<eps>` 0).
 * Disambiguation symbols (`#0`, `#1`, ...) are ignored. Silence phones default to SIL/SPN if present.
 */
export function parsePhonesTxt(text: string, file = 'phones.txt', silencePhones?: string[]): PhoneSet {
  const phones: string[] = [];
  const lines = text.split('\n');
  let expectId = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const parts = line.split(/\s+/);
    if (parts.length !== 2 || !/^\d+$/.test(parts[1])) {
      throw new FormatError('bad phones.txt line', {
        file,
        line: i + 1,
        expected: '<symbol> <integer id>',
        found: JSON.stringify(line),
      });
    }
    const id = Number(parts[1]);
    if (parts[0].startsWith('#')) continue;
    if (id !== expectId)
      throw new FormatError('phone ids must be contiguous from 0', {
        file,
        line: i + 1,
        expected: String(expectId),
        found: String(id),
      });
    if (id === 0 && parts[0] !== EPS)
      throw new FormatError('id 0 must be <eps>', { file, line: i + 1, expected: EPS, found: parts[0] });
    if (id > 0) phones.push(parts[0]);
    expectId++;
  }
  const sil = silencePhones ?? [SIL, SPN].filter((p) => phones.includes(p));
  return new PhoneSet(phones, sil);
}

export function readPhonesTxt(path: string, silencePhones?: string[]): PhoneSet {
  return parsePhonesTxt(readFileSync(path, 'utf8'), path, silencePhones);
}

export async function writePhonesTxt(path: string, phones: PhoneSet): Promise<void> {
  await writeFileAtomic(path, phones.toPhonesTxt());
}
