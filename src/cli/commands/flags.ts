/**
 * The commands' flag parsing, in one place (a helper module of src/cli/commands/, not a command): `collect` for repeatable flags, the number / integer /
 * list / choice / boolean parsers (a ConfigError naming the flag, its text and what was expected:
 * exit code 2), and the flags of a stage-running command derived from the stage's option schema
 * (src/stages/schema.ts: type, min/max, enum, default, doc), so that a command and a recipe
 * accept the same options with the same defaults and checks.
 *
 * A derived flag is `--<kebab-case key>`; a command renames one (`--sil-prob` for
 * `optionalSilenceProb`) or leaves a key to other flags or to the recipe with a reason
 * (`keys` of StageFlags). Defaults are not commander defaults: a flag not given is absent, the
 * schema fills in its default, and the help text shows it once.
 */
import type { Command, Option } from 'commander';
import { parseSetArgument, resolvePaths, validateOptions, type OptionSpec, type Schema } from '../../stages/schema.ts';
import { ConfigError } from '../../util/errors.ts';

/** Accumulate a repeatable flag (`--split a --split b`); absent when never given. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export interface NumberRule {
  integer?: boolean;
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** Exclusive upper bound. */
  below?: number;
}

function expectedNumber(rule: NumberRule): string {
  const bounds = [
    rule.min !== undefined ? `>= ${rule.min}` : '',
    rule.max !== undefined ? `<= ${rule.max}` : '',
    rule.below !== undefined ? `< ${rule.below}` : '',
  ].filter((b) => b);
  return `${rule.integer ? 'an integer' : 'a number'}${bounds.length ? ' ' + bounds.join(' and ') : ''}`;
}

/** A number in a flag's text, checked against `rule`; a ConfigError `<flag> <text>: bad <flag>` otherwise. */
export function parseNumberFlag(flag: string, text: string, rule: NumberRule = {}): number {
  const n = text.trim() === '' ? NaN : Number(text);
  const where = { file: `${flag} ${text}`, expected: expectedNumber(rule) };
  if (!Number.isFinite(n))
    throw new ConfigError(`bad ${flag}: not a number`, { ...where, found: JSON.stringify(text) });
  const ok =
    (!rule.integer || Number.isInteger(n)) &&
    !(rule.min !== undefined && n < rule.min) &&
    !(rule.max !== undefined && n > rule.max) &&
    !(rule.below !== undefined && n >= rule.below);
  if (!ok) throw new ConfigError(`bad ${flag}`, { ...where, found: text.trim() });
  return n;
}

export function parseIntegerFlag(flag: string, text: string, rule: Omit<NumberRule, 'integer'> = {}): number {
  return parseNumberFlag(flag, text, { ...rule, integer: true });
}

/** A comma-separated list (`0.7,0.9,1.1`), each item parsed by `item`; empty items are errors. */
export function parseListFlag<T>(flag: string, text: string, item: (flag: string, text: string) => T): T[] {
  return text.split(',').map((x) => item(flag, x.trim()));
}

export function parseChoiceFlag<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  if (!choices.includes(text as T))
    throw new ConfigError(`bad ${flag}`, {
      file: `${flag} ${text}`,
      expected: `one of ${choices.join(', ')}`,
      found: JSON.stringify(text),
    });
  return text as T;
}

/** `true`/`1` or `false`/`0` (Kaldi's boolean options, e.g. `--snip-edges false`). */
export function parseBooleanFlag(flag: string, text: string): boolean {
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  throw new ConfigError(`bad ${flag}: not a boolean`, {
    file: `${flag} ${text}`,
    expected: 'true or false',
    found: JSON.stringify(text),
  });
}

/** The parsers as commander argument parsers. */
export const numberArg =
  (flag: string, rule: NumberRule = {}) =>
  (text: string): number =>
    parseNumberFlag(flag, text, rule);
export const integerArg =
  (flag: string, rule: Omit<NumberRule, 'integer'> = {}) =>
  (text: string): number =>
    parseIntegerFlag(flag, text, rule);
export const booleanArg =
  (flag: string) =>
  (text: string): boolean =>
    parseBooleanFlag(flag, text);

/** How one schema key becomes a flag when the derived `--<kebab-case key>` does not fit. */
export interface FlagMapping {
  /** The flag's name, e.g. `--sil-prob`; for a boolean that defaults to true, its `--no-` form. */
  flag?: string;
  /** Value placeholder, e.g. `<p>`. */
  value?: string;
  /** Help text instead of the schema's doc. */
  doc?: string;
  /** What the help shows as the default instead of the schema's default. */
  defaultText?: string;
  /** Parser of a key the schema cannot derive one for (custom, map, lists of custom), as commander's (text, previous). */
  parse?: (text: string, previous: unknown) => unknown;
  /** Repeatable (with `parse`): the help says so. */
  repeatable?: boolean;
}

export interface StageFlags {
  /** The stage whose options these are (its schema is registered under this name). */
  stage: string;
  schema: Schema;
  /**
   * Per schema key: a FlagMapping, or a string saying why the key has no flag of its own (set by
   * other flags of the command, which the string names, or recipe-only). Other keys get the
   * derived flag.
   */
  keys?: Record<string, FlagMapping | string>;
  /** Add `--opt key=value`: any key of the schema, nested ones as `a.b=value` (value parsed as YAML). */
  opt?: boolean;
}

/** A stage-running command's derived flags, for tests and for reading the values. */
export interface StageFlagsInfo {
  spec: StageFlags;
  /** Schema key -> its option on the command. */
  flags: Map<string, Option>;
  /** Keys whose flag is repeatable. */
  repeatable: Set<string>;
  /** Schema key -> why it has no flag of its own. */
  without: Map<string, string>;
}

const stageFlagsInfo = new WeakMap<Command, StageFlagsInfo>();

/** The derived flags of a command made with addStageFlags (undefined for other commands). */
export function stageFlagsOf(cmd: Command): StageFlagsInfo | undefined {
  return stageFlagsInfo.get(cmd);
}

const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

function showDefault(v: unknown): string | null {
  if (v === undefined || v === null || typeof v === 'boolean') return null;
  if (Array.isArray(v)) return v.length ? v.join(v.every((x) => typeof x === 'number') ? ',' : ', ') : 'none';
  return String(v);
}

/** One line of help: the doc, [unit], then one parenthesis with the choices, the list form and the default. */
function describeFlag(spec: OptionSpec, m: FlagMapping, negated: boolean): string {
  const extras: string[] = [];
  if (spec.type === 'string' && spec.enum) extras.push(`one of: ${spec.enum.join(', ')}`);
  if (spec.type === 'array' && spec.items.type === 'number' && !m.parse) extras.push('comma-separated');
  if (isRepeatable(spec, m)) extras.push('repeatable');
  const def = m.defaultText ?? showDefault('default' in spec ? spec.default : undefined);
  if (negated) extras.push('default: on; this flag turns it off');
  else if (def !== null) extras.push(`default: ${def}`);
  const unit = spec.type === 'number' && spec.unit ? ` [${spec.unit}]` : '';
  return `${m.doc ?? spec.doc}${unit}${extras.length ? ` (${extras.join('; ')})` : ''}`;
}

/** A flag given once per item: lists of strings, and mapped flags that say so. */
function isRepeatable(spec: OptionSpec, m: FlagMapping): boolean {
  return m.repeatable ?? (spec.type === 'array' && spec.items.type !== 'number' && !m.parse);
}

function ruleOf(spec: OptionSpec): NumberRule {
  return spec.type === 'number' ? { integer: spec.integer, min: spec.min, max: spec.max } : {};
}

/** The commander parser of a scalar spec, or null when the schema cannot give one. */
function scalarParser(spec: OptionSpec, flag: string): ((text: string) => unknown) | null {
  if (spec.type === 'number') return numberArg(flag, ruleOf(spec));
  if (spec.type === 'string') return spec.enum ? (t) => parseChoiceFlag(flag, t, spec.enum!) : (t) => t;
  return null;
}

function placeholder(spec: OptionSpec): string {
  if (spec.type === 'number') return spec.integer ? '<n>' : '<x>';
  if (spec.type === 'string') return spec.path ? '<file>' : spec.enum ? '<value>' : '<name>';
  if (spec.type === 'array') return spec.items.type === 'number' ? '<list>' : '<name>';
  return '<value>';
}

/** The option of one schema key, or null when the schema cannot derive it (the key then needs a mapping). */
function deriveOption(cmd: Command, key: string, spec: OptionSpec, m: FlagMapping): Option | null {
  if (spec.type === 'boolean') {
    const negated = spec.default === true;
    const flag = m.flag ?? (negated ? `--no-${kebab(key)}` : `--${kebab(key)}`);
    return cmd.createOption(flag, describeFlag(spec, m, negated && m.doc === undefined));
  }
  const flag = m.flag ?? `--${kebab(key)}`;
  let parse = m.parse ?? scalarParser(spec, flag);
  if (!m.parse && spec.type === 'array') {
    const item = scalarParser(spec.items, flag);
    if (!item) return null;
    parse =
      spec.items.type === 'number'
        ? (t: string) => parseListFlag(flag, t, (_f, x) => item(x))
        : (t: string, prev: unknown) => [...((prev as unknown[] | undefined) ?? []), item(t)];
  }
  if (!parse) return null;
  const o = cmd.createOption(`${flag} ${m.value ?? placeholder(spec)}`, describeFlag(spec, m, false));
  return o.argParser(parse as (text: string, previous: unknown) => unknown);
}

/**
 * Add the flags of a stage's options to a command: one per schema key (derived, or as `keys`
 * maps it), plus `--opt` when asked. Throws for a key the schema cannot derive a flag for and
 * `keys` does not map, and for a `keys` entry that is not a schema key.
 */
export function addStageFlags(cmd: Command, spec: StageFlags): Command {
  const info: StageFlagsInfo = { spec, flags: new Map(), without: new Map(), repeatable: new Set() };
  for (const key of Object.keys(spec.keys ?? {})) {
    if (!(key in spec.schema)) throw new Error(`${cmd.name()}: '${key}' is not an option of the ${spec.stage} stage`);
  }
  for (const [key, optionSpec] of Object.entries(spec.schema)) {
    const m = spec.keys?.[key] ?? {};
    if (typeof m === 'string') {
      info.without.set(key, m);
      continue;
    }
    const option = deriveOption(cmd, key, optionSpec, m);
    if (!option)
      throw new Error(
        `${cmd.name()}: no flag can be derived for ${spec.stage} option '${key}' (${optionSpec.type}): map it or say why it has none`,
      );
    cmd.addOption(option);
    info.flags.set(key, option);
    if (isRepeatable(optionSpec, m)) info.repeatable.add(key);
  }
  if (spec.opt) {
    cmd.option(
      '--opt <key=value>',
      `any option of the recipe's stages.${spec.stage}, nested ones as a.b=value (value parsed as YAML); repeatable`,
      collect,
    );
  }
  stageFlagsInfo.set(cmd, info);
  return cmd;
}

/** Where each key path of raw options was set (`--sil-prob 0.3`, `--opt x=1`), for errors. */
export type FlagOrigins = Map<string, string>;

/** The text of a given flag for errors: `--beam 12`, `--split a --split b`. */
function flagText(option: Option, value: unknown, repeatable: boolean): string {
  const flag = option.long ?? option.name();
  if (Array.isArray(value) && repeatable)
    return value.map((v) => `${flag} ${Array.isArray(v) ? v.join(',') : v}`).join(' ');
  if (value !== null && typeof value === 'object' && repeatable)
    return Object.entries(value)
      .map(([k, v]) => `${flag} ${k}=${v}`)
      .join(' ');
  if (typeof value === 'boolean') return flag;
  return `${flag} ${Array.isArray(value) ? value.join(',') : typeof value === 'object' ? JSON.stringify(value) : String(value)}`;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let o = target;
  for (const p of path.slice(0, -1)) {
    const next = o[p];
    o = o[p] =
      next !== null && typeof next === 'object' && !Array.isArray(next) ? { ...(next as Record<string, unknown>) } : {};
  }
  o[path[path.length - 1]] = value;
}

/**
 * The stage options the user gave, not yet validated: the derived flags given on the command
 * line, then `extra` (values of the command's own flags, undefined ones left out, with their
 * flag text), then `--opt` pairs. Keys not given are absent (the schema's default applies).
 */
export function givenStageOptions(
  cmd: Command,
  extra: Record<string, { value: unknown; flag: string }> = {},
): { raw: Record<string, unknown>; origins: FlagOrigins } {
  const info = stageFlagsOf(cmd);
  if (!info) throw new Error(`${cmd.name()} has no stage flags`);
  const raw: Record<string, unknown> = {};
  const origins: FlagOrigins = new Map();
  for (const [key, option] of info.flags) {
    const attr = option.attributeName();
    const value = cmd.getOptionValue(attr);
    if (value === undefined || cmd.getOptionValueSource(attr) === 'default') continue;
    raw[key] = value;
    origins.set(key, flagText(option, value, info.repeatable.has(key)));
  }
  for (const [keyPath, { value, flag }] of Object.entries(extra)) {
    if (value === undefined) continue;
    setPath(raw, keyPath.split('.'), value);
    origins.set(keyPath, flag);
  }
  for (const a of (cmd.getOptionValue('opt') as string[] | undefined) ?? []) {
    const { keyPath, value } = parseSetArgument(a);
    const path = keyPath.split('.');
    if (!(path[0] in info.spec.schema)) {
      throw new ConfigError('bad --opt key', {
        file: `--opt ${a}`,
        expected: `one of ${Object.keys(info.spec.schema).join(', ')}`,
        found: keyPath,
      });
    }
    setPath(raw, path, value);
    origins.set(keyPath, `--opt ${a}`);
  }
  return { raw, origins };
}

/**
 * Run `fn`; a ConfigError it throws that names a key path but no file is re-thrown naming the
 * flag that set the key (the longest key path among `origins` that the error's path starts with).
 */
export async function locateFlagError<T>(origins: FlagOrigins, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const keyPath = err instanceof ConfigError ? err.location.keyPath : undefined;
    if (err instanceof ConfigError && keyPath && !err.location.file) {
      const match = [...origins.keys()]
        .filter((k) => keyPath === k || keyPath.startsWith(k + '.') || keyPath.startsWith(k + '['))
        .sort((a, b) => b.length - a.length)[0];
      if (match !== undefined)
        throw new ConfigError(err.detail, {
          file: origins.get(match),
          keyPath,
          expected: err.expected,
          found: err.found,
          cause: err,
        });
    }
    throw err;
  }
}

/**
 * The effective stage options of a command: what was given (givenStageOptions), validated with
 * the stage's schema (defaults filled in, as in a recipe; errors name the flag), path options
 * resolved against the working directory; with where each given key came from.
 */
export async function stageOptions(
  cmd: Command,
  extra: Record<string, { value: unknown; flag: string }> = {},
): Promise<{ options: Record<string, unknown>; origins: FlagOrigins }> {
  const { raw, origins } = givenStageOptions(cmd, extra);
  const schema = stageFlagsOf(cmd)!.spec.schema;
  const options = await locateFlagError(origins, () =>
    resolvePaths(schema, validateOptions(schema, raw), process.cwd()),
  );
  return { options, origins };
}

/**
 * Run a stage function with the command's effective stage options (stageOptions); an option error
 * it throws (a key path, no file) names the flag that set the key.
 */
export async function runWithStageOptions<T>(
  cmd: Command,
  run: (options: Record<string, unknown>) => T | Promise<T>,
  extra: Record<string, { value: unknown; flag: string }> = {},
): Promise<T> {
  const { options, origins } = await stageOptions(cmd, extra);
  return locateFlagError(origins, () => run(options));
}

/** A ConfigError when a flag that only applies with `needs` was given without it. */
export function requireWith(cmd: Command, flags: readonly string[], needs: string): void {
  for (const flag of flags) {
    const option = cmd.options.find((o) => o.long === flag);
    if (!option) throw new Error(`${cmd.name()} has no flag ${flag}`);
    const attr = option.attributeName();
    if (cmd.getOptionValue(attr) !== undefined && cmd.getOptionValueSource(attr) !== 'default') {
      throw new ConfigError(`${flag} needs ${needs}`, {
        file: flag,
        expected: `${needs} as well`,
        found: `no ${needs}`,
      });
    }
  }
}

/** The recipe flags of `job` and `jobs`, as `run` has them (a job must see the recipe as the run that made its graph). */
export function addRecipeFlags(cmd: Command): Command {
  return cmd
    .option('--exp-dir <dir>', "experiment directory (default: the recipe's expDir, or exp/<name>)")
    .option('--set <key=value>', 'override a recipe value by dotted path (value parsed as YAML); repeatable', collect)
    .option('--corpus-dir <dir>', 'override corpus.dir')
    .option('--eval-corpus-dir <dir>', 'sets stages.prepare.evalDir');
}
