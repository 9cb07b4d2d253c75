/**
 * A small typed option-schema system. Every stage declares its options once, with type,
 * default, unit and documentation; the same declaration validates recipe YAML, `--set`
 * overrides and CLI flags, fills in defaults, and documents the stage (`describeSchema`).
 *
 * Errors carry the dotted key path (`stages.features.numMelBins`) plus expected/found, and the
 * caller (recipe loader) attaches the file and line.
 */
import { resolve as pathResolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../util/errors.ts';

interface BaseSpec {
  /** One-line documentation shown by `describeSchema`. */
  doc: string;
  /** May be absent (no default): the effective value is then `undefined`. */
  optional?: boolean;
  /** `null` is accepted as a value (means "not set" for the consumer). */
  nullable?: boolean;
  /**
   * Whether the option can change the stage's outputs. `false` for pure run-time knobs
   * (thread counts, progress): such options are left out of the config hash.
   */
  affectsOutput?: boolean;
}

export interface NumberSpec extends BaseSpec {
  type: 'number';
  default?: number;
  /** Unit for documentation ('Hz', 'ms', 's', ...); the option name carries it too. */
  unit?: string;
  integer?: boolean;
  min?: number;
  max?: number;
}

export interface StringSpec extends BaseSpec {
  type: 'string';
  default?: string;
  /** Allowed values. */
  enum?: readonly string[];
  /** A filesystem path: resolved against the working directory when the recipe is loaded. */
  path?: boolean;
  /** Regular expression the value must match (anchored by the caller's pattern). */
  pattern?: RegExp;
}

export interface BooleanSpec extends BaseSpec {
  type: 'boolean';
  default?: boolean;
}

export interface ArraySpec extends BaseSpec {
  type: 'array';
  items: OptionSpec;
  default?: unknown[];
  minItems?: number;
}

export interface ObjectSpec extends BaseSpec {
  type: 'object';
  fields: Schema;
}

/** Free-form string keys, every value checked against `values` (e.g. adapter option bags). */
export interface MapSpec extends BaseSpec {
  type: 'map';
  values: OptionSpec;
  default?: Record<string, unknown>;
}

/**
 * An option group validated by its owner module's own function (e.g. the features module's
 * `fbankOptions(user, keyPrefix)`), so the defaults live in one place. The function returns the
 * effective value and throws ConfigError with the key path on bad input.
 */
export interface CustomSpec extends BaseSpec {
  type: 'custom';
  /** What the value looks like, for documentation and errors ('a mapping of fbank options'). */
  expected: string;
  validate(value: unknown, keyPath: string): unknown;
  /**
   * The value's shape as JSON Schema, for the published recipe schema (json-schema.ts); absent:
   * any value there (the validator still checks it when the recipe is loaded).
   */
  jsonSchema?: Record<string, unknown>;
}

export type OptionSpec = NumberSpec | StringSpec | BooleanSpec | ArraySpec | ObjectSpec | MapSpec | CustomSpec;

export type Schema = Record<string, OptionSpec>;

/**
 * A schema that covers exactly the keys of an options interface, so a stage's `XOptions`
 * type and its declared schema cannot drift apart.
 */
export type SchemaFor<T> = { [K in keyof Required<T>]: OptionSpec };

/**
 * A validation error. Its `detail` (the bare message, without the location) lets the recipe
 * loader re-raise it with the file and line the key path points at.
 */
export class OptionError extends ConfigError {
  constructor(message: string, opts: { keyPath: string; expected?: string; found?: string }) {
    super(message, opts);
  }
}

/** Where a value came from, for error messages. */
export interface ValidateContext {
  /** Dotted prefix for key paths, e.g. `stages.features`. */
  keyPath?: string;
}

function join(prefix: string | undefined, key: string | number): string {
  if (typeof key === 'number') return `${prefix ?? ''}[${key}]`;
  return prefix ? `${prefix}.${key}` : key;
}

/** The YAML-ish name of a JS value's type, for "found" in errors. */
export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'mapping';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v !== null && typeof v === 'object') return typeName(v);
  return String(v);
}

function expectedOf(spec: OptionSpec): string {
  switch (spec.type) {
    case 'number':
      return spec.integer ? 'an integer' : 'a number';
    case 'string':
      return spec.enum ? `one of ${spec.enum.map((e) => JSON.stringify(e)).join(', ')}` : 'a string';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'a list';
    case 'object':
    case 'map':
      return 'a mapping';
    case 'custom':
      return spec.expected;
  }
}

/**
 * Validate `value` against an object schema and return the effective options with defaults
 * filled in. Unknown keys, wrong types and out-of-range values throw ConfigError with the
 * dotted key path. Does not mutate `value`.
 */
export function validateOptions(schema: Schema, value: unknown, ctx: ValidateContext = {}): Record<string, unknown> {
  return validateObject(schema, value ?? {}, ctx.keyPath) as Record<string, unknown>;
}

function validateObject(fields: Schema, value: unknown, keyPath: string | undefined): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new OptionError('wrong type', {
      keyPath: keyPath || '(top level)',
      expected: 'a mapping',
      found: typeName(value),
    });
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!Object.prototype.hasOwnProperty.call(fields, key)) {
      const known = Object.keys(fields);
      throw new OptionError(`unknown key '${key}'`, {
        keyPath: join(keyPath, key),
        expected: known.length ? `one of ${known.join(', ')}` : 'no keys',
        found: `'${key}'`,
      });
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(fields)) {
    const v = validateValue(spec, obj[key], join(keyPath, key));
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** Validate one value (undefined = absent: default, or error if required). */
export function validateValue(spec: OptionSpec, value: unknown, keyPath: string): unknown {
  if (spec.type === 'custom') {
    if (value === undefined && spec.optional) return undefined;
    try {
      return spec.validate(value, keyPath);
    } catch (err) {
      if (err instanceof ConfigError && !(err instanceof OptionError)) {
        throw new OptionError(err.detail, {
          keyPath: err.location.keyPath ?? keyPath,
          expected: err.expected,
          found: err.found,
        });
      }
      throw err;
    }
  }
  if (value === undefined) {
    if ('default' in spec && spec.default !== undefined) return structuredClone(spec.default);
    if (spec.optional) return undefined;
    if (spec.type === 'object') return validateObject(spec.fields, {}, keyPath);
    if (spec.nullable) return null;
    throw new OptionError('missing required option', {
      keyPath,
      expected: `${expectedOf(spec)} (${spec.doc})`,
      found: 'nothing',
    });
  }
  if (value === null) {
    if (spec.nullable) return null;
    if (spec.optional) return undefined;
    throw new OptionError('wrong type', { keyPath, expected: expectedOf(spec), found: 'null' });
  }
  const wrong = () =>
    new OptionError('wrong type', { keyPath, expected: expectedOf(spec), found: `${typeName(value)} ${show(value)}` });
  switch (spec.type) {
    case 'number': {
      if (typeof value !== 'number' || Number.isNaN(value)) throw wrong();
      if (spec.integer && !Number.isInteger(value)) throw wrong();
      if (spec.min !== undefined && value < spec.min) {
        throw new OptionError('value out of range', {
          keyPath,
          expected: `>= ${spec.min}${spec.unit ? ' ' + spec.unit : ''}`,
          found: String(value),
        });
      }
      if (spec.max !== undefined && value > spec.max) {
        throw new OptionError('value out of range', {
          keyPath,
          expected: `<= ${spec.max}${spec.unit ? ' ' + spec.unit : ''}`,
          found: String(value),
        });
      }
      return value;
    }
    case 'string': {
      if (typeof value !== 'string') throw wrong();
      if (spec.enum && !spec.enum.includes(value)) throw wrong();
      if (spec.pattern && !spec.pattern.test(value)) {
        throw new OptionError('invalid value', {
          keyPath,
          expected: `a string matching ${spec.pattern}`,
          found: JSON.stringify(value),
        });
      }
      return value;
    }
    case 'boolean':
      if (typeof value !== 'boolean') throw wrong();
      return value;
    case 'array': {
      if (!Array.isArray(value)) throw wrong();
      if (spec.minItems !== undefined && value.length < spec.minItems) {
        throw new OptionError('list too short', {
          keyPath,
          expected: `at least ${spec.minItems} item(s)`,
          found: `${value.length}`,
        });
      }
      return value.map((item, i) => validateValue(spec.items, item, join(keyPath, i)));
    }
    case 'object':
      return validateObject(spec.fields, value, keyPath);
    case 'map': {
      if (typeof value !== 'object' || Array.isArray(value)) throw wrong();
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        out[k] = validateValue(spec.values, v, join(keyPath, k));
      }
      return out;
    }
  }
}

/**
 * The part of an effective config that can change outputs (drops `affectsOutput: false`
 * options), which is what the runner hashes.
 */
export function outputRelevant(schema: Schema, effective: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(effective)) {
    const spec = schema[key];
    if (!spec) {
      out[key] = v;
      continue;
    }
    if (spec.affectsOutput === false) continue;
    if (spec.type === 'object' && v && typeof v === 'object')
      out[key] = outputRelevant(spec.fields, v as Record<string, unknown>);
    else out[key] = v;
  }
  return out;
}

/** Human-readable documentation of a schema, one option per line (for `--help` and docs). */
export function describeSchema(schema: Schema, indent = ''): string {
  const lines: string[] = [];
  for (const [key, spec] of Object.entries(schema)) {
    let type: string = spec.type;
    if (spec.type === 'number' && spec.integer) type = 'integer';
    if (spec.type === 'string' && spec.enum) type = spec.enum.join('|');
    if (spec.type === 'array') type = `list of ${spec.items.type}`;
    if (spec.type === 'custom') type = spec.expected;
    const unit = spec.type === 'number' && spec.unit ? ` [${spec.unit}]` : '';
    const def =
      'default' in spec && spec.default !== undefined
        ? ` (default ${JSON.stringify(spec.default)})`
        : spec.optional
          ? ' (optional)'
          : '';
    lines.push(`${indent}${key}: ${type}${unit}${def}  ${spec.doc}`);
    if (spec.type === 'object') lines.push(describeSchema(spec.fields, indent + '  '));
  }
  return lines.join('\n');
}

/**
 * Resolve every `path: true` string option of an effective config against `baseDir`
 * (absolute paths are kept). Returns a new object.
 */
export function resolvePaths(
  schema: Schema,
  effective: Record<string, unknown>,
  baseDir: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...effective };
  for (const [key, spec] of Object.entries(schema)) {
    const v = out[key];
    if (v === undefined || v === null) continue;
    out[key] = resolveValue(spec, v, baseDir);
  }
  return out;
}

function resolveValue(spec: OptionSpec, v: unknown, baseDir: string): unknown {
  if (spec.type === 'string' && spec.path && typeof v === 'string') return pathResolve(baseDir, v);
  if (spec.type === 'object') return resolvePaths(spec.fields, v as Record<string, unknown>, baseDir);
  if (spec.type === 'array' && Array.isArray(v)) return v.map((x) => resolveValue(spec.items, x, baseDir));
  if (spec.type === 'map' && v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = resolveValue(spec.values, x, baseDir);
    return out;
  }
  return v;
}

/** Split `a.b.c=value`; the value is parsed as YAML (`80` -> number, `true` -> boolean, `[a, b]` -> list). */
export function parseSetArgument(assignment: string): { keyPath: string; value: unknown } {
  const eq = assignment.indexOf('=');
  const where = { file: `--set ${assignment}` };
  if (eq <= 0)
    throw new ConfigError('malformed --set argument', {
      ...where,
      expected: 'key.path=value',
      found: JSON.stringify(assignment),
    });
  const keyPath = assignment.slice(0, eq).trim();
  if (!/^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/.test(keyPath)) {
    throw new ConfigError('malformed --set key', {
      ...where,
      expected: 'dotted names such as stages.features.numMelBins',
      found: JSON.stringify(keyPath),
    });
  }
  const text = assignment.slice(eq + 1);
  let value: unknown;
  try {
    value = text.trim() === '' ? null : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`malformed value: ${(err as Error).message.split('\n')[0]}`, {
      ...where,
      keyPath,
      expected: 'a YAML scalar or flow value',
      found: JSON.stringify(text),
    });
  }
  return { keyPath, value };
}
