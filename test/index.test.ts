import { describe, it, expect } from 'vitest';
import * as lib from '../src/index.ts';

describe('library entry point', () => {
  it('exposes every stage as a namespace with its main functions', () => {
    expect(typeof lib.audio.readAudio).toBe('function');
    expect(typeof lib.corpus.readSplit).toBe('function');
    expect(typeof lib.features.computeFbank).toBe('function');
    expect(typeof lib.align.alignCorpus).toBe('function');
    expect(typeof lib.lm.trainLm).toBe('function');
    expect(typeof lib.score.scoreTranscripts).toBe('function');
    expect(typeof lib.pipeline.runPipeline).toBe('function');
    expect(typeof lib.distill.generateSoftTargets).toBe('function');
    expect(typeof lib.Rng).toBe('function');
  });
});
