/**
 * The corpus adapter registry: `am-distill corpus prepare <name> <dir> --out <dataDir>`.
 * To add an adapter: import it below and add one entry to `adapters`.
 */
import type { CorpusAdapter, CommonPrepareOptions } from '../src/corpus/adapter.ts';
import { writePreparedCorpus } from '../src/corpus/manifest.ts';
import type { PreparedCorpus } from '../src/corpus/types.ts';
import { ConfigError } from '../src/util/errors.ts';
import { fsddAdapter } from './fsdd/index.ts';
import { kaldiAdapter } from './kaldi/index.ts';
import { librispeechAdapter } from './librispeech/index.ts';
import { timitAdapter } from './timit/index.ts';
import { synthAdapter } from './synth/index.ts';

export type { CorpusAdapter } from '../src/corpus/adapter.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const adapters: Record<string, CorpusAdapter<any>> = {
  fsdd: fsddAdapter,
  kaldi: kaldiAdapter,
  librispeech: librispeechAdapter,
  timit: timitAdapter,
  synth: synthAdapter,
};

/** Look up an adapter by name; an unknown name is a ConfigError listing the known ones. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function getAdapter(name: string): CorpusAdapter<any> {
  const a = adapters[name];
  if (!a)
    throw new ConfigError(`unknown corpus '${name}'`, {
      expected: `one of ${Object.keys(adapters).sort().join(', ')}`,
      found: name,
    });
  return a;
}

/** Prepare corpus `name` from `dir` and write the data dir `opts.outDir` (manifests + corpus.json). */
export async function prepareCorpus(
  name: string,
  dir: string,
  opts: Record<string, unknown> & CommonPrepareOptions,
): Promise<PreparedCorpus> {
  const prepared = await getAdapter(name).prepare(dir, opts);
  await writePreparedCorpus(opts.outDir, prepared);
  return prepared;
}
