import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTrn, readTrn } from '../../src/score/trn.ts';
import { scoreTranscripts } from '../../src/score/wer.ts';
import { errorLists, formatErrorLists, sumErrorLists, topErrors } from '../../src/score/errors.ts';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'score');
interface DtlCase {
  name: string;
  refFile?: string;
  hypFile?: string;
  ref?: string;
  hyp?: string;
  dtl: string;
}
const golden = JSON.parse(readFileSync(join(GOLDEN, 'sclite-dtl.json'), 'utf8')) as { cases: DtlCase[] };

function scored(c: DtlCase) {
  const refs = c.refFile ? readTrn(join(GOLDEN, c.refFile)) : parseTrn(c.ref!, 'ref');
  const hyps = c.hypFile ? readTrn(join(GOLDEN, c.hypFile)) : parseTrn(c.hyp!, 'hyp');
  return scoreTranscripts(refs, hyps);
}

describe("error lists match NIST sclite's -o dtl report (golden from sctk, see test/golden/score/HOW-GENERATED.md)", () => {
  it.each(golden.cases.map((c) => [c.name, c] as const))(
    '%s: the same text, from CONFUSION PAIRS to the end',
    (_n, c) => {
      expect(formatErrorLists(errorLists(scored(c).utterances))).toBe(c.dtl);
    },
  );

  it('counts add up to the WER counts (234 golden pairs)', () => {
    const r = scored(golden.cases.find((c) => c.name === 'golden-pairs')!);
    const e = errorLists(r.utterances);
    const sum = (l: { count: number }[]) => l.reduce((a, x) => a + x.count, 0);
    expect(sum(e.confusionPairs)).toBe(r.sub);
    expect(sum(e.substitutions)).toBe(r.sub);
    expect(sum(e.falselyRecognized)).toBe(r.sub);
    expect(sum(e.insertions)).toBe(r.ins);
    expect(sum(e.deletions)).toBe(r.del);
    expect(e.confusionPairs[0]).toEqual({ ref: 'w1', hyp: 'w0', count: 16 });
  });
});

describe('error lists', () => {
  const utt = (ops: [string, string | null, string | null][]) => ({
    pairs: ops.map(([op, ref, hyp]) => ({ op: op as 'C' | 'S' | 'D' | 'I', ref, hyp })),
  });
  const utts = [
    utt([
      ['S', 'SIX', 'THREE'],
      ['C', 'one', 'one'],
      ['I', null, 'two'],
    ]),
    utt([
      ['S', 'six', 'three'],
      ['D', 'Eight', null],
      ['S', 'eight', 'six'],
    ]),
  ];

  it('fold case by default (sclite) and keep it when case-sensitive (kaldi)', () => {
    expect(errorLists(utts).confusionPairs).toEqual([
      { ref: 'six', hyp: 'three', count: 2 },
      { ref: 'eight', hyp: 'six', count: 1 },
    ]);
    const cs = errorLists(utts, true);
    expect(cs.confusionPairs).toEqual([
      { ref: 'SIX', hyp: 'THREE', count: 1 },
      { ref: 'eight', hyp: 'six', count: 1 },
      { ref: 'six', hyp: 'three', count: 1 },
    ]);
    expect(cs.deletions).toEqual([{ word: 'Eight', count: 1 }]);
  });

  it('add up over several scorings and sort again (the golden pairs scored twice: every count doubles)', () => {
    const r = scored(golden.cases.find((c) => c.name === 'golden-pairs')!);
    const one = errorLists(r.utterances);
    const two = sumErrorLists([one, one]);
    expect(two.confusionPairs).toEqual(one.confusionPairs.map((x) => ({ ...x, count: 2 * x.count })));
    expect(two.deletions).toEqual(one.deletions.map((x) => ({ ...x, count: 2 * x.count })));
    const a = errorLists([utt([['S', 'six', 'three']])]),
      b = errorLists([
        utt([
          ['S', 'two', 'oh'],
          ['S', 'two', 'oh'],
        ]),
      ]);
    expect(sumErrorLists([a, b]).confusionPairs).toEqual([
      { ref: 'two', hyp: 'oh', count: 2 },
      { ref: 'six', hyp: 'three', count: 1 },
    ]);
    expect(sumErrorLists([]).insertions).toEqual([]);
  });

  it('sort by count, then by text, and cut to the top n', () => {
    const e = errorLists(utts);
    expect(e.substitutions).toEqual([
      { word: 'six', count: 2 },
      { word: 'eight', count: 1 },
    ]);
    expect(e.falselyRecognized).toEqual([
      { word: 'three', count: 2 },
      { word: 'six', count: 1 },
    ]);
    expect(e.insertions).toEqual([{ word: 'two', count: 1 }]);
    const t = topErrors(e, 1);
    expect(t.confusionPairs).toHaveLength(1);
    expect(t.substitutions).toEqual([{ word: 'six', count: 2 }]);
  });
});
