import { describe, it, expect } from 'vitest';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  prepareTimit,
  findTimitRoot,
  TIMIT_CORE_TEST_SPEAKERS,
  TIMIT_DEV_SPEAKERS,
} from '../../corpora/timit/index.ts';
import { UNSUPPORTED_CHARACTER_REASON } from '../../src/corpus/text.ts';
import { expectClose, memoryLogger, tmp } from '../corpus/helpers.ts';
import { makeTimitTree, type TimitUtt } from './helpers/fixtures.ts';

const quiet = memoryLogger();

/** A small TIMIT: 2 train speakers, a dev speaker, a core-test speaker and an "other" test speaker. */
function fixture(lowerCase = false): string {
  const root = join(tmp(), 'TIMIT');
  const u = (part: TimitUtt['part'], region: string, speaker: string, utt: string, words: string[]): TimitUtt => ({
    part,
    region,
    speaker,
    utt,
    words,
  });
  makeTimitTree(
    root,
    [
      u('TRAIN', 'DR1', 'FCJF0', 'SA1', ['she', 'had', 'your']),
      u('TRAIN', 'DR1', 'FCJF0', 'SI1027', ['even', 'then']),
      u('TRAIN', 'DR1', 'FCJF0', 'SX127', ["don't", 'ask']),
      u('TRAIN', 'DR2', 'MAEB0', 'SI1411', ['a', 'boring', 'novel']),
      u('TEST', 'DR1', 'FAKS0', 'SI943', ['dev', 'words']),
      u('TEST', 'DR1', 'FAKS0', 'SA2', ['dont', 'ask']),
      u('TEST', 'DR1', 'MDAB0', 'SX139', ['core', 'test']),
      u('TEST', 'DR1', 'MDAB0', 'SI1039', ['more', 'core']),
      u('TEST', 'DR2', 'MTHC9', 'SX1', ['other', 'speaker']),
    ],
    { lowerCase },
  );
  return root;
}

describe('timit', () => {
  it('lists the standard speaker sets: 24 core test speakers, 50 dev speakers, disjoint', () => {
    expect(TIMIT_CORE_TEST_SPEAKERS.length).toBe(24);
    expect(new Set(TIMIT_CORE_TEST_SPEAKERS).size).toBe(24);
    expect(TIMIT_DEV_SPEAKERS.length).toBe(50);
    expect(new Set(TIMIT_DEV_SPEAKERS).size).toBe(50);
    expect(TIMIT_DEV_SPEAKERS.filter((s) => TIMIT_CORE_TEST_SPEAKERS.includes(s))).toEqual([]);
    // 2 male + 1 female per dialect region
    expect(TIMIT_CORE_TEST_SPEAKERS.filter((s) => s.startsWith('f')).length).toBe(8);
  });

  it('drops SA sentences, puts dev and core-test speakers in their splits and ignores other TEST speakers', async () => {
    const root = fixture();
    const p = await prepareTimit(join(root, '..'), { outDir: tmp(), logger: quiet });
    expect(p.info.splits).toEqual(['train', 'dev', 'test']);
    expect(p.splits.train.supervisions.map((s) => s.id)).toEqual(['fcjf0_si1027', 'fcjf0_sx127', 'maeb0_si1411']);
    expect(p.splits.dev.supervisions.map((s) => s.id)).toEqual(['faks0_si943']);
    expect(p.splits.test.supervisions.map((s) => s.id)).toEqual(['mdab0_si1039', 'mdab0_sx139']);
    expect(p.info.sampleRateHz).toBe(16000);
    const s = p.splits.train.supervisions[1];
    expect(s.text).toBe("DON'T ASK");
    expect(s.speaker).toBe('fcjf0');
    expect(s.custom).toEqual({ gender: 'f', dialectRegion: 'dr1', sentenceType: 'sx' });
    expect(p.splits.train.recordings[1].format).toBe('sphere');
  });

  it('turns .WRD and .PHN sample offsets into seconds at 16 kHz', async () => {
    const root = fixture();
    const p = await prepareTimit(root, { outDir: tmp(), logger: quiet });
    const s = p.splits.dev.supervisions[0];
    const wrd = (await import('node:fs'))
      .readFileSync(join(root, 'TEST', 'DR1', 'FAKS0', 'SI943.WRD'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    expect(s.alignment!.word!.map((w) => w.symbol)).toEqual(['DEV', 'WORDS']);
    expectClose(
      s.alignment!.word!.map((w) => w.startSec),
      wrd.map((f) => Number(f[0]) / 16000),
      1e-12,
    );
    expectClose(
      s.alignment!.word!.map((w) => w.durationSec),
      wrd.map((f) => (Number(f[1]) - Number(f[0])) / 16000),
      1e-12,
    );
    const phones = s.alignment!.phone!;
    expect(phones[0]).toEqual({ symbol: 'h#', startSec: 0, durationSec: 0.1 });
    expectClose(phones[phones.length - 1].startSec + phones[phones.length - 1].durationSec, s.durationSec, 1e-12);
  });

  it('matches names case-insensitively and honours includeSa and testSet complete', async () => {
    const root = fixture(true);
    expect(findTimitRoot(join(root, '..'))).toBe(root);
    expect(findTimitRoot(root)).toBe(root);
    const p = await prepareTimit(join(root, '..'), {
      outDir: tmp(),
      includeSa: true,
      testSet: 'complete',
      logger: quiet,
    });
    expect(p.splits.train.supervisions.map((s) => s.id)).toEqual([
      'fcjf0_sa1',
      'fcjf0_si1027',
      'fcjf0_sx127',
      'maeb0_si1411',
    ]);
    expect(p.splits.dev.supervisions.map((s) => s.id)).toEqual(['faks0_sa2', 'faks0_si943']);
    expect(p.splits.test.supervisions.map((s) => s.id)).toEqual(['mdab0_si1039', 'mdab0_sx139', 'mthc9_sx1']);
  });

  it('counts missing transcripts, digits in transcripts and malformed alignments as skips', async () => {
    const root = fixture();
    const spk = join(root, 'TRAIN', 'DR1', 'FCJF0');
    writeFileSync(join(spk, 'SI1027.TXT'), '0 20000 Call 911 now.\n');
    rmSync(join(spk, 'SX127.TXT'));
    writeFileSync(join(root, 'TRAIN', 'DR2', 'MAEB0', 'SI1411.PHN'), '0 100 h#\n100 oops ax\n');
    makeTimitTree(root, [{ part: 'TRAIN', region: 'DR2', speaker: 'MAEB0', utt: 'SX21', words: ['fine'] }]);
    const q = await prepareTimit(root, { outDir: tmp(), testSpeakers: ['mdab0', 'mthc9'], logger: quiet });
    expect(q.splits.train.supervisions.map((s) => s.id)).toEqual(['maeb0_sx21']);
    expect(q.splits.test.supervisions.map((s) => s.id)).toEqual(['mdab0_si1039', 'mdab0_sx139', 'mthc9_sx1']);
    expect(Object.fromEntries(q.info.skipped.reasons.map((r) => [r.reason, r.examples]))).toEqual({
      [`${UNSUPPORTED_CHARACTER_REASON}: '9' '1'`]: ['fcjf0_si1027'],
      'missing transcript (.TXT)': ['fcjf0_sx127'],
      'malformed .WRD/.PHN alignment': ['maeb0_si1411'],
    });
    // with every train utterance skipped, the empty split is an error that says so
    rmSync(join(root, 'TRAIN', 'DR2', 'MAEB0', 'SX21.WAV'));
    await expect(prepareTimit(root, { outDir: tmp(), logger: quiet })).rejects.toThrow(
      /split 'train' has no utterances/,
    );
  });
});
