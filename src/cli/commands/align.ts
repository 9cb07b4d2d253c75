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
import { ALIGN_SCHEMA, type AlignStageOptions } from '../../stages/align.ts';
import { ConfigError } from '../../util/errors.ts';
import { pct } from '../../report/format.ts';
import { addStageFlags, integerArg, numberArg, runWithStageOptions, type StageFlags } from './flags.ts';

export const ALIGN_FLAGS: StageFlags = {
  stage: 'align',
  schema: ALIGN_SCHEMA,
  keys: {
    splits: { flag: '--split', doc: 'split to align (default: all)' },
    trainSplits: { flag: '--train-split', doc: 'split to train on' },
    optionalSilenceProb: { flag: '--sil-prob', value: '<p>' },
    lexicon: { doc: "corpus lexicon (Kaldi lexicon.txt) whose entries replace CMUdict's" },
  },
};

/** `--extra-train dataDir:featuresDir`. */
function parseExtraTrain(
  text: string,
  previous: AlignCorpusOptions['extraTrain'],
): NonNullable<AlignCorpusOptions['extraTrain']> {
  const i = text.lastIndexOf(':');
  if (i <= 0 || i === text.length - 1)
    throw new ConfigError('bad --extra-train', {
      file: `--extra-train ${text}`,
      expected: '<dataDir>:<featuresDir>',
      found: text,
    });
  return [...(previous ?? []), { dataDir: resolve(text.slice(0, i)), featuresDir: resolve(text.slice(i + 1)) }];
}

interface AlignFlags {
  data: string;
  features: string;
  out: string;
  extraTrain?: AlignCorpusOptions['extraTrain'];
  model?: string;
  seed?: number;
}

export function register(program: Command): void {
  const align = program
    .command('align')
    .description(
      'train a GMM-HMM (flat-start monophones -> triphone tree) and force-align every split: <out>/<split>.arrow + senones.json + model.json',
    )
    .requiredOption('--data <dataDir>', 'prepared data dir (corpus.json + <split>/*.jsonl)')
    .requiredOption('--features <dir>', 'features of the data dir (<split>.arrow with mfcc + <split>.cmvn.json)')
    .requiredOption('--out <dir>', 'output directory (replaced atomically)')
    .option(
      '--extra-train <dataDir:featuresDir>',
      'another prepared corpus to train on too, its train split (repeatable)',
      parseExtraTrain,
    )
    .option('--model <alignDir>', 'align with the model of a previous align output instead of training')
    .option('--seed <n>', 'seed (default: 0)', integerArg('--seed', { min: 0 }));
  addStageFlags(align, ALIGN_FLAGS).action(async (f: AlignFlags) => {
    const r = await runWithStageOptions(align, (options) => {
      const { lexicon, ...o } = options as unknown as AlignStageOptions;
      return alignCorpus({
        ...o,
        corpusLexiconPath: lexicon ?? null,
        dataDir: resolve(f.data),
        featuresDir: resolve(f.features),
        outDir: resolve(f.out),
        extraTrain: f.extraTrain,
        modelDir: f.model !== undefined ? resolve(f.model) : undefined,
        seed: f.seed ?? 0,
      });
    });
    const s = r.summary;
    for (const [split, x] of Object.entries(s.splits)) {
      const rt = x.referenceTimings;
      const spans = rt
        ? `; within reference word spans ${rt.kept}, without (no path) ${rt.dropped}, no timings ${rt.noReference}`
        : '';
      process.stdout.write(
        `${split}: ${x.message}, ${x.frames} frames, ${r.timing.splits[split].framesPerSec.toFixed(0)} frames/s${spans} -> ${resolve(f.out, `${split}.arrow`)}\n`,
      );
    }
    const fps = s.framesPerSenone;
    process.stdout.write(
      `${s.numSenones} senones, ${s.numGaussians} Gaussians; frames per senone (${fps.splits.join(', ')}): min ${fps.min}, median ${fps.median}, max ${fps.max}, unseen ${fps.unseen}\n`,
    );
  });

  program
    .command('score-alignment')
    .description(
      'word-boundary accuracy of an alignment file against reference word timings (supervision alignment.word)',
    )
    .requiredOption('--alignments <file>', 'an alignment file written by align (<alignDir>/<split>.arrow)')
    .requiredOption('--data <dataDir>', 'the prepared data dir with reference word timings')
    .requiredOption('--split <name>', 'the split the alignment file belongs to')
    .option(
      '--tolerance-ms <ms>',
      'tolerance (repeatable; default: 20 and 50)',
      (t: string, prev: number[] | undefined) => [...(prev ?? []), numberArg('--tolerance-ms', { min: 0 })(t)],
    )
    .option(
      '--frame-offset-ms <ms>',
      'boundary offset added to t x shift (default: (length - shift) / 2)',
      numberArg('--frame-offset-ms'),
    )
    .option('--json', 'print the score as JSON')
    .action(
      async (f: {
        alignments: string;
        data: string;
        split: string;
        toleranceMs?: number[];
        frameOffsetMs?: number;
        json?: boolean;
      }) => {
        const tolerancesSec = f.toleranceMs?.map((t) => t / 1000);
        const off = f.frameOffsetMs;
        const score = await scoreAlignmentFile(resolve(f.alignments), resolve(f.data), f.split, {
          tolerancesSec,
          frameOffsetSec: off === undefined ? undefined : off / 1000,
        });
        if (f.json) {
          process.stdout.write(JSON.stringify(score, null, 2) + '\n');
          return;
        }
        process.stdout.write(`${score.utterances} utterances, ${score.words} words, ${score.boundaries} boundaries\n`);
        for (const w of score.within)
          process.stdout.write(
            `within ${(w.toleranceSec * 1000).toFixed(0)} ms: ${w.percent.toFixed(1)}% (${w.count})\n`,
          );
        process.stdout.write(
          `mean abs error ${(score.meanAbsErrorSec * 1000).toFixed(1)} ms, median ${(score.medianAbsErrorSec * 1000).toFixed(1)} ms, p90 ${(score.p90AbsErrorSec * 1000).toFixed(1)} ms\n`,
        );
        const ps = score.pauses;
        process.stdout.write(
          `reference pauses: ${ps.pauseFrames} frames, ${pct(ps.pauseShareInWords)} aligned to words${
            ps.byPhone.length
              ? ` (${ps.byPhone
                  .slice(0, 5)
                  .map((p) => `${p.phone} ${pct(p.shareOfPauses)}, ${pct(p.shareOfPhone)} of its frames`)
                  .join('; ')})`
              : ''
          }\n`,
        );
        process.stdout.write(
          `reference words: ${ps.wordFrames} frames, ${pct(ps.wordShareAsSilence)} aligned to silence\n`,
        );
        if (score.skipped.skipped)
          process.stdout.write(
            `skipped ${score.skipped.skipped}: ${score.skipped.reasons.map((r) => `${r.count} x ${r.reason}`).join(', ')}\n`,
          );
      },
    );
}
