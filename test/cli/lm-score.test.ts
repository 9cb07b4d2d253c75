/**
 * `lm train --data` and `score --decode` run the stages' functions (trainCorpusLm, scoreDecodeDir):
 * the same files as calling them directly, flags mapped to the stage options.
 */
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { trainCorpusLm } from '../../src/stages/lm.ts';
import { scoreDecodeDir } from '../../src/stages/score.ts';
import { TinyWorld, writeDataDir, quiet, type TinyUtt } from '../stages/decode/fixtures.ts';

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi
    .spyOn(process.stdout, 'write')
    .mockImplementation((s: string | Uint8Array) => ((stdout += String(s)), true));
  const err = vi
    .spyOn(process.stderr, 'write')
    .mockImplementation((s: string | Uint8Array) => ((stderr += String(s)), true));
  try {
    return { code: await main(['node', 'am-distill', ...args]), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

let root: string;
let data: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'amd-cli-stages-'));
  const w = new TinyWorld({ seed: 'cli-lm' });
  const z = new Float64Array(10);
  const u = (id: string, words: string[]) => w.utterance(id, id.split('_')[0], words, z);
  const splits: Record<string, TinyUtt[]> = {
    train: [u('a_1', ['A', 'BAA']), u('a_2', ['BAA', 'KIY', 'A']), u('b_1', ['TAB', 'A'])],
    dev: [u('c_1', ['A', 'SIT', 'BAA'])],
    test: [u('d_1', ['BIKS', 'TAB', 'A'])],
  };
  data = join(root, 'data');
  await writeDataDir(data, splits);
  writeDecodeDir(join(root, 'decode'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('am-distill lm train --data (the lm stage)', () => {
  it('writes what trainCorpusLm writes, with the flags as the stage options', async () => {
    const extra = join(root, 'extra.txt');
    writeFileSync(extra, 'SIT SIT\n');
    const r = await cli(
      'lm',
      'train',
      '--data',
      data,
      '--out',
      join(root, 'lm-cli'),
      '--order',
      '2',
      '--train-split',
      'train',
      '--eval-split',
      'test',
      '--extra-text',
      extra,
    );
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`order 2: 4 sentences, 9 words of train + extra text (1-grams`);
    expect(r.stdout).toMatch(/^test: ppl [\d.]+, 1 OOVs \(33\.33%\)$/m);
    await trainCorpusLm({
      dataDir: data,
      outDir: join(root, 'lm-lib'),
      order: 2,
      trainSplits: ['train'],
      evalSplits: ['test'],
      extraText: extra,
      logger: quiet,
    });
    expect(readdirSync(join(root, 'lm-cli')).sort()).toEqual(['lm.arpa', 'lm.json', 'train.txt']);
    for (const f of ['lm.arpa', 'lm.json', 'train.txt'])
      expect(readFileSync(join(root, 'lm-cli', f), 'utf8'), f).toBe(readFileSync(join(root, 'lm-lib', f), 'utf8'));
  });

  it('defaults as the recipe does, and writes a grammar with --grammar', async () => {
    const r = await cli('lm', 'train', '--data', data, '--out', join(root, 'lm-default'), '--grammar', 'test=one-word');
    expect(r.code).toBe(0);
    const s = JSON.parse(readFileSync(join(root, 'lm-default', 'lm.json'), 'utf8'));
    expect(s).toMatchObject({
      order: 3,
      trainSplits: ['train'],
      grammars: { test: { kind: 'one-word', file: 'grammars/test.arpa' } },
    });
    expect(Object.keys(s.eval)).toEqual(['dev', 'test']);
  });

  it('exits 2 naming the flag: stage flags without --data, no input or two, a bad grammar, a split the corpus lacks', async () => {
    const text = join(root, 'text.txt');
    writeFileSync(text, 'A B\n');
    for (const [args, message] of [
      [
        ['--text', text, '--out', join(root, 'x.arpa'), '--train-split', 'train'],
        '--train-split: --train-split needs --data',
      ],
      [
        ['--out', join(root, 'x')],
        'lm train: lm train needs one input; expected either --data <dataDir> or --text <file>, found neither',
      ],
      [['--data', data, '--text', text, '--out', join(root, 'x')], `--data ${data}: lm train needs one input`],
      [
        ['--data', data, '--out', join(root, 'x'), '--grammar', 'test=loop'],
        '--grammar test=loop, key \'grammars.test\': wrong type; expected one of "one-word", "word-loop"',
      ],
      [['--data', data, '--out', join(root, 'x'), '--grammar', 'test'], '--grammar test: bad --grammar'],
      [
        ['--data', data, '--out', join(root, 'x'), '--eval-split', 'nosuch'],
        "--eval-split nosuch, key 'evalSplits': split 'nosuch' is not in the corpus",
      ],
      [
        ['--data', data, '--out', join(root, 'x'), '--order', '11'],
        '--order 11: bad --order; expected an integer >= 1 and <= 10, found 11',
      ],
    ] as const) {
      const r = await cli('lm', 'train', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(message);
    }
    expect(existsSync(join(root, 'x'))).toBe(false);
    expect(existsSync(join(root, 'x.arpa'))).toBe(false);
  });
});

const REFS = { dev: 'a b c (s1_1)\nd e (s2_1)\n', test: 'one two three (t1_1)\nfour five (t2_1)\nsix (t2_2)\n' };
const HYPS: Record<string, Record<string, string>> = {
  baseline: { dev: 'a b (s1_1)\nd e (s2_1)\n', test: 'one two (t1_1)\nfour fife (t2_1)\n(t2_2)\n' },
  student: { dev: 'a b c (s1_1)\nd (s2_1)\n', test: 'one two three (t1_1)\nfour five (t2_1)\nsix (t2_2)\n' },
};

function writeDecodeDir(dir: string): void {
  mkdirSync(join(dir, 'refs'), { recursive: true });
  for (const [split, text] of Object.entries(REFS)) writeFileSync(join(dir, 'refs', `${split}.trn`), text);
  for (const [system, hyps] of Object.entries(HYPS)) {
    mkdirSync(join(dir, system), { recursive: true });
    for (const [split, text] of Object.entries(hyps)) writeFileSync(join(dir, system, `${split}.trn`), text);
  }
  const split = {
    utterances: 0,
    decoded: 0,
    frames: 0,
    noPath: 0,
    noPathUtterances: [],
    noFeatures: 0,
    emptyHyps: 0,
    wer: null,
    errors: null,
    refWords: null,
    files: {},
  };
  const systems = Object.keys(HYPS).map((name) => ({
    name,
    models: [],
    kind: 'single',
    lmWeight: 1,
    wordInsertionPenalty: 0,
    weightsFrom: 'tuning',
    tuning: { split: 'dev' },
    splits: { dev: split, test: split },
  }));
  writeFileSync(
    join(dir, 'decode.json'),
    JSON.stringify({
      format: 'am-distill.decode',
      formatVersion: 1,
      tuneSplit: 'dev',
      splits: ['dev', 'test'],
      systems,
    }),
  );
}

describe('am-distill score --decode (the score stage)', () => {
  it('writes what scoreDecodeDir writes, with the flags as the stage options', async () => {
    const decode = join(root, 'decode');
    const r = await cli(
      'score',
      '--decode',
      decode,
      '--out',
      join(root, 'score-cli'),
      '--mode',
      'kaldi',
      '--replicates',
      '50',
      '--worst',
      '1',
      '--compare',
      'student,baseline',
      '--seed',
      '4',
    );
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^baseline test: %WER 50\.00 \[ 3 \/ 6, 0 ins, 2 del, 1 sub \]$/m);
    expect(r.stdout).toMatch(/^test: student - baseline = -50\.00 \[/m);
    await scoreDecodeDir({
      decodeDir: decode,
      outDir: join(root, 'score-lib'),
      mode: 'kaldi',
      bootstrapReplicates: 50,
      worstUtterances: 1,
      comparisons: [['student', 'baseline']],
      seed: 4,
      logger: quiet,
    });
    const files = (d: string) => readdirSync(join(root, d), { recursive: true }).map(String).sort();
    expect(files('score-cli')).toEqual(files('score-lib'));
    for (const f of files('score-lib').filter((f) => f.includes('.'))) {
      expect(readFileSync(join(root, 'score-cli', f), 'utf8'), f).toBe(
        readFileSync(join(root, 'score-lib', f), 'utf8'),
      );
    }
    const s = JSON.parse(readFileSync(join(root, 'score-cli', 'score.json'), 'utf8'));
    expect(s.bootstrap).toEqual({ replicates: 50, confidence: 0.95, seed: 4 });
  });

  it('exits 2 when the flags of the two modes are mixed or --out is missing, and names a bad --compare', async () => {
    const decode = join(root, 'decode');
    const trn = join(root, 'decode', 'refs', 'test.trn');
    for (const [args, message] of [
      [['--decode', decode], `--decode ${decode}: --decode needs --out`],
      [
        ['--decode', decode, '--out', join(root, 'y'), '--json'],
        '--json: --json needs --ref and --hyp instead of --decode',
      ],
      [['--decode', decode, '--out', join(root, 'y'), '--ref', trn], '--decode with --ref/--hyp'],
      [['--ref', trn, '--hyp', trn, '--replicates', '10'], '--replicates: --replicates needs --decode'],
      [['--ref', trn], 'nothing to score; expected --ref R.trn and --hyp H.trn, or --decode DIR, found no --hyp'],
      [
        ['--decode', decode, '--out', join(root, 'y'), '--compare', 'student,student'],
        "--compare student,student, key 'comparisons[0]': bad comparison",
      ],
      [
        ['--decode', decode, '--out', join(root, 'y'), '--confidence', '0.2'],
        '--confidence 0.2: bad --confidence; expected a number >= 0.5 and <= 0.9999',
      ],
    ] as const) {
      const r = await cli('score', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(message);
    }
    expect(existsSync(join(root, 'y'))).toBe(false);
  });
});
