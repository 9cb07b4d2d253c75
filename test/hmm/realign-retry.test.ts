import { describe, it, expect } from 'vitest';
import { trainMonophone, type TrainingUtterance } from '../../src/hmm/train.ts';
import { quietLogger, synthCorpus, toyLexicon, toyPhones } from './helpers.ts';
import { createLogger } from '../../src/util/log.ts';

describe('realignment failures during training (Kaldi: every realignment aligns all utterances)', () => {
  it('retries an utterance at the next realignment and counts only those never realigned again', async () => {
    const corpus = synthCorpus({ numUtts: 30, seed: 11 });
    const [flaky, broken] = [corpus.utts[0].uttId, corpus.utts[1].uttId];
    let pass = 0;
    // Pass 0 is the equal alignment, pass i the i-th iteration. `flaky` has too few frames in
    // iteration 1 only; `broken` from iteration 1 on.
    const source = (): TrainingUtterance[] => {
      const p = pass++;
      return corpus.utts.map((u) =>
        (u.uttId === flaky && p === 1) || (u.uttId === broken && p >= 1) ? { ...u, frames: u.frames.slice(0, 2) } : u,
      );
    };
    const r = await trainMonophone(
      source,
      { phones: toyPhones(), lexicon: toyLexicon() },
      {
        numIters: 5,
        realignIters: [1, 2, 3],
        maxIterInc: 3,
        totalGaussians: 40,
        seed: 1,
        logger: quietLogger,
      },
    );
    expect(r.history[0].failed).toBe(2);
    expect(r.history[1].failed).toBe(1);
    expect(r.alignments.has(flaky)).toBe(true);
    expect(r.alignments.has(broken)).toBe(false);
    expect(r.skips.reasons()).toEqual([{ reason: 'realignment failed: too-few-frames', count: 1, examples: [broken] }]);
    expect(r.skips.done).toBe(29);
  });

  it('counts every utterance it tries in the progress of a realignment pass, never past the total', async () => {
    const corpus = synthCorpus({ numUtts: 12, seed: 11 });
    const flaky = corpus.utts[0].uttId;
    let pass = 0;
    const source = (): TrainingUtterance[] => {
      const p = pass++;
      return corpus.utts.map((u) => (u.uttId === flaky && p === 1 ? { ...u, frames: u.frames.slice(0, 2) } : u));
    };
    const lines: string[] = [];
    const logger = createLogger({ stream: { write: (s: string) => (lines.push(s), true), isTTY: false } });
    await trainMonophone(
      source,
      { phones: toyPhones(), lexicon: toyLexicon() },
      { numIters: 4, realignIters: [1, 2], maxIterInc: 2, totalGaussians: 30, seed: 1, logger },
    );
    const counts = lines
      .filter((l) => l.includes('loglike/frame'))
      .map((l) => /iter (\d+).*?: (\d+)\/(\d+) utts/.exec(l)!.slice(1).map(Number));
    // Iteration 2 retries the utterance whose realignment failed in iteration 1 (12 tried, 11 aligned before it).
    expect(counts).toEqual([
      [1, 12, 12],
      [2, 12, 12],
      [3, 12, 12],
    ]);
  });
});
