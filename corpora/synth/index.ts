/**
 * The embedded default corpus: multi-speaker read speech synthesised offline with eSpeak NG.
 * See README.md for the layout, options, voices and licence.
 *
 *   sentences  grammar.ts  PCFG over a 500-word CMUdict vocabulary, seeded
 *   speakers   speakers.ts (voice, variant, rate, pitch) tuples, split so test timbres are unseen
 *   audio      espeak.ts   espeak-ng (emscripten), 22050 Hz 16-bit PCM + events with sample positions
 *   timings    timing.ts   word / phone spans from the events
 *   here       silence padding, band-limited resampling to `sampleRateHz`, seeded noise, 16-bit WAV
 *
 * `prepareSynth(outDir, opts)` writes a complete data dir atomically (temp dir, then rename);
 * the registry adapter `synthAdapter` writes the WAVs under `<outDir>/wav/` and returns the
 * manifests for `prepareCorpus` to write. Same options and seed -> byte-identical WAVs and manifests.
 */
import { existsSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { resample, writeWav } from '../../src/audio/index.ts';
import {
  checkAdapterOptions,
  recordedOptions,
  type CommonPrepareOptions,
  type CorpusAdapter,
} from '../../src/corpus/adapter.ts';
import { compareIds, writeCorpus } from '../../src/corpus/manifest.ts';
import { reportSkips, EMPTY_AUDIO_REASON } from '../../src/corpus/skips.ts';
import { normalizeTranscript } from '../../src/corpus/text.ts';
import type { PreparedCorpus, SplitManifest, TimedSymbol } from '../../src/corpus/types.ts';
import { makeCorpusInfo, validateCorpus } from '../../src/corpus/validate.ts';
import { ConfigError, CorpusError, SkipCounter } from '../../src/util/errors.ts';
import { withAtomicOutput } from '../../src/util/fs.ts';
import { log, type Logger } from '../../src/util/log.ts';
import { Rng } from '../../src/util/rng.ts';
import {
  ESPEAK_PACKAGE_VERSION,
  ESPEAK_SAMPLE_RATE_HZ,
  espeakVoiceName,
  getEspeak,
  reloadEspeak,
  EspeakEngine,
  type EspeakOutput,
  type EspeakVoice,
} from './espeak.ts';
import { generateSentence, type Sentence } from './grammar.ts';
import { planSpeakers, SYNTH_VARIANTS, SYNTH_VOICES, type SynthSpeaker } from './speakers.ts';
import { espeakInput, EVENT_MISMATCH_REASON, timingsFromEvents, type SampleSpan } from './timing.ts';

export { SYNTH_GRAMMAR, generateSentence, grammarVocabulary } from './grammar.ts';
export { planSpeakers, SYNTH_VARIANTS, SYNTH_VOICES, type SynthSpeaker } from './speakers.ts';
export { getEspeak, EspeakEngine, ESPEAK_SAMPLE_RATE_HZ } from './espeak.ts';

export interface SynthOptions {
  /** Number of speakers (default 16; at most 8 voices x 16 variants, see speakers.ts). */
  numSpeakers?: number;
  /** Utterances per speaker (default 25). */
  utterancesPerSpeaker?: number;
  /**
   * Speakers per split: counts (integers summing to numSpeakers) or fractions (summing to 1;
   * dev/test get at least one speaker each when their fraction is > 0). A split of 0 is left out.
   * Default { train: 0.75, dev: 0.125, test: 0.125 } (16 speakers: 12 / 2 / 2).
   */
  splits?: { train?: number; dev?: number; test?: number };
  /** Seed of every random choice (default 0). */
  seed?: number;
  /** Fewest / most words per sentence (defaults 4 and 14). */
  minWords?: number;
  maxWords?: number;
  /** Never repeat a sentence anywhere in the corpus, so test text is unseen by the LM (default true). */
  uniqueSentences?: boolean;
  /** Output sample rate in Hz (default 16000; espeak's 22050 is resampled, band-limited). */
  sampleRateHz?: number;
  /** Silence added before and after each sentence, drawn uniformly per utterance, in ms (defaults 100 and 300). */
  silenceMinMs?: number;
  silenceMaxMs?: number;
  /** Background noise everywhere, RMS in dB re full scale (default -70; null: none, digital silence stays). */
  noiseFloorDbfs?: number | null;
  /** Optional white noise at this SNR in dB, relative to the mean power of the speech (first word start to last word end). */
  noiseSnrDb?: number;
  /** Voices (default all 8: en-us, en-gb, en-gb-scotland, en-gb-x-rp, en-029, en-us-nyc, en-gb-x-gbclan, en-gb-x-gbcwmd). */
  voices?: string[];
  /** Voice variants (default m1..m7, f1..f5, klatt, klatt2, klatt3, klatt4). */
  variants?: string[];
  /** Speaking rate range, words per minute (defaults 140 and 190). */
  rateMinWpm?: number;
  rateMaxWpm?: number;
  /** Base pitch range, espeak's 0..99 scale (defaults 35 and 65). */
  pitchMin?: number;
  pitchMax?: number;
}

export const SYNTH_OPTIONS_DOC: Record<string, string> = {
  numSpeakers: 'integer, default 16: synthetic speakers (voice + variant + rate + pitch), at most 128',
  utterancesPerSpeaker: 'integer, default 25: sentences per speaker',
  splits:
    '{train, dev, test}: speaker counts or fractions, default {train: 0.75, dev: 0.125, test: 0.125}; split speakers never share a variant',
  seed: 'integer, default 0: seed of sentences, speakers, silences and noise (same seed -> same bytes)',
  minWords: 'integer, default 4: fewest words per sentence',
  maxWords: 'integer, default 14: most words per sentence',
  uniqueSentences: 'boolean, default true: no sentence occurs twice in the corpus',
  sampleRateHz: 'integer, default 16000: output sample rate (espeak 22050 Hz is resampled)',
  silenceMinMs: 'number, default 100: shortest silence before/after a sentence (ms)',
  silenceMaxMs: 'number, default 300: longest silence before/after a sentence (ms)',
  noiseFloorDbfs: 'number or null, default -70: white background noise RMS in dBFS (null: none)',
  noiseSnrDb: 'number, optional: add white noise at this SNR (dB) re the speech power',
  voices: `string[], default all: espeak English voices (${Object.keys(SYNTH_VOICES).join(', ')})`,
  variants: `string[], default ${SYNTH_VARIANTS.join(', ')}: espeak voice variants`,
  rateMinWpm: 'number, default 140: slowest speaker (words per minute)',
  rateMaxWpm: 'number, default 190: fastest speaker (words per minute)',
  pitchMin: 'number, default 35: lowest base pitch (espeak 0..99)',
  pitchMax: 'number, default 65: highest base pitch (espeak 0..99)',
};

/** Something that turns text into espeak-like output (the real engine, or a test double). */
export interface SpeechSynthesizer {
  synthesize(text: string, voice: EspeakVoice): EspeakOutput;
}

/** Test seams of {@link synthesizeCorpus}. */
export interface SynthDependencies {
  /** The synthesiser (default: the shared espeak-ng instance). */
  engine?: SpeechSynthesizer;
}

/** Skip reason: espeak threw while synthesising. */
export const SYNTHESIS_FAILED_REASON = 'espeak synthesis failed';
/** Skip reason: the sentence has characters the transcript normaliser rejects (should never happen). */
export const BAD_SENTENCE_REASON = 'sentence not normalisable';

const SPLIT_NAMES = ['train', 'dev', 'test'] as const;

function intOpt(
  opts: SynthOptions,
  key: keyof SynthOptions,
  dflt: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const v = opts[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`bad synth option '${key}'`, {
      keyPath: key,
      expected: `an integer in ${min}..${max}`,
      found: JSON.stringify(v),
    });
  }
  return v;
}

function numOpt(opts: SynthOptions, key: keyof SynthOptions, dflt: number, min: number, max = Infinity): number {
  const v = opts[key] ?? dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new ConfigError(`bad synth option '${key}'`, {
      keyPath: key,
      expected: `a number in ${min}..${max}`,
      found: JSON.stringify(v),
    });
  }
  return v;
}

/** Resolve `splits` (counts or fractions) to speaker counts per split. */
export function splitCounts(numSpeakers: number | undefined, splits: SynthOptions['splits']): Record<string, number> {
  const given = splits ?? { train: 0.75, dev: 0.125, test: 0.125 };
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw new ConfigError("bad synth option 'splits'", {
      keyPath: 'splits',
      expected: '{train, dev, test} counts or fractions',
      found: JSON.stringify(given),
    });
  }
  for (const k of Object.keys(given)) {
    if (!(SPLIT_NAMES as readonly string[]).includes(k)) {
      throw new ConfigError(`unknown split '${k}' in synth option 'splits'`, {
        keyPath: `splits.${k}`,
        expected: SPLIT_NAMES.join(', '),
        found: k,
      });
    }
  }
  const vals: Record<string, number> = {};
  for (const s of SPLIT_NAMES) {
    const v = (given as Record<string, unknown>)[s] ?? 0;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new ConfigError(`bad synth option 'splits.${s}'`, {
        keyPath: `splits.${s}`,
        expected: 'a count or fraction >= 0',
        found: JSON.stringify(v),
      });
    }
    vals[s] = v;
  }
  const sum = SPLIT_NAMES.reduce((a, s) => a + vals[s], 0);
  const counts: Record<string, number> = {};
  if (SPLIT_NAMES.every((s) => Number.isInteger(vals[s])) && sum > 1) {
    if (numSpeakers !== undefined && numSpeakers !== sum) {
      throw new ConfigError('synth split counts do not add up to numSpeakers', {
        keyPath: 'splits',
        expected: `${numSpeakers} speakers`,
        found: `${SPLIT_NAMES.map((s) => `${s} ${vals[s]}`).join(' + ')} = ${sum}`,
      });
    }
    for (const s of SPLIT_NAMES) counts[s] = vals[s];
  } else {
    if (Math.abs(sum - 1) > 1e-9) {
      throw new ConfigError('synth split fractions do not add up to 1', {
        keyPath: 'splits',
        expected: 'fractions summing to 1 (or integer speaker counts)',
        found: `${SPLIT_NAMES.map((s) => `${s} ${vals[s]}`).join(' + ')} = ${sum}`,
      });
    }
    const n = numSpeakers ?? 16;
    const dev = vals.dev > 0 ? Math.max(1, Math.round(vals.dev * n)) : 0;
    const test = vals.test > 0 ? Math.max(1, Math.round(vals.test * n)) : 0;
    counts.train = n - dev - test;
    counts.dev = dev;
    counts.test = test;
  }
  if (!(counts.train >= 1)) {
    throw new ConfigError('synth needs at least one training speaker', {
      keyPath: 'numSpeakers',
      expected: 'more speakers than dev + test',
      found: `train ${counts.train}, dev ${counts.dev}, test ${counts.test}`,
    });
  }
  return counts;
}

/** RMS of x[from, to). */
function rms(x: Float32Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i] * x[i];
  return to > from ? Math.sqrt(s / (to - from)) : 0;
}

/** Seconds with 10 microsecond resolution (finer than a sample at 22050 Hz; keeps manifests short). */
function sec(x: number): number {
  return Math.round(x * 1e5) / 1e5;
}

function toTimed(spans: SampleSpan[], leadSamples: number, upper: boolean): TimedSymbol[] {
  return spans.map((s) => {
    const start = sec((s.startSample + leadSamples) / ESPEAK_SAMPLE_RATE_HZ);
    const end = sec((s.endSample + leadSamples) / ESPEAK_SAMPLE_RATE_HZ);
    return { symbol: upper ? s.symbol.toUpperCase() : s.symbol, startSec: start, durationSec: sec(end - start) };
  });
}

/** One planned utterance: its speaker, index within the speaker, id and sentence. */
export interface Planned {
  speaker: SynthSpeaker;
  index: number;
  id: string;
  sentence: Sentence;
}

/**
 * Draw every sentence up front, in split/speaker order, redrawing repeats when `unique`. Grammar
 * only, no audio: a recipe's split sizes in words are known before any synthesis (tests use it).
 */
export function planSentences(
  speakers: SynthSpeaker[],
  perSpeaker: number,
  seed: number,
  opts: { minWords: number; maxWords: number; unique: boolean },
): Planned[] {
  const seen = new Set<string>();
  const plan: Planned[] = [];
  const width = Math.max(3, String(perSpeaker - 1).length);
  for (const speaker of speakers) {
    const rng = new Rng(`synth:${seed}:sentences:${speaker.id}`);
    for (let u = 0; u < perSpeaker; u++) {
      let sentence = generateSentence(rng, opts);
      for (let tries = 0; opts.unique && seen.has(sentence.words.join(' ')) && tries < 1000; tries++)
        sentence = generateSentence(rng, opts);
      if (opts.unique && seen.has(sentence.words.join(' '))) {
        throw new ConfigError('the grammar ran out of distinct sentences', {
          keyPath: 'uniqueSentences',
          expected: 'fewer utterances, a wider minWords..maxWords, or uniqueSentences: false',
          found: `${plan.length} distinct sentences`,
        });
      }
      seen.add(sentence.words.join(' '));
      plan.push({ speaker, index: u, id: `${speaker.id}_${String(u).padStart(width, '0')}`, sentence });
    }
  }
  return plan;
}

/**
 * Synthesise the corpus: WAVs under `<opts.outDir>/wav/`, validated manifests returned (not written).
 * Failed utterances are counted skips; a wrong option is a ConfigError before any audio is made.
 */
export async function synthesizeCorpus(
  opts: SynthOptions & CommonPrepareOptions,
  deps: SynthDependencies = {},
): Promise<PreparedCorpus> {
  checkAdapterOptions('synth', opts, SYNTH_OPTIONS_DOC);
  if (typeof opts.outDir !== 'string' || opts.outDir.length === 0)
    throw new ConfigError('synth needs outDir', { keyPath: 'outDir', expected: 'the output data directory' });
  const logger: Logger = opts.logger ?? log;
  const seed = intOpt(opts, 'seed', 0, 0, 2 ** 32 - 1);
  const counts = splitCounts(
    opts.numSpeakers === undefined ? undefined : intOpt(opts, 'numSpeakers', 16, 1, 128),
    opts.splits,
  );
  const perSpeaker = intOpt(opts, 'utterancesPerSpeaker', 25, 1);
  const minWords = intOpt(opts, 'minWords', 4, 1);
  const maxWords = intOpt(opts, 'maxWords', 14, minWords);
  const unique = opts.uniqueSentences ?? true;
  if (typeof unique !== 'boolean')
    throw new ConfigError("bad synth option 'uniqueSentences'", {
      keyPath: 'uniqueSentences',
      expected: 'true or false',
      found: JSON.stringify(unique),
    });
  const rateHz = intOpt(opts, 'sampleRateHz', 16000, 1000, 192000);
  const silenceMinMs = numOpt(opts, 'silenceMinMs', 100, 0, 10000);
  const silenceMaxMs = numOpt(opts, 'silenceMaxMs', 300, silenceMinMs, 10000);
  const floorDbfs = opts.noiseFloorDbfs === null ? null : numOpt(opts, 'noiseFloorDbfs', -70, -200, 0);
  const snrDb = opts.noiseSnrDb === undefined ? undefined : numOpt(opts, 'noiseSnrDb', 0, -50, 200);
  for (const k of ['voices', 'variants'] as const) {
    const v = opts[k];
    if (v !== undefined && (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))) {
      throw new ConfigError(`bad synth option '${k}'`, {
        keyPath: k,
        expected: 'a list of names',
        found: JSON.stringify(v),
      });
    }
  }
  const speakers = planSpeakers({
    counts,
    seed,
    voices: opts.voices,
    variants: opts.variants,
    rateMinWpm: opts.rateMinWpm,
    rateMaxWpm: opts.rateMaxWpm,
    pitchMin: opts.pitchMin,
    pitchMax: opts.pitchMax,
  });
  let engine: SpeechSynthesizer = deps.engine ?? (await getEspeak());
  if (engine instanceof EspeakEngine) {
    for (const s of speakers) {
      if (!engine.hasVoice(s))
        throw new ConfigError(`espeak-ng has no voice '${espeakVoiceName(s)}'`, {
          keyPath: 'variants',
          expected: 'an espeak-ng variant name (espeak-ng-data/voices/!v)',
          found: s.variant,
        });
    }
  }
  const plan = planSentences(speakers, perSpeaker, seed, { minWords, maxWords, unique });

  const outDir = resolve(opts.outDir);
  const wavDir = join(outDir, 'wav');
  const skips = new SkipCounter();
  const bySplit: Record<string, SplitManifest> = {};
  for (const s of SPLIT_NAMES) if (counts[s] > 0) bySplit[s] = { recordings: [], supervisions: [] };
  const floorRms = floorDbfs === null ? 0 : 10 ** (floorDbfs / 20);
  const progress = logger.progress('synth', plan.length, 'utterances');
  const started = Date.now();
  let audioSec = 0;

  for (const p of plan) {
    progress.tick();
    const { speaker, sentence, id } = p;
    let text: string;
    try {
      text = normalizeTranscript(sentence.words.join(' '), { uttId: id });
    } catch {
      skips.skip(id, BAD_SENTENCE_REASON);
      continue;
    }
    let out: EspeakOutput;
    let spans: ReturnType<typeof timingsFromEvents>;
    try {
      const input = espeakInput(sentence.spokenText);
      out = engine.synthesize(input, speaker);
      if (out.samples.length === 0) {
        skips.skip(id, EMPTY_AUDIO_REASON);
        continue;
      }
      spans = timingsFromEvents(out.events, sentence.words, input, out.samples, id);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      if (err instanceof CorpusError && err.message.includes(EVENT_MISMATCH_REASON)) {
        skips.skip(id, EVENT_MISMATCH_REASON, err.message);
        logger.debug(`skip ${id}: ${err.message}`);
        continue;
      }
      skips.skip(id, SYNTHESIS_FAILED_REASON, (err as Error).message);
      logger.debug(`skip ${id}: ${(err as Error).message}`);
      // A wasm abort can leave the instance unusable: continue with a fresh one.
      if (!deps.engine) engine = await reloadEspeak();
      continue;
    }

    // Silence padding at espeak's rate, then one band-limited resampling of the whole utterance.
    const rng = new Rng(`synth:${seed}:audio:${id}`);
    const lead = Math.round((rng.uniform(silenceMinMs, silenceMaxMs) / 1000) * ESPEAK_SAMPLE_RATE_HZ);
    const trail = Math.round((rng.uniform(silenceMinMs, silenceMaxMs) / 1000) * ESPEAK_SAMPLE_RATE_HZ);
    const padded = new Float32Array(lead + out.samples.length + trail);
    for (let i = 0; i < out.samples.length; i++) padded[lead + i] = out.samples[i] / 32768;
    const y = resample(padded, ESPEAK_SAMPLE_RATE_HZ, rateHz);

    // Noise: a floor everywhere, or white noise at the SNR if that is louder.
    const words = toTimed(spans.words, lead, true);
    const phones = toTimed(spans.phones, lead, false);
    const speechFrom = Math.floor(words[0].startSec * rateHz);
    const speechTo = Math.min(
      y.length,
      Math.ceil((words[words.length - 1].startSec + words[words.length - 1].durationSec) * rateHz),
    );
    const speechRms = rms(y, speechFrom, speechTo);
    const snrRms = snrDb === undefined ? 0 : speechRms / 10 ** (snrDb / 20);
    const noiseRms = Math.max(floorRms, snrRms);
    if (noiseRms > 0) {
      const noise = rng.fork('noise');
      for (let i = 0; i < y.length; i++) y[i] += noiseRms * noise.gauss();
    }
    // Keep the peak below full scale (resampling and noise can overshoot); recorded in custom.gain.
    let peak = 0;
    for (let i = 0; i < y.length; i++) peak = Math.max(peak, Math.abs(y[i]));
    const gain = peak > 0.98 ? 0.98 / peak : 1;
    if (gain !== 1) for (let i = 0; i < y.length; i++) y[i] *= gain;

    const path = join(wavDir, `${id}.wav`);
    await writeWav(path, y, rateHz, { bitsPerSample: 16 });
    const durationSec = y.length / rateHz;
    audioSec += durationSec;
    const m = bySplit[speaker.split];
    m.recordings.push({
      id,
      speaker: speaker.id,
      path,
      format: 'wav',
      channel: 0,
      sampleRateHz: rateHz,
      numSamples: y.length,
      durationSec,
    });
    m.supervisions.push({
      id,
      recordingId: id,
      speaker: speaker.id,
      startSec: 0,
      durationSec,
      text,
      alignment: { word: words, phone: phones },
      custom: {
        spokenText: sentence.spokenText,
        espeakVoice: espeakVoiceName(speaker),
        rateWpm: speaker.rateWpm,
        pitch: speaker.pitch,
        pitchRange: speaker.pitchRange,
        gender: speaker.gender,
        noiseRms: Number(noiseRms.toPrecision(4)),
        ...(snrDb !== undefined ? { snrDb } : {}),
        ...(gain !== 1 ? { gain: Number(gain.toPrecision(4)) } : {}),
      },
    });
    skips.done++;
  }
  const elapsedSec = (Date.now() - started) / 1000;
  progress.done(`${audioSec.toFixed(1)} s of audio, ${(audioSec / Math.max(elapsedSec, 1e-3)).toFixed(1)} s audio/s`);

  for (const s of Object.keys(bySplit)) {
    bySplit[s].recordings.sort((a, b) => compareIds(a.id, b.id));
    bySplit[s].supervisions.sort((a, b) => compareIds(a.id, b.id));
  }
  const summary = validateCorpus(bySplit, { disjointSpeakers: true });
  reportSkips(skips, 'synthetic utterances', logger);
  const info = makeCorpusInfo('synth', bySplit, summary, skips, {
    ...recordedOptions(opts),
    seed,
    speakerCounts: counts,
    espeakNg: `@echogarden/espeak-ng-emscripten ${ESPEAK_PACKAGE_VERSION}`,
    speakers: speakers.map((s) => ({
      id: s.id,
      split: s.split,
      voice: s.accent,
      variant: s.variant,
      rateWpm: s.rateWpm,
      pitch: s.pitch,
      pitchRange: s.pitchRange,
      gender: s.gender,
    })),
  });
  return { info, splits: bySplit };
}

function rebase(path: string, from: string, to: string): string {
  return path === from || path.startsWith(from + sep) ? to + path.slice(from.length) : path;
}

/**
 * Synthesise a complete data dir at `outDir` (manifests, corpus.json, wav/), atomically: everything
 * is written to a temporary sibling that replaces `outDir` only when finished and validated.
 */
export async function prepareSynth(
  outDir: string,
  opts: SynthOptions & { logger?: Logger } = {},
  deps: SynthDependencies = {},
): Promise<PreparedCorpus> {
  const final = resolve(outDir);
  let tmpDir = '';
  const prepared = await withAtomicOutput(final, async (tmp) => {
    tmpDir = resolve(tmp);
    const p = await synthesizeCorpus({ ...opts, outDir: tmpDir }, deps);
    await writeCorpus(tmpDir, p.info, p.splits);
    return p;
  });
  for (const m of Object.values(prepared.splits)) for (const r of m.recordings) r.path = rebase(r.path, tmpDir, final);
  if (!existsSync(final)) throw new CorpusError('synth output directory vanished after writing', { file: final });
  return prepared;
}

export const synthAdapter: CorpusAdapter<SynthOptions> = {
  name: 'synth',
  description:
    'embedded corpus: multi-speaker read speech synthesised offline by espeak-ng from a 500-word grammar (the directory argument is not used)',
  prepare: (_dir, opts) => synthesizeCorpus(opts),
  optionsDoc: SYNTH_OPTIONS_DOC,
};
