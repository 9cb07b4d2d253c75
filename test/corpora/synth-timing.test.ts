import { describe, it, expect } from 'vitest';
import type { EspeakEvent } from '../../corpora/synth/espeak.ts';
import { EVENT_MISMATCH_REASON, espeakInput, timingsFromEvents, wordPositions } from '../../corpora/synth/timing.ts';
import { CorpusError } from '../../src/util/errors.ts';

/** Events in espeak's shape: word at text position, named phonemes, '' pauses, end. */
const word = (textPosition: number, length: number, sample: number): EspeakEvent => ({
  type: 'word',
  textPosition,
  length,
  sample,
});
const ph = (id: string, sample: number): EspeakEvent => ({ type: 'phoneme', textPosition: 0, length: 0, sample, id });
const end = (sample: number): EspeakEvent => ({ type: 'end', textPosition: 0, length: 0, sample });

/** PCM with sound everywhere except the given [from, to) zero runs. */
function pcm(n: number, zeros: [number, number][] = []): Int16Array {
  const x = new Int16Array(n).fill(1000);
  for (const [a, b] of zeros) x.fill(0, a, b);
  return x;
}

describe('synth espeak input text', () => {
  it('puts a zero-width space after every space, and positions are 1-based character indices', () => {
    const input = espeakInput('in the park, at noon.');
    expect(input).toBe('in \u200bthe \u200bpark, \u200bat \u200bnoon.');
    expect(wordPositions(input, ['in', 'the', 'park', 'at', 'noon'])).toEqual([1, 5, 10, 17, 21]);
    expect(wordPositions('the other', ['the', 'other'])).toEqual([1, 5]);
    expect(() => wordPositions('the cat', ['dog'])).toThrow(CorpusError);
  });
});

describe('synth timings from espeak events', () => {
  it('starts a word at its word event after another word, at its first phoneme after a pause', () => {
    // "she kept, it." : utterance-initial fricative pre-pause (0..264 zero), stop closure before "k"
    // (word event at the closure start), comma pause, then "it" after the pause.
    const text = 'she kept, it.';
    const x = pcm(20000, [
      [0, 264],
      [4000, 4500],
      [6500, 6900],
      [8000, 12000],
      [18000, 20000],
    ]);
    const ev = [
      word(1, 3, 0),
      ph('ʃ', 264),
      ph('iː', 2000),
      word(5, 4, 4000),
      ph('k', 4500),
      ph('ˈɛ', 5200),
      ph('p', 6900),
      ph('t', 7300),
      ph('', 8000),
      ph('', 12000),
      end(12000),
      word(11, 2, 12000),
      ph('ɪ', 12300),
      ph('t', 15000),
      ph('', 18000),
      end(20000),
    ];
    const t = timingsFromEvents(ev, ['she', 'kept', 'it'], text, x);
    expect(t.words).toEqual([
      { symbol: 'she', startSample: 264, endSample: 4000 },
      { symbol: 'kept', startSample: 4000, endSample: 8000 },
      { symbol: 'it', startSample: 12300, endSample: 18000 },
    ]);
    // The stop closure before "p" (6500..6900 zeros) belongs to "p"; the first phone starts with its word.
    expect(t.phones.map((p) => [p.symbol, p.startSample, p.endSample])).toEqual([
      ['ʃ', 264, 2000],
      ['iː', 2000, 4000],
      ['k', 4000, 5200],
      ['ˈɛ', 5200, 6500],
      ['p', 6500, 7300],
      ['t', 7300, 8000],
      ['ɪ', 12300, 15000],
      ['t', 15000, 18000],
    ]);
  });

  it('ignores an unnamed phoneme between two named phonemes of a word (hiatus marker, not a pause)', () => {
    const ev = [
      word(1, 5, 0),
      ph('ɹ', 0),
      ph('ˈeɪ', 1000),
      ph('d', 2000),
      ph('ɪ', 2500),
      ph('', 3000),
      ph('ˌoʊ', 3300),
      ph('', 5000),
      end(5100),
    ];
    const t = timingsFromEvents(ev, ['radio'], 'radio.', pcm(5100));
    expect(t.words).toEqual([{ symbol: 'radio', startSample: 0, endSample: 5000 }]);
    expect(t.phones.at(-1)).toEqual({ symbol: 'ˌoʊ', startSample: 3300, endSample: 5000 });
  });

  it('ends the last word at the end of the audio when espeak sends no pause', () => {
    const t = timingsFromEvents([word(1, 2, 0), ph('h', 0), ph('aɪ', 300)], ['hi'], 'hi', pcm(900));
    expect(t.words).toEqual([{ symbol: 'hi', startSample: 0, endSample: 900 }]);
  });

  it('rejects events that do not match the sentence with a CorpusError naming the utterance', () => {
    const fused = [
      word(1, 2, 0),
      ph('ɪ', 0),
      ph('n', 100),
      ph('ð', 200),
      ph('ə', 300),
      word(8, 6, 400),
      ph('ɡ', 400),
      ph('', 900),
    ];
    expect(() => timingsFromEvents(fused, ['in', 'the', 'garden'], 'in the garden.', pcm(1000), 'u1')).toThrow(
      /utterance 'u1'.*espeak word events do not match.*found 2 word events/,
    );
    const shifted = [word(2, 2, 0), ph('ɪ', 0), ph('', 100)];
    expect(() => timingsFromEvents(shifted, ['in'], 'in.', pcm(200))).toThrow(EVENT_MISMATCH_REASON);
    const silent = [word(1, 2, 0), ph('', 10)];
    expect(() => timingsFromEvents(silent, ['in'], 'in.', pcm(200))).toThrow(/no phonemes for word 'in'/);
  });
});
