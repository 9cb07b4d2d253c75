/**
 * npm run bench:decode [-- --words 500 --phones 40 --utts 40 --order 3 --noise 1.8 --peak 2.4 --beams 6,8,10,12,14,16,20]
 *
 * WER and speed of the decoder against the beam, on one core, on a synthetic problem: a random
 * lexicon (2-6 phones per word, some variants) over a context-dependent toy phone model (first and
 * last HMM states depend on the neighbour's class, across word boundaries), a Kneser-Ney LM trained
 * on random text over the vocabulary, and noisy posteriors generated from sentences of that text
 * (test/decode/helpers.ts). Prints per beam: %WER (sclite convention), frames/s, real-time factor
 * at 10 ms frames, mean and largest number of active tokens, and which beam is the fastest within
 * 0.2% absolute WER of the widest.
 */
import { Rng } from '../src/util/rng.ts';
import { Decoder } from '../src/decode/decoder.ts';
import { SearchLm } from '../src/decode/search-lm.ts';
import { decodeSet, type DecodeInput } from '../src/decode/tune.ts';
import { scoreTranscripts } from '../src/score/wer.ts';
import type { TrnUtterance } from '../src/score/trn.ts';
import { randomText, synthesize, toyLexicon, toyModel, trainArpa } from '../test/decode/helpers.ts';

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
const BEAMS = arg('beams', '6,8,10,12,14,16,20').split(',').map(Number);
const MAX_ACTIVE = Number(arg('max-active', '7000'));

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
console.log(`vocabulary ${WORDS} words (${lex.prons.length} pronunciations), ${PHONES} phones, ${am.numPdfs} senones; ` +
  `graph ${dec.graph.numStates} HMM states in ${dec.graph.numCopies} phone copies (${dec.graph.numTrieNodes} tree nodes); ` +
  `LM order ${ORDER}; LM + graph built in ${buildSec.toFixed(2)} s`);
console.log(`${UTTS} utterances, ${frames} frames (${(frames / 100).toFixed(1)} s at 10 ms), noise ${NOISE}, peak ${PEAK}, max-active ${MAX_ACTIVE}`);
// Warm-up (JIT, LM caches) on a few utterances.
decodeSet(dec, inputs.slice(0, 5), { beam: BEAMS[BEAMS.length - 1], maxActive: MAX_ACTIVE });
const rows: { beam: number; wer: number; fps: number; rtf: number; meanActive: number; maxActive: number }[] = [];
console.log('beam   %WER    frames/s      RTF   mean-active  max-active');
for (const beam of BEAMS) {
  const r = decodeSet(dec, inputs, { beam, maxActive: MAX_ACTIVE });
  const s = scoreTranscripts(refs, r.hyps);
  const row = { beam, wer: s.wer, fps: r.stats.framesPerSec, rtf: r.stats.realTimeFactor, meanActive: r.stats.meanActive, maxActive: r.stats.maxActive };
  rows.push(row);
  console.log(`${String(beam).padStart(4)} ${s.wer.toFixed(2).padStart(7)} ${row.fps.toFixed(0).padStart(11)} ${row.rtf.toFixed(4).padStart(8)} ${row.meanActive.toFixed(0).padStart(13)} ${String(row.maxActive).padStart(11)}`);
}
const wide = rows[rows.length - 1];
const ok = rows.filter((r) => r.wer <= wide.wer + 0.2);
const pick = ok.reduce((a, r) => (r.rtf < a.rtf ? r : a), ok[0]);
console.log(`fastest beam within 0.2% absolute WER of beam ${wide.beam}: beam ${pick.beam}, %WER ${pick.wer.toFixed(2)}, RTF ${pick.rtf.toFixed(4)} (goal <= 0.05), ${pick.fps.toFixed(0)} frames/s`);
