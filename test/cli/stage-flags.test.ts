/** Two defaults in one help text: `(default: all) (default: [])`. */
const DEFAULT = /\(default|default:/g;

/**
 * The CLI's stage-running commands take their option flags from the stages' schemas, and every
 * --help shows each default once.
 */
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.ts';
import { stageFlagsOf } from '../../src/cli/commands/flags.ts';
import { defaultRegistry } from '../../src/stages/index.ts';

/** Command path -> the stage it runs. */
const STAGE_COMMANDS: Record<string, string> = {
  features: 'features',
  align: 'align',
  train: 'train',
  targets: 'targets',
  distill: 'distill',
  eval: 'eval',
  'lm train': 'lm',
  decode: 'decode',
  score: 'score',
  report: 'report',
};

function allCommands(cmd: Command, path: string[] = []): [string, Command][] {
  return cmd.commands.flatMap((c) => [
    [[...path, c.name()].join(' '), c] as [string, Command],
    ...allCommands(c, [...path, c.name()]),
  ]);
}

const commands = new Map(allCommands(buildProgram()));

describe('stage-running commands', () => {
  it('derive their flags from the schema the stage is registered with', () => {
    for (const [path, stage] of Object.entries(STAGE_COMMANDS)) {
      const info = stageFlagsOf(commands.get(path)!);
      expect(info, path).toBeDefined();
      expect(info!.spec.stage, path).toBe(stage);
      expect(info!.spec.schema, path).toBe(defaultRegistry.schemaOf(stage, { name: 'x', seed: 0, sections: {} }));
    }
  });

  it('cover every option of the schema with a flag, or say which flags set it or that it is recipe-only', () => {
    for (const [path, stage] of Object.entries(STAGE_COMMANDS)) {
      const cmd = commands.get(path)!;
      const info = stageFlagsOf(cmd)!;
      const longs = new Set(cmd.options.map((o) => o.long));
      for (const key of Object.keys(info.spec.schema)) {
        const option = info.flags.get(key);
        const why = info.without.get(key);
        expect(
          option !== undefined || why !== undefined,
          `${path}: stages.${stage}.${key} has no flag and no reason`,
        ).toBe(true);
        if (option) expect(longs.has(option.long), `${path} ${option.long}`).toBe(true);
        // A reason that names flags names flags the command has; any other reason says "recipe only".
        const named = [...(why ?? '').matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]);
        for (const flag of named) expect(longs.has(flag), `${path}: ${key} is set by ${flag}`).toBe(true);
        if (why !== undefined && named.length === 0) expect(why, `${path}: ${key}`).toMatch(/recipe only/);
      }
    }
  });

  it('keep the flag names the tests and docs use', () => {
    const expected: Record<string, string[]> = {
      features: [
        '--data',
        '--out',
        '--num-mel-bins',
        '--split',
        '--shard',
        '--no-mfcc',
        '--opt',
        '--vtlp',
        '--vtlp-split',
        '--merge-shards',
      ],
      align: [
        '--split',
        '--train-split',
        '--extra-train',
        '--model',
        '--num-leaves',
        '--mono-iters',
        '--mono-gaussians',
        '--tri-iters',
        '--tri-gaussians',
        '--min-leaf-occupancy',
        '--questions',
        '--beam',
        '--retry-beam',
        '--sil-prob',
        '--lexicon',
        '--seed',
        '--vtlp-copies',
        '--reference-timings',
        '--reference-collar-ms',
      ],
      train: [
        '--members',
        '--hidden-layers',
        '--hidden-units',
        '--context',
        '--max-epochs',
        '--learning-rate',
        '--batch-size',
        '--small-fraction',
        '--max-workers',
        '--backend',
        '--seed',
        '--keep-checkpoints',
        '--opt',
      ],
      targets: ['--temperature', '--top-k', '--sweep', '--dense', '--backend', '--opt'],
      distill: [
        '--hard-weight',
        '--copies-hard-weight',
        '--normalisation',
        '--max-epochs',
        '--learning-rate',
        '--set',
        '--max-workers',
        '--backend',
        '--keep-checkpoints',
        '--opt',
      ],
      eval: ['--students', '--split', '--no-train-accuracy', '--backend', '--replicates', '--seed'],
      'lm train': ['--text', '--order', '--out'],
      decode: [
        '--model',
        '--hmm',
        '--lexicon',
        '--name',
        '--split',
        '--data',
        '--ref',
        '--tune-features',
        '--tune-split',
        '--tune-ref',
        '--oracle-grid',
        '--lm-weight',
        '--penalty',
        '--lm-weights',
        '--penalties',
        '--beam',
        '--max-active',
        '--acoustic-scale',
        '--sil-prob',
        '--no-lookahead',
        '--prior-features',
        '--prior-frames',
        '--backend',
        '--json',
      ],
      score: ['--ref', '--hyp', '--mode', '--json', '--missing-hyp-as-empty', '--pralign', '--dtl', '--vocab'],
      report: ['--input', '--out', '--replicates', '--seed', '--confidence', '--worst'],
    };
    for (const [path, flags] of Object.entries(expected)) {
      const longs = new Set(commands.get(path)!.options.map((o) => o.long));
      for (const flag of flags) expect(longs.has(flag), `${path} ${flag}`).toBe(true);
    }
  });
});

describe('--help', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

  it('shows each default once, in every command', () => {
    for (const [path, cmd] of commands) {
      const help = cmd.createHelp();
      for (const o of cmd.options) {
        const text = help.optionDescription(o);
        expect(text.match(DEFAULT)?.length ?? 0, `${path} ${o.flags}: ${text}`).toBeLessThanOrEqual(1);
        expect(text, `${path} ${o.flags}`).not.toContain('(default: [])');
      }
    }
  });

  it('has no line with two defaults in the generated docs/cli.md', () => {
    const lines = readFileSync(join(root, 'docs', 'cli.md'), 'utf8').split('\n');
    expect(lines.filter((l) => (l.match(DEFAULT)?.length ?? 0) > 1)).toEqual([]);
  });

  it('no command module imports another command module (flags.ts, their shared flags, is none)', () => {
    const dir = join(root, 'src', 'cli', 'commands');
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'index.ts')) {
      const imports = [...readFileSync(join(dir, f), 'utf8').matchAll(/from '(\.\/[^']+)'/g)].map((m) => m[1]);
      expect(
        imports.filter((i) => i !== './flags.ts'),
        f,
      ).toEqual([]);
    }
  });
});
