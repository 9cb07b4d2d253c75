/**
 * Studies: a recipe whose top-level `crossValidation`, `seeds` or `selection` asks for more than one
 * run. `am-distill run` then runs one plain recipe per outer fold, seed and (inside each fold)
 * selection candidate, and pools the final runs into one Table 1 (src/report/pool.ts).
 *
 *   crossValidation: { speakers: [a, b, c, d] }   outer fold per test speaker; the others train
 *   seeds: [1, 2, 3]                              every net once per seed (netSeed), same data
 *   selection:                                    chosen per outer fold on an inner dev speaker
 *     candidates: [{stages.distill.hardWeight: 0.5}, {stages.distill.hardWeight: 0.25}]
 *     system: student
 *     metric: frameAccuracy
 *     tuneLm: true
 *
 * Nested selection. In the outer fold that tests speaker s, the inner dev speaker d is the next
 * speaker after s in `speakers` (cyclically); the inner runs are the final run with d in the place
 * of s (train on the remaining speakers, d as their test split), score every candidate on d, and
 * never see s. The candidate with the best dev score wins (the
 * first on ties); with `tuneLm`, each system's LM weight and insertion penalty are the ones the
 * decode stage tuned on d under that candidate. The fold's final runs then train on all of its
 * training speakers (d included) with the frozen settings: the candidate's values and, per system,
 * the LM weights (stages.decode.tuneSplit null, stages.decode.systemWeights), one run per seed.
 * With stages.prepare.evalDir the study has one outer fold, the evaluation directory's speakers,
 * and every speaker of `speakers` trains.
 *
 * Layout under the recipe's expDir:
 *   study.json                   the plan, and per fold the dev score of every candidate and the choice
 *   <fold>/select-<i>/           inner run of candidate i
 *   <fold>/seed-<n>/             final run of seed n (<fold>/final without `seeds`)
 *   pool/<split>/                pooled Table 1 of the final runs (pool.json, pool.md)
 * A run directory starts as hard links of its sibling's finished stages (the runner then reruns
 * exactly the stages whose config or inputs differ: a seed replicate reruns train onwards, a
 * candidate that changes the distill stage reruns distill onwards). Every stage writes a new
 * directory and renames it into place, so a linked file is never modified.
 */
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, FormatError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import { loadRecipe, STUDY_KEYS, type LoadRecipeOptions, type Recipe, type StudySpec } from './recipe.ts';
import { runPipeline, STAGE_RECORD, type RunOptions, type RunReport } from './runner.ts';
import type { StageRegistry } from '../stages/stage.ts';
import { writePool, type PoolFoldChoice } from '../report/pool.ts';
import { EVAL_JSON, readEvalFile } from '../formats/eval.ts';
import { readDecodeSummary } from '../formats/decode.ts';
import { readScoreSummary, SCORE_JSON } from '../formats/score.ts';

export const STUDY_JSON = 'study.json';
export const STUDY_FORMAT = 'am-distill.study';

export interface StudyRunOptions extends Omit<LoadRecipeOptions, 'registry'>, Omit<RunOptions, 'registry' | 'log'> {
  registry: StageRegistry;
  log?: Logger;
}

/** One outer fold: who tests, who trains. */
export interface StudyFold {
  /** Directory name and label: the test speaker, 'eval' (evalDir), or 'all' without cross-validation. */
  label: string;
  /** Test speakers; null: the recipe's own (evalDir, or no cross-validation). */
  test: string[] | null;
  /** Training speakers; null: the recipe's own. */
  train: string[] | null;
  /** Inner dev speaker for selection (null without selection). */
  innerDev: string | null;
}

export interface CandidateScore {
  candidate: number;
  settings: Record<string, unknown>;
  /** Dev score of the selection system: frame accuracy (fraction) or WER (percent). */
  score: number;
  /** LM weight and penalty per system tuned on the inner dev speaker. */
  lmWeights: Record<string, { lmWeight: number; wordInsertionPenalty: number }> | null;
}

export interface StudyFoldResult {
  fold: StudyFold;
  candidates: CandidateScore[];
  /** Index of the chosen candidate (null without selection). */
  chosen: number | null;
  /** Final runs: seed -> experiment directory. */
  runs: { seed: number | null; expDir: string }[];
}

export interface StudyReport {
  recipe: string;
  expDir: string;
  folds: StudyFoldResult[];
  /** Pooled splits -> pool directory. */
  pools: Record<string, string>;
  reports: RunReport[];
}

/** The outer folds of a study recipe. */
export function studyFolds(recipe: Recipe, registry: StageRegistry): StudyFold[] {
  const study = recipe.study ?? {};
  const cv = study.crossValidation;
  const innerDevOf = (test: string | null, train: string[]): string | null => {
    if (!study.selection || !cv) return null;
    if (test === null) return train[train.length - 1];
    const i = cv.speakers.indexOf(test);
    for (let k = 1; k < cv.speakers.length; k++) {
      const s = cv.speakers[(i + k) % cv.speakers.length];
      if (train.includes(s)) return s;
    }
    return null;
  };
  if (!cv) return [{ label: 'all', test: null, train: null, innerDev: null }];
  const where = (key: string) => recipe.locate?.(key) ?? { file: recipe.file };
  const dup = cv.speakers.find((s, i) => cv.speakers.indexOf(s) !== i);
  if (dup)
    throw new ConfigError('a speaker is listed twice', {
      ...where('crossValidation.speakers'),
      keyPath: 'crossValidation.speakers',
      expected: 'distinct speakers',
      found: dup,
    });
  const prepare = recipe.stages.find((s) => s.name === 'prepare');
  const adapterKeys = prepare ? registry.schemaOf('prepare', recipe) : {};
  if (!prepare || !['trainSpeakers', 'testSpeakers', 'devSpeakers'].every((k) => k in adapterKeys)) {
    throw new ConfigError(
      'crossValidation needs a corpus adapter with trainSpeakers, devSpeakers and testSpeakers options (fsdd, ...)',
      {
        ...where('crossValidation'),
        keyPath: 'crossValidation',
        expected: 'a prepare stage whose adapter chooses speakers by name',
        found: String((recipe.sections.corpus as { name?: string } | undefined)?.name ?? 'none'),
      },
    );
  }
  if (prepare.options.evalDir) {
    const train = [...cv.speakers];
    return [{ label: 'eval', test: null, train, innerDev: innerDevOf(null, train) }];
  }
  const folds = cv.folds ?? cv.speakers;
  for (const s of folds) {
    if (!cv.speakers.includes(s))
      throw new ConfigError('a fold tests a speaker not in crossValidation.speakers', {
        ...where('crossValidation.folds'),
        keyPath: 'crossValidation.folds',
        expected: `one of ${cv.speakers.join(', ')}`,
        found: s,
      });
  }
  return folds.map((s) => {
    const train = cv.speakers.filter((x) => x !== s);
    return { label: s, test: [s], train, innerDev: innerDevOf(s, train) };
  });
}

const set = (key: string, value: unknown) => `${key}=${JSON.stringify(value)}`;

/** Another final run of the fold with finished stages (this invocation's first seed, or one of an earlier invocation), or null. */
function finishedSibling(foldDir: string, dir: string): string | null {
  if (!existsSync(foldDir)) return null;
  const names = readdirSync(foldDir)
    .filter((n) => /^(seed-\d+|final)$/.test(n))
    .sort();
  const found = names
    .map((n) => join(foldDir, n))
    .find((d) => d !== dir && existsSync(join(d, 'prepare', STAGE_RECORD)));
  return found ?? null;
}

/** Hard-link every finished stage directory of `from` into `to` where `to` lacks it. */
async function seedFrom(from: string, to: string): Promise<void> {
  if (!existsSync(from)) return;
  await fsp.mkdir(to, { recursive: true });
  for (const e of await fsp.readdir(from, { withFileTypes: true })) {
    if (
      !e.isDirectory() ||
      e.name.startsWith('.') ||
      !existsSync(join(from, e.name, STAGE_RECORD)) ||
      existsSync(join(to, e.name))
    )
      continue;
    await linkTree(join(from, e.name), join(to, e.name));
  }
}

async function linkTree(src: string, dst: string): Promise<void> {
  const tmp = `${dst}.link.${process.pid}.tmp`;
  await fsp.rm(tmp, { recursive: true, force: true });
  const walk = async (s: string, d: string) => {
    await fsp.mkdir(d, { recursive: true });
    for (const e of await fsp.readdir(s, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(s, e.name), join(d, e.name));
      else await fsp.link(join(s, e.name), join(d, e.name));
    }
  };
  await walk(src, tmp);
  await fsp.rename(tmp, dst);
}

/** The dev score of `system` in a finished inner run. */
export function devScore(expDir: string, system: string, metric: 'frameAccuracy' | 'wer', split: string): number {
  if (metric === 'frameAccuracy') {
    const file = join(expDir, 'eval', EVAL_JSON);
    const e = readEvalFile(join(expDir, 'eval'));
    const acc = e.splits[split]?.models[system]?.accuracy;
    if (typeof acc !== 'number')
      throw new FormatError(`no ${split} frame accuracy for system '${system}'`, {
        file,
        expected: `splits.${split}.models.${system}.accuracy`,
        found: Object.keys(e.splits[split]?.models ?? {}).join(', ') || 'none',
      });
    return acc;
  }
  const file = join(expDir, 'score', SCORE_JSON);
  const s = readScoreSummary(file);
  const r = s.results.find((x) => x.system === system && x.split === split);
  if (!r)
    throw new FormatError(`no ${split} WER for system '${system}'`, {
      file,
      expected: `a result for ${system} on ${split}`,
      found: s.results.map((x) => `${x.system}/${x.split}`).join(', '),
    });
  return r.wer;
}

/** LM weight and insertion penalty per system as the decode stage chose them. */
export function decodedWeights(expDir: string): Record<string, { lmWeight: number; wordInsertionPenalty: number }> {
  const d = readDecodeSummary(join(expDir, 'decode'));
  return Object.fromEntries(
    d.systems.map((s) => [s.name, { lmWeight: s.lmWeight, wordInsertionPenalty: s.wordInsertionPenalty }]),
  );
}

/** Index of the best score (highest accuracy, lowest WER); the first on ties. */
export function bestCandidate(scores: readonly number[], metric: 'frameAccuracy' | 'wer'): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) {
    if (metric === 'wer' ? scores[i] < scores[best] : scores[i] > scores[best]) best = i;
  }
  return best;
}

/**
 * Speaker overrides of a fold's runs. An inner run is the final run with the inner dev speaker in
 * the place of the test speakers (its `test` split is the selection's dev data); the outer test
 * speakers are in none of its splits, and its dev split is the recipe's own (e.g. held-out takes).
 */
function speakerSets(fold: StudyFold, inner: boolean): { sets: string[]; unsets: string[] } {
  if (fold.train === null) return { sets: [], unsets: [] };
  if (inner) {
    const dev = fold.innerDev!;
    return {
      sets: [
        set(
          'stages.prepare.trainSpeakers',
          fold.train.filter((s) => s !== dev),
        ),
        set('stages.prepare.testSpeakers', [dev]),
      ],
      unsets: ['stages.prepare.evalDir'],
    };
  }
  return {
    sets: [
      set('stages.prepare.trainSpeakers', fold.train),
      ...(fold.test ? [set('stages.prepare.testSpeakers', fold.test)] : []),
    ],
    unsets: [],
  };
}

/** The split of an inner run that holds the inner dev speaker. */
const INNER_DEV_SPLIT = 'test';

/** Run a study recipe (see the module comment). A recipe without study keys runs as one experiment. */
export async function runStudy(file: string, opts: StudyRunOptions): Promise<StudyReport> {
  const log = opts.log ?? defaultLog;
  const base = loadRecipe(file, opts);
  if (!base.study) {
    const report = await runPipeline(base, { ...opts, log });
    return { recipe: file, expDir: base.expDir, folds: [], pools: {}, reports: [report] };
  }
  const study: StudySpec = base.study;
  if (study.selection && (opts.fromStage !== undefined || opts.toStage !== undefined)) {
    throw new ConfigError(
      '--from-stage and --to-stage do not apply to a study with selection (its inner runs need eval, decode and score)',
      {
        file: opts.fromStage !== undefined ? `--from-stage ${opts.fromStage}` : `--to-stage ${opts.toStage}`,
        expected: 'a recipe without selection, or no stage range',
        found: 'selection',
      },
    );
  }
  const folds = studyFolds(base, opts.registry);
  const seeds: (number | null)[] = study.seeds ?? [null];
  // A selection with no candidates and no LM tuning has nothing to choose.
  const sel =
    study.selection && (study.selection.candidates.length > 0 || study.selection.tuneLm) ? study.selection : undefined;
  const candidates = sel ? (sel.candidates.length ? sel.candidates : [{}]) : [];
  const runs = folds.length * (seeds.length + candidates.length);
  log.info(
    `study ${base.name}: ${folds.length} fold(s) x (${candidates.length} selection run(s) + ${seeds.length} final run(s)) = ${runs} runs in ${base.expDir}`,
  );
  const sub = (expDir: string, sets: string[], unsets: string[]): Recipe =>
    loadRecipe(file, { ...opts, expDir, sets: [...(opts.sets ?? []), ...sets], unsets: [...STUDY_KEYS, ...unsets] });
  const reports: RunReport[] = [];
  const results: StudyFoldResult[] = [];
  let done = 0;
  const run = async (recipe: Recipe, what: string, siblingDir: string | null) => {
    done++;
    log.info(`study ${base.name}: run ${done}/${runs}: ${what} (${recipe.expDir})`);
    if (siblingDir) await seedFrom(siblingDir, recipe.expDir);
    reports.push(await runPipeline(recipe, { ...opts, log }));
  };
  const writeStudy = () =>
    writeJsonAtomic(join(base.expDir, STUDY_JSON), {
      format: STUDY_FORMAT,
      version: 1,
      recipe: base.file,
      name: base.name,
      seeds: study.seeds ?? null,
      crossValidation: study.crossValidation ?? null,
      selection: sel ?? null,
      folds: results.map((r) => ({
        ...r,
        runs: r.runs.map((x) => ({ seed: x.seed, dir: x.expDir.slice(base.expDir.length + 1) })),
      })),
    });
  await fsp.mkdir(base.expDir, { recursive: true });

  for (const fold of folds) {
    const foldDir = fold.label === 'all' ? base.expDir : join(base.expDir, fold.label);
    const result: StudyFoldResult = { fold, candidates: [], chosen: null, runs: [] };
    results.push(result);
    const frozen: string[] = [];
    if (sel) {
      const inner = speakerSets(fold, true);
      const tune = sel.tuneLm ? [set('stages.decode.tuneSplit', INNER_DEV_SPLIT), set('stages.decode.splits', [])] : [];
      for (let c = 0; c < candidates.length; c++) {
        const settings = candidates[c];
        const dir = join(foldDir, `select-${c}`);
        const recipe = sub(
          dir,
          [...inner.sets, ...tune, ...Object.entries(settings).map(([k, v]) => set(k, v))],
          inner.unsets,
        );
        await run(
          recipe,
          `fold ${fold.label}, selection candidate ${c + 1}/${candidates.length} on dev speaker ${fold.innerDev}`,
          c > 0 ? join(foldDir, 'select-0') : null,
        );
        const score = devScore(dir, sel.system, sel.metric, INNER_DEV_SPLIT);
        result.candidates.push({ candidate: c, settings, score, lmWeights: sel.tuneLm ? decodedWeights(dir) : null });
        await writeStudy();
      }
      const chosen = bestCandidate(
        result.candidates.map((x) => x.score),
        sel.metric,
      );
      result.chosen = chosen;
      const pick = result.candidates[chosen];
      log.info(
        `study ${base.name}: fold ${fold.label}: candidate ${chosen + 1} chosen on ${fold.innerDev} (${sel.metric} ${result.candidates.map((x) => x.score.toFixed(4)).join(' / ')})`,
      );
      frozen.push(...Object.entries(pick.settings).map(([k, v]) => set(k, v)));
      if (pick.lmWeights)
        frozen.push(set('stages.decode.tuneSplit', null), set('stages.decode.systemWeights', pick.lmWeights));
    }
    const outer = speakerSets(fold, false);
    for (const seed of seeds) {
      const dir = join(foldDir, seed === null ? 'final' : `seed-${seed}`);
      const recipe = sub(dir, [...outer.sets, ...frozen, ...(seed === null ? [] : [set('netSeed', seed)])], []);
      await run(recipe, `fold ${fold.label}${seed === null ? '' : `, seed ${seed}`}`, finishedSibling(foldDir, dir));
      result.runs.push({ seed, expDir: recipe.expDir });
      await writeStudy();
    }
  }

  const pools = await writePools(base, results, sel, log);
  await writeStudy();
  return { recipe: file, expDir: base.expDir, folds: results, pools, reports };
}

/** Pool the final runs of every fold and seed, one pool per test split: split -> its directory. */
async function writePools(
  base: Recipe,
  results: readonly StudyFoldResult[],
  sel: StudySpec['selection'] | undefined,
  log: Logger,
): Promise<Record<string, string>> {
  const pools: Record<string, string> = {};
  const finals = results.flatMap((r) => r.runs.map((x) => x.expDir));
  if (finals.length < 2) return pools;
  const opts = { seed: base.seed, labels: runLabels(results), choices: foldChoices(results, sel) };
  for (const split of pooledSplits(finals[0])) {
    const out = join(base.expDir, 'pool', split);
    await writePool(finals, out, { ...opts, split });
    pools[split] = out;
    log.info(`study ${base.name}: pooled ${finals.length} runs on ${split}: ${join(out, 'pool.md')}`);
  }
  return pools;
}

/** What each fold chose on its inner dev speaker, for the pool (undefined without selection). */
export function foldChoices(
  results: readonly StudyFoldResult[],
  sel: StudySpec['selection'] | undefined,
): PoolFoldChoice[] | undefined {
  if (!sel) return undefined;
  return results
    .filter((r) => r.chosen !== null && r.candidates.length > 0)
    .map((r) => ({
      fold: r.fold.label,
      innerDev: r.fold.innerDev,
      metric: sel.metric,
      system: sel.system,
      candidates: r.candidates.map((c) => ({ settings: c.settings, score: c.score })),
      chosen: r.chosen!,
      lmWeights: r.candidates[r.chosen!].lmWeights,
    }));
}

/** One label per final run for the pool: `<fold>` or `<fold>/seed-<n>` (directory names repeat across folds). */
export function runLabels(results: readonly StudyFoldResult[]): string[] {
  return results.flatMap((r) => r.runs.map((x) => (x.seed === null ? r.fold.label : `${r.fold.label}/seed-${x.seed}`)));
}

/** The splits a final run evaluated (eval/<split>.utts.jsonl), test first. */
function pooledSplits(expDir: string): string[] {
  const dir = join(expDir, 'eval');
  if (!existsSync(dir)) return [];
  const splits = readdirSync(dir)
    .filter((f) => f.endsWith('.utts.jsonl'))
    .map((f) => f.slice(0, -'.utts.jsonl'.length))
    .filter((s) => s !== 'dev' && s !== 'train');
  return splits.sort((a, b) => (a === 'test' ? -1 : b === 'test' ? 1 : a.localeCompare(b)));
}
