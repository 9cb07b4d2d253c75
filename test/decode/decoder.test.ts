import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/util/rng.ts';
import { ConfigError, FormatError } from '../../src/util/errors.ts';
import { Decoder } from '../../src/decode/decoder.ts';
import { decodeSet } from '../../src/decode/tune.ts';
import { SearchLm } from '../../src/decode/search-lm.ts';
import { parseArpa } from '../../src/lm/arpa.ts';
import { scoreTranscripts } from '../../src/score/wer.ts';
import type { ScoreMatrix } from '../../src/decode/types.ts';
import { lmPair, quiet, randomScores, randomText, synthesize, toyLexicon, toyModel, trainArpa } from './helpers.ts';

/** A 60-word problem: cross-word triphone toy model, KN trigram on random text. */
function mediumProblem(seed: string) {
  const rng = new Rng(seed);
  const am = toyModel(12, 3);
  const lex = toyLexicon(rng, { numWords: 60, numPhones: 12, minLen: 2, maxLen: 5 });
  const text = randomText(rng, lex.words, 400, 6);
  const lm = new SearchLm(trainArpa(text, 3));
  return { rng, am, lex, text, lm };
}

describe('Decoder on synthetic posteriors', () => {
  it('recovers the word sequence and its word times from noisy posteriors', () => {
    const { rng, am, lex, text, lm } = mediumProblem('recover');
    const dec = new Decoder(lex, am, lm);
    let words = 0,
      wrongUtts = 0,
      timed = 0;
    const startErr: number[] = [],
      endErr: number[] = [];
    for (let u = 0; u < 12; u++) {
      const truth = text[rng.int(text.length)].words;
      const syn = synthesize(rng, truth, lex, am, { noise: 1, peak: 3.5, maxDur: 4 });
      const r = dec.decode(`u${u}`, syn.scores, { beam: 12 });
      words += truth.length;
      if (r.words.join(' ') !== truth.join(' ')) {
        wrongUtts++;
        continue;
      }
      r.times.forEach((w, i) => {
        startErr.push(Math.abs(w.startFrame - syn.words[i].startFrame));
        endErr.push(Math.abs(w.endFrame - syn.words[i].endFrame));
        expect(w.startSec).toBeCloseTo(w.startFrame * 0.01, 9);
        expect(w.endSec).toBeCloseTo((w.endFrame + 1) * 0.01, 9);
        timed++;
      });
    }
    expect(words).toBeGreaterThan(20);
    expect(wrongUtts).toBe(0);
    // Word boundaries within 2 frames of the generating alignment; most exact.
    expect(Math.max(...startErr, ...endErr)).toBeLessThanOrEqual(2);
    const exact = [...startErr, ...endErr].filter((e) => e === 0).length;
    expect(exact / (2 * timed)).toBeGreaterThan(0.7);
  });

  it('follows the LM when the acoustic model is uniform', () => {
    const rng = new Rng('uniform');
    const am = toyModel(6, 3);
    const lex = toyLexicon(rng, { numWords: 6, numPhones: 6, minLen: 2, maxLen: 2 });
    const uniform: ScoreMatrix = { numFrames: 40, numPdfs: am.numPdfs, data: new Float32Array(40 * am.numPdfs) };
    const repeated = (ws: string[]) => Array.from({ length: 30 }, (_, i) => ({ words: ws, line: i + 1 }));
    for (const target of [
      ['W1', 'W4'],
      ['W3', 'W0'],
      ['W5', 'W2'],
    ]) {
      const lm = new SearchLm(trainArpa([...repeated(target), { words: lex.words.slice(), line: 99 }], 2));
      const r = new Decoder(lex, am, lm).decode('uniform', uniform, { lmWeight: 5, beam: 30 });
      expect(r.words).toEqual(target);
    }
  });

  it('never finds a worse best path with a wider beam', () => {
    const { rng, am, lex, text, lm } = mediumProblem('monotonic');
    const dec = new Decoder(lex, am, lm);
    const beams = [3, 5, 7, 9, 12, 16, 24];
    for (let u = 0; u < 6; u++) {
      const syn = synthesize(rng, text[rng.int(text.length)].words, lex, am, { noise: 1.5, peak: 2.5 });
      let prev = -Infinity;
      const actives: number[] = [];
      for (const beam of beams) {
        const r = dec.decode(`u${u}`, syn.scores, { beam, maxActive: 1e9 });
        expect(r.score).toBeGreaterThanOrEqual(prev - 1e-9);
        prev = r.score;
        actives.push(r.stats.meanActive);
      }
      // A wider beam keeps more tokens.
      for (let i = 1; i < actives.length; i++) expect(actives[i]).toBeGreaterThanOrEqual(actives[i - 1]);
    }
  });

  it('gives the same best path with and without LM look-ahead at a wide beam, with fewer tokens at a narrow one', () => {
    const { rng, am, lex, text, lm } = mediumProblem('lookahead');
    const dec = new Decoder(lex, am, lm);
    let activeOn = 0,
      activeOff = 0;
    for (let u = 0; u < 4; u++) {
      const syn = synthesize(rng, text[rng.int(text.length)].words, lex, am, { noise: 1.2, peak: 3 });
      const on = dec.decode('x', syn.scores, { beam: 40, maxActive: 1e9, lmLookahead: true });
      const off = dec.decode('x', syn.scores, { beam: 40, maxActive: 1e9, lmLookahead: false });
      expect(on.score).toBeCloseTo(off.score, 6);
      expect(on.words).toEqual(off.words);
      activeOn += dec.decode('x', syn.scores, { beam: 8, lmLookahead: true }).stats.meanActive;
      activeOff += dec.decode('x', syn.scores, { beam: 8, lmLookahead: false }).stats.meanActive;
    }
    expect(activeOn).toBeLessThan(activeOff);
  });

  it('keeps at most maxActive tokens per frame (plus tokens tied with the cut-off score)', () => {
    const { rng, am, lex, text, lm } = mediumProblem('maxactive');
    const dec = new Decoder(lex, am, lm);
    const syn = synthesize(rng, text[0].words, lex, am, { noise: 2, peak: 2 });
    const wide = dec.decode('x', syn.scores, { beam: 30, maxActive: 1e9 });
    expect(wide.stats.maxActive).toBeGreaterThan(200);
    const r = dec.decode('x', syn.scores, { beam: 30, maxActive: 200 });
    expect(r.stats.maxActive).toBeLessThanOrEqual(205);
    expect(r.stats.meanActive).toBeLessThanOrEqual(200);
    expect(r.score).toBeLessThanOrEqual(wide.score + 1e-9);
  });

  it('inserts fewer words with a larger insertion penalty', () => {
    const rng = new Rng('penalty');
    const am = toyModel(8, 3);
    // Many one-phone words make insertions cheap.
    const lex = toyLexicon(rng, { numWords: 30, numPhones: 8, minLen: 1, maxLen: 3 });
    const text = randomText(rng, lex.words, 300, 4);
    const lm = new SearchLm(trainArpa(text, 2));
    const dec = new Decoder(lex, am, lm);
    const inputs: { uttId: string; scores: ScoreMatrix }[] = [];
    const refs: { uttId: string; words: string[]; line: number }[] = [];
    for (let u = 0; u < 15; u++) {
      const truth = text[rng.int(text.length)].words;
      inputs.push({
        uttId: `u${u}`,
        scores: synthesize(rng, truth, lex, am, { noise: 1.6, peak: 2.2, maxDur: 5 }).scores,
      });
      refs.push({ uttId: `u${u}`, words: truth, line: 0 });
    }
    const ins: number[] = [],
      hypWords: number[] = [];
    for (const pen of [0, 2, 4, 8]) {
      const r = decodeSet(dec, inputs, { wordInsertionPenalty: pen, lmWeight: 0.5 });
      const s = scoreTranscripts(refs, r.hyps);
      ins.push(s.ins);
      hypWords.push(r.hyps.reduce((a, h) => a + h.words.length, 0));
    }
    for (let i = 1; i < ins.length; i++) {
      expect(hypWords[i]).toBeLessThanOrEqual(hypWords[i - 1]);
      expect(ins[i]).toBeLessThanOrEqual(ins[i - 1]);
    }
    expect(ins[0]).toBeGreaterThan(0);
    expect(ins[ins.length - 1]).toBeLessThan(ins[0]);
  });

  it('returns an empty hypothesis, counted, when no token reaches a final state', () => {
    const { am, lex, lm } = mediumProblem('nopath');
    const dec = new Decoder(lex, am, lm);
    // Two frames: every word and silence needs at least three.
    const short = randomScores(new Rng(1), 2, am.numPdfs);
    const r = dec.decode('short', short);
    expect(r.reachedFinal).toBe(false);
    expect(r.words).toEqual([]);
    expect(r.score).toBe(-Infinity);
    const warnings: string[] = [];
    const set = decodeSet(
      dec,
      [
        { uttId: 'short', scores: short },
        { uttId: 'empty', scores: { numFrames: 0, numPdfs: am.numPdfs, data: new Float32Array(0) } },
      ],
      {
        logger: {
          ...quiet,
          warn: (m) => {
            warnings.push(m);
          },
        },
      },
    );
    expect(set.noPath).toEqual(['short', 'empty']);
    expect(set.hyps.map((h) => h.words)).toEqual([[], []]);
    expect(warnings.join('\n')).toMatch(/no token reached a final state in 2 of 2/);
  });

  it('is deterministic and reports per-utterance statistics', () => {
    const { rng, am, lex, text, lm } = mediumProblem('stats');
    const dec = new Decoder(lex, am, lm);
    const syn = synthesize(rng, text[3].words, lex, am);
    const a = dec.decode('s', syn.scores),
      b = dec.decode('s', syn.scores);
    expect(b.words).toEqual(a.words);
    expect(b.times).toEqual(a.times);
    expect(b.score).toBe(a.score);
    expect(a.stats.numFrames).toBe(syn.scores.numFrames);
    expect(a.stats.meanActive).toBeGreaterThan(0);
    expect(a.stats.framesPerSec).toBeGreaterThan(0);
    expect(a.stats.realTimeFactor).toBeCloseTo(a.stats.elapsedSec / (syn.scores.numFrames * 0.01), 9);
    expect(a.lmLog10Prob).toBeCloseTo(
      lmPair(trainArpa(text, 3))
        .backoff.scoreSentence(a.words)
        .reduce((s, w) => s + w.logProb!, 0),
      4,
    );
  });
});

describe('Decoder bad input', () => {
  const rng = new Rng('bad');
  const am = toyModel(4, 3);
  const lex = toyLexicon(rng, { numWords: 5, numPhones: 4 });
  it('names the lexicon words the LM does not know, or drops them when asked', () => {
    const lm = new SearchLm(trainArpa([{ words: ['W0', 'W1', 'W2'], line: 1 }], 2));
    expect(() => new Decoder(lex, am, lm, { lmFile: 'lm.arpa' })).toThrow(FormatError);
    expect(() => new Decoder(lex, am, lm, { lmFile: 'lm.arpa' })).toThrow(
      /lm\.arpa.*2 lexicon word\(s\) are not in the LM vocabulary: W3, W4/,
    );
    const dec = new Decoder(lex, am, lm, { missingLmWords: 'drop' });
    expect(dec.droppedWords).toEqual(['W3', 'W4']);
    const syn = synthesize(rng, ['W0', 'W1'], lex, am, { noise: 0.3 });
    expect(dec.decode('d', syn.scores).words).toEqual(['W0', 'W1']);
  });
  it('rejects an LM that shares no word with the lexicon, and sentence markers in the lexicon', () => {
    const lm = new SearchLm(trainArpa([{ words: ['X', 'Y'], line: 1 }], 2));
    expect(() => new Decoder(lex, am, lm, { missingLmWords: 'drop' })).toThrow(
      /no lexicon word is in the LM vocabulary/,
    );
    const withMarker = {
      words: [...lex.words, '</s>'],
      prons: [...lex.prons, { word: lex.words.length, phones: [2] }],
    };
    expect(
      () => new Decoder(withMarker, am, new SearchLm(trainArpa([{ words: lex.words.slice(), line: 1 }], 2))),
    ).toThrow(/sentence markers <\/s>/);
  });
  it('rejects score matrices that do not fit the model, naming the utterance', () => {
    const lm = new SearchLm(trainArpa([{ words: lex.words.slice(), line: 1 }], 2));
    const dec = new Decoder(lex, am, lm);
    expect(() =>
      dec.decode('utt7', { numFrames: 10, numPdfs: am.numPdfs - 1, data: new Float32Array(10 * (am.numPdfs - 1)) }),
    ).toThrow(/utterance 'utt7'.*fewer senones/);
    expect(() => dec.decode('utt8', { numFrames: 10, numPdfs: am.numPdfs, data: new Float32Array(5) })).toThrow(
      /utterance 'utt8'.*does not match its shape/,
    );
    expect(() => dec.decode('u', randomScores(rng, 5, am.numPdfs), { beam: 0 })).toThrow(ConfigError);
  });
  it('rejects bad pronunciations and options while compiling the graph', () => {
    const lm = new SearchLm(
      parseArpa('\\data\\\nngram 1=4\n\n\\1-grams:\n-1 <s>\n-0.5 </s>\n-0.5 A\n-0.5 B\n\n\\end\\\n'),
    );
    expect(
      () =>
        new Decoder(
          {
            words: ['A', 'B'],
            prons: [
              { word: 0, phones: [2] },
              { word: 1, phones: [] },
            ],
          },
          am,
          lm,
        ),
    ).toThrow(/empty pronunciation for 'B'/);
    expect(
      () =>
        new Decoder(
          {
            words: ['A', 'B'],
            prons: [
              { word: 0, phones: [2] },
              { word: 1, phones: [9] },
            ],
          },
          am,
          lm,
        ),
    ).toThrow(/phone id outside the acoustic model; expected 1\.\.4, found 9/);
    expect(
      () => new Decoder({ words: ['A'], prons: [{ word: 0, phones: [2] }] }, am, lm, { silenceProb: 1.5 }),
    ).toThrow(ConfigError);
  });
});
