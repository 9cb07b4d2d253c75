import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { dictionary } from 'cmu-pronouncing-dictionary';
import { audioInfo, readAudioChannel } from '../../src/audio/index.ts';
import { readCorpus } from '../../src/corpus/manifest.ts';
import { validateDataDir } from '../../src/corpus/validate.ts';
import type { PreparedCorpus, Supervision } from '../../src/corpus/types.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { prepareCorpus } from '../../corpora/index.ts';
import {
  prepareSynth,
  synthesizeCorpus,
  SYNTHESIS_FAILED_REASON,
  type SpeechSynthesizer,
  type SynthOptions,
} from '../../corpora/synth/index.ts';
import { getEspeak, type EspeakEngine } from '../../corpora/synth/espeak.ts';
import { grammarVocabulary } from '../../corpora/synth/grammar.ts';
import { SYNTH_VOICES } from '../../corpora/synth/speakers.ts';
import { EVENT_MISMATCH_REASON, espeakInput, timingsFromEvents } from '../../corpora/synth/timing.ts';
import { memoryLogger, tmp } from '../corpus/helpers.ts';

const quiet = memoryLogger();
/** Variants without espeak's echo (m2, f2..f5 add a ~130 ms reverberant tail after the last word). */
const DRY_VARIANTS = ['m1', 'm3', 'm4', 'f1', 'klatt', 'klatt3'];
const TINY: SynthOptions = {
  numSpeakers: 6,
  splits: { train: 4, dev: 1, test: 1 },
  utterancesPerSpeaker: 2,
  seed: 7,
  variants: DRY_VARIANTS,
};

const dirs: string[] = [];
function scratch(): string {
  const d = tmp('amd-synth-');
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Every file under `dir` (relative path -> bytes). */
function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

/** Frame energies in dB: 10 ms windows every 5 ms; frame k covers [k*hop, k*hop + win). */
function frameDb(x: Float32Array, rateHz: number): { db: number[]; hop: number; win: number } {
  const hop = Math.round(0.005 * rateHz);
  const win = 2 * hop;
  const db: number[] = [];
  for (let s = 0; s + win <= x.length; s += hop) {
    let e = 0;
    for (let k = s; k < s + win; k++) e += x[k] * x[k];
    db.push(10 * Math.log10(e / win + 1e-20));
  }
  return { db, hop, win };
}

function rmsOf(x: Float32Array, fromSec: number, toSec: number, rateHz: number): number {
  const a = Math.max(0, Math.round(fromSec * rateHz));
  const b = Math.min(x.length, Math.round(toSec * rateHz));
  let s = 0;
  for (let i = a; i < b; i++) s += x[i] * x[i];
  return Math.sqrt(s / Math.max(1, b - a));
}

const endOf = (w: { startSec: number; durationSec: number }) => w.startSec + w.durationSec;

let engine: EspeakEngine;
let dataDir = '';
let prepared: PreparedCorpus;
beforeAll(async () => {
  engine = await getEspeak();
  dataDir = join(scratch(), 'data');
  prepared = await prepareSynth(dataDir, { ...TINY, logger: quiet });
});

describe('synth corpus (espeak-ng, tiny)', () => {
  it('writes a data dir that validates from disk: 16 kHz 16-bit mono WAVs, manifests, corpus.json', async () => {
    const summary = await validateDataDir(dataDir, { disjointSpeakers: true });
    expect(summary.sampleRateHz).toBe(16000);
    expect(prepared.info.corpus).toBe('synth');
    expect(prepared.info.splits).toEqual(['train', 'dev', 'test']);
    expect(prepared.info.skipped).toEqual({ done: 12, skipped: 0, reasons: [] });
    expect(prepared.info.counts.train).toMatchObject({ recordings: 8, supervisions: 8, speakers: 4 });
    const fromDisk = await readCorpus(dataDir);
    expect(fromDisk.splits).toEqual(prepared.splits);
    for (const r of Object.values(prepared.splits).flatMap((m) => m.recordings)) {
      expect(dirname(r.path)).toBe(join(dataDir, 'wav'));
      const info = await audioInfo(r.path);
      expect(info).toMatchObject({
        format: 'wav',
        sampleRateHz: 16000,
        numChannels: 1,
        bitsPerSample: 16,
        sampleType: 'int',
        numSamples: r.numSamples,
      });
    }
    expect(quiet.lines.some((l) => /^synth: 12\/12 utterances .* s audio\/s/.test(l))).toBe(true);
  });

  it('records the speakers; splits are disjoint by speaker and by voice variant', () => {
    const speakers = prepared.info.options.speakers as { id: string; split: string; variant: string; voice: string }[];
    expect(speakers.length).toBe(6);
    const bySplit = (split: string) => new Set(prepared.splits[split].supervisions.map((s) => s.speaker));
    for (const [a, b] of [
      ['train', 'dev'],
      ['train', 'test'],
      ['dev', 'test'],
    ]) {
      expect([...bySplit(a)].filter((s) => bySplit(b).has(s))).toEqual([]);
      const va = new Set(speakers.filter((s) => s.split === a).map((s) => s.variant));
      expect(speakers.filter((s) => s.split === b).some((s) => va.has(s.variant))).toBe(false);
    }
    for (const s of speakers) expect(bySplit(s.split).has(s.id)).toBe(true);
  });

  it('has transcripts made only of grammar words, every one in CMUdict, and no repeated sentence', () => {
    const vocab = new Set(grammarVocabulary().map((w) => w.toUpperCase()));
    const texts = Object.values(prepared.splits).flatMap((m) => m.supervisions.map((s) => s.text));
    expect(new Set(texts).size).toBe(texts.length);
    for (const t of texts) {
      for (const w of t.split(' ')) {
        expect(vocab.has(w)).toBe(true);
        expect(w.toLowerCase() in (dictionary as Record<string, string>)).toBe(true);
      }
    }
  });

  it('gives word timings that are monotonic, inside the audio, tiled by the phones, after the leading silence', () => {
    for (const m of Object.values(prepared.splits)) {
      for (const s of m.supervisions) {
        const words = s.alignment!.word!;
        const phones = s.alignment!.phone!;
        expect(words.map((w) => w.symbol).join(' ')).toBe(s.text);
        expect(words[0].startSec).toBeGreaterThanOrEqual(0.1 - 1e-3); // silenceMinMs 100
        expect(s.durationSec - endOf(words[words.length - 1])).toBeGreaterThanOrEqual(0.1 - 1e-3);
        let prevEnd = 0;
        let p = 0;
        for (const w of words) {
          expect(w.durationSec).toBeGreaterThan(0);
          expect(w.startSec).toBeGreaterThanOrEqual(prevEnd - 1e-9);
          prevEnd = endOf(w);
          // The phones of this word start at its start and end at its end, without gaps.
          expect(phones[p].startSec).toBeCloseTo(w.startSec, 4);
          let t = w.startSec;
          while (p < phones.length && phones[p].startSec < endOf(w) - 1e-6) {
            expect(phones[p].startSec).toBeCloseTo(t, 4);
            expect(phones[p].durationSec).toBeGreaterThanOrEqual(0);
            t = endOf(phones[p]);
            p++;
          }
          expect(t).toBeCloseTo(endOf(w), 4);
        }
        expect(p).toBe(phones.length);
        expect(prevEnd).toBeLessThanOrEqual(s.durationSec);
      }
    }
  });

  it('puts the first word start and the last word end where the energy starts and stops (within 10 ms)', async () => {
    for (const m of Object.values(prepared.splits)) {
      for (const r of m.recordings) {
        const s = m.supervisions.find((x) => x.recordingId === r.id)!;
        const { samples, sampleRateHz } = await readAudioChannel(r.path);
        const { db, hop, win } = frameDb(samples, sampleRateHz);
        const thr = Math.max(...db) - 40; // the -70 dBFS noise floor is far below
        const first = db.findIndex((d) => d > thr);
        let last = db.length - 1;
        while (db[last] <= thr) last--;
        const onsetSec = (first * hop + win / 2) / sampleRateHz;
        const offsetSec = (last * hop + win / 2) / sampleRateHz;
        const w = s.alignment!.word!;
        expect(Math.abs(onsetSec - w[0].startSec)).toBeLessThan(0.01);
        expect(Math.abs(offsetSec - endOf(w[w.length - 1]))).toBeLessThan(0.01);
        // Every word holds speech: its loudest frame is within 30 dB of the utterance peak.
        for (const x of w) {
          const a = Math.floor((x.startSec * sampleRateHz) / hop);
          const b = Math.max(a + 1, Math.floor((endOf(x) * sampleRateHz - win) / hop));
          expect(Math.max(...db.slice(a, b))).toBeGreaterThan(thr + 10);
        }
      }
    }
  });
});

describe('synth timings against the waveform (espeak-ng)', () => {
  it('places a word boundary before a voiceless stop at the start of its silent closure', () => {
    const sentence = 'she kept the cat, then took two cups to paris.';
    const words = sentence.replace(/[,.]/g, '').split(' ');
    const input = espeakInput(sentence);
    const out = engine.synthesize(input, { voice: 'en-us', variant: 'm3', rateWpm: 170, pitch: 50, pitchRange: 50 });
    const t = timingsFromEvents(out.events, words, input, out.samples);
    const x = Float32Array.from(out.samples, (v) => v / 32768);
    const { db, hop } = frameDb(x, 22050);
    const peak = Math.max(...db);
    let checked = 0;
    for (let i = 1; i < t.words.length; i++) {
      const w = t.words[i];
      const first = t.phones.find((p) => p.startSample === w.startSample)!;
      if (!['p', 't', 'k'].includes(first.symbol) || t.words[i - 1].endSample !== w.startSample) continue;
      // The closure: exact silence right after the boundary, sound right before it.
      expect(out.samples.subarray(w.startSample, w.startSample + 200).every((v) => v === 0)).toBe(true);
      expect(db[Math.floor(w.startSample / hop) - 3]).toBeGreaterThan(peak - 40);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(4); // kept, cat, took, two, cups, to, paris
    // A pause (the comma) separates "cat" from "then": no word covers it.
    const cat = t.words[3],
      then = t.words[4];
    expect((then.startSample - cat.endSample) / 22050).toBeGreaterThan(0.05);
  });

  it('is a pure function of (text, voice): the same call gives the same samples whatever came before', () => {
    const v = { voice: 'en-gb-scotland', variant: 'klatt', rateWpm: 160, pitch: 40, pitchRange: 60 };
    const a = engine.synthesize('the ferry to dublin leaves at noon.', v);
    engine.synthesize('something else entirely, with a pause.', { ...v, variant: 'f2' });
    const b = engine.synthesize('the ferry to dublin leaves at noon.', v);
    expect(b.samples.length).toBe(a.samples.length);
    expect(Buffer.from(b.samples.buffer).equals(Buffer.from(a.samples.buffer))).toBe(true);
    expect(b.events).toEqual(a.events);
  });
});

describe('synth vocabulary through espeak-ng', () => {
  it('gives every grammar word exactly one word event with phonemes, in every voice', () => {
    const vocab = grammarVocabulary();
    const failures: string[] = [];
    for (const voice of Object.values(SYNTH_VOICES)) {
      for (let i = 0; i < vocab.length; i += 25) {
        const words = vocab.slice(i, i + 25);
        const input = espeakInput(words.join(' ') + '.');
        // Word events do not depend on the rate; a fast rate keeps the test short.
        const out = engine.synthesize(input, { voice, variant: 'm1', rateWpm: 350, pitch: 50, pitchRange: 50 });
        try {
          timingsFromEvents(out.events, words, input, out.samples);
        } catch (err) {
          failures.push(`${voice}: ${(err as Error).message}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});

describe('synth determinism and atomic output', () => {
  it('gives byte-identical WAVs and manifests for the same seed, and other sentences for another seed', async () => {
    const again = join(scratch(), 'data');
    await prepareSynth(again, { ...TINY, logger: quiet });
    const a = filesOf(dataDir);
    const b = filesOf(again);
    expect([...b.keys()]).toEqual([...a.keys()]);
    expect([...a.keys()].filter((k) => k.endsWith('.wav')).length).toBe(12);
    for (const [k, bytes] of a) expect(b.get(k)!.equals(bytes), k).toBe(true);

    const other = await prepareSynth(join(scratch(), 'data'), {
      ...TINY,
      utterancesPerSpeaker: 1,
      seed: 8,
      logger: quiet,
    });
    const texts = (p: PreparedCorpus) => Object.values(p.splits).flatMap((m) => m.supervisions.map((s) => s.text));
    expect(texts(other).filter((t) => texts(prepared).includes(t)).length).toBeLessThan(3);
  });

  it('replaces an existing data dir only on success; a failure leaves it (and no temp files) behind', async () => {
    const parent = scratch();
    const out = join(parent, 'data');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'marker'), 'old');
    const failing: SpeechSynthesizer = {
      synthesize: (text, v) => {
        if (text.includes('\u200b')) throw new ConfigError('engine misconfigured');
        return engine.synthesize(text, v);
      },
    };
    await expect(
      prepareSynth(out, { ...TINY, utterancesPerSpeaker: 1, logger: quiet }, { engine: failing }),
    ).rejects.toThrow(/engine misconfigured/);
    expect(readFileSync(join(out, 'marker'), 'utf8')).toBe('old');
    expect(readdirSync(parent)).toEqual(['data']);
    await prepareSynth(out, { numSpeakers: 1, splits: { train: 1 }, utterancesPerSpeaker: 1, logger: quiet });
    expect(existsSync(join(out, 'marker'))).toBe(false);
    expect(readdirSync(out).sort()).toEqual(['corpus.json', 'train', 'wav']);
  });

  it('is registered as the corpus adapter "synth" (the directory argument is unused)', async () => {
    const out = join(scratch(), 'reg');
    const p = await prepareCorpus('synth', '-', {
      outDir: out,
      numSpeakers: 2,
      splits: { train: 1, test: 1 },
      utterancesPerSpeaker: 1,
      logger: quiet,
    });
    expect(p.info.splits).toEqual(['train', 'test']);
    await validateDataDir(out, { disjointSpeakers: true });
    expect(basename(p.splits.test.recordings[0].path)).toBe(`${p.splits.test.recordings[0].id}.wav`);
  });
});

describe('synth failures and options', () => {
  it('counts a failed synthesis and events that do not match as skips, and keeps going', async () => {
    let n = 0;
    const flaky: SpeechSynthesizer = {
      synthesize(text, v) {
        n++;
        if (n === 2) throw new Error('RuntimeError: unreachable');
        const out = engine.synthesize(text, v);
        if (n === 3) return { ...out, events: out.events.filter((e) => !(e.type === 'word' && e.textPosition === 1)) };
        return out;
      },
    };
    const log = memoryLogger();
    const p = await synthesizeCorpus(
      {
        outDir: scratch(),
        numSpeakers: 3,
        splits: { train: 1, dev: 1, test: 1 },
        utterancesPerSpeaker: 3,
        logger: log,
      },
      { engine: flaky },
    );
    expect(p.info.skipped.done).toBe(7);
    expect(p.info.skipped.skipped).toBe(2);
    expect(p.info.skipped.reasons.map((r) => r.reason).sort()).toEqual(
      [EVENT_MISMATCH_REASON, SYNTHESIS_FAILED_REASON].sort(),
    );
    expect(p.info.counts.train.supervisions).toBe(1);
    expect(log.lines.some((l) => /WARN: Done 7 synthetic utterances, skipped 2/.test(l))).toBe(true);
  });

  it('rejects bad options with a ConfigError before synthesising anything', async () => {
    const out = join(scratch(), 'never');
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ numSpeaker: 4 }, /unknown synth option 'numSpeaker'/],
      [{ numSpeakers: 5, splits: { train: 3, dev: 1, test: 2 } }, /do not add up to numSpeakers/],
      [{ voices: ['en-au'] }, /unknown synth voice 'en-au'/],
      [
        { variants: ['m1', 'nosuchvariant'], numSpeakers: 2, splits: { train: 1, test: 1 } },
        /espeak-ng has no voice '.*\+nosuchvariant'/,
      ],
      [{ noiseSnrDb: 'loud' }, /noiseSnrDb/],
      [{ minWords: 9, maxWords: 3 }, /maxWords/],
      [{ utterancesPerSpeaker: 0 }, /utterancesPerSpeaker/],
    ];
    for (const [opts, msg] of bad) {
      await expect(prepareSynth(out, { ...opts, logger: quiet } as SynthOptions)).rejects.toThrow(ConfigError);
      await expect(prepareSynth(out, { ...opts, logger: quiet } as SynthOptions)).rejects.toThrow(msg);
    }
    expect(existsSync(out)).toBe(false);
  });

  it('adds white noise at the requested SNR, a -70 dBFS floor by default, and nothing when the floor is off', async () => {
    const base: SynthOptions = {
      numSpeakers: 1,
      splits: { train: 1 },
      utterancesPerSpeaker: 2,
      silenceMinMs: 250,
      silenceMaxMs: 300,
      variants: ['m3'],
      logger: quiet,
    } as SynthOptions;
    const measure = async (opts: SynthOptions) => {
      const p = await synthesizeCorpus({ ...base, ...opts, outDir: scratch() });
      return Promise.all(
        p.splits.train.recordings.map(async (r) => {
          const s: Supervision = p.splits.train.supervisions.find((x) => x.recordingId === r.id)!;
          const { samples, sampleRateHz } = await readAudioChannel(r.path);
          const w = s.alignment!.word!;
          const noise = rmsOf(samples, 0, w[0].startSec - 0.05, sampleRateHz);
          const speech = rmsOf(samples, w[0].startSec, endOf(w[w.length - 1]), sampleRateHz);
          return { noise, speech, samples };
        }),
      );
    };
    for (const { noise, speech } of await measure({ noiseSnrDb: 10 })) {
      const snr = 10 * Math.log10((speech ** 2 - noise ** 2) / noise ** 2);
      expect(Math.abs(snr - 10)).toBeLessThan(1);
    }
    for (const { noise } of await measure({})) {
      expect(Math.abs(20 * Math.log10(noise) - -70)).toBeLessThan(1);
    }
    for (const { samples } of await measure({ noiseFloorDbfs: null })) {
      expect(samples.subarray(0, 1000).every((v) => v === 0)).toBe(true);
    }
  });
});
