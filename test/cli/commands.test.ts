import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import {
  mkdtempSync,
  writeFileSync,
  readFileSync,
  existsSync,
  rmSync,
  readdirSync,
  copyFileSync,
  truncateSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.ts';
import { makeKaldiCorpus, tinyRecipe } from './fixtures.ts';
import { readFeatureMetadata } from '../../src/features/store.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Run the CLI in this process; returns the exit code and what it printed. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    stdout += String(s);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    stderr += String(s);
    return true;
  });
  try {
    const code = await main(['node', 'am-distill', ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

let root: string;
let dataDir: string;
let recipe: string;
let expDir: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'amd-cli-'));
  dataDir = await makeKaldiCorpus(root);
  recipe = join(root, 'tiny.yaml');
  writeFileSync(recipe, tinyRecipe());
  expDir = join(root, 'exp');
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const runArgs = () => ['run', recipe, '--exp-dir', expDir, '--corpus-dir', dataDir];

describe('am-distill run', () => {
  it('runs prepare and features, then skips both on a rerun, and reruns features when its config changes', async () => {
    const first = await cli(...runArgs());
    expect(first.stderr).not.toContain('error');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`-> ${join(expDir, 'features')}`);
    expect(existsSync(join(expDir, 'features', 'train.arrow'))).toBe(true);
    expect(existsSync(join(expDir, 'features', 'test.arrow'))).toBe(true);
    expect(existsSync(join(expDir, 'prepare', 'corpus.json'))).toBe(true);

    const second = await cli(...runArgs());
    expect(second.code).toBe(0);
    expect(second.stderr).toContain('skip prepare: up to date');
    expect(second.stderr).toContain('skip features: up to date');

    const third = await cli(...runArgs(), '--set', 'stages.features.fbank.numMelBins=30');
    expect(third.code).toBe(0);
    expect(third.stderr).toContain('skip prepare: up to date');
    expect(third.stdout).toMatch(/features\s+ran in [\d.]+ s \(config changed\)/);
    const rec = JSON.parse(readFileSync(join(expDir, 'features', 'stage.json'), 'utf8'));
    expect(rec.config.options.fbank.numMelBins).toBe(30);
  });

  it('reports malformed YAML with file and line, exit code 2', async () => {
    const bad = join(root, 'bad.yaml');
    writeFileSync(bad, 'name: x\nstages:\n  prepare: [1, 2\n');
    const r = await cli('run', bad, '--exp-dir', join(root, 'exp-never'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(
        `error \\[E_CONFIG\\]: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: malformed YAML at column \\d+`,
      ),
    );
  });

  it('reports an unknown key with its dotted path, file and line', async () => {
    const bad = join(root, 'unknown-key.yaml');
    writeFileSync(bad, tinyRecipe().replace('numMelBins: 23', 'numMelBins: 23\n      numMelBinz: 2'));
    const r = await cli('run', bad, '--exp-dir', join(root, 'exp-never'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:12, key 'stages.features.fbank.numMelBinz'`);
  });

  it('rejects unknown stage names, listing the known stages', async () => {
    // Later issues register more stages; the list starts with these two.
    const r = await cli(...runArgs(), '--from-stage', 'nosuch');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--from-stage nosuch: unknown stage 'nosuch'; expected one of prepare, features(, [a-z-]+)*, found 'nosuch'/,
    );
    const inRecipe = join(root, 'unknown-stage.yaml');
    writeFileSync(inRecipe, tinyRecipe() + '  nosuch: {}\n');
    const r2 = await cli('run', inRecipe, '--exp-dir', join(root, 'exp-never'));
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain(
      `${inRecipe}:12, key 'stages.nosuch': unknown stage 'nosuch'; expected one of prepare, features`,
    );
    expect(existsSync(join(root, 'exp-never'))).toBe(false);
  });

  it('--to-stage prepare stops before features', async () => {
    const exp = join(root, 'exp-to');
    const r = await cli('run', recipe, '--exp-dir', exp, '--corpus-dir', dataDir, '--to-stage', 'prepare');
    expect(r.code).toBe(0);
    expect(existsSync(join(exp, 'prepare', 'stage.json'))).toBe(true);
    expect(existsSync(join(exp, 'features'))).toBe(false);
    expect(r.stdout).toContain('not run (after --to-stage)');
  });

  it('points a bad adapter option found while running at the recipe line', async () => {
    const bad = join(root, 'bad-split.yaml');
    writeFileSync(bad, tinyRecipe().replace('disjointSpeakers: true', 'disjointSpeakers: true\n    splits: [nosuch]'));
    const r = await cli('run', bad, '--exp-dir', join(root, 'exp-bad'), '--corpus-dir', dataDir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error [E_CONFIG]: ${bad}:9, key 'stages.prepare.splits': no Kaldi data dir 'nosuch'`);
    expect(existsSync(join(root, 'exp-bad', 'prepare'))).toBe(false);
    expect(readdirSync(join(root, 'exp-bad')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('am-distill distill', () => {
  it('checks --copies-hard-weight before reading any input', async () => {
    const dirs = [
      '--models',
      join(root, 'm'),
      '--targets',
      join(root, 't'),
      '--features',
      join(root, 'f'),
      '--align',
      join(root, 'a'),
      '--out',
      join(root, 'never'),
    ];
    const r = await cli('distill', ...dirs, '--copies-hard-weight', '-1');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--copies-hard-weight/);
    expect(r.stderr).toMatch(/found -1/);
    expect(existsSync(join(root, 'never'))).toBe(false);
  });
});

describe('am-distill validate', () => {
  it('accepts every shipped recipe', async () => {
    for (const f of readdirSync(join(repoRoot, 'pipelines')).filter((f) => f.endsWith('.yaml'))) {
      const r = await cli('validate', join(repoRoot, 'pipelines', f));
      expect(r.stderr, f).toBe('');
      expect(r.code, f).toBe(0);
      expect(r.stdout).toContain('is a valid recipe');
    }
  });

  it('summarises each artefact of a run, detected by content and name', async () => {
    const cases: [string, string][] = [
      [join(expDir, 'prepare'), 'stage output dir'],
      [join(expDir, 'prepare', 'corpus.json'), 'prepared data dir'],
      [join(expDir, 'prepare', 'train', 'supervisions.jsonl'), 'manifest'],
      [join(expDir, 'prepare', 'train', 'recordings.jsonl'), 'manifest'],
      [join(expDir, 'features', 'train.arrow'), 'feature file'],
      [join(expDir, 'features', 'train.cmvn.json'), 'CMVN statistics file'],
      [join(expDir, 'features'), 'stage output dir'],
    ];
    for (const [path, label] of cases) {
      const r = await cli('validate', path);
      expect(r.stderr, path).toBe('');
      expect(r.stdout).toContain(`is a valid ${label}`);
    }
    const arrow = await cli('validate', join(expDir, 'features', 'train.arrow'));
    expect(arrow.stdout).toMatch(/3 utterances, \d+ frames/);
    expect(arrow.stdout).toContain('fbank 30 dims');
  });

  it('exits 2 with a typed message naming the file and line of a bad manifest', async () => {
    const bad = join(root, 'bad.jsonl');
    const lines = readFileSync(join(expDir, 'prepare', 'train', 'supervisions.jsonl'), 'utf8')
      .trim()
      .split('\n');
    writeFileSync(
      bad,
      [lines[0], lines[1].replace('"durationSec":', '"durationSec":"x","d":'), lines[2]].join('\n') + '\n',
    );
    const r = await cli('validate', bad);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error [E_CORPUS]: ${bad}:2`);
    writeFileSync(bad, [lines[0], lines[0]].join('\n'));
    const dup = await cli('validate', bad);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toContain(`${bad}:2`);
    expect(dup.stderr).toContain('duplicate id');
  });

  it('exits 2 for a truncated feature file and for stage outputs changed after they were recorded', async () => {
    const copy = join(root, 'trunc.arrow');
    copyFileSync(join(expDir, 'features', 'train.arrow'), copy);
    truncateSync(copy, Math.floor(statSync(copy).size / 2));
    const r = await cli('validate', copy);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('[E_FORMAT]');
    expect(r.stderr).toContain(copy);

    const exp = join(root, 'exp-tamper');
    expect((await cli('run', recipe, '--exp-dir', exp, '--corpus-dir', dataDir, '--to-stage', 'prepare')).code).toBe(0);
    writeFileSync(join(exp, 'prepare', 'train', 'text-extra.txt'), 'x');
    const t = await cli('validate', join(exp, 'prepare'));
    expect(t.code).toBe(2);
    expect(t.stderr).toContain('stage outputs changed since they were recorded');
  });

  it('exits 2 for an unrecognised file', async () => {
    const f = join(root, 'notes.bin');
    writeFileSync(f, Buffer.from([0, 1, 2, 3]));
    const r = await cli('validate', f);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unrecognised file');
  });
});

describe('am-distill corpus / features', () => {
  it('prepares a corpus with --opt options and rejects a bad one naming the argument', async () => {
    const out = join(root, 'data-prepared');
    const ok = await cli('corpus', 'prepare', 'kaldi', dataDir, '--out', out, '--opt', 'disjointSpeakers=true');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('prepared kaldi: 6 utterances in test, train at 16000 Hz');
    const bad = await cli('corpus', 'prepare', 'kaldi', dataDir, '--out', out, '--opt', 'disjointSpeakers=maybe');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      "--opt disjointSpeakers=maybe, key 'disjointSpeakers': wrong type; expected true or false",
    );
    const unknown = await cli('corpus', 'prepare', 'nosuch', dataDir, '--out', out);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown corpus 'nosuch'");
  });

  it('computes shards whose merge is byte-identical to the unsharded features', async () => {
    const data = join(root, 'data-prepared');
    const whole = join(root, 'feats-whole');
    const sharded = join(root, 'feats-sharded');
    expect(
      (await cli('features', '--data', data, '--out', whole, '--split', 'train', '--num-mel-bins', '23')).code,
    ).toBe(0);
    for (const shard of ['0/2', '1/2']) {
      expect(
        (
          await cli(
            'features',
            '--data',
            data,
            '--out',
            sharded,
            '--split',
            'train',
            '--num-mel-bins',
            '23',
            '--shard',
            shard,
          )
        ).code,
      ).toBe(0);
    }
    expect(existsSync(join(sharded, 'train.1-of-2.arrow'))).toBe(true);
    expect((await cli('features', '--out', sharded, '--split', 'train', '--merge-shards', '2')).code).toBe(0);
    expect(readFileSync(join(sharded, 'train.arrow')).equals(readFileSync(join(whole, 'train.arrow')))).toBe(true);
    const bad = await cli('features', '--data', data, '--out', sharded, '--shard', '2/2');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--shard 2/2: bad shard');
    const opt = await cli('features', '--data', data, '--out', sharded, '--opt', 'fbank.numMelBinz=3');
    expect(opt.code).toBe(2);
    expect(opt.stderr).toContain("key 'fbank.numMelBinz'");
  });

  it('writes VTLP copies of the training split with --vtlp, and rejects bad warp lists', async () => {
    const data = join(root, 'data-prepared');
    const out = join(root, 'feats-vtlp');
    const r = await cli('features', '--data', data, '--out', out, '--num-mel-bins', '23', '--vtlp', '0.9,1.1');
    expect(r.code).toBe(0);
    const meta = await readFeatureMetadata(join(out, 'train.arrow'));
    expect(meta.vtlpWarps).toEqual([0.9, 1.1]);
    const plain = await readFeatureMetadata(join(root, 'feats-whole', 'train.arrow'));
    expect(meta.counts.utterances).toBe(3 * plain.counts.utterances);
    expect((await readFeatureMetadata(join(out, 'test.arrow'))).vtlpWarps).toEqual([]);
    for (const [args, message] of [
      [['--vtlp', '0.9,x'], '--vtlp 0.9,x: bad --vtlp; expected comma-separated warp factors'],
      [['--vtlp', '0.9,1'], "key 'vtlp.warps': bad VTLP warp factor"],
      [['--vtlp-split', 'train'], '--vtlp-split needs --vtlp'],
      [
        ['--vtlp', '1.1', '--vtlp-split', 'dev'],
        "key 'vtlp.splits': VTLP split 'dev' is not among the splits processed",
      ],
    ] as const) {
      const bad = await cli('features', '--data', data, '--out', join(root, 'feats-vtlp-bad'), ...args);
      expect(bad.code, args.join(' ')).toBe(2);
      expect(bad.stderr).toContain(message);
    }
  });
});

describe('missing input files', () => {
  it('are located errors with exit 2 in score and lm, not stack traces', async () => {
    const trn = join(root, 'ref.trn');
    writeFileSync(trn, 'ONE TWO (spk1-a)\n');
    const text = join(root, 'lm-text.txt');
    writeFileSync(text, 'ONE TWO\nTWO THREE\n');
    const missing = join(root, 'nonexistent');
    for (const [args, file] of [
      [['score', '--ref', trn, '--hyp', missing], missing],
      [['score', '--ref', missing, '--hyp', trn], missing],
      [['score', '--ref', trn, '--hyp', trn, '--vocab', missing], missing],
      [['lm', 'ppl', '--lm', missing, '--text', text], missing],
      [['lm', 'ppl', '--lm', root, '--text', text], root],
      [['lm', 'train', '--text', missing, '--out', join(root, 'lm.arpa')], missing],
    ] as const) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).not.toContain('internal error');
      expect(r.stderr, args.join(' ')).toMatch(
        new RegExp(`^am-distill: error \\[E_\\w+\\]: ${file.replace(/[/.]/g, '\\$&')}: (file not found|not a file)`),
      );
    }
  });
});

describe('am-distill --version', () => {
  it("prints package.json's version, not a copy of it", async () => {
    const want = (
      JSON.parse(readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '../../package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      out.push(String(s));
      return true;
    });
    try {
      expect(await main(['node', 'am-distill', '--version'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(out.join('').trim()).toBe(want);
  });
});
