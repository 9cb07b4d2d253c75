/**
 * `am-distill export ...`: what the pipeline made, in other tools' formats.
 *   export kaldi <expDir> --out DIR [--split S ...] [--dense-targets]
 *       features (raw fbank / MFCC) as ark + feats.scp, per-speaker CMVN stats as cmvn.scp, Kaldi
 *       data dirs, alignments as ali-to-pdf-style pdf ids (+ phone ids, phones.txt, pdf map) and
 *       soft targets as posteriors (src/pipeline/export-kaldi.ts has the layout)
 *   export kaldi-data <dataDir> --out DIR [--split S ...]
 *       each split of a prepared data dir as a Kaldi data dir <out>/<split>/
 */
import { resolve, join } from 'node:path';
import type { Command } from 'commander';
import { exportKaldi, exportKaldiDataDirs } from '../../pipeline/export-kaldi.ts';
import { collect } from './flags.ts';

export function register(program: Command): void {
  const exp = program.command('export').description("write what the pipeline made in other tools' formats (Kaldi)");

  exp
    .command('kaldi')
    .description(
      'a finished experiment as Kaldi files: data dirs, feats.scp (raw, before CMVN) + cmvn.scp, ali-to-pdf alignments, posteriors',
    )
    .argument('<expDir>', 'experiment directory (prepare/, features/, and align/, targets/ when they ran)')
    .requiredOption('--out <dir>', 'output directory (replaced atomically; an existing one must be an earlier export)')
    .option('--split <name>', 'one split (repeatable; default: every split with features)', collect)
    .option('--dense-targets', 'also export the dense target set (k = all senones; large)')
    .action(async (expDir: string, opts: { out: string; split?: string[]; denseTargets?: boolean }) => {
      const out = resolve(opts.out);
      const s = await exportKaldi({
        expDir,
        outDir: out,
        splits: opts.split,
        denseTargets: opts.denseTargets === true,
      });
      for (const [split, x] of Object.entries(s.splits)) {
        const posts = Object.entries(x.posteriors)
          .map(([n, p]) => `${n} ${p.utterances}`)
          .join(', ');
        process.stdout.write(
          `${split}: ${x.utterances} utterances, ${x.frames} frames -> ${join(out, 'data', split)}` +
            `${x.alignments ? `; ${x.alignments.utterances} aligned` : ''}${posts ? `; posteriors ${posts}` : ''}\n`,
        );
      }
      process.stdout.write(
        `exported ${Object.keys(s.splits).length} split(s) -> ${out} (${join(out, 'export.json')})\n`,
      );
    });

  exp
    .command('kaldi-data')
    .description(
      'each split of a prepared data dir as a Kaldi data dir (wav.scp, text, utt2spk, spk2utt, utt2dur, reco2dur, segments)',
    )
    .argument('<dataDir>', 'prepared data dir (corpus.json + <split>/*.jsonl), e.g. exp/demo/prepare')
    .requiredOption('--out <dir>', 'output directory: <out>/<split>/ per split (each replaced atomically)')
    .option('--split <name>', 'one split (repeatable; default: all)', collect)
    .action(async (dataDir: string, opts: { out: string; split?: string[] }) => {
      const out = resolve(opts.out);
      const r = await exportKaldiDataDirs(resolve(dataDir), out, { splits: opts.split });
      for (const [split, x] of Object.entries(r))
        process.stdout.write(
          `${split}: ${x.utterances} utterances, ${x.recordings} recordings -> ${join(out, split)}\n`,
        );
    });
}
