import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { adapters, getAdapter, prepareCorpus } from '../../corpora/index.ts';
import { readCorpus } from '../../src/corpus/manifest.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { makeFsddDir } from './helpers/fixtures.ts';
import { memoryLogger, tmp } from '../corpus/helpers.ts';

describe('corpus adapter registry', () => {
  it('lists the adapters with a uniform interface and documented options', () => {
    for (const name of ['fsdd', 'librispeech', 'timit', 'kaldi']) {
      const a = adapters[name];
      expect(a.name).toBe(name);
      expect(typeof a.prepare).toBe('function');
      expect(Object.keys(a.optionsDoc).length).toBeGreaterThan(0);
      expect(existsSync(new URL(`../../corpora/${name}/README.md`, import.meta.url))).toBe(true);
    }
    expect(typeof adapters.librispeech.download).toBe('function');
  });

  it('rejects an unknown corpus name, listing the known ones', () => {
    expect(() => getAdapter('tidigits')).toThrow(ConfigError);
    expect(() => getAdapter('tidigits')).toThrow(
      /unknown corpus 'tidigits'; expected one of .*fsdd.*kaldi.*librispeech.*timit/,
    );
  });

  it('prepareCorpus prepares and writes the data dir (manifests + corpus.json)', async () => {
    const src = makeFsddDir(join(tmp(), 'fsdd'), ['p', 'q', 'r'], 1);
    const out = join(tmp(), 'data');
    const p = await prepareCorpus('fsdd', src, { outDir: out, mode: 'isolated', logger: memoryLogger() });
    const back = await readCorpus(out);
    expect(back.info).toEqual(p.info);
    expect(back.splits).toEqual(p.splits);
  });
});
