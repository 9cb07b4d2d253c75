/**
 * `am-distill score --ref R.trn --hyp H.trn [--mode sclite|kaldi] [--json] [--pralign F] [--dtl F] [--vocab F]`
 * Prints %WER with S/D/I counts (or the JSON summary), and the per-speaker table.
 */
import { Command, Option } from 'commander';
import { readTrn } from '../../score/trn.ts';
import { scoreTranscripts, werSummaryJson } from '../../score/wer.ts';
import { formatPralign, formatSummaryTable, formatWerLine } from '../../score/report.ts';
import { errorLists, formatErrorLists } from '../../score/errors.ts';
import type { ScoringMode } from '../../score/align.ts';
import { readInputText, writeFileAtomic } from '../../util/fs.ts';

export function register(program: Command): void {
  program.command('score')
    .description('word error rate of hypotheses against references (sclite trn files)')
    .requiredOption('--ref <file>', 'reference trn')
    .requiredOption('--hyp <file>', 'hypothesis trn')
    .addOption(new Option('--mode <mode>', 'alignment convention').choices(['sclite', 'kaldi']).default('sclite'))
    .option('--json', 'print {"wer" (percent), "errors", "refWords", "sub", "del", "ins", "sentences", "sentenceErrors", ...}', false)
    .option('--missing-hyp-as-empty', 'score a reference without hypothesis as an empty hypothesis instead of failing', false)
    .option('--pralign <file>', 'also write the sclite-style alignment dump to this file')
    .option('--dtl <file>', "also write sclite's error lists (-o dtl: confusion pairs, insertions, deletions, substitutions, falsely recognized) to this file")
    .option('--vocab <file>', 'recogniser vocabulary (one word per line, first column): count reference OOVs')
    .action(async (o: { ref: string; hyp: string; mode: ScoringMode; json: boolean; missingHypAsEmpty: boolean; pralign?: string; dtl?: string; vocab?: string }) => {
      const vocabulary = o.vocab
        ? new Set(readInputText(o.vocab, 'a vocabulary file, one word per line').split(/\r?\n/).map((l) => l.trim().split(/\s+/)[0]).filter((w) => w))
        : undefined;
      const r = scoreTranscripts(readTrn(o.ref), readTrn(o.hyp), {
        mode: o.mode, refFile: o.ref, hypFile: o.hyp, missingHyp: o.missingHypAsEmpty ? 'empty' : 'error', vocabulary,
      });
      if (o.pralign) await writeFileAtomic(o.pralign, formatPralign(r, o.hyp));
      if (o.dtl) await writeFileAtomic(o.dtl, formatErrorLists(errorLists(r.utterances, o.mode === 'kaldi')));
      if (o.json) {
        process.stdout.write(JSON.stringify(werSummaryJson(r)) + '\n');
        return;
      }
      process.stdout.write(formatWerLine(r));
      if (r.emptyHyps) process.stdout.write(`empty hypotheses: ${r.emptyHyps}\n`);
      if (r.missingHyps.length) process.stdout.write(`references without hypothesis (scored empty): ${r.missingHyps.length}\n`);
      if (vocabulary) process.stdout.write(`reference OOV tokens: ${r.refOovs} (${r.refOovWords.length} distinct)\n`);
      process.stdout.write('\n' + formatSummaryTable(r, o.hyp));
    });
}
