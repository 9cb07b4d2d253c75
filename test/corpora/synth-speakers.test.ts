import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  allocateVariants,
  planSpeakers,
  SYNTH_VARIANTS,
  SYNTH_VOICES,
  variantGender,
} from '../../corpora/synth/speakers.ts';
import { planSentences, splitCounts } from '../../corpora/synth/index.ts';
import { ConfigError } from '../../src/util/errors.ts';

describe('synth speakers', () => {
  const counts = { train: 12, dev: 2, test: 2 };

  it('gives every speaker a distinct (voice, variant) pair and each split its own variants', () => {
    const sp = planSpeakers({ counts, seed: 0 });
    expect(sp.length).toBe(16);
    expect(new Set(sp.map((s) => `${s.voice}+${s.variant}`)).size).toBe(16);
    const variantsOf = (split: string) => new Set(sp.filter((s) => s.split === split).map((s) => s.variant));
    for (const [a, b] of [
      ['train', 'dev'],
      ['train', 'test'],
      ['dev', 'test'],
    ]) {
      expect([...variantsOf(a)].filter((v) => variantsOf(b).has(v))).toEqual([]);
    }
    expect(sp.filter((s) => s.split === 'test').length).toBe(2);
    for (const s of sp) {
      expect(s.id).not.toContain('_');
      expect(Object.values(SYNTH_VOICES)).toContain(s.voice);
      expect(s.rateWpm).toBeGreaterThanOrEqual(140);
      expect(s.rateWpm).toBeLessThanOrEqual(190);
      expect(s.gender).toBe(variantGender(s.variant));
    }
    // Several accents in every split.
    expect(new Set(sp.filter((s) => s.split === 'train').map((s) => s.voice)).size).toBe(8);
  });

  it('is deterministic per seed', () => {
    expect(planSpeakers({ counts, seed: 4 })).toEqual(planSpeakers({ counts, seed: 4 }));
    expect(planSpeakers({ counts, seed: 4 })).not.toEqual(planSpeakers({ counts, seed: 5 }));
  });

  it('scales to 128 speakers (8 voices x 16 variants) and refuses more', () => {
    const sp = planSpeakers({ counts: { train: 112, dev: 8, test: 8 }, seed: 1 });
    expect(new Set(sp.map((s) => `${s.voice}+${s.variant}`)).size).toBe(128);
    expect(() => planSpeakers({ counts: { train: 120, dev: 8, test: 8 }, seed: 1 })).toThrow(
      /too many synthetic speakers/,
    );
    expect(allocateVariants({ train: 12, dev: 2, test: 2 }, SYNTH_VARIANTS.length, 8)).toEqual({
      train: 12,
      dev: 2,
      test: 2,
    });
    expect(allocateVariants({ train: 40, dev: 4, test: 4 }, 16, 8)).toEqual({ train: 12, dev: 2, test: 2 });
    expect(allocateVariants({ train: 3, dev: 1, test: 1 }, 16, 8)).toEqual({ train: 3, dev: 1, test: 1 });
  });

  it('rejects unknown voices and bad ranges with a ConfigError', () => {
    expect(() => planSpeakers({ counts, seed: 0, voices: ['en-au'] })).toThrow(/unknown synth voice 'en-au'/);
    expect(() => planSpeakers({ counts, seed: 0, variants: ['m1', 'm1'] })).toThrow(ConfigError);
    expect(() => planSpeakers({ counts, seed: 0, rateMinWpm: 200, rateMaxWpm: 150 })).toThrow(/rateMaxWpm/);
  });
});

describe('synth split sizes', () => {
  it('turns fractions into speaker counts with at least one dev and test speaker', () => {
    expect(splitCounts(undefined, undefined)).toEqual({ train: 12, dev: 2, test: 2 });
    expect(splitCounts(6, { train: 0.8, dev: 0.1, test: 0.1 })).toEqual({ train: 4, dev: 1, test: 1 });
    expect(splitCounts(5, { train: 1 })).toEqual({ train: 5, dev: 0, test: 0 });
  });

  it('takes integer counts, which must add up to numSpeakers', () => {
    expect(splitCounts(undefined, { train: 4, dev: 1, test: 1 })).toEqual({ train: 4, dev: 1, test: 1 });
    expect(() => splitCounts(7, { train: 4, dev: 1, test: 1 })).toThrow(/do not add up to numSpeakers/);
  });

  it('rejects unknown split names, negative sizes, bad fractions and no training speaker', () => {
    expect(() => splitCounts(8, { train: 0.5, eval: 0.5 } as never)).toThrow(/unknown split 'eval'/);
    expect(() => splitCounts(8, { train: -1, dev: 1 })).toThrow(ConfigError);
    expect(() => splitCounts(8, { train: 0.5, dev: 0.2 })).toThrow(/fractions do not add up to 1/);
    expect(() => splitCounts(2, { train: 0.2, dev: 0.4, test: 0.4 })).toThrow(/at least one training speaker/);
  });
});

describe("the demo recipe's synthetic corpus (pipelines/demo.yaml, planned without synthesis)", () => {
  // The prepare stage passes these options to the synth adapter; its seed defaults to the recipe's.
  const recipe = parseYaml(readFileSync(join(import.meta.dirname, '../../pipelines/demo.yaml'), 'utf8'));
  const opts = recipe.stages.prepare;
  const seed = opts.seed ?? recipe.seed;
  const speakers = planSpeakers({ counts: splitCounts(opts.numSpeakers, opts.splits), seed });
  const plan = planSentences(speakers, opts.utterancesPerSpeaker, seed, {
    minWords: opts.minWords ?? 4,
    maxWords: opts.maxWords ?? 14,
    unique: opts.uniqueSentences ?? true,
  });
  const of = (split: string) => speakers.filter((s) => s.split === split);

  it('tests on >= 8 speakers and >= 1,500 words (issue 29), every speaker a distinct voice, no variant shared across splits', () => {
    const test = of('test');
    expect(test.length).toBeGreaterThanOrEqual(8);
    const words = plan.filter((p) => p.speaker.split === 'test').reduce((n, p) => n + p.sentence.words.length, 0);
    expect(words).toBeGreaterThanOrEqual(1500);
    expect(new Set(speakers.map((s) => `${s.voice}+${s.variant}`)).size).toBe(speakers.length);
    const variants = (split: string) => new Set(of(split).map((s) => s.variant));
    for (const [a, b] of [
      ['train', 'dev'],
      ['train', 'test'],
      ['dev', 'test'],
    ]) {
      expect(
        [...variants(a)].filter((v) => variants(b).has(v)),
        `${a} / ${b}`,
      ).toEqual([]);
    }
    // More test voices (timbres) than a single one, so the speaker bootstrap is not over one timbre.
    expect(variants('test').size).toBeGreaterThanOrEqual(4);
  });
});
