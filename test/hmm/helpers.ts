/** Shared fixtures for the HMM tests: float comparison, a quiet logger, synthetic phone-like data. */
import { expect } from 'vitest';
import { Rng } from '../../src/util/rng.ts';
import { createLogger, type Logger } from '../../src/util/log.ts';
import { PhoneSet } from '../../src/lang/phones.ts';
import { Lexicon } from '../../src/lang/lexicon.ts';
import type { TrainingUtterance } from '../../src/hmm/train.ts';

/** |actual - expected| <= tol, with a message naming the value. */
export function expectClose(actual: number, expected: number, tol: number, what = 'value'): void {
  if (!(Math.abs(actual - expected) <= tol)) {
    expect.fail(`${what}: expected ${expected} +- ${tol}, got ${actual} (diff ${actual - expected})`);
  }
}

export const quietLogger: Logger = createLogger({ stream: { write: () => true } });

/** A small phone set: silence + 6 phones. */
export function toyPhones(): PhoneSet {
  return new PhoneSet(['SIL', 'SPN', 'AA', 'B', 'IY', 'K', 'S', 'T']);
}

/** Words over the toy phones (one pronunciation each, except TAB which has two). */
export function toyLexicon(): Lexicon {
  const lex = new Lexicon();
  lex.add('BAA', ['B', 'AA']);
  lex.add('KIY', ['K', 'IY']);
  lex.add('SIT', ['S', 'IY', 'T']);
  lex.add('TAB', ['T', 'AA', 'B']);
  lex.add('TAB', ['T', 'AA', 'B', 'S']);
  lex.add('BIKS', ['B', 'IY', 'K', 'S']);
  lex.add('<UNK>', ['SPN']);
  return lex;
}

export interface SynthSegment {
  phone: string;
  start: number;
  end: number;
  word: number;
}

export interface SynthCorpus {
  utts: (TrainingUtterance & { segments: SynthSegment[] })[];
  /** Mean per (phone, state) used to generate. */
  means: Map<string, Float32Array>;
}

export interface SynthOptions {
  numUtts: number;
  dim?: number;
  seed?: number;
  /** Extra offset added to AA's frames when its left neighbour is B or K (a context effect). */
  contextShift?: number;
  /** Probability of silence between words. */
  silProb?: number;
}

/**
 * Phone-like data: every (phone, state) has its own random mean (sd 2.5 per dimension), frames are
 * mean + N(0, 1) noise; non-silence states last 2..5 frames, silence 8..20 frames at the edges and
 * 4..10 between words (with probability silProb). Words drawn from toyLexicon (first pronunciation).
 */
export function synthCorpus(o: SynthOptions): SynthCorpus {
  const dim = o.dim ?? 6;
  const rng = new Rng(o.seed ?? 1);
  const lex = toyLexicon();
  const words = lex.words().filter((w) => w !== '<UNK>');
  const means = new Map<string, Float32Array>();
  const meanOf = (phone: string, s: number): Float32Array => {
    const k = `${phone}/${s}`;
    let m = means.get(k);
    if (!m) {
      m = Float32Array.from({ length: dim }, () => 2.5 * rng.gauss());
      means.set(k, m);
    }
    return m;
  };
  for (const p of toyPhones().phones) for (let s = 0; s < (p === 'SIL' || p === 'SPN' ? 5 : 3); s++) meanOf(p, s);
  const utts: SynthCorpus['utts'] = [];
  for (let u = 0; u < o.numUtts; u++) {
    const n = 2 + rng.int(3);
    const ws = Array.from({ length: n }, () => rng.pick(words));
    const seq: { phone: string; word: number }[] = [{ phone: 'SIL', word: -1 }];
    ws.forEach((w, wi) => {
      if (wi > 0 && rng.next() < (o.silProb ?? 0.3)) seq.push({ phone: 'SIL', word: -1 });
      for (const p of lex.get(w)![0]) seq.push({ phone: p, word: wi });
    });
    seq.push({ phone: 'SIL', word: -1 });
    const frames: Float32Array[] = [];
    const segments: SynthSegment[] = [];
    seq.forEach((ph, i) => {
      const start = frames.length;
      const edge = i === 0 || i === seq.length - 1;
      if (ph.phone === 'SIL') {
        const len = edge ? 8 + rng.int(13) : 4 + rng.int(7);
        for (let f = 0; f < len; f++) frames.push(noisy(meanOf('SIL', Math.min(4, Math.floor((f * 5) / len))), rng));
      } else {
        const left = i > 0 ? seq[i - 1].phone : '';
        const shift = ph.phone === 'AA' && (left === 'B' || left === 'K') ? (o.contextShift ?? 0) : 0;
        for (let s = 0; s < 3; s++) {
          const len = 2 + rng.int(4);
          for (let f = 0; f < len; f++) {
            const x = noisy(meanOf(ph.phone, s), rng);
            for (let j = 0; j < dim; j++) x[j] += shift;
            frames.push(x);
          }
        }
      }
      segments.push({ phone: ph.phone, start, end: frames.length, word: ph.word });
    });
    utts.push({ uttId: `utt${String(u).padStart(4, '0')}`, frames, words: ws, segments });
  }
  return { utts, means };
}

function noisy(mean: Float32Array, rng: Rng): Float32Array {
  return Float32Array.from(mean, (m) => m + rng.gauss());
}
