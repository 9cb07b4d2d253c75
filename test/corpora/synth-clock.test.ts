import { describe, it, expect, vi, afterEach } from 'vitest';
import { EspeakEngine, type EspeakVoice } from '../../corpora/synth/espeak.ts';

// espeak-ng seeds its breath-noise generator from time(); the wasm build reads Date.now().
// Two processes started at different times must still produce the same samples.
describe('espeak-ng synthesis does not depend on the wall clock', () => {
  afterEach(() => vi.restoreAllMocks());

  it('gives identical samples for an f-variant voice when engines are loaded and run at different times', async () => {
    const voice: EspeakVoice = { voice: 'en-us', variant: 'f2', rateWpm: 170, pitch: 50, pitchRange: 50 };
    const text = 'the quick brown fox jumps over the lazy dog';
    const spy = vi.spyOn(Date, 'now');
    spy.mockReturnValue(1_000_000_000_000);
    const a = await EspeakEngine.load();
    const outA = a.synthesize(text, voice);
    spy.mockReturnValue(1_700_000_123_456);
    const b = await EspeakEngine.load();
    const outB = b.synthesize(text, voice);
    expect(outA.samples.length).toBeGreaterThan(10_000);
    expect(Buffer.from(outB.samples.buffer).equals(Buffer.from(outA.samples.buffer))).toBe(true);
  });
});
