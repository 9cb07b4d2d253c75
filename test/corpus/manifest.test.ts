import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  iterateJsonl,
  readSplit,
  readCorpus,
  readCorpusInfo,
  writeCorpus,
  parseRecording,
  storedPath,
  compareIds,
} from '../../src/corpus/manifest.ts';
import type { CorpusInfo, SplitManifest } from '../../src/corpus/types.ts';
import { CorpusError } from '../../src/util/errors.ts';
import { put, simpleSplit, tmp } from './helpers.ts';

function info(splits: Record<string, SplitManifest>): CorpusInfo {
  return {
    corpus: 'test',
    splits: Object.keys(splits),
    sampleRateHz: 16000,
    counts: Object.fromEntries(
      Object.entries(splits).map(([k, m]) => [
        k,
        { recordings: m.recordings.length, supervisions: m.supervisions.length, durationSec: 1, speakers: 1 },
      ]),
    ),
    skipped: { done: 2, skipped: 0, reasons: [] },
    options: { seed: 1 },
  };
}

describe('JSON Lines manifests', () => {
  it('round-trips splits and corpus.json; paths inside the data dir are stored relative to the split dir', async () => {
    const dir = tmp();
    const data = join(dir, 'data');
    const outside = simpleSplit(dir, [{ id: 'a1', speaker: 'a' }]);
    const inside = simpleSplit(data, [{ id: 'b1', speaker: 'b' }]);
    inside.supervisions[0].alignment = { word: [{ symbol: 'HELLO', startSec: 0.1, durationSec: 0.4 }] };
    inside.supervisions[0].custom = { gender: 'f' };
    const splits = { train: outside, test: inside };
    await writeCorpus(data, info(splits), splits);
    const lines = readFileSync(join(data, 'test', 'recordings.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(JSON.parse(lines[0]).path).toBe('../audio/b1.wav');
    expect(JSON.parse(readFileSync(join(data, 'train', 'recordings.jsonl'), 'utf8')).path).toBe(
      outside.recordings[0].path,
    );
    const back = await readCorpus(data);
    expect(back.info).toEqual(info(splits));
    expect(back.splits.train).toEqual(outside);
    expect(back.splits.test).toEqual(inside);
    expect(readdirSync(data).sort()).toEqual(['audio', 'corpus.json', 'test', 'train']);
  });

  it('reports a malformed line with file:line', async () => {
    const dir = tmp();
    const f = put(join(dir, 'x.jsonl'), '{"a":1}\n\n{"a":2}\n{"a": oops}\n');
    const seen: unknown[] = [];
    await expect(
      (async () => {
        for await (const v of iterateJsonl(f)) seen.push(v);
      })(),
    ).rejects.toThrow(`${f}:4`);
    expect(seen).toEqual([{ a: 1 }, { a: 2 }]);
    const err = await (async () => {
      for await (const _ of iterateJsonl(f)) void _;
    })().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorpusError);
    expect((err as CorpusError).location).toEqual({ file: f, line: 4 });
  });

  it('rejects records with a wrong field type or an unknown key, naming file:line and the field', async () => {
    const dir = tmp();
    const good = {
      id: 'r',
      speaker: 's',
      path: '/x.wav',
      format: 'wav',
      channel: 0,
      sampleRateHz: 16000,
      numSamples: 16000,
      durationSec: 1,
    };
    put(
      join(dir, 'train', 'recordings.jsonl'),
      JSON.stringify(good) + '\n' + JSON.stringify({ ...good, id: 'q', sampleRateHz: '16k' }) + '\n',
    );
    put(join(dir, 'train', 'supervisions.jsonl'), '');
    await expect(readSplit(dir, 'train')).rejects.toThrow(
      /recordings\.jsonl:2: bad field 'sampleRateHz'; expected a finite number >= 1, found "16k"/,
    );
    expect(() => parseRecording({ ...good, sampleRate: 8000 }, 'f', 3)).toThrow(/f:3: unknown key 'sampleRate'/);
    expect(() => parseRecording({ ...good, format: 'mp3' }, 'f', 1)).toThrow(/'wav', 'flac' or 'sphere'/);
  });

  it('treats a data dir without corpus.json as unfinished', async () => {
    const dir = tmp();
    await expect(readCorpusInfo(dir)).rejects.toThrow(/corpus\.json.*not a prepared data directory/);
  });

  it('removes corpus.json before rewriting, so a failed write never leaves a stale one', async () => {
    const dir = tmp();
    const data = join(dir, 'data');
    const m = simpleSplit(dir, [{ id: 'a1', speaker: 'a' }]);
    await writeCorpus(data, info({ train: m }), { train: m });
    expect(existsSync(join(data, 'corpus.json'))).toBe(true);
    const bad = info({ train: m, dev: m });
    await expect(
      writeCorpus(data, { ...bad, splits: ['train', '../evil'] }, { train: m, '../evil': m }),
    ).rejects.toThrow(/bad split name/);
    // validation of split names happens before anything is touched
    expect(existsSync(join(data, 'corpus.json'))).toBe(true);
    // a split listed without a manifest is refused too
    await expect(writeCorpus(data, bad, { train: m })).rejects.toThrow(/split 'dev'/);
    // no temp files are left behind
    expect(readdirSync(join(data, 'train')).sort()).toEqual(['recordings.jsonl', 'supervisions.jsonl']);
  });

  it('writes the same bytes for the same input', async () => {
    const dir = tmp();
    const m = simpleSplit(dir, [
      { id: 'a1', speaker: 'a' },
      { id: 'a2', speaker: 'a' },
    ]);
    await writeCorpus(join(dir, 'd1'), info({ train: m }), { train: m });
    await writeCorpus(join(dir, 'd2'), info({ train: m }), { train: m });
    for (const f of ['corpus.json', 'train/recordings.jsonl', 'train/supervisions.jsonl']) {
      expect(readFileSync(join(dir, 'd1', f))).toEqual(readFileSync(join(dir, 'd2', f)));
    }
  });

  it('stores paths outside the data dir as absolute and sorts ids in C-locale order', () => {
    expect(storedPath('/data/x/wav/a.wav', '/data/x', '/data/x/train')).toBe('../wav/a.wav');
    expect(storedPath('/data/xy/a.wav', '/data/x', '/data/x/train')).toBe('/data/xy/a.wav');
    expect(['b', 'B', 'a_1', 'a-1', 'a10', 'a2'].sort(compareIds)).toEqual(['B', 'a-1', 'a10', 'a2', 'a_1', 'b']);
  });
});
