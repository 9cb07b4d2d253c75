/**
 * Isolated words decoded with a one-word grammar (issue 29 item 7): the lm stage writes the grammar
 * of a split (`stages.lm.grammars`), the decode stage decodes that split with it, and the score
 * stage reports its WER per system.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../../src/nnet/backend.ts';
import { decodeCorpus } from '../../../src/stages/decode.ts';
import { formatArpa } from '../../../src/lm/arpa.ts';
import { grammarModel } from '../../../src/lm/grammar.ts';
import { parseRecipe } from '../../../src/pipeline/recipe.ts';
import { runPipeline } from '../../../src/pipeline/runner.ts';
import { readTrn } from '../../../src/score/trn.ts';
import { ConfigError } from '../../../src/util/errors.ts';
import { createLogger } from '../../../src/util/log.ts';
import {
  TinyWorld,
  VOCAB,
  isolatedWordSplit,
  makeSplits,
  quiet,
  toyDecodeRecipe,
  toyDecodeRegistry,
  writeTinyExperiment,
} from './fixtures.ts';

let root: string;
beforeAll(async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  root = mkdtempSync(join(tmpdir(), 'amd-grammar-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('decodeCorpus with a split of its own LM (a one-word grammar)', () => {
  it('gives exactly one word per utterance on that split, even where 1-4 words were spoken; other splits keep the n-gram', async () => {
    const x = await writeTinyExperiment(join(root, 'direct'), { sigma: 2, seed: 'grammar' });
    const grammar = join(root, 'one-word.arpa');
    writeFileSync(grammar, formatArpa(grammarModel('one-word', VOCAB)));
    const out = join(root, 'direct-out');
    const split = (name: string, lm?: string) => ({
      name,
      features: [join(x.dirs.features, `${name}.arrow`)],
      refs: x.splits[name].map((u, i) => ({ uttId: u.uttId, words: u.words, line: i + 1 })),
      ...(lm ? { lm } : {}),
    });
    const r = await decodeCorpus({
      systems: [{ name: 'student', models: [join(x.dirs.distill, 'student', 'final')] }],
      langDir: join(x.dirs.align, 'lang'),
      hmmModel: join(x.dirs.align, 'model.json'),
      lm: x.lm,
      splits: [split('dev', grammar), split('test')],
      outDir: out,
      backend: 'cpu',
      search: { lmWeight: 1 },
      logger: quiet,
    });
    expect(x.splits.dev.some((u) => u.words.length > 1)).toBe(true);
    const dev = readTrn(join(out, 'student', 'dev.trn'));
    expect(dev).toHaveLength(x.splits.dev.length);
    expect(dev.every((h) => h.words.length === 1)).toBe(true);
    expect(readTrn(join(out, 'student', 'test.trn')).some((h) => h.words.length > 1)).toBe(true);
    expect(r.summary.splitLms).toEqual({
      dev: expect.objectContaining({
        file: grammar,
        order: 2,
        vocabulary: VOCAB.length + 2,
        searchWords: VOCAB.length,
      }),
    });
    expect(r.summary.lm.file).toBe(x.lm);
  }, 60_000);
});

describe('lm, decode and score stages with stages.lm.grammars (isolated words)', () => {
  const tiny = () => {
    const world = new TinyWorld({ sigma: 2, seed: 'isolated' });
    const splits = makeSplits(world, { speakers: { train: 3, dev: 1, test: 1 } });
    return { world, splits: { ...splits, 'test-isolated': isolatedWordSplit(world, ['isos0', 'isos1']) } };
  };
  const log = createLogger({ stream: { write: () => true } });
  const recipe = (decode: string, grammars = '{test-isolated: one-word}') =>
    toyDecodeRecipe(`{order: 2, grammars: ${grammars}}`, `{backend: cpu, ${decode}}`);
  const run = (decode: string, opts: { grammars?: string; from?: string } = {}) => {
    const registry = toyDecodeRegistry(tiny);
    const r = parseRecipe(recipe(decode, opts.grammars), 'r.yaml', {
      registry,
      cwd: root,
      sets: [`expDir=${join(root, 'exp')}`],
    });
    return runPipeline(r, { registry, log, ...(opts.from ? { fromStage: opts.from } : {}) });
  };

  it('write the grammar, decode the isolated split with it, and score its WER for every system', async () => {
    await run('lmWeights: [0.5, 1], wordInsertionPenalties: [0], splits: [test, test-isolated]');
    const exp = join(root, 'exp');
    const json = (...p: string[]) => JSON.parse(readFileSync(join(exp, ...p), 'utf8'));

    const lm = json('lm', 'lm.json');
    expect(lm.grammars['test-isolated']).toMatchObject({
      kind: 'one-word',
      file: 'grammars/test-isolated.arpa',
      words: VOCAB.length,
    });
    expect(lm.grammars['test-isolated'].eval).toMatchObject({ sentences: 2 * VOCAB.length, oovs: 0 });
    expect(lm.grammars['test-isolated'].eval.ppl).toBeCloseTo(Math.sqrt(VOCAB.length), 4);
    expect(json('lm', 'stage.json').counts['test-isolatedGrammarPpl']).toBeCloseTo(Math.sqrt(VOCAB.length), 2);

    const dec = json('decode', 'decode.json');
    expect(dec.splits).toEqual(['dev', 'test', 'test-isolated']);
    expect(dec.lm.file).toBe('lm/lm.arpa');
    expect(Object.keys(dec.splitLms)).toEqual(['test-isolated']);
    expect(dec.splitLms['test-isolated']).toMatchObject({
      file: 'lm/grammars/test-isolated.arpa',
      searchWords: VOCAB.length,
    });

    const score = json('score', 'score.json');
    const iso = score.results.filter((r: { split: string }) => r.split === 'test-isolated');
    expect(iso.map((r: { system: string }) => r.system)).toEqual(['baseline', 'ensemble', 'student']);
    for (const r of iso) {
      expect(r.refWords).toBe(2 * VOCAB.length);
      expect([r.ins, r.del]).toEqual([0, 0]); // one word in, one word out: substitutions only
      expect(r.wer).toBe((100 * r.sub) / r.refWords);
      const hyps = readTrn(join(exp, 'decode', r.system, 'test-isolated.trn'));
      expect(hyps.every((h) => h.words.length === 1)).toBe(true);
    }
    expect(json('score', 'stage.json').counts['student.test-isolated.wer']).toBeCloseTo(iso[2].wer, 2);
    expect(iso[2].wer).toBeLessThan(50);
  }, 120_000);

  it('refuses an LM weight of 0 for a grammar split, an unknown grammar and a grammar for a missing split', async () => {
    let err = await run('tuneSplit: null, lmWeight: 0, splits: [test-isolated]', { from: 'decode' }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.location).toMatchObject({ file: 'r.yaml', line: 10, keyPath: 'stages.decode.lmWeight' });
    expect(err.message).toMatch(/switch off the grammar of 'test-isolated'/);
    err = await run('lmWeights: [0, 1], splits: [test-isolated]', { from: 'decode' }).catch((e) => e);
    expect(err.location).toMatchObject({ keyPath: 'stages.decode.lmWeights' });
    // A study freezes tuned weights per system: a 0 there would switch the grammar off just the same.
    err = await run(
      'tuneSplit: null, lmWeight: 1, systemWeights: {student: {lmWeight: 0, wordInsertionPenalty: 0}}, splits: [test-isolated]',
      { from: 'decode' },
    ).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.location).toMatchObject({ keyPath: 'stages.decode.systemWeights.student.lmWeight' });
    expect(err.message).toMatch(/switch off the grammar of 'test-isolated'/);
    expect(() =>
      parseRecipe(recipe('splits: [test]', '{test-isolated: two-words}'), 'r.yaml', {
        registry: toyDecodeRegistry(tiny),
        cwd: root,
      }),
    ).toThrow(/stages.lm.grammars/);
    err = await run('splits: [test]', { grammars: '{eval: one-word}', from: 'lm' }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/split 'eval' is not in the corpus/);
  }, 60_000);
});
