/**
 * `am-distill score --decode DIR --out DIR [--mode sclite|kaldi] [--replicates N] [--compare A,B] ...`:
 *   the score stage as a command (scoreDecodeDir, src/stages/score.ts): every system and split of a
 *   decode output directory, per-speaker tables, error lists, paired-bootstrap comparisons, score.json;
 *   flags from the stage's schema.
 * `am-distill score --ref R.trn --hyp H.trn [--mode sclite|kaldi] [--json] [--pralign F] [--dtl F] [--vocab F]`:
 *   one pair of trn files: %WER with S/D/I counts (or the JSON summary), and the per-speaker table.
 */
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { readTrn } from '../../score/trn.ts';
import { scoreTranscripts, werSummaryJson } from '../../score/wer.ts';
import { formatPralign, formatSummaryTable, formatWerLine } from '../../score/report.ts';
import { errorLists, formatErrorLists } from '../../score/errors.ts';
import type { ScoringMode } from '../../score/align.ts';
import type { ScoreSummary } from '../../formats/score.ts';
import { SCORE_SCHEMA, scoreDecodeDir, type ScoreStageOptions } from '../../stages/score.ts';
import { ConfigError } from '../../util/errors.ts';
import { readInputText, withAtomicOutput, writeFileAtomic } from '../../util/fs.ts';
import { addStageFlags, integerArg, requireWith, runWithStageOptions, type StageFlags } from './flags.ts';

export const SCORE_FLAGS: StageFlags = {
  stage: 'score',
  schema: SCORE_SCHEMA,
  keys: {
    mode: { value: '<mode>' },
    bootstrapReplicates: { flag: '--replicates', doc: 'paired bootstrap replicates (--decode)' },
    confidence: { doc: 'confidence level of the bootstrap intervals (--decode)' },
    worstUtterances: { flag: '--worst', doc: 'worst utterances listed per system and split (--decode)' },
    comparisons: {
      flag: '--compare',
      value: '<A,B>',
      repeatable: true,
      parse: (t, prev) => [...((prev as string[][] | undefined) ?? []), t.split(',')],
      doc: 'system pair compared by paired bootstrap (A - B; --decode)',
      defaultText: 'student,baseline ensemble,baseline student,ensemble',
    },
  },
};

/** The flags of one pair of trn files, and those of a decode directory. */
const PAIR_ONLY = ['--json', '--missing-hyp-as-empty', '--pralign', '--dtl', '--vocab'];
const DECODE_ONLY = ['--replicates', '--confidence', '--worst', '--compare', '--seed', '--out'];

interface ScoreFlags {
  ref?: string;
  hyp?: string;
  decode?: string;
  out?: string;
  seed?: number;
  json?: boolean;
  missingHypAsEmpty?: boolean;
  pralign?: string;
  dtl?: string;
  vocab?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('score')
    .description(
      'word error rate: every system and split of a decode directory (--decode, the score stage), or hypotheses against references (--ref, --hyp: sclite trn files)',
    )
    .option('--decode <dir>', 'decode output directory (decode.json, refs/, <system>/<split>.trn): the score stage')
    .option(
      '--out <dir>',
      'output directory of --decode (score.json, <system>/<split>.{sys,pralign,wer,dtl}; replaced atomically)',
    )
    .option('--seed <n>', 'seed of the bootstrap (--decode; default: 0)', integerArg('--seed'))
    .option('--ref <file>', 'reference trn')
    .option('--hyp <file>', 'hypothesis trn')
    .option(
      '--json',
      'print {"wer" (percent), "errors", "refWords", "sub", "del", "ins", "sentences", "sentenceErrors", ...}',
    )
    .option('--missing-hyp-as-empty', 'score a reference without hypothesis as an empty hypothesis instead of failing')
    .option('--pralign <file>', 'also write the sclite-style alignment dump to this file')
    .option(
      '--dtl <file>',
      "also write sclite's error lists (-o dtl: confusion pairs, insertions, deletions, substitutions, falsely recognized) to this file",
    )
    .option('--vocab <file>', 'recogniser vocabulary (one word per line, first column): count reference OOVs');
  addStageFlags(cmd, SCORE_FLAGS).action(async (f: ScoreFlags) => {
    if (f.decode !== undefined) {
      if (f.ref !== undefined || f.hyp !== undefined)
        throw new ConfigError('--decode with --ref/--hyp', {
          file: `--decode ${f.decode}`,
          expected: 'either a decode directory or one pair of trn files',
          found: 'both',
        });
      requireWith(cmd, PAIR_ONLY, '--ref and --hyp instead of --decode');
      if (f.out === undefined)
        throw new ConfigError('--decode needs --out', {
          file: `--decode ${f.decode}`,
          expected: '--out <dir> as well',
          found: 'no --out',
        });
      const out = resolve(f.out);
      const decodeDir = resolve(f.decode);
      const s = await withAtomicOutput(out, async (tmp) => {
        await fsp.mkdir(tmp, { recursive: true });
        return runWithStageOptions(cmd, (options) => {
          const o = options as unknown as ScoreStageOptions;
          return scoreDecodeDir({
            ...o,
            comparisons: o.comparisons.map((p) => [p[0], p[1]] as const),
            decodeDir,
            outDir: tmp,
            seed: f.seed ?? 0,
          });
        });
      });
      printScore(s, out);
      return;
    }
    if (f.ref === undefined || f.hyp === undefined)
      throw new ConfigError('nothing to score', {
        file: 'score',
        expected: '--ref R.trn and --hyp H.trn, or --decode DIR',
        found: f.ref ? 'no --hyp' : f.hyp ? 'no --ref' : 'neither',
      });
    requireWith(cmd, DECODE_ONLY, '--decode');
    await runWithStageOptions(cmd, (o) =>
      scorePair(f as ScoreFlags & { ref: string; hyp: string }, o.mode as ScoringMode),
    );
  });
}

function printScore(s: ScoreSummary, out: string): void {
  for (const r of s.results) {
    process.stdout.write(
      `${r.system} ${r.split}: %WER ${r.wer.toFixed(2)} [ ${r.errors} / ${r.refWords}, ${r.ins} ins, ${r.del} del, ${r.sub} sub ]${r.tunedOnThisSplit ? ' (weights tuned on this split)' : ''}\n`,
    );
  }
  for (const c of s.comparisons) {
    process.stdout.write(
      `${c.split}: ${c.a} - ${c.b} = ${c.deltaWer.toFixed(2)} [${c.ciLow.toFixed(2)}, ${c.ciHigh.toFixed(2)}]${c.significant ? ' (significant)' : ''}\n`,
    );
  }
  process.stdout.write(`-> ${join(out, 'score.json')}\n`);
}

async function scorePair(o: ScoreFlags & { ref: string; hyp: string }, mode: ScoringMode): Promise<void> {
  const vocabulary = o.vocab
    ? new Set(
        readInputText(o.vocab, 'a vocabulary file, one word per line')
          .split(/\r?\n/)
          .map((l) => l.trim().split(/\s+/)[0])
          .filter((w) => w),
      )
    : undefined;
  const r = scoreTranscripts(readTrn(o.ref), readTrn(o.hyp), {
    mode,
    refFile: o.ref,
    hypFile: o.hyp,
    missingHyp: o.missingHypAsEmpty ? 'empty' : 'error',
    vocabulary,
  });
  if (o.pralign) await writeFileAtomic(o.pralign, formatPralign(r, o.hyp));
  if (o.dtl) await writeFileAtomic(o.dtl, formatErrorLists(errorLists(r.utterances, mode === 'kaldi')));
  if (o.json) {
    process.stdout.write(JSON.stringify(werSummaryJson(r)) + '\n');
    return;
  }
  process.stdout.write(formatWerLine(r));
  if (r.emptyHyps) process.stdout.write(`empty hypotheses: ${r.emptyHyps}\n`);
  if (r.missingHyps.length)
    process.stdout.write(`references without hypothesis (scored empty): ${r.missingHyps.length}\n`);
  if (vocabulary) process.stdout.write(`reference OOV tokens: ${r.refOovs} (${r.refOovWords.length} distinct)\n`);
  process.stdout.write('\n' + formatSummaryTable(r, o.hyp));
}
