/**
 * `am-distill align --data D --features F --out O [--num-leaves N] ...`: the align stage as a
 * command (lang, flat-start monophones, triphone tree, forced alignment of every split), and
 * `am-distill score-alignment --alignments O/test.arrow --data D --split test`: word-boundary
 * accuracy against the reference word timings of the supervisions.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { alignCorpus, type AlignCorpusOptions } from '../../align/corpus.ts';
import { scoreAlignmentFile } from '../../align/score.ts';
import { ConfigError } from '../../util/errors.ts';
import { pct } from '../../report/format.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function int(flag: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`bad ${flag}`, { file: `${flag} ${v}`, expected: `an integer >= ${min}`, found: v });
  return n;
}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new ConfigError(`bad ${flag}`, { file: `${flag} ${v}`, expected: 'a number', found: v });
  return n;
}

interface AlignFlags {
  data: string; features: string; out: string; split: string[]; trainSplit: string[]; extraTrain: string[]; model?: string;
  numLeaves?: string; monoIters?: string; monoGaussians?: string; triIters?: string; triGaussians?: string; minLeafOccupancy?: string;
  questions?: string; beam?: string; retryBeam?: string; silProb?: string; lexicon?: string; seed?: string; vtlpCopies?: string;
  referenceTimings?: string; referenceCollarMs?: string;
}

export function register(program: Command): void {
  program
    .command('align')
    .description('train a GMM-HMM (flat-start monophones -> triphone tree) and force-align every split: <out>/<split>.arrow + senones.json + model.json')
    .requiredOption('--data <dataDir>', 'prepared data dir (corpus.json + <split>/*.jsonl)')
    .requiredOption('--features <dir>', 'features of the data dir (<split>.arrow with mfcc + <split>.cmvn.json)')
    .requiredOption('--out <dir>', 'output directory (replaced atomically)')
    .option('--split <name>', 'split to align (repeatable; default: all)', collect, [] as string[])
    .option('--train-split <name>', 'split to train on (repeatable; default: train)', collect, [] as string[])
    .option('--extra-train <dataDir:featuresDir>', 'another prepared corpus to train on too, its train split (repeatable)', collect, [] as string[])
    .option('--model <alignDir>', 'align with the model of a previous align output instead of training')
    .option('--num-leaves <n>', 'senones (leaves of the triphone tree), default 200')
    .option('--mono-iters <n>', 'monophone iterations, default 40')
    .option('--mono-gaussians <n>', 'monophone Gaussians in total, default 1000')
    .option('--tri-iters <n>', 'triphone iterations, default 35')
    .option('--tri-gaussians <n>', 'triphone Gaussians in total, default 5 x num-leaves')
    .option('--min-leaf-occupancy <n>', 'frames on both sides of a tree split, default 50')
    .option('--questions <kind>', "tree questions: 'cluster' (default) or 'arpabet'")
    .option('--beam <b>', 'alignment beam, default 10')
    .option('--retry-beam <b>', 'retry beam, default 40')
    .option('--sil-prob <p>', 'optional silence probability, default 0.5')
    .option('--lexicon <file>', 'corpus lexicon (Kaldi lexicon.txt) before CMUdict')
    .option('--seed <n>', 'seed, default 0')
    .option('--vtlp-copies <mode>', "VTLP copies in the features: 'inherit' their source's alignment (default) or 'realign' (train and align on them)")
    .option('--reference-timings <mode>', "supervisions' reference word timings: 'ignore' (default) or 'constrain' each word to its span")
    .option('--reference-collar-ms <ms>', 'widening of each reference word span on both sides, default 20')
    .action(async (f: AlignFlags) => {
      const extraTrain = f.extraTrain.map((x) => {
        const i = x.lastIndexOf(':');
        if (i <= 0 || i === x.length - 1) throw new ConfigError('bad --extra-train', { file: `--extra-train ${x}`, expected: '<dataDir>:<featuresDir>', found: x });
        return { dataDir: resolve(x.slice(0, i)), featuresDir: resolve(x.slice(i + 1)) };
      });
      if (f.questions !== undefined && f.questions !== 'cluster' && f.questions !== 'arpabet') {
        throw new ConfigError('bad --questions', { file: `--questions ${f.questions}`, expected: "'cluster' or 'arpabet'", found: f.questions });
      }
      if (f.vtlpCopies !== undefined && f.vtlpCopies !== 'inherit' && f.vtlpCopies !== 'realign') {
        throw new ConfigError('bad --vtlp-copies', { file: `--vtlp-copies ${f.vtlpCopies}`, expected: "'inherit' or 'realign'", found: f.vtlpCopies });
      }
      if (f.referenceTimings !== undefined && f.referenceTimings !== 'ignore' && f.referenceTimings !== 'constrain') {
        throw new ConfigError('bad --reference-timings', { file: `--reference-timings ${f.referenceTimings}`, expected: "'ignore' or 'constrain'", found: f.referenceTimings });
      }
      const opts: AlignCorpusOptions = {
        dataDir: resolve(f.data), featuresDir: resolve(f.features), outDir: resolve(f.out),
        splits: f.split.length ? f.split : undefined,
        trainSplits: f.trainSplit.length ? f.trainSplit : undefined,
        extraTrain: extraTrain.length ? extraTrain : undefined,
        modelDir: f.model !== undefined ? resolve(f.model) : undefined,
        numLeaves: int('--num-leaves', f.numLeaves), monoIters: int('--mono-iters', f.monoIters), monoGaussians: int('--mono-gaussians', f.monoGaussians),
        triIters: int('--tri-iters', f.triIters), triGaussians: int('--tri-gaussians', f.triGaussians),
        minLeafOccupancy: int('--min-leaf-occupancy', f.minLeafOccupancy, 0), questions: f.questions as 'cluster' | 'arpabet' | undefined,
        beam: num('--beam', f.beam), retryBeam: num('--retry-beam', f.retryBeam), optionalSilenceProb: num('--sil-prob', f.silProb),
        corpusLexiconPath: f.lexicon !== undefined ? resolve(f.lexicon) : undefined, seed: int('--seed', f.seed, 0),
        vtlpCopies: f.vtlpCopies as 'inherit' | 'realign' | undefined,
        referenceTimings: f.referenceTimings as 'ignore' | 'constrain' | undefined, referenceCollarMs: num('--reference-collar-ms', f.referenceCollarMs),
      };
      const r = await alignCorpus(opts);
      const s = r.summary;
      for (const [split, x] of Object.entries(s.splits)) {
        const rt = x.referenceTimings;
        const spans = rt ? `; within reference word spans ${rt.kept}, without (no path) ${rt.dropped}, no timings ${rt.noReference}` : '';
        process.stdout.write(`${split}: ${x.message}, ${x.frames} frames, ${r.timing.splits[split].framesPerSec.toFixed(0)} frames/s${spans} -> ${resolve(f.out, `${split}.arrow`)}\n`);
      }
      const fps = s.framesPerSenone;
      process.stdout.write(`${s.numSenones} senones, ${s.numGaussians} Gaussians; frames per senone (${fps.splits.join(', ')}): min ${fps.min}, median ${fps.median}, max ${fps.max}, unseen ${fps.unseen}\n`);
    });

  program
    .command('score-alignment')
    .description('word-boundary accuracy of an alignment file against reference word timings (supervision alignment.word)')
    .requiredOption('--alignments <file>', 'an alignment file written by align (<alignDir>/<split>.arrow)')
    .requiredOption('--data <dataDir>', 'the prepared data dir with reference word timings')
    .requiredOption('--split <name>', 'the split the alignment file belongs to')
    .option('--tolerance-ms <ms>', 'tolerance (repeatable; default 20 and 50)', collect, [] as string[])
    .option('--frame-offset-ms <ms>', 'boundary offset added to t x shift (default (length - shift) / 2)')
    .option('--json', 'print the score as JSON')
    .action(async (f: { alignments: string; data: string; split: string; toleranceMs: string[]; frameOffsetMs?: string; json?: boolean }) => {
      const tolerancesSec = f.toleranceMs.length ? f.toleranceMs.map((t) => num('--tolerance-ms', t)! / 1000) : undefined;
      const off = num('--frame-offset-ms', f.frameOffsetMs);
      const score = await scoreAlignmentFile(resolve(f.alignments), resolve(f.data), f.split, { tolerancesSec, frameOffsetSec: off === undefined ? undefined : off / 1000 });
      if (f.json) { process.stdout.write(JSON.stringify(score, null, 2) + '\n'); return; }
      process.stdout.write(`${score.utterances} utterances, ${score.words} words, ${score.boundaries} boundaries\n`);
      for (const w of score.within) process.stdout.write(`within ${(w.toleranceSec * 1000).toFixed(0)} ms: ${w.percent.toFixed(1)}% (${w.count})\n`);
      process.stdout.write(`mean abs error ${(score.meanAbsErrorSec * 1000).toFixed(1)} ms, median ${(score.medianAbsErrorSec * 1000).toFixed(1)} ms, p90 ${(score.p90AbsErrorSec * 1000).toFixed(1)} ms\n`);
      const ps = score.pauses;
      process.stdout.write(`reference pauses: ${ps.pauseFrames} frames, ${pct(ps.pauseShareInWords)} aligned to words${ps.byPhone.length ? ` (${ps.byPhone.slice(0, 5).map((p) => `${p.phone} ${pct(p.shareOfPauses)}, ${pct(p.shareOfPhone)} of its frames`).join('; ')})` : ''}\n`);
      process.stdout.write(`reference words: ${ps.wordFrames} frames, ${pct(ps.wordShareAsSilence)} aligned to silence\n`);
      if (score.skipped.skipped) process.stdout.write(`skipped ${score.skipped.skipped}: ${score.skipped.reasons.map((r) => `${r.count} x ${r.reason}`).join(', ')}\n`);
    });
}
