import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../../src/util/errors.ts';
import { ARPABET_PHONES, PhoneSet, parsePhonesTxt, stripStress, writePhonesTxt } from '../../src/lang/phones.ts';
import { SymbolTable, parseSymbolTable, writeSymbolTable } from '../../src/lang/symbols.ts';
import {
  Lexicon,
  UNK_WORD,
  cmudictFromRecord,
  lexiconForWords,
  loadCmudict,
  parseLexiconTxt,
} from '../../src/lang/lexicon.ts';

describe('phone set', () => {
  it('has the 39 stress-free ARPAbet phones plus SIL and SPN, with <eps> = 0', () => {
    const ps = PhoneSet.arpabet();
    expect(ARPABET_PHONES).toHaveLength(39);
    expect(ps.size).toBe(41);
    expect(ps.symbol(0)).toBe('<eps>');
    expect(ps.id('SIL')).toBe(1);
    expect(ps.isSilence('SPN')).toBe(true);
    expect(ps.isSilence('AA')).toBe(false);
    expect(stripStress('AH0')).toBe('AH');
    expect(stripStress('ER')).toBe('ER');
    expect(() => ps.id('AH0')).toThrow(/unknown phone 'AH0'/);
  });
  it('reads back what it writes as Kaldi phones.txt, and rejects bad lines with file and line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lang-'));
    const ps = PhoneSet.arpabet();
    await writePhonesTxt(join(dir, 'phones.txt'), ps);
    const text = readFileSync(join(dir, 'phones.txt'), 'utf8');
    expect(text.split('\n')[0]).toBe('<eps> 0');
    const back = parsePhonesTxt(text + '#0 42\n');
    expect(back.symbols).toEqual(ps.symbols);
    expect([...back.silencePhones]).toEqual(['SIL', 'SPN']);
    expect(() => parsePhonesTxt('<eps> 0\nAA one\n', 'x/phones.txt')).toThrow(
      'x/phones.txt:2: bad phones.txt line; expected <symbol> <integer id>, found "AA one"',
    );
    expect(() => parsePhonesTxt('<eps> 0\nAA 2\n')).toThrow(FormatError);
  });
});

describe('word symbol table', () => {
  it('is <eps>, sorted words, then #0 <s> </s>, and round-trips', async () => {
    const t = SymbolTable.forWords(['TWO', 'ONE', 'ONE', "O'CLOCK"]);
    expect(t.symbols).toEqual(['<eps>', "O'CLOCK", 'ONE', 'TWO', '#0', '<s>', '</s>']);
    const dir = mkdtempSync(join(tmpdir(), 'lang-'));
    await writeSymbolTable(join(dir, 'words.txt'), t);
    expect(parseSymbolTable(readFileSync(join(dir, 'words.txt'), 'utf8')).symbols).toEqual(t.symbols);
    expect(() => parseSymbolTable('<eps> 0\nA 1\nA 2\n', 'w.txt')).toThrow(/duplicate symbol 'A'/);
    expect(() => parseSymbolTable('<eps> 0\nA 3\n', 'w.txt')).toThrow(
      'w.txt:2: symbol ids must be contiguous from 0; expected 1, found 3',
    );
  });
});

describe('lexicon', () => {
  const ps = PhoneSet.arpabet();
  it('parses Kaldi lexicon.txt and lexiconp.txt, upper-casing words and removing stress', () => {
    const lex = parseLexiconTxt('hello HH AH0 L OW1\nHELLO HH EH0 L OW1\nworld 1.0 W ER1 L D\n', ps);
    expect(lex.get('HELLO')).toEqual([
      ['HH', 'AH', 'L', 'OW'],
      ['HH', 'EH', 'L', 'OW'],
    ]);
    expect(lex.get('WORLD')).toEqual([['W', 'ER', 'L', 'D']]);
    expect(lex.toLexiconTxt()).toBe('HELLO HH AH L OW\nHELLO HH EH L OW\nWORLD W ER L D\n');
  });
  it('rejects a line without pronunciation or with an unknown phone, naming file and line', () => {
    expect(() => parseLexiconTxt('A AH\nB\n', ps, 'corpus.lex')).toThrow(
      'corpus.lex:2: lexicon line has a word but no pronunciation',
    );
    expect(() => parseLexiconTxt('A AH\nB XX\n', ps, 'corpus.lex')).toThrow(
      /corpus\.lex:2: unknown phone 'XX' in pronunciation of 'B'/,
    );
  });
  it('converts CMUdict: alternates merged, stress removed, comments dropped, duplicates merged', () => {
    const lex = cmudictFromRecord({
      read: 'R IY1 D',
      'read(2)': 'R EH1 D',
      'read(3)': 'R IY0 D',
      aalborg: 'AO1 L B AO0 R G # place, danish',
    });
    expect(lex.get('READ')).toEqual([
      ['R', 'IY', 'D'],
      ['R', 'EH', 'D'],
    ]);
    expect(lex.get('AALBORG')).toEqual([['AO', 'L', 'B', 'AO', 'R', 'G']]);
    expect(lex.get(UNK_WORD)).toEqual([['SPN']]);
    expect(() => cmudictFromRecord({ x: 'QQ1' })).toThrow(FormatError);
  });
  it('loads the real CMUdict with every variant and only the 39 phones', async () => {
    const cmu = await loadCmudict();
    expect(cmu.size).toBeGreaterThan(120000);
    expect(cmu.get('TOMATO')!.length).toBeGreaterThanOrEqual(2);
    expect(cmu.get('ZERO')).toContainEqual(['Z', 'IH', 'R', 'OW']);
    const used = cmu.phonesUsed();
    expect([...used].filter((p) => p !== 'SPN').sort()).toEqual([...ARPABET_PHONES].sort());
  });
  it('takes the corpus lexicon first, then CMUdict, then G2P, and reports the rest as OOV', async () => {
    const corpus = new Lexicon();
    corpus.add('ZERO', ['Z', 'IY', 'R', 'OW']);
    corpus.add('GLORPH', ['G', 'L', 'AO', 'R', 'F']);
    const g2p = { guess: (w: string) => (w === 'FLUBBISH' ? [['F', 'L', 'AH', 'B', 'IH', 'SH']] : []) };
    const r = await lexiconForWords(['ZERO', 'GLORPH', 'ONE', 'FLUBBISH', 'QXQX'], { corpusLexicon: corpus, g2p });
    expect(r.lexicon.get('ZERO')).toEqual([['Z', 'IY', 'R', 'OW']]); // replaces CMUdict's variants
    expect(r.sourceOf.get('GLORPH')).toBe('corpus');
    expect(r.sourceOf.get('ONE')).toBe('cmudict');
    expect(r.sourceOf.get('FLUBBISH')).toBe('g2p');
    expect([...r.oovs]).toEqual(['QXQX']);
    const noG2p = await lexiconForWords(['FLUBBISH'], {});
    expect([...noG2p.oovs]).toEqual(['FLUBBISH']);
  });
});

describe('lang directory', () => {
  it('builds from corpus word tokens, counts OOV tokens, and writes phones/words/lexicon/oov atomically', async () => {
    const { buildLang, writeLang, readLang } = await import('../../src/lang/lang.ts');
    const dir = mkdtempSync(join(tmpdir(), 'lang-'));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'corpus.lex'), 'glorph G L AO1 R F\n');
    const lang = await buildLang(['ONE', 'TWO', 'ONE', 'GLORPH', 'QXQX', 'QXQX'], {
      corpusLexiconPath: join(dir, 'corpus.lex'),
    });
    expect([...lang.oovs]).toEqual([['QXQX', 2]]);
    expect(lang.sourceCounts).toEqual({ corpus: 1, cmudict: 2, g2p: 0 });
    expect(lang.words.has('<UNK>')).toBe(true);
    await writeLang(join(dir, 'lang'), lang);
    expect(readFileSync(join(dir, 'lang', 'oov.txt'), 'utf8')).toBe('QXQX 2\n');
    const back = readLang(join(dir, 'lang'));
    expect(back.lexicon.get('GLORPH')).toEqual([['G', 'L', 'AO', 'R', 'F']]);
    expect(back.phones.symbols).toEqual(lang.phones.symbols);
    await expect(buildLang([], { silProb: 0.3 } as never)).rejects.toThrow(/unknown lang option 'silProb'/);
    await expect(buildLang([], { optionalSilenceProb: 1 })).rejects.toThrow(/optionalSilenceProb must be in \[0, 1\)/);
  });
});
