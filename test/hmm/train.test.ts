import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel, senoneInventory } from '../../src/hmm/model.ts';
import { alignUtterance } from '../../src/hmm/align.ts';
import { SkipCounter } from '../../src/util/errors.ts';
import { trainMonophone, trainTriphone, alignAll, phoneSegments } from '../../src/hmm/train.ts';
import type { AcousticModel, Alignment } from '../../src/hmm/align.ts';
import type { TrainingUtterance } from '../../src/hmm/train.ts';
import { quietLogger, synthCorpus, toyLexicon, toyPhones, type SynthCorpus, type SynthSegment } from './helpers.ts';

const phones = toyPhones();
const lang = { phones, lexicon: toyLexicon() };

/** Fraction of non-silence phone boundaries (starts and ends) within `tol` frames of the truth. */
function boundaryAccuracy(ali: Alignment, truth: SynthSegment[], tol: number): { hit: number; total: number } {
  const hypSegs: { phone: number; start: number; end: number }[] = [];
  for (let t = 0; t < ali.numFrames; t++) {
    const last = hypSegs[hypSegs.length - 1];
    const newPhone = t === 0 || ali.phone[t] !== ali.phone[t - 1] || ali.hmmState[t] < ali.hmmState[t - 1];
    if (newPhone) hypSegs.push({ phone: ali.phone[t], start: t, end: t + 1 });
    else last.end = t + 1;
  }
  const hyp = hypSegs.filter((s) => !phones.isSilence(s.phone));
  const ref = truth.filter((s) => s.phone !== 'SIL');
  let hit = 0;
  const total = 2 * ref.length;
  if (hyp.length !== ref.length) return { hit: 0, total };
  ref.forEach((r, i) => {
    if (Math.abs(r.start - hyp[i].start) <= tol) hit++;
    if (Math.abs(r.end - hyp[i].end) <= tol) hit++;
  });
  return { hit, total };
}

async function accuracy(source: () => TrainingUtterance[], corpus: SynthCorpus, model: AcousticModel): Promise<number> {
  const skips = new SkipCounter();
  let hit = 0,
    total = 0;
  for await (const ali of alignAll(source, lang, model, skips)) {
    const r = boundaryAccuracy(ali, corpus.utts.find((x) => x.uttId === ali.uttId)!.segments, 2);
    hit += r.hit;
    total += r.total;
  }
  expect(skips.skipped).toBe(0);
  return hit / total;
}

describe('flat-start monophone training', () => {
  const corpus = synthCorpus({ numUtts: 60, seed: 7 });
  const source = () => corpus.utts;
  const trained = trainMonophone(source, lang, {
    numIters: 12,
    realignIters: [1, 2, 3, 4, 5, 6, 8, 10],
    maxIterInc: 8,
    totalGaussians: 60,
    seed: 1,
    logger: quietLogger,
  });

  it('recovers phone boundaries of synthetic phone-like data to within 2 frames', async () => {
    const { model } = await trained;
    const skips = new SkipCounter();
    let hit = 0,
      total = 0;
    for await (const ali of alignAll(source, lang, model, skips)) {
      const u = corpus.utts.find((x) => x.uttId === ali.uttId)!;
      const r = boundaryAccuracy(ali, u.segments, 2);
      hit += r.hit;
      total += r.total;
    }
    expect(skips.skipped).toBe(0);
    expect(skips.done).toBe(60);
    expect(hit / total).toBeGreaterThan(0.95);
  });

  it('raises the training log-likelihood over the iterations and mixes up Gaussians', async () => {
    const { history, model } = await trained;
    expect(history[history.length - 1].logLikePerFrame).toBeGreaterThan(history[0].logLikePerFrame + 1);
    expect(model.am.numGaussians).toBeGreaterThan(model.ctx.numPdfs);
    expect(model.am.numGaussians).toBeLessThanOrEqual(60);
  });

  it('an untrained (flat) model does not recover the boundaries, so the check above can fail', async () => {
    const { model } = await trained;
    const flat = trainMonophone(source, lang, { numIters: 1, logger: quietLogger });
    const m0 = (await flat).model;
    const skips = new SkipCounter();
    let hit = 0,
      total = 0;
    for await (const ali of alignAll(source, lang, m0, skips)) {
      const r = boundaryAccuracy(ali, corpus.utts.find((x) => x.uttId === ali.uttId)!.segments, 2);
      hit += r.hit;
      total += r.total;
    }
    expect(hit / Math.max(1, total)).toBeLessThan(0.9);
    void model;
  });

  it('counts utterances with OOV words, empty transcripts and too few frames as skips', async () => {
    const extra = [
      { uttId: 'oov', frames: corpus.utts[0].frames, words: ['BAA', 'NOTAWORD'] },
      { uttId: 'empty', frames: corpus.utts[0].frames, words: [] },
      { uttId: 'short', frames: corpus.utts[0].frames.slice(0, 5), words: ['BIKS', 'SIT'] },
    ];
    const r = await trainMonophone(() => [...corpus.utts.slice(0, 20), ...extra], lang, {
      numIters: 3,
      realignIters: [1],
      logger: quietLogger,
    });
    const reasons = Object.fromEntries(r.skips.reasons().map((x) => [x.reason, x.examples]));
    expect(reasons).toEqual({ oov: ['oov'], 'empty-transcript': ['empty'], 'too-few-frames': ['short'] });
    expect(r.skips.done).toBe(20);
    expect(r.skips.summary()).toContain('Done 20 utterances, skipped 3');
  });

  it('gives the same model for the same seed', async () => {
    const a = await trainMonophone(() => corpus.utts.slice(0, 15), lang, {
      numIters: 4,
      realignIters: [1, 2],
      totalGaussians: 40,
      maxIterInc: 3,
      seed: 3,
      logger: quietLogger,
    });
    const b = await trainMonophone(() => corpus.utts.slice(0, 15), lang, {
      numIters: 4,
      realignIters: [1, 2],
      totalGaussians: 40,
      maxIterInc: 3,
      seed: 3,
      logger: quietLogger,
    });
    expect(JSON.stringify(a.model.am.toJSON())).toBe(JSON.stringify(b.model.am.toJSON()));
  });
});

describe('triphone training', () => {
  it('splits AA on its left context when the data depend on it, and aligns as well as the monophones', async () => {
    const corpus = synthCorpus({ numUtts: 80, seed: 9, contextShift: 2 });
    const source = () => corpus.utts;
    const mono = await trainMonophone(source, lang, {
      numIters: 10,
      realignIters: [1, 2, 3, 4, 5, 6, 8],
      maxIterInc: 6,
      totalGaussians: 50,
      logger: quietLogger,
    });
    const tri = await trainTriphone(source, lang, mono, {
      numIters: 6,
      realignIters: [2, 4],
      maxIterInc: 4,
      totalGaussians: 120,
      tree: { maxLeaves: 60, minLeafOccupancy: 20 },
      logger: quietLogger,
    });
    const AA = phones.id('AA'),
      B = phones.id('B'),
      K = phones.id('K'),
      S = phones.id('S'),
      T = phones.id('T');
    // In the data AA follows B (BAA, shifted) or T (TAB): AA after B is another senone than AA after T,
    // in every state (both contexts are seen with B on the right).
    for (let pc = 0; pc < 3; pc++) {
      expect(tri.tree.pdf(B, AA, B, pc)).not.toBe(tri.tree.pdf(T, AA, B, pc));
      // An unseen context (K never precedes AA) still gets a senone through the question answers.
      expect(tri.tree.leafInfo[tri.tree.pdf(K, AA, S, pc)]).toEqual({ phone: AA, pdfClass: pc });
    }
    expect(tri.tree.numPdfs).toBeGreaterThan(mono.model.ctx.numPdfs);
    expect(tri.tree.numPdfs).toBeLessThanOrEqual(60);
    // Triphones align about as well as the monophones they started from, and training raises the likelihood.
    const monoAcc = await accuracy(source, corpus, mono.model);
    const triAcc = await accuracy(source, corpus, tri.model);
    expect(triAcc).toBeGreaterThanOrEqual(monoAcc - 0.02);
    expect(triAcc).toBeGreaterThan(0.85);
    expect(tri.history[tri.history.length - 1].logLikePerFrame).toBeGreaterThan(tri.history[0].logLikePerFrame);
    // The saved model (tree inside) aligns identically after loading; the inventory maps senones to phones.
    const dir = mkdtempSync(join(tmpdir(), 'hmm-'));
    await saveModel(join(dir, 'model.json'), tri.model);
    const loaded = loadModel(join(dir, 'model.json'));
    const u0 = corpus.utts[0];
    const a1 = alignUtterance(u0.uttId, u0.frames, u0.words, lang, tri.model);
    const a2 = alignUtterance(u0.uttId, u0.frames, u0.words, lang, loaded);
    expect(a1.ok && a2.ok && Array.from(a2.pdf)).toEqual(a1.ok && Array.from(a1.pdf));
    const inv = senoneInventory(loaded);
    expect(inv).toHaveLength(tri.tree.numPdfs);
    expect(
      inv
        .filter((x) => x.phone === 'AA')
        .map((x) => x.hmmState)
        .sort(),
    ).toContain(2);
    writeFileSync(join(dir, 'bad.json'), '{"format":"x"}');
    expect(() => loadModel(join(dir, 'bad.json'))).toThrow(/not a GMM-HMM model/);
    // Phone segments recovered from transition ids agree with the per-frame phone labels.
    const one = tri.alignments.get(corpus.utts[0].uttId)!;
    const segs = phoneSegments(tri.model.tm, one.tid);
    expect(segs[segs.length - 1].end).toBe(corpus.utts[0].frames.length);
  });
});
