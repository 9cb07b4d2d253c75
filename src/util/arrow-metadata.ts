/**
 * The schema metadata of the per-utterance Arrow stores (features, alignments, soft targets;
 * docs/arrow-schema.md): string keys `am_distill.*`, string values (numbers as `String(n)`,
 * objects as JSON, an absent split as ''). Every store begins with the same four keys (format,
 * format_version, stage, config_hash) and adds its own.
 *
 * Writing: `storeMetadataMap` (the four keys, then the store's, in the store's order: the order
 * is part of the file's bytes). Reading: `StoreMetadata.open` checks the format name and version,
 * and its getters raise FormatErrors naming the file and the key: a missing key, malformed JSON,
 * a value out of range.
 */
import type { Schema } from 'apache-arrow';
import { FormatError } from './errors.ts';

/** The keys every store writes first. */
export const STORE_META = {
  format: 'am_distill.format',
  formatVersion: 'am_distill.format_version',
  stage: 'am_distill.stage',
  configHash: 'am_distill.config_hash',
} as const;

/** The values of the four common keys. */
export interface StoreMetadataHead {
  format: string;
  formatVersion: number;
  stage: string;
  configHash: string;
}

/** The schema metadata of a store's file: the common keys, then `rest` in order. */
export function storeMetadataMap(
  head: StoreMetadataHead,
  rest: readonly (readonly [string, string])[],
): Map<string, string> {
  return new Map<string, string>([
    [STORE_META.format, head.format],
    [STORE_META.formatVersion, String(head.formatVersion)],
    [STORE_META.stage, head.stage],
    [STORE_META.configHash, head.configHash],
    ...rest,
  ]);
}

/** A store file's schema metadata, read with typed errors (`what`: e.g. `feature file`). */
export class StoreMetadata {
  private constructor(
    private readonly md: Map<string, string>,
    readonly file: string,
    readonly what: string,
  ) {}

  /**
   * The metadata of `schema`, after checking that it is an am-distill `what` of this format and
   * version: a missing key, another format or another version is a FormatError naming the file.
   */
  static open(schema: Schema, file: string, what: string, format: string, formatVersion: number): StoreMetadata {
    const md = new StoreMetadata(schema.metadata, file, what);
    const found = md.get(STORE_META.format);
    if (found !== format) throw new FormatError(`not an am-distill ${what}`, { file, expected: format, found });
    const version = md.get(STORE_META.formatVersion);
    if (Number(version) !== formatVersion)
      throw new FormatError(`unsupported ${what} format version`, {
        file,
        expected: String(formatVersion),
        found: version,
      });
    return md;
  }

  /** The four common keys (format and version checked by `open`). */
  head(): StoreMetadataHead {
    return {
      format: this.get(STORE_META.format),
      formatVersion: Number(this.get(STORE_META.formatVersion)),
      stage: this.get(STORE_META.stage),
      configHash: this.get(STORE_META.configHash),
    };
  }

  has(key: string): boolean {
    return this.md.has(key);
  }

  /** The value of a required key. */
  get(key: string): string {
    const v = this.md.get(key);
    if (v === undefined) {
      throw new FormatError(`not an am-distill ${this.what}: schema metadata key missing`, {
        file: this.file,
        expected: key,
        found: `keys ${[...this.md.keys()].join(', ') || '(none)'}`,
      });
    }
    return v;
  }

  /** The value of an optional key; absent or '' is null. */
  optional(key: string): string | null {
    const v = this.md.get(key);
    return v ? v : null;
  }

  /** A required key's JSON value. */
  json<T>(key: string): T {
    const text = this.get(key);
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new FormatError('malformed JSON in schema metadata', { file: this.file, keyPath: key, cause });
    }
  }

  /** An optional key's JSON value, `absent` when the key is not there. */
  jsonOr<T>(key: string, absent: T): T {
    return this.has(key) ? this.json<T>(key) : absent;
  }

  /** An integer >= 1 (`label` names it in the message: `bad <label> in schema metadata`). */
  positiveInt(key: string, label = 'value'): number {
    const v = Number(this.get(key));
    if (!Number.isInteger(v) || v < 1) this.fail(key, label, 'a positive integer');
    return v;
  }

  /** A number > 0. */
  positive(key: string, label = 'value'): number {
    const v = Number(this.get(key));
    if (!(v > 0)) this.fail(key, label, 'a number > 0');
    return v;
  }

  /** One of `allowed`. */
  oneOf<T extends string>(key: string, allowed: readonly T[]): T {
    const v = this.get(key) as T;
    if (!allowed.includes(v)) this.fail(key, 'value', allowed.join(' or '));
    return v;
  }

  /** Throw the FormatError of a bad value of `key`. */
  fail(key: string, label: string, expected: string): never {
    throw new FormatError(`bad ${label} in schema metadata`, {
      file: this.file,
      keyPath: key,
      expected,
      found: this.md.get(key),
    });
  }
}

/** Utterance and frame counts as the stores record them (`am_distill.counts`). */
export interface StoredCounts {
  utterances: number;
  frames: number;
}

/** Throw unless the utterances and frames read from a file match its metadata counts. */
export function checkStoredCounts(file: string, what: string, recorded: StoredCounts, read: StoredCounts): void {
  if (read.utterances !== recorded.utterances || read.frames !== recorded.frames) {
    throw new FormatError(`${what} contents disagree with its metadata`, {
      file,
      expected: `${recorded.utterances} utterances, ${recorded.frames} frames`,
      found: `${read.utterances} utterances, ${read.frames} frames`,
    });
  }
}
