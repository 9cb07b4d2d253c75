/** Shared helpers of the nnet tests: float comparison, temp dirs, a capturing logger, tiny corpora. */
import { expect } from 'vitest';
import type { SyntheticCorpusOptions } from '../../src/nnet/synthetic.ts';
import { captureLogger, tempDir as sharedTempDir } from '../helpers.ts';

/**
 * The one float comparison of these tests: |a - b| <= relTol * max(|b|) elementwise (relative to
 * the reference's scale, so near-zero entries do not demand impossible precision). `minScale`
 * sets a floor on that scale for references that are all (near) zero.
 */
export function expectRelClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  relTol: number,
  what = 'values',
  minScale = 0,
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let scale = minScale;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  let worst = -1,
    worstD = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worstD)) {
      worstD = Number.isNaN(d) ? Infinity : d;
      worst = i;
    }
  }
  if (!(worstD <= relTol * scale)) {
    expect.fail(
      `${what}: max abs difference ${worstD} > ${relTol} x ${scale} (at index ${worst}: ${actual[worst]} vs ${expected[worst]})`,
    );
  }
}

export { captureLogger };

export const tempDir = (prefix = 'nnet-'): string => sharedTempDir(prefix);

/** A small, learnable synthetic corpus (13-dim features, 8 classes). */
export const TINY: Partial<SyntheticCorpusOptions> = Object.freeze({
  featureDim: 13,
  numSenones: 8,
  minFrames: 30,
  maxFrames: 80,
});
export const TINY_TRAIN: Partial<SyntheticCorpusOptions> = Object.freeze({
  ...TINY,
  numUtterances: 40,
  dataSeed: 2,
  idPrefix: 'train',
});
export const TINY_DEV: Partial<SyntheticCorpusOptions> = Object.freeze({
  ...TINY,
  numUtterances: 12,
  dataSeed: 3,
  idPrefix: 'dev',
});

/** A tiny model config for the TINY corpus. */
export const TINY_MODEL = Object.freeze({
  numSenones: 8,
  hiddenLayers: 2,
  hiddenUnits: 24,
  batchSize: 64,
  splice: Object.freeze({ leftContext: 2, rightContext: 2 }),
});
