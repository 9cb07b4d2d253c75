/** `am-distill decode`: one model or an ensemble, fixed or tuned weights, exit codes on bad input. */
import { describe, it, expect, beforeAll, afterAll, afterEach, vi } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, EXIT_OK, EXIT_BAD_INPUT } from '../../../src/cli/main.ts';
import { readTrn } from '../../../src/score/trn.ts';
import { initBackend } from '../../../src/nnet/backend.ts';
import { writeTinyExperiment } from './fixtures.ts';

let root: string;
let x: Awaited<ReturnType<typeof writeTinyExperiment>>;

beforeAll(async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  root = mkdtempSync(join(tmpdir(), 'amd-decodecli-'));
  x = await writeTinyExperiment(join(root, 'exp'), { sigma: 2, seed: 'cli' });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '',
    err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  const code = await main(['node', 'am-distill', 'decode', ...args]);
  vi.restoreAllMocks();
  return { code, out, err };
}

const common = () => [
  '--features',
  join(x.dirs.features, 'test.arrow'),
  '--lang',
  join(x.dirs.align, 'lang'),
  '--lm',
  x.lm,
  '--backend',
  'cpu',
  '--data',
  x.dirs.data,
];

describe('am-distill decode', () => {
  it('decodes a split with one model at fixed weights, printing WER and speed', async () => {
    const out = join(root, 'one');
    const r = await cli('--model', join(x.dirs.distill, 'student'), ...common(), '--out', out, '--lm-weight', '0.8');
    expect(r.err).not.toMatch(/error/);
    expect(r.code).toBe(EXIT_OK);
    expect(r.out).toMatch(
      /^student: lmWeight 0\.8, penalty 0 \(fixed\)\ntest: %WER \d+\.\d\d \[ \d+ \/ \d+ \], 12 decoded, 0 without a final token, 0 without features; search RTF \d\.\d{4}, acoustic RTF \d\.\d{4} -> .*student\/test\.trn\n$/,
    );
    expect(readTrn(join(out, 'student', 'test.trn')).map((h) => h.uttId)).toEqual(x.splits.test.map((u) => u.uttId));
    for (const f of [
      'decode.json',
      'timing.json',
      'words.txt',
      'refs/test.trn',
      'student/test.ctm',
      'student/test.utts.jsonl',
    ])
      expect(existsSync(join(out, f)), f).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'decode.json'), 'utf8')).systems[0].models).toEqual([
      '../exp/distill/student/final',
    ]);
  });

  it('decodes with the ensemble of several models, tuned on another split', async () => {
    const out = join(root, 'ens');
    const members = [1, 2, 3].flatMap((k) => ['--model', join(x.dirs.train, `member-${k}`, 'final')]);
    const r = await cli(
      ...members,
      ...common(),
      '--out',
      out,
      '--tune-features',
      join(x.dirs.features, 'dev.arrow'),
      '--lm-weights',
      '0.5,1',
      '--penalties',
      '0',
      '--json',
    );
    expect(r.code).toBe(EXIT_OK);
    const j = JSON.parse(r.out);
    expect(j.summary.systems[0]).toMatchObject({ name: 'ensemble', kind: 'ensemble', weightsFrom: 'tuning' });
    expect(j.summary.systems[0].tuning.grid).toHaveLength(2);
    expect(Object.keys(j.summary.systems[0].splits)).toEqual(['dev', 'test']);
    expect(existsSync(join(out, 'ensemble', 'tuning.json'))).toBe(true);
  });

  it('scores the whole grid on the decoded split itself with --oracle-grid (analysis), and refuses it with another tuning split or no references', async () => {
    const out = join(root, 'oracle');
    const r = await cli(
      '--model',
      join(x.dirs.distill, 'student'),
      ...common(),
      '--out',
      out,
      '--oracle-grid',
      '--lm-weights',
      '0.5,1,2',
      '--penalties',
      '0,1',
      '--json',
    );
    expect(r.code).toBe(EXIT_OK);
    const sys = JSON.parse(r.out).summary.systems[0];
    expect(sys).toMatchObject({ weightsFrom: 'tuning', tuning: { split: 'test.oracle' } });
    expect(sys.tuning.grid).toHaveLength(6);
    const best = Math.min(...sys.tuning.grid.map((g: { wer: number }) => g.wer));
    expect(sys.tuning.best.wer).toBe(best);
    expect(sys.splits.test.wer).toBeCloseTo(best, 10); // the same utterances, decoded at the best point
    let e = await cli(
      '--model',
      join(x.dirs.distill, 'student'),
      ...common(),
      '--out',
      join(root, 'oracle2'),
      '--oracle-grid',
      '--tune-features',
      join(x.dirs.features, 'dev.arrow'),
    );
    expect(e.code).toBe(EXIT_BAD_INPUT);
    expect(e.err).toMatch(/--oracle-grid: --oracle-grid with --tune-features; expected one of them/);
    e = await cli(
      '--model',
      join(x.dirs.distill, 'student'),
      ...common().slice(0, 8),
      '--out',
      join(root, 'oracle3'),
      '--oracle-grid',
    );
    expect(e.code).toBe(EXIT_BAD_INPUT);
    expect(e.err).toMatch(/the oracle grid needs references of the decoded split; expected --ref R\.trn or --data DIR/);
  });

  it("exits 2 naming the problem: not a model directory, an LM without the lexicon's words, bad numbers", async () => {
    let r = await cli('--model', join(root, 'nothing'), ...common(), '--out', join(root, 'bad1'));
    expect(r.code).toBe(EXIT_BAD_INPUT);
    expect(r.err).toMatch(/not a model directory/);
    const lm = join(root, 'foreign.arpa');
    writeFileSync(lm, '\\data\\\nngram 1=3\n\n\\1-grams:\n-0.5\t<s>\t0\n-0.5\t</s>\n-0.5\tHELLO\n\n\\end\\\n');
    r = await cli(
      '--model',
      join(x.dirs.distill, 'student'),
      ...common().slice(0, 4),
      '--lm',
      lm,
      '--backend',
      'cpu',
      '--out',
      join(root, 'bad2'),
    );
    expect(r.code).toBe(EXIT_BAD_INPUT);
    expect(r.err).toMatch(/no lexicon word is in the LM vocabulary/);
    expect(existsSync(join(root, 'bad2'))).toBe(false);
    r = await cli(
      '--model',
      join(x.dirs.distill, 'student'),
      ...common(),
      '--out',
      join(root, 'bad3'),
      '--beam',
      'wide',
    );
    expect(r.code).toBe(EXIT_BAD_INPUT);
    expect(r.err).toMatch(/bad --beam/);
    r = await cli(
      '--model',
      join(x.dirs.distill, 'student'),
      ...common().slice(0, 8),
      '--out',
      join(root, 'bad4'),
      '--tune-features',
      join(x.dirs.features, 'dev.arrow'),
    );
    expect(r.code).toBe(EXIT_BAD_INPUT);
    expect(r.err).toMatch(/tuning needs references/);
    r = await cli(
      '--model',
      join(x.dirs.distill, 'student'),
      ...common(),
      '--out',
      join(root, 'bad5'),
      '--prior-frames',
      '100',
    );
    expect(r.code).toBe(EXIT_BAD_INPUT);
    expect(r.err).toMatch(/--prior-frames without --prior-features/);
  });

  it("decodes with --lexicon instead of the lang directory's: the same words give the same hypotheses; words with phones outside the model are reported and counted; a wholly unusable lexicon is a located error", async () => {
    const base = join(root, 'lex-base'),
      other = join(root, 'lex-other');
    const student = ['--model', join(x.dirs.distill, 'student'), ...common(), '--lm-weight', '0.8'];
    expect((await cli(...student, '--out', base)).code).toBe(EXIT_OK);
    // The lang directory's words in lower case with CMUdict stress digits, plus two words over phones the model lacks.
    const lines = readFileSync(join(x.dirs.align, 'lang', 'lexicon.txt'), 'utf8')
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('<UNK>'))
      .map((l) => l.toLowerCase().replace(/ (aa|iy)\b/g, ' $11'));
    const lex = join(root, 'other-lexicon.txt');
    writeFileSync(lex, [...lines, 'zoo Z UW1', 'zak Z AA K', 'baa B AH'].join('\n') + '\n');
    const r = await cli(...student, '--out', other, '--lexicon', lex);
    expect(r.code).toBe(EXIT_OK);
    expect(r.err).toMatch(
      /3 pronunciation\(s\) use phones outside the acoustic model's phone set \(Z \(2\), AH \(1\), UW \(1\)\) and are left out; 2 word\(s\) lose every pronunciation, e\.g\. ZOO, ZAK/,
    );
    expect(readFileSync(join(other, 'student', 'test.trn'), 'utf8')).toBe(
      readFileSync(join(base, 'student', 'test.trn'), 'utf8'),
    );
    const lexSummary = JSON.parse(readFileSync(join(other, 'decode.json'), 'utf8')).lexicon;
    expect(lexSummary.words).toBe(JSON.parse(readFileSync(join(base, 'decode.json'), 'utf8')).lexicon.words);
    expect(lexSummary.file).toEqual({
      file: '../other-lexicon.txt',
      wordsRead: lines.length - 1 + 2,
      pronunciationsRead: lines.length + 3,
      positionsMarked: false,
      unknownPhonePronunciations: 3,
      unknownPhones: { Z: 2, AH: 1, UW: 1 },
      unusableWords: 2,
      unusableExamples: ['ZOO', 'ZAK'],
    });
    writeFileSync(lex, ';;; nothing usable\nzoo Z UW1\nzak Z AA K\n');
    const e = await cli(...student, '--out', join(root, 'lex-bad'), '--lexicon', lex);
    expect(e.code).toBe(EXIT_BAD_INPUT);
    expect(e.err).toMatch(
      /other-lexicon\.txt:2: no word of the lexicon can be used: every pronunciation has a phone outside the acoustic model's phone set \(Z \(2\), UW \(1\)\); expected pronunciations over SIL SPN AA B IY K S T/,
    );
    expect(existsSync(join(root, 'lex-bad'))).toBe(false);
  });

  it("takes priors from the model's mean posterior on --prior-features", async () => {
    const out = join(root, 'priors');
    const r = await cli(
      '--model',
      join(x.dirs.distill, 'student'),
      ...common(),
      '--out',
      out,
      '--prior-features',
      join(x.dirs.features, 'train.arrow'),
      '--prior-frames',
      '200',
      '--json',
    );
    expect(r.code).toBe(EXIT_OK);
    const p = JSON.parse(r.out).summary.systems[0].priors;
    expect(p).toMatchObject({ source: 'posteriors', split: 'train', file: 'student/priors.json' });
    expect(p.frames).toBeGreaterThanOrEqual(200);
    expect(JSON.parse(readFileSync(join(out, 'student', 'priors.json'), 'utf8')).priors).toHaveLength(
      x.world.numSenones,
    );
  });
});
