/**
 * npm run bench:decode [-- --exp exp/demo --system student --split test --beams 6,8,10,12,13,14,16,20]
 * npm run bench:decode -- --vocab 200000 [--json ...]   (large vocabulary: bench/decode-vocab.ts)
 * npm run bench:decode -- --tune [--systems ...]           (tuning by rescoring vs re-decoding: bench/decode-tune.ts)
 * npm run bench:decode -- --synthetic [--words 500 --phones 40 --utts 40 --order 3 --noise 1.8 --peak 2.4 --beams ...]
 *
 * WER and speed of the decoder against the beam, on one core (the search runs on the main thread).
 *
 * Real model (default when the experiment has trained models and an LM, i.e. after
 * `npm run demo` or `am-distill run ... --to-stage lm`): the experiment's lexicon and tree (align),
 * LM (lm), and one system's acoustic model (train/distill; `ensemble` averages the members), on a
 * split; the LM weight and penalty tuned on dev by the decode stage when it has run (else 1 and 0).
 * Acoustic scores (CMVN, splicing, the network's forward pass) are computed once before timing and
 * timed apart: the table's search-RTF counts the search only; the last line adds the acoustic
 * forward pass's RTF to the chosen beam's (end-to-end RTF from features).
 *
 * Synthetic (`--synthetic`, or when no experiment is found): a random lexicon (2-6 phones per word,
 * some variants) over a context-dependent toy phone model (first and last HMM states depend on the
 * neighbour's class, across word boundaries), a Kneser-Ney LM trained on random text over the
 * vocabulary, and noisy posteriors generated from sentences of that text (test/decode/helpers.ts).
 *
 * Prints per beam: %WER (sclite convention), search frames/s, search-only real-time factor at the
 * frame shift, mean and largest number of active tokens, and which beam is the fastest within 0.2%
 * absolute WER of the widest. Synthetic scores stand in for an acoustic model, so there the RTF is
 * search-only by construction.
 */
import { join } from 'node:path';
import { Rng } from '../src/util/rng.ts';
import { createLogger } from '../src/util/log.ts';
import { buildSearch, resolveSearchOptions } from '../src/decode/search-space.ts';
import { Decoder } from '../src/decode/decoder.ts';
import { SearchLm } from '../src/decode/search-lm.ts';
import { decodeSet, type DecodeInput } from '../src/decode/tune.ts';
import { scoreTranscripts } from '../src/score/wer.ts';
import type { TrnUtterance } from '../src/score/trn.ts';
import { randomText, synthesize, toyLexicon, toyModel, trainArpa } from '../test/decode/helpers.ts';
import { experimentInputs, missingExperimentFiles } from './decode-inputs.ts';
import { vocabBench } from './decode-vocab.ts';
import { tuneBench } from './decode-tune.ts';

const args = process.argv.slice(2);
function arg(name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
}
const WORDS = Number(arg('words', '500'));
const PHONES = Number(arg('phones', '40'));
const UTTS = Number(arg('utts', '40'));
const ORDER = Number(arg('order', '3'));
const NOISE = Number(arg('noise', '1.8'));
const PEAK = Number(arg('peak', '2.4'));
const BEAMS = arg('beams', '6,8,10,12,13,14,16,20').split(',').map(Number);
const MAX_ACTIVE = Number(arg('max-active', '7000'));
const EXP = arg('exp', 'exp/demo');
const SYNTHETIC = args.includes('--synthetic');

interface Row {
  beam: number;
  wer: number;
  fps: number;
  rtf: number;
  meanActive: number;
  maxActive: number;
}

/**
 * Decode at every beam, print the table and the fastest beam within 0.2% absolute WER of the
 * widest (returned). RTFs here are of the search alone.
 */
function sweep(
  dec: Decoder,
  inputs: DecodeInput[],
  refs: TrnUtterance[],
  opts: { lmWeight?: number; wordInsertionPenalty?: number; frameShiftSec?: number } = {},
): Row {
  // Warm-up (JIT, LM caches) on a few utterances.
  decodeSet(dec, inputs.slice(0, 5), { ...opts, beam: BEAMS[BEAMS.length - 1], maxActive: MAX_ACTIVE });
  const rows: Row[] = [];
  console.log('beam   %WER    frames/s  search-RTF  mean-active  max-active');
  for (const beam of BEAMS) {
    const r = decodeSet(dec, inputs, { ...opts, beam, maxActive: MAX_ACTIVE });
    const s = scoreTranscripts(refs, r.hyps);
    const row = {
      beam,
      wer: s.wer,
      fps: r.stats.framesPerSec,
      rtf: r.stats.realTimeFactor,
      meanActive: r.stats.meanActive,
      maxActive: r.stats.maxActive,
    };
    rows.push(row);
    console.log(
      `${String(beam).padStart(4)} ${s.wer.toFixed(2).padStart(7)} ${row.fps.toFixed(0).padStart(11)} ${row.rtf.toFixed(4).padStart(11)} ${row.meanActive.toFixed(0).padStart(12)} ${String(row.maxActive).padStart(11)}${r.noPath.length ? `  (${r.noPath.length} without a final token)` : ''}`,
    );
  }
  const wide = rows[rows.length - 1];
  const ok = rows.filter((r) => r.wer <= wide.wer + 0.2);
  const pick = ok.reduce((a, r) => (r.rtf < a.rtf ? r : a), ok[0]);
  console.log(
    `fastest beam within 0.2% absolute WER of beam ${wide.beam}: beam ${pick.beam}, %WER ${pick.wer.toFixed(2)}, search-only RTF ${pick.rtf.toFixed(4)} (goal <= 0.05), ${pick.fps.toFixed(0)} frames/s`,
  );
  return pick;
}

/** The real-model bench on an experiment directory; false when it lacks what it needs. */
async function realBench(expDir: string): Promise<boolean> {
  const missing = missingExperimentFiles(expDir);
  if (missing.length) {
    console.log(`no trained experiment at ${expDir} (missing ${missing.join(', ')}): synthetic bench instead`);
    return false;
  }
  const x = await experimentInputs(expDir, {
    system: args.includes('--system') ? arg('system', '') : undefined,
    split: arg('split', 'test'),
  });
  if (!x) {
    console.log(`no trained models in ${expDir} (train/models.json, distill/students.json): synthetic bench instead`);
    return false;
  }
  const quietLog = createLogger({ stream: { write: () => true } });
  const t0 = performance.now();
  const space = await buildSearch(
    join(expDir, 'align', 'lang'),
    join(expDir, 'align', 'model.json'),
    join(expDir, 'lm', 'lm.arpa'),
    resolveSearchOptions(),
    quietLog,
  );
  const buildSec = (performance.now() - t0) / 1000;
  const shift = x.frameShiftSec;
  const g = space.decoder.graph;
  console.log(
    `experiment ${expDir}, system ${x.system} (${x.numModels} model${x.numModels > 1 ? 's' : ''}), split ${x.split}: ${x.inputs.length} utterances, ${x.frames} frames (${(x.frames * shift).toFixed(1)} s)`,
  );
  console.log(
    `vocabulary ${space.searchWords.length} words (${space.numProns} pronunciations), ${space.numPdfs} senones; graph ${g.numStates} HMM states in ${g.numCopies} phone copies (${g.numTrieNodes} tree nodes); LM order ${space.slm.order}; built in ${buildSec.toFixed(2)} s`,
  );
  console.log(
    `LM weight ${x.weights.lmWeight}, penalty ${x.weights.wordInsertionPenalty} (${x.tuningFile ? `tuned on dev by the decode stage: ${x.tuningFile}` : 'not tuned: the decode stage has not run'}), max-active ${MAX_ACTIVE}`,
  );
  const acousticRtf = x.acousticSec / (x.frames * shift);
  console.log(
    `acoustic scores (${x.backend}; CMVN, splicing, forward pass): ${x.acousticSec.toFixed(2)} s, RTF ${acousticRtf.toFixed(4)} (not in the search-RTF below)`,
  );
  const pick = sweep(space.decoder, x.inputs, x.refs, { ...x.weights, frameShiftSec: shift });
  console.log(
    `end to end from features at beam ${pick.beam}: RTF ${(acousticRtf + pick.rtf).toFixed(4)} = acoustic forward pass ${acousticRtf.toFixed(4)} + search ${pick.rtf.toFixed(4)}`,
  );
  return true;
}

if (args.includes('--vocab')) {
  await vocabBench(args);
  process.exit(0);
}
if (args.includes('--tune')) {
  await tuneBench(args);
  process.exit(0);
}
if (!SYNTHETIC && (await realBench(EXP))) process.exit(0);

const rng = new Rng('bench-decode');
const am = toyModel(PHONES, 3);
const lex = toyLexicon(rng, { numWords: WORDS, numPhones: PHONES, minLen: 2, maxLen: 6, altFraction: 0.15 });
const text = randomText(rng, lex.words, 20 * WORDS, 12);
const t0 = performance.now();
const lm = new SearchLm(trainArpa(text, ORDER));
const dec = new Decoder(lex, am, lm);
const buildSec = (performance.now() - t0) / 1000;
const inputs: DecodeInput[] = [];
const refs: TrnUtterance[] = [];
for (let u = 0; u < UTTS; u++) {
  const words = text[rng.int(text.length)].words;
  const uttId = `spk${u % 4}_utt${u}`;
  inputs.push({ uttId, scores: synthesize(rng, words, lex, am, { noise: NOISE, peak: PEAK, maxDur: 4 }).scores });
  refs.push({ uttId, words, line: 0 });
}
const frames = inputs.reduce((a, i) => a + (i.scores as { numFrames: number }).numFrames, 0);
console.log(
  `vocabulary ${WORDS} words (${lex.prons.length} pronunciations), ${PHONES} phones, ${am.numPdfs} senones; ` +
    `graph ${dec.graph.numStates} HMM states in ${dec.graph.numCopies} phone copies (${dec.graph.numTrieNodes} tree nodes); ` +
    `LM order ${ORDER}; LM + graph built in ${buildSec.toFixed(2)} s`,
);
console.log(
  `${UTTS} utterances, ${frames} frames (${(frames / 100).toFixed(1)} s at 10 ms), noise ${NOISE}, peak ${PEAK}, max-active ${MAX_ACTIVE}; synthetic scores, no acoustic model: the RTF is the search's only`,
);
sweep(dec, inputs, refs);
