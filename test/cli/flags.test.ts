/** src/cli/commands/flags.ts: the commands' shared flag parsers and the flags derived from a stage's option schema. */
import { describe, it, expect } from 'vitest';
import { Command } from 'commander';
import {
  addStageFlags,
  collect,
  givenStageOptions,
  locateFlagError,
  parseBooleanFlag,
  parseChoiceFlag,
  parseIntegerFlag,
  parseListFlag,
  parseNumberFlag,
  requireWith,
  stageFlagsOf,
  stageOptions,
  type StageFlags,
} from '../../src/cli/commands/flags.ts';
import { ConfigError } from '../../src/util/errors.ts';
import type { Schema } from '../../src/stages/schema.ts';

/** The ConfigError `fn` throws. */
function thrown(fn: () => unknown): ConfigError {
  const err = (() => {
    try {
      fn();
    } catch (e) {
      return e;
    }
  })();
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('the shared flag parsers', () => {
  it('collect accumulates a repeatable flag from nothing', () => {
    expect(collect('a', undefined)).toEqual(['a']);
    expect(collect('b', ['a'])).toEqual(['a', 'b']);
  });

  it('parse numbers and integers within bounds', () => {
    expect(parseNumberFlag('--beam', '13.5')).toBe(13.5);
    expect(parseNumberFlag('--beam', '-2')).toBe(-2);
    expect(parseIntegerFlag('--members', '4', { min: 1 })).toBe(4);
    expect(parseNumberFlag('--confidence', '0.5', { min: 0.5, below: 1 })).toBe(0.5);
  });

  it('name the flag, its text and what was expected; exit code 2 (E_CONFIG)', () => {
    let e = thrown(() => parseNumberFlag('--beam', 'wide'));
    expect(e.code).toBe('E_CONFIG');
    expect(e.message).toBe('--beam wide: bad --beam: not a number; expected a number, found "wide"');
    for (const text of ['', ' ', 'Infinity', 'NaN'])
      expect(thrown(() => parseNumberFlag('--beam', text)).message).toContain('not a number');
    e = thrown(() => parseIntegerFlag('--members', '0', { min: 1 }));
    expect(e.message).toBe('--members 0: bad --members; expected an integer >= 1, found 0');
    expect(thrown(() => parseIntegerFlag('--members', '2.5')).message).toBe(
      '--members 2.5: bad --members; expected an integer, found 2.5',
    );
    expect(thrown(() => parseNumberFlag('--p', '2', { min: 0, max: 1 })).expected).toBe('a number >= 0 and <= 1');
    expect(thrown(() => parseNumberFlag('--confidence', '1', { min: 0.5, below: 1 })).expected).toBe(
      'a number >= 0.5 and < 1',
    );
  });

  it('parse comma-separated lists item by item, naming the flag of a bad item', () => {
    expect(parseListFlag('--lm-weights', '0.5, 1,2', (f, t) => parseNumberFlag(f, t, { min: 0 }))).toEqual([0.5, 1, 2]);
    expect(thrown(() => parseListFlag('--lm-weights', '0.5,,1', (f, t) => parseNumberFlag(f, t))).message).toContain(
      '--lm-weights : bad --lm-weights: not a number',
    );
    expect(
      thrown(() => parseListFlag('--lm-weights', '0.5,-1', (f, t) => parseNumberFlag(f, t, { min: 0 }))).message,
    ).toBe('--lm-weights -1: bad --lm-weights; expected a number >= 0, found -1');
  });

  it('parse choices and booleans', () => {
    expect(parseChoiceFlag('--mode', 'kaldi', ['sclite', 'kaldi'])).toBe('kaldi');
    expect(thrown(() => parseChoiceFlag('--mode', 'nist', ['sclite', 'kaldi'])).message).toBe(
      '--mode nist: bad --mode; expected one of sclite, kaldi, found "nist"',
    );
    expect([parseBooleanFlag('--snip-edges', 'true'), parseBooleanFlag('--snip-edges', '0')]).toEqual([true, false]);
    expect(thrown(() => parseBooleanFlag('--snip-edges', 'yes')).message).toContain(
      '--snip-edges yes: bad --snip-edges: not a boolean; expected true or false',
    );
  });
});

const SCHEMA: Schema = {
  numLeaves: { type: 'number', integer: true, min: 1, default: 200, doc: 'senones' },
  beam: { type: 'number', min: 0.001, default: 10, unit: 'log', doc: 'alignment beam' },
  optionalSilenceProb: { type: 'number', min: 0, max: 0.999, default: 0.5, doc: 'silence probability' },
  questions: { type: 'string', enum: ['cluster', 'arpabet'], default: 'cluster', doc: 'tree questions' },
  splits: {
    type: 'array',
    items: { type: 'string', doc: 'split' },
    minItems: 1,
    optional: true,
    doc: 'splits to align (default: all)',
  },
  weights: { type: 'array', items: { type: 'number', min: 0, doc: 'w' }, default: [0.5, 1], doc: 'weights tried' },
  lookahead: { type: 'boolean', default: true, doc: 'LM look-ahead' },
  keep: { type: 'boolean', default: false, doc: 'keep checkpoints' },
  lexicon: { type: 'string', path: true, optional: true, doc: 'a lexicon' },
  fbank: {
    type: 'object',
    fields: { bins: { type: 'number', integer: true, min: 1, default: 40, doc: 'bins' } },
    doc: 'fbank',
  },
};

const FLAGS: StageFlags = {
  stage: 'toy',
  schema: SCHEMA,
  opt: true,
  keys: {
    optionalSilenceProb: { flag: '--sil-prob', value: '<p>' },
    splits: { flag: '--split' },
    fbank: 'set by --opt fbank.bins=N',
  },
};

function toy(): Command {
  const cmd = new Command('toy').exitOverride();
  return addStageFlags(cmd, FLAGS).action(() => {});
}

async function parsed(...args: string[]): Promise<Command> {
  const cmd = toy();
  await cmd.parseAsync(args, { from: 'user' });
  return cmd;
}

describe('flags derived from a stage schema', () => {
  it('derive one flag per key, renamed where mapped, with one default in the help', () => {
    const cmd = toy();
    const help = cmd.createHelp();
    const rows = Object.fromEntries(cmd.options.map((o) => [o.flags, help.optionDescription(o)]));
    expect(rows).toEqual({
      '--num-leaves <n>': 'senones (default: 200)',
      '--beam <x>': 'alignment beam [log] (default: 10)',
      '--sil-prob <p>': 'silence probability (default: 0.5)',
      '--questions <value>': 'tree questions (one of: cluster, arpabet; default: cluster)',
      '--split <name>': 'splits to align (default: all) (repeatable)',
      '--weights <list>': 'weights tried (comma-separated; default: 0.5,1)',
      '--no-lookahead': 'LM look-ahead (default: on; this flag turns it off)',
      '--keep': 'keep checkpoints',
      '--lexicon <file>': 'a lexicon',
      '--opt <key=value>':
        "any option of the recipe's stages.toy, nested ones as a.b=value (value parsed as YAML); repeatable",
    });
    const info = stageFlagsOf(cmd)!;
    expect([...info.flags.keys()]).not.toContain('fbank');
    expect(info.without.get('fbank')).toBe('set by --opt fbank.bins=N');
  });

  it('fill the schema defaults for flags not given, and take the given ones', async () => {
    expect((await stageOptions(await parsed())).options).toEqual({
      numLeaves: 200,
      beam: 10,
      optionalSilenceProb: 0.5,
      questions: 'cluster',
      weights: [0.5, 1],
      lookahead: true,
      keep: false,
      fbank: { bins: 40 },
    });
    const { options: o } = await stageOptions(
      await parsed(
        '--num-leaves',
        '7',
        '--sil-prob',
        '0.25',
        '--split',
        'dev',
        '--split',
        'test',
        '--weights',
        '2,3',
        '--no-lookahead',
        '--keep',
        '--lexicon',
        'lex.txt',
        '--opt',
        'fbank.bins=23',
      ),
    );
    expect(o).toMatchObject({
      numLeaves: 7,
      optionalSilenceProb: 0.25,
      splits: ['dev', 'test'],
      weights: [2, 3],
      lookahead: false,
      keep: true,
      fbank: { bins: 23 },
    });
    expect(o.lexicon).toBe(`${process.cwd()}/lex.txt`);
  });

  it('check a flag against the schema while parsing, naming the flag', async () => {
    for (const [args, message] of [
      [['--num-leaves', '0'], '--num-leaves 0: bad --num-leaves; expected an integer >= 1, found 0'],
      [['--sil-prob', '1'], '--sil-prob 1: bad --sil-prob; expected a number >= 0 and <= 0.999, found 1'],
      [
        ['--questions', 'phones'],
        '--questions phones: bad --questions; expected one of cluster, arpabet, found "phones"',
      ],
      [['--weights', '1,-1'], '--weights -1: bad --weights; expected a number >= 0, found -1'],
    ] as const) {
      const err = await parsed(...args).catch((e) => e);
      expect(err, args.join(' ')).toBeInstanceOf(ConfigError);
      expect(err.message).toBe(message);
    }
  });

  it('--opt sets any key, nested ones too; its errors name the --opt argument', async () => {
    const bad = await stageOptions(await parsed('--opt', 'fbank.bins=0')).catch((e) => e);
    expect(bad.message).toBe("--opt fbank.bins=0, key 'fbank.bins': value out of range; expected >= 1, found 0");
    const unknown = await stageOptions(await parsed('--opt', 'nosuch=1')).catch((e) => e);
    expect(unknown.message).toMatch(
      /^--opt nosuch=1: bad --opt key; expected one of numLeaves, beam, .*, found nosuch$/,
    );
    const nested = await stageOptions(await parsed('--opt', 'fbank.binz=3')).catch((e) => e);
    expect(nested.message).toContain("--opt fbank.binz=3, key 'fbank.binz': unknown key 'binz'");
  });

  it('report which flag set a key that a later check rejects (the longest matching key path)', async () => {
    const cmd = await parsed('--split', 'dev', '--split', 'x', '--opt', 'fbank.bins=3');
    const { raw, origins } = givenStageOptions(cmd, {
      'fbank.extra': { value: 1, flag: '--extra 1' },
      unset: { value: undefined, flag: '--unset' },
    });
    expect(raw).toEqual({ splits: ['dev', 'x'], fbank: { extra: 1, bins: 3 } });
    const fail = (keyPath: string) => () => {
      throw new ConfigError('no such split', { keyPath, expected: 'dev', found: 'x' });
    };
    await expect(locateFlagError(origins, fail('splits[1]'))).rejects.toThrow(
      "--split dev --split x, key 'splits[1]': no such split; expected dev, found x",
    );
    await expect(locateFlagError(origins, fail('fbank.extra'))).rejects.toThrow(
      "--extra 1, key 'fbank.extra': no such split",
    );
    await expect(locateFlagError(origins, fail('beam'))).rejects.toThrow(/^key 'beam': no such split/);
  });

  it('requireWith refuses a flag given without the one it needs', async () => {
    const cmd = await parsed('--keep');
    expect(() => requireWith(cmd, ['--beam'], '--data')).not.toThrow();
    expect(() => requireWith(cmd, ['--keep'], '--data')).toThrow(
      '--keep: --keep needs --data; expected --data as well, found no --data',
    );
    // A negated boolean's implicit default is not "given".
    expect(() => requireWith(cmd, ['--no-lookahead'], '--data')).not.toThrow();
  });

  it('refuse a mapping for a key the schema lacks, and a key no flag can be derived for', () => {
    expect(() => addStageFlags(new Command('x'), { ...FLAGS, keys: { ...FLAGS.keys, nosuch: 'x' } })).toThrow(
      "x: 'nosuch' is not an option of the toy stage",
    );
    expect(() => addStageFlags(new Command('x'), { stage: 'toy', schema: { fbank: SCHEMA.fbank } })).toThrow(
      "no flag can be derived for toy option 'fbank' (object)",
    );
  });
});
