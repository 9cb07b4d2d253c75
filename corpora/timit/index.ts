/**
 * TIMIT adapter (LDC93S1; see README.md). Layout, matched case-insensitively:
 *   <root>/TRAIN|TEST/DR1..DR8/<SPEAKER>/<UTT>.WAV   NIST SPHERE, 16 kHz 16-bit
 *   <root>/TRAIN|TEST/DR1..DR8/<SPEAKER>/<UTT>.TXT   "<startSample> <endSample> <sentence>"
 *   <root>/TRAIN|TEST/DR1..DR8/<SPEAKER>/<UTT>.WRD   "<startSample> <endSample> <word>" per line
 *   <root>/TRAIN|TEST/DR1..DR8/<SPEAKER>/<UTT>.PHN   "<startSample> <endSample> <phone>" per line
 * `dir` may be the root or a directory holding TIMIT/ (or timit/, data/).
 *
 * Splits follow Kaldi's egs/timit/s5: train = every TRAIN speaker, SA sentences dropped
 * (3696 utterances); dev = the 50-speaker development set (400 utterances); test = the
 * 24-speaker core test set (192 utterances). Speaker ids are lower case.
 */
import { promises as fsp, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  checkAdapterOptions,
  recordedOptions,
  type CommonPrepareOptions,
  type CorpusAdapter,
} from '../../src/corpus/adapter.ts';
import { compareIds } from '../../src/corpus/manifest.ts';
import { normalizeOrSkip, probeAudioOrSkip, reportSkips } from '../../src/corpus/skips.ts';
import type { PreparedCorpus, Recording, SplitManifest, Supervision, TimedSymbol } from '../../src/corpus/types.ts';
import { makeCorpusInfo, validateCorpus } from '../../src/corpus/validate.ts';
import { ConfigError, CorpusError, SkipCounter } from '../../src/util/errors.ts';
import { log, type Logger } from '../../src/util/log.ts';

/** The 24-speaker core test set (2 male + 1 female per dialect region DR1..DR8). */
export const TIMIT_CORE_TEST_SPEAKERS: readonly string[] = [
  'mdab0',
  'mwbt0',
  'felc0',
  'mtas1',
  'mwew0',
  'fpas0',
  'mjmp0',
  'mlnt0',
  'fpkt0',
  'mlll0',
  'mtls0',
  'fjlm0',
  'mbpm0',
  'mklt0',
  'fnlp0',
  'mcmj0',
  'mjdh0',
  'fmgd0',
  'mgrt0',
  'mnjm0',
  'fdhc0',
  'mjln0',
  'mpam0',
  'fmld0',
];

/** The 50-speaker development set of Kaldi's egs/timit/s5 (conf/dev_spk.list), taken from TEST. */
export const TIMIT_DEV_SPEAKERS: readonly string[] = [
  'faks0',
  'fdac1',
  'fjem0',
  'mgwt0',
  'mjar0',
  'mmdb1',
  'mmdm2',
  'mpdf0',
  'fcmh0',
  'fkms0',
  'mbdg0',
  'mbwm0',
  'mcsh0',
  'fadg0',
  'fdms0',
  'fedw0',
  'mgjf0',
  'mglb0',
  'mrtk0',
  'mtaa0',
  'mtdt0',
  'mthc0',
  'mwjg0',
  'fnmr0',
  'frew0',
  'fsem0',
  'mbns0',
  'mmjr0',
  'mdls0',
  'mdlf0',
  'mdvc0',
  'mers0',
  'fmah0',
  'fdrw0',
  'mrcs0',
  'mrjm4',
  'fcal1',
  'mmwh0',
  'fjsj0',
  'majc0',
  'mjsw0',
  'mreb0',
  'fgjd0',
  'fjmg0',
  'mroa0',
  'mteb0',
  'mjfc0',
  'mrjr0',
  'fmml0',
  'mrws1',
];

export interface TimitOptions {
  /** Keep the two dialect "SA" sentences every speaker reads (default false, as is standard). */
  includeSa?: boolean;
  /** 'core' (default): the 24-speaker core test set; 'complete': every TEST speaker not in the dev set (118). */
  testSet?: 'core' | 'complete';
  /** Override the development speakers (default: Kaldi's 50-speaker list). */
  devSpeakers?: string[];
  /** Override the test speakers (default: by `testSet`). */
  testSpeakers?: string[];
}

export const TIMIT_OPTIONS_DOC: Record<string, string> = {
  includeSa: 'boolean, default false: keep the SA1/SA2 dialect sentences',
  testSet: "'core' | 'complete', default 'core': 24-speaker core test set, or every TEST speaker outside the dev set",
  devSpeakers: "string[], default Kaldi's 50-speaker dev list (egs/timit/s5/conf/dev_spk.list)",
  testSpeakers: 'string[], default by testSet',
};

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Child of `dir` whose name equals `name` ignoring case, or null. */
function childCi(dir: string, name: string): string | null {
  if (!isDir(dir)) return null;
  const f = readdirSync(dir).find((x) => x.toLowerCase() === name.toLowerCase());
  return f === undefined ? null : join(dir, f);
}

/** Find the directory that holds TRAIN and TEST. */
export function findTimitRoot(dir: string): string {
  const d = resolve(dir);
  for (const cand of [d, childCi(d, 'timit'), childCi(d, 'data'), childCi(childCi(d, 'timit') ?? '', 'timit')]) {
    if (cand && childCi(cand, 'train') && childCi(cand, 'test')) return cand;
  }
  throw new CorpusError('TIMIT not found', {
    file: d,
    expected: 'a directory with TRAIN/ and TEST/ (or TIMIT/ holding them)',
    found: 'neither',
  });
}

/** Parse a .WRD/.PHN file into timed symbols (seconds); throws CorpusError naming file:line. */
export async function readTimitSegments(
  path: string,
  sampleRateHz: number,
  upperCase: boolean,
): Promise<TimedSymbol[]> {
  const out: TimedSymbol[] = [];
  const lines = (await fsp.readFile(path, 'utf8')).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].trim();
    if (l.length === 0) continue;
    const f = l.split(/\s+/);
    const a = Number(f[0]);
    const b = Number(f[1]);
    if (f.length !== 3 || !Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < a) {
      throw new CorpusError('malformed TIMIT segment line', {
        file: path,
        line: i + 1,
        expected: '<startSample> <endSample> <symbol> with end >= start',
        found: JSON.stringify(l),
      });
    }
    out.push({
      symbol: upperCase ? f[2].toUpperCase() : f[2],
      startSec: a / sampleRateHz,
      durationSec: (b - a) / sampleRateHz,
    });
  }
  return out;
}

/** Prepare TIMIT (see the module comment and README.md). */
export async function prepareTimit(dir: string, opts: TimitOptions & CommonPrepareOptions): Promise<PreparedCorpus> {
  checkAdapterOptions('timit', opts, TIMIT_OPTIONS_DOC);
  const logger: Logger = opts.logger ?? log;
  const testSet = opts.testSet ?? 'core';
  if (testSet !== 'core' && testSet !== 'complete')
    throw new ConfigError("bad timit option 'testSet'", {
      keyPath: 'testSet',
      expected: "'core' or 'complete'",
      found: JSON.stringify(testSet),
    });
  const root = findTimitRoot(dir);
  const dev = new Set((opts.devSpeakers ?? TIMIT_DEV_SPEAKERS).map((s) => s.toLowerCase()));
  const explicitTest = opts.testSpeakers ? new Set(opts.testSpeakers.map((s) => s.toLowerCase())) : null;
  const core = new Set(TIMIT_CORE_TEST_SPEAKERS);
  const splitOfTest = (spk: string): 'dev' | 'test' | null => {
    if (dev.has(spk)) return 'dev';
    if (explicitTest) return explicitTest.has(spk) ? 'test' : null;
    if (testSet === 'core') return core.has(spk) ? 'test' : null;
    return 'test';
  };

  const skips = new SkipCounter();
  const splits: Record<string, SplitManifest> = {
    train: { recordings: [], supervisions: [] },
    dev: { recordings: [], supervisions: [] },
    test: { recordings: [], supervisions: [] },
  };
  for (const part of ['train', 'test'] as const) {
    const partDir = childCi(root, part)!;
    const regions = readdirSync(partDir)
      .filter((r) => /^dr[1-8]$/i.test(r) && isDir(join(partDir, r)))
      .sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
    const progress = logger.progress(`timit ${part}`, regions.length, 'dialect regions');
    for (const region of regions) {
      const regionDir = join(partDir, region);
      for (const spkName of readdirSync(regionDir).sort()) {
        const spkDir = join(regionDir, spkName);
        if (!isDir(spkDir)) continue;
        const spk = spkName.toLowerCase();
        const split = part === 'train' ? 'train' : splitOfTest(spk);
        if (split === null) continue;
        const files = readdirSync(spkDir);
        const byLower = new Map(files.map((f) => [f.toLowerCase(), join(spkDir, f)]));
        const utts = files
          .filter((f) => /^s[aix]\d+\.wav$/i.test(f))
          .map((f) => f.slice(0, -4).toLowerCase())
          .sort();
        for (const utt of utts) {
          if (utt.startsWith('sa') && !opts.includeSa) continue;
          const id = `${spk}_${utt}`;
          const wav = byLower.get(`${utt}.wav`)!;
          const txt = byLower.get(`${utt}.txt`);
          if (!txt) {
            skips.skip(id, 'missing transcript (.TXT)');
            continue;
          }
          const raw = (await fsp.readFile(txt, 'utf8')).trim();
          const m = /^(\d+)\s+(\d+)\s+(.*)$/s.exec(raw);
          if (!m) {
            skips.skip(
              id,
              'malformed .TXT (expected "<start> <end> <sentence>")',
              `${txt}: ${JSON.stringify(raw.slice(0, 80))}`,
            );
            logger.debug(`${txt}: malformed: ${JSON.stringify(raw)}`);
            continue;
          }
          const text = normalizeOrSkip(m[3], { file: txt, line: 1, uttId: id }, skips, logger);
          if (text === null) continue;
          const info = await probeAudioOrSkip(wav, [id], skips, logger);
          if (!info) continue;
          const durationSec = info.numSamples / info.sampleRateHz;
          const alignment: Supervision['alignment'] = {};
          try {
            const wrd = byLower.get(`${utt}.wrd`);
            const phn = byLower.get(`${utt}.phn`);
            if (wrd) alignment.word = await readTimitSegments(wrd, info.sampleRateHz, true);
            if (phn) alignment.phone = await readTimitSegments(phn, info.sampleRateHz, false);
          } catch (err) {
            if (!(err instanceof CorpusError)) throw err;
            skips.skip(id, 'malformed .WRD/.PHN alignment', err.message);
            logger.debug(err.message);
            continue;
          }
          const tooLong = [...(alignment.word ?? []), ...(alignment.phone ?? [])].find(
            (a) => a.startSec + a.durationSec > durationSec + 0.01,
          );
          if (tooLong) {
            skips.skip(id, 'alignment past the end of the audio');
            continue;
          }
          const rec: Recording = {
            id,
            speaker: spk,
            path: wav,
            format: info.format,
            channel: 0,
            sampleRateHz: info.sampleRateHz,
            numSamples: info.numSamples,
            durationSec,
          };
          splits[split].recordings.push(rec);
          splits[split].supervisions.push({
            id,
            recordingId: id,
            speaker: spk,
            startSec: 0,
            durationSec,
            text,
            ...(alignment.word || alignment.phone ? { alignment } : {}),
            custom: { gender: spk[0], dialectRegion: region.toLowerCase(), sentenceType: utt.slice(0, 2) },
          });
          skips.done++;
        }
      }
      progress.tick();
    }
    progress.done();
  }
  for (const m of Object.values(splits)) {
    m.recordings.sort((a, b) => compareIds(a.id, b.id));
    m.supervisions.sort((a, b) => compareIds(a.id, b.id));
  }
  const summary = validateCorpus(splits, { disjointSpeakers: true });
  reportSkips(skips, 'TIMIT utterances', logger);
  return {
    info: makeCorpusInfo('timit', splits, summary, skips, {
      ...recordedOptions(opts),
      includeSa: opts.includeSa ?? false,
      testSet,
    }),
    splits,
  };
}

export const timitAdapter: CorpusAdapter<TimitOptions> = {
  name: 'timit',
  description: 'TIMIT (LDC93S1, licensed): train without SA, Kaldi 50-speaker dev set, 24-speaker core test set',
  prepare: prepareTimit,
  optionsDoc: TIMIT_OPTIONS_DOC,
};
