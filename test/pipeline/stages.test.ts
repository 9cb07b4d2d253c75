import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, utimesSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRecipe } from '../../src/pipeline/recipe.ts';
import { runPipeline } from '../../src/pipeline/runner.ts';
import { createDefaultRegistry } from '../../src/stages/index.ts';
import { parseShard } from '../../src/stages/features.ts';
import { mergeSkips } from '../../src/stages/common.ts';
import { adapterOptionSchema } from '../../src/stages/prepare.ts';
import { ConfigError } from '../../src/util/errors.ts';
import { makeKaldiCorpus, tinyRecipe } from '../cli/fixtures.ts';
import { captureLogger } from './toy-stages.ts';
import { floatWavBytes } from '../helpers.ts';
import { readAudioChannel } from '../../src/audio/index.ts';

const registry = createDefaultRegistry();
let root: string;
let dataDir: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'amd-stages-'));
  dataDir = await makeKaldiCorpus(root, 2, 2);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const parse = (text: string, opts: { sets?: string[]; corpusDir?: string } = {}) =>
  parseRecipe(text, 'r.yaml', { registry, cwd: root, ...opts });

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('prepare stage', () => {
  it('registers prepare then features first', () => {
    expect(registry.names().slice(0, 2)).toEqual(['prepare', 'features']);
  });
  it('checks adapter options by type at load time, with the recipe line', () => {
    const fsdd = 'name: f\ncorpus: {name: fsdd, dir: x}\nstages:\n  prepare:\n    mode: chunked\n';
    expect(configError(() => parse(fsdd)).location).toMatchObject({
      file: 'r.yaml',
      line: 5,
      keyPath: 'stages.prepare.mode',
    });
    const unknown = configError(() =>
      parse('name: f\ncorpus: {name: kaldi, dir: x}\nstages:\n  prepare:\n    split: train\n'),
    );
    expect(unknown.location).toMatchObject({ line: 5, keyPath: 'stages.prepare.split' });
    expect(unknown.expected).toBe('one of splitName, splits, audioBaseDir, disjointSpeakers');
    const corpus = configError(() => parse('name: f\ncorpus: {name: wsj, dir: x}\nstages: {prepare: {}}\n'));
    expect(corpus.location.keyPath).toBe('corpus.name');
    expect(corpus.expected).toContain('"fsdd"');
  });
  it('documents every adapter option from the adapter', () => {
    const schema = adapterOptionSchema('fsdd');
    expect(Object.keys(schema)).toContain('evalDir');
    expect(schema.evalDir.doc).toContain('second FSDD-layout directory');
  });
  it('needs a corpus section and, for a recorded corpus, a directory', async () => {
    expect(configError(() => parse('name: f\nstages: {prepare: {}}\n')).location.keyPath).toBe('corpus');
    const { log } = captureLogger();
    const recipe = parse('name: f\ncorpus: {name: kaldi}\nstages: {prepare: {}}\n', {
      sets: [`expDir=${join(root, 'e0')}`],
    });
    await expect(runPipeline(recipe, { registry, log })).rejects.toThrow(
      /corpus 'kaldi' needs a directory; expected corpus.dir in the recipe or --corpus-dir/,
    );
  });
  it('refuses a download section for a corpus that cannot be downloaded', async () => {
    const { log } = captureLogger();
    const recipe = parse(
      `name: f\ncorpus:\n  name: kaldi\n  dir: ${dataDir}\n  download: {}\nstages: {prepare: {}}\n`,
      { sets: [`expDir=${join(root, 'e1')}`] },
    );
    const err = await runPipeline(recipe, { registry, log }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(
      "r.yaml:5, key 'corpus.download': corpus 'kaldi' cannot be downloaded; expected no download section, or a corpus among librispeech",
    );
  });
  it('reruns when a corpus file changes (size/mtime fingerprint) and passes the change downstream', async () => {
    const { log, lines } = captureLogger();
    const recipe = parse(tinyRecipe(), { corpusDir: dataDir, sets: [`expDir=${join(root, 'e2')}`] });
    const first = await runPipeline(recipe, { registry, log });
    expect(first.stages.map((s) => s.status)).toEqual(['ran', 'ran']);
    const rec = JSON.parse(readFileSync(join(root, 'e2', 'prepare', 'stage.json'), 'utf8'));
    expect(rec.inputs.external).toMatchObject([{ path: dataDir, mode: 'stat', files: 6 }]);
    expect((await runPipeline(recipe, { registry, log })).stages.map((s) => s.status)).toEqual([
      'up-to-date',
      'up-to-date',
    ]);
    // Touch a transcript: same bytes, new mtime. The corpus fingerprint changes, prepare reruns,
    // produces identical manifests, so features (which read only those) stays up to date.
    const text = join(dataDir, 'train', 'text');
    utimesSync(text, new Date(), new Date(Date.now() + 5000));
    const third = await runPipeline(recipe, { registry, log });
    expect(third.stages.map((s) => s.status)).toEqual(['ran', 'up-to-date']);
    expect(third.stages[0].reason).toBe('inputs changed (external files)');
    expect(lines).toContain('skip features: up to date');
  });
});

describe('bad audio in a corpus', () => {
  // train: spk1-train-0 truncated, spk2-train-1 a float WAV with a NaN, spk1-train-2 with a sample
  // of 1e30, spk2-train-3 intact; test: intact.
  let bad: string;
  beforeAll(async () => {
    bad = await makeKaldiCorpus(join(root, 'bad-audio'), 4, 4);
    const wav = (u: string) => join(root, 'bad-audio', 'wav', `${u}.wav`);
    truncateSync(wav('spk1-train-0'), 100);
    for (const [u, x] of [
      ['spk2-train-1', Number.NaN],
      ['spk1-train-2', 1e30],
    ] as const) {
      const a = await readAudioChannel(wav(u));
      a.samples[400] = x;
      writeFileSync(wav(u), floatWavBytes(a.samples, a.sampleRateHz));
    }
  });
  it('prepare: the skip summary at the default log level gives the cause of each skip', async () => {
    const { log, lines } = captureLogger();
    await runPipeline(parse(tinyRecipe(), { corpusDir: bad, sets: [`expDir=${join(root, 'e8')}`] }), {
      registry,
      log,
      toStage: 'prepare',
    });
    const at = lines.indexOf('  1 x unreadable audio (e.g. spk1-train-0)');
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe(
      `      spk1-train-0: ${join(root, 'bad-audio', 'wav', 'spk1-train-0.wav')}: truncated WAV: data chunk runs past end of file; expected ${lines[at + 1].match(/expected (\d+) data bytes/)?.[1]} data bytes, found 56`,
    );
  });
  it('features: a NaN sample is a counted skip naming the file, whatever the feature set; 1e30 a warning', async () => {
    for (const [exp, mfcc] of [
      ['e9', 'false'],
      ['e10', '{}'],
    ]) {
      const { log, lines } = captureLogger();
      const run = await runPipeline(
        parse(tinyRecipe() + `    mfcc: ${mfcc}\n`, { corpusDir: bad, sets: [`expDir=${join(root, exp)}`] }),
        { registry, log },
      );
      const f = run.stages.find((s) => s.stage === 'features')!;
      expect(f.skipped, mfcc).toEqual({
        done: 6,
        skipped: 1,
        reasons: [{ reason: 'non-finite audio samples', count: 1, examples: ['spk2-train-1'] }],
      });
      const path = join(root, 'bad-audio', 'wav', 'spk2-train-1.wav');
      expect(lines).toContain(
        `WARN: skipping spk2-train-1: ${path}: non-finite audio sample; expected finite samples, found NaN at sample 400 (0.025 s)`,
      );
      expect(
        lines.some((l) =>
          l.startsWith(
            `WARN: spk1-train-2: ${join(root, 'bad-audio', 'wav', 'spk1-train-2.wav')}: samples far beyond full scale (largest |x| 1e+30 at sample 400`,
          ),
        ),
      ).toBe(true);
    }
  });
});

describe('features stage', () => {
  it('rejects a split that is not in the corpus, naming the recipe key', async () => {
    const { log } = captureLogger();
    const recipe = parse(tinyRecipe() + '    splits: [dev]\n', {
      corpusDir: dataDir,
      sets: [`expDir=${join(root, 'e3')}`],
    });
    const err = await runPipeline(recipe, { registry, log }).catch((e) => e);
    expect(err.message).toContain(
      "r.yaml:12, key 'stages.features.splits': split 'dev' is not in the corpus; expected splits among test, train",
    );
  });
  it('validates fbank and mfcc options through the features module, with full key paths', () => {
    const e = configError(() => parse(tinyRecipe().replace('numMelBins: 23', 'numMelBins: many')));
    expect(e.location).toMatchObject({ keyPath: 'stages.features.fbank.numMelBins', line: 11 });
    const m = configError(() => parse(tinyRecipe() + '    mfcc: {numCepz: 3}\n'));
    expect(m.location.keyPath).toBe('stages.features.mfcc.numCepz');
    expect(parse(tinyRecipe() + '    mfcc: false\n').stages[1].options.mfcc).toBe(false);
  });
  it('checks fbank and mfcc options against the sample rate at load time when the corpus declares it, with the full key path', () => {
    const synth = (features: string, prepare = '{sampleRateHz: 16000}') =>
      `name: s\ncorpus: {name: synth}\nstages:\n  prepare: ${prepare}\n  features:\n${features}`;
    const bins = configError(() =>
      parse(synth('    fbank: {}\n'), { sets: ['stages.features.fbank.numMelBins=2000'] }),
    );
    expect(bins.location).toEqual({
      file: '--set stages.features.fbank.numMelBins=2000',
      keyPath: 'stages.features.fbank.numMelBins',
    });
    expect(bins.message).toContain(
      'a mel bin covers no FFT bin; too many mel bins for this FFT length; expected fewer bins (FFT length 512 at 16000 Hz)',
    );
    const low = configError(() => parse(synth('    fbank:\n      lowFreqHz: 9000\n')));
    expect(low.location).toEqual({ file: 'r.yaml', line: 7, keyPath: 'stages.features.fbank.lowFreqHz' });
    expect(low.message).toContain('bad mel frequency range; expected 0 <= lowFreqHz < highFreqHz <= Nyquist (8000 Hz)');
    // The MFCC (frame options from the fbank), at the adapter's default rate (synth: 16 kHz).
    const mfcc = configError(() => parse(synth('    mfcc: {highFreqHz: 9000}\n', '{}')));
    expect(mfcc.location).toMatchObject({ file: 'r.yaml', line: 6, keyPath: 'stages.features.mfcc.highFreqHz' });
    // An explicit fbank.sampleRateHz decides, whatever the corpus.
    expect(
      configError(() => parse(tinyRecipe() + '      sampleRateHz: 8000\n      lowFreqHz: 4500\n')).location.keyPath,
    ).toBe('stages.features.fbank.lowFreqHz');
    expect(parse(synth('    fbank: {lowFreqHz: 7000}\n')).stages[1].options.fbank).toMatchObject({ lowFreqHz: 7000 });
  });
  it('checks them before reading any audio when the rate is known only from the prepared corpus (Kaldi data dirs)', async () => {
    const recipe = parse(tinyRecipe().replace('numMelBins: 23', 'numMelBins: 2000'), {
      corpusDir: dataDir,
      sets: [`expDir=${join(root, 'e7')}`],
    });
    const { log, lines } = captureLogger();
    const err = await runPipeline(recipe, { registry, log }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.location).toEqual({ file: 'r.yaml', line: 11, keyPath: 'stages.features.fbank.numMelBins' });
    expect(err.message).toContain('FFT length 512 at 16000 Hz');
    expect(lines.some((l) => l.startsWith('features train'))).toBe(false); // no progress: no audio read
  });
  it('checks the VTLP option at load time and its splits against the splits processed, naming the recipe key', async () => {
    expect(parse(tinyRecipe() + '    vtlp: {warps: [0.9, 1.1]}\n').stages[1].options.vtlp).toEqual({
      warps: [0.9, 1.1],
      splits: ['train'],
    });
    const bad = configError(() => parse(tinyRecipe() + '    vtlp: {warps: [1.0]}\n'));
    expect(bad.location).toMatchObject({ keyPath: 'stages.features.vtlp.warps', line: 12 });
    expect(configError(() => parse(tinyRecipe() + '    vtlp: {warps: [0.9], split: [train]}\n')).location.keyPath).toBe(
      'stages.features.vtlp.split',
    );
    const { log } = captureLogger();
    const recipe = parse(tinyRecipe() + '    vtlp: {warps: [0.9], splits: [dev]}\n', {
      corpusDir: dataDir,
      sets: [`expDir=${join(root, 'e5')}`],
    });
    const err = await runPipeline(recipe, { registry, log }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(
      "r.yaml:12, key 'stages.features.vtlp.splits': VTLP split 'dev' is not among the splits processed; expected splits among test, train",
    );
    // A run records the warps of each split with copies (the report reads them).
    await runPipeline(
      parse(tinyRecipe() + '    vtlp: {warps: [0.9]}\n', { corpusDir: dataDir, sets: [`expDir=${join(root, 'e6')}`] }),
      { registry, log },
    );
    const rec = JSON.parse(readFileSync(join(root, 'e6', 'features', 'stage.json'), 'utf8'));
    expect(rec.details.splits.train.vtlpWarps).toEqual([0.9]);
    expect(rec.details.splits.test.vtlpWarps).toBeUndefined();
  });
  it('parses --shard i/N (0-based) and sums skip reports', () => {
    expect(parseShard('0/4')).toEqual({ index: 0, count: 4 });
    expect(() => parseShard('4/4')).toThrow(ConfigError);
    expect(() => parseShard('1-4')).toThrow(ConfigError);
    expect(
      mergeSkips([
        { done: 3, skipped: 1, reasons: [{ reason: 'a', count: 1, examples: ['u1'] }] },
        {
          done: 2,
          skipped: 3,
          reasons: [
            { reason: 'a', count: 1, examples: ['u2'] },
            { reason: 'b', count: 2, examples: ['u3', 'u4'] },
          ],
        },
      ]),
    ).toEqual({
      done: 5,
      skipped: 4,
      reasons: [
        { reason: 'a', count: 2, examples: ['u1', 'u2'] },
        { reason: 'b', count: 2, examples: ['u3', 'u4'] },
      ],
    });
  });
});
