/** decodeCorpus: models + lang + HMM + LM -> hypotheses per system and split, weights tuned on dev only. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../../src/nnet/backend.ts';
import { decodeCorpus, type DecodeCorpusOptions, type DecodeSplitInput } from '../../../src/stages/decode.ts';
import { experimentModels, selectSystems } from '../../../src/stages/decode.ts';
import { readSplitTranscripts } from '../../../src/score/references.ts';
import { readTrn } from '../../../src/score/trn.ts';
import { scoreTranscripts } from '../../../src/score/wer.ts';
import { ConfigError, FormatError } from '../../../src/util/errors.ts';
import {
  writeTinyExperiment,
  writeFeatures,
  writeModel,
  TinyWorld,
  NO_CMVN,
  FEATURE_CONFIG,
  FEATURE_DIM,
  quiet,
  type TinyUtt,
} from './fixtures.ts';
import { loadModelDir } from '../../../src/nnet/io.ts';
import { utteranceLogits } from '../../../src/nnet/train.ts';

let root: string;
let x: Awaited<ReturnType<typeof writeTinyExperiment>>;

beforeAll(async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  root = mkdtempSync(join(tmpdir(), 'amd-decode-stage-'));
  x = await writeTinyExperiment(join(root, 'exp'), { sigma: 2 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function splitInput(name: string, featuresDir = x.dirs.features): Promise<DecodeSplitInput> {
  const t = await readSplitTranscripts(x.dirs.data, name);
  return { name, features: [join(featuresDir, `${name}.arrow`)], refs: t.refs, uttToSpeaker: t.uttToSpeaker };
}

async function base(out: string, wanted = ['baseline', 'ensemble', 'student']): Promise<DecodeCorpusOptions> {
  const exp = await experimentModels({ train: x.dirs.train, distill: x.dirs.distill });
  return {
    systems: selectSystems(exp, wanted),
    langDir: join(x.dirs.align, 'lang'),
    hmmModel: join(x.dirs.align, 'model.json'),
    lm: x.lm,
    tune: await splitInput('dev'),
    splits: [await splitInput('test')],
    outDir: join(root, out),
    backend: 'cpu',
    search: { lmWeights: [0.5, 1, 2], wordInsertionPenalties: [0, 1] },
    logger: quiet,
  };
}

/** Every output file's bytes, except timing.json. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
      else if (e.name !== 'timing.json') out[rel + e.name] = readFileSync(join(d, e.name), 'utf8');
    }
  };
  walk(dir, '');
  return out;
}

describe('decodeCorpus', () => {
  let first: Awaited<ReturnType<typeof decodeCorpus>>;

  beforeAll(async () => {
    first = await decodeCorpus(await base('out1'));
  });

  it('writes hypotheses, word times and per-utterance stats for every system and split, in reference order', async () => {
    const out = join(root, 'out1');
    const refs = { dev: readTrn(join(out, 'refs', 'dev.trn')), test: readTrn(join(out, 'refs', 'test.trn')) };
    expect(refs.dev.map((r) => r.uttId)).toEqual(x.splits.dev.map((u) => u.uttId));
    expect(refs.test.map((r) => r.words.join(' '))).toEqual(x.splits.test.map((u) => u.words.join(' ')));
    for (const sys of ['baseline', 'ensemble', 'student']) {
      for (const split of ['dev', 'test'] as const) {
        const hyps = readTrn(join(out, sys, `${split}.trn`));
        expect(hyps.map((h) => h.uttId)).toEqual(refs[split].map((r) => r.uttId));
        // The CTM holds the same words, with times inside the utterance and in order.
        const ctm = readFileSync(join(out, sys, `${split}.ctm`), 'utf8')
          .trim()
          .split('\n')
          .filter((l) => l)
          .map((l) => l.split(' '));
        expect(ctm.map((c) => c[4])).toEqual(hyps.flatMap((h) => h.words));
        for (const h of hyps) {
          const rows = ctm.filter((c) => c[0] === h.uttId);
          const frames = x.splits[split].find((u) => u.uttId === h.uttId)!.numFrames;
          let prevEnd = 0;
          for (const c of rows) {
            const st = Number(c[2]),
              du = Number(c[3]);
            expect(c[1]).toBe('1');
            expect(st).toBeGreaterThanOrEqual(prevEnd - 1e-9);
            expect(du).toBeGreaterThan(0);
            prevEnd = st + du;
          }
          expect(prevEnd).toBeLessThanOrEqual(frames * 0.01 + 1e-9);
        }
        const utts = readFileSync(join(out, sys, `${split}.utts.jsonl`), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
        expect(utts.map((u) => u.uttId)).toEqual(hyps.map((h) => h.uttId));
        expect(utts.map((u) => u.hyp)).toEqual(hyps.map((h) => h.words.join(' ')));
        for (const u of utts) expect(u.status).toBe('ok');
      }
    }
    const s = first.summary;
    expect(s.systems.map((y) => [y.name, y.kind, y.models.length])).toEqual([
      ['baseline', 'single', 1],
      ['ensemble', 'ensemble', 3],
      ['student', 'single', 1],
    ]);
    expect(s.lexicon).toMatchObject({ words: 6, notInLm: [], untrainedPhones: [] });
    expect(readFileSync(join(out, 'words.txt'), 'utf8').trim().split('\n')).toEqual([
      'A',
      'BAA',
      'BIKS',
      'KIY',
      'SIT',
      'TAB',
    ]);
  });

  it('tunes by rescoring one decode’s lattices, with the errors and the choice that re-decoding dev at every grid point gives', async () => {
    const tuning = JSON.parse(readFileSync(join(root, 'out1', 'student', 'tuning.json'), 'utf8'));
    expect(tuning.method).toEqual({
      by: 'lattice rescoring',
      firstPass: { lmWeight: 1, wordInsertionPenalty: 0 },
      latticeBeam: 8,
    });
    const errors: number[] = [];
    for (const { lmWeight, wordInsertionPenalty } of tuning.grid as {
      lmWeight: number;
      wordInsertionPenalty: number;
    }[]) {
      const o = await base(`grid-${lmWeight}-${wordInsertionPenalty}`, ['student']);
      const search = { ...o.search, lmWeight, wordInsertionPenalty };
      const r = await decodeCorpus({ ...o, tune: null, splits: [await splitInput('dev')], search });
      errors.push(r.summary.systems[0].splits.dev.errors!);
    }
    expect(tuning.grid.map((p: { errors: number }) => p.errors)).toEqual(errors);
    expect(new Set(errors).size).toBeGreaterThan(1);
  });

  it("chooses each system's LM weight and penalty on dev (fewest errors, first among equals) and applies them to test", async () => {
    const out = join(root, 'out1');
    for (const sys of first.summary.systems) {
      const tuning = JSON.parse(readFileSync(join(out, sys.name, 'tuning.json'), 'utf8'));
      expect(
        tuning.grid.map((p: { lmWeight: number; wordInsertionPenalty: number }) => [
          p.lmWeight,
          p.wordInsertionPenalty,
        ]),
      ).toEqual([
        [0.5, 0],
        [0.5, 1],
        [1, 0],
        [1, 1],
        [2, 0],
        [2, 1],
      ]);
      const fewest = Math.min(...tuning.grid.map((p: { errors: number }) => p.errors));
      const best = tuning.grid.find((p: { errors: number }) => p.errors === fewest);
      expect(tuning.best).toEqual(best);
      expect([sys.lmWeight, sys.wordInsertionPenalty, sys.weightsFrom]).toEqual([
        best.lmWeight,
        best.wordInsertionPenalty,
        'tuning',
      ]);
      // The dev hypotheses written are the chosen grid point's.
      const dev = scoreTranscripts(readTrn(join(out, 'refs', 'dev.trn')), readTrn(join(out, sys.name, 'dev.trn')));
      expect(dev.errors).toBe(best.errors);
      expect(sys.splits.dev.errors).toBe(best.errors);
    }
    // Decoding test alone with the chosen weights fixed gives the same hypotheses.
    const sys = first.summary.systems[1];
    const fixed = await base('fixed', ['ensemble']);
    await decodeCorpus({
      ...fixed,
      tune: null,
      search: { lmWeight: sys.lmWeight, wordInsertionPenalty: sys.wordInsertionPenalty },
    });
    expect(readFileSync(join(root, 'fixed', 'ensemble', 'test.trn'), 'utf8')).toBe(
      readFileSync(join(out, 'ensemble', 'test.trn'), 'utf8'),
    );
    const fx = JSON.parse(readFileSync(join(root, 'fixed', 'decode.json'), 'utf8'));
    expect(fx.systems[0]).toMatchObject({ weightsFrom: 'fixed', tuning: null });
    // Every system's chosen weights frozen per system (as a study's final runs do) give the tuned test hypotheses.
    const frozen = Object.fromEntries(
      first.summary.systems.map((x) => [
        x.name,
        { lmWeight: x.lmWeight, wordInsertionPenalty: x.wordInsertionPenalty },
      ]),
    );
    await decodeCorpus({
      ...(await base('frozen')),
      tune: null,
      systemWeights: frozen,
      search: { lmWeight: 9, wordInsertionPenalty: 9 },
    });
    const fz = JSON.parse(readFileSync(join(root, 'frozen', 'decode.json'), 'utf8'));
    for (const x of first.summary.systems) {
      expect(fz.systems.find((y: { name: string }) => y.name === x.name)).toMatchObject({
        ...frozen[x.name],
        weightsFrom: 'fixed',
      });
      expect(readFileSync(join(root, 'frozen', x.name, 'test.trn'), 'utf8')).toBe(
        readFileSync(join(out, x.name, 'test.trn'), 'utf8'),
      );
    }
  });

  it('never looks at the test references when choosing the weights', async () => {
    // Same dev, test references replaced by nonsense: same weights, same test hypotheses.
    const o = await base('garbled', ['baseline', 'student']);
    const test = o.splits[0];
    const r = await decodeCorpus({
      ...o,
      splits: [{ ...test, refs: test.refs!.map((u) => ({ ...u, words: ['KIY', 'KIY', 'KIY'] })) }],
    });
    for (const name of ['baseline', 'student']) {
      const a = first.summary.systems.find((y) => y.name === name)!;
      const b = r.summary.systems.find((y) => y.name === name)!;
      expect([b.lmWeight, b.wordInsertionPenalty]).toEqual([a.lmWeight, a.wordInsertionPenalty]);
      expect(readFileSync(join(root, 'garbled', name, 'test.trn'), 'utf8')).toBe(
        readFileSync(join(root, 'out1', name, 'test.trn'), 'utf8'),
      );
    }
  });

  it('gives the same bytes on a rerun (timing apart), and records speed in timing.json only', async () => {
    await decodeCorpus(await base('out2'));
    expect(snapshot(join(root, 'out2'))).toEqual(snapshot(join(root, 'out1')));
    const t = JSON.parse(readFileSync(join(root, 'out1', 'timing.json'), 'utf8'));
    expect(t.systems.ensemble.test.frames).toBe(x.splits.test.reduce((a, u) => a + u.numFrames, 0));
    expect(t.systems.ensemble.test.searchRtf).toBeGreaterThan(0);
    expect(t.systems.ensemble.dev.acousticSec).toBeGreaterThan(0);
  });

  it('decodes well enough to be a real decoder: the student test WER is below 25%', () => {
    expect(first.summary.systems.find((s) => s.name === 'student')!.splits.test.wer!).toBeLessThan(25);
  });
});

describe("decodeCorpus with priors from the systems' mean posteriors (Kaldi nnet3 adjust-priors)", () => {
  it("averages each system's posteriors over the prior split, writes them, and decodes with them", async () => {
    const o = await base('priors-all', ['student', 'ensemble']);
    const train = await splitInput('train');
    const r = await decodeCorpus({ ...o, tune: null, priors: { source: 'posteriors', split: train, maxFrames: 1e9 } });
    const trainFrames = x.splits.train.reduce((n, u) => n + u.numFrames, 0);
    for (const sys of r.summary.systems) {
      expect(sys.priors).toMatchObject({
        source: 'posteriors',
        split: 'train',
        utterances: x.splits.train.length,
        frames: trainFrames,
        file: `${sys.name}/priors.json`,
      });
      if (sys.priors.source === 'posteriors') expect(sys.priors.klFromAlignments).toBeGreaterThan(0);
    }
    // The student's priors: its softmax outputs averaged over every training frame, computed here directly.
    const { classifier, sidecar } = await loadModelDir(join(x.dirs.distill, 'student', 'final'));
    const S = x.world.numSenones;
    const mean = new Float64Array(S);
    for (const u of x.splits.train) {
      const z = utteranceLogits(
        classifier,
        { uttId: u.uttId, numFrames: u.numFrames, dim: FEATURE_DIM, feats: u.feats },
        { splice: sidecar.splice, batchSize: 64 },
      );
      for (let t = 0; t < u.numFrames; t++) {
        let m = -Infinity,
          sum = 0;
        for (let s = 0; s < S; s++) m = Math.max(m, z[t * S + s]);
        for (let s = 0; s < S; s++) sum += Math.exp(z[t * S + s] - m);
        for (let s = 0; s < S; s++) mean[s] += Math.exp(z[t * S + s] - m) / sum / trainFrames;
      }
    }
    classifier.dispose();
    const written = JSON.parse(readFileSync(join(root, 'priors-all', 'student', 'priors.json'), 'utf8'));
    expect(written).toMatchObject({ source: 'posteriors', split: 'train', frames: trainFrames });
    for (let s = 0; s < S; s++)
      expect(Math.abs(written.priors[s] - mean[s])).toBeLessThan(1e-6 * Math.max(mean[s], 1e-3));
    // Decoding with them equals decoding a copy of the model whose sidecar carries them as its priors.
    const copy = join(root, 'models', 'student-with-posterior-priors');
    cpSync(join(x.dirs.distill, 'student', 'final'), copy, { recursive: true });
    const sc = JSON.parse(readFileSync(join(copy, 'sidecar.json'), 'utf8'));
    sc.priors = written.priors;
    writeFileSync(join(copy, 'sidecar.json'), JSON.stringify(sc));
    await decodeCorpus({
      ...o,
      tune: null,
      systems: [{ name: 'student', models: [copy] }],
      outDir: join(root, 'priors-copy'),
    });
    const uttsOf = (dir: string) => readFileSync(join(root, dir, 'student', 'test.utts.jsonl'), 'utf8');
    expect(uttsOf('priors-copy')).toBe(uttsOf('priors-all'));
    // ... and differs from decoding with the alignment priors (path scores at least).
    const plain = await decodeCorpus({
      ...o,
      tune: null,
      systems: [{ name: 'student', models: [join(x.dirs.distill, 'student', 'final')] }],
      outDir: join(root, 'priors-default'),
    });
    expect(first(plain).priors).toEqual({ source: 'alignments' });
    expect(uttsOf('priors-default')).not.toBe(uttsOf('priors-all'));
  });

  it('takes evenly spaced whole utterances up to the frame budget', async () => {
    const o = await base('priors-sub', ['student']);
    const r = await decodeCorpus({
      ...o,
      tune: null,
      priors: { source: 'posteriors', split: await splitInput('train'), maxFrames: 100 },
    });
    const p = r.summary.systems[0].priors;
    if (p.source !== 'posteriors') return expect.fail('posterior priors expected');
    const longest = Math.max(...x.splits.train.map((u) => u.numFrames));
    expect(p.frames).toBeGreaterThanOrEqual(100);
    expect(p.frames).toBeLessThan(100 + longest);
    expect(p.utterances).toBeLessThan(x.splits.train.length);
    const err = await decodeCorpus({
      ...o,
      tune: null,
      priors: { source: 'posteriors', split: await splitInput('train'), maxFrames: 0 },
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/prior frame count/);
  });
});

const first = (r: Awaited<ReturnType<typeof decodeCorpus>>) => r.summary.systems[0];

describe('decodeCorpus edge cases and bad input', () => {
  it('gives an empty hypothesis, counted, to an utterance with no surviving token and to a reference without features', async () => {
    // A 2-frame utterance (no word fits: the shortest, A, needs 3) and a reference whose features are missing.
    const world = new TinyWorld({ seed: 'edge' });
    const short: TinyUtt = { ...world.utterance('tests9_000', 'tests9', ['A'], new Float64Array(10)) };
    short.numFrames = 2;
    short.senones = short.senones.slice(0, 2);
    short.feats = short.feats.slice(0, 2 * 10);
    const featDir = join(root, 'edge-features');
    await writeFeatures(featDir, { test: [...x.splits.test, short] });
    const o = await base('edge', ['student']);
    const test = await splitInput('test', featDir);
    test.refs = [
      ...test.refs!,
      { uttId: 'tests9_000', words: ['A'], line: 0 },
      { uttId: 'tests9_001', words: ['KIY', 'A'], line: 0 },
    ];
    const r = await decodeCorpus({ ...o, tune: null, splits: [test] });
    const s = r.summary.systems[0].splits.test;
    expect(s).toMatchObject({
      utterances: x.splits.test.length + 2,
      decoded: x.splits.test.length + 1,
      noPath: 1,
      noPathUtterances: ['tests9_000'],
      noFeatures: 1,
    });
    expect(s.emptyHyps).toBeGreaterThanOrEqual(2);
    const hyps = readTrn(join(root, 'edge', 'student', 'test.trn'));
    expect(hyps.slice(-2)).toEqual([
      { uttId: 'tests9_000', words: [], line: hyps.length - 1 },
      { uttId: 'tests9_001', words: [], line: hyps.length },
    ]);
    const utts = readFileSync(join(root, 'edge', 'student', 'test.utts.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(utts.slice(-2).map((u) => u.status)).toEqual(['no-path', 'no-features']);
    expect(r.summary.skipped.test.reasons).toEqual([{ reason: 'no features', count: 1, examples: ['tests9_001'] }]);
  });

  it("rejects an LM whose vocabulary has none of the lexicon's words, naming the LM file", async () => {
    const lm = join(root, 'foreign.arpa');
    writeFileSync(
      lm,
      '\\data\\\nngram 1=4\n\n\\1-grams:\n-0.5\t<s>\t0\n-0.5\t</s>\n-0.5\tHELLO\n-0.5\tWORLD\n\n\\end\\\n',
    );
    const o = await base('foreign', ['student']);
    const err = await decodeCorpus({ ...o, lm }).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toContain(lm);
    expect(err.message).toMatch(/no lexicon word is in the LM vocabulary/);
  });

  it('leaves lexicon words the LM does not know out of the search and lists them', async () => {
    const lm = join(root, 'partial.arpa');
    // An LM without SIT and BIKS.
    const { arpaOf } = await import('./fixtures.ts');
    writeFileSync(
      lm,
      arpaOf(
        x.splits.train
          .map((u) => ({ words: u.words.filter((w) => w !== 'SIT' && w !== 'BIKS') }))
          .filter((u) => u.words.length),
      ),
    );
    const o = await base('partial', ['student']);
    const r = await decodeCorpus({ ...o, lm, tune: null });
    expect(r.summary.lexicon.notInLm).toEqual(['BIKS', 'SIT']);
    expect(
      readFileSync(join(root, 'partial', 'words.txt'), 'utf8')
        .trim()
        .split('\n'),
    ).toEqual(['A', 'BAA', 'KIY', 'TAB']);
    const words = readTrn(join(root, 'partial', 'student', 'test.trn')).flatMap((h) => h.words);
    expect(words.length).toBeGreaterThan(0);
    expect(words.filter((w) => w === 'SIT' || w === 'BIKS')).toEqual([]);
  });

  it('rejects models that do not fit the HMM or the features, and a tuning split without references', async () => {
    const o = await base('bad', ['student']);
    const wrongS = join(root, 'models', 'wrong-senones');
    await writeModel(wrongS, x.world, x.splits.train, {
      perturb: 0,
      seed: 'w',
      cmvn: NO_CMVN,
      numSenones: x.world.numSenones + 2,
    });
    let err = await decodeCorpus({ ...o, systems: [{ name: 'w', models: [wrongS] }] }).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toMatch(/senone count 30 vs 28/);
    expect(err.message).toContain(wrongS);
    const wrongF = join(root, 'models', 'wrong-features');
    await writeModel(wrongF, x.world, x.splits.train, {
      perturb: 0,
      seed: 'w',
      cmvn: NO_CMVN,
      featureConfig: { ...FEATURE_CONFIG, frameShiftMs: 12.5 },
    });
    err = await decodeCorpus({ ...o, systems: [{ name: 'w', models: [wrongF] }] }).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toMatch(/feature config/);
    const inv = join(root, 'models', 'other-inventory');
    await writeModel(inv, x.world, x.splits.train, { perturb: 0, seed: 'w', cmvn: NO_CMVN, senoneInventoryId: 'abc' });
    err = await decodeCorpus({ ...o, systems: [{ name: 'w', models: [inv] }], senoneInventoryId: 'def' }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toMatch(/another senone inventory.*found abc/);
    err = await decodeCorpus({ ...o, tune: { ...o.tune!, refs: undefined } }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/tuning split needs references/);
    err = await decodeCorpus({ ...o, search: { beam: 0 } }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.location.keyPath).toBe('beam');
    err = await decodeCorpus({ ...o, splits: [o.tune!] }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/listed twice/);
  });
});
