import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  prepareLibrispeech,
  findLibrispeechRoot,
  defaultSplits,
  downloadLibrispeech,
  LIBRISPEECH_MD5,
} from '../../corpora/librispeech/index.ts';
import { CORRUPT_AUDIO_REASON, MISSING_AUDIO_REASON } from '../../src/corpus/skips.ts';
import { UNSUPPORTED_CHARACTER_REASON } from '../../src/corpus/text.ts';
import { ConfigError, DownloadError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { encodeFlac16 } from './helpers/flac.ts';
import { burst, garbage, makeLibriSubset } from './helpers/fixtures.ts';
import { makeTarGz, type TarMember } from './helpers/tar.ts';
import { memoryLogger, put, tmp } from '../corpus/helpers.ts';

const quiet = memoryLogger();
const SPEAKERS_TXT =
  '; ID |SEX| SUBSET | MINUTES | NAME\n19 | F | train-clean-100 | 25.19 | Kara Shallenberg\n84 | F | dev-clean | 8.02 | Christie Nowak\n';

function fixture(): string {
  const root = join(tmp(), 'LibriSpeech');
  makeLibriSubset(root, 'train-clean-100', [
    { speaker: '19', chapter: '198', index: 0, text: "NORTHANGER ABBEY IT'S A NOVEL" },
    { speaker: '19', chapter: '198', index: 1, text: 'CHAPTER ONE' },
    { speaker: '19', chapter: '227', index: 0, text: 'NO ONE WHO HAD EVER SEEN CATHERINE' },
    { speaker: '26', chapter: '495', index: 0, text: 'THE BOY' },
  ]);
  makeLibriSubset(root, 'dev-clean', [{ speaker: '84', chapter: '121123', index: 0, text: 'GO DO YOU HEAR' }]);
  makeLibriSubset(root, 'test-clean', [
    { speaker: '1089', chapter: '134686', index: 0, text: 'HE HOPED THERE WOULD BE STEW' },
  ]);
  makeLibriSubset(root, 'test-other', [{ speaker: '1688', chapter: '142285', index: 0, text: 'THERE' }]);
  put(join(root, 'SPEAKERS.TXT'), SPEAKERS_TXT);
  return root;
}

describe('librispeech prepare', () => {
  it('reads the standard layout into train / dev-clean / test-clean splits with speaker metadata', async () => {
    const root = fixture();
    const p = await prepareLibrispeech(root, { outDir: tmp(), logger: quiet });
    expect(p.info.splits).toEqual(['train', 'dev', 'test']);
    expect(p.info.options.splits).toEqual({ train: ['train-clean-100'], dev: ['dev-clean'], test: ['test-clean'] });
    expect(p.splits.train.supervisions.map((s) => [s.id, s.speaker, s.text])).toEqual([
      ['19-198-0000', '19', "NORTHANGER ABBEY IT'S A NOVEL"],
      ['19-198-0001', '19', 'CHAPTER ONE'],
      ['19-227-0000', '19', 'NO ONE WHO HAD EVER SEEN CATHERINE'],
      ['26-495-0000', '26', 'THE BOY'],
    ]);
    expect(p.splits.train.supervisions[0].custom).toEqual({ subset: 'train-clean-100', chapter: '198', gender: 'f' });
    expect(p.splits.train.supervisions[3].custom).toEqual({ subset: 'train-clean-100', chapter: '495' });
    const r = p.splits.dev.recordings[0];
    expect(r).toMatchObject({ id: '84-121123-0000', format: 'flac', sampleRateHz: 16000, numSamples: 4800 });
    expect(r.path).toBe(join(root, 'dev-clean', '84', '121123', '84-121123-0000.flac'));
    expect(p.info.sampleRateHz).toBe(16000);
  });

  it('finds the root from its parent or from one subset, and honours explicit splits', async () => {
    const root = fixture();
    expect(findLibrispeechRoot(join(root, '..'))).toEqual({
      root,
      subsets: ['dev-clean', 'test-clean', 'test-other', 'train-clean-100'],
    });
    expect(findLibrispeechRoot(join(root, 'dev-clean'))).toEqual({ root, subsets: ['dev-clean'] });
    expect(defaultSplits(['dev-clean-2', 'train-clean-5'])).toEqual({ train: ['train-clean-5'], dev: ['dev-clean-2'] });
    const p = await prepareLibrispeech(root, {
      outDir: tmp(),
      splits: { test: ['test-clean', 'test-other'] },
      logger: quiet,
    });
    expect(p.info.splits).toEqual(['test']);
    expect(p.splits.test.supervisions.map((s) => s.id)).toEqual(['1089-134686-0000', '1688-142285-0000']);
    await expect(
      prepareLibrispeech(root, { outDir: tmp(), splits: { dev: ['dev-other'] }, logger: quiet }),
    ).rejects.toThrow(/subset 'dev-other' not found/);
    await expect(prepareLibrispeech(root, { outDir: tmp(), split: {} } as never)).rejects.toBeInstanceOf(ConfigError);
  });

  it('keeps a seeded subset with maxUtterancesPerSplit', async () => {
    const root = fixture();
    const a = await prepareLibrispeech(root, { outDir: tmp(), maxUtterancesPerSplit: 2, logger: quiet });
    const b = await prepareLibrispeech(root, { outDir: tmp(), maxUtterancesPerSplit: 2, logger: quiet });
    expect(a.splits.train.supervisions.length).toBe(2);
    expect(a.splits.train.recordings.map((r) => r.id)).toEqual(a.splits.train.supervisions.map((s) => s.id));
    expect(a.splits.train.supervisions).toEqual(b.splits.train.supervisions);
  });

  it('counts missing and corrupt FLACs, untranscribed audio and digits in transcripts as skips', async () => {
    const root = fixture();
    const ch = join(root, 'train-clean-100', '19', '198');
    writeFileSync(
      join(ch, '19-198.trans.txt'),
      '19-198-0000 NORTHANGER ABBEY\n19-198-0001 CHAPTER 1\n19-198-0002 NOT RECORDED\n',
    );
    put(join(ch, '19-198-0003.flac'), encodeFlac16([burst(new Rng(1), 0.1, 16000)], 16000));
    put(join(root, 'train-clean-100', '26', '495', '26-495-0000.flac'), garbage(new Rng(2)));
    const p = await prepareLibrispeech(root, { outDir: tmp(), logger: quiet });
    expect(p.splits.train.supervisions.map((s) => s.id)).toEqual(['19-198-0000', '19-227-0000']);
    expect(Object.fromEntries(p.info.skipped.reasons.map((r) => [r.reason, r.examples]))).toEqual({
      [MISSING_AUDIO_REASON]: ['19-198-0002'],
      [`${UNSUPPORTED_CHARACTER_REASON}: '1'`]: ['19-198-0001'],
      'audio without a transcript': ['19-198-0003'],
      [CORRUPT_AUDIO_REASON]: ['26-495-0000'],
    });
    expect(p.info.skipped.done).toBe(4);
  });
});

// ------------------------------------------------------------------------------------------------
// Download: a LibriSpeech-layout archive served on 127.0.0.1 with Range support.

interface Served {
  archive: Uint8Array;
  cutFirstAt?: number;
  ignoreRange?: boolean;
  requests: { range?: string; status: number }[];
}
let server: Server;
let baseUrl = '';
const served: Record<string, Served> = {};

function archiveBytes(extra: TarMember[] = []): Uint8Array {
  const rng = new Rng(42);
  const flac = (d: number) => encodeFlac16([burst(rng, d, 16000)], 16000);
  return makeTarGz([
    { path: 'LibriSpeech/', type: '5' },
    { path: 'LibriSpeech/SPEAKERS.TXT', data: SPEAKERS_TXT },
    { path: 'LibriSpeech/dev-clean/', type: '5' },
    {
      path: 'LibriSpeech/dev-clean/84/121123/84-121123.trans.txt',
      data: '84-121123-0000 GO DO YOU HEAR\n84-121123-0001 BUT IN LESS THAN FIVE MINUTES\n',
    },
    { path: 'LibriSpeech/dev-clean/84/121123/84-121123-0000.flac', data: flac(0.4) },
    { path: 'LibriSpeech/dev-clean/84/121123/84-121123-0001.flac', data: flac(0.6) },
    ...extra,
  ]);
}

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

beforeAll(async () => {
  server = createServer((req, res) => {
    const name = (req.url ?? '')
      .split('/')
      .pop()!
      .replace(/\.tar\.gz$/, '');
    const s = served[name];
    if (!s) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    const total = s.archive.length;
    const m = s.ignoreRange ? null : /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    if (start >= total && m) {
      res.writeHead(416, { 'Content-Range': `bytes */${total}` });
      s.requests.push({ range: req.headers.range, status: 416 });
      res.end();
      return;
    }
    const status = m ? 206 : 200;
    s.requests.push({ range: req.headers.range, status });
    res.writeHead(status, {
      'Content-Length': String(total - start),
      'Accept-Ranges': 'bytes',
      ...(m ? { 'Content-Range': `bytes ${start}-${total - 1}/${total}` } : {}),
    });
    if (s.cutFirstAt !== undefined) {
      const cut = s.cutFirstAt;
      s.cutFirstAt = undefined;
      // give the client time to consume what was sent, then drop the connection
      res.write(Buffer.from(s.archive.subarray(start, cut)), () => setTimeout(() => res.socket?.destroy(), 300));
      return;
    }
    res.end(Buffer.from(s.archive.subarray(start)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/resources/12`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('librispeech download', () => {
  it('resumes an interrupted download with a Range request, verifies md5, extracts and prepares', async () => {
    const archive = archiveBytes();
    const half = Math.floor(archive.length / 2);
    served['dev-clean'] = { archive, cutFirstAt: half, requests: [] };
    const dest = tmp();
    const err = await downloadLibrispeech('dev-clean', dest, { baseUrl, md5: md5(archive), logger: quiet }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toMatch(/interrupted after \d+ bytes.*run again to resume/);
    const have = statSync(join(dest, 'dev-clean.tar.gz.part')).size;
    expect(have).toBeGreaterThan(0);
    expect(have).toBeLessThanOrEqual(half);
    expect(readFileSync(join(dest, 'dev-clean.tar.gz.part'))).toEqual(Buffer.from(archive.subarray(0, have)));
    expect(existsSync(join(dest, 'LibriSpeech'))).toBe(false);
    // the second try asks for the rest only
    const dir = await downloadLibrispeech('dev-clean', dest, { baseUrl, md5: md5(archive), logger: quiet });
    expect(served['dev-clean'].requests).toEqual([
      { range: undefined, status: 200 },
      { range: `bytes=${have}-`, status: 206 },
    ]);
    expect(dir).toBe(join(dest, 'LibriSpeech', 'dev-clean'));
    expect(readdirSync(join(dest, 'LibriSpeech')).sort()).toEqual(['SPEAKERS.TXT', 'dev-clean']);
    expect(existsSync(join(dest, 'dev-clean.tar.gz'))).toBe(false);
    expect(readdirSync(dest).filter((f) => f.includes('tmp'))).toEqual([]);
    const p = await prepareLibrispeech(join(dest, 'LibriSpeech'), { outDir: tmp(), logger: quiet });
    expect(p.splits.dev.supervisions.map((s) => [s.id, s.text, s.custom!.gender])).toEqual([
      ['84-121123-0000', 'GO DO YOU HEAR', 'f'],
      ['84-121123-0001', 'BUT IN LESS THAN FIVE MINUTES', 'f'],
    ]);
    // a second call finds it in place and fetches nothing
    await downloadLibrispeech('dev-clean', dest, { baseUrl, md5: md5(archive), logger: quiet });
    expect(served['dev-clean'].requests.length).toBe(2);
  });

  it('starts over when the server ignores the Range request', async () => {
    const archive = archiveBytes();
    served['dev-clean'] = { archive, ignoreRange: true, requests: [] };
    const dest = tmp();
    writeFileSync(join(dest, 'dev-clean.tar.gz.part'), archive.subarray(0, 100));
    await downloadLibrispeech('dev-clean', dest, { baseUrl, md5: md5(archive), logger: quiet, keepArchive: true });
    expect(served['dev-clean'].requests).toEqual([{ range: 'bytes=100-', status: 200 }]);
    expect(readFileSync(join(dest, 'dev-clean.tar.gz'))).toEqual(Buffer.from(archive));
  });

  it('fails on an md5 mismatch (official sum by default), deletes the download and extracts nothing', async () => {
    served['test-clean'] = { archive: archiveBytes(), requests: [] };
    const dest = tmp();
    const err = await downloadLibrispeech('test-clean', dest, { baseUrl, logger: quiet }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toContain(`md5 mismatch for ${baseUrl}/test-clean.tar.gz`);
    expect((err as Error).message).toContain(
      `expected ${LIBRISPEECH_MD5['test-clean']}, found ${md5(served['test-clean'].archive)}`,
    );
    expect(readdirSync(dest)).toEqual([]);
  });

  it('refuses an archive with a path-traversal member, naming it, and leaves no extracted output', async () => {
    const archive = archiveBytes([{ path: 'LibriSpeech/dev-other/../../../escape.txt', data: 'gotcha' }]);
    served['dev-other'] = { archive, requests: [] };
    const dest = join(tmp(), 'dl');
    const err = await downloadLibrispeech('dev-other', dest, { baseUrl, md5: md5(archive), logger: quiet }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as Error).message).toContain("unsafe archive member 'LibriSpeech/dev-other/../../../escape.txt'");
    expect(readdirSync(dest)).toEqual(['dev-other.tar.gz']);
    expect(existsSync(join(dest, '..', 'escape.txt'))).toBe(false);
  });

  it('reports HTTP errors and unknown subsets without an md5', async () => {
    const dest = tmp();
    await expect(downloadLibrispeech('train-clean-360', dest, { baseUrl, logger: quiet })).rejects.toThrow(/HTTP 404/);
    await expect(downloadLibrispeech('train-clean-9000', dest, { baseUrl, logger: quiet })).rejects.toThrow(
      /no md5 sum known/,
    );
    expect(readdirSync(dest)).toEqual([]);
  });
});
