import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readTrn } from '../../src/score/trn.ts';
import { scoreTranscripts } from '../../src/score/wer.ts';
import { formatSummaryTable } from '../../src/score/report.ts';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'golden', 'score');
interface GoldenUtt {
  uttId: string;
  corr: number;
  sub: number;
  del: number;
  ins: number;
  ops: string;
}
const golden = JSON.parse(readFileSync(join(GOLDEN, 'sclite.json'), 'utf8')) as {
  totals: { corr: number; sub: number; del: number; ins: number; sentences: number; refWords: number };
  summaryTable: string;
  utterances: GoldenUtt[];
};

describe('sclite mode matches NIST sclite (golden from sctk, see test/golden/score/HOW-GENERATED.md)', () => {
  const refs = readTrn(join(GOLDEN, 'ref.trn'));
  const hyps = readTrn(join(GOLDEN, 'hyp.trn'));
  const result = scoreTranscripts(refs, hyps, { refFile: 'ref.trn', hypFile: 'hyp.trn' });

  it('gives the same C/S/D/I counts and the same alignment for every utterance', () => {
    expect(result.utterances.length).toBe(golden.utterances.length);
    const mismatches: string[] = [];
    result.utterances.forEach((u, i) => {
      const g = golden.utterances[i];
      const ops = u.pairs.map((p) => p.op).join('');
      if (
        u.uttId !== g.uttId ||
        u.corr !== g.corr ||
        u.sub !== g.sub ||
        u.del !== g.del ||
        u.ins !== g.ins ||
        ops !== g.ops
      ) {
        mismatches.push(
          `${g.uttId}: ours ${u.corr}/${u.sub}/${u.del}/${u.ins} ${ops}, sclite ${g.corr}/${g.sub}/${g.del}/${g.ins} ${g.ops}`,
        );
      }
    });
    expect(mismatches).toEqual([]);
  });

  it('gives the same totals', () => {
    const t = golden.totals;
    expect({
      corr: result.corr,
      sub: result.sub,
      del: result.del,
      ins: result.ins,
      sentences: result.sentences,
      refWords: result.refWords,
    }).toEqual(t);
    expect(result.wer).toBeCloseTo((100 * (t.sub + t.del + t.ins)) / t.refWords, 10);
  });

  it('prints the per-speaker summary table exactly as sclite does', () => {
    expect(formatSummaryTable(result, 'hyp.trn')).toBe(golden.summaryTable);
  });
});
