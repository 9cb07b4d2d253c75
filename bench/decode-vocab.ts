/**
 * npm run bench:decode -- --vocab 200000 [--json] [--exp exp/demo] [--system student] [--split test]
 *   [--beams 6,7,8,10,12,14,16] [--max-active 7000] [--stride 1] [--lm-tokens 1600000] [--seed 1]
 *   [--lookahead-order 2] [--lm-weight W --penalty P]
 *
 * The large-vocabulary decoding benchmark (issue 34 item 4): the experiment's acoustic model
 * (system, align stage's tree) decodes its test split with a `--vocab`-word lexicon and a 3-gram of
 * >= 2M n-grams (bench/large-vocab.ts: generated once, cached under tmp/bench-decode/). The setup
 * is generated in this process and then the bench reruns itself, so that the peak resident set
 * it reports is the decoder's, not the generator's.
 *
 * Per beam (ascending, one process): `rtf` = CPU seconds of the process (user + system, all
 * threads) while decoding / audio seconds, i.e. real-time factor per core of the search; the
 * acoustic forward pass is computed once before and reported apart (`acousticRtf`). `peakRssMiB`
 * is the process's peak resident set so far (it includes every narrower beam before). `wer` is a
 * fraction. With --json one JSON line per beam on stdout, everything else on stderr.
 * `--stride k` decodes every k-th utterance of the split only (a quicker, noisier WER).
 *
 * The last line checks issue 34's acceptance: a beam b with 2b measured whose WER is within 0.005
 * of 2b's, at RTF (search + acoustic) <= 0.3 per core and peak RSS <= 3 GiB.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSearch, resolveSearchOptions } from '../src/decode/search-space.ts';
import { decodeSet } from '../src/decode/tune.ts';
import { scoreTranscripts } from '../src/score/wer.ts';
import { createLogger } from '../src/util/log.ts';
import { experimentInputs, missingExperimentFiles, type ExperimentInputs } from './decode-inputs.ts';
import { largeVocabSetup, setupExists, type LargeVocabOptions } from './large-vocab.ts';
import type { Decoder } from '../src/decode/decoder.ts';

export interface VocabRow {
  vocab: number;
  ngrams: number;
  beam: number;
  rtf: number;
  peakRssMiB: number;
  wer: number;
  activePerFrame: number;
  maxActivePerFrame: number;
  wallRtf: number;
  acousticRtf: number;
  errors: number;
  refWords: number;
  utterances: number;
  audioSec: number;
}

const MiB = 2 ** 20;
const peakRssMiB = (): number => Math.round((process.resourceUsage().maxRSS * 1024) / MiB);
const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** One beam over every input: CPU and wall time, active tokens, WER. */
function decodeAtBeam(
  dec: Decoder,
  x: ExperimentInputs,
  o: { beam: number; maxActive: number; lmWeight: number; wordInsertionPenalty: number; lookaheadOrder: number },
): Omit<VocabRow, 'vocab' | 'ngrams' | 'acousticRtf'> {
  const cpu0 = process.cpuUsage();
  const r = decodeSet(dec, x.inputs, { ...o, frameShiftSec: x.frameShiftSec });
  const cpu = process.cpuUsage(cpu0);
  const s = scoreTranscripts(x.refs, r.hyps);
  const audioSec = x.frames * x.frameShiftSec;
  return {
    beam: o.beam,
    rtf: r4((cpu.user + cpu.system) / 1e6 / audioSec),
    peakRssMiB: peakRssMiB(),
    wer: r4(s.wer / 100),
    activePerFrame: Math.round(r.stats.meanActive),
    maxActivePerFrame: r.stats.maxActive,
    wallRtf: r4(r.stats.realTimeFactor),
    errors: s.errors,
    refWords: s.refWords,
    utterances: x.inputs.length,
    audioSec: Math.round(audioSec * 10) / 10,
  };
}

/** Issue 34's acceptance over the rows: the fastest passing beam, or why none passes. */
export function vocabAcceptance(rows: readonly VocabRow[]): string {
  const byBeam = new Map(rows.map((r) => [r.beam, r]));
  const checked = rows
    .filter((r) => byBeam.has(2 * r.beam))
    .map((r) => {
      const wide = byBeam.get(2 * r.beam)!;
      const why: string[] = [];
      if (r.wer - wide.wer > 0.005) why.push(`WER ${r.wer} vs ${wide.wer} at beam ${wide.beam}`);
      if (r.rtf + r.acousticRtf > 0.3) why.push(`RTF ${r4(r.rtf + r.acousticRtf)} > 0.3`);
      if (r.peakRssMiB > 3072) why.push(`peak RSS ${r.peakRssMiB} MiB > 3 GiB`);
      return { r, why };
    });
  if (checked.length === 0) return 'acceptance: not checked (no beam b with 2b also measured)';
  const ok = checked.filter((c) => c.why.length === 0).sort((a, b) => a.r.rtf - b.r.rtf);
  if (ok.length)
    return `acceptance: PASS at beam ${ok[0].r.beam}: RTF ${r4(ok[0].r.rtf + ok[0].r.acousticRtf)} per core (search ${ok[0].r.rtf} + acoustic ${ok[0].r.acousticRtf}), WER ${ok[0].r.wer} vs ${byBeam.get(2 * ok[0].r.beam)!.wer} at beam ${2 * ok[0].r.beam}, peak RSS ${ok[0].r.peakRssMiB} MiB`;
  return `acceptance: FAIL: ${checked.map((c) => `beam ${c.r.beam}: ${c.why.join(', ')}`).join('; ')}`;
}

/** The bench (see the module comment); `args` are the command line's. */
export async function vocabBench(args: readonly string[]): Promise<void> {
  const arg = (name: string, def: string): string =>
    args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : def;
  const json = args.includes('--json');
  const say = (s: string): void => void (json ? process.stderr : process.stdout).write(s + '\n');
  const logger = createLogger({ stream: process.stderr });
  const expDir = arg('exp', 'exp/demo');
  const missing = missingExperimentFiles(expDir);
  if (missing.length)
    throw new Error(
      `bench:decode --vocab needs a trained experiment at ${expDir} (missing ${missing.join(', ')}; run npm run demo)`,
    );
  const so: LargeVocabOptions = {
    expDir,
    vocab: Number(arg('vocab', '200000')),
    tokens: Number(arg('lm-tokens', '1600000')),
    split: arg('split', 'test'),
    seed: Number(arg('seed', '1')),
  };
  if (!(await setupExists(so))) {
    await largeVocabSetup(so, logger);
    say("bench: setup generated; decoding in a fresh process so that the peak RSS is the decoder's");
    const child = spawnSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(new URL('../bin/run-ts.js', import.meta.url)), ...process.argv.slice(1)],
      { stdio: 'inherit' },
    );
    process.exit(child.status ?? 1);
  }
  const setup = await largeVocabSetup(so, logger);
  const ngrams = setup.ngrams.reduce((a, b) => a + b, 0);
  const t0 = performance.now();
  const space = await buildSearch(
    join(expDir, 'align', 'lang'),
    join(expDir, 'align', 'model.json'),
    setup.lm,
    resolveSearchOptions(),
    logger,
    true,
    { lexicon: setup.lexicon },
  );
  const g = space.decoder.graph;
  say(
    `vocabulary ${space.searchWords.length} words of ${setup.vocab} (${space.numProns} pronunciations), LM ${setup.ngrams.join(' + ')} = ${ngrams} n-grams; graph ${g.numStates} HMM states, ${g.numCopies} phone copies, ${g.numTrieNodes} tree nodes; built in ${((performance.now() - t0) / 1000).toFixed(1)} s, peak RSS ${peakRssMiB()} MiB`,
  );
  const x = await experimentInputs(expDir, {
    system: args.includes('--system') ? arg('system', '') : undefined,
    split: so.split,
    stride: Number(arg('stride', '1')),
  });
  if (!x) throw new Error(`no trained models in ${expDir}`);
  const weights = {
    lmWeight: Number(arg('lm-weight', String(x.weights.lmWeight))),
    wordInsertionPenalty: Number(arg('penalty', String(x.weights.wordInsertionPenalty))),
  };
  const acousticRtf = r4(x.acousticCpuSec / (x.frames * x.frameShiftSec));
  say(
    `${x.system} on ${x.split}: ${x.inputs.length} utterances, ${(x.frames * x.frameShiftSec).toFixed(1)} s; acoustic pass (${x.backend}) ${acousticRtf} CPU seconds per audio second; LM weight ${weights.lmWeight}, penalty ${weights.wordInsertionPenalty}`,
  );
  const beams = arg('beams', '6,7,8,10,12,14,16')
    .split(',')
    .map(Number)
    .sort((a, b) => a - b);
  const maxActive = Number(arg('max-active', '7000'));
  const lookaheadOrder = Number(arg('lookahead-order', '2'));
  decodeSet(space.decoder, x.inputs.slice(0, 3), {
    ...weights,
    beam: beams[0],
    maxActive,
    lookaheadOrder,
    frameShiftSec: x.frameShiftSec,
  }); // JIT warm-up
  const rows: VocabRow[] = [];
  if (!json) say('beam   WER     rtf/core  wall-rtf  active/frame  max-active  peak-RSS-MiB');
  for (const beam of beams) {
    const row: VocabRow = {
      vocab: space.searchWords.length,
      ngrams,
      ...decodeAtBeam(space.decoder, x, { beam, maxActive, lookaheadOrder, ...weights }),
      acousticRtf,
    };
    rows.push(row);
    if (json) console.log(JSON.stringify(row));
    else
      say(
        `${String(beam).padStart(4)} ${row.wer.toFixed(4).padStart(7)} ${row.rtf.toFixed(4).padStart(9)} ${row.wallRtf.toFixed(4).padStart(9)} ${String(row.activePerFrame).padStart(13)} ${String(row.maxActivePerFrame).padStart(11)} ${String(row.peakRssMiB).padStart(13)}`,
      );
  }
  say(vocabAcceptance(rows));
}
