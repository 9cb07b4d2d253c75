import { describe, it, expect } from 'vitest';
import { agreementGroup, LabelAgreementCounter, labelAgreement } from '../../src/distill/label-agreement.ts';
import type { UtteranceSoftTargets } from '../../src/distill/store.ts';
import { FormatError } from '../../src/util/errors.ts';

/** Top-2 targets per frame: rows of [id, p, id, p]. */
function utt(uttId: string, rows: [number, number, number, number][]): UtteranceSoftTargets {
  return {
    uttId,
    numFrames: rows.length,
    k: 2,
    ids: Int32Array.from(rows.flatMap((r) => [r[0], r[2]])),
    probs: Float32Array.from(rows.flatMap((r) => [r[1], r[3]])),
    residual: null,
  };
}

async function* each<T>(xs: T[]): AsyncGenerator<T> {
  for (const x of xs) yield x;
}

describe('label agreement of soft targets with the alignment, per group', () => {
  it("groups utterances into the originals and each warp's copies", () => {
    expect(agreementGroup('u1')).toBe('originals');
    expect(agreementGroup('vtlp0.9-u1')).toBe('vtlp0.9');
    expect(agreementGroup('vtlp1.1-spk-3')).toBe('vtlp1.1');
    expect(agreementGroup('vtlpx-u1')).toBe('originals');
  });

  it("counts top-1 agreement and the label's mass (0 outside the top k), originals first", () => {
    const c = new LabelAgreementCounter();
    c.add(utt('vtlp1.1-a', [[3, 0.6, 1, 0.4]]), [1]); // label second: no agreement, mass 0.4
    c.add(
      utt('a', [
        [1, 0.7, 2, 0.3],
        [2, 0.9, 1, 0.1],
      ]),
      [1, 2],
    ); // both agree
    c.add(
      utt('vtlp0.9-a', [
        [1, 0.5, 2, 0.5],
        [4, 0.8, 5, 0.2],
      ]),
      [2, 1],
    ); // tie: first listed wins; label 1 absent
    c.add(utt('b', [[0, 0.6, 1, 0.4]]), [5]);
    const r = c.result();
    expect(r.map((g) => g.group)).toEqual(['originals', 'vtlp0.9', 'vtlp1.1']);
    expect(r[0]).toMatchObject({ utterances: 2, frames: 3 });
    expect(r[0].top1Agreement).toBeCloseTo(2 / 3, 12);
    expect(r[0].meanLabelMass).toBeCloseTo((0.7 + 0.9 + 0) / 3, 6);
    expect(r[1]).toMatchObject({ utterances: 1, frames: 2, top1Agreement: 0 });
    expect(r[1].meanLabelMass).toBeCloseTo(0.25, 6);
    expect(r[2].top1Agreement).toBe(0);
    expect(r[2].meanLabelMass).toBeCloseTo(0.4, 6);
  });

  it('walks the two files in order, skipping aligned utterances without targets', async () => {
    const align = [
      { uttId: 'a', senone: Int32Array.from([1]) },
      { uttId: 'x', senone: Int32Array.from([0, 0]) },
      { uttId: 'vtlp0.9-a', senone: Int32Array.from([3]) },
    ];
    const r = (
      await labelAgreement(each([utt('a', [[1, 0.9, 0, 0.1]]), utt('vtlp0.9-a', [[1, 0.9, 3, 0.1]])]), each(align))
    ).result();
    expect(r).toEqual([
      { group: 'originals', utterances: 1, frames: 1, top1Agreement: 1, meanLabelMass: expect.closeTo(0.9, 6) },
      { group: 'vtlp0.9', utterances: 1, frames: 1, top1Agreement: 0, meanLabelMass: expect.closeTo(0.1, 6) },
    ]);
  });

  it('counts phone-level agreement and the phone preferred instead, per label phone', async () => {
    // Senones 0, 1: S; 2: TH; 3, 4: IH.
    const phones = ['S', 'S', 'TH', 'IH', 'IH'];
    const c = new LabelAgreementCounter(phones);
    c.add(
      utt('a', [
        [1, 0.6, 0, 0.4],
        [0, 0.6, 1, 0.4],
        [3, 0.9, 4, 0.1],
      ]),
      [0, 0, 4],
    ); // S via other S senone: phone agrees
    c.add(
      utt('vtlp1.1-a', [
        [2, 0.7, 0, 0.3],
        [2, 0.6, 1, 0.4],
        [3, 0.5, 2, 0.5],
        [4, 0.8, 3, 0.2],
      ]),
      [0, 1, 4, 3],
    );
    const g = c.result();
    expect(g[0].phoneAgreement).toBe(1);
    expect(g[0].top1Agreement).toBeCloseTo(1 / 3, 12);
    expect(g[1].phoneAgreement).toBeCloseTo(2 / 4, 12);
    expect(c.byPhone()).toEqual([
      {
        group: 'originals',
        phone: 'IH',
        frames: 1,
        top1Agreement: 0,
        phoneAgreement: 1,
        topOtherPhone: null,
        topOtherShare: 0,
      },
      {
        group: 'originals',
        phone: 'S',
        frames: 2,
        top1Agreement: 0.5,
        phoneAgreement: 1,
        topOtherPhone: null,
        topOtherShare: 0,
      },
      {
        group: 'vtlp1.1',
        phone: 'IH',
        frames: 2,
        top1Agreement: 0,
        phoneAgreement: 1,
        topOtherPhone: null,
        topOtherShare: 0,
      },
      {
        group: 'vtlp1.1',
        phone: 'S',
        frames: 2,
        top1Agreement: 0,
        phoneAgreement: 0,
        topOtherPhone: 'TH',
        topOtherShare: 1,
      },
    ]);
    expect(new LabelAgreementCounter().byPhone()).toEqual([]);
    expect(() => new LabelAgreementCounter(phones).add(utt('b', [[7, 1, 0, 0]]), [0], 'T / A')).toThrow(
      /T \/ A, utterance 'b': a senone outside the senone inventory; expected senones 0\.\.4, found senone 7 at frame 0/,
    );
  });

  it('names the utterance and the files when the two do not match', async () => {
    const align = [{ uttId: 'a', senone: Int32Array.from([1, 1]) }];
    const short = await labelAgreement(each([utt('a', [[1, 1, 0, 0]])]), each(align), 'T.arrow / A.arrow').catch(
      (e) => e,
    );
    expect(short).toBeInstanceOf(FormatError);
    expect(short.message).toBe(
      "T.arrow / A.arrow, utterance 'a': soft targets and alignment differ in frames; expected 2 frames (the alignment), found 1 frame",
    );
    expect(short.location).toMatchObject({ uttId: 'a', file: 'T.arrow / A.arrow' });
    const missing = await labelAgreement(each([utt('b', [[1, 1, 0, 0]])]), each(align)).catch((e) => e);
    expect(missing).toBeInstanceOf(FormatError);
    expect(missing.location.uttId).toBe('b');
    expect(missing.message).toMatch(/alignment does not have/);
  });
});
