/**
 * node --expose-gc bin/run-ts.js bench/lexicon.ts [--words 200000] [--exp exp/demo] [--out tmp/lexicon-scale]
 *
 * Lexicon scale (issue 34 item 2): a Kaldi lexicon.txt of `--words` words (CMUdict's, then generated
 * ones over the same phones, about 1.1 pronunciations per word; src/lang/synthetic-lexicon.ts) is
 * written to `<out>/lexicon-<words>.txt`, with a uniform unigram ARPA LM over its words, and then
 *   1. read with readLexiconTxt;
 *   2. turned into the decoder (lexical tree in context + LM) by the decode stage's own path
 *      (buildSearch with `lexicon`), with the experiment's align model (`<exp>/align/model.json`) if
 *      it exists, else a monophone model over the ARPAbet phones built here.
 * Prints seconds and process.memoryUsage() deltas (heap, array buffers, RSS) per step, one JSON line
 * per step (the decode stage's log lines, with the lexicon and graph times, go to stderr). Run with --expose-gc so that the deltas are measured after a collection.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { log } from '../src/util/log.ts';
import { PhoneSet } from '../src/lang/phones.ts';
import { readLexiconTxt, writeLexiconTxt } from '../src/lang/lexicon.ts';
import { syntheticLexicon } from '../src/lang/synthetic-lexicon.ts';
import { buildSearch, resolveSearchOptions } from '../src/decode/search-space.ts';
import { uniformUnigramArpa, writeMonophoneAlign } from '../test/stages/decode/fixtures.ts';

const args = process.argv.slice(2);
const arg = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const WORDS = Number(arg('words', '200000'));
const EXP = arg('exp', 'exp/demo');
const OUT = arg('out', 'tmp/lexicon-scale');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) console.error('bench/lexicon: run node with --expose-gc for memory deltas after a collection');

const MiB = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
async function step<T>(
  name: string,
  fn: () => T | Promise<T>,
  extra: (r: T) => Record<string, unknown> = () => ({}),
): Promise<T> {
  gc?.();
  const m0 = process.memoryUsage();
  const t0 = performance.now();
  const r = await fn();
  const sec = (performance.now() - t0) / 1000;
  gc?.();
  const m1 = process.memoryUsage();
  console.log(
    JSON.stringify({
      step: name,
      sec: Math.round(sec * 1000) / 1000,
      heapUsedMiB: MiB(m1.heapUsed - m0.heapUsed),
      arrayBuffersMiB: MiB(m1.arrayBuffers - m0.arrayBuffers),
      rssMiB: MiB(m1.rss - m0.rss),
      peakRssMiB: MiB(process.resourceUsage().maxRSS * 1024),
      ...extra(r),
    }),
  );
  return r;
}

mkdirSync(OUT, { recursive: true });
const lexFile = join(OUT, `lexicon-${WORDS}.txt`);
const lmFile = join(OUT, `unigram-${WORDS}.arpa`);
const lex = await step(
  'generate',
  () => syntheticLexicon({ words: WORDS }),
  (l) => ({ words: l.size, pronunciations: l.words().reduce((n, w) => n + l.get(w)!.length, 0) }),
);
await writeLexiconTxt(lexFile, lex);
const words = lex.words();
writeFileSync(lmFile, uniformUnigramArpa(words));

// The acoustic model: the experiment's align output, else a monophone model built here.
let langDir = join(EXP, 'align', 'lang');
let model = join(EXP, 'align', 'model.json');
let source = `${EXP}/align`;
if (!existsSync(model) || !existsSync(join(langDir, 'lang.json'))) {
  ({ langDir, model } = await writeMonophoneAlign(join(OUT, 'mono'), PhoneSet.arpabet()));
  source = 'a monophone model built here';
}
console.error(`bench/lexicon: ${lexFile}, ${lmFile}; acoustic model: ${source}`);

await step(
  'readLexiconTxt',
  () => readLexiconTxt(lexFile, PhoneSet.arpabet()),
  (l) => ({ words: l.size }),
);
await step(
  'buildSearch',
  () => buildSearch(langDir, model, lmFile, resolveSearchOptions({}), log, false, { lexicon: lexFile }),
  (s) => ({
    searchWords: s.searchWords.length,
    pronunciations: s.numProns,
    lexiconReport: s.lexiconReport
      ? { unusable: s.lexiconReport.unusableWords, unknownPhones: s.lexiconReport.unknownPhones }
      : null,
    untrainedPhones: s.untrainedPhones.length,
    hmmStates: s.decoder.graph.numStates,
    phoneCopies: s.decoder.graph.numCopies,
    treeNodes: s.decoder.graph.numTrieNodes,
  }),
);
