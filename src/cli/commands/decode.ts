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
import { decodeCorpus, type DecodeSplitInput, type PriorsOption } from '../../stages/decode.ts';
import { type DecodeSearchOptions } from '../../decode/search-space.ts';
import { readSplitTranscripts } from '../../score/references.ts';
import { resolveModelDir } from '../../decode/systems.ts';
import { BACKEND_LADDER, type BackendName } from '../../nnet/backend.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`bad ${flag}`, { file: `${flag} ${v}`, expected: 'a number', found: JSON.stringify(v) });
  return n;
}

function list(flag: string, v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((x) => num(flag, x)!);
}

interface DecodeFlags {
  model: string[]; features: string; lang: string; lm: string; out: string; hmm?: string; lexicon?: string; name?: string; split?: string;
  data?: string; ref?: string; tuneFeatures?: string; tuneSplit?: string; tuneRef?: string; oracleGrid?: boolean;
  lmWeight?: string; penalty?: string; lmWeights?: string; penalties?: string; beam?: string; maxActive?: string;
  acousticScale?: string; silProb?: string; lookahead: boolean; backend: string; json?: boolean;
  priorFeatures?: string; priorFrames?: string;
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
  program
    .command('decode')
    .description('hybrid Viterbi decoding of one split with one model (or an ensemble of several): sclite trn hypotheses, word times, WER with references')
    .requiredOption('--model <dir>', 'model directory (model.json, weights.bin, sidecar.json, or its final/); repeat for an ensemble', collect, [] as string[])
    .requiredOption('--features <file>', 'feature file of the split to decode (features stage: <split>.arrow)')
    .requiredOption('--lang <dir>', 'lang directory of the align stage (lexicon.txt, lang.json)')
    .requiredOption('--lm <file>', 'ARPA language model')
    .requiredOption('--out <dir>', 'output directory (replaced atomically)')
    .option('--hmm <file>', 'GMM-HMM model.json with the tree and transitions (default: <lang>/../model.json)')
    .option('--lexicon <file>', "Kaldi lexicon.txt to decode with instead of <lang>/lexicon.txt (phones of the HMM's set; word positions marked when the HMM has them; words with other phones are reported and left out)")
    .option('--name <name>', 'system name in the output (default: ensemble for several models, else the model directory\'s name)')
    .option('--split <name>', 'name of the decoded split (default: the feature file name without .arrow)')
    .option('--data <dir>', 'prepared data dir: references and speakers (per-speaker CMVN) of the splits')
    .option('--ref <file>', 'reference trn of the decoded split (instead of --data)')
    .option('--tune-features <file>', 'feature file of a split to tune the LM weight and penalty on (needs its references)')
    .option('--tune-split <name>', 'name of the tuning split (default: its file name without .arrow)')
    .option('--tune-ref <file>', 'reference trn of the tuning split (instead of --data)')
    .option('--oracle-grid', "score every LM weight x penalty on the decoded split itself (analysis only: the weights are then tuned on the test set; tuning split '<split>.oracle')")
    .option('--lm-weight <w>', 'LM weight without tuning (default 1)')
    .option('--penalty <p>', 'word insertion penalty without tuning (default 0)')
    .option('--lm-weights <list>', 'LM weights tried when tuning, comma-separated (default 0.7,0.9,1.1,1.3,1.5,1.7)')
    .option('--penalties <list>', 'insertion penalties tried when tuning (default 0,0.5,1)')
    .option('--beam <b>', 'beam (default 13)')
    .option('--max-active <n>', 'most tokens per frame (default 7000)')
    .option('--acoustic-scale <s>', 'acoustic scale (default 0.1)')
    .option('--sil-prob <p>', "optional silence probability (default: the lang directory's)")
    .option('--no-lookahead', 'no LM look-ahead')
    .option('--prior-features <file>', "priors from the system's mean posterior on this split's features (e.g. train.arrow; Kaldi nnet3 adjust-priors) instead of the alignment counts in the sidecar")
    .option('--prior-frames <n>', 'frames of --prior-features used (evenly spaced utterances; default 20000)')
    .option('--backend <name>', `compute engine: auto, ${BACKEND_LADDER.join(', ')}`, 'auto')
    .option('--json', 'print decode.json and timing as JSON')
    .action(async (f: DecodeFlags) => {
      if (f.model.length === 0) throw new ConfigError('no model', { file: '--model', expected: 'at least one model directory', found: 'none' });
      if (f.backend !== 'auto' && !BACKEND_LADDER.includes(f.backend as BackendName)) {
        throw new ConfigError('bad --backend', { file: `--backend ${f.backend}`, expected: `auto or one of ${BACKEND_LADDER.join(', ')}`, found: f.backend });
      }
      const models = f.model.map((m) => {
        const d = resolveModelDir(resolve(m));
        if (!d) throw new ConfigError('not a model directory', { file: m, expected: 'model.json, weights.bin and sidecar.json (here or in final/)', found: 'none' });
        return d;
      });
      const name = f.name ?? (models.length > 1 ? 'ensemble' : systemNameOf(models[0]));
      const lang = resolve(f.lang);
      const hmm = resolve(f.hmm ?? join(lang, '..', 'model.json'));
      const refsOf = async (split: string, refFile: string | undefined): Promise<{ refs?: TrnUtterance[]; uttToSpeaker?: Map<string, string> }> => {
        const fromData = f.data ? await readSplitTranscripts(resolve(f.data), split) : null;
        return { refs: refFile ? readTrn(resolve(refFile)) : fromData?.refs, uttToSpeaker: fromData?.uttToSpeaker };
      };
      const split = f.split ?? splitNameOf(f.features);
      const main: DecodeSplitInput = { name: split, features: [resolve(f.features)], ...(await refsOf(split, f.ref)) };
      let tune: DecodeSplitInput | null = null;
      if (f.oracleGrid) {
        if (f.tuneFeatures) throw new ConfigError('--oracle-grid with --tune-features', { file: '--oracle-grid', expected: 'one of them: the oracle grid tunes on the decoded split itself', found: `--tune-features ${f.tuneFeatures}` });
        if (!main.refs) throw new ConfigError('the oracle grid needs references of the decoded split', { file: '--oracle-grid', expected: '--ref R.trn or --data DIR', found: 'neither' });
        tune = { ...main, name: `${split}.oracle` };
      } else if (f.tuneFeatures) {
        const tn = f.tuneSplit ?? splitNameOf(f.tuneFeatures);
        tune = { name: tn, features: [resolve(f.tuneFeatures)], ...(await refsOf(tn, f.tuneRef)) };
        if (!tune.refs) throw new ConfigError('tuning needs references', { file: `--tune-features ${f.tuneFeatures}`, expected: '--tune-ref R.trn or --data DIR', found: 'neither' });
      }
      if (!f.data) process.stderr.write('decode: no --data: every utterance is its own speaker for CMVN\n');
      const search: Partial<DecodeSearchOptions> = Object.fromEntries(Object.entries({
        lmWeight: num('--lm-weight', f.lmWeight), wordInsertionPenalty: num('--penalty', f.penalty),
        lmWeights: list('--lm-weights', f.lmWeights), wordInsertionPenalties: list('--penalties', f.penalties),
        beam: num('--beam', f.beam), maxActive: num('--max-active', f.maxActive), acousticScale: num('--acoustic-scale', f.acousticScale),
        silenceProb: num('--sil-prob', f.silProb), lmLookahead: f.lookahead,
      }).filter(([, v]) => v !== undefined));
      if (f.priorFrames !== undefined && !f.priorFeatures) throw new ConfigError('--prior-frames without --prior-features', { file: `--prior-frames ${f.priorFrames}`, expected: '--prior-features F.arrow as well', found: 'no --prior-features' });
      let priors: PriorsOption = { source: 'alignments' };
      if (f.priorFeatures) {
        const pn = splitNameOf(f.priorFeatures);
        const maxFrames = num('--prior-frames', f.priorFrames) ?? 20000;
        if (!(Number.isInteger(maxFrames) && maxFrames >= 1)) throw new ConfigError('bad --prior-frames', { file: `--prior-frames ${f.priorFrames}`, expected: 'an integer >= 1', found: String(f.priorFrames) });
        const fromData = f.data ? await readSplitTranscripts(resolve(f.data), pn).catch(() => null) : null;
        priors = { source: 'posteriors', maxFrames, split: { name: pn, features: [resolve(f.priorFeatures)], uttToSpeaker: fromData?.uttToSpeaker } };
      }
      const out = resolve(f.out);
      await fsp.mkdir(dirname(out), { recursive: true });
      const r = await withAtomicOutput(out, async (tmp) => {
        await fsp.mkdir(tmp, { recursive: true });
        return decodeCorpus({
          systems: [{ name, models }], langDir: lang, hmmModel: hmm, lm: resolve(f.lm), lexicon: f.lexicon ? resolve(f.lexicon) : null, tune, splits: [main], outDir: tmp, search,
          backend: f.backend as BackendName | 'auto', pathBase: out, priors,
        });
      });
      if (f.json) {
        process.stdout.write(JSON.stringify({ summary: r.summary, timing: r.timing }, null, 2) + '\n');
        return;
      }
      const sys = r.summary.systems[0];
      process.stdout.write(`${name}: lmWeight ${sys.lmWeight}, penalty ${sys.wordInsertionPenalty} (${sys.weightsFrom}${sys.tuning ? ` on ${sys.tuning.split}` : ''})\n`);
      for (const [sp, x] of Object.entries(sys.splits)) {
        const t = r.timing.systems[name][sp];
        const wer = x.wer !== null ? `%WER ${x.wer.toFixed(2)} [ ${x.errors} / ${x.refWords} ], ` : '';
        process.stdout.write(`${sp}: ${wer}${x.decoded} decoded, ${x.noPath} without a final token, ${x.noFeatures} without features; search RTF ${t.searchRtf.toFixed(4)}, acoustic RTF ${t.acousticRtf.toFixed(4)} -> ${join(out, x.files.trn)}\n`);
      }
    });
}
