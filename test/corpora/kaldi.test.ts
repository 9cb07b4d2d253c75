import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { encodeWav } from '../../src/audio/index.ts';
import { prepareKaldi } from '../../corpora/kaldi/index.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { burst } from './helpers/fixtures.ts';
import { memoryLogger, put, tmp } from '../corpus/helpers.ts';

const quiet = memoryLogger();

/** data/{train,test} Kaldi dirs over 16 kHz WAVs; speaker `shared` optionally in both. */
function kaldiData(opts: { sharedSpeaker?: boolean; testRateHz?: number } = {}): string {
  const root = tmp();
  const rng = new Rng(3);
  const mk = (split: string, utts: [string, string, string][], rate: number) => {
    const scp: string[] = [],
      text: string[] = [],
      u2s: string[] = [];
    for (const [id, spk, words] of utts) {
      const wav = put(join(root, 'wav', `${id}.wav`), encodeWav(burst(rng, 0.3, rate), rate));
      scp.push(`${id} ${wav}`);
      text.push(`${id} ${words}`);
      u2s.push(`${id} ${spk}`);
    }
    put(join(root, 'data', split, 'wav.scp'), scp.join('\n') + '\n');
    put(join(root, 'data', split, 'text'), text.join('\n') + '\n');
    put(join(root, 'data', split, 'utt2spk'), u2s.join('\n') + '\n');
  };
  mk(
    'train',
    [
      ['a-1', 'a', 'one two'],
      ['b-1', 'b', 'three'],
    ],
    16000,
  );
  mk('test', [['c-1', opts.sharedSpeaker ? 'a' : 'c', 'four']], opts.testRateHz ?? 16000);
  return join(root, 'data');
}

describe('kaldi adapter', () => {
  it('imports every data dir under data/ as a split named after it', async () => {
    const p = await prepareKaldi(kaldiData(), { outDir: tmp(), logger: quiet });
    expect(p.info.corpus).toBe('kaldi');
    expect(p.info.splits).toEqual(['test', 'train']);
    expect(p.splits.train.supervisions.map((s) => [s.id, s.speaker, s.text])).toEqual([
      ['a-1', 'a', 'ONE TWO'],
      ['b-1', 'b', 'THREE'],
    ]);
    expect(p.info.counts.test.supervisions).toBe(1);
  });

  it('imports a single data dir under splitName, and selects / orders splits', async () => {
    const data = kaldiData();
    const one = await prepareKaldi(join(data, 'train'), { outDir: tmp(), splitName: 'dev', logger: quiet });
    expect(one.info.splits).toEqual(['dev']);
    const two = await prepareKaldi(data, { outDir: tmp(), splits: ['train', 'test'], logger: quiet });
    expect(two.info.splits).toEqual(['train', 'test']);
    await expect(prepareKaldi(data, { outDir: tmp(), splits: ['dev'], logger: quiet })).rejects.toThrow(
      /no Kaldi data dir 'dev'.*one of test, train/,
    );
  });

  it('fails on mixed sample rates and (when asked) on a speaker in two splits', async () => {
    await expect(prepareKaldi(kaldiData({ testRateHz: 8000 }), { outDir: tmp(), logger: quiet })).rejects.toThrow(
      /mixed sample rates.*8000 Hz everywhere \(e\.g\. .*c-1\.wav\).*16000 Hz in .*a-1\.wav/,
    );
    const shared = kaldiData({ sharedSpeaker: true });
    await expect(prepareKaldi(shared, { outDir: tmp(), logger: quiet })).resolves.toBeTruthy();
    await expect(prepareKaldi(shared, { outDir: tmp(), disjointSpeakers: true, logger: quiet })).rejects.toThrow(
      /speaker 'a' appears in two splits/,
    );
  });

  it('rejects unknown options', async () => {
    await expect(prepareKaldi(kaldiData(), { outDir: tmp(), split: 'x' } as never)).rejects.toBeInstanceOf(ConfigError);
  });
});
