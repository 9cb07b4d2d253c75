/**
 * Stage definitions and the stage registry. A stage is one arrow of docs/design.md section 2:
 * one library function wrapped with its option schema, the upstream stages it reads and
 * the external inputs (corpus directories) it depends on. Later stages plug in by calling
 * `registry.register(def)` in src/stages/index.ts; the registration order is the
 * pipeline order.
 */
import { promises as fsp } from 'node:fs';
import type { Logger } from '../util/log.ts';
import { ConfigError } from '../util/errors.ts';
import type { Schema } from './schema.ts';
import type { ShardSpec, StageSharding } from './shards.ts';

/** Skip summary as produced by `SkipCounter.toJSON()`. */
export interface SkipSummary {
  done: number;
  skipped: number;
  reasons: { reason: string; count: number; examples: string[] }[];
}

/** The recipe parts a stage sees besides its own options. */
export interface RecipeHead {
  name: string;
  seed: number;
  /**
   * Seed of the nets (initial weights and data order of baseline, members, students, control)
   * where it differs from `seed`: a seed replicate (`seeds` in the recipe) changes only this, so
   * the data stages of the replicates are identical. Undefined: `seed`.
   */
  netSeed?: number;
  /** Top-level sections declared by stages (e.g. `corpus`), validated. */
  sections: Record<string, Record<string, unknown>>;
  /**
   * Where a dotted key path of the recipe was written (file and line, or the `--set` argument),
   * so that a stage can report a bad option it only detects while running.
   */
  locate?(keyPath: string): { file: string; line?: number };
}

/** A file or directory outside the experiment directory whose state a stage depends on. */
export interface ExternalInput {
  path: string;
  /**
   * How its state is fingerprinted:
   * - `stat`: relative path, size and mtime of every file (cheap; used for corpora, where
   *   hashing tens of GB on every run would dominate the run time);
   * - `content`: sha256 of every file's bytes (for small inputs such as a lexicon).
   */
  mode: 'stat' | 'content';
}

export interface StageContext<O = Record<string, unknown>> {
  recipe: RecipeHead;
  /** Effective options of this stage (defaults filled, paths resolved). */
  options: O;
  /** Temporary output directory (exists, empty); renamed to `<expDir>/<stage>` on success. */
  outDir: string;
  /** Final output directory of an upstream stage (one listed in `inputs`). */
  inputDir(stage: string): string;
  expDir: string;
  log: Logger;
  /**
   * A directory (not created) that survives an interrupted run of this stage: the same config and
   * inputs give the same path, `<expDir>/.<stage>.resume/<key>`, so a long stage can keep its
   * checkpoints there and continue after a crash, Ctrl-C or a killed session. The runner removes
   * it once the stage completes, and the directories of other configs when the stage starts.
   * `adoptResumeDir` makes it the stage's output.
   */
  resumeDir: string;
  /**
   * Set when the stage runs as shard `index` of `count` (src/stages/shards.ts): a stage whose
   * shards' `run` calls its own run function with it does its block of the units only.
   */
  shard?: ShardSpec;
}

/**
 * Make the stage's resume directory its output: the (empty) temporary output directory is replaced
 * by the resume directory in one rename, so the outputs are never half moved.
 */
export async function adoptResumeDir(ctx: Pick<StageContext, 'resumeDir' | 'outDir'>): Promise<void> {
  await fsp.rmdir(ctx.outDir);
  await fsp.rename(ctx.resumeDir, ctx.outDir);
}

export interface StageResult {
  /** Counts to record and print, e.g. `{ utterances: 120, frames: 35120 }`. */
  counts?: Record<string, number>;
  /** Utterances skipped for a reason (Kaldi's "Done N, failed M"). */
  skipped?: SkipSummary;
  /** Anything else worth recording in stage.json (e.g. per-split counts). */
  details?: Record<string, unknown>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the registry holds stages of every option type
export interface StageDefinition<O = any> {
  name: string;
  /** One line: what the stage does. */
  doc: string;
  /** Upstream stages whose outputs this stage reads; registered earlier, present in the recipe. */
  inputs: readonly string[];
  /** Options under `stages.<name>`; a function when it depends on the recipe (prepare: adapter). */
  schema: Schema | ((recipe: RecipeHead) => Schema);
  /**
   * For a recipe-dependent `schema`: the dotted recipe key (in this stage's `sections`, with an
   * enum) whose value selects it, e.g. `corpus.name`; the published JSON Schema has one variant
   * per value.
   */
  schemaKey?: string;
  /**
   * Top-level recipe sections this stage owns (e.g. `corpus` for prepare). They are validated
   * with the recipe and are part of this stage's config hash.
   */
  sections?: Schema;
  /**
   * External inputs whose state joins the input hash. May first fetch them (a download that is
   * idempotent: it does nothing when the files are already there).
   */
  externalInputs?(recipe: RecipeHead, options: O, log: Logger): Promise<ExternalInput[]>;
  /**
   * Checks of this stage's options against those of its inputs (validated), when the recipe is
   * loaded, so a mismatch stops the run before its first stage. Throws an OptionError whose key
   * path is the full one (`stages.<name>.<key>`); the recipe loader adds the file and line.
   * `recipe`: the recipe's sections (e.g. the corpus), for checks that depend on them.
   */
  checkInputs?(
    options: O,
    inputOptions: (stage: string) => Record<string, unknown> | undefined,
    recipe: RecipeHead,
  ): void;
  /** The stage seeds nets with `recipe.netSeed` (which then joins its config hash). */
  netSeeded?: boolean;
  /** Shard jobs of the stage and their merge (src/stages/shards.ts); absent: one job. */
  shards?: StageSharding<O>;
  run(ctx: StageContext<O>): Promise<StageResult>;
}

export class StageRegistry {
  private readonly defs = new Map<string, StageDefinition>();

  register(def: StageDefinition): this {
    if (!/^[a-z][a-z0-9-]*$/.test(def.name))
      throw new Error(`stage name '${def.name}' must be lower-case letters, digits, '-'`);
    if (this.defs.has(def.name)) throw new Error(`stage '${def.name}' is registered twice`);
    for (const input of def.inputs) {
      if (!this.defs.has(input))
        throw new Error(`stage '${def.name}' reads '${input}', which must be registered before it`);
    }
    this.defs.set(def.name, def);
    return this;
  }

  has(name: string): boolean {
    return this.defs.has(name);
  }

  /** Stage names in pipeline order. */
  names(): string[] {
    return [...this.defs.keys()];
  }

  /** The stage definition; ConfigError listing the known stages when the name is unknown. */
  get(name: string, where: { file?: string; keyPath?: string; line?: number } = {}): StageDefinition {
    const def = this.defs.get(name);
    if (!def) {
      throw new ConfigError(`unknown stage '${name}'`, {
        ...where,
        expected: `one of ${this.names().join(', ')}`,
        found: `'${name}'`,
      });
    }
    return def;
  }

  /** All top-level sections declared by registered stages. */
  sections(): Schema {
    const out: Schema = {};
    for (const def of this.defs.values()) Object.assign(out, def.sections ?? {});
    return out;
  }

  schemaOf(name: string, recipe: RecipeHead): Schema {
    const def = this.get(name);
    return typeof def.schema === 'function' ? def.schema(recipe) : def.schema;
  }
}
