/**
 * LibriSpeech adapter (see README.md). Layout:
 *   <root>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
 *   <root>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   ("<uttId> <TEXT>" per line)
 *   <root>/SPEAKERS.TXT                                                 (optional: gender per reader)
 * `dir` may be the root (containing subsets), its parent (containing LibriSpeech/), or one subset.
 */
import { existsSync, promises as fsp, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  checkAdapterOptions,
  recordedOptions,
  type CommonPrepareOptions,
  type CorpusAdapter,
} from '../../src/corpus/adapter.ts';
import { compareIds } from '../../src/corpus/manifest.ts';
import { normalizeOrSkip, probeAudioOrSkip, reportSkips } from '../../src/corpus/skips.ts';
import type { PreparedCorpus, Recording, SplitManifest, Supervision } from '../../src/corpus/types.ts';
import { makeCorpusInfo, validateCorpus } from '../../src/corpus/validate.ts';
import { ConfigError, CorpusError, SkipCounter } from '../../src/util/errors.ts';
import { log, type Logger } from '../../src/util/log.ts';
import { Rng } from '../../src/util/rng.ts';
import { downloadLibrispeech, LIBRISPEECH_BASE_URL } from './download.ts';

export { downloadLibrispeech, LIBRISPEECH_MD5, LIBRISPEECH_BASE_URL } from './download.ts';

export interface LibrispeechOptions {
  /**
   * Split name -> subsets. Default: train = every `train-*` subset present, dev = `dev-clean`
   * (else the first `dev-*`), test = `test-clean` (else the first `test-*`); absent ones are left out.
   */
  splits?: Record<string, string[]>;
  /** At most this many utterances per split, a seeded random subset (default: all). */
  maxUtterancesPerSplit?: number;
  /** Seed for `maxUtterancesPerSplit` (default 0). */
  seed?: number;
}

export const LIBRISPEECH_OPTIONS_DOC: Record<string, string> = {
  splits: 'Record<split, subset[]>, default {train: every train-* present, dev: [dev-clean], test: [test-clean]}',
  maxUtterancesPerSplit: 'integer, default all: keep a seeded random subset of this many utterances per split',
  seed: 'integer, default 0: seed of the subset choice',
};

const SUBSET = /^(train|dev|test)-[A-Za-z0-9-]+$/;

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Find the LibriSpeech root and the subsets present under it. */
export function findLibrispeechRoot(dir: string): { root: string; subsets: string[] } {
  const d = resolve(dir);
  const subsetsIn = (r: string) =>
    isDir(r)
      ? readdirSync(r)
          .filter((f) => SUBSET.test(f) && isDir(join(r, f)))
          .sort()
      : [];
  for (const r of [d, join(d, 'LibriSpeech')]) {
    const s = subsetsIn(r);
    if (s.length > 0) return { root: r, subsets: s };
  }
  if (SUBSET.test(basename(d)) && isDir(d)) return { root: dirname(d), subsets: [basename(d)] };
  throw new CorpusError('no LibriSpeech subsets found', {
    file: d,
    expected: 'a directory with train-*/dev-*/test-* subsets (or LibriSpeech/ holding them, or one subset)',
    found: 'none',
  });
}

/** Default split -> subsets mapping for the subsets present. */
export function defaultSplits(subsets: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const train = subsets.filter((s) => s.startsWith('train-'));
  if (train.length > 0) out.train = train;
  const pick = (kind: string) =>
    subsets.includes(`${kind}-clean`) ? [`${kind}-clean`] : subsets.filter((s) => s.startsWith(`${kind}-`)).slice(0, 1);
  const dev = pick('dev');
  if (dev.length > 0) out.dev = dev;
  const test = pick('test');
  if (test.length > 0) out.test = test;
  return out;
}

/** SPEAKERS.TXT: `ID | SEX | SUBSET | MINUTES | NAME`, `;` comments. */
export async function readSpeakersTxt(path: string): Promise<Map<string, { gender: string; name: string }>> {
  const out = new Map<string, { gender: string; name: string }>();
  if (!existsSync(path)) return out;
  for (const line of (await fsp.readFile(path, 'utf8')).split('\n')) {
    if (line.startsWith(';') || line.trim().length === 0) continue;
    const f = line.split('|').map((x) => x.trim());
    if (f.length >= 5 && /^\d+$/.test(f[0])) out.set(f[0], { gender: f[1].toLowerCase(), name: f.slice(4).join('|') });
  }
  return out;
}

const UTT_ID = /^(\d+)-(\d+)-(\d+)$/;

/** Prepare one subset's recordings and supervisions. */
async function prepareSubset(
  root: string,
  subset: string,
  speakers: Map<string, { gender: string }>,
  skips: SkipCounter,
  logger: Logger,
): Promise<SplitManifest> {
  const recordings: Recording[] = [];
  const supervisions: Supervision[] = [];
  const dir = join(root, subset);
  const speakerDirs = readdirSync(dir)
    .filter((s) => /^\d+$/.test(s) && isDir(join(dir, s)))
    .sort(compareIds);
  const progress = logger.progress(`librispeech ${subset}`, speakerDirs.length, 'speakers');
  for (const spk of speakerDirs) {
    for (const chapter of readdirSync(join(dir, spk))
      .filter((c) => /^\d+$/.test(c))
      .sort(compareIds)) {
      const chDir = join(dir, spk, chapter);
      if (!isDir(chDir)) continue;
      const trans = join(chDir, `${spk}-${chapter}.trans.txt`);
      const flacs = readdirSync(chDir)
        .filter((f) => f.endsWith('.flac'))
        .sort(compareIds);
      if (!existsSync(trans)) {
        for (const f of flacs) skips.skip(f.replace(/\.flac$/, ''), 'audio without a transcript');
        continue;
      }
      const lines = (await fsp.readFile(trans, 'utf8')).split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i].replace(/\r$/, '');
        if (line.trim().length === 0) continue;
        const m = /^(\S+)\s*(.*)$/.exec(line)!;
        const uttId = m[1];
        const idm = UTT_ID.exec(uttId);
        if (!idm || idm[1] !== spk || idm[2] !== chapter) {
          const cause = `${trans}:${i + 1}: utterance id '${uttId}' does not match ${spk}-${chapter}-NNNN`;
          skips.skip(uttId, 'transcript line for an utterance of another chapter', cause);
          logger.debug(cause);
          continue;
        }
        const text = normalizeOrSkip(m[2], { file: trans, line: i + 1, uttId }, skips, logger);
        if (text === null) continue;
        const path = join(chDir, `${uttId}.flac`);
        const info = await probeAudioOrSkip(path, [uttId], skips, logger);
        if (!info) continue;
        const durationSec = info.numSamples / info.sampleRateHz;
        recordings.push({
          id: uttId,
          speaker: spk,
          path,
          format: info.format,
          channel: 0,
          sampleRateHz: info.sampleRateHz,
          numSamples: info.numSamples,
          durationSec,
        });
        const meta = speakers.get(spk);
        supervisions.push({
          id: uttId,
          recordingId: uttId,
          speaker: spk,
          startSec: 0,
          durationSec,
          text,
          custom: { subset, chapter, ...(meta ? { gender: meta.gender } : {}) },
        });
        skips.done++;
      }
      // FLAC files with no transcript line.
      const listed = new Set(lines.map((l) => l.split(/\s/)[0]));
      for (const f of flacs) {
        const id = f.replace(/\.flac$/, '');
        if (!listed.has(id)) skips.skip(id, 'audio without a transcript');
      }
    }
    progress.tick();
  }
  progress.done();
  return { recordings, supervisions };
}

/** Prepare LibriSpeech (see the module comment and README.md). */
export async function prepareLibrispeech(
  dir: string,
  opts: LibrispeechOptions & CommonPrepareOptions,
): Promise<PreparedCorpus> {
  checkAdapterOptions('librispeech', opts, LIBRISPEECH_OPTIONS_DOC);
  const logger = opts.logger ?? log;
  const { root, subsets } = findLibrispeechRoot(dir);
  const splitMap = opts.splits ?? defaultSplits(subsets);
  if (Object.keys(splitMap).length === 0)
    throw new ConfigError('no LibriSpeech split to prepare', {
      keyPath: 'splits',
      expected: 'at least one split',
      found: `subsets present: ${subsets.join(', ')}`,
    });
  for (const [split, list] of Object.entries(splitMap)) {
    if (!Array.isArray(list) || list.length === 0)
      throw new ConfigError(`split '${split}' lists no subsets`, {
        keyPath: `splits.${split}`,
        expected: 'a non-empty array of subset names',
      });
    for (const s of list) {
      if (!subsets.includes(s))
        throw new ConfigError(`LibriSpeech subset '${s}' not found under ${root}`, {
          keyPath: `splits.${split}`,
          expected: `one of ${subsets.join(', ')}`,
          found: s,
        });
    }
  }
  const max = opts.maxUtterancesPerSplit;
  if (max !== undefined && (!Number.isInteger(max) || max < 1))
    throw new ConfigError("bad librispeech option 'maxUtterancesPerSplit'", {
      keyPath: 'maxUtterancesPerSplit',
      expected: 'an integer >= 1',
      found: JSON.stringify(max),
    });
  const seed = opts.seed ?? 0;
  const speakers = await readSpeakersTxt(join(root, 'SPEAKERS.TXT'));
  const skips = new SkipCounter();
  const splits: Record<string, SplitManifest> = {};
  for (const [split, list] of Object.entries(splitMap)) {
    const recordings: Recording[] = [];
    let supervisions: Supervision[] = [];
    for (const subset of list) {
      const m = await prepareSubset(root, subset, speakers, skips, logger);
      recordings.push(...m.recordings);
      supervisions.push(...m.supervisions);
    }
    supervisions.sort((a, b) => compareIds(a.id, b.id));
    if (max !== undefined && supervisions.length > max) {
      const rng = new Rng(`librispeech:${seed}:${split}`);
      const keep = new Set(rng.shuffle(supervisions.map((s) => s.id)).slice(0, max));
      supervisions = supervisions.filter((s) => keep.has(s.id));
    }
    const used = new Set(supervisions.map((s) => s.recordingId));
    splits[split] = {
      recordings: recordings.filter((r) => used.has(r.id)).sort((a, b) => compareIds(a.id, b.id)),
      supervisions,
    };
  }
  const summary = validateCorpus(splits, { disjointSpeakers: true });
  reportSkips(skips, 'LibriSpeech utterances', logger);
  return {
    info: makeCorpusInfo('librispeech', splits, summary, skips, { ...recordedOptions(opts), splits: splitMap, seed }),
    splits,
  };
}

export const librispeechAdapter: CorpusAdapter<LibrispeechOptions> = {
  name: 'librispeech',
  description: 'LibriSpeech read English (OpenSLR 12): prepare the standard layout; download subsets with md5 check',
  prepare: prepareLibrispeech,
  download: async (destDir: string, opts: Record<string, unknown> = {}) => {
    checkAdapterOptions('librispeech download', opts, {
      subsets: "string[], default ['train-clean-100', 'dev-clean', 'test-clean']",
      baseUrl: `string, default ${LIBRISPEECH_BASE_URL}`,
      keepArchive: 'boolean, default false',
    });
    const subsets = (opts.subsets as string[] | undefined) ?? ['train-clean-100', 'dev-clean', 'test-clean'];
    for (const s of subsets) {
      await downloadLibrispeech(s, destDir, {
        baseUrl: (opts.baseUrl as string | undefined) ?? LIBRISPEECH_BASE_URL,
        keepArchive: opts.keepArchive as boolean | undefined,
        logger: opts.logger as Logger | undefined,
      });
    }
    return join(resolve(destDir), 'LibriSpeech');
  },
  optionsDoc: LIBRISPEECH_OPTIONS_DOC,
};
