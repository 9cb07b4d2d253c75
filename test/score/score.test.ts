import { describe, it, expect, vi, afterEach } from 'vitest';
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTrn, formatTrn, speakerOf, readTrn } from '../../src/score/trn.ts';
import { alignWords } from '../../src/score/align.ts';
import { scoreTranscripts, werSummaryJson } from '../../src/score/wer.ts';
import { formatUttAlignment, formatWerLine, formatPralign } from '../../src/score/report.ts';
import { frameAccuracy, argmaxRows } from '../../src/score/frame-accuracy.ts';
import { pairedBootstrapWer } from '../../src/score/significance.ts';
import { FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { main, EXIT_OK, EXIT_BAD_INPUT } from '../../src/cli/main.ts';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'score');
const trn = (s: string) => parseTrn(s, 'x.trn');

describe('trn files', () => {
  it('parse words and ids, allow empty utterances and comments, and round-trip', () => {
    const u = trn(';; comment\nhello world (spk1_a)\n(spk1_b)\n\n  a  b   (spk2-x_1)\n');
    expect(u.map((x) => [x.uttId, x.words, x.line])).toEqual([
      ['spk1_a', ['hello', 'world'], 2],
      ['spk1_b', [], 3],
      ['spk2-x_1', ['a', 'b'], 5],
    ]);
    expect(formatTrn(u)).toBe('hello world (spk1_a)\n(spk1_b)\na b (spk2-x_1)\n');
    expect(speakerOf('spk2-x_1')).toBe('spk2-x');
    expect(speakerOf('nounderscore')).toBe('nounderscore');
  });
  it('reject a line without an id and a duplicate id, naming file and line', () => {
    expect(() => trn('a b (u1)\nc d\n')).toThrow(/x\.trn:2: trn line without an utterance id/);
    expect(() => trn('a (u1)\nb (u1)\n')).toThrow(/x\.trn:2: duplicate utterance id 'u1'.*first seen on line 1/);
  });
});

describe('alignment', () => {
  it('sclite: prefers correct+deletion+insertion (cost 6) to two substitutions (cost 8)', () => {
    const a = alignWords(['a', 'b'], ['b', 'c']);
    expect(a.pairs.map((p) => p.op).join('')).toBe('DCI');
  });
  it('sclite: compares case-insensitively by default, case-sensitively on request', () => {
    expect(alignWords(['The', 'CAT'], ['the', 'cat']).corr).toBe(2);
    expect(alignWords(['The', 'CAT'], ['the', 'cat'], { caseSensitive: true }).sub).toBe(2);
  });
  it("kaldi: reproduces compute-wer's counts and tie rule (traced by hand through LevenshteinEditDistance)", () => {
    // ref "b a", hyp "c c b": sclite finds D + 2 I (cost 9 < 11); compute-wer's forward DP ends in 2 S + 1 I.
    expect(alignWords(['b', 'a'], ['c', 'c', 'b'], { mode: 'kaldi' })).toMatchObject({
      sub: 2,
      del: 0,
      ins: 1,
      corr: 0,
    });
    expect(alignWords(['b', 'a'], ['c', 'c', 'b'])).toMatchObject({ sub: 0, del: 1, ins: 2, corr: 1 });
    // ref "a b", hyp "b c": S S and D C I tie at 2; compute-wer ends with 1 D + 1 I.
    expect(alignWords(['a', 'b'], ['b', 'c'], { mode: 'kaldi' })).toMatchObject({ sub: 0, del: 1, ins: 1, corr: 1 });
    // case-sensitive like compute-wer
    expect(alignWords(['A'], ['a'], { mode: 'kaldi' }).sub).toBe(1);
  });
  it('both modes: counts add up and no alignment beats plain edit distance', () => {
    const rng = new Rng(3);
    for (let i = 0; i < 300; i++) {
      const ref = Array.from({ length: rng.int(7) }, () => 'abcd'[rng.int(4)]);
      const hyp = Array.from({ length: rng.int(7) }, () => 'abcd'[rng.int(4)]);
      // plain Levenshtein distance
      const d = Array.from({ length: ref.length + 1 }, (_, i) =>
        Array.from({ length: hyp.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
      );
      for (let x = 1; x <= ref.length; x++)
        for (let y = 1; y <= hyp.length; y++) {
          d[x][y] = Math.min(d[x - 1][y] + 1, d[x][y - 1] + 1, d[x - 1][y - 1] + (ref[x - 1] === hyp[y - 1] ? 0 : 1));
        }
      for (const mode of ['sclite', 'kaldi'] as const) {
        const a = alignWords(ref, hyp, { mode });
        expect(a.corr + a.sub + a.del).toBe(ref.length);
        expect(a.corr + a.sub + a.ins).toBe(hyp.length);
        expect(a.sub + a.del + a.ins).toBeGreaterThanOrEqual(d[ref.length][hyp.length]);
        if (mode === 'kaldi') expect(a.sub + a.del + a.ins).toBe(d[ref.length][hyp.length]);
      }
    }
  });
});

describe('corpus WER', () => {
  const refs = trn('a b c (s1_u1)\nx y (s1_u2)\n(s2_u1)\nd e (s2_u2)\n');
  it('is total errors over total reference words, with per-speaker tables', () => {
    const hyps = trn('a c (s1_u1)\nx y (s1_u2)\nz (s2_u1)\n(s2_u2)\n');
    const r = scoreTranscripts(refs, hyps);
    expect(werSummaryJson(r)).toMatchObject({
      errors: 4,
      refWords: 7,
      sub: 0,
      del: 3,
      ins: 1,
      sentences: 4,
      sentenceErrors: 3,
      emptyHyps: 1,
    });
    expect(r.wer).toBeCloseTo((100 * 4) / 7, 12);
    expect(r.speakers.map((s) => [s.speaker, s.errors, s.refWords])).toEqual([
      ['s1', 1, 5],
      ['s2', 3, 2],
    ]);
    expect(formatWerLine(r)).toBe('%WER 57.14 [ 4 / 7, 1 ins, 3 del, 0 sub ]\n%SER 75.00 [ 3 / 4 ]\n');
  });
  it('rejects ids missing on one side (or scores them empty on request) and reports reference OOVs', () => {
    const hyps = trn('a b c (s1_u1)\nx y (s1_u2)\nd e (s2_u2)\n');
    expect(() => scoreTranscripts(refs, hyps, { refFile: 'ref.trn', hypFile: 'hyp.trn' })).toThrow(
      /ref\.trn:3, utterance 's2_u1': reference utterance 's2_u1' has no hypothesis/,
    );
    expect(() => scoreTranscripts(trn('a (u1)\n'), trn('a (u1)\nb (u2)\n'), { hypFile: 'hyp.trn' })).toThrow(
      FormatError,
    );
    const r = scoreTranscripts(refs, hyps, { missingHyp: 'empty', vocabulary: new Set(['a', 'b', 'c', 'd', 'e']) });
    expect(r.missingHyps).toEqual(['s2_u1']);
    expect(r.errors).toBe(0);
    expect([r.refOovs, r.refOovWords]).toEqual([2, ['x', 'y']]);
  });
  it('prints utterance alignments exactly as sclite pralign does (golden edge cases)', () => {
    const golden = JSON.parse(readFileSync(join(GOLDEN, 'sclite.json'), 'utf8')) as {
      pralignBlocks: Record<string, string>;
    };
    const r = scoreTranscripts(readTrn(join(GOLDEN, 'ref.trn')), readTrn(join(GOLDEN, 'hyp.trn')));
    const ids = Object.keys(golden.pralignBlocks);
    expect(ids.length).toBe(14);
    for (const id of ids)
      expect(formatUttAlignment(r.utterances.find((u) => u.uttId === id)!)).toBe(golden.pralignBlocks[id]);
    expect(formatPralign(r, 'hyp.trn')).toContain('Speaker sentences   0:  spka   #utts: 59');
  });
});

describe('frame accuracy', () => {
  it('is frame-weighted over utterances, with per-utterance values', () => {
    const r = frameAccuracy([
      { uttId: 'u1', predicted: [1, 2, 3, 4], reference: [1, 2, 0, 0] },
      { uttId: 'u2', predicted: new Int32Array([5]), reference: new Int32Array([5]) },
      { uttId: 'u3', predicted: [], reference: [] },
    ]);
    expect(r).toMatchObject({ correct: 3, frames: 5, accuracy: 0.6 });
    expect(r.utterances.map((u) => u.accuracy)).toEqual([0.5, 1, 0]);
  });
  it('takes the first maximum of each row as the prediction', () => {
    expect([...argmaxRows(new Float32Array([0.1, 0.7, 0.2, 0.5, 0.5, 0, -1, -2, -3]), 3)]).toEqual([1, 0, 0]);
  });
  it('rejects mismatched lengths and malformed posteriors, naming the utterance', () => {
    expect(() => frameAccuracy([{ uttId: 'bad', predicted: [1, 2], reference: [1] }])).toThrow(
      /utterance 'bad'.*expected 1 frames/,
    );
    expect(() => argmaxRows([1, 2, 3], 2, 'u9')).toThrow(/utterance 'u9'/);
    expect(() => argmaxRows([1, NaN], 2, 'u9')).toThrow(/NaN/);
  });
});

describe('paired bootstrap of a WER difference', () => {
  const rng = new Rng(11);
  const refs = Array.from({ length: 200 }, (_, i) => ({
    uttId: `s_${i}`,
    words: Array.from({ length: 8 }, (_, k) => `w${k}`),
    line: i + 1,
  }));
  const noisy = (p: number) => refs.map((r) => ({ ...r, words: r.words.map((w) => (rng.next() < p ? 'x' : w)) }));
  const good = scoreTranscripts(refs, noisy(0.05));
  const bad = scoreTranscripts(refs, noisy(0.25));
  it('finds a clear improvement with a confidence interval below zero, reproducibly', () => {
    const b = pairedBootstrapWer(good, bad, { replicates: 500, seed: 1 });
    expect(b.deltaWer).toBeCloseTo(good.wer - bad.wer, 10);
    expect(b.ciHigh).toBeLessThan(0);
    expect(b.ciLow).toBeLessThan(b.deltaWer);
    expect(b.probABetter).toBe(1);
    expect(pairedBootstrapWer(good, bad, { replicates: 500, seed: 1 })).toEqual(b);
  });
  it('gives an interval around zero for a system compared with itself', () => {
    const b = pairedBootstrapWer(good, good, { replicates: 200 });
    expect([b.ciLow, b.ciHigh, b.probABetter]).toEqual([0, 0, 0]);
  });
  it('rejects systems scored on different references', () => {
    expect(() => pairedBootstrapWer(good, scoreTranscripts(refs.slice(1), noisy(0.1).slice(1)))).toThrow(FormatError);
  });
});

describe('am-distill score', () => {
  afterEach(() => vi.restoreAllMocks());
  function capture() {
    const out: string[] = [],
      err: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      out.push(String(s));
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      err.push(String(s));
      return true;
    });
    return { out, err };
  }
  it('prints the JSON summary with the fields the report reads', async () => {
    const io = capture();
    const code = await main([
      'node',
      'am-distill',
      'score',
      '--ref',
      join(GOLDEN, 'ref.trn'),
      '--hyp',
      join(GOLDEN, 'hyp.trn'),
      '--json',
    ]);
    expect(code).toBe(EXIT_OK);
    const j = JSON.parse(io.out.join(''));
    expect(j).toMatchObject({ errors: 612, refWords: 1050, sub: 112, del: 239, ins: 261, sentences: 234 });
    expect(Object.keys(j)).toEqual(
      expect.arrayContaining(['wer', 'errors', 'refWords', 'sub', 'del', 'ins', 'sentences', 'sentenceErrors']),
    );
  });
  it("writes sclite's error lists with --dtl, byte for byte as sclite -o dtl (golden)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'amd-score-'));
    capture();
    expect(
      await main([
        'node',
        'am-distill',
        'score',
        '--ref',
        join(GOLDEN, 'ref.trn'),
        '--hyp',
        join(GOLDEN, 'hyp.trn'),
        '--dtl',
        join(dir, 'hyp.dtl'),
      ]),
    ).toBe(EXIT_OK);
    const golden = JSON.parse(readFileSync(join(GOLDEN, 'sclite-dtl.json'), 'utf8')) as {
      cases: { name: string; dtl: string }[];
    };
    expect(readFileSync(join(dir, 'hyp.dtl'), 'utf8')).toBe(golden.cases.find((c) => c.name === 'golden-pairs')!.dtl);
  });
  it('prints %WER and the speaker table, and exits 2 for a trn line without id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'amd-score-'));
    writeFileSync(join(dir, 'r.trn'), 'a b (s_1)\n');
    writeFileSync(join(dir, 'h.trn'), 'a b\n');
    const io = capture();
    expect(await main(['node', 'am-distill', 'score', '--ref', join(dir, 'r.trn'), '--hyp', join(dir, 'r.trn')])).toBe(
      EXIT_OK,
    );
    expect(io.out.join('')).toMatch(/^%WER 0\.00 \[ 0 \/ 2, 0 ins, 0 del, 0 sub \]/);
    expect(io.out.join('')).toContain('SYSTEM SUMMARY PERCENTAGES by SPEAKER');
    expect(await main(['node', 'am-distill', 'score', '--ref', join(dir, 'r.trn'), '--hyp', join(dir, 'h.trn')])).toBe(
      EXIT_BAD_INPUT,
    );
    expect(io.err.join('')).toContain('h.trn:1: trn line without an utterance id');
  });
});
