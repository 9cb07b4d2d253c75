import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { encodeWav } from '../../src/audio/index.ts';
import { readKaldiDataDir, writeKaldiDataDir } from '../../src/corpus/kaldi.ts';
import { CORRUPT_AUDIO_REASON, EMPTY_AUDIO_REASON, MISSING_AUDIO_REASON } from '../../src/corpus/skips.ts';
import { UNSUPPORTED_CHARACTER_REASON } from '../../src/corpus/text.ts';
import { CorpusError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { burst, emptyWav, garbage } from '../corpora/helpers/fixtures.ts';
import { expectClose, memoryLogger, put, tmp } from './helpers.ts';

/** A data dir with recordings r1 (1.0 s) and r2 (0.5 s) at 8 kHz; `files` overrides/extends the tables. */
function dataDir(files: Record<string, string> = {}): { dir: string; audio: string } {
  const dir = tmp();
  const rng = new Rng(5);
  const audio = join(dir, 'audio');
  put(join(audio, 'r1.wav'), encodeWav(burst(rng, 1.0, 8000), 8000));
  put(join(audio, 'r2.wav'), encodeWav(burst(rng, 0.5, 8000), 8000));
  const tables: Record<string, string> = {
    'wav.scp': `r1 ${join(audio, 'r1.wav')}\nr2 audio/r2.wav\n`,
    text: 'r1 Hello, world.\nr2 good-bye\n',
    utt2spk: 'r1 spkA\nr2 spkB\n',
    spk2utt: 'spkA r1\nspkB r2\n',
    ...files,
  };
  for (const [k, v] of Object.entries(tables)) put(join(dir, 'data', k), v);
  return { dir, audio };
}

describe('Kaldi data dir import', () => {
  it('reads wav.scp (absolute and relative paths), text, utt2spk; durations come from the audio', async () => {
    const { dir } = dataDir();
    const { manifest, skips } = await readKaldiDataDir(join(dir, 'data'), { audioBaseDir: dir });
    expect(skips.skipped).toBe(0);
    expect(skips.done).toBe(2);
    expect(manifest.recordings.map((r) => [r.id, r.speaker, r.path, r.sampleRateHz, r.numSamples])).toEqual([
      ['r1', 'spkA', join(dir, 'audio/r1.wav'), 8000, 8000],
      ['r2', 'spkB', join(dir, 'audio/r2.wav'), 8000, 4000],
    ]);
    expect(manifest.supervisions.map((s) => [s.id, s.text, s.durationSec])).toEqual([
      ['r1', 'HELLO WORLD', 1],
      ['r2', 'GOOD BYE', 0.5],
    ]);
  });

  it('reads segments, with -1 meaning the end of the recording', async () => {
    const { dir } = dataDir({
      segments: 'u1 r1 0.00 0.40\nu2 r1 0.40 -1\nu3 r2 0.1 0.3\n',
      text: 'u1 one\nu2 two\nu3 three\n',
      utt2spk: 'u1 spkA\nu2 spkA\nu3 spkB\n',
      spk2utt: 'spkA u1 u2\nspkB u3\n',
    });
    const { manifest } = await readKaldiDataDir(join(dir, 'data'), { audioBaseDir: dir });
    expect(manifest.supervisions.map((s) => [s.id, s.recordingId, s.startSec])).toEqual([
      ['u1', 'r1', 0],
      ['u2', 'r1', 0.4],
      ['u3', 'r2', 0.1],
    ]);
    expectClose(
      manifest.supervisions.map((s) => s.durationSec),
      [0.4, 0.6, 0.2],
      1e-12,
    );
  });

  it('rejects a pipe command in wav.scp, naming the file and line', async () => {
    const { dir } = dataDir({ 'wav.scp': 'r1 /x/r1.wav\nr2 sox /x/r2.flac -t wav - |\n' });
    const err = await readKaldiDataDir(join(dir, 'data'), { audioBaseDir: dir }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorpusError);
    expect((err as Error).message).toContain(`${join(dir, 'data', 'wav.scp')}:2: wav.scp entry 'r2' is a pipe command`);
    const ark = dataDir({ 'wav.scp': 'r1 /x/feats.ark:1234\nr2 audio/r2.wav\n' });
    await expect(readKaldiDataDir(join(ark.dir, 'data'))).rejects.toThrow(
      /wav\.scp:1: wav\.scp entry 'r1' is not a plain file/,
    );
  });

  it('rejects duplicate ids naming both lines, and utterances without a speaker', async () => {
    const dup = dataDir({ text: 'r1 a\nr2 b\nr1 c\n' });
    await expect(readKaldiDataDir(join(dup.dir, 'data'))).rejects.toThrow(
      /text:3: duplicate id 'r1'; expected each id once, found also on line 1/,
    );
    const nospk = dataDir({ utt2spk: 'r1 spkA\n', spk2utt: 'spkA r1\n' });
    await expect(readKaldiDataDir(join(nospk.dir, 'data'), { audioBaseDir: nospk.dir })).rejects.toThrow(
      /utterance 'r2' has no speaker/,
    );
    const mismatch = dataDir({ spk2utt: 'spkA r1 r2\n' });
    await expect(readKaldiDataDir(join(mismatch.dir, 'data'), { audioBaseDir: mismatch.dir })).rejects.toThrow(
      /spk2utt disagrees with utt2spk for utterance 'r2'/,
    );
  });

  it('counts missing, empty and corrupt audio and unsupported transcript characters as skips with reasons', async () => {
    const { dir, audio } = dataDir({
      'wav.scp': 'r1 audio/r1.wav\nr2 audio/r2.wav\nr3 audio/gone.wav\nr4 audio/empty.wav\nr5 audio/corrupt.wav\n',
      text: 'r1 fine\nr2 call 911\nr3 a\nr4 b\nr5 c\n',
      utt2spk: 'r1 s\nr2 s\nr3 s\nr4 s\nr5 s\n',
      spk2utt: 's r1 r2 r3 r4 r5\n',
    });
    put(join(audio, 'empty.wav'), emptyWav());
    put(join(audio, 'corrupt.wav'), garbage(new Rng(1)));
    const logger = memoryLogger();
    const { manifest, skips } = await readKaldiDataDir(join(dir, 'data'), { audioBaseDir: dir, logger });
    expect(manifest.supervisions.map((s) => s.id)).toEqual(['r1']);
    expect(manifest.recordings.map((r) => r.id)).toEqual(['r1']);
    expect(skips.done).toBe(1);
    expect(skips.reasons().map((r) => [r.reason, r.examples])).toEqual([
      [EMPTY_AUDIO_REASON, ['r4']],
      [MISSING_AUDIO_REASON, ['r3']],
      [`${UNSUPPORTED_CHARACTER_REASON}: '9' '1'`, ['r2']],
      [CORRUPT_AUDIO_REASON, ['r5']],
    ]);
    expect(skips.summary()).toMatch(/^Done 1 utterances, skipped 4/);
  });
});

describe('Kaldi data dir export', () => {
  it('writes sorted tables (segments only when needed) that import back to the same manifest', async () => {
    const { dir } = dataDir({
      segments: 'u2 r1 0.40 -1\nu1 r1 0.00 0.40\nu3 r2 0 -1\n',
      text: 'u1 one\nu2 two\nu3 three\n',
      utt2spk: 'u1 spkA\nu2 spkA\nu3 spkB\n',
      spk2utt: 'spkA u1 u2\nspkB u3\n',
    });
    const { manifest } = await readKaldiDataDir(join(dir, 'data'), { audioBaseDir: dir });
    const out = join(dir, 'export');
    await writeKaldiDataDir(out, manifest);
    expect(readdirSync(out).sort()).toEqual([
      'reco2dur',
      'segments',
      'spk2utt',
      'text',
      'utt2dur',
      'utt2spk',
      'wav.scp',
    ]);
    expect(readFileSync(join(out, 'segments'), 'utf8')).toBe(
      'u1 r1 0.000 0.400\nu2 r1 0.400 1.000\nu3 r2 0.000 0.500\n',
    );
    expect(readFileSync(join(out, 'spk2utt'), 'utf8')).toBe('spkA u1 u2\nspkB u3\n');
    expect(readFileSync(join(out, 'reco2dur'), 'utf8')).toBe('r1 1.000\nr2 0.500\n');
    expect(readFileSync(join(out, 'wav.scp'), 'utf8')).toBe(
      `r1 ${join(dir, 'audio/r1.wav')}\nr2 ${join(dir, 'audio/r2.wav')}\n`,
    );
    const back = await readKaldiDataDir(out);
    expect(back.manifest).toEqual(manifest);
  });

  it('omits segments when every utterance is a whole recording, and refuses non-zero channels', async () => {
    const { dir } = dataDir();
    const { manifest } = await readKaldiDataDir(join(dir, 'data'), { audioBaseDir: dir });
    await writeKaldiDataDir(join(dir, 'x'), manifest);
    expect(readdirSync(join(dir, 'x'))).not.toContain('segments');
    manifest.recordings[0].channel = 1;
    await expect(writeKaldiDataDir(join(dir, 'y'), manifest)).rejects.toThrow(/cannot select a channel/);
    expect(readdirSync(dir)).not.toContain('y');
  });
});
