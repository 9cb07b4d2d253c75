/**
 * Recipes as data: `pipelines/*.yaml` parsed, overridden with `--set key=value`, and validated
 * against the registered stages' option schemas. Every error names the file and line (or the
 * `--set` argument) and the dotted key path.
 *
 * Shape:
 *   name: demo                 # experiment name; default expDir is exp/<name>
 *   description: ...           # optional
 *   seed: 1                    # integer, default 0
 *   expDir: exp/demo           # optional
 *   corpus: {...}              # sections declared by stages (prepare declares `corpus`)
 *   stages:                    # stage name -> options; run in registration order
 *     prepare: {...}
 *     features: {...}
 *
 * Relative paths (expDir, corpus.dir, any option declared `path: true`) are resolved against
 * the working directory, like Kaldi/icefall recipes that are run from the project root.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Node as YamlNode } from 'yaml';
import { ConfigError } from '../util/errors.ts';
import {
  OptionError,
  validateOptions,
  resolvePaths,
  typeName,
  parseSetArgument,
  type OptionSpec,
  type Schema,
} from '../stages/schema.ts';
import type { RecipeHead, StageRegistry } from '../stages/stage.ts';
import { RESOURCES_SPEC, type ResourcesSection } from './resources.ts';

export interface RecipeStage {
  name: string;
  /** Effective options (defaults filled, paths resolved). */
  options: Record<string, unknown>;
}

export interface Recipe extends RecipeHead {
  /** Cross-validation, seeds and selection, when the recipe declares them (run by src/pipeline/study.ts). */
  study: StudySpec | null;
  /** The recipe file (as given), or '<inline>'. */
  file: string;
  description?: string;
  /** Absolute experiment directory. */
  expDir: string;
  /** Stages present in the recipe, in pipeline order. */
  stages: RecipeStage[];
  /** What each job asks of a cluster (./resources.ts); absent: the defaults. */
  resources?: Partial<ResourcesSection>;
}

export interface LoadRecipeOptions {
  registry: StageRegistry;
  /** `key=value` assignments with dotted keys; values are parsed as YAML. Applied in order. */
  sets?: readonly string[];
  /** Key paths removed after the `sets` (a study's sub-runs drop keys of the base recipe). */
  unsets?: readonly string[];
  /** Overrides `expDir` (the `--exp-dir` flag). */
  expDir?: string;
  /** Overrides `corpus.dir` (the `--corpus-dir` flag). */
  corpusDir?: string;
  /**
   * A separate evaluation corpus (the `--eval-corpus-dir` flag): sets `stages.prepare.evalDir`, so the
   * test split comes from this directory (other speakers, same layout) where the adapter supports it.
   */
  evalCorpusDir?: string;
  /** Base for relative paths (default: process.cwd()). */
  cwd?: string;
}

const ANY_VALUE: OptionSpec = { type: 'custom', expected: 'a YAML value', doc: 'recipe value', validate: (v) => v };
const SPEAKERS: OptionSpec = {
  type: 'array',
  items: { type: 'string', doc: 'speaker id' },
  minItems: 1,
  doc: 'speaker ids',
};

/** The recipe's own top-level keys (stages add sections such as `corpus`). */
export const TOP_LEVEL: Schema = {
  resources: RESOURCES_SPEC,
  name: {
    type: 'string',
    doc: 'experiment name; default expDir is exp/<name>',
    pattern: /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
  },
  description: { type: 'string', optional: true, doc: 'free text' },
  seed: { type: 'number', integer: true, default: 0, min: 0, doc: 'seed of every random choice in every stage' },
  netSeed: {
    type: 'number',
    integer: true,
    min: 0,
    optional: true,
    doc: 'seed of the nets (initial weights, data order) where it differs from seed; `seeds` sets it per replicate',
  },
  expDir: { type: 'string', optional: true, path: true, doc: 'experiment directory (default exp/<name>)' },
  seeds: {
    type: 'array',
    optional: true,
    minItems: 1,
    items: { type: 'number', integer: true, min: 0, doc: 'net seed' },
    doc: 'seed replicates: every net is trained once per seed (netSeed), on the same data; the runs are pooled',
  },
  crossValidation: {
    type: 'object',
    optional: true,
    doc: 'speaker cross-validation: one outer fold per test speaker, the other speakers train; the runs are pooled',
    fields: {
      speakers: {
        ...SPEAKERS,
        minItems: 3,
        doc: 'every speaker of the study (with stages.prepare.evalDir: the training speakers, and one fold tests on evalDir)',
      },
      folds: { ...SPEAKERS, optional: true, doc: 'test speakers of the outer folds to run (default: every speaker)' },
    },
  },
  selection: {
    type: 'object',
    optional: true,
    doc: 'settings chosen inside each outer fold on an inner dev speaker held out from its training speakers, then frozen',
    fields: {
      candidates: {
        type: 'array',
        default: [],
        items: { type: 'map', values: ANY_VALUE, doc: 'recipe key path -> value' },
        doc: 'candidate settings, each a map of recipe key paths to values (the first wins ties)',
      },
      system: { type: 'string', default: 'student', doc: 'the system whose dev score chooses the candidate' },
      metric: {
        type: 'string',
        enum: ['frameAccuracy', 'wer'],
        default: 'frameAccuracy',
        doc: 'the dev score: frame accuracy (eval stage) or WER (score stage)',
      },
      tuneLm: {
        type: 'boolean',
        default: true,
        doc: "LM weight and insertion penalty per system tuned on the inner dev speaker, then frozen in the fold's final runs",
      },
    },
  },
};

/** Cross-validation, seed replicates and nested selection of a recipe (top-level keys). */
export interface StudySpec {
  seeds?: number[];
  crossValidation?: { speakers: string[]; folds?: string[] };
  selection?: {
    candidates: Record<string, unknown>[];
    system: string;
    metric: 'frameAccuracy' | 'wer';
    tuneLm: boolean;
  };
}

/** The top-level keys of a study: a study recipe runs one plain recipe per fold, seed and candidate. */
export const STUDY_KEYS = ['seeds', 'crossValidation', 'selection'] as const;

/** Read and validate a recipe file. */
export function loadRecipe(file: string, opts: LoadRecipeOptions): Recipe {
  let text: string;
  try {
    if (statSync(file).isDirectory())
      throw new ConfigError('recipe is a directory', { file, expected: 'a YAML file', found: 'a directory' });
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('cannot read recipe', {
      file,
      found: (err as NodeJS.ErrnoException).code ?? String(err),
      cause: err,
    });
  }
  return parseRecipe(text, file, opts);
}

/** Parse and validate recipe text; `file` is used in messages. */
export function parseRecipe(text: string, file: string, opts: LoadRecipeOptions): Recipe {
  const { tree, keyLines } = parseRecipeYaml(text, file);
  const origins = applyOverrides(tree, opts);
  const locate = keyLocator(file, origins, keyLines);
  const relocate = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof OptionError) {
        const keyPath = err.location.keyPath;
        throw new ConfigError(err.detail, { ...locate(keyPath), keyPath, expected: err.expected, found: err.found });
      }
      throw err;
    }
  };

  const cwd = opts.cwd ?? process.cwd();
  const { registry } = opts;
  const sectionSchema = registry.sections();
  const topSchema: Schema = { ...TOP_LEVEL, ...sectionSchema };
  const { stages: rawStages, ...rest } = tree;

  const top = relocate(() => resolvePaths(topSchema, validateOptions(topSchema, rest), cwd));
  if (rawStages === undefined) {
    throw new ConfigError('missing required key', {
      ...locate(undefined),
      keyPath: 'stages',
      expected: `a mapping of stage names (${registry.names().join(', ')}) to options`,
      found: 'nothing',
    });
  }
  if (rawStages === null || typeof rawStages !== 'object' || Array.isArray(rawStages)) {
    throw new ConfigError('wrong type', {
      ...locate('stages'),
      keyPath: 'stages',
      expected: 'a mapping of stage names to options',
      found: typeName(rawStages),
    });
  }
  const sections: Record<string, Record<string, unknown>> = {};
  for (const key of Object.keys(sectionSchema)) {
    if (top[key] !== undefined) sections[key] = top[key] as Record<string, unknown>;
  }
  const head: RecipeHead = {
    name: top.name as string,
    seed: top.seed as number,
    ...(top.netSeed !== undefined ? { netSeed: top.netSeed as number } : {}),
    sections,
  };
  const study: StudySpec = {};
  for (const key of STUDY_KEYS) if (top[key] !== undefined) (study as Record<string, unknown>)[key] = top[key];
  if (study.selection && !study.crossValidation) {
    throw new ConfigError('selection needs crossValidation (the inner dev speaker comes from its speakers)', {
      ...locate('selection'),
      keyPath: 'selection',
      expected: 'a crossValidation section',
      found: 'none',
    });
  }
  const stages = resolveStages(rawStages as Record<string, unknown>, registry, head, cwd, locate, relocate);
  if (stages.length === 0) {
    throw new ConfigError('the recipe has no stages', {
      ...locate('stages'),
      keyPath: 'stages',
      expected: `at least one of ${registry.names().join(', ')}`,
      found: 'none',
    });
  }
  return {
    ...head,
    study: Object.keys(study).length ? study : null,
    locate: (keyPath: string) => locate(keyPath),
    file,
    description: top.description as string | undefined,
    expDir: (top.expDir as string | undefined) ?? resolve(cwd, 'exp', head.name),
    stages,
    ...(top.resources !== undefined ? { resources: top.resources as Partial<ResourcesSection> } : {}),
  };
}

/** The recipe's YAML as a mutable tree (a mapping), and the line of every key path in the file. */
function parseRecipeYaml(text: string, file: string): { tree: Record<string, unknown>; keyLines: Map<string, number> } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
    const msg = e.message.split('\n')[0].replace(/ at line \d+, column \d+.*$/, '');
    throw new ConfigError(`malformed YAML at column ${pos.col}: ${msg}`, { file, line: pos.line });
  }
  const keyLines = new Map<string, number>();
  if (doc.contents) collectKeyLines(doc.contents as YamlNode, '', keyLines, lineCounter);
  let raw: unknown = doc.toJS();
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError('a recipe must be a mapping', {
      file,
      line: 1,
      expected: 'a mapping with name and stages',
      found: typeName(raw),
    });
  }
  return { tree: raw as Record<string, unknown>, keyLines };
}

/**
 * Apply the command line's overrides to the tree (--set, --unset, --exp-dir, --corpus-dir,
 * --eval-corpus-dir); returns each overridden key path's origin, so that errors point at the
 * argument instead of the file.
 */
function applyOverrides(tree: Record<string, unknown>, opts: LoadRecipeOptions): Map<string, string> {
  const origins = new Map<string, string>();
  for (const assignment of opts.sets ?? []) {
    const { keyPath, value } = parseSetArgument(assignment);
    setPath(tree, keyPath, value, `--set ${assignment}`);
    origins.set(keyPath, `--set ${assignment}`);
  }
  for (const keyPath of opts.unsets ?? []) deletePath(tree, keyPath);
  if (opts.expDir !== undefined) {
    tree.expDir = opts.expDir;
    origins.set('expDir', `--exp-dir ${opts.expDir}`);
  }
  if (opts.corpusDir !== undefined) {
    setPath(tree, 'corpus.dir', opts.corpusDir, `--corpus-dir ${opts.corpusDir}`);
    origins.set('corpus.dir', `--corpus-dir ${opts.corpusDir}`);
  }
  if (opts.evalCorpusDir !== undefined) {
    setPath(tree, 'stages.prepare.evalDir', opts.evalCorpusDir, `--eval-corpus-dir ${opts.evalCorpusDir}`);
    origins.set('stages.prepare.evalDir', `--eval-corpus-dir ${opts.evalCorpusDir}`);
  }
  return origins;
}

/** Where a key path comes from: the argument that set it (or a key below it), else its (or its parent's) line in the file. */
type KeyLocator = (keyPath: string | undefined) => { file: string; line?: number };

function keyLocator(file: string, origins: Map<string, string>, keyLines: Map<string, number>): KeyLocator {
  return (keyPath) => {
    if (keyPath) {
      for (let p: string | undefined = keyPath; p; p = parentPath(p)) {
        const origin = origins.get(p);
        if (origin) return { file: origin };
      }
      // A key the file does not have, created by an argument that set a key below it.
      if (!keyLines.has(keyPath)) {
        for (const [p, origin] of origins) if (p.startsWith(`${keyPath}.`)) return { file: origin };
      }
      for (let p: string | undefined = keyPath; p; p = parentPath(p)) {
        const line = keyLines.get(p);
        if (line !== undefined) return { file, line };
      }
    }
    return { file };
  };
}

/**
 * The recipe's stages in pipeline order, options validated against each stage's schema (paths
 * resolved against `cwd`); every stage is registered, and every input a stage reads is in the recipe.
 */
function resolveStages(
  stageMap: Record<string, unknown>,
  registry: StageRegistry,
  head: RecipeHead,
  cwd: string,
  locate: KeyLocator,
  relocate: <T>(fn: () => T) => T,
): RecipeStage[] {
  for (const name of Object.keys(stageMap)) {
    if (!registry.has(name)) {
      const keyPath = `stages.${name}`;
      throw new ConfigError(`unknown stage '${name}'`, {
        ...locate(keyPath),
        keyPath,
        expected: `one of ${registry.names().join(', ')}`,
        found: `'${name}'`,
      });
    }
  }
  const stages: RecipeStage[] = [];
  for (const name of registry.names()) {
    if (!(name in stageMap)) continue;
    const keyPath = `stages.${name}`;
    const def = registry.get(name);
    for (const input of def.inputs) {
      if (!(input in stageMap)) {
        throw new ConfigError(`stage '${name}' reads the output of '${input}', which the recipe does not include`, {
          ...locate(keyPath),
          keyPath,
          expected: `stages.${input} in the recipe`,
          found: `stages: ${Object.keys(stageMap).join(', ')}`,
        });
      }
    }
    const schema = registry.schemaOf(name, head);
    const options = relocate(() =>
      resolvePaths(schema, validateOptions(schema, stageMap[name] ?? {}, { keyPath }), cwd),
    );
    stages.push({ name, options });
  }
  for (const { name, options } of stages) {
    const def = registry.get(name);
    relocate(() =>
      def.checkInputs?.(
        options,
        (input) => (def.inputs.includes(input) ? stages.find((s) => s.name === input)?.options : undefined),
        head,
      ),
    );
  }
  return stages;
}

function setPath(tree: Record<string, unknown>, keyPath: string, value: unknown, origin: string): void {
  const parts = keyPath.split('.');
  let node = tree;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = node[parts[i]];
    if (next === undefined || next === null) {
      node[parts[i]] = {};
    } else if (typeof next !== 'object' || Array.isArray(next)) {
      const at = parts.slice(0, i + 1).join('.');
      throw new ConfigError(`cannot set '${keyPath}'`, {
        file: origin,
        keyPath: at,
        expected: 'a mapping',
        found: typeName(next),
      });
    }
    node = node[parts[i]] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

function deletePath(tree: Record<string, unknown>, keyPath: string): void {
  const parts = keyPath.split('.');
  let node: unknown = tree;
  for (const part of parts.slice(0, -1)) {
    node = (node as Record<string, unknown> | undefined)?.[part];
    if (node === null || typeof node !== 'object') return;
  }
  delete (node as Record<string, unknown>)[parts[parts.length - 1]];
}

function parentPath(p: string): string | undefined {
  const m = /^(.*)(\.[^.[\]]+|\[\d+\])$/.exec(p);
  return m ? m[1] : undefined;
}

function collectKeyLines(node: YamlNode, prefix: string, out: Map<string, number>, lc: LineCounter): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const path = prefix ? `${prefix}.${key}` : key;
      const range = (pair.key as YamlNode | null)?.range;
      if (range) out.set(path, lc.linePos(range[0]).line);
      if (pair.value) collectKeyLines(pair.value as YamlNode, path, out, lc);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const path = `${prefix}[${i}]`;
      const range = (item as YamlNode | null)?.range;
      if (range) out.set(path, lc.linePos(range[0]).line);
      if (item) collectKeyLines(item as YamlNode, path, out, lc);
    });
  }
}

/** `am-distill validate` of a recipe: `loadRecipe` with the registry's stages; returns the summary lines. */
export function validateRecipeFile(path: string, registry: StageRegistry): string[] {
  const r = loadRecipe(path, { registry });
  const lines = [`recipe '${r.name}': ${r.stages.length} stage(s), seed ${r.seed}, expDir ${r.expDir}`];
  for (const [k, v] of Object.entries(r.sections)) lines.push(`  ${k}: ${JSON.stringify(v)}`);
  for (const s of r.stages) lines.push(`  ${s.name}: ${JSON.stringify(s.options)}`);
  return lines;
}
