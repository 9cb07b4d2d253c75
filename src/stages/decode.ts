/**
 * The `decode` stage: hybrid decoding of dev and test with every system (baseline, ensemble of the
 * members, student; optionally each member), LM weight and insertion penalty tuned per system on
 * dev and applied unchanged to test -> `<expDir>/decode/<system>/<split>.trn` (+ ctm, per-utterance
 * stats, tuning.json), refs/, words.txt, decode.json. Decoding speed goes to stage.json only, so
 * the outputs are byte-identical for the same inputs. See src/decode-stage/decode.ts.
 *
 * Recipe:
 *   stages:
 *     decode:
 *       systems: [baseline, ensemble, student]   # model names, 'ensemble' (all members), 'members' (each alone)
 *       tuneSplit: dev       # chooses lmWeight x wordInsertionPenalty; null: fixed lmWeight / wordInsertionPenalty
 *       splits: [test]       # decoded with the chosen weights
 *       beam: 13
 *       maxActive: 7000
 *       acousticScale: 0.1
 *       lmWeights: [0.7, 0.9, 1.1, 1.3, 1.5, 1.7]
 *       wordInsertionPenalties: [0, 0.5, 1]
 *       priors: alignments   # or posteriors: each system's mean posterior on priorSplit (Kaldi nnet3 adjust-priors)
 *       priorSplit: train
 *       priorFrames: 20000
 *       lexicon: null        # a Kaldi lexicon.txt instead of the align stage's lang/lexicon.txt (phones of its set)
 *
 * A split that the lm stage gave a grammar (`stages.lm.grammars`, e.g. `test-isolated: one-word`) is
 * decoded with that grammar (lm/grammars/<split>.arpa) instead of lm.arpa, at each system's weights;
 * decode.json lists it under `splitLms`. The LM weight must then be > 0 (0 would switch the grammar off).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../util/errors.ts';
import { decodeCorpus, DECODE_SEARCH_DEFAULTS, type DecodeSearchOptions, type DecodeSplitInput, type PriorsOption } from '../decode-stage/decode.ts';
import { DEFAULT_SYSTEMS, experimentModels, selectSystems } from '../decode-stage/find-systems.ts';
import { checkSplits, readSplitTranscripts } from '../decode-stage/corpus-text.ts';
import type { CorpusLmSummary } from '../decode-stage/lm.ts';
import { inventoryOf } from '../train/data.ts';
import { BACKEND_LADDER, type BackendName } from '../nnet/backend.ts';
import type { Schema, SchemaFor } from './schema.ts';
import type { RecipeHead, StageDefinition } from './stage.ts';

export interface DecodeStageOptions extends DecodeSearchOptions {
  /** Systems to decode: model names, 'ensemble', 'members'. Default [baseline, ensemble, student]. */
  systems: string[];
  /** Split that chooses the LM weight and penalty; null: fixed weights. Default 'dev'. */
  tuneSplit: string | null;
  /** Splits decoded with the chosen weights. Default [test]. */
  splits: string[];
  /** Compute engine (ladder rung) of the forward passes. Default 'auto'. */
  backend: BackendName | 'auto';
  /** Frames per forward pass. Default 512. */
  inferenceBatchSize: number;
  /** Priors divided out: 'alignments' (sidecar counts) or 'posteriors' (each system's mean posterior on priorSplit). Default 'alignments'. */
  priors: 'alignments' | 'posteriors';
  /** Split whose features give the mean posteriors. Default 'train'. */
  priorSplit: string;
  /** Frames of priorSplit used (evenly spaced whole utterances). Default 20000 (Kaldi's prior_subset_size). */
  priorFrames: number;
  /** Without a tuning split: fixed LM weight and penalty per system. */
  systemWeights?: Record<string, { lmWeight: number; wordInsertionPenalty: number }>;
  /** A Kaldi lexicon.txt decoded with instead of the align stage's (DecodeCorpusOptions.lexicon). Default none. */
  lexicon?: string;
}

const D = DECODE_SEARCH_DEFAULTS;

export const DECODE_SCHEMA: Schema = {
  systems: { type: 'array', items: { type: 'string', doc: 'system name' }, minItems: 1, default: [...DEFAULT_SYSTEMS], doc: "systems to decode: model names (baseline, member-<k>, student, ...), 'ensemble' (all members), 'members' (each member alone)" },
  tuneSplit: { type: 'string', nullable: true, default: 'dev', doc: 'split that chooses the LM weight and insertion penalty (null: fixed lmWeight / wordInsertionPenalty)' },
  splits: { type: 'array', items: { type: 'string', doc: 'split name' }, default: ['test'], doc: 'splits decoded with the chosen weights' },
  beam: { type: 'number', min: 0.001, default: D.beam, doc: 'beam (log units, after acoustic scaling)' },
  maxActive: { type: 'number', integer: true, min: 1, default: D.maxActive, doc: 'most tokens per frame' },
  acousticScale: { type: 'number', min: 1e-6, default: D.acousticScale, doc: 'scale of log posterior - log prior (Kaldi --acwt)' },
  lmWeights: { type: 'array', items: { type: 'number', min: 0, doc: 'LM weight' }, minItems: 1, default: [...D.lmWeights], doc: 'LM weights tried on the tuning split' },
  wordInsertionPenalties: { type: 'array', items: { type: 'number', doc: 'penalty' }, minItems: 1, default: [...D.wordInsertionPenalties], doc: 'word insertion penalties tried on the tuning split' },
  lmWeight: { type: 'number', min: 0, default: D.lmWeight, doc: 'LM weight without a tuning split' },
  wordInsertionPenalty: { type: 'number', default: D.wordInsertionPenalty, doc: 'word insertion penalty without a tuning split' },
  systemWeights: {
    type: 'map' as const, optional: true, doc: 'without a tuning split: LM weight and penalty per system (others: lmWeight / wordInsertionPenalty); a study freezes the ones tuned on its inner dev speaker here',
    values: { type: 'object' as const, doc: 'weights of one system', fields: { lmWeight: { type: 'number' as const, min: 0, doc: 'LM weight' }, wordInsertionPenalty: { type: 'number' as const, doc: 'word insertion penalty' } } },
  },
  silenceProb: { type: 'number', min: 0, max: 1, nullable: true, default: undefined, doc: "optional silence probability (null: the align stage's)" },
  lmLookahead: { type: 'boolean', default: D.lmLookahead, doc: 'LM look-ahead in the lexical tree' },
  lookaheadOrder: { type: 'number', integer: true, min: 1, default: D.lookaheadOrder, doc: 'order of the look-ahead LM' },
  scoringMode: { type: 'string', enum: ['sclite', 'kaldi'], default: D.scoringMode, doc: 'WER convention used for tuning' },
  allowUnk: { type: 'boolean', default: D.allowUnk, doc: '<UNK> (spoken noise) as a recognisable word (its senones need <UNK> in the training transcripts)' },
  backend: { type: 'string', enum: ['auto', ...BACKEND_LADDER], default: 'auto', doc: 'compute engine of the forward passes (auto: tfjs-node-gpu > native > tfjs-node > wasm > cpu)' },
  inferenceBatchSize: { type: 'number', integer: true, min: 1, default: 512, affectsOutput: false, unit: 'frames', doc: 'frames per forward pass' },
  priors: { type: 'string', enum: ['alignments', 'posteriors'], default: 'alignments', doc: "priors divided out of the posteriors: senone frequencies of the training alignments, or each system's mean posterior on priorSplit (Kaldi nnet3 adjust-priors)" },
  priorSplit: { type: 'string', default: 'train', doc: "split whose features give the mean posteriors (priors: posteriors)" },
  priorFrames: { type: 'number', integer: true, min: 1, default: 20000, unit: 'frames', doc: 'frames of priorSplit averaged (evenly spaced utterances)' },
  lexicon: { type: 'string', path: true, optional: true, doc: "Kaldi lexicon.txt decoded with instead of the align stage's lang/lexicon.txt: phones of the acoustic model's set (word positions are marked when the model has them and the file not); words with other phones or phones the tree cannot score are counted and left out" },
} satisfies SchemaFor<DecodeStageOptions>;

/**
 * Re-raise a ConfigError whose key path is relative to a stage's options (`splits`) with the
 * full path (`stages.decode.splits`) and the recipe file and line.
 */
export async function relocateConfigError<T>(recipe: RecipeHead, prefix: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ConfigError && err.location.keyPath && !err.location.file && !err.location.keyPath.startsWith('stages.')) {
      const keyPath = `${prefix}.${err.location.keyPath}`;
      const msg = err.message.replace(/^key '[^']*': /, '').replace(/; expected .*$/s, '');
      throw new ConfigError(msg, { ...(recipe.locate?.(keyPath) ?? {}), keyPath, expected: err.expected, found: err.found, cause: err });
    }
    throw err;
  }
}

/** The stages whose outputs hold acoustic models, in the order they are read. */
export const MODEL_STAGES: readonly string[] = ['train', 'distill'];

/**
 * The decode stage reading the model stages that exist in a registry (train: baseline and
 * members; distill: students), so it can be registered before or after those stages are written.
 */
export function createDecodeStage(modelStages: readonly string[] = MODEL_STAGES): StageDefinition<DecodeStageOptions> {
  return {
    name: 'decode',
    doc: 'hybrid Viterbi decoding of dev and test per system (baseline, ensemble, student), LM weight and penalty tuned on dev [trn]',
    inputs: ['prepare', 'features', 'align', 'lm', ...modelStages],
    schema: DECODE_SCHEMA,

    async externalInputs(_recipe, options) {
      return options.lexicon ? [{ path: options.lexicon, mode: 'content' }] : [];
    },

    async run(ctx) {
      const o = ctx.options;
      const dataDir = ctx.inputDir('prepare');
      const featuresDir = ctx.inputDir('features');
      const alignDir = ctx.inputDir('align');
      const where = (k: string) => ({ ...(ctx.recipe.locate?.(`stages.decode.${k}`) ?? {}) });
      if (o.tuneSplit) await checkSplits(dataDir, [o.tuneSplit], 'stages.decode.tuneSplit', where('tuneSplit'));
      await checkSplits(dataDir, o.splits, 'stages.decode.splits', where('splits'));
      if (o.tuneSplit && o.splits.includes(o.tuneSplit)) {
        throw new ConfigError('the tuning split is also listed in splits', { ...where('splits'), keyPath: 'stages.decode.splits', expected: `splits other than '${o.tuneSplit}' (it is decoded with its own chosen weights anyway)`, found: o.splits.join(', ') });
      }
      // The LM must not have seen the text of a split decoded here (dev chooses weights, test reports).
      const decodedSplits = [...(o.tuneSplit ? [o.tuneSplit] : []), ...o.splits];
      const lmJson = join(ctx.inputDir('lm'), 'lm.json');
      const lmInfo: Pick<CorpusLmSummary, 'trainSplits' | 'grammars'> = existsSync(lmJson) ? JSON.parse(readFileSync(lmJson, 'utf8')) : { trainSplits: [] };
      const trained = lmInfo.trainSplits ?? [];
      const seen = decodedSplits.filter((sp) => trained.includes(sp));
      if (seen.length) {
        throw new ConfigError(`the LM was trained on the text of ${seen.map((sp) => `'${sp}'`).join(', ')}, which this stage decodes`, {
          ...(ctx.recipe.locate?.('stages.lm.trainSplits') ?? {}), keyPath: 'stages.lm.trainSplits', expected: 'LM training splits disjoint from the tuning and test splits', found: trained.join(', '),
        });
      }
      const grammars = lmInfo.grammars ?? {};
      checkGrammarWeights(o, decodedSplits.filter((sp) => sp in grammars), where);
      const exp = await experimentModels({
        train: modelStages.includes('train') ? ctx.inputDir('train') : null,
        distill: modelStages.includes('distill') ? ctx.inputDir('distill') : null,
      });
      const systems = await relocateConfigError(ctx.recipe, 'stages.decode', async () => selectSystems(exp, o.systems));
      const splitInput = async (split: string): Promise<DecodeSplitInput> => {
        const file = join(featuresDir, `${split}.arrow`);
        if (!existsSync(file)) throw new ConfigError(`no features for split '${split}'`, { file, ...where('splits'), keyPath: 'stages.decode.splits', expected: 'a split the features stage computed', found: 'no such file' });
        const t = await readSplitTranscripts(dataDir, split);
        const lm = grammars[split] ? { lm: join(ctx.inputDir('lm'), grammars[split].file) } : {};
        return { name: split, features: [file], refs: t.refs, uttToSpeaker: t.uttToSpeaker, ...lm };
      };
      const trainAlign = join(alignDir, 'train.arrow');
      const senoneInventoryId = existsSync(trainAlign) ? (await inventoryOf(alignDir, trainAlign)).senoneInventoryId : undefined;
      const { backend, inferenceBatchSize, systems: _wanted, tuneSplit, splits, priors: priorSource, priorSplit, priorFrames, systemWeights, lexicon, ...search } = o;
      if (tuneSplit && systemWeights) {
        throw new ConfigError('per-system weights and a tuning split exclude each other', { ...where('systemWeights'), keyPath: 'stages.decode.systemWeights', expected: 'stages.decode.tuneSplit null with fixed per-system weights', found: `tuneSplit ${tuneSplit}` });
      }
      let priors: PriorsOption = { source: 'alignments' };
      if (priorSource === 'posteriors') {
        const file = join(featuresDir, `${priorSplit}.arrow`);
        if (!existsSync(file)) throw new ConfigError(`no features for split '${priorSplit}'`, { file, ...where('priorSplit'), keyPath: 'stages.decode.priorSplit', expected: 'a split the features stage computed', found: 'no such file' });
        if ([...(tuneSplit ? [tuneSplit] : []), ...splits].includes(priorSplit)) {
          throw new ConfigError('the priors would be estimated on a split this stage decodes', { ...where('priorSplit'), keyPath: 'stages.decode.priorSplit', expected: 'a training split (not the tuning or test split)', found: priorSplit });
        }
        const t = await readSplitTranscripts(dataDir, priorSplit);
        priors = { source: 'posteriors', maxFrames: priorFrames, split: { name: priorSplit, features: [file], uttToSpeaker: t.uttToSpeaker } };
      }
      const tune = tuneSplit ? await splitInput(tuneSplit) : null;
      const inputs: DecodeSplitInput[] = [];
      for (const split of splits) inputs.push(await splitInput(split));
      const r = await relocateConfigError(ctx.recipe, 'stages.decode', () => decodeCorpus({
        systems, langDir: join(alignDir, 'lang'), hmmModel: join(alignDir, 'model.json'), lm: join(ctx.inputDir('lm'), 'lm.arpa'), lexicon: lexicon ?? null,
        tune, splits: inputs, systemWeights, outDir: ctx.outDir, search, backend, inferenceBatchSize,
        pathBase: ctx.expDir, writeTiming: false, logger: ctx.log, senoneInventoryId, priors, lmCache: false,
      }));
      const s = r.summary;
      const counts: Record<string, number> = { systems: s.systems.length, words: s.lexicon.words };
      let decoded = 0, noPath = 0;
      for (const sys of s.systems) {
        for (const [split, x] of Object.entries(sys.splits)) {
          decoded += x.decoded;
          noPath += x.noPath;
          if (x.wer !== null) counts[`${sys.name}.${split}.wer`] = Math.round(100 * x.wer) / 100;
        }
      }
      counts.decoded = decoded;
      counts.noPath = noPath;
      const lf = s.lexicon.file;
      if (lf) {
        counts.lexiconWordsRead = lf.wordsRead;
        counts.lexiconUnusableWords = lf.unusableWords;
        counts.lexiconUnknownPhonePronunciations = lf.unknownPhonePronunciations;
        counts.lexiconUntrainedPhoneWords = s.lexicon.untrainedPhones.length;
      }
      const skips = Object.values(s.skipped);
      return {
        counts,
        skipped: {
          done: skips.reduce((a, x) => a + x.done, 0), skipped: skips.reduce((a, x) => a + x.skipped, 0),
          reasons: mergeReasons(skips.flatMap((x) => x.reasons)),
        },
        details: {
          weights: Object.fromEntries(s.systems.map((x) => [x.name, { lmWeight: x.lmWeight, wordInsertionPenalty: x.wordInsertionPenalty, from: x.weightsFrom }])),
          noPath: Object.fromEntries(s.systems.map((x) => [x.name, Object.fromEntries(Object.entries(x.splits).map(([k, v]) => [k, v.noPathUtterances]))])),
          lexicon: { words: s.lexicon.words, notInLm: s.lexicon.notInLm.length, untrainedPhones: s.lexicon.untrainedPhones.length, ...(lf ? { file: lf } : {}) },
          timing: r.timing,
        },
      };
    },
  };
}

/** A grammar split needs an LM weight > 0: at weight 0 the grammar's forbidden steps cost nothing. */
function checkGrammarWeights(o: DecodeStageOptions, grammarSplits: string[], where: (k: string) => { file?: string; line?: number }): void {
  if (grammarSplits.length === 0) return;
  // Frozen per-system weights (a study's final runs) replace lmWeight for their systems.
  const zero = Object.entries(o.systemWeights ?? {}).find(([, w]) => w.lmWeight === 0);
  if (zero) {
    throw new ConfigError(`an LM weight of 0 would switch off the grammar of ${grammarSplits.map((sp) => `'${sp}'`).join(', ')}`, {
      ...where('systemWeights'), keyPath: `stages.decode.systemWeights.${zero[0]}.lmWeight`, expected: 'LM weights > 0 when a decoded split has a grammar (stages.lm.grammars)', found: '0',
    });
  }
  const key = o.tuneSplit ? 'lmWeights' : 'lmWeight';
  const weights = o.tuneSplit ? o.lmWeights : [o.lmWeight];
  if (weights.some((w) => w === 0)) {
    throw new ConfigError(`an LM weight of 0 would switch off the grammar of ${grammarSplits.map((sp) => `'${sp}'`).join(', ')}`, {
      ...where(key), keyPath: `stages.decode.${key}`, expected: 'LM weights > 0 when a decoded split has a grammar (stages.lm.grammars)', found: JSON.stringify(o.tuneSplit ? o.lmWeights : o.lmWeight),
    });
  }
}

function mergeReasons(rs: { reason: string; count: number; examples: string[] }[]): { reason: string; count: number; examples: string[] }[] {
  const m = new Map<string, { count: number; examples: string[] }>();
  for (const r of rs) {
    const e = m.get(r.reason) ?? { count: 0, examples: [] };
    e.count += r.count;
    for (const x of r.examples) if (e.examples.length < 5) e.examples.push(x);
    m.set(r.reason, e);
  }
  return [...m].map(([reason, e]) => ({ reason, ...e })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}

