/**
 * `am-distill decode --model DIR [--model DIR ...] --features F.arrow --lang DIR --lm lm.arpa --out DIR [--lexicon lexicon.txt]`
 *
 * Hybrid decoding of one split with one acoustic model, or with the ensemble of several (their
 * posteriors averaged per frame). The LM weight and insertion penalty are either fixed
 * (`--lm-weight`, `--penalty`) or tuned on another split (`--tune-features` with its references)
 * and then applied to the decoded split. `--oracle-grid` scores every grid point on the decoded
 * split itself (an analysis of how much the weights matter, never a way to choose them: the split
 * is then both tuning and test set; it is recorded as the tuning split `<split>.oracle`). Writes `<out>/<name>/<split>.trn` (+ .ctm, .utts.jsonl),
 * refs/, words.txt, decode.json, timing.json (see src/decode-stage/decode.ts).
 */
import { basename, dirname, join, resolve } from 'node:path';
import { promises as fsp } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError } from '../../util/errors.ts';
import { withAtomicOutput } from '../../util/fs.ts';
import { readTrn, type TrnUtterance } from '../../score/trn.ts';
import {
  DECODE_SCHEMA,
  decodeCorpus,
  type DecodeCorpusResult,
  type DecodeSplitInput,
  type DecodeStageOptions,
  type PriorsOption,
} from '../../stages/decode.ts';
import { readSplitTranscripts } from '../../score/references.ts';
import { DECODE_SEARCH_DEFAULTS, type DecodeSearchOptions } from '../../decode/search-space.ts';
import { resolveModelDir } from '../../decode/systems.ts';
import { addStageFlags, collect, locateFlagError, stageOptions, type StageFlags } from './flags.ts';

export const DECODE_FLAGS: StageFlags = {
  stage: 'decode',
  schema: DECODE_SCHEMA,
  keys: {
    systems: 'set by --model (repeat it for an ensemble) and --name',
    tuneSplit: 'set by --tune-features, --tune-split and --oracle-grid',
    splits: 'set by --features and --split',
    wordInsertionPenalties: { flag: '--penalties', doc: 'insertion penalties tried when tuning' },
    lmWeights: { doc: 'LM weights tried when tuning' },
    lmWeight: { doc: 'LM weight without tuning' },
    wordInsertionPenalty: { flag: '--penalty', value: '<p>', doc: 'word insertion penalty without tuning' },
    systemWeights:
      "recipe only (a study's per-system weights); the command decodes one system: --lm-weight and --penalty",
    silenceProb: {
      flag: '--sil-prob',
      value: '<p>',
      doc: 'optional silence probability',
      defaultText: "the lang directory's",
    },
    lmLookahead: { flag: '--no-lookahead', doc: 'no LM look-ahead' },
    priors: 'set by --prior-features',
    priorSplit: 'set by --prior-features',
    priorFrames: { doc: 'frames of --prior-features used (evenly spaced utterances)' },
    lexicon: {
      doc: "Kaldi lexicon.txt to decode with instead of <lang>/lexicon.txt (phones of the HMM's set; word positions marked when the HMM has them; words with other phones are reported and left out)",
    },
  },
};

interface DecodeFlags {
  model: string[];
  features: string;
  lang: string;
  lm: string;
  out: string;
  hmm?: string;
  name?: string;
  split?: string;
  data?: string;
  ref?: string;
  tuneFeatures?: string;
  tuneSplit?: string;
  tuneRef?: string;
  oracleGrid?: boolean;
  json?: boolean;
  priorFeatures?: string;
  priorFrames?: number;
}

/** The split name of a feature file: `test.arrow` -> `test`, `test.0-of-4.arrow` -> `test.0-of-4`. */
function splitNameOf(file: string): string {
  return basename(file).replace(/\.arrow$/, '');
}

/** A name for the system of one model directory: `exp/train/baseline/final` -> `baseline`. */
function systemNameOf(dir: string): string {
  const b = basename(dir);
  return (b === 'final' ? basename(dirname(dir)) : b).replace(/[^A-Za-z0-9._-]/g, '_') || 'system';
}

export function register(program: Command): void {
  const cmd = program
    .command('decode')
    .description(
      'hybrid Viterbi decoding of one split with one model (or an ensemble of several): sclite trn hypotheses, word times, WER with references',
    )
    .requiredOption(
      '--model <dir>',
      'model directory (model.json, weights.bin, sidecar.json, or its final/); repeat for an ensemble',
      collect,
    )
    .requiredOption('--features <file>', 'feature file of the split to decode (features stage: <split>.arrow)')
    .requiredOption('--lang <dir>', 'lang directory of the align stage (lexicon.txt, lang.json)')
    .requiredOption('--lm <file>', 'ARPA language model')
    .requiredOption('--out <dir>', 'output directory (replaced atomically)')
    .option('--hmm <file>', 'GMM-HMM model.json with the tree and transitions (default: <lang>/../model.json)')
    .option(
      '--name <name>',
      "system name in the output (default: ensemble for several models, else the model directory's name)",
    )
    .option('--split <name>', 'name of the decoded split (default: the feature file name without .arrow)')
    .option('--data <dir>', 'prepared data dir: references and speakers (per-speaker CMVN) of the splits')
    .option('--ref <file>', 'reference trn of the decoded split (instead of --data)')
    .option(
      '--tune-features <file>',
      'feature file of a split to tune the LM weight and penalty on (needs its references)',
    )
    .option('--tune-split <name>', 'name of the tuning split (default: its file name without .arrow)')
    .option('--tune-ref <file>', 'reference trn of the tuning split (instead of --data)')
    .option(
      '--oracle-grid',
      "score every LM weight x penalty on the decoded split itself (analysis only: the weights are then tuned on the test set; tuning split '<split>.oracle')",
    )
    .option(
      '--prior-features <file>',
      "priors from the system's mean posterior on this split's features (e.g. train.arrow; Kaldi nnet3 adjust-priors) instead of the alignment counts in the sidecar",
    )
    .option('--json', 'print decode.json and timing as JSON');
  addStageFlags(cmd, DECODE_FLAGS).action(async (f: DecodeFlags) => {
    const { options, origins } = await stageOptions(cmd);
    const o = options as unknown as DecodeStageOptions;
    const search = Object.fromEntries(
      Object.keys(DECODE_SEARCH_DEFAULTS).map((k) => [k, o[k as keyof DecodeSearchOptions]]),
    ) as unknown as DecodeSearchOptions;
    const models = modelsOf(f.model);
    const name = f.name ?? (models.length > 1 ? 'ensemble' : systemNameOf(models[0]));
    const lang = resolve(f.lang);
    const { main, tune } = await splitInputs(f);
    if (!f.data) process.stderr.write('decode: no --data: every utterance is its own speaker for CMVN\n');
    const priors = await priorsOf(f, o.priorFrames);
    const out = resolve(f.out);
    await fsp.mkdir(dirname(out), { recursive: true });
    const r = await withAtomicOutput(out, async (tmp) => {
      await fsp.mkdir(tmp, { recursive: true });
      return locateFlagError(origins, () =>
        decodeCorpus({
          systems: [{ name, models }],
          langDir: lang,
          hmmModel: resolve(f.hmm ?? join(lang, '..', 'model.json')),
          lm: resolve(f.lm),
          lexicon: o.lexicon ?? null,
          tune,
          splits: [main],
          outDir: tmp,
          search,
          backend: o.backend,
          inferenceBatchSize: o.inferenceBatchSize,
          pathBase: out,
          priors,
        }),
      );
    });
    if (f.json) process.stdout.write(JSON.stringify({ summary: r.summary, timing: r.timing }, null, 2) + '\n');
    else printDecode(r, name, out);
  });
}

/** The model directories of the --model flags. */
function modelsOf(dirs: string[]): string[] {
  return dirs.map((m) => {
    const d = resolveModelDir(resolve(m));
    if (!d) {
      throw new ConfigError('not a model directory', {
        file: m,
        expected: 'model.json, weights.bin and sidecar.json (here or in final/)',
        found: 'none',
      });
    }
    return d;
  });
}

/** The decoded split and the tuning split (--tune-features, or the decoded split with --oracle-grid), with references. */
async function splitInputs(f: DecodeFlags): Promise<{ main: DecodeSplitInput; tune: DecodeSplitInput | null }> {
  const refsOf = async (
    split: string,
    refFile: string | undefined,
  ): Promise<{ refs?: TrnUtterance[]; uttToSpeaker?: Map<string, string> }> => {
    const fromData = f.data ? await readSplitTranscripts(resolve(f.data), split) : null;
    return { refs: refFile ? readTrn(resolve(refFile)) : fromData?.refs, uttToSpeaker: fromData?.uttToSpeaker };
  };
  const split = f.split ?? splitNameOf(f.features);
  const main: DecodeSplitInput = { name: split, features: [resolve(f.features)], ...(await refsOf(split, f.ref)) };
  if (f.oracleGrid) {
    if (f.tuneFeatures) {
      throw new ConfigError('--oracle-grid with --tune-features', {
        file: '--oracle-grid',
        expected: 'one of them: the oracle grid tunes on the decoded split itself',
        found: `--tune-features ${f.tuneFeatures}`,
      });
    }
    if (!main.refs) {
      throw new ConfigError('the oracle grid needs references of the decoded split', {
        file: '--oracle-grid',
        expected: '--ref R.trn or --data DIR',
        found: 'neither',
      });
    }
    return { main, tune: { ...main, name: `${split}.oracle` } };
  }
  if (!f.tuneFeatures) return { main, tune: null };
  const tn = f.tuneSplit ?? splitNameOf(f.tuneFeatures);
  const tune = { name: tn, features: [resolve(f.tuneFeatures)], ...(await refsOf(tn, f.tuneRef)) };
  if (!tune.refs) {
    throw new ConfigError('tuning needs references', {
      file: `--tune-features ${f.tuneFeatures}`,
      expected: '--tune-ref R.trn or --data DIR',
      found: 'neither',
    });
  }
  return { main, tune };
}

/** The sidecar's alignment priors, or the mean posterior on --prior-features. */
async function priorsOf(f: DecodeFlags, maxFrames: number): Promise<PriorsOption> {
  if (f.priorFrames !== undefined && !f.priorFeatures) {
    throw new ConfigError('--prior-frames without --prior-features', {
      file: `--prior-frames ${f.priorFrames}`,
      expected: '--prior-features F.arrow as well',
      found: 'no --prior-features',
    });
  }
  if (!f.priorFeatures) return { source: 'alignments' };
  const pn = splitNameOf(f.priorFeatures);
  const fromData = f.data ? await readSplitTranscripts(resolve(f.data), pn).catch(() => null) : null;
  return {
    source: 'posteriors',
    maxFrames,
    split: { name: pn, features: [resolve(f.priorFeatures)], uttToSpeaker: fromData?.uttToSpeaker },
  };
}

function printDecode(r: DecodeCorpusResult, name: string, out: string): void {
  const sys = r.summary.systems[0];
  process.stdout.write(
    `${name}: lmWeight ${sys.lmWeight}, penalty ${sys.wordInsertionPenalty} (${sys.weightsFrom}${sys.tuning ? ` on ${sys.tuning.split}` : ''})\n`,
  );
  for (const [sp, x] of Object.entries(sys.splits)) {
    const t = r.timing.systems[name][sp];
    const wer = x.wer !== null ? `%WER ${x.wer.toFixed(2)} [ ${x.errors} / ${x.refWords} ], ` : '';
    process.stdout.write(
      `${sp}: ${wer}${x.decoded} decoded, ${x.noPath} without a final token, ${x.noFeatures} without features; search RTF ${t.searchRtf.toFixed(4)}, acoustic RTF ${t.acousticRtf.toFixed(4)} -> ${join(out, x.files.trn)}\n`,
    );
  }
}
