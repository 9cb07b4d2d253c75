import { describe, it, expect } from 'vitest';
import {
  normalizeTranscript,
  TranscriptError,
  UNSUPPORTED_CHARACTER_REASON,
  EMPTY_TRANSCRIPT_REASON,
} from '../../src/corpus/text.ts';
import { CorpusError } from '../../src/util/errors.ts';

describe('normalizeTranscript', () => {
  it('upper-cases words and collapses whitespace to single spaces', () => {
    expect(normalizeTranscript('  hello \t  World\n')).toBe('HELLO WORLD');
  });
  it('deletes periods, turns , ? ! ; : " and hyphens into spaces', () => {
    expect(normalizeTranscript('Mr. Smith, "come here"; now!')).toBe('MR SMITH COME HERE NOW');
    expect(normalizeTranscript('a long-term plan: yes?no')).toBe('A LONG TERM PLAN YES NO');
    expect(normalizeTranscript('U.S. forces \u2014 twice')).toBe('US FORCES TWICE');
  });
  it('keeps apostrophes inside words and drops quoting apostrophes at word edges', () => {
    expect(normalizeTranscript("don't stop James's 'quoted' words'")).toBe("DON'T STOP JAMES'S QUOTED WORDS");
    expect(normalizeTranscript('it\u2019s fine')).toBe("IT'S FINE");
  });
  it('is idempotent on normalised text (LibriSpeech transcripts pass unchanged)', () => {
    const s = 'HE HOPED THERE WOULD BE STEW FOR DINNER TURNIPS AND CARROTS AND BRUISED POTATOES';
    expect(normalizeTranscript(s)).toBe(s);
    expect(normalizeTranscript(normalizeTranscript("it's a 'test'"))).toBe("IT'S A TEST");
  });
  it('rejects digits with a typed error naming the utterance, file:line and the character', () => {
    let err: unknown;
    try {
      normalizeTranscript('call 911 now', { file: 'text', line: 7, uttId: 'spk1_u1' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TranscriptError);
    expect(err).toBeInstanceOf(CorpusError);
    const t = err as TranscriptError;
    expect(t.message).toContain("text:7, utterance 'spk1_u1'");
    expect(t.message).toContain(UNSUPPORTED_CHARACTER_REASON);
    expect(t.message).toContain("'9' (U+0039)");
    expect(t.characters).toEqual(['9', '1']);
    expect(t.reason).toBe(`${UNSUPPORTED_CHARACTER_REASON}: '9' '1'`);
  });
  it('rejects non-Latin and accented letters rather than guessing', () => {
    expect(() => normalizeTranscript('caf\u00e9', { uttId: 'u' })).toThrow(/U\+00E9/);
    expect(() => normalizeTranscript('\u043f\u0440\u0438\u0432\u0435\u0442')).toThrow(TranscriptError);
    expect(() => normalizeTranscript('stra\u00dfe')).toThrow(/U\+00DF/);
    expect(() => normalizeTranscript('50% off (now)')).toThrow(/'%'/);
  });
  it('rejects a transcript with no words', () => {
    try {
      normalizeTranscript(' . , -- ', { uttId: 'empty1' });
      expect.fail('no error');
    } catch (e) {
      expect(e).toBeInstanceOf(TranscriptError);
      expect((e as TranscriptError).reason).toBe(EMPTY_TRANSCRIPT_REASON);
      expect((e as Error).message).toContain("utterance 'empty1'");
    }
  });
});
