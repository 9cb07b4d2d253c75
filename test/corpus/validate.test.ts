import { describe, it, expect } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { validateCorpus, validateDataDir, makeCorpusInfo } from '../../src/corpus/validate.ts';
import { writeCorpus } from '../../src/corpus/manifest.ts';
import { CorpusError, SkipCounter } from '../../src/util/errors.ts';
import { simpleSplit, tmp } from './helpers.ts';

describe('validateCorpus', () => {
  it('accepts a consistent corpus and returns counts and the sample rate', () => {
    const dir = tmp();
    const train = simpleSplit(dir, [
      { id: 'a1', speaker: 'a', durationSec: 1.5 },
      { id: 'b1', speaker: 'b', durationSec: 0.5 },
    ]);
    const test = simpleSplit(dir, [{ id: 'c1', speaker: 'c', durationSec: 2 }]);
    const s = validateCorpus({ train, test }, { disjointSpeakers: true });
    expect(s.sampleRateHz).toBe(16000);
    expect(s.counts).toEqual({
      train: { recordings: 2, supervisions: 2, durationSec: 2, speakers: 2 },
      test: { recordings: 1, supervisions: 1, durationSec: 2, speakers: 1 },
    });
  });

  it('rejects duplicate recording and supervision ids across splits, naming both splits', () => {
    const dir = tmp();
    const train = simpleSplit(dir, [{ id: 'a1', speaker: 'a' }]);
    const test = simpleSplit(dir, [{ id: 'a1', speaker: 'b' }]);
    expect(() => validateCorpus({ train, test })).toThrow(
      /duplicate recording id 'a1'.*split 'train' and in split 'test'/,
    );
    const t2 = simpleSplit(dir, [{ id: 'x1', speaker: 'b' }]);
    t2.supervisions[0].id = 'a1';
    expect(() => validateCorpus({ train, test: t2 })).toThrow(/duplicate supervision id 'a1'/);
  });

  it('rejects a missing audio file, naming the file and the recording', () => {
    const dir = tmp();
    const train = simpleSplit(dir, [{ id: 'a1', speaker: 'a' }]);
    rmSync(train.recordings[0].path);
    expect(() => validateCorpus({ train })).toThrow(CorpusError);
    expect(() => validateCorpus({ train })).toThrow(
      new RegExp(`${train.recordings[0].path}, utterance 'a1': audio file not found`),
    );
    expect(() => validateCorpus({ train }, { checkAudioFiles: false })).not.toThrow();
  });

  it('rejects mixed sample rates, naming both rates and an example file of each', () => {
    const dir = tmp();
    const train = simpleSplit(dir, [{ id: 'a1', speaker: 'a', rate: 16000 }]);
    const test = simpleSplit(dir, [{ id: 'b1', speaker: 'b', rate: 8000 }]);
    let msg = '';
    try {
      validateCorpus({ train, test });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain('mixed sample rates');
    expect(msg).toContain(`16000 Hz everywhere (e.g. ${train.recordings[0].path})`);
    expect(msg).toContain(`8000 Hz in ${test.recordings[0].path}`);
    expect(validateCorpus({ train, test }, { allowMixedSampleRates: true }).sampleRateHz).toBe(16000);
  });

  it('rejects zero durations, supervisions outside their recording and unnormalised text', () => {
    const dir = tmp();
    const z = simpleSplit(dir, [{ id: 'a1', speaker: 'a' }]);
    z.recordings[0].numSamples = 0;
    z.recordings[0].durationSec = 0;
    expect(() => validateCorpus({ train: z })).toThrow(/empty recording/);
    const past = simpleSplit(dir, [{ id: 'a1', speaker: 'a', durationSec: 1 }]);
    past.supervisions[0].startSec = 0.5;
    expect(() => validateCorpus({ train: past })).toThrow(
      /extends past the end.*end <= 1\.0000 s.*found end 1\.5000 s/,
    );
    const zs = simpleSplit(dir, [{ id: 'a1', speaker: 'a' }]);
    zs.supervisions[0].durationSec = 0;
    expect(() => validateCorpus({ train: zs })).toThrow(/empty or negative supervision/);
    const lower = simpleSplit(dir, [{ id: 'a1', speaker: 'a', text: 'hello  world' }]);
    expect(() => validateCorpus({ train: lower })).toThrow(/transcript is not normalised/);
    const orphan = simpleSplit(dir, [{ id: 'a1', speaker: 'a' }]);
    orphan.supervisions[0].recordingId = 'nope';
    expect(() => validateCorpus({ train: orphan })).toThrow(/refers to recording 'nope'.*no such recording/);
    const align = simpleSplit(dir, [{ id: 'a1', speaker: 'a', durationSec: 1 }]);
    align.supervisions[0].alignment = { word: [{ symbol: 'HELLO', startSec: 0.8, durationSec: 0.5 }] };
    expect(() => validateCorpus({ train: align })).toThrow(/word alignment item 'HELLO' lies outside/);
    expect(() => validateCorpus({ train: simpleSplit(dir, []) })).toThrow(/split 'train' has no utterances/);
  });

  it('rejects a speaker in two splits when the adapter promises disjoint speakers', () => {
    const dir = tmp();
    const train = simpleSplit(dir, [{ id: 'a1', speaker: 'a' }]);
    const test = simpleSplit(dir, [{ id: 'a2', speaker: 'a' }]);
    expect(() => validateCorpus({ train, test })).not.toThrow();
    expect(() => validateCorpus({ train, test }, { disjointSpeakers: true })).toThrow(
      /speaker 'a' appears in two splits.*split 'train' and split 'test'/,
    );
  });

  it('validates a data dir from disk and checks corpus.json against the manifests', async () => {
    const dir = tmp();
    const data = join(dir, 'data');
    const train = simpleSplit(dir, [{ id: 'a1', speaker: 'a' }]);
    const summary = validateCorpus({ train });
    const info = makeCorpusInfo('t', { train }, summary, new SkipCounter(), {});
    await writeCorpus(data, info, { train });
    expect((await validateDataDir(data)).counts.train.supervisions).toBe(1);
    await writeCorpus(data, { ...info, counts: { train: { ...info.counts.train, supervisions: 5 } } }, { train });
    await expect(validateDataDir(data)).rejects.toThrow(
      /counts for split 'train' disagree.*expected 1 recordings, 1 supervisions, found 1 recordings, 5 supervisions/,
    );
  });
});
