/**
 * A complete ReportInput generated with a seeded Rng: digit-string references for a few speakers,
 * hypotheses corrupted per system at system-specific error rates, scored with src/score, plus
 * training curves, soft-target stats, a temperature sweep and stage times. One utterance carries
 * HTML/Markdown-hostile words so the renderers' escaping is exercised.
 */
import { afterAll, expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/util/rng.ts';
import { scoreTranscripts, type WerResult } from '../../src/score/wer.ts';
import type { TrnUtterance } from '../../src/score/trn.ts';
import { alignmentsOf, scoredSplit, worstUttIds } from '../../src/score/counts.ts';
import { errorLists } from '../../src/score/errors.ts';
import {
  REPORT_FORMAT_VERSION,
  REPORT_INPUT_FORMAT,
  type EpochPoint,
  type ReportInput,
  type SystemInput,
} from '../../src/report/types.ts';

export const DIGITS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'oh'];
/** Words that must never reach HTML or Markdown unescaped. */
export const HOSTILE_WORDS = ['<script>alert(1)</script>', 'a&b', '|pipe|', '``tick``', '**bold**'];
export const HOSTILE_UTT = 'spkB_hostile';

export function expectClose(actual: number, expected: number, tol = 1e-12, what = 'value'): void {
  if (!(Math.abs(actual - expected) <= tol)) {
    expect.fail(`${what}: expected ${expected} +- ${tol}, got ${actual}`);
  }
}

export interface SystemSpec {
  /** Per-word probabilities of substitution, deletion, insertion. */
  sub: number;
  del: number;
  ins: number;
  frameAccuracy: { dev: number; test: number };
}

export const DEFAULT_SPECS: Record<string, SystemSpec> = {
  baseline: { sub: 0.12, del: 0.04, ins: 0.03, frameAccuracy: { dev: 0.61, test: 0.589 } },
  ensemble: { sub: 0.07, del: 0.02, ins: 0.02, frameAccuracy: { dev: 0.64, test: 0.611 } },
  student: { sub: 0.08, del: 0.025, ins: 0.02, frameAccuracy: { dev: 0.635, test: 0.608 } },
  'member-1': { sub: 0.13, del: 0.04, ins: 0.03, frameAccuracy: { dev: 0.605, test: 0.585 } },
  'member-2': { sub: 0.12, del: 0.05, ins: 0.03, frameAccuracy: { dev: 0.607, test: 0.586 } },
  'member-3': { sub: 0.14, del: 0.03, ins: 0.04, frameAccuracy: { dev: 0.603, test: 0.583 } },
};

export function makeRefs(rng: Rng, split: string, speakers: string[], perSpeaker: number): TrnUtterance[] {
  const out: TrnUtterance[] = [];
  for (const spk of speakers) {
    for (let i = 0; i < perSpeaker; i++) {
      const n = 3 + rng.int(6);
      out.push({
        uttId: `${spk}_${split}${String(i).padStart(3, '0')}`,
        words: Array.from({ length: n }, () => DIGITS[rng.int(DIGITS.length)]),
        line: 0,
      });
    }
  }
  return out;
}

export function corrupt(rng: Rng, words: readonly string[], s: SystemSpec): string[] {
  const out: string[] = [];
  for (const w of words) {
    if (rng.next() < s.ins) out.push(DIGITS[rng.int(DIGITS.length)]);
    const u = rng.next();
    if (u < s.del) continue;
    if (u < s.del + s.sub) {
      let x = DIGITS[rng.int(DIGITS.length)];
      while (x === w) x = DIGITS[rng.int(DIGITS.length)];
      out.push(x);
    } else out.push(w);
  }
  return out;
}

function curve(rng: Rng, epochs: number, start: number, end: number, lossScale: number): EpochPoint[] {
  let lr = 0.008;
  return Array.from({ length: epochs }, (_, e) => {
    const t = e / Math.max(1, epochs - 1);
    if (e >= epochs - 2) lr /= 2;
    return {
      epoch: e + 1,
      trainLoss: lossScale * (2.5 - 1.4 * Math.sqrt(t)) + 0.01 * rng.gauss(),
      devFrameAccuracy: start + (end - start) * Math.sqrt(t),
      learningRate: lr,
    };
  });
}

export interface Fixture {
  input: ReportInput;
  /** The scorer's results per system and split, for independent checks. */
  scores: Record<string, { dev: WerResult; test: WerResult }>;
}

export function makeFixture(
  seed = 7,
  specs: Record<string, SystemSpec> = DEFAULT_SPECS,
  opts: { perSpeaker?: number; hostile?: boolean } = {},
): Fixture {
  const rng = new Rng(seed);
  const perSpeaker = opts.perSpeaker ?? 30;
  const refs = {
    dev: makeRefs(rng.fork('dev'), 'dev', ['spkA', 'spkB'], perSpeaker),
    test: makeRefs(rng.fork('test'), 'test', ['spkB', 'spkC', 'spkD'], perSpeaker),
  };
  if (opts.hostile ?? true) refs.test.push({ uttId: HOSTILE_UTT, words: ['one', ...HOSTILE_WORDS, 'two'], line: 0 });
  const scores: Fixture['scores'] = {};
  const systems: Record<string, SystemInput> = {};
  for (const [id, spec] of Object.entries(specs)) {
    const r = rng.fork(id);
    const score = (split: 'dev' | 'test') => {
      const hyps = refs[split].map((u) => ({
        uttId: u.uttId,
        words:
          u.uttId === HOSTILE_UTT
            ? ['one', '<b>bold</b>', HOSTILE_WORDS[1], 'two', '&lt;x&gt;']
            : corrupt(r, u.words, spec),
        line: 0,
      }));
      return scoreTranscripts(refs[split], hyps);
    };
    const dev = score('dev'),
      test = score('test');
    scores[id] = { dev, test };
    const d = scoredSplit(dev),
      t = scoredSplit(test);
    systems[id] = {
      frameAccuracy: { ...spec.frameAccuracy },
      wer: { dev: d.counts, test: t.counts },
      speakers: { dev: d.speakers, test: t.speakers },
      utterances: { dev: d.utterances, test: t.utterances },
      errorLists: { dev: errorLists(dev.utterances), test: errorLists(test.utterances) },
      parameters: id === 'ensemble' ? 3 * 1_234_567 : 1_234_567,
      ...(id === 'ensemble'
        ? {}
        : {
            trainingCurve: curve(r, 8, spec.frameAccuracy.dev - 0.2, spec.frameAccuracy.dev, id === 'student' ? 2 : 1),
          }),
    };
  }
  if (scores.student) {
    const worst = worstUttIds(scores.student.test, 6);
    if (!worst.includes(HOSTILE_UTT) && (opts.hostile ?? true)) worst.push(HOSTILE_UTT);
    for (const id of Object.keys(systems)) systems[id].alignments = alignmentsOf(scores[id].test, 'test', worst);
  }
  const input: ReportInput = {
    format: REPORT_INPUT_FORMAT,
    formatVersion: REPORT_FORMAT_VERSION,
    corpus: {
      name: 'synthetic-digits',
      description: 'Generated digit strings, 2 dev / 3 test speakers <not a real corpus>',
      recipe: 'pipelines/demo.yaml',
      numSenones: 120,
      vocabularySize: DIGITS.length,
      splits: {
        train: { utterances: 600, speakers: 6, durationSec: 1800, frames: 180000 },
        dev: { utterances: refs.dev.length, speakers: 2, durationSec: 180 },
        test: { utterances: refs.test.length, speakers: 3, durationSec: 270 },
      },
    },
    systems,
    softTargets: {
      T: 2,
      k: 8,
      bytesPerFrame: 56.5,
      keptMass: 0.987,
      denseBytesPerFrame: 488,
      combination: 'arithmetic-mean-probs',
      hardWeight: 0.5,
    },
    temperatureSweep: [1, 2, 4, 8].map((T) => ({
      T,
      frameAccuracy: {
        dev: 0.62 + 0.01 * Math.log2(T) - 0.004 * Math.log2(T) ** 2,
        test: 0.6 + 0.008 * Math.log2(T) - 0.003 * Math.log2(T) ** 2,
      },
      keptMass: 1 - 0.01 * T,
    })),
    stages: {
      prepare: 3.2,
      features: 41.5,
      lang: 1.1,
      align: 210.4,
      train: 402.9,
      targets: 35.3,
      distill: 150.2,
      lm: 0.8,
      decode: 95.6,
      score: 0.4,
    },
    environment: {
      backend: 'wasm',
      versions: { node: '20.20.2', 'am-distill': '0.1.0', '@tensorflow/tfjs': '4.22.0' },
      commit: '0123456789abcdef0123456789abcdef01234567',
      configHash: 'c0ffee',
      host: '2 CPU cores, linux x64',
    },
  };
  return { input, scores };
}

/** Deep copy through JSON (what a reader of report-input.json gets). */
export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

const tempDirs: string[] = [];
// Registered when a test file imports this module (collection time, file scope).
afterAll(() => {
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary directory, removed after the test file. */
export function tempDir(prefix = 'amd-report-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}
