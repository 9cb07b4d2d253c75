/**
 * Shape checks of parsed JSON artefacts (report-input.json, the stages' JSON files): each failure
 * is a FormatError naming the file and the key path, what was expected and what was found.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigError, FormatError } from './errors.ts';

/**
 * The parsed JSON of `path`; unreadable or malformed is a FormatError naming the file (`what`:
 * e.g. `report input`).
 */
export function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FormatError(`cannot read ${what}`, {
      file: path,
      expected: 'a readable JSON file',
      found: (err as Error).message,
      cause: err,
    });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FormatError(`${what} is not valid JSON`, {
      file: path,
      expected: 'JSON',
      found: (err as Error).message,
      cause: err,
    });
  }
}

/**
 * The JSON of `path` after checking its format tag and version (`what`, for the message: e.g.
 * `a students file`); a mismatch is a FormatError naming the file.
 */
export function readTaggedJson<T>(path: string, format: string, what: string, versionKey = 'version', version = 1): T {
  const j = readJsonFile(path, basename(path)) as Record<string, unknown> | null;
  if (j?.format !== format || j[versionKey] !== version) {
    throw new FormatError(`not ${what}`, {
      file: path,
      expected: `format ${format} version ${version}`,
      found: `${String(j?.format)} ${String(j?.[versionKey])}`,
    });
  }
  return j as T;
}

/**
 * A stage's JSON record `file` in its output `dir`, read with `readTaggedJson`; a missing file is
 * a ConfigError (`missing`: e.g. 'no trained models here') naming the stage that writes it.
 */
export function readStageJson<T>(
  dir: string,
  file: string,
  o: { missing: string; stage: string; format: string; what: string },
): T {
  const path = join(dir, file);
  if (!existsSync(path)) {
    throw new ConfigError(o.missing, {
      file: path,
      expected: `${file} written by the ${o.stage} stage`,
      found: 'no such file',
    });
  }
  return readTaggedJson<T>(path, o.format, o.what);
}

export type Obj = Record<string, unknown>;

/** Shape checks of parsed JSON; each failure is a FormatError naming the file and the key path. */
export class Checker {
  constructor(
    private readonly file: string | undefined,
    private readonly message = 'invalid report input',
  ) {}

  fail(keyPath: string, expected: string, found: unknown): never {
    throw new FormatError(this.message, {
      file: this.file,
      keyPath: keyPath || '(root)',
      expected,
      found: describe(found),
    });
  }

  obj(v: unknown, path: string, required: readonly string[], optional: readonly string[] = []): Obj {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(path, 'an object', v);
    const o = v as Obj;
    for (const k of required)
      if (!(k in o) || o[k] === undefined) this.fail(joinKey(path, k), 'a value (required)', undefined);
    const known = new Set([...required, ...optional]);
    for (const k of Object.keys(o))
      if (!known.has(k)) this.fail(joinKey(path, k), `no such key (known: ${[...known].join(', ')})`, k);
    return o;
  }

  /** An object with the `required` keys; other keys are let through (a newer writer may add some). */
  fields(v: unknown, path: string, required: readonly string[]): Obj {
    return this.obj(v, path, required, Object.keys(v !== null && typeof v === 'object' ? v : {}));
  }

  oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[]): T {
    if (!allowed.includes(v as T)) this.fail(path, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, v);
    return v as T;
  }

  /** A non-empty array of distinct names, or of objects with distinct `name`s (`key`). */
  names(v: unknown, path: string, key?: string): string[] {
    const a = this.arr(v, path);
    if (a.length === 0) this.fail(path, 'a non-empty array', v);
    const seen = new Set<string>();
    return a.map((x, i) => {
      const p = key ? joinKey(joinKey(path, i), key) : joinKey(path, i);
      const name = this.str(key ? (x as Obj)?.[key] : x, p);
      if (seen.has(name)) this.fail(p, 'a name not used before', name);
      seen.add(name);
      return name;
    });
  }

  arr(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, 'an array', v);
    return v as unknown[];
  }

  str(v: unknown, path: string, nonEmpty = true): string {
    if (typeof v !== 'string' || (nonEmpty && v.length === 0))
      this.fail(path, nonEmpty ? 'a non-empty string' : 'a string', v);
    return v as string;
  }

  bool(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') this.fail(path, 'true or false', v);
    return v;
  }

  num(v: unknown, path: string, min = -Infinity, max = Infinity, what?: string): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      this.fail(path, what ?? `a finite number in [${min}, ${max}]`, v);
    }
    return v as number;
  }

  int(v: unknown, path: string, min = 0): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(path, `an integer >= ${min}`, v);
    return v as number;
  }

  fraction(v: unknown, path: string): number {
    return this.num(v, path, 0, 1, 'a fraction in [0, 1] (not a percentage)');
  }

  fractionOrNull(v: unknown, path: string): number | null {
    return v === null ? null : this.fraction(v, path);
  }

  opt<T>(o: Obj, k: string, path: string, f: (v: unknown, p: string) => T): T | undefined {
    return o[k] === undefined ? undefined : f(o[k], joinKey(path, k));
  }
}

/** The key path of `key` inside `path`: `a.b`, `a[3]`. */
export function joinKey(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + '...' : s;
}
