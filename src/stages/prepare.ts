/**
 * The `prepare` stage: a corpus adapter (corpora/index.ts) by name -> a validated data dir
 * (`<expDir>/prepare/`: corpus.json + <split>/{recordings,supervisions}.jsonl + composed wav/).
 *
 * Recipe:
 *   corpus:
 *     name: fsdd                      # adapter: fsdd, librispeech, timit, kaldi, synth, ...
 *     dir: ../shared/corpora/fsdd     # the corpus as distributed (--corpus-dir overrides)
 *     download: {subsets: [...]}      # only for adapters that can download: fetch into dir first
 *   stages:
 *     prepare: {mode: connected, ...} # the adapter's own options, passed through
 *
 * The adapter options are checked at load time against a typed schema per adapter (the keys are
 * tied to the adapter's XOptions interface at compile time); their defaults stay the adapter's,
 * and corpus.json in the output records the options the adapter used. An adapter's `seed`
 * defaults to the recipe's seed.
 */
import { ConfigError } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import { adapters, getAdapter, prepareCorpus, type CorpusAdapter } from '../../corpora/index.ts';
import type { FsddOptions } from '../../corpora/fsdd/index.ts';
import type { KaldiOptions } from '../../corpora/kaldi/index.ts';
import type { LibrispeechOptions } from '../../corpora/librispeech/index.ts';
import type { TimitOptions } from '../../corpora/timit/index.ts';
import { prepareSynth, synthAdapter, type SynthOptions } from '../../corpora/synth/index.ts';
import type { CorpusInfo } from '../corpus/types.ts';
import { parseSetArgument } from './schema.ts';
import {
  OptionError,
  resolvePaths,
  validateOptions,
  type ObjectSpec,
  type OptionSpec,
  type Schema,
  type SchemaFor,
} from './schema.ts';
import type { ExternalInput, RecipeHead, StageDefinition } from './stage.ts';

/** Adapters that generate their corpus and read no directory. */
const NEEDS_NO_DIR = new Set(['synth']);

const strings = (doc: string): OptionSpec => ({
  type: 'array',
  items: { type: 'string', doc: 'a name' },
  optional: true,
  doc,
});

/**
 * Typed option schemas of the adapters; documentation comes from each adapter's optionsDoc.
 * `sampleRateHz`: the rate of every recording the adapter writes under these options, where the
 * corpus or the options fix it (the features stage checks its options against it at load time).
 */
const ADAPTER_SCHEMAS: Record<
  string,
  { schema: Schema; external?: string[]; sampleRateHz?: (options: Record<string, unknown>) => number | undefined }
> = {
  fsdd: {
    schema: {
      mode: { type: 'string', enum: ['isolated', 'connected'], optional: true, doc: '' },
      trainSpeakers: strings(''),
      devSpeakers: strings(''),
      testSpeakers: strings(''),
      evalDir: { type: 'string', path: true, optional: true, doc: '' },
      numUtterancesPerSpeaker: { type: 'number', integer: true, min: 1, optional: true, doc: '' },
      minDigits: { type: 'number', integer: true, min: 1, optional: true, doc: '' },
      maxDigits: { type: 'number', integer: true, min: 1, optional: true, doc: '' },
      pauseMinMs: { type: 'number', min: 0, unit: 'ms', optional: true, doc: '' },
      pauseMaxMs: { type: 'number', min: 0, unit: 'ms', optional: true, doc: '' },
      edgeMinMs: { type: 'number', min: 0, unit: 'ms', optional: true, doc: '' },
      edgeMaxMs: { type: 'number', min: 0, unit: 'ms', optional: true, doc: '' },
      resampleToHz: { type: 'number', min: 1, unit: 'Hz', optional: true, doc: '' },
      seed: { type: 'number', integer: true, min: 0, optional: true, doc: '' },
      devTakeFraction: { type: 'number', min: 0, max: 0.5, optional: true, doc: '' },
      isolatedTest: { type: 'boolean', optional: true, doc: '' },
    } satisfies SchemaFor<FsddOptions>,
    external: ['evalDir'],
    sampleRateHz: (o) => o.resampleToHz as number | undefined,
  },
  kaldi: {
    schema: {
      splitName: { type: 'string', optional: true, doc: '' },
      splits: strings(''),
      audioBaseDir: { type: 'string', path: true, optional: true, doc: '' },
      disjointSpeakers: { type: 'boolean', optional: true, doc: '' },
    } satisfies SchemaFor<KaldiOptions>,
  },
  librispeech: {
    schema: {
      splits: {
        type: 'map',
        values: { type: 'array', items: { type: 'string', doc: 'subset' }, minItems: 1, doc: 'subsets' },
        optional: true,
        doc: '',
      },
      maxUtterancesPerSplit: { type: 'number', integer: true, min: 1, optional: true, doc: '' },
      seed: { type: 'number', integer: true, min: 0, optional: true, doc: '' },
    } satisfies SchemaFor<LibrispeechOptions>,
    sampleRateHz: () => 16000,
  },
  synth: {
    schema: {
      numSpeakers: { type: 'number', integer: true, min: 1, optional: true, doc: '' },
      utterancesPerSpeaker: { type: 'number', integer: true, min: 1, optional: true, doc: '' },
      splits: {
        type: 'object',
        optional: true,
        doc: '',
        fields: {
          train: { type: 'number', min: 0, optional: true, doc: 'speakers (count or fraction)' },
          dev: { type: 'number', min: 0, optional: true, doc: 'speakers (count or fraction)' },
          test: { type: 'number', min: 0, optional: true, doc: 'speakers (count or fraction)' },
        },
      },
      seed: { type: 'number', integer: true, min: 0, optional: true, doc: '' },
      minWords: { type: 'number', integer: true, min: 1, optional: true, doc: '' },
      maxWords: { type: 'number', integer: true, min: 1, optional: true, doc: '' },
      uniqueSentences: { type: 'boolean', optional: true, doc: '' },
      sampleRateHz: { type: 'number', integer: true, min: 1, unit: 'Hz', optional: true, doc: '' },
      silenceMinMs: { type: 'number', min: 0, unit: 'ms', optional: true, doc: '' },
      silenceMaxMs: { type: 'number', min: 0, unit: 'ms', optional: true, doc: '' },
      noiseFloorDbfs: { type: 'number', max: 0, unit: 'dBFS', optional: true, nullable: true, doc: '' },
      noiseSnrDb: { type: 'number', unit: 'dB', optional: true, doc: '' },
      voices: strings(''),
      variants: strings(''),
      rateMinWpm: { type: 'number', min: 1, unit: 'wpm', optional: true, doc: '' },
      rateMaxWpm: { type: 'number', min: 1, unit: 'wpm', optional: true, doc: '' },
      pitchMin: { type: 'number', min: 0, max: 99, optional: true, doc: '' },
      pitchMax: { type: 'number', min: 0, max: 99, optional: true, doc: '' },
    } satisfies SchemaFor<SynthOptions>,
    sampleRateHz: (o) => (o.sampleRateHz as number | undefined) ?? 16000,
  },
  timit: {
    schema: {
      includeSa: { type: 'boolean', optional: true, doc: '' },
      testSet: { type: 'string', enum: ['core', 'complete'], optional: true, doc: '' },
      devSpeakers: strings(''),
      testSpeakers: strings(''),
    } satisfies SchemaFor<TimitOptions>,
    sampleRateHz: () => 16000,
  },
};

/** Any value; the adapter checks it when it runs (adapters registered without a typed schema here). */
const anyValue = (doc: string): OptionSpec => ({
  type: 'custom',
  expected: 'a value',
  optional: true,
  doc,
  validate: (v) => v,
});

/** An adapter of any option type. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- adapters of every option type
type AnyAdapter = CorpusAdapter<any>;

/** The option schema of an adapter (or adapter name): typed where known, else the keys of its optionsDoc. */
export function adapterOptionSchema(nameOrAdapter: string | AnyAdapter): Schema {
  const adapter = typeof nameOrAdapter === 'string' ? getAdapter(nameOrAdapter) : nameOrAdapter;
  const typed = ADAPTER_SCHEMAS[adapter.name]?.schema;
  const out: Schema = {};
  for (const [key, doc] of Object.entries(adapter.optionsDoc)) {
    out[key] = typed?.[key] ? ({ ...typed[key], doc } as OptionSpec) : anyValue(doc);
  }
  return out;
}

const DOWNLOAD_FIELDS: Schema = {
  subsets: {
    type: 'array',
    items: { type: 'string', doc: 'subset name' },
    minItems: 1,
    optional: true,
    doc: "subsets to fetch (default: the adapter's)",
  },
  baseUrl: { type: 'string', optional: true, affectsOutput: false, doc: "mirror base URL (default: the adapter's)" },
  keepArchive: { type: 'boolean', optional: true, affectsOutput: false, doc: 'keep the downloaded archives' },
};

export const CORPUS_SECTION: ObjectSpec = {
  type: 'object',
  optional: true,
  doc: 'the corpus the prepare stage reads',
  fields: {
    name: { type: 'string', enum: Object.keys(adapters).sort(), doc: 'corpus adapter (corpora/<name>)' },
    dir: {
      type: 'string',
      path: true,
      optional: true,
      doc: 'corpus directory as distributed (--corpus-dir overrides)',
    },
    download: {
      type: 'object',
      optional: true,
      fields: DOWNLOAD_FIELDS,
      doc: 'fetch the corpus into dir first (adapters that can download)',
    },
  },
};

export interface CorpusSection {
  name: string;
  dir?: string;
  download?: { subsets?: string[]; baseUrl?: string; keepArchive?: boolean };
}

/**
 * The sample rate the prepare stage's corpus will have under `options`, when the adapter fixes it
 * (synth, LibriSpeech, TIMIT, FSDD with resampleToHz); undefined when only the data tell (Kaldi).
 */
export function declaredSampleRate(recipe: RecipeHead, options: Record<string, unknown>): number | undefined {
  const name = (recipe.sections.corpus as unknown as CorpusSection | undefined)?.name;
  return name === undefined ? undefined : ADAPTER_SCHEMAS[name]?.sampleRateHz?.(options);
}

function corpusOf(recipe: RecipeHead): CorpusSection {
  const c = recipe.sections.corpus as unknown as CorpusSection | undefined;
  if (!c) {
    throw new ConfigError('the prepare stage needs a corpus section', {
      ...(recipe.locate?.('corpus') ?? {}),
      keyPath: 'corpus',
      expected: `corpus: {name: <${Object.keys(adapters).sort().join('|')}>, dir: ...}`,
      found: 'nothing',
    });
  }
  return c;
}

/** A ConfigError from an adapter names its option (`keyPath: maxDigits`): point it at the recipe. */
function relocateAdapterError(err: unknown, recipe: RecipeHead, options: Record<string, unknown>): unknown {
  if (err instanceof ConfigError && err.location.keyPath && !err.location.file) {
    const top = err.location.keyPath.split('.')[0];
    if (top in options || top in getAdapter(corpusOf(recipe).name).optionsDoc) {
      const keyPath = `stages.prepare.${err.location.keyPath}`;
      return new ConfigError(err.detail, {
        ...(recipe.locate?.(keyPath) ?? {}),
        keyPath,
        expected: err.expected,
        found: err.found,
        cause: err,
      });
    }
  }
  return err;
}

/**
 * Adapter options given as `key=value` strings (values parsed as YAML), checked like a recipe's;
 * errors name the `--opt` argument. Returns the options and where each came from.
 */
export function parseAdapterOptions(
  adapter: string | AnyAdapter,
  assignments: readonly string[],
  base: Record<string, unknown> = {},
): { options: Record<string, unknown>; origin: Map<string, string> } {
  const schema = adapterOptionSchema(adapter);
  const raw: Record<string, unknown> = { ...base };
  const origin = new Map<string, string>();
  for (const a of assignments) {
    const { keyPath, value } = parseSetArgument(a);
    if (keyPath.includes('.'))
      throw new ConfigError('adapter options are not nested', {
        file: `--opt ${a}`,
        expected: 'key=value',
        found: keyPath,
      });
    raw[keyPath] = value;
    origin.set(keyPath, `--opt ${a}`);
  }
  try {
    return { options: resolvePaths(schema, validateOptions(schema, raw), process.cwd()), origin };
  } catch (err) {
    if (err instanceof OptionError) {
      const key = (err.location.keyPath ?? '').split(/[.[]/)[0];
      throw new ConfigError(err.detail, {
        file: origin.get(key),
        keyPath: err.location.keyPath,
        expected: err.expected,
        found: err.found,
      });
    }
    throw err;
  }
}

/** An adapter names a bad option by its key: point the error at the --opt argument that set it. */
function relocateToArgument(err: unknown, origin: Map<string, string>): unknown {
  const key = err instanceof ConfigError && !err.location.file ? (err.location.keyPath ?? '').split(/[.[]/)[0] : '';
  if (key && origin.has(key)) {
    const e = err as ConfigError;
    return new ConfigError(e.detail, {
      file: origin.get(key),
      keyPath: e.location.keyPath,
      expected: e.expected,
      found: e.found,
      cause: err,
    });
  }
  return err;
}

/** `am-distill corpus prepare`: prepare corpus `name` from `dir` into the data dir `outDir`. */
export async function prepareCorpusDir(
  name: string,
  dir: string,
  outDir: string,
  assignments: readonly string[] = [],
  logger?: Logger,
): Promise<CorpusInfo> {
  const { options, origin } = parseAdapterOptions(name, assignments);
  try {
    const prepared = await prepareCorpus(name, dir, { ...options, outDir, ...(logger ? { logger } : {}) });
    return prepared.info;
  } catch (err) {
    throw relocateToArgument(err, origin);
  }
}

/**
 * `am-distill corpus synth`: synthesise the embedded corpus into `outDir` (written atomically).
 * `base` holds options from dedicated flags; `--opt` assignments override them.
 */
export async function synthesizeCorpusDir(
  outDir: string,
  assignments: readonly string[] = [],
  base: Partial<SynthOptions> = {},
  logger?: Logger,
): Promise<CorpusInfo> {
  const { options, origin } = parseAdapterOptions(synthAdapter, assignments, base);
  try {
    const prepared = await prepareSynth(outDir, { ...options, ...(logger ? { logger } : {}) });
    return prepared.info;
  } catch (err) {
    throw relocateToArgument(err, origin);
  }
}

/** `am-distill corpus download`: fetch subsets of a downloadable corpus into `destDir`. */
export async function downloadCorpus(
  name: string,
  destDir: string,
  opts: { subsets?: string[]; baseUrl?: string; keepArchive?: boolean },
): Promise<string> {
  const adapter = getAdapter(name);
  if (!adapter.download) {
    const canDownload = Object.values(adapters)
      .filter((a) => a.download)
      .map((a) => a.name);
    throw new ConfigError(`corpus '${name}' cannot be downloaded`, {
      expected: `one of ${canDownload.join(', ') || 'none'}`,
      found: name,
    });
  }
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) clean[k] = v;
  return adapter.download(destDir, clean);
}

async function ensureDownloaded(recipe: RecipeHead, log: Logger): Promise<void> {
  const corpus = corpusOf(recipe);
  if (!corpus.download) return;
  if (!getAdapter(corpus.name).download) {
    const canDownload = Object.values(adapters)
      .filter((a) => a.download)
      .map((a) => a.name);
    throw new ConfigError(`corpus '${corpus.name}' cannot be downloaded`, {
      ...(recipe.locate?.('corpus.download') ?? {}),
      keyPath: 'corpus.download',
      expected: `no download section, or a corpus among ${canDownload.join(', ') || 'none'}`,
      found: corpus.name,
    });
  }
  log.info(`prepare: making sure ${corpus.name} is downloaded into ${corpus.dir}`);
  await downloadCorpus(corpus.name, corpus.dir!, corpus.download);
}

export const prepareStage: StageDefinition<Record<string, unknown>> = {
  name: 'prepare',
  doc: 'corpus adapter -> validated manifests per split (corpus.json + <split>/*.jsonl)',
  inputs: [],
  sections: { corpus: CORPUS_SECTION },
  schema: (recipe) => adapterOptionSchema(corpusOf(recipe).name),
  schemaKey: 'corpus.name',

  async externalInputs(recipe, options, log) {
    const corpus = corpusOf(recipe);
    if (!corpus.dir) {
      if (NEEDS_NO_DIR.has(corpus.name)) return [];
      throw new ConfigError(`corpus '${corpus.name}' needs a directory`, {
        ...(recipe.locate?.('corpus') ?? {}),
        keyPath: 'corpus.dir',
        expected: 'corpus.dir in the recipe or --corpus-dir',
        found: 'nothing',
      });
    }
    await ensureDownloaded(recipe, log);
    const inputs: ExternalInput[] = [{ path: corpus.dir, mode: 'stat' }];
    for (const key of ADAPTER_SCHEMAS[corpus.name]?.external ?? []) {
      const p = options[key];
      if (typeof p === 'string') inputs.push({ path: p, mode: 'stat' });
    }
    return inputs;
  },

  async run(ctx) {
    const corpus = corpusOf(ctx.recipe);
    const adapter = getAdapter(corpus.name);
    const opts: Record<string, unknown> = { ...ctx.options };
    if ('seed' in adapter.optionsDoc && opts.seed === undefined) opts.seed = ctx.recipe.seed;
    let prepared;
    try {
      prepared = await prepareCorpus(corpus.name, corpus.dir ?? '', { ...opts, outDir: ctx.outDir, logger: ctx.log });
    } catch (err) {
      throw relocateAdapterError(err, ctx.recipe, ctx.options);
    }
    const { info } = prepared;
    let utterances = 0;
    let durationSec = 0;
    for (const c of Object.values(info.counts)) {
      utterances += c.supervisions;
      durationSec += c.durationSec;
    }
    return {
      counts: { splits: info.splits.length, utterances, durationSec: Math.round(durationSec * 10) / 10 },
      skipped: info.skipped,
      details: { corpus: info.corpus, sampleRateHz: info.sampleRateHz, splits: info.counts },
    };
  },
};
