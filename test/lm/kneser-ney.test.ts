import { describe, it, expect } from 'vitest';
import { estimateKneserNey, modifiedKnDiscounts } from '../../src/lm/kneser-ney.ts';
import { formatArpa, parseArpa } from '../../src/lm/arpa.ts';
import { BackoffLm } from '../../src/lm/model.ts';
import { parseSentences, type Sentence } from '../../src/lm/text.ts';
import { ConfigError, FormatError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { fixtureSentences, quietLogger, expectClose } from './helpers.ts';

function build(sentences: Sentence[], order: number): BackoffLm {
  return new BackoffLm(parseArpa(formatArpa(estimateKneserNey(sentences, { order, logger: quietLogger() }))));
}

/** All histories an n-gram model can condition on that were seen in training: every (k)-gram prefix, k < order. */
function seenHistories(sentences: Sentence[], order: number): string[][] {
  const hs = new Map<string, string[]>();
  for (const s of sentences) {
    const seq = ['<s>', ...s.words, '</s>'];
    for (let i = 0; i < seq.length; i++) {
      for (let k = 1; k < order && i + k <= seq.length; k++) {
        const h = seq.slice(i, i + k);
        if (h[h.length - 1] === '</s>') continue;
        hs.set(h.join(' '), h);
      }
    }
  }
  return [[], ...hs.values()];
}

function sumOverVocab(lm: BackoffLm, history: string[]): number {
  let s = 0;
  for (const w of lm.vocab) if (w !== '<s>') s += 10 ** lm.score(w, history)!;
  return s;
}

/**
 * Interpolated modified Kneser-Ney written directly from Chen & Goodman's definition, with string
 * keys and recursion, sharing no code with src/lm: the reference the estimator is checked against.
 */
function referenceKn(sentences: Sentence[], N: number): (w: string, h: string[]) => number {
  const raw = new Map<string, number>();
  const vocab = new Set<string>(['</s>', '<unk>']);
  for (const s of sentences) {
    const seq = ['<s>', ...s.words, '</s>'];
    s.words.forEach((w) => vocab.add(w));
    for (let i = 0; i < seq.length; i++)
      for (let n = 1; n <= N && i + n <= seq.length; n++) {
        const k = seq.slice(i, i + n).join(' ');
        raw.set(k, (raw.get(k) ?? 0) + 1);
      }
  }
  const left = new Map<string, Set<string>>();
  for (const k of raw.keys()) {
    const ws = k.split(' ');
    if (ws.length < 2) continue;
    const suf = ws.slice(1).join(' ');
    if (!left.has(suf)) left.set(suf, new Set());
    left.get(suf)!.add(ws[0]);
  }
  const count = (g: string[]): number => {
    if (g.length === N || g[0] === '<s>') return g.length === 1 && g[0] === '<s>' ? 0 : (raw.get(g.join(' ')) ?? 0);
    return left.get(g.join(' '))?.size ?? 0;
  };
  const D: number[][] = [];
  for (let n = 1; n <= N; n++) {
    const nk = [0, 0, 0, 0, 0];
    for (const k of raw.keys()) {
      const g = k.split(' ');
      if (g.length !== n) continue;
      const c = count(g);
      if (c >= 1 && c <= 4) nk[c]++;
    }
    const Y = nk[1] / (nk[1] + 2 * nk[2]);
    let d = [1 - (2 * Y * nk[2]) / nk[1], 2 - (3 * Y * nk[3]) / nk[2], 3 - (4 * Y * nk[4]) / nk[3]];
    if (!d.every((x, i) => x > 0 && x < i + 1)) d = [0.5, 1, 1.5];
    D.push(d);
  }
  const V = vocab.size;
  const histCache = new Map<string, { total: number; nn: number[] }>();
  const p = (w: string, h: string[]): number => {
    const n = h.length + 1;
    let st = histCache.get(h.join(' '));
    if (!st) {
      st = { total: 0, nn: [0, 0, 0, 0] };
      for (const v of vocab) {
        const c = count([...h, v]);
        st.total += c;
        if (c > 0) st.nn[Math.min(c, 3)]++;
      }
      histCache.set(h.join(' '), st);
    }
    const { total, nn } = st;
    const lower = n === 1 ? 1 / V : p(w, h.slice(1));
    if (total === 0) return lower;
    const d = D[n - 1];
    const c = count([...h, w]);
    const disc = c === 0 ? 0 : d[Math.min(c, 3) - 1];
    const gamma = (d[0] * nn[1] + d[1] * nn[2] + d[2] * nn[3]) / total;
    return (c - disc) / total + gamma * lower;
  };
  return p;
}

describe('modified Kneser-Ney discounts', () => {
  it("follow Chen & Goodman's formulas from the count-of-counts", () => {
    const { d, fallback } = modifiedKnDiscounts([100, 40, 20, 10]);
    const y = 100 / 180;
    expect(fallback).toBe(false);
    expectClose(d[0], 1 - 2 * y * 0.4, 1e-12, 'D1');
    expectClose(d[1], 2 - 3 * y * 0.5, 1e-12, 'D2');
    expectClose(d[2], 3 - 4 * y * 0.5, 1e-12, 'D3+');
  });
  it('fall back when a count-of-count is zero or a discount leaves (0, k)', () => {
    expect(modifiedKnDiscounts([10, 0, 3, 1])).toEqual({ d: [0.5, 1, 1.5], fallback: true });
    expect(modifiedKnDiscounts([19, 1, 1, 0])).toEqual({ d: [0.5, 1, 1.5], fallback: true });
    // n3 >> n2 gives D2 < 0.
    expect(modifiedKnDiscounts([10, 1, 100, 1], [0.4, 0.8, 1.2])).toEqual({ d: [0.4, 0.8, 1.2], fallback: true });
  });
  it('warn when small data forces the fallback', () => {
    const warnings: string[] = [];
    const m = estimateKneserNey(parseSentences('a b\nb a\n'), { order: 2, logger: quietLogger(warnings) });
    expect(m.stats.every((s) => s.fallback)).toBe(true);
    expect(warnings.join('\n')).toMatch(/order 1: count-of-counts .* fallback/);
  });
});

describe('interpolated modified Kneser-Ney estimation', () => {
  const synth = fixtureSentences('synth.train.txt');
  const real = fixtureSentences('real.train.txt');

  for (const [name, sents, order] of [
    ['synthetic', synth, 3],
    ['synthetic', synth, 4],
    ['real transcripts', real, 3],
    ['synthetic', synth, 1],
  ] as const) {
    it(`sums to 1 over the vocabulary for every history seen in training (${name}, order ${order})`, () => {
      const lm = build([...sents], order);
      const hs = seenHistories([...sents], order);
      expect(hs.length).toBeGreaterThan(order === 1 ? 0 : 50);
      let worst = 0;
      for (const h of hs) worst = Math.max(worst, Math.abs(sumOverVocab(lm, h) - 1));
      expect(worst).toBeLessThan(1e-4);
    });
  }

  it('sums to 1 for unseen histories, including ones with OOV words', () => {
    const lm = build(synth, 3);
    const rng = new Rng(5);
    const words = lm.vocab.filter((w) => w !== '<s>' && w !== '</s>');
    const hs: string[][] = [['never-seen'], ['never-seen', 'again'], ['<s>', 'never-seen']];
    for (let i = 0; i < 40; i++) hs.push([rng.pick(words), rng.pick(words)]);
    for (const h of hs) expectClose(sumOverVocab(lm, h), 1, 1e-4, `history '${h.join(' ')}'`);
  });

  it('equals a direct implementation of the interpolated formula for every word and history', () => {
    for (const [sents, order] of [
      [real, 3],
      [synth.slice(0, 120), 3],
      [synth.slice(0, 120), 2],
    ] as const) {
      const lm = build([...sents], order);
      const ref = referenceKn([...sents], order);
      const hs = seenHistories([...sents], order).slice(0, 150);
      hs.push(['zz-unseen'], ['of', 'zz-unseen']);
      for (const h of hs) {
        for (const w of lm.vocab) {
          if (w === '<s>') continue;
          // ARPA keeps 7 significant digits of log10 p.
          expectClose(lm.score(w, h)!, Math.log10(ref(w, h)), 2e-6 * order, `log10 p(${w} | ${h.join(' ')})`);
        }
      }
    }
  });

  it('writes <s> with log10 prob -99, <unk> with the uniform share, and back-off weights only for histories', () => {
    const m = estimateKneserNey(real, { order: 3, logger: quietLogger() });
    const uni = new Map(m.ngrams[0].map((e) => [e.words[0], e] as const));
    expect(uni.get('<s>')!.logProb).toBe(-99);
    expect(uni.get('<s>')!.logBackoff).toBeDefined();
    expect(uni.get('<unk>')!.logProb).toBeLessThan(0);
    expect(uni.get('<unk>')!.logBackoff).toBeUndefined();
    expect(m.ngrams[2].every((e) => e.logBackoff === undefined)).toBe(true);
    for (const e of m.ngrams[1]) if (e.words[1] === '</s>') expect(e.logBackoff).toBeUndefined();
  });

  it('gives the same bytes for the same text, with n-grams sorted by their words', () => {
    const a = formatArpa(estimateKneserNey(synth, { order: 3, logger: quietLogger() }));
    const b = formatArpa(estimateKneserNey(synth, { order: 3, logger: quietLogger() }));
    expect(a).toBe(b);
    const m = parseArpa(a);
    for (const list of m.ngrams) {
      const keys = list.map((e) => e.words);
      const sorted = [...keys].sort((x, y) => {
        for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
        return 0;
      });
      expect(keys).toEqual(sorted);
    }
  });

  it('handles tiny data: one one-word sentence, order above the sentence length', () => {
    const lm = build(parseSentences('hello\n'), 4);
    expectClose(sumOverVocab(lm, []), 1, 1e-6, 'unigrams');
    expectClose(sumOverVocab(lm, ['<s>']), 1, 1e-6, '<s>');
    expectClose(sumOverVocab(lm, ['<s>', 'hello']), 1, 1e-6, '<s> hello');
  });

  it('rejects a bad order, empty text and sentence markers inside a line', () => {
    expect(() => estimateKneserNey(synth, { order: 0 })).toThrow(ConfigError);
    expect(() => estimateKneserNey(synth, { order: 2.5 })).toThrow(ConfigError);
    expect(() => estimateKneserNey(parseSentences('\n\n'), { order: 2 })).toThrow(FormatError);
    expect(() => parseSentences('a b\nc </s> d\n', 'x.txt')).toThrow(
      /x\.txt:2: sentence marker '<\/s>' inside a sentence/,
    );
    expect(parseSentences('<s> a b </s> (utt1)\n').map((s) => s.words)).toEqual([['a', 'b']]);
  });
});
