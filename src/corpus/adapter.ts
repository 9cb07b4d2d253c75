/**
 * The uniform corpus adapter interface (corpora/<name>/index.ts implements it; corpora/index.ts
 * lists them). `prepare` returns validated manifests and writes only the audio it composes or
 * resamples (under `<outDir>/wav/`); `writePreparedCorpus(outDir, prepared)` writes the manifests.
 */
import { ConfigError } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import type { PreparedCorpus } from './types.ts';

/** Options every adapter takes. */
export interface CommonPrepareOptions {
  /** The data directory the corpus will be written to; composed/resampled audio goes to `<outDir>/wav/`. */
  outDir: string;
  /** Logger for progress and the skip summary (default: the global logger). */
  logger?: Logger;
}

export interface CorpusAdapter<O extends object = Record<string, unknown>> {
  /** Registry name: `am-distill corpus prepare <name> ...`. */
  name: string;
  /** One line for `--help`. */
  description: string;
  /** Read the corpus at `dir`, return validated manifests per split. */
  prepare(dir: string, opts: O & CommonPrepareOptions): Promise<PreparedCorpus>;
  /** Fetch a public corpus into `destDir`; resolves to the directory to pass to `prepare`. */
  download?(destDir: string, opts?: Record<string, unknown>): Promise<string>;
  /** Option name -> "type, default: meaning" (for --help and docs). */
  optionsDoc: Record<string, string>;
}

/**
 * Reject option keys an adapter does not know (a typo must not be silently ignored).
 * `outDir` and `logger` are always allowed.
 */
export function checkAdapterOptions(adapter: string, opts: object, doc: Record<string, string>): void {
  for (const k of Object.keys(opts)) {
    if (k === 'outDir' || k === 'logger') continue;
    if (!(k in doc)) {
      throw new ConfigError(`unknown ${adapter} option '${k}'`, {
        keyPath: k,
        expected: `one of ${['outDir', ...Object.keys(doc)].join(', ')}`,
        found: k,
      });
    }
  }
}

/** The options to record in corpus.json: everything but the logger, with undefined dropped. */
export function recordedOptions(opts: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) {
    if (k === 'logger' || k === 'outDir' || v === undefined) continue;
    out[k] = v;
  }
  return out;
}
