/**
 * The report's input from an experiment directory: what the earlier stages wrote (prepare's
 * corpus.json, features' and every stage's stage.json, train's models.json and model sidecars,
 * targets.json, distill's students.json, eval.json, lm.json, score.json) assembled into one
 * `ReportInput`. Nothing is recomputed here: frame accuracies come from eval.json, WER counts from
 * score.json, so the report shows exactly what those stages measured.
 *
 * Names: the train stage calls the members `member-1` .. `member-K`, as the report does.
 * Temperature sweep: the eval stage's students of the other target sets at other temperatures
 * (the dense set is the top-k comparison, not a sweep point).
 */
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpus, platform, arch } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../util/errors.ts';
import { hashConfig } from '../util/hash.ts';
import { packageRoot, packageVersion } from '../util/package-root.ts';
import { readScoreSummary, SCORE_JSON, type ScoreSummary } from '../formats/score.ts';
import { reportWerInputs } from './score-input.ts';
import { evalUtterancesFile, readEvalFile, type EvalFile, type EvalUtteranceLine } from '../formats/eval.ts';
import { parseSupervision, SUPERVISIONS_FILE } from '../corpus/manifest.ts';
import {
  readModelsFile,
  readStudentsFile,
  STUDENTS_JSON,
  type ModelsFile,
  type StudentEntry,
  type StudentsFile,
} from '../formats/models.ts';
import { readTargetsFile, TARGETS_JSON, type TargetsFile } from '../formats/targets.ts';
import type { AlignSummary } from '../align/corpus.ts';
import {
  CONTROL_ID,
  MAIN_SPLITS,
  MEMBER_ID,
  REPORT_FORMAT_VERSION,
  REPORT_INPUT_FORMAT,
  type AveragedModel,
  type CorpusInfo,
  type EpochPoint,
  type FidelityFigures,
  type FidelityRow,
  type FrameAccuracyGainEvidence,
  type LabelsInput,
  type OtherSplitInput,
  type ReportInput,
  type SoftTargetInfo,
  type SplitInfo,
  type StageJobsInfo,
  type SystemInput,
  type TemperaturePoint,
  type UtteranceCountsInput,
} from './types.ts';

/** Where each stage wrote its output (absent stages: null). */
export interface ExperimentDirs {
  expDir: string;
  prepare?: string | null;
  features?: string | null;
  /** The align stage's output (its config.json says how the VTLP copies were labelled). */
  align?: string | null;
  train: string;
  targets?: string | null;
  distill?: string | null;
  eval: string;
  lm?: string | null;
  score?: string | null;
}

export interface ExperimentReportOptions {
  /** Stages in pipeline order whose stage.json durations go into `stages` (default: none). */
  stageNames?: readonly string[];
  /** The whole pipeline's config hash (default: hash of the stage records' config hashes). */
  configHash?: string;
  /** Corpus name and description (default: recipe.json's name and description). */
  corpusName?: string;
  description?: string;
  recipeFile?: string;
}

/** A JSON file of an earlier stage, checked for its format tag (null: any); FormatErrors name the file. */
export function readJson<T>(path: string, format: string | null, what: string): T {
  if (!existsSync(path))
    throw new FormatError(`no ${what}`, {
      file: path,
      expected: `${what} written by an earlier stage`,
      found: 'no such file',
    });
  let j: unknown;
  try {
    j = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new FormatError(`${what} is not valid JSON`, {
      file: path,
      cause,
      expected: 'JSON',
      found: (cause as Error).message,
    });
  }
  const f = (j as { format?: unknown }).format;
  if (format !== null && f !== format)
    throw new FormatError(`not a ${what}`, { file: path, expected: `format ${format}`, found: String(f) });
  return j as T;
}

export function readOptionalJson<T>(path: string | null, format: string | null, what: string): T | null {
  return path && existsSync(path) ? readJson<T>(path, format, what) : null;
}

/**
 * Which nets trained on the training split's VTLP copies (models.json `data.vtlpCopies`, the main
 * student's `vtlpCopies`; files made before the options: all did). null when all did.
 */
export function vtlpCopiesFor(
  models: Pick<ModelsFile, 'data'>,
  student: Pick<StudentEntry, 'vtlpCopies'>,
): NonNullable<SplitInfo['vtlpCopiesFor']> | null {
  const use = { models: models.data.vtlpCopies ?? true, student: student.vtlpCopies ?? true };
  return use.models && use.student ? null : use;
}

/**
 * Train/dev/test sizes from prepare's corpus.json and the features stage record; `copiesFor`
 * (`vtlpCopiesFor`) goes on a training split that has VTLP copies.
 */
export function splitInfo(
  dirs: ExperimentDirs,
  copiesFor: NonNullable<SplitInfo['vtlpCopiesFor']> | null = null,
): CorpusInfo['splits'] {
  const corpus = readOptionalJson<{
    counts?: Record<string, { supervisions: number; speakers: number; durationSec: number }>;
  }>(dirs.prepare ? join(dirs.prepare, 'corpus.json') : null, null, 'corpus summary');
  const feats = readOptionalJson<{ details?: { splits?: Record<string, { frames: number; vtlpWarps?: number[] }> } }>(
    dirs.features ? join(dirs.features, 'stage.json') : null,
    null,
    'features stage record',
  );
  const alignCfg = readOptionalJson<{ options?: { vtlpCopies?: string } }>(
    dirs.align ? join(dirs.align, 'config.json') : null,
    'am-distill.align-config',
    'align config',
  );
  const out: CorpusInfo['splits'] = {};
  for (const split of ['train', 'dev', 'test'] as const) {
    const c = corpus?.counts?.[split];
    if (!c) continue;
    const s: SplitInfo = { utterances: c.supervisions, speakers: c.speakers, durationSec: c.durationSec };
    const f = feats?.details?.splits?.[split];
    // VTLP copies have exactly their source's frames: the utterances' own are 1 / (1 + copies).
    const warps = Array.isArray(f?.vtlpWarps) && f.vtlpWarps.length > 0 ? f.vtlpWarps : null;
    if (typeof f?.frames === 'number') s.frames = warps ? f.frames / (1 + warps.length) : f.frames;
    if (warps) s.vtlpWarps = warps;
    if (warps && split === 'train' && copiesFor) s.vtlpCopiesFor = copiesFor;
    // Align outputs made before the option realigned the copies.
    if (warps && alignCfg) s.vtlpAlignment = alignCfg.options?.vtlpCopies === 'inherit' ? 'inherit' : 'realign';
    out[split] = s;
  }
  return out;
}

interface Sidecar {
  shape: { inputDim: number; hiddenLayers: number; hiddenUnits: number; numSenones: number };
  training?: {
    backend?: string;
    history?: { epoch: number; trainLoss: number; devAccuracy: number | null; learningRate: number }[];
    averaged?: { fromEpoch: number; toEpoch: number; devAccuracy: number | null };
  };
}

/** The averaged-model record of a sidecar (absent: final/ is the best epoch). */
function averagedOf(s: Sidecar): { averaged?: AveragedModel } {
  const a = s.training?.averaged;
  return a ? { averaged: { fromEpoch: a.fromEpoch, toEpoch: a.toEpoch, devFrameAccuracy: a.devAccuracy } } : {};
}

function readSidecar(modelDir: string): Sidecar {
  return readJson<Sidecar>(join(modelDir, 'sidecar.json'), null, 'model sidecar');
}

/** Weights + biases of an MLP of this shape. */
export function parameterCount(s: Sidecar['shape']): number {
  let n = 0,
    prev = s.inputDim;
  for (let l = 0; l < s.hiddenLayers; l++) {
    n += prev * s.hiddenUnits + s.hiddenUnits;
    prev = s.hiddenUnits;
  }
  return n + prev * s.numSenones + s.numSenones;
}

function curveOf(s: Sidecar): EpochPoint[] {
  return (s.training?.history ?? []).map((h) => ({
    epoch: h.epoch,
    trainLoss: h.trainLoss,
    devFrameAccuracy: h.devAccuracy ?? null,
    learningRate: h.learningRate,
  }));
}

/** The commit of the am-distill checkout; null for an installed package (whose folder has no .git of its own). */
function gitCommit(): string | null {
  if (!existsSync(join(packageRoot(), '.git'))) return null;
  try {
    return (
      execFileSync('git', ['rev-parse', 'HEAD'], {
        cwd: packageRoot(),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() || null
    );
  } catch {
    return null;
  }
}

function versions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const out: Record<string, string> = { node: process.versions.node };
  const pkg = (name: string) => {
    try {
      out[name] = (require(`${name}/package.json`) as { version: string }).version;
    } catch {
      /* not installed */
    }
  };
  try {
    out['am-distill'] = packageVersion();
  } catch {
    /* outside a checkout */
  }
  pkg('@tensorflow/tfjs-core');
  pkg('@tensorflow/tfjs-backend-wasm');
  pkg('@tensorflow/tfjs-node');
  pkg('@tensorflow/tfjs-node-gpu');
  pkg('apache-arrow');
  return out;
}

/**
 * Each non-blank line of a JSON Lines file, parsed, in order, with its 1-based number and text; a
 * line that is not JSON is a FormatError naming the file and line (`expected`: what a line holds).
 */
function forEachJsonLine(
  file: string,
  expected: string,
  each: (value: unknown, line: number, text: string) => void,
): void {
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((text, i) => {
      if (text.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (cause) {
        throw new FormatError('not a JSON line', { file, line: i + 1, cause, expected, found: text.slice(0, 60) });
      }
      each(value, i + 1, text);
    });
}

/** The eval stage's per-utterance frame counts (`<split>.utts.jsonl`), checked line by line. */
export function readEvalUtterances(file: string): EvalUtteranceLine[] {
  const out: EvalUtteranceLine[] = [];
  const seen = new Set<string>();
  forEachJsonLine(file, '{"uttId", "frames", "correct": {model: count}}', (value, line, text) => {
    const j = value as EvalUtteranceLine;
    const bad =
      typeof j?.uttId !== 'string' ||
      !Number.isInteger(j.frames) ||
      j.frames < 0 ||
      typeof j.correct !== 'object' ||
      j.correct === null ||
      Object.values(j.correct).some((c) => !Number.isInteger(c) || c < 0 || c > j.frames);
    if (bad)
      throw new FormatError('bad per-utterance frame counts', {
        file,
        line,
        expected: 'uttId (string), frames (integer >= 0), correct: {model: integer in [0, frames]}',
        found: text.slice(0, 120),
      });
    if (seen.has(j.uttId))
      throw new FormatError('utterance listed twice', {
        file,
        line,
        uttId: j.uttId,
        expected: 'each utterance once',
        found: 'a repeat',
      });
    seen.add(j.uttId);
    out.push(j);
  });
  return out;
}

/**
 * Speaker of every utterance of a split, from the prepare stage's supervisions
 * (`<prepare>/<split>/supervisions.jsonl`); an empty map when the file is absent.
 */
export function readSplitSpeakers(prepareDir: string | null | undefined, split: string): Record<string, string> {
  const file = prepareDir ? join(prepareDir, split, SUPERVISIONS_FILE) : null;
  if (!file || !existsSync(file)) return {};
  const out: Record<string, string> = {};
  forEachJsonLine(file, 'a supervision', (value, line) => {
    const s = parseSupervision(value, file, line);
    out[s.id] = s.speaker;
  });
  return out;
}

/**
 * Every decoded split besides train, dev and test (score.json, in decode order) with each report
 * system's WER counts and, where eval.json scored the split, its frame accuracy. `reportId` maps
 * the stages' model names to report system ids; other models (sweep students) are left out.
 */
export function otherSplitsOf(
  score: Pick<ScoreSummary, 'splits' | 'results'>,
  evalFile: Pick<EvalFile, 'splits'>,
  reportId: ReadonlyMap<string, string>,
): OtherSplitInput[] {
  return score.splits
    .filter((split) => !MAIN_SPLITS.includes(split))
    .flatMap((split) => {
      const systems: OtherSplitInput['systems'] = {};
      for (const [name, id] of reportId) {
        const r = score.results.find((x) => x.split === split && x.system === name);
        const fa = evalFile.splits[split]?.models[name]?.accuracy ?? null;
        if (r || fa !== null) systems[id] = { frameAccuracy: fa, wer: r ? r.counts : null };
      }
      return Object.keys(systems).length ? [{ split, systems }] : [];
    });
}

/** The labels block of the report from the align stage's summary.json (null without one). */
export function labelsOf(alignDir: string | null): LabelsInput | null {
  const s = readOptionalJson<AlignSummary>(
    alignDir ? join(alignDir, 'summary.json') : null,
    'am-distill.align-summary',
    'align summary',
  );
  if (!s) return null;
  return {
    models: s.training?.models?.map((m) => m.name) ?? [],
    senones: s.numSenones,
    gaussians: s.numGaussians,
    splits: Object.entries(s.splits).map(([split, x]) => ({
      split,
      aligned: x.done,
      failed: x.failed,
      quality: x.labelQuality ?? null,
    })),
  };
}

/** Assemble the report's input from the stage outputs of one experiment. */
export function reportInputFromExperiment(dirs: ExperimentDirs, opts: ExperimentReportOptions = {}): ReportInput {
  const files = readExperimentFiles(dirs);
  const { models, evalFile, targets, score, lm, recipe } = files;
  const wer = score ? reportWerInputs(score) : {};
  const { systems, baseline, members, student, control, baseSidecar } = systemsOf(dirs, files, wer);
  const softTargets = softTargetsOf(targets, student);
  const temperatureSweep = temperatureSweepOf(evalFile, targets, wer, control);
  const { stages, stageJobs, configHashes } = stageRecords(dirs.expDir, opts.stageNames ?? []);

  const corpus: CorpusInfo = {
    name: opts.corpusName ?? recipe?.name ?? 'experiment',
    ...((opts.description ?? recipe?.description) ? { description: opts.description ?? recipe?.description } : {}),
    ...((opts.recipeFile ?? recipe?.file) ? { recipe: opts.recipeFile ?? recipe?.file } : {}),
    numSenones: models.inventory.numSenones,
    ...(lm?.vocabulary !== undefined ? { vocabularySize: lm.vocabulary } : {}),
    splits: splitInfo(dirs, vtlpCopiesFor(models, student)),
  };

  const g = evalFile.summary.test;
  const frameAccuracyGain: FrameAccuracyGainEvidence | null = g
    ? {
        vsMemberMean: g.gainKeptVsMemberMean ?? null,
        ci: g.gainKeptCi
          ? {
              low: g.gainKeptCi.low,
              high: g.gainKeptCi.high,
              confidence: g.gainKeptCi.confidence,
              replicates: g.gainKeptCi.replicates,
              utterances: g.gainKeptCi.utterances,
            }
          : null,
      }
    : null;
  const fidelity = fidelityRows(evalFile, models.data.trainSplit, baseline.name, student.name);

  // Per-utterance test counts under the report's system ids, with each utterance's speaker, for the speaker bootstrap.
  const reportId = new Map<string, string>([
    [baseline.name, 'baseline'],
    ['ensemble', 'ensemble'],
    [student.name, 'student'],
    ...(control ? [[control.name, CONTROL_ID] as [string, string]] : []),
    ...members.map((m) => [m.name, m.name] as [string, string]),
  ]);
  const otherSplits = score ? otherSplitsOf(score, evalFile, reportId) : [];
  const labels = labelsOf(dirs.align ?? null);
  const utteranceCounts = utteranceCountsOf(dirs, score !== null, reportId);

  return {
    format: REPORT_INPUT_FORMAT,
    formatVersion: REPORT_FORMAT_VERSION,
    corpus,
    systems,
    utteranceCounts,
    ...(otherSplits.length ? { otherSplits } : {}),
    ...(labels ? { labels } : {}),
    softTargets,
    temperatureSweep,
    frameAccuracyGain,
    ...(fidelity.length ? { fidelity } : {}),
    stages,
    ...(Object.keys(stageJobs).length ? { stageJobs } : {}),
    environment: {
      backend: baseSidecar.training?.backend ?? 'unknown',
      versions: versions(),
      commit: gitCommit(),
      configHash: opts.configHash ?? hashConfig(configHashes),
      host: `${cpus().length} CPU cores, ${platform()} ${arch()}, node ${process.versions.node}`,
    },
  };
}

/** The stage outputs the report reads (optional ones null where the stage did not run). */
interface ExperimentFiles {
  models: ModelsFile;
  evalFile: EvalFile;
  students: StudentsFile | null;
  targets: TargetsFile | null;
  score: ScoreSummary | null;
  lm: { vocabulary?: number } | null;
  recipe: { name?: string; description?: string; file?: string } | null;
}

function readExperimentFiles(dirs: ExperimentDirs): ExperimentFiles {
  return {
    models: readModelsFile(dirs.train),
    evalFile: readEvalFile(dirs.eval),
    students: dirs.distill && existsSync(join(dirs.distill, STUDENTS_JSON)) ? readStudentsFile(dirs.distill) : null,
    targets: dirs.targets && existsSync(join(dirs.targets, TARGETS_JSON)) ? readTargetsFile(dirs.targets) : null,
    score:
      dirs.score && existsSync(join(dirs.score, SCORE_JSON)) ? readScoreSummary(join(dirs.score, SCORE_JSON)) : null,
    lm: readOptionalJson<{ vocabulary?: number }>(
      dirs.lm ? join(dirs.lm, 'lm.json') : null,
      'am-distill.lm',
      'LM summary',
    ),
    recipe: readOptionalJson<{ name?: string; description?: string; file?: string }>(
      join(dirs.expDir, 'recipe.json'),
      null,
      'recipe record',
    ),
  };
}

type WerInputs = ReturnType<typeof reportWerInputs>;

/**
 * The report's systems: the baseline, the ensemble, the distilled student (of target set 'main'),
 * the control where the distill stage trained one, and every ensemble member; each with its
 * frame accuracy, WER, parameters and training curve. A missing baseline or student is a FormatError.
 */
function systemsOf(dirs: ExperimentDirs, files: ExperimentFiles, wer: WerInputs) {
  const { models, evalFile, students } = files;
  const acc = (name: string) => ({
    dev: evalFile.splits.dev?.models[name]?.accuracy ?? null,
    test: evalFile.splits.test?.models[name]?.accuracy ?? null,
  });
  const werOf = (name: string): Pick<SystemInput, 'wer' | 'speakers' | 'utterances' | 'alignments' | 'errorLists'> =>
    wer[name] ?? { wer: { dev: null, test: null } };

  const systems: Record<string, SystemInput> = {};
  const baseline = models.models.find((m) => m.role === 'baseline');
  const members = models.models.filter((m) => m.role === 'member');
  if (!baseline)
    throw new FormatError('the train stage has no baseline', {
      file: join(dirs.train, 'models.json'),
      expected: "a model with role 'baseline'",
      found: models.models.map((m) => m.name).join(', '),
    });
  const student = students?.students.find((s) => s.role === 'student' && s.targetSet === 'main') ?? null;
  if (!student)
    throw new FormatError('the distill stage has no student on the main target set', {
      file: join(dirs.distill ?? dirs.expDir, 'students.json'),
      expected: "a student of target set 'main'",
      found: students ? students.students.map((s) => s.name).join(', ') : 'no students file',
    });

  const baseSidecar = readSidecar(join(dirs.train, baseline.dir));
  const params = parameterCount(baseSidecar.shape);
  systems.baseline = {
    label: 'Baseline (1 net)',
    parameters: params,
    frameAccuracy: acc(baseline.name),
    ...werOf(baseline.name),
    trainingCurve: curveOf(baseSidecar),
    ...averagedOf(baseSidecar),
  };
  systems.ensemble = {
    label: `${members.length}-net ensemble`,
    parameters: params * members.length,
    members: members.length,
    frameAccuracy: acc('ensemble'),
    ...werOf('ensemble'),
  };
  const studentSidecar = readSidecar(join(dirs.distill!, student.dir));
  systems.student = {
    label: 'Distilled single model',
    parameters: parameterCount(studentSidecar.shape),
    frameAccuracy: acc(student.name),
    ...werOf(student.name),
    trainingCurve: curveOf(studentSidecar),
    ...averagedOf(studentSidecar),
  };
  // The control (distill stage, role 'control'): a baseline on the student's transfer set, hard labels only.
  const control = students?.students.find((s) => s.role === CONTROL_ID) ?? null;
  if (control) {
    const sc = readSidecar(join(dirs.distill!, control.dir));
    systems[CONTROL_ID] = {
      label: "Control baseline (student's transfer set, hard labels)",
      parameters: parameterCount(sc.shape),
      frameAccuracy: acc(control.name),
      ...werOf(control.name),
      trainingCurve: curveOf(sc),
      ...averagedOf(sc),
    };
  }
  for (const m of members) {
    if (!MEMBER_ID.test(m.name))
      throw new FormatError('ensemble member with an unexpected name', {
        file: join(dirs.train, 'models.json'),
        expected: 'member-1 .. member-K',
        found: m.name,
      });
    const sc = readSidecar(join(dirs.train, m.dir));
    systems[m.name] = {
      label: `Ensemble member ${m.name.slice('member-'.length)}`,
      parameters: parameterCount(sc.shape),
      frameAccuracy: acc(m.name),
      ...werOf(m.name),
      trainingCurve: curveOf(sc),
      ...averagedOf(sc),
    };
  }
  return { systems, baseline, members, student, control, baseSidecar };
}

/** The main target set's soft targets (T, k, storage, kept mass, combination) and the student's hard-label weight. */
function softTargetsOf(targets: TargetsFile | null, student: StudentEntry): SoftTargetInfo | null {
  const main = targets?.sets.find((s) => s.name === 'main');
  if (!targets || !main) return null;
  return {
    T: main.temperature,
    k: main.k,
    bytesPerFrame: main.bytesPerFrame,
    keptMass: main.meanKeptMass,
    denseBytesPerFrame: main.denseBytesPerFrame,
    combination: targets.config.combination === 'geometric' ? 'geometric-mean-probs' : 'arithmetic-mean-probs',
    hardWeight: student.loss.hardWeight,
  };
}

/** The sweep: the main student and every student of another temperature (top-k sets only); null with one temperature. */
function temperatureSweepOf(
  evalFile: EvalFile,
  targets: TargetsFile | null,
  wer: WerInputs,
  control: StudentEntry | null,
): TemperaturePoint[] | null {
  const sweep = evalFile.students.filter(
    (s) => s.targetSet !== 'dense' && !s.name.startsWith('fraction-') && s.name !== control?.name,
  );
  if (new Set(sweep.map((s) => s.temperature)).size <= 1) return null;
  return sweep
    .map((s) => {
      const set = targets?.sets.find((t) => t.name === s.targetSet);
      // WER where the decode stage decoded this student too (stages.decode.systems lists it).
      const w = wer[s.name]?.wer;
      const werPart = w && (w.dev || w.test) ? { wer: { dev: w.dev ?? null, test: w.test ?? null } } : {};
      return {
        T: s.temperature,
        frameAccuracy: { dev: s.accuracy.dev ?? null, test: s.accuracy.test ?? null },
        ...werPart,
        ...(set ? { keptMass: set.meanKeptMass } : {}),
      };
    })
    .sort((a, b) => a.T - b.T);
}

/**
 * Durations, shard jobs and config hashes of the named stages' stage.json records (stages without
 * one are left out; stageJobs only for stages merged from shard jobs).
 */
function stageRecords(
  expDir: string,
  stageNames: readonly string[],
): { stages: Record<string, number>; stageJobs: Record<string, StageJobsInfo>; configHashes: Record<string, string> } {
  const stages: Record<string, number> = {};
  const stageJobs: Record<string, StageJobsInfo> = {};
  const configHashes: Record<string, string> = {};
  for (const name of stageNames) {
    const rec = readOptionalJson<{ durationSec?: number; configHash?: string; jobs?: Partial<StageJobsInfo> }>(
      join(expDir, name, 'stage.json'),
      null,
      `${name} stage record`,
    );
    if (rec && typeof rec.durationSec === 'number') stages[name] = rec.durationSec;
    if (rec?.jobs && typeof rec.jobs.count === 'number' && typeof rec.jobs.seconds === 'number')
      stageJobs[name] = { count: rec.jobs.count, seconds: rec.jobs.seconds };
    if (rec?.configHash) configHashes[name] = rec.configHash;
  }
  return { stages, stageJobs, configHashes };
}

/** Fidelity to the ensemble of the baseline and the student per split (eval runs made before it was measured have none). */
function fidelityRows(
  evalFile: EvalFile,
  trainSplit: string,
  baselineName: string,
  studentName: string,
): FidelityRow[] {
  const fid = (split: string, name: string): FidelityFigures | null => {
    const f = evalFile.splits[split]?.fidelity?.[name];
    return f ? { agreement: f.agreement, klNats: f.klNats } : null;
  };
  return [
    { id: 'baseline', name: baselineName },
    { id: 'student', name: studentName },
  ]
    .map(({ id, name }) => ({
      system: id,
      train: fid(trainSplit, name),
      dev: fid('dev', name),
      test: fid('test', name),
    }))
    .filter((r) => r.train || r.dev || r.test);
}

/** The test split's per-utterance frame counts (eval stage) under the report's system ids, with each utterance's speaker. */
function utteranceCountsOf(
  dirs: ExperimentDirs,
  scored: boolean,
  reportId: ReadonlyMap<string, string>,
): UtteranceCountsInput | null {
  const uttsFile = join(dirs.eval, evalUtterancesFile('test'));
  const frameLines = existsSync(uttsFile) ? readEvalUtterances(uttsFile) : null;
  if (!frameLines && !scored) return null;
  return {
    split: 'test',
    speakers: readSplitSpeakers(dirs.prepare, 'test'),
    frames:
      frameLines &&
      frameLines.map((u) => ({
        uttId: u.uttId,
        frames: u.frames,
        correct: Object.fromEntries(
          Object.entries(u.correct).flatMap(([n, c]) => (reportId.has(n) ? [[reportId.get(n)!, c]] : [])),
        ),
      })),
  };
}
