/**
 * Kaldi data directory adapter (see README.md): any Kaldi data dir(s) -> manifests.
 *
 * `dir` is either one data dir (it has wav.scp), prepared as the split `splitName` (default
 * 'train'), or a directory whose subdirectories are data dirs (Kaldi's `data/`), each a split
 * named after it; `splits` selects and orders them.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import {
  checkAdapterOptions,
  recordedOptions,
  type CommonPrepareOptions,
  type CorpusAdapter,
} from '../../src/corpus/adapter.ts';
import { readKaldiDataDir } from '../../src/corpus/kaldi.ts';
import { reportSkips } from '../../src/corpus/skips.ts';
import type { PreparedCorpus, SplitManifest } from '../../src/corpus/types.ts';
import { makeCorpusInfo, validateCorpus } from '../../src/corpus/validate.ts';
import { ConfigError, CorpusError, SkipCounter } from '../../src/util/errors.ts';
import { log } from '../../src/util/log.ts';

export interface KaldiOptions {
  /** Split name when `dir` is a single data dir (default 'train'). */
  splitName?: string;
  /** Subdirectories of `dir` to import, in this order (default: every subdirectory with a wav.scp, sorted). */
  splits?: string[];
  /** Base directory for relative wav.scp paths (default: the current directory, as in a Kaldi recipe). */
  audioBaseDir?: string;
  /** Require disjoint speakers between splits (default false). */
  disjointSpeakers?: boolean;
}

export const KALDI_OPTIONS_DOC: Record<string, string> = {
  splitName: "string, default 'train': split name when dir is one data dir",
  splits: 'string[], default every subdirectory with a wav.scp: data dirs to import as splits',
  audioBaseDir: 'string, default the current directory: what relative wav.scp paths are relative to',
  disjointSpeakers: 'boolean, default false: fail when a speaker appears in two splits',
};

const isDataDir = (d: string) => existsSync(join(d, 'wav.scp'));

/** Import Kaldi data dir(s) as a corpus. */
export async function prepareKaldi(dir: string, opts: KaldiOptions & CommonPrepareOptions): Promise<PreparedCorpus> {
  checkAdapterOptions('kaldi', opts, KALDI_OPTIONS_DOC);
  const logger = opts.logger ?? log;
  const root = resolve(dir);
  let dirs: [string, string][];
  if (isDataDir(root)) {
    if (opts.splits)
      throw new ConfigError("option 'splits' needs a directory of data dirs", {
        keyPath: 'splits',
        expected: `subdirectories of ${root}`,
        found: `${root} is itself a data dir`,
      });
    dirs = [[opts.splitName ?? 'train', root]];
  } else {
    const found =
      existsSync(root) && statSync(root).isDirectory()
        ? readdirSync(root)
            .filter((d) => isDataDir(join(root, d)))
            .sort()
        : [];
    const names = opts.splits ?? found;
    for (const n of names) {
      if (!found.includes(n))
        throw new ConfigError(`no Kaldi data dir '${n}' under ${root}`, {
          keyPath: 'splits',
          expected: found.length ? `one of ${found.join(', ')}` : 'a subdirectory with wav.scp',
          found: n,
        });
    }
    if (names.length === 0)
      throw new CorpusError('no Kaldi data dir found', {
        file: root,
        expected: 'wav.scp here or in subdirectories',
        found: 'none',
      });
    dirs = names.map((n) => [n, join(root, n)]);
  }
  const skips = new SkipCounter();
  const splits: Record<string, SplitManifest> = {};
  for (const [name, d] of dirs) {
    const r = await readKaldiDataDir(d, { audioBaseDir: opts.audioBaseDir, logger, skips });
    splits[name] = r.manifest;
    logger.debug(`kaldi: ${basename(d)} -> split '${name}'`);
  }
  const summary = validateCorpus(splits, { disjointSpeakers: opts.disjointSpeakers ?? false });
  reportSkips(skips, 'Kaldi utterances', logger);
  return { info: makeCorpusInfo('kaldi', splits, summary, skips, recordedOptions(opts)), splits };
}

export const kaldiAdapter: CorpusAdapter<KaldiOptions> = {
  name: 'kaldi',
  description: 'Any Kaldi data dir (wav.scp with plain paths, text, utt2spk, optional segments) or a data/ dir of them',
  prepare: prepareKaldi,
  optionsDoc: KALDI_OPTIONS_DOC,
};
