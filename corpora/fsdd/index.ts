/**
 * Free Spoken Digit Dataset (FSDD) adapter. See README.md for the layout, licence and options.
 *
 * Upstream layout: `<dir>/recordings/{digit}_{speaker}_{index}.wav` (8 kHz mono 16-bit, silence
 * trimmed). Two modes:
 *   - isolated:  one utterance per take (text ZERO ... NINE), pointing at the upstream file;
 *   - connected: TIDIGITS-like strings of minDigits..maxDigits digits, each made by joining takes
 *                of ONE speaker with short pauses of low-level noise at the speaker's own noise
 *                floor (never digital silence), written as 16-bit WAV to `<outDir>/wav/`, with the
 *                reference word timings in `alignment.word` and the source takes in `custom`.
 * Splits are by speaker (disjoint); a separate `evalDir` in the same layout can supply the test speakers.
 * With `isolatedTest`, a connected corpus gets one more split, `test-isolated`: every take of the test
 * speakers as its own one-digit utterance (the isolated mode's manifest), for the isolated-digit WER.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readAudioChannel, resample, writeWav } from '../../src/audio/index.ts';
import {
  checkAdapterOptions,
  recordedOptions,
  type CommonPrepareOptions,
  type CorpusAdapter,
} from '../../src/corpus/adapter.ts';
import { compareIds } from '../../src/corpus/manifest.ts';
import { probeAudioOrSkip, reportSkips, CORRUPT_AUDIO_REASON, EMPTY_AUDIO_REASON } from '../../src/corpus/skips.ts';
import type { PreparedCorpus, Recording, SplitManifest, Supervision, TimedSymbol } from '../../src/corpus/types.ts';
import { makeCorpusInfo, validateCorpus } from '../../src/corpus/validate.ts';
import { AudioFormatError, ConfigError, CorpusError, SkipCounter } from '../../src/util/errors.ts';
import { log } from '../../src/util/log.ts';
import { Rng } from '../../src/util/rng.ts';

export const DIGIT_WORDS = ['ZERO', 'ONE', 'TWO', 'THREE', 'FOUR', 'FIVE', 'SIX', 'SEVEN', 'EIGHT', 'NINE'] as const;

/** The split `isolatedTest` adds: every take of the test speakers, one digit per utterance. */
export const ISOLATED_TEST_SPLIT = 'test-isolated';

export interface FsddOptions {
  /** 'connected' (default): TIDIGITS-like digit strings; 'isolated': one digit per utterance. */
  mode?: 'isolated' | 'connected';
  /** Training speakers. Default: all speakers of `dir` except the dev (and test) speakers. */
  trainSpeakers?: string[];
  /** Development speakers. Default: the last speaker of `dir` in sorted order that is not a test speaker. */
  devSpeakers?: string[];
  /** Test speakers. Default: every speaker of `evalDir` if given, else the last speaker of `dir` in sorted order. */
  testSpeakers?: string[];
  /** A second FSDD-layout directory whose speakers form the test split. */
  evalDir?: string;
  /**
   * Dev from held-out takes of the training speakers instead of a dev speaker: this fraction of
   * each training speaker's takes of every digit (the highest take indices) is kept out of train
   * and builds the dev utterances (round(fraction x numUtterancesPerSpeaker) per speaker in
   * connected mode). With only 4 speakers this gives 3 train / 1 test speakers. Default: off.
   */
  devTakeFraction?: number;
  /** Utterances per speaker. Default: 200 (connected), every take (isolated; else a seeded subset). */
  numUtterancesPerSpeaker?: number;
  /** Fewest digits in a connected utterance (default 2). */
  minDigits?: number;
  /** Most digits in a connected utterance (default 7). */
  maxDigits?: number;
  /** Pause between digits, milliseconds, drawn uniformly (defaults 50 and 300). */
  pauseMinMs?: number;
  pauseMaxMs?: number;
  /** Noise before the first and after the last digit, milliseconds (defaults 100 and 300). */
  edgeMinMs?: number;
  edgeMaxMs?: number;
  /** Resample every take to this rate (written under `<outDir>/wav/`). Default: keep the native rate. */
  resampleToHz?: number;
  /** Seed of every random choice (default 0). */
  seed?: number;
  /**
   * Connected mode: also write split `test-isolated` (ISOLATED_TEST_SPLIT), every take of the test
   * speakers as its own one-digit utterance (ids `{speaker}_{digit}_{index}`, the upstream files), for
   * the isolated-digit WER next to the connected one. Test speakers only, so no take of a training
   * speaker (train or held-out dev) is in it. Default false.
   */
  isolatedTest?: boolean;
}

export const FSDD_OPTIONS_DOC: Record<string, string> = {
  mode: "'isolated' | 'connected', default 'connected': one digit per utterance, or TIDIGITS-like strings joined from one speaker's takes",
  trainSpeakers: 'string[], default: every speaker of dir not used for dev/test',
  devSpeakers: 'string[], default: the last speaker of dir (sorted) that is not a test speaker',
  testSpeakers: 'string[], default: every speaker of evalDir, else the last speaker of dir (sorted)',
  evalDir: 'string, optional: a second FSDD-layout directory with other speakers, used for test',
  devTakeFraction:
    "number in (0, 0.5], optional: dev from this fraction of the training speakers' takes (held out from train) instead of a dev speaker",
  numUtterancesPerSpeaker: 'integer, default 200 (connected) / all takes (isolated)',
  minDigits: 'integer, default 2: fewest digits per connected utterance',
  maxDigits: 'integer, default 7: most digits per connected utterance',
  pauseMinMs: 'number, default 50: shortest pause between digits (ms)',
  pauseMaxMs: 'number, default 300: longest pause between digits (ms)',
  edgeMinMs: 'number, default 100: shortest leading/trailing noise (ms)',
  edgeMaxMs: 'number, default 300: longest leading/trailing noise (ms)',
  resampleToHz: 'number, optional: resample all audio to this rate (files written under <outDir>/wav/)',
  seed: 'integer, default 0: seed of every random choice (same seed -> same bytes)',
  isolatedTest: `boolean, default false (connected mode): also write split '${ISOLATED_TEST_SPLIT}', every take of the test speakers as its own one-digit utterance`,
};

const NAME = /^([0-9])_([A-Za-z0-9-]+)_([0-9]+)\.wav$/;
const BAD_NAME_REASON = 'file name not {digit}_{speaker}_{index}.wav';

interface Take {
  /** `{speaker}_{digit}_{index}` */
  id: string;
  digit: number;
  speaker: string;
  index: number;
  path: string;
  /** Path relative to the corpus dir, for the manifest's `custom.sources`. */
  source: string;
}

/** The takes of an FSDD-layout directory, sorted by speaker, digit, index. */
function listTakes(dir: string, skips: SkipCounter): Take[] {
  const recDir = existsSync(join(dir, 'recordings')) ? join(dir, 'recordings') : dir;
  if (!existsSync(recDir) || !statSync(recDir).isDirectory()) {
    throw new CorpusError('FSDD directory not found', {
      file: dir,
      expected: 'a directory with recordings/{digit}_{speaker}_{index}.wav',
      found: 'no such directory',
    });
  }
  const takes: Take[] = [];
  for (const f of readdirSync(recDir).sort()) {
    if (!f.toLowerCase().endsWith('.wav')) continue;
    const m = NAME.exec(f);
    if (!m) {
      skips.skip(f, BAD_NAME_REASON);
      continue;
    }
    const digit = Number(m[1]);
    const index = Number(m[3]);
    takes.push({
      id: `${m[2]}_${digit}_${index}`,
      digit,
      speaker: m[2],
      index,
      path: resolve(recDir, f),
      source: recDir === dir ? f : `recordings/${f}`,
    });
  }
  takes.sort((a, b) =>
    a.speaker < b.speaker ? -1 : a.speaker > b.speaker ? 1 : a.digit - b.digit || a.index - b.index,
  );
  return takes;
}

function int(opts: FsddOptions, key: keyof FsddOptions, dflt: number, min: number): number {
  const v = opts[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new ConfigError(`bad fsdd option '${key}'`, {
      keyPath: key,
      expected: `an integer >= ${min}`,
      found: JSON.stringify(v),
    });
  }
  return v;
}

function numOpt(opts: FsddOptions, key: keyof FsddOptions, dflt: number, min: number): number {
  const v = opts[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new ConfigError(`bad fsdd option '${key}'`, {
      keyPath: key,
      expected: `a number >= ${min}`,
      found: JSON.stringify(v),
    });
  }
  return v;
}

/** Decide train/dev/test speakers (see FsddOptions). */
export function assignSpeakers(
  mainSpeakers: string[],
  evalSpeakers: string[] | null,
  opts: Pick<FsddOptions, 'trainSpeakers' | 'devSpeakers' | 'testSpeakers' | 'devTakeFraction'>,
): { train: string[]; dev: string[]; test: string[] } {
  const main = [...mainSpeakers].sort();
  const evals = evalSpeakers ? [...evalSpeakers].sort() : null;
  const available = new Set([...main, ...(evals ?? [])]);
  for (const key of ['trainSpeakers', 'devSpeakers', 'testSpeakers'] as const) {
    for (const s of opts[key] ?? []) {
      if (!available.has(s)) {
        throw new ConfigError(`fsdd ${key} names speaker '${s}' who has no recordings`, {
          keyPath: key,
          expected: `one of ${[...available].join(', ')}`,
          found: s,
        });
      }
    }
  }
  const test = opts.testSpeakers ?? evals ?? main.slice(-1);
  const notTest = main.filter((s) => !test.includes(s));
  const devFromTrain = opts.devTakeFraction !== undefined;
  if (devFromTrain && opts.devSpeakers !== undefined && opts.devSpeakers.length > 0) {
    throw new ConfigError('fsdd devSpeakers and devTakeFraction exclude each other', {
      keyPath: 'devSpeakers',
      expected: 'no dev speakers when dev comes from held-out takes of the training speakers',
      found: JSON.stringify(opts.devSpeakers),
    });
  }
  const dev = devFromTrain ? [] : (opts.devSpeakers ?? notTest.slice(-1));
  const train = opts.trainSpeakers ?? notTest.filter((s) => !dev.includes(s));
  const overlap = train.filter((s) => test.includes(s) || dev.includes(s));
  if (overlap.length > 0) {
    throw new ConfigError('fsdd training speakers also in dev or test', {
      keyPath: 'trainSpeakers',
      expected: 'speaker-disjoint train, dev and test',
      found: overlap.join(', '),
    });
  }
  if (train.length === 0 || (dev.length === 0 && !devFromTrain) || test.length === 0) {
    throw new ConfigError('fsdd needs at least one speaker in each of train, dev and test', {
      keyPath: 'trainSpeakers',
      expected: 'three or more speakers (or explicit trainSpeakers/devSpeakers/testSpeakers)',
      found: `train [${train.join(', ')}], dev [${dev.join(', ')}], test [${test.join(', ')}]`,
    });
  }
  return { train, dev, test };
}

/**
 * The takes held out for dev: per digit, the `fraction` of the speaker's takes with the highest
 * take indices (at least one when the digit has two or more takes, so train keeps every digit).
 */
export function heldOutTakes<T extends { digit: number; index: number }>(takes: readonly T[], fraction: number): T[] {
  const out: T[] = [];
  for (let d = 0; d <= 9; d++) {
    const pool = takes.filter((t) => t.digit === d).sort((a, b) => a.index - b.index);
    if (pool.length < 2) continue;
    const n = Math.min(pool.length - 1, Math.max(1, Math.round(fraction * pool.length)));
    out.push(...pool.slice(pool.length - n));
  }
  return out;
}

/** Root-mean-square of samples[from, to). */
function rms(x: Float32Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i] * x[i];
  return to > from ? Math.sqrt(s / (to - from)) : 0;
}

/** Lowest and highest noise level used for pauses (about -80 and -40 dBFS). */
const NOISE_RMS_MIN = 1e-4;
const NOISE_RMS_MAX = 1e-2;

/**
 * The speaker's noise floor: the median, over takes, of the quieter 10 ms edge of each take
 * (FSDD takes are trimmed, so their edges are the closest thing to the room's background).
 */
export function speakerNoiseRms(takes: Float32Array[], sampleRateHz: number): number {
  const n = Math.max(1, Math.round(0.01 * sampleRateHz));
  const levels = takes
    .filter((x) => x.length >= 2 * n)
    .map((x) => Math.min(rms(x, 0, n), rms(x, x.length - n, x.length)))
    .sort((a, b) => a - b);
  const median = levels.length > 0 ? levels[Math.floor(levels.length / 2)] : NOISE_RMS_MIN;
  return Math.min(NOISE_RMS_MAX, Math.max(NOISE_RMS_MIN, median));
}

/**
 * Join takes into one connected-digit waveform: noise bed at `noiseRms` everywhere, takes added on
 * top with 5 ms raised-cosine fades, `gapsSec[i]` of noise before take i and `gapsSec[n]` after the last.
 * Returns the samples and each take's start sample.
 */
export function joinTakes(
  takes: Float32Array[],
  gapsSec: number[],
  sampleRateHz: number,
  noiseRms: number,
  rng: Rng,
): { samples: Float32Array; starts: number[] } {
  if (gapsSec.length !== takes.length + 1) throw new RangeError('joinTakes: need one gap more than takes');
  const gaps = gapsSec.map((g) => Math.round(g * sampleRateHz));
  let total = gaps.reduce((a, b) => a + b, 0);
  for (const t of takes) total += t.length;
  const out = new Float32Array(total);
  for (let i = 0; i < total; i++) out[i] = noiseRms * rng.gauss();
  const fade = Math.max(1, Math.round(0.005 * sampleRateHz));
  const starts: number[] = [];
  let pos = gaps[0];
  for (let k = 0; k < takes.length; k++) {
    const t = takes[k];
    starts.push(pos);
    const f = Math.min(fade, Math.floor(t.length / 2));
    for (let i = 0; i < t.length; i++) {
      let g = 1;
      if (i < f) g = 0.5 - 0.5 * Math.cos((Math.PI * (i + 0.5)) / f);
      else if (i >= t.length - f) g = 0.5 - 0.5 * Math.cos((Math.PI * (t.length - i - 0.5)) / f);
      out[pos + i] += g * t[i];
    }
    pos += t.length + gaps[k + 1];
  }
  // Keep within [-1, 1) for 16-bit output.
  for (let i = 0; i < total; i++) out[i] = Math.max(-1, Math.min(32767 / 32768, out[i]));
  return { samples: out, starts };
}

/** Load a take as mono float samples at `rateHz` (resampling when asked); null = counted skip. */
async function loadTake(
  t: Take,
  targetRateHz: number | undefined,
  skips: SkipCounter,
): Promise<{ samples: Float32Array; rateHz: number } | null> {
  try {
    const a = await readAudioChannel(t.path, { channel: 0 });
    if (a.samples.length === 0) {
      skips.skip(t.id, EMPTY_AUDIO_REASON);
      return null;
    }
    if (targetRateHz !== undefined && a.sampleRateHz !== targetRateHz) {
      return { samples: resample(a.samples, a.sampleRateHz, targetRateHz), rateHz: targetRateHz };
    }
    return { samples: a.samples, rateHz: a.sampleRateHz };
  } catch (err) {
    if (err instanceof AudioFormatError) {
      skips.skip(
        t.id,
        /\bempty\b|\bno samples\b|\b0 samples\b/i.test(err.message) ? EMPTY_AUDIO_REASON : CORRUPT_AUDIO_REASON,
        err.message,
      );
      return null;
    }
    throw err;
  }
}

/** Prepare FSDD (see the module comment and README.md). */
export async function prepareFsdd(dir: string, opts: FsddOptions & CommonPrepareOptions): Promise<PreparedCorpus> {
  checkAdapterOptions('fsdd', opts, FSDD_OPTIONS_DOC);
  if (typeof opts.outDir !== 'string' || opts.outDir.length === 0)
    throw new ConfigError('fsdd needs outDir', { keyPath: 'outDir', expected: 'the output data directory' });
  const logger = opts.logger ?? log;
  const mode = opts.mode ?? 'connected';
  if (mode !== 'isolated' && mode !== 'connected')
    throw new ConfigError("bad fsdd option 'mode'", {
      keyPath: 'mode',
      expected: "'isolated' or 'connected'",
      found: JSON.stringify(mode),
    });
  const seed = int(opts, 'seed', 0, 0);
  const minDigits = int(opts, 'minDigits', 2, 1);
  const maxDigits = int(opts, 'maxDigits', 7, minDigits);
  const pauseMinMs = numOpt(opts, 'pauseMinMs', 50, 0);
  const pauseMaxMs = numOpt(opts, 'pauseMaxMs', 300, pauseMinMs);
  const edgeMinMs = numOpt(opts, 'edgeMinMs', 100, 0);
  const edgeMaxMs = numOpt(opts, 'edgeMaxMs', 300, edgeMinMs);
  const resampleToHz = opts.resampleToHz === undefined ? undefined : numOpt(opts, 'resampleToHz', 0, 1);
  const perSpeaker =
    opts.numUtterancesPerSpeaker === undefined
      ? mode === 'connected'
        ? 200
        : Infinity
      : int(opts, 'numUtterancesPerSpeaker', 0, 1);
  const devFraction = opts.devTakeFraction === undefined ? null : numOpt(opts, 'devTakeFraction', 0, 0);
  if (devFraction !== null && !(devFraction > 0 && devFraction <= 0.5)) {
    throw new ConfigError("bad fsdd option 'devTakeFraction'", {
      keyPath: 'devTakeFraction',
      expected: 'a number in (0, 0.5]',
      found: JSON.stringify(opts.devTakeFraction),
    });
  }
  if (opts.isolatedTest !== undefined && typeof opts.isolatedTest !== 'boolean') {
    throw new ConfigError("bad fsdd option 'isolatedTest'", {
      keyPath: 'isolatedTest',
      expected: 'true or false',
      found: JSON.stringify(opts.isolatedTest),
    });
  }
  const isolatedTest = opts.isolatedTest ?? false;
  if (isolatedTest && mode === 'isolated') {
    throw new ConfigError("fsdd option 'isolatedTest' is for connected mode", {
      keyPath: 'isolatedTest',
      expected: "mode 'connected' (in isolated mode the test split already holds one digit per utterance)",
      found: 'mode isolated',
    });
  }
  const outDir = resolve(opts.outDir);
  const wavDir = join(outDir, 'wav');

  const skips = new SkipCounter();
  const mainTakes = listTakes(resolve(dir), skips);
  const evalTakes = opts.evalDir ? listTakes(resolve(opts.evalDir), skips) : null;
  const speakersOf = (ts: Take[]) => [...new Set(ts.map((t) => t.speaker))];
  if (mainTakes.length === 0)
    throw new CorpusError('no FSDD recordings found', {
      file: dir,
      expected: '{digit}_{speaker}_{index}.wav files',
      found: 'none',
    });
  const assignment = assignSpeakers(speakersOf(mainTakes), evalTakes ? speakersOf(evalTakes) : null, opts);
  if (evalTakes) {
    const evalSpeakers = new Set(speakersOf(evalTakes));
    const both = speakersOf(mainTakes).filter((s) => evalSpeakers.has(s));
    if (both.length > 0) {
      throw new CorpusError(`speaker(s) ${both.map((s) => `'${s}'`).join(', ')} appear in both dir and evalDir`, {
        file: opts.evalDir,
        expected: 'evaluation speakers distinct from the speakers of dir',
        found: both.join(', '),
      });
    }
  }
  const takesBySpeaker = new Map<string, Take[]>();
  for (const t of [...mainTakes, ...(evalTakes ?? [])]) {
    const l = takesBySpeaker.get(t.speaker);
    if (l) l.push(t);
    else takesBySpeaker.set(t.speaker, [t]);
  }

  // Dev from held-out takes: the training speakers' takes split into train and dev parts.
  const heldOut = new Set<Take>();
  if (devFraction !== null) {
    for (const speaker of assignment.train)
      for (const t of heldOutTakes(takesBySpeaker.get(speaker) ?? [], devFraction)) heldOut.add(t);
  }
  const splits: Record<string, SplitManifest> = {};
  const splitOrder: [string, string[]][] = [
    ['train', assignment.train],
    ['dev', devFraction !== null ? assignment.train : assignment.dev],
    ['test', assignment.test],
  ];
  for (const [split, speakers] of splitOrder) {
    const recordings: Recording[] = [];
    const supervisions: Supervision[] = [];
    for (const speaker of speakers) {
      let takes = takesBySpeaker.get(speaker) ?? [];
      let n = perSpeaker;
      let tag = 'c';
      let rngName = `fsdd:${seed}:${mode}:${speaker}`;
      if (devFraction !== null && assignment.train.includes(speaker)) {
        const isDev = split === 'dev';
        takes = takes.filter((t) => heldOut.has(t) === isDev);
        if (isDev) {
          n = perSpeaker === Infinity ? Infinity : Math.max(1, Math.round(perSpeaker * devFraction));
          tag = 'd';
          rngName += ':dev';
        }
      }
      const rng = new Rng(rngName);
      if (mode === 'isolated')
        await isolatedSpeaker(takes, rng, n, resampleToHz, wavDir, skips, recordings, supervisions, logger);
      else {
        await connectedSpeaker(
          speaker,
          takes,
          rng,
          {
            perSpeaker: n,
            minDigits,
            maxDigits,
            pauseMinMs,
            pauseMaxMs,
            edgeMinMs,
            edgeMaxMs,
            resampleToHz,
            wavDir,
            idTag: tag,
          },
          skips,
          recordings,
          supervisions,
          logger,
        );
      }
    }
    recordings.sort((a, b) => compareIds(a.id, b.id));
    supervisions.sort((a, b) => compareIds(a.id, b.id));
    splits[split] = { recordings, supervisions };
  }
  // Held-out dev shares its speakers with train (not with test: assignSpeakers checked that).
  let summary = validateCorpus(splits, { disjointSpeakers: devFraction === null });
  if (isolatedTest) {
    splits[ISOLATED_TEST_SPLIT] = await isolatedTestSplit(
      assignment.test,
      takesBySpeaker,
      seed,
      resampleToHz,
      wavDir,
      skips,
      logger,
    );
    // The same speakers as test by design; ids stay unique across all splits.
    summary = validateCorpus(splits, { disjointSpeakers: false });
  }
  reportSkips(
    skips,
    mode === 'isolated'
      ? 'FSDD takes'
      : isolatedTest
        ? 'FSDD connected-digit utterances and isolated test takes'
        : 'FSDD connected-digit utterances',
    logger,
  );
  const info = makeCorpusInfo('fsdd', splits, summary, skips, {
    ...recordedOptions(opts),
    mode,
    seed,
    trainSpeakers: assignment.train,
    devSpeakers: assignment.dev,
    testSpeakers: assignment.test,
    ...(devFraction !== null
      ? { devTakeFraction: devFraction, devFrom: 'held-out takes of the training speakers' }
      : {}),
    ...(isolatedTest ? { isolatedTestSplit: ISOLATED_TEST_SPLIT } : {}),
  });
  return { info, splits };
}

/** Split `test-isolated`: every take of the test speakers, one utterance each (the isolated mode's manifest). */
async function isolatedTestSplit(
  testSpeakers: string[],
  takesBySpeaker: Map<string, Take[]>,
  seed: number,
  resampleToHz: number | undefined,
  wavDir: string,
  skips: SkipCounter,
  logger: typeof log,
): Promise<SplitManifest> {
  const recordings: Recording[] = [];
  const supervisions: Supervision[] = [];
  for (const speaker of testSpeakers) {
    const rng = new Rng(`fsdd:${seed}:${ISOLATED_TEST_SPLIT}:${speaker}`); // unused: every take is kept
    await isolatedSpeaker(
      takesBySpeaker.get(speaker) ?? [],
      rng,
      Infinity,
      resampleToHz,
      wavDir,
      skips,
      recordings,
      supervisions,
      logger,
    );
  }
  recordings.sort((a, b) => compareIds(a.id, b.id));
  supervisions.sort((a, b) => compareIds(a.id, b.id));
  return { recordings, supervisions };
}

async function isolatedSpeaker(
  takes: Take[],
  rng: Rng,
  perSpeaker: number,
  resampleToHz: number | undefined,
  wavDir: string,
  skips: SkipCounter,
  recordings: Recording[],
  supervisions: Supervision[],
  logger: typeof log,
): Promise<void> {
  let chosen = takes;
  if (perSpeaker < takes.length) {
    const idx = rng
      .shuffle(takes.map((_, i) => i))
      .slice(0, perSpeaker)
      .sort((a, b) => a - b);
    chosen = idx.map((i) => takes[i]);
  }
  const progress = logger.progress(`fsdd isolated ${takes[0]?.speaker ?? ''}`, chosen.length, 'takes');
  for (const t of chosen) {
    progress.tick();
    const info = await probeAudioOrSkip(t.path, [t.id], skips, logger);
    if (!info) continue;
    let rec: Recording = {
      id: t.id,
      speaker: t.speaker,
      path: t.path,
      format: info.format,
      channel: 0,
      sampleRateHz: info.sampleRateHz,
      numSamples: info.numSamples,
      durationSec: info.numSamples / info.sampleRateHz,
    };
    if (
      resampleToHz !== undefined &&
      (info.sampleRateHz !== resampleToHz || info.numChannels !== 1 || info.format !== 'wav')
    ) {
      const a = await loadTake(t, resampleToHz, skips);
      if (!a) continue;
      const path = join(wavDir, `${t.id}.wav`);
      await writeWav(path, a.samples, a.rateHz, { bitsPerSample: 16 });
      rec = {
        ...rec,
        path,
        format: 'wav',
        sampleRateHz: a.rateHz,
        numSamples: a.samples.length,
        durationSec: a.samples.length / a.rateHz,
      };
    }
    recordings.push(rec);
    supervisions.push({
      id: t.id,
      recordingId: t.id,
      speaker: t.speaker,
      startSec: 0,
      durationSec: rec.durationSec,
      text: DIGIT_WORDS[t.digit],
      alignment: { word: [{ symbol: DIGIT_WORDS[t.digit], startSec: 0, durationSec: rec.durationSec }] },
      custom: { sources: [t.source] },
    });
    skips.done++;
  }
  progress.done();
}

interface ConnectedParams {
  perSpeaker: number;
  minDigits: number;
  maxDigits: number;
  pauseMinMs: number;
  pauseMaxMs: number;
  edgeMinMs: number;
  edgeMaxMs: number;
  resampleToHz: number | undefined;
  wavDir: string;
  /** Letter of the utterance ids: 'c' (train/test) or 'd' (dev from held-out takes). */
  idTag: string;
}

async function connectedSpeaker(
  speaker: string,
  takes: Take[],
  rng: Rng,
  p: ConnectedParams,
  skips: SkipCounter,
  recordings: Recording[],
  supervisions: Supervision[],
  logger: typeof log,
): Promise<void> {
  // Load every usable take of the speaker (bounded: one speaker's takes at a time).
  const audio = new Map<Take, Float32Array>();
  let rate: { hz: number; example: string } | null = null;
  for (const t of takes) {
    const a = await loadTake(t, p.resampleToHz, skips);
    if (!a) continue;
    if (rate === null) rate = { hz: a.rateHz, example: t.path };
    else if (a.rateHz !== rate.hz) {
      throw new CorpusError(`speaker '${speaker}' has takes at different sample rates (set resampleToHz)`, {
        uttId: t.id,
        expected: `${rate.hz} Hz (e.g. ${rate.example})`,
        found: `${a.rateHz} Hz in ${t.path}`,
      });
    }
    audio.set(t, a.samples);
  }
  if (rate === null) return; // every take skipped (counted)
  const rateHz = rate.hz;
  const pools: Take[][] = Array.from({ length: 10 }, (_, d) => takes.filter((t) => t.digit === d && audio.has(t)));
  const digitsAvailable = pools.map((pl, d) => (pl.length > 0 ? d : -1)).filter((d) => d >= 0);
  const queues: Take[][] = pools.map(() => []);
  const nextTake = (d: number): Take => {
    if (queues[d].length === 0) queues[d] = rng.shuffle([...pools[d]]);
    return queues[d].pop()!;
  };
  const noiseRms = speakerNoiseRms([...audio.values()], rateHz);
  const progress = logger.progress(`fsdd connected ${speaker}`, p.perSpeaker, 'utterances');
  for (let u = 0; u < p.perSpeaker; u++) {
    const n = p.minDigits + rng.int(p.maxDigits - p.minDigits + 1);
    const digits = Array.from({ length: n }, () => digitsAvailable[rng.int(digitsAvailable.length)]);
    const chosen = digits.map((d) => nextTake(d));
    const gapsSec = [
      rng.uniform(p.edgeMinMs, p.edgeMaxMs) / 1000,
      ...digits.slice(1).map(() => rng.uniform(p.pauseMinMs, p.pauseMaxMs) / 1000),
      rng.uniform(p.edgeMinMs, p.edgeMaxMs) / 1000,
    ];
    const joined = joinTakes(
      chosen.map((t) => audio.get(t)!),
      gapsSec,
      rateHz,
      noiseRms,
      rng.fork(`noise${u}`),
    );
    const id = `${speaker}_${p.idTag}${String(u).padStart(4, '0')}_${digits.join('')}`;
    const path = join(p.wavDir, `${id}.wav`);
    await writeWav(path, joined.samples, rateHz, { bitsPerSample: 16 });
    const durationSec = joined.samples.length / rateHz;
    const words: TimedSymbol[] = chosen.map((t, k) => ({
      symbol: DIGIT_WORDS[t.digit],
      startSec: joined.starts[k] / rateHz,
      durationSec: audio.get(t)!.length / rateHz,
    }));
    recordings.push({
      id,
      speaker,
      path,
      format: 'wav',
      channel: 0,
      sampleRateHz: rateHz,
      numSamples: joined.samples.length,
      durationSec,
    });
    supervisions.push({
      id,
      recordingId: id,
      speaker,
      startSec: 0,
      durationSec,
      text: digits.map((d) => DIGIT_WORDS[d]).join(' '),
      alignment: { word: words },
      custom: { sources: chosen.map((t) => t.source), noiseRms: Number(noiseRms.toPrecision(4)) },
    });
    skips.done++;
    progress.tick();
  }
  progress.done();
}

export const fsddAdapter: CorpusAdapter<FsddOptions> = {
  name: 'fsdd',
  description:
    "Free Spoken Digit Dataset: isolated digits or TIDIGITS-like connected digits joined from one speaker's takes",
  prepare: prepareFsdd,
  optionsDoc: FSDD_OPTIONS_DOC,
};
