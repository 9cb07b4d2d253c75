/**
 * Typed errors. Every error names where the problem is (file, line, utterance, key path),
 * what was expected and what was found, so a user can fix the input without a debugger.
 */

export interface ErrorLocation {
  /** File the problem is in, if any. */
  file?: string;
  /** 1-based line number within `file`. */
  line?: number;
  /** Utterance / recording id the problem concerns. */
  uttId?: string;
  /** Dotted key path inside a config file, e.g. `stages.features.numMelBins`. */
  keyPath?: string;
}

/** Base class of all am-distill errors. `code` is stable and machine-readable. */
export class AmDistillError extends Error {
  readonly code: string;
  readonly location: ErrorLocation;
  readonly expected?: string;
  readonly found?: string;
  /** The message without the location, expected and found parts (to rethrow it located elsewhere). */
  readonly detail: string;

  constructor(
    code: string,
    message: string,
    opts: ErrorLocation & { expected?: string; found?: string; cause?: unknown } = {},
  ) {
    const { expected, found, cause, ...location } = opts;
    const where = formatLocation(location);
    let full = where ? `${where}: ${message}` : message;
    if (expected !== undefined) full += `; expected ${expected}`;
    if (found !== undefined) full += `, found ${found}`;
    super(full, cause !== undefined ? { cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.location = location;
    this.expected = expected;
    this.found = found;
    this.detail = message;
  }
}

export function formatLocation(loc: ErrorLocation): string {
  const parts: string[] = [];
  if (loc.file) parts.push(loc.line !== undefined ? `${loc.file}:${loc.line}` : loc.file);
  if (loc.uttId) parts.push(`utterance '${loc.uttId}'`);
  if (loc.keyPath) parts.push(`key '${loc.keyPath}'`);
  return parts.join(', ');
}

/** Audio that cannot be decoded: truncated, corrupt, unsupported encoding, empty. */
export class AudioFormatError extends AmDistillError {
  constructor(message: string, opts: ErrorLocation & { expected?: string; found?: string; cause?: unknown } = {}) {
    super('E_AUDIO_FORMAT', message, opts);
  }
}

/** Corpus / manifest problems: duplicate ids, missing files, bad transcripts, mixed rates. */
export class CorpusError extends AmDistillError {
  constructor(message: string, opts: ErrorLocation & { expected?: string; found?: string; cause?: unknown } = {}) {
    super('E_CORPUS', message, opts);
  }
}

/** Recipe / option problems: malformed YAML, unknown keys, wrong types, unknown stage names. */
export class ConfigError extends AmDistillError {
  constructor(message: string, opts: ErrorLocation & { expected?: string; found?: string; cause?: unknown } = {}) {
    super('E_CONFIG', message, opts);
  }
}

/** Data-file problems: wrong schema, version, dimension, sample rate in an Arrow/JSON artefact. */
export class FormatError extends AmDistillError {
  constructor(message: string, opts: ErrorLocation & { expected?: string; found?: string; cause?: unknown } = {}) {
    super('E_FORMAT', message, opts);
  }
}

/** Network / download problems: HTTP status, checksum mismatch, unsafe archive member. */
export class DownloadError extends AmDistillError {
  constructor(message: string, opts: ErrorLocation & { expected?: string; found?: string; cause?: unknown } = {}) {
    super('E_DOWNLOAD', message, opts);
  }
}

/** Numerical failure that must stop a stage (NaN loss, empty statistics). */
export class NumericError extends AmDistillError {
  constructor(message: string, opts: ErrorLocation & { expected?: string; found?: string; cause?: unknown } = {}) {
    super('E_NUMERIC', message, opts);
  }
}

/**
 * Counts utterances skipped for a reason, Kaldi style ("Done N, failed M"),
 * so a bad utterance in a large corpus never stops the stage and is always reported.
 */
export class SkipCounter {
  private readonly byReason = new Map<string, string[]>();
  /** Per reason, the first distinct causes (the detail behind the reason, e.g. the decoder's message). */
  private readonly causes = new Map<string, Set<string>>();
  private readonly otherCauses = new Map<string, number>();
  done = 0;

  /**
   * Count `uttId` as skipped for `reason` (the class, counted). `cause`: what exactly was wrong
   * with it (file, line and the error's message); the summary shows the first few distinct ones.
   */
  skip(uttId: string, reason: string, cause?: string): void {
    const list = this.byReason.get(reason);
    if (list) list.push(uttId);
    else this.byReason.set(reason, [uttId]);
    if (cause === undefined) return;
    const seen = this.causes.get(reason) ?? new Set<string>();
    this.causes.set(reason, seen);
    const text = `${uttId}: ${cause}`;
    if (seen.size < SkipCounter.CAUSES_SHOWN) seen.add(text);
    else this.otherCauses.set(reason, (this.otherCauses.get(reason) ?? 0) + 1);
  }

  /** Distinct causes shown per reason in the summary. */
  static readonly CAUSES_SHOWN = 3;

  get skipped(): number {
    let n = 0;
    for (const v of this.byReason.values()) n += v.length;
    return n;
  }

  reasons(): { reason: string; count: number; examples: string[] }[] {
    return [...this.byReason.entries()]
      .map(([reason, ids]) => ({ reason, count: ids.length, examples: ids.slice(0, 5) }))
      .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  }

  /** One summary line plus one line per reason, each followed by its first causes where known. */
  summary(what = 'utterances'): string {
    const lines = [`Done ${this.done} ${what}, skipped ${this.skipped}`];
    for (const r of this.reasons()) {
      lines.push(`  ${r.count} x ${r.reason} (e.g. ${r.examples.join(', ')})`);
      for (const c of this.causes.get(r.reason) ?? []) lines.push(`      ${c}`);
      const more = this.otherCauses.get(r.reason);
      if (more) lines.push(`      (and ${more} more)`);
    }
    return lines.join('\n');
  }

  toJSON(): { done: number; skipped: number; reasons: { reason: string; count: number; examples: string[] }[] } {
    return { done: this.done, skipped: this.skipped, reasons: this.reasons() };
  }
}
