/** The `lm` stage as library functions: train an ARPA LM from a text file; perplexity of a text. */
import { estimateKneserNey, type KneserNeyOptions, type OrderStats } from './kneser-ney.ts';
import { formatArpa } from './arpa.ts';
import { loadNgramStore } from './store-file.ts';
import { BackoffLm, type PerplexityResult } from './model.ts';
import { parseSentences } from './text.ts';
import { readInputText, writeFileAtomic } from '../util/fs.ts';

export interface LmTrainOptions extends KneserNeyOptions {
  /** Training text: one sentence per line (see parseSentences). */
  textPath: string;
  /** Output ARPA file (written atomically). */
  outPath: string;
}

export interface LmTrainResult {
  outPath: string;
  order: number;
  sentences: number;
  tokens: number;
  stats: OrderStats[];
}

export async function trainLm(opts: LmTrainOptions): Promise<LmTrainResult> {
  const sentences = parseSentences(readInputText(opts.textPath, 'a text file, one sentence per line'), opts.textPath);
  const model = estimateKneserNey(sentences, opts);
  await writeFileAtomic(opts.outPath, formatArpa(model));
  return {
    outPath: opts.outPath,
    order: model.order,
    sentences: model.sentences,
    tokens: model.tokens,
    stats: model.stats,
  };
}

/** A back-off LM from an ARPA file (`.arpa` or `.arpa.gz`), read line by line (no binary cache). */
export async function loadLm(path: string): Promise<BackoffLm> {
  return new BackoffLm((await loadNgramStore(path, { cache: false })).store, path);
}

export function perplexityOfFile(lm: BackoffLm, textPath: string): PerplexityResult {
  return lm.perplexity(parseSentences(readInputText(textPath, 'a text file, one sentence per line'), textPath));
}
