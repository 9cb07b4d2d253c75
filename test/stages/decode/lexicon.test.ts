/**
 * Decoding with another lexicon (issue 34 item 2): a lexicon file read against the acoustic model's
 * phone set (unknown phones counted, word positions marked), and a generated 20k-word lexicon built
 * into the decoder by the decode stage's path.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLexiconForPhones, writeLexiconTxt } from '../../../src/lang/lexicon.ts';
import { PhoneSet } from '../../../src/lang/phones.ts';
import { syntheticLexicon } from '../../../src/lang/synthetic-lexicon.ts';
import { buildSearch, resolveSearchOptions } from '../../../src/decode/search-space.ts';
import { FormatError } from '../../../src/util/errors.ts';
import { quiet, uniformUnigramArpa, writeMonophoneAlign } from './fixtures.ts';

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'amd-declex-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('parseLexiconForPhones', () => {
  const positional = PhoneSet.arpabet({ wordPositions: true });

  it('marks word positions when the phone set has them and the file not; silence phones stay', () => {
    const r = parseLexiconForPhones('cat K AE1 T\na AH0\n<sil> SIL\nzed Z EH D Q\n', positional, 'lex.txt');
    expect(r.positionsMarked).toBe(true);
    expect(r.lexicon.get('CAT')).toEqual([['K_B', 'AE_I', 'T_E']]);
    expect(r.lexicon.get('A')).toEqual([['AH_S']]);
    expect(r.lexicon.get('<SIL>')).toEqual([['SIL']]);
    expect(r).toMatchObject({
      wordsRead: 4,
      pronunciationsRead: 4,
      droppedPronunciations: 1,
      unknownPhones: { Q_E: 1 },
      unusableWords: ['ZED'],
      firstDroppedLine: 4,
    });
  });

  it('keeps a file that already has position phones; position phones against a plain set are unknown phones', () => {
    const text = 'cat K_B AE_I T_E\ncat K_B AE_I D_E\nkat K AE T\n';
    const r = parseLexiconForPhones(text, positional);
    expect(r.positionsMarked).toBe(false);
    expect(r.lexicon.get('CAT')).toEqual([
      ['K_B', 'AE_I', 'T_E'],
      ['K_B', 'AE_I', 'D_E'],
    ]);
    expect(r).toMatchObject({
      droppedPronunciations: 1,
      unknownPhones: { K: 1, AE: 1, T: 1 },
      unusableWords: ['KAT'],
      firstDroppedLine: 3,
    });
    const plain = parseLexiconForPhones(text, PhoneSet.arpabet());
    expect(plain).toMatchObject({
      positionsMarked: false,
      droppedPronunciations: 2,
      unknownPhones: { K_B: 2, AE_I: 2, T_E: 1, D_E: 1 },
      unusableWords: ['CAT'],
    });
    expect(plain.lexicon.get('KAT')).toEqual([['K', 'AE', 'T']]);
  });
});

describe('buildSearch with a lexicon file', () => {
  const search = resolveSearchOptions({});

  it('marks positions for a position-dependent model: the tree holds the position phones', async () => {
    const phones = PhoneSet.arpabet({ wordPositions: true });
    const { langDir, model } = await writeMonophoneAlign(join(root, 'pos'), phones);
    const lex = join(root, 'pos.txt'),
      lm = join(root, 'pos.arpa');
    writeFileSync(lex, 'CAT K AE1 T\nA AH0\nA EY1\nZED Z EH D Q\n');
    writeFileSync(lm, uniformUnigramArpa(['A', 'CAT', 'ZED']));
    const s = await buildSearch(langDir, model, lm, search, quiet, false, { lexicon: lex });
    expect(s.searchWords).toEqual(['A', 'CAT']);
    expect(s.numProns).toBe(3);
    expect(s.lexiconReport).toMatchObject({
      positionsMarked: true,
      unusableWords: 1,
      unusableExamples: ['ZED'],
      unknownPhones: { Q_E: 1 },
    });
    const used = new Set(Array.from(s.decoder.graph.copyPhone, (p) => phones.symbol(p)));
    expect([...used].sort()).toEqual(['AE_I', 'AH_S', 'EY_S', 'K_B', 'SIL', 'T_E']);
    // Nothing usable: a FormatError naming the file and the first line left out.
    writeFileSync(lex, 'ZED Z EH D Q\nQ Q\n');
    const err = await buildSearch(langDir, model, lm, search, quiet, false, { lexicon: lex }).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.location).toMatchObject({ file: lex, line: 1 });
    expect(err.message).toMatch(/no word of the lexicon can be used.*Q_E \(1\), Q_S \(1\)/);
  });

  it('builds the decoder over a generated 20k-word lexicon (CMUdict + generated words, variants)', async () => {
    const lex = await syntheticLexicon({ words: 20000, cmudictWords: 10000, seed: 7 });
    const prons = lex.words().reduce((n, w) => n + lex.get(w)!.length, 0);
    expect(lex.size).toBe(20000);
    expect(prons).toBeGreaterThanOrEqual(22000);
    const file = join(root, 'lex20k.txt'),
      lm = join(root, 'lex20k.arpa');
    await writeLexiconTxt(file, lex);
    writeFileSync(lm, uniformUnigramArpa(lex.words()));
    const { langDir, model } = await writeMonophoneAlign(join(root, 'mono'), PhoneSet.arpabet());
    const s = await buildSearch(langDir, model, lm, search, quiet, false, { lexicon: file });
    expect(s.lexiconReport).toMatchObject({
      wordsRead: 20000,
      pronunciationsRead: prons,
      unusableWords: 0,
      unknownPhonePronunciations: 0,
      positionsMarked: false,
    });
    expect(s.searchWords).toHaveLength(20000);
    expect(s.numProns).toBe(prons);
    expect(s.untrainedPhones).toEqual([]);
    const g = s.decoder.graph;
    // Every pronunciation ends at a tree node; a monophone model has one copy per tree node (+ silence).
    expect(g.trieWordStart[g.numTrieNodes]).toBe(prons);
    expect(g.numCopies).toBe(g.numTrieNodes + 1);
  });
});
