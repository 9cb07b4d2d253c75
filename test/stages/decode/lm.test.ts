/** trainCorpusLm: the lm stage's library function. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainCorpusLm } from '../../../src/stages/lm.ts';
import { parseArpa } from '../../../src/lm/arpa.ts';
import { BackoffLm } from '../../../src/lm/model.ts';
import { ConfigError, CorpusError } from '../../../src/util/errors.ts';
import { TinyWorld, writeDataDir, quiet, type TinyUtt } from './fixtures.ts';
import { expectClose } from '../../decode/helpers.ts';

let root: string;
let data: string;
let splits: Record<string, TinyUtt[]>;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'amd-lmstage-'));
  const w = new TinyWorld({ seed: 'lm' });
  const z = new Float64Array(10);
  const u = (id: string, words: string[]) => w.utterance(id, id.split('_')[0], words, z);
  splits = {
    train: [u('a_1', ['A', 'BAA']), u('a_2', ['BAA', 'KIY', 'A']), u('a_3', ['KIY', 'KIY']), u('b_1', ['TAB', 'A'])],
    // SIT and BIKS occur only in dev/test: OOV for an LM of the training text.
    dev: [u('c_1', ['A', 'SIT', 'BAA']), u('c_2', ['KIY'])],
    test: [u('d_1', ['BIKS', 'TAB', 'A', 'SIT'])],
  };
  data = join(root, 'data');
  await writeDataDir(data, splits);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('trainCorpusLm', () => {
  it('trains on the training transcripts only and reports perplexity and OOV rate on dev and test', async () => {
    const out = join(root, 'lm1');
    const s = await trainCorpusLm({ dataDir: data, outDir: out, order: 2, logger: quiet });
    expect(readFileSync(join(out, 'train.txt'), 'utf8')).toBe('A BAA\nBAA KIY A\nKIY KIY\nTAB A\n');
    const lm = new BackoffLm(parseArpa(readFileSync(join(out, 'lm.arpa'), 'utf8')));
    expect([...lm.vocab].sort()).toEqual(['</s>', '<s>', '<unk>', 'A', 'BAA', 'KIY', 'TAB']);
    expect(s).toMatchObject({ order: 2, trainSplits: ['train'], sentences: 4, tokens: 9, vocabulary: 7 });
    expect(Object.keys(s.eval)).toEqual(['dev', 'test']);
    expect(s.eval.dev).toMatchObject({ sentences: 2, words: 4, oovs: 1, oovRate: 25 });
    expect(s.eval.test).toMatchObject({ sentences: 1, words: 4, oovs: 2, oovRate: 50 });
    // Perplexity as src/lm computes it on the same text (SRILM convention).
    const ppl = lm.perplexity([
      { words: ['A', 'SIT', 'BAA'], line: 1 },
      { words: ['KIY'], line: 2 },
    ]);
    expectClose(s.eval.dev.ppl, ppl.ppl, 1e-9, 'dev ppl');
    expect(JSON.parse(readFileSync(join(out, 'lm.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(s)));
  });

  it('gives the same bytes for the same input, and adds extra text when given', async () => {
    await trainCorpusLm({ dataDir: data, outDir: join(root, 'lm2'), order: 2, logger: quiet });
    for (const f of ['lm.arpa', 'train.txt', 'lm.json'])
      expect(readFileSync(join(root, 'lm2', f), 'utf8')).toBe(readFileSync(join(root, 'lm1', f), 'utf8'));
    const extra = join(root, 'extra.txt');
    writeFileSync(extra, '<s> SIT SIT </s>\n\nBIKS\n');
    const s = await trainCorpusLm({
      dataDir: data,
      outDir: join(root, 'lm3'),
      order: 3,
      extraText: extra,
      logger: quiet,
    });
    expect(s.sentences).toBe(6);
    expect(s.eval.test.oovs).toBe(0);
  });

  it('refuses dev or test text as training text, unknown splits, and empty training text', async () => {
    let err = await trainCorpusLm({
      dataDir: data,
      outDir: join(root, 'x'),
      trainSplits: ['train', 'dev'],
      evalSplits: ['dev', 'test'],
      logger: quiet,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.location.keyPath).toBe('evalSplits');
    expect(err.message).toMatch(/never train the LM on dev\/test text/);
    err = await trainCorpusLm({
      dataDir: data,
      outDir: join(root, 'x'),
      trainSplits: ['training'],
      logger: quiet,
    }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/split 'training' is not in the corpus.*train, dev, test/);
    const empty = join(root, 'empty-data');
    const w = new TinyWorld({ seed: 'e' });
    const blank = { ...w.utterance('e_1', 'e', ['A'], new Float64Array(10)), words: [] };
    await writeDataDir(empty, { train: [blank], test: [blank] });
    err = await trainCorpusLm({ dataDir: empty, outDir: join(root, 'x'), logger: quiet }).catch((e) => e);
    expect(err).toBeInstanceOf(CorpusError);
    expect(err.message).toMatch(/no LM training text/);
    err = await trainCorpusLm({ dataDir: data, outDir: join(root, 'x'), order: 0, logger: quiet }).catch((e) => e);
    expect(err).toBeInstanceOf(ConfigError);
  });
});
