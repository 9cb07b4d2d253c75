/**
 * Reference word and phone timings from espeak's events.
 *
 * espeak reports, for every event, the sample index in its own output where it happens (see
 * espeak.ts). Observed behaviour of espeak-ng 1.52 (the emscripten build), which the rules below
 * follow and test/corpora/synth.test.ts checks on real output:
 *   - A `word` event comes before the word's first phoneme. When the word follows another word
 *     directly, it marks the start of the word's first sound *including* the silent closure of a
 *     voiceless stop or the short pre-pause of a fricative (exact zero samples), so the word event
 *     is the boundary between the two words.
 *   - A `phoneme` event marks the start of one phoneme (IPA name, stress marks included) — but
 *     for a voiceless stop it comes *after* the closure silence (at the burst).
 *   - A pause (`,` `.` `?`, and phrase breaks espeak inserts in long clauses) is a `phoneme` event
 *     with an empty name, followed by silence (or, for some variants, a low-level tail); at the end
 *     of a clause espeak also sends an `end` event. An unnamed phoneme *between two named phonemes
 *     of one word* is not a pause but a hiatus marker ("radio": ɪ, '', oʊ) and is ignored.
 * Rules:
 *   - word start: the word event; but after a pause or at the utterance start, the first phoneme
 *     event (the silence before it is a pause, not part of the word);
 *   - word end: the next word's start, or the first pause event after the word (whichever is first);
 *   - phone start: the phoneme event, moved back over exact zero samples right before it (the
 *     closure of a stop belongs to the stop), never before the previous phone's start; the first
 *     phone of a word starts with the word. A phone ends where the next one starts, the last with
 *     its word. espeak sometimes puts two phoneme events on one sample (a post-vocalic /l/ made
 *     inside the vowel's transition): that phone keeps duration 0.
 * Sample positions are at espeak's 22050 Hz; conversion to seconds is `sample / 22050` (+ any
 * leading silence the caller prepends).
 */
import { CorpusError } from '../../src/util/errors.ts';
import type { EspeakEvent } from './espeak.ts';

/** A timed symbol in samples of espeak's output: [startSample, endSample). */
export interface SampleSpan {
  symbol: string;
  startSample: number;
  endSample: number;
}

export interface EventTimings {
  words: SampleSpan[];
  phones: SampleSpan[];
}

/** The skip reason for an utterance whose events cannot be matched to its words. */
export const EVENT_MISMATCH_REASON = 'espeak word events do not match the sentence';

/**
 * The text given to espeak for a sentence: a zero-width space (U+200B) after every space. It keeps
 * espeak from applying its multi-word lexicon entries ("in the", "at a", "from the"), which fuse two
 * words into one word event; punctuation and phrasing are unchanged (a bare U+200B instead of the
 * space would also hide a comma's pause).
 */
export function espeakInput(spokenText: string): string {
  return spokenText.replace(/ /g, ' \u200b');
}

/** 1-based character positions of `words` in `text` (words appear in order, separated by spaces/punctuation). */
export function wordPositions(text: string, words: readonly string[]): number[] {
  const pos: number[] = [];
  let from = 0;
  for (const w of words) {
    let i = text.indexOf(w, from);
    // A word must start at a word boundary.
    while (i >= 0 && i > 0 && /[a-z']/i.test(text[i - 1])) i = text.indexOf(w, i + 1);
    if (i < 0)
      throw new CorpusError(`word '${w}' not found in the spoken text`, {
        expected: `'${w}' after position ${from}`,
        found: JSON.stringify(text),
      });
    pos.push(i + 1);
    from = i + w.length;
  }
  return pos;
}

/**
 * Turn espeak's events into word and phone spans (see the module comment).
 * @param samples espeak's PCM, used to find the zero-sample closures before phonemes
 * @throws CorpusError (reason {@link EVENT_MISMATCH_REASON}) when the word events do not match `words`
 */
export function timingsFromEvents(
  events: readonly EspeakEvent[],
  words: readonly string[],
  spokenText: string,
  samples: Int16Array,
  uttId?: string,
): EventTimings {
  const expected = wordPositions(spokenText, words);
  const wordEvents = events.filter((e) => e.type === 'word');
  const mismatch = (found: string): CorpusError =>
    new CorpusError(EVENT_MISMATCH_REASON, {
      uttId,
      expected: `${words.length} word events at characters ${expected.join(',')} of ${JSON.stringify(spokenText)}`,
      found,
    });
  if (wordEvents.length !== words.length) throw mismatch(`${wordEvents.length} word events`);
  for (let i = 0; i < words.length; i++) {
    if (wordEvents[i].textPosition !== expected[i] || wordEvents[i].length !== words[i].length) {
      throw mismatch(
        `word event ${i + 1} at character ${wordEvents[i].textPosition} with length ${wordEvents[i].length}`,
      );
    }
  }

  interface Open {
    symbol: string;
    start: number | null;
    end: number | null;
    phones: { symbol: string; sample: number }[];
  }
  const out: Open[] = [];
  let cur: Open | null = null;
  let afterPause = true;
  // An unnamed phoneme is a pause only when no named phoneme follows before the next word or
  // clause end; inside a word it is espeak's hiatus marker (e.g. "radio": ɪ, '', oʊ) and ignored.
  const isPause: boolean[] = events.map(() => false);
  let namedAhead = false;
  for (let i = events.length - 1; i >= 0; i--) {
    const ev = events[i];
    if (ev.type === 'word' || ev.type === 'end') namedAhead = false;
    else if (ev.type === 'phoneme') {
      if (typeof ev.id === 'string' && ev.id !== '') namedAhead = true;
      else isPause[i] = !namedAhead;
    }
  }
  for (const [i, ev] of events.entries()) {
    if (ev.type === 'word') {
      const start = afterPause ? null : ev.sample;
      if (cur && cur.end === null) cur.end = ev.sample;
      cur = { symbol: words[out.length], start, end: null, phones: [] };
      out.push(cur);
    } else if (ev.type === 'phoneme') {
      const name = typeof ev.id === 'string' ? ev.id : '';
      if (name === '') {
        if (!isPause[i]) continue;
        if (cur && cur.end === null && cur.phones.length > 0) cur.end = ev.sample;
        afterPause = true;
      } else if (cur && cur.end === null) {
        if (cur.start === null) cur.start = ev.sample;
        cur.phones.push({ symbol: name, sample: ev.sample });
        afterPause = false;
      }
    } else if (ev.type === 'end') {
      if (cur && cur.end === null && cur.phones.length > 0) cur.end = ev.sample;
      afterPause = true;
    }
  }
  if (cur && cur.end === null) cur.end = samples.length;

  const wordSpans: SampleSpan[] = [];
  const phoneSpans: SampleSpan[] = [];
  let prevEnd = 0;
  for (const w of out) {
    if (w.phones.length === 0 || w.start === null || w.end === null)
      throw mismatch(`no phonemes for word '${w.symbol}'`);
    const start = w.start;
    const end = w.end;
    if (start < prevEnd || end <= start || end > samples.length) {
      throw mismatch(
        `word '${w.symbol}' at samples [${start}, ${end}) after a word ending at ${prevEnd} (${samples.length} samples)`,
      );
    }
    wordSpans.push({ symbol: w.symbol, startSample: start, endSample: end });
    // Phone starts: the first at the word start; others moved back over a preceding zero run.
    const starts: number[] = [];
    for (let k = 0; k < w.phones.length; k++) {
      if (k === 0) {
        starts.push(start);
        continue;
      }
      let s = Math.min(Math.max(w.phones[k].sample, starts[k - 1]), end);
      while (s > starts[k - 1] && samples[s - 1] === 0) s--;
      starts.push(s);
    }
    for (let k = 0; k < w.phones.length; k++) {
      phoneSpans.push({
        symbol: w.phones[k].symbol,
        startSample: starts[k],
        endSample: k + 1 < starts.length ? starts[k + 1] : end,
      });
    }
    prevEnd = end;
  }
  return { words: wordSpans, phones: phoneSpans };
}
