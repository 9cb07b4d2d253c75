/**
 * The `eval` stage: frame accuracy (argmax vs forced alignment, src/score) on dev and test for the
 * baseline, every member, the ensemble (members' posteriors combined at T = 1, arithmetic mean as
 * the paper) and every student; the fraction of the ensemble's gain the student keeps,
 * (student - baseline) / (ensemble - baseline); the paper's Table 5 (train and test accuracy of the
 * small-fraction baseline and student) when the train stage has one.
 *
 * Also each net's fidelity to the ensemble (top-1 agreement and KL, src/score/fidelity.ts): whether
 * the student reproduces its teacher on voices the soft targets never covered.
 *
 * Per utterance every model's logits are computed, scored and dropped, so memory is one utterance
 * x senones x models. Output: eval.json (all numbers), eval.md (the tables) and, per eval split,
 * <split>.utts.jsonl (each utterance's frames and correct frames per model: what the bootstrap
 * resamples, and what `am-distill pool` pools over experiments).
 *
 * Its run function is `evaluateAcousticModels`, which the CLI command of the same name calls too.
 *
 * Recipe:
 *   stages:
 *     eval:
 *       splits: [dev, test]
 *       trainAccuracy: true
 *       bootstrapReplicates: 1000   # CI of the gain kept (paired bootstrap over utterances, recipe seed)
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EnsembleAccumulator } from '../distill/combine.ts';
import {
  ENSEMBLE,
  EVAL_FORMAT,
  EVAL_JSON,
  EVAL_MD,
  evalUtterancesFile,
  type EvalFile,
  type EvalUtteranceLine,
  type GainKeptCi,
  type GainSources,
  type GainSummary,
  type MemberVotes,
  type Score,
  type SplitScores,
} from '../formats/eval.ts';
import {
  readModelsFile,
  readStudentsFile,
  type ModelEntry,
  type ModelsFile,
  type StudentEntry,
  type StudentsFile,
} from '../formats/models.ts';
import { ArrowFrameSource } from '../nnet/arrow-source.ts';
import { initBackend, type BackendName } from '../nnet/backend.ts';
import { scanSource, type CmvnOptions, type FrameSource, type SpeakerCmvn, type Utterance } from '../nnet/data.ts';
import { checkCompatible, loadModelDir, type ModelSidecar } from '../nnet/io.ts';
import type { FrameClassifier } from '../nnet/model.ts';
import {
  FilteredFrameSource,
  checkSameAlignment,
  findSplitFiles,
  inSubset,
  inventoryOf,
  type SubsetSpec,
} from '../nnet/split-data.ts';
import { utteranceLogits } from '../nnet/train.ts';
import { fmtPct, formatEvalMarkdown } from '../report/eval-markdown.ts';
import { addFidelity, emptyFidelityCounts, fidelityOf } from '../score/fidelity.ts';
import { argmaxRows } from '../score/frame-accuracy.ts';
import { bootstrapGainKept, gainShare } from '../score/significance.ts';
import { ConfigError, FormatError } from '../util/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import { backendOption, inferenceBatchSizeOption, locateConfigError } from './common.ts';
import type { Schema, SchemaFor } from './schema.ts';
import { shardSlice, type ShardCoverage, type ShardSpec } from './shards.ts';
import type { StageContext, StageDefinition, StageResult } from './stage.ts';

export interface EvaluateModelsOptions {
  /** Splits to score. Default ['dev', 'test'] (those present in both features and alignments). */
  splits: string[];
  /** Also score the training split (training accuracy; Table 5 needs it). Default true. */
  trainAccuracy: boolean;
  /** Frames per forward pass. Default 512. */
  inferenceBatchSize: number;
  /** Default 'auto'. */
  backend: BackendName | 'auto';
  /** Bootstrap replicates for the confidence interval of the gain kept (0: none). Default 1000. */
  bootstrapReplicates: number;
  /** Two-sided confidence level of that interval. Default 0.95. */
  confidence: number;
  /** Seed of the bootstrap resampling (the runner passes the recipe seed). Default 0. */
  seed: number;
}

export const DEFAULT_EVALUATE_MODELS_OPTIONS: Readonly<EvaluateModelsOptions> = Object.freeze({
  splits: Object.freeze(['dev', 'test']) as unknown as string[],
  trainAccuracy: true,
  inferenceBatchSize: 512,
  backend: 'auto',
  bootstrapReplicates: 1000,
  confidence: 0.95,
  seed: 0,
});

/** Add one utterance's frames; `right` holds, per net, which frames it gets right (1) or wrong (0). */
function addGainSources(g: GainSources, base: Uint8Array, ens: Uint8Array, right: Map<string, Uint8Array>): void {
  const nets = Object.entries(g.nets).map(([n, c]) => [right.get(n)!, c] as const);
  for (let t = 0; t < base.length; t++) {
    const b = base[t],
      e = ens[t];
    if (e > b) g.ensembleWins++;
    else if (e < b) g.ensembleLosses++;
    for (const [r, c] of nets) {
      const n = r[t];
      if (n === b) continue;
      if (e !== b) {
        if (n) c.capturedWins++;
        else c.copiedLosses++;
      } else if (n) c.ownWins++;
      else c.ownLosses++;
    }
  }
}

/** Per-utterance counts behind a split's scores (the bootstrap's input; written as <split>.utts.jsonl for the eval splits). */
interface UtteranceCounts {
  ids: string[];
  frames: number[];
  correct: Map<string, number[]>;
}

function formatUtteranceCounts(u: UtteranceCounts): string {
  const names = [...u.correct.keys()];
  return u.ids
    .map(
      (uttId, i) =>
        JSON.stringify({
          uttId,
          frames: u.frames[i],
          correct: Object.fromEntries(names.map((n) => [n, u.correct.get(n)![i]])),
        } satisfies EvalUtteranceLine) + '\n',
    )
    .join('');
}

export interface EvaluateModelsStageOptions extends Partial<EvaluateModelsOptions> {
  modelsDir: string;
  /** Output of the distill stage (students.json); optional. */
  studentsDir?: string | null;
  featuresDir: string;
  alignDir: string;
  outDir: string;
  logger?: Logger;
}

interface LoadedModel {
  name: string;
  role: string;
  classifier: FrameClassifier;
  sidecar: ModelSidecar;
  subset: SubsetSpec | null;
}

export function resolveEvaluateModelsOptions(o: Partial<EvaluateModelsOptions>): EvaluateModelsOptions {
  for (const k of Object.keys(o))
    if (!(k in DEFAULT_EVALUATE_MODELS_OPTIONS))
      throw new ConfigError('unknown eval option', {
        keyPath: k,
        expected: Object.keys(DEFAULT_EVALUATE_MODELS_OPTIONS).join(', '),
        found: k,
      });
  return {
    ...DEFAULT_EVALUATE_MODELS_OPTIONS,
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
  } as EvaluateModelsOptions;
}

const score = (correct: number, frames: number): Score => ({
  correct,
  frames,
  accuracy: frames ? correct / frames : 0,
});

type SplitFiles = Awaited<ReturnType<typeof findSplitFiles>>;

/**
 * The split's frames (without the VTLP copies when `originalsOnly`), checked against every model:
 * senone inventory, feature config and dimension.
 */
async function openScoredSource(
  files: SplitFiles,
  models: LoadedModel[],
  numSenones: number,
  inventoryId: string,
  originalsOnly: boolean,
): Promise<ArrowFrameSource | FilteredFrameSource> {
  const arrow = await ArrowFrameSource.open({
    features: files.features,
    alignments: files.alignments,
    uttToSpeaker: files.uttToSpeaker,
  });
  // Copies are speakers of their own, so leaving them out changes no original's CMVN.
  const source = originalsOnly ? new FilteredFrameSource(arrow, { subset: null, vtlpCopies: false }) : arrow;
  for (const m of models) {
    checkCompatible(
      m.sidecar,
      {
        senones: { numSenones, id: inventoryId },
        featureConfig: source.featureConfig as unknown as Record<string, unknown>,
        featureDim: source.featureDim,
      },
      `${m.name} vs features ${files.features[0]}`,
    );
  }
  return source;
}

/** Per-speaker CMVN of the split, one scan per CMVN mode the models use; the split's frame count (0 without a scan). */
async function speakerCmvns(
  source: FrameSource,
  models: LoadedModel[],
  numSenones: number,
): Promise<{ cmvnOf: (m: LoadedModel) => SpeakerCmvn | undefined; totalFrames: number }> {
  const cmvnByMode = new Map<string, SpeakerCmvn>();
  let totalFrames = 0;
  for (const m of models) {
    const o: CmvnOptions = m.sidecar.cmvn;
    const key = JSON.stringify([o.mode, o.normVars]);
    if (o.mode !== 'none' && !cmvnByMode.has(key)) {
      const s = await scanSource(source, { numSenones, cmvn: o });
      cmvnByMode.set(key, s.cmvn);
      totalFrames = s.numFrames;
    }
  }
  const cmvnOf = (m: LoadedModel) =>
    m.sidecar.cmvn.mode === 'none'
      ? undefined
      : cmvnByMode.get(JSON.stringify([m.sidecar.cmvn.mode, m.sidecar.cmvn.normVars]))!;
  return { cmvnOf, totalFrames };
}

/** What scoring a split adds up per model (and the ensemble), utterance by utterance. */
interface SplitTally {
  /** The models' names, then the ensemble's when there are members. */
  names: string[];
  hits: Map<string, number>;
  subsetHits: Map<string, number>;
  perUtterance: UtteranceCounts;
  /** Per net other than the members: its fidelity to the ensemble (when there are members). */
  fidelity: Map<string, ReturnType<typeof emptyFidelityCounts>>;
  sources: GainSources | null;
  votes: MemberVotes | null;
  frames: number;
  utterances: number;
  subsetFrames: number;
}

/** Empty counts: hits, fidelity, gain sources (with a baseline and members) and member votes (with members). */
function emptySplitTally(models: LoadedModel[], members: LoadedModel[], others: LoadedModel[]): SplitTally {
  const fidelity = new Map(members.length ? others.map((m) => [m.name, emptyFidelityCounts()]) : []);
  const sources: GainSources | null =
    members.length && others.some((m) => m.name === 'baseline')
      ? {
          ensembleWins: 0,
          ensembleLosses: 0,
          nets: Object.fromEntries(
            others
              .filter((m) => m.name !== 'baseline')
              .map((m) => [m.name, { capturedWins: 0, copiedLosses: 0, ownWins: 0, ownLosses: 0 }]),
          ),
        }
      : null;
  const votes: MemberVotes | null = members.length
    ? {
        members: members.length,
        frames: new Array(members.length + 1).fill(0),
        correct: Object.fromEntries(
          [...others.map((m) => m.name), ENSEMBLE].map((n) => [n, new Array(members.length + 1).fill(0)]),
        ),
      }
    : null;
  const names = [...models.map((m) => m.name), ...(members.length ? [ENSEMBLE] : [])];
  return {
    names,
    hits: new Map(names.map((n) => [n, 0])),
    subsetHits: new Map(names.map((n) => [n, 0])),
    perUtterance: { ids: [], frames: [], correct: new Map(names.map((n) => [n, []])) },
    fidelity,
    sources,
    votes,
    frames: 0,
    utterances: 0,
    subsetFrames: 0,
  };
}

/**
 * Score one utterance: the members (and their ensemble's posteriors), then the other nets with
 * their fidelity to the ensemble, the ensemble itself, the gain sources and the member votes.
 */
function scoreUtterance(
  utt: Utterance,
  ref: NonNullable<Utterance['labels']>,
  inSub: boolean,
  ctx: {
    members: LoadedModel[];
    others: LoadedModel[];
    cmvnOf: (m: LoadedModel) => SpeakerCmvn | undefined;
    numSenones: number;
    batchSize: number;
  },
  tally: SplitTally,
): void {
  const { members, others, cmvnOf, numSenones, batchSize } = ctx;
  const { hits, subsetHits, perUtterance, fidelity, sources, votes } = tally;
  const acc = members.length
    ? new EnsembleAccumulator(utt.numFrames, numSenones, { temperature: 1, rule: 'arithmetic' })
    : null;
  // Per model, which frames it gets right: compared with the alignment once, then counted, and
  // read by the member votes and the gain sources.
  const count = (name: string, pred: Int32Array): Uint8Array => {
    const right = new Uint8Array(ref.length);
    let c = 0;
    for (let t = 0; t < ref.length; t++)
      if (pred[t] === ref[t]) {
        right[t] = 1;
        c++;
      }
    hits.set(name, hits.get(name)! + c);
    perUtterance.correct.get(name)!.push(c);
    if (inSub) subsetHits.set(name, subsetHits.get(name)! + c);
    return right;
  };
  // The members first: the ensemble's posteriors are then there for the other nets' fidelity.
  const memberRight = new Uint16Array(utt.numFrames); // per frame: how many members are right (K < 65536)
  for (const m of members) {
    const z = utteranceLogits(m.classifier, utt, { cmvn: cmvnOf(m), splice: m.sidecar.splice, batchSize });
    const right = count(m.name, argmaxRows(z, numSenones, utt.uttId));
    for (let t = 0; t < ref.length; t++) memberRight[t] += right[t];
    acc!.add(z, `${m.name}, utterance '${utt.uttId}'`);
  }
  const ensProbs = acc ? acc.finish() : null;
  const ensArgmax = ensProbs ? argmaxRows(ensProbs, numSenones, utt.uttId) : null;
  const rights = new Map<string, Uint8Array>();
  for (const m of others) {
    const z = utteranceLogits(m.classifier, utt, { cmvn: cmvnOf(m), splice: m.sidecar.splice, batchSize });
    const pred = argmaxRows(z, numSenones, utt.uttId);
    rights.set(m.name, count(m.name, pred));
    if (ensProbs)
      addFidelity(fidelity.get(m.name)!, ensProbs, z, utt.numFrames, numSenones, {
        uttId: utt.uttId,
        teacherArgmax: ensArgmax!,
        modelArgmax: pred,
      });
  }
  if (ensArgmax) rights.set(ENSEMBLE, count(ENSEMBLE, ensArgmax));
  if (sources) addGainSources(sources, rights.get('baseline')!, rights.get(ENSEMBLE)!, rights);
  if (votes) {
    for (let t = 0; t < ref.length; t++) {
      const k = memberRight[t];
      votes.frames[k]++;
      for (const [n, r] of rights) votes.correct[n][k] += r[t];
    }
  }
  tally.frames += utt.numFrames;
  perUtterance.ids.push(utt.uttId);
  perUtterance.frames.push(utt.numFrames);
  tally.utterances++;
  if (inSub) tally.subsetFrames += utt.numFrames;
}

/** Score every model on one split. */
async function scoreSplit(
  split: string,
  models: LoadedModel[],
  files: Awaited<ReturnType<typeof findSplitFiles>>,
  numSenones: number,
  inventoryId: string,
  batchSize: number,
  withSubset: SubsetSpec | null,
  logger: Logger,
  originalsOnly = false,
): Promise<{ scores: SplitScores; perUtterance: UtteranceCounts }> {
  const source = await openScoredSource(files, models, numSenones, inventoryId, originalsOnly);
  const { cmvnOf, totalFrames } = await speakerCmvns(source, models, numSenones);
  const members = models.filter((m) => m.role === 'member');
  const others = models.filter((m) => m.role !== 'member');
  const tally = emptySplitTally(models, members, others);
  const progress = logger.progress(`scoring ${split} (${models.length} models)`, totalFrames, 'frames');
  for await (const utt of source.utterances()) {
    if (!utt.labels) continue;
    const inSub = withSubset !== null && inSubset(utt.uttId, withSubset);
    scoreUtterance(utt, utt.labels, inSub, { members, others, cmvnOf, numSenones, batchSize }, tally);
    progress.tick(utt.numFrames);
  }
  progress.done();
  const { names, hits, subsetHits, fidelity, sources, votes, frames, subsetFrames } = tally;
  if (frames === 0)
    throw new FormatError('no aligned frames to score', {
      file: files.alignments[0],
      expected: 'at least one utterance with features and alignment',
      found: source.skips.summary(),
    });
  const out: SplitScores = {
    split,
    utterances: tally.utterances,
    frames,
    models: Object.fromEntries(names.map((n) => [n, score(hits.get(n)!, frames)])),
  };
  if (originalsOnly) out.vtlpCopies = false;
  if (withSubset) out.subset = Object.fromEntries(names.map((n) => [n, score(subsetHits.get(n)!, subsetFrames)]));
  if (fidelity.size) out.fidelity = Object.fromEntries([...fidelity].map(([n, c]) => [n, fidelityOf(c)]));
  if (sources) out.gainSources = sources;
  if (votes) out.memberVotes = votes;
  return { scores: out, perUtterance: tally.perUtterance };
}

function gain(s: SplitScores, student: string): GainSummary | null {
  const b = s.models.baseline?.accuracy,
    e = s.models[ENSEMBLE]?.accuracy,
    st = s.models[student]?.accuracy;
  if (b === undefined || e === undefined || st === undefined) return null;
  const members = Object.entries(s.models)
    .filter(([n]) => /^member-\d+$/.test(n))
    .map(([, v]) => v.accuracy);
  const memberMean = members.reduce((a, x) => a + x, 0) / members.length;
  return {
    baseline: b,
    ensemble: e,
    memberMean,
    student: st,
    gainKept: gainShare(b, e, st),
    gainKeptVsMemberMean: gainShare(memberMean, e, st),
  };
}

/** Bootstrap CI of a student's gain kept on one split (null without a baseline or an ensemble). */
function gainCi(u: UtteranceCounts, student: string, o: EvaluateModelsOptions): GainKeptCi | null {
  const b = u.correct.get('baseline'),
    e = u.correct.get(ENSEMBLE),
    s = u.correct.get(student);
  if (!b || !e || !s || o.bootstrapReplicates === 0) return null;
  const r = bootstrapGainKept(
    u.frames.map((frames, i) => ({ frames, baseline: b[i], ensemble: e[i], student: s[i] })),
    { replicates: o.bootstrapReplicates, confidence: o.confidence, seed: o.seed },
  );
  return {
    low: r.ciLow,
    high: r.ciHigh,
    confidence: r.confidence,
    replicates: r.replicates,
    seed: r.seed,
    utterances: r.utterances,
    undefinedReplicates: r.undefinedReplicates,
  };
}

/** Score everything and write eval.json + eval.md into outDir. */
export async function evaluateAcousticModels(
  opts: EvaluateModelsStageOptions,
): Promise<{ file: EvalFile; seconds: number }> {
  const t0 = Date.now();
  const s = await scoreEvalSplits(opts);
  const file = await writeEvalFiles(opts, s);
  return { file, seconds: (Date.now() - t0) / 1000 };
}

/** The models and students evaluated, and per split scored its scores and per-utterance counts (in split order). */
interface EvalScores {
  models: ModelsFile;
  students: StudentsFile | null;
  scored: Record<string, SplitScores>;
  counts: Record<string, UtteranceCounts>;
}

/** The splits eval scores, in order: the training split (trainAccuracy), then the others of `splits`. */
function evalSplitsOf(o: EvaluateModelsOptions, models: ModelsFile): string[] {
  return [
    ...(o.trainAccuracy ? [models.data.trainSplit] : []),
    ...o.splits.filter((s) => s !== models.data.trainSplit),
  ];
}

/** Score every split (or a shard's block of them) with every model. */
async function scoreEvalSplits(
  opts: EvaluateModelsStageOptions,
  shard?: ShardSpec,
): Promise<EvalScores & { coverage: ShardCoverage[] }> {
  const { modelsDir, studentsDir, featuresDir, alignDir, logger = defaultLog, outDir: _outDir, ...rest } = opts;
  const o = resolveEvaluateModelsOptions(rest);
  const models: ModelsFile = await readModelsFile(modelsDir);
  const students: StudentsFile | null = studentsDir ? await readStudentsFile(studentsDir) : null;
  const all = evalSplitsOf(o, models);
  const mine = shard ? shardSlice(all, shard, 'splits') : null;
  const splits = mine?.items ?? all;
  const scored: Record<string, SplitScores> = {};
  const counts: Record<string, UtteranceCounts> = {};
  const coverage = mine ? [mine.coverage] : [];
  if (splits.length === 0) return { models, students, scored, counts, coverage };
  await initBackend({ backend: o.backend, logger });

  const entries: { e: ModelEntry | StudentEntry; dir: string }[] = [
    ...models.models.map((e) => ({ e, dir: join(modelsDir, e.dir) })),
    ...(students?.students ?? []).map((e) => ({ e, dir: join(studentsDir!, e.dir) })),
  ];
  const loaded: LoadedModel[] = [];
  try {
    for (const { e, dir } of entries) {
      const { classifier, sidecar } = await loadModelDir(dir);
      loaded.push({ name: e.name, role: e.role, classifier, sidecar, subset: e.subset });
    }
    const fractionSubset = models.models.find((m) => m.role === 'fraction-baseline')?.subset ?? null;
    const trainFiles = await findSplitFiles(featuresDir, alignDir, models.data.trainSplit, logger);
    const inv = await inventoryOf(alignDir, trainFiles.alignments[0]);
    if (inv.senoneInventoryId !== models.inventory.senoneInventoryId) {
      throw new FormatError('the models were trained on another senone inventory than these alignments', {
        file: trainFiles.alignments[0],
        expected: `inventory ${models.inventory.senoneInventoryId}`,
        found: `inventory ${inv.senoneInventoryId}`,
      });
    }
    for (const split of splits) {
      const files =
        split === models.data.trainSplit ? trainFiles : await findSplitFiles(featuresDir, alignDir, split, logger);
      await checkSameAlignment(trainFiles.alignments[0], files.alignments[0]);
      // Training accuracy is measured on what the baseline and members trained on (their models.json).
      const isTrain = split === models.data.trainSplit;
      const r = await scoreSplit(
        split,
        loaded,
        files,
        inv.numSenones,
        inv.senoneInventoryId,
        o.inferenceBatchSize,
        isTrain ? fractionSubset : null,
        logger,
        isTrain && models.data.vtlpCopies === false,
      );
      scored[split] = r.scores;
      counts[split] = r.perUtterance;
      const s = scored[split];
      logger.info(
        `${split}: ` +
          Object.entries(s.models)
            .map(([n, v]) => `${n} ${(100 * v.accuracy).toFixed(2)}%`)
            .join(', '),
      );
    }

    return { models, students, scored, counts, coverage };
  } finally {
    for (const m of loaded) m.classifier.dispose();
  }
}

/** eval.json, eval.md and the eval splits' per-utterance counts, from the scores of every split. */
async function writeEvalFiles(opts: EvaluateModelsStageOptions, s: EvalScores): Promise<EvalFile> {
  const { modelsDir: _m, studentsDir: _s, featuresDir: _f, alignDir: _a, outDir, logger: _l, ...rest } = opts;
  const o = resolveEvaluateModelsOptions(rest);
  const { models, students, scored, counts } = s;
  const fractionSubset = models.models.find((m) => m.role === 'fraction-baseline')?.subset ?? null;
  const entries: { e: ModelEntry | StudentEntry }[] = [
    ...models.models.map((e) => ({ e })),
    ...(students?.students ?? []).map((e) => ({ e })),
  ];
  const summary: Record<string, GainSummary> = {};
  for (const [split, s] of Object.entries(scored)) {
    const g = gain(s, 'student');
    if (!g) continue;
    const ci = gainCi(counts[split], 'student', o);
    summary[split] = ci ? { ...g, gainKeptCi: ci } : g;
  }
  const evalSplits = o.splits.filter((s) => scored[s]);
  const studentRows: EvalFile['students'] = (students?.students ?? [])
    .filter((s) => s.role === 'student')
    .map((s) => ({
      name: s.name,
      targetSet: s.targetSet,
      temperature: s.temperature,
      k: s.k,
      accuracy: Object.fromEntries(evalSplits.map((sp) => [sp, scored[sp].models[s.name].accuracy])),
      gainKept: Object.fromEntries(evalSplits.map((sp) => [sp, gain(scored[sp], s.name)?.gainKept ?? null])),
      ...(o.bootstrapReplicates > 0
        ? {
            gainKeptCi: Object.fromEntries(
              evalSplits.flatMap((sp) => {
                const ci = gainCi(counts[sp], s.name, o);
                return ci ? [[sp, ci]] : [];
              }),
            ),
          }
        : {}),
    }));
  let table5: EvalFile['table5'] = null;
  const fracStudent = students?.students.find((s) => s.role === 'fraction-student');
  if (fractionSubset) {
    const tr = scored[models.data.trainSplit];
    const fb = models.models.find((m) => m.role === 'fraction-baseline')!;
    const row = (system: string, model: string, onSubset: boolean) => ({
      system,
      model,
      trainAccuracy: tr ? (onSubset ? tr.subset![model].accuracy : tr.models[model].accuracy) : null,
      testAccuracy: Object.fromEntries(evalSplits.map((sp) => [sp, scored[sp].models[model].accuracy])),
    });
    table5 = {
      fraction: fractionSubset.fraction,
      subsetUtterances: fb.trainUtterances,
      subsetFrames: fb.trainFrames,
      rows: [
        row('Baseline (100% of training set)', 'baseline', false),
        row(`Baseline (${fmtPct(fractionSubset.fraction)} of training set)`, 'fraction-baseline', true),
        ...(fracStudent
          ? [row(`Soft targets (${fmtPct(fractionSubset.fraction)} of training set)`, 'fraction-student', true)]
          : []),
      ],
    };
  }
  const file: EvalFile = {
    format: EVAL_FORMAT,
    version: 1,
    models: entries.map(({ e }) => ({
      name: e.name,
      role: e.role,
      ...('targetSet' in e ? { targetSet: e.targetSet, temperature: e.temperature, k: e.k } : {}),
    })),
    splits: scored,
    summary,
    students: studentRows,
    table5,
  };
  for (const split of evalSplits)
    await writeFileAtomic(join(outDir, evalUtterancesFile(split)), formatUtteranceCounts(counts[split]));
  await writeJsonAtomic(join(outDir, EVAL_JSON), file);
  await writeFileAtomic(join(outDir, EVAL_MD), formatEvalMarkdown(file));
  return file;
}

/** The bootstrap seed is the recipe's. */
export type EvalStageOptions = Omit<EvaluateModelsOptions, 'seed'>;

const D = DEFAULT_EVALUATE_MODELS_OPTIONS;

export const EVAL_SCHEMA: Schema = {
  splits: {
    type: 'array',
    items: { type: 'string', doc: 'split name' },
    minItems: 1,
    default: [...D.splits],
    doc: 'splits to score',
  },
  trainAccuracy: {
    type: 'boolean',
    default: D.trainAccuracy,
    doc: 'also score the training split (training accuracy; Table 5)',
  },
  inferenceBatchSize: inferenceBatchSizeOption(D.inferenceBatchSize),
  backend: backendOption(D.backend),
  bootstrapReplicates: {
    type: 'number',
    integer: true,
    min: 0,
    default: D.bootstrapReplicates,
    doc: 'paired bootstrap replicates for the confidence interval of the gain kept (0: none)',
  },
  confidence: {
    type: 'number',
    min: 0.5,
    max: 0.999,
    default: D.confidence,
    doc: 'two-sided confidence level of that interval',
  },
} satisfies SchemaFor<EvalStageOptions>;

export const evalStage: StageDefinition<EvalStageOptions> = {
  name: 'eval',
  doc: 'frame accuracy of baseline, members, ensemble and students on dev/test; gain kept; Table 5 [eval.json, eval.md]',
  inputs: ['features', 'align', 'train', 'distill'],
  schema: EVAL_SCHEMA,

  async run(ctx) {
    const t0 = Date.now();
    const file = await writeEvalFiles(evalOptions(ctx), await evalScores(ctx));
    return evalStageResult(file, [(Date.now() - t0) / 1000]);
  },

  // Shards: blocks of the splits (each scored with every model); the merge writes eval.json and the
  // rest from the shards' scores, as the whole stage does.
  shards: {
    unit: 'splits',
    async run(ctx, shard) {
      const t0 = Date.now();
      const r = await evalScores(ctx, shard);
      const splits = Object.keys(r.scored).map((split) => ({
        split,
        scores: r.scored[split],
        counts: { ids: r.counts[split].ids, frames: r.counts[split].frames, correct: [...r.counts[split].correct] },
      }));
      if (splits.length) await writeJsonAtomic(join(ctx.outDir, EVAL_SHARD_SCORES), { splits });
      return { coverage: r.coverage, details: { seconds: (Date.now() - t0) / 1000 } };
    },
    async merge(ctx, shards) {
      const t0 = Date.now();
      const opts = evalOptions(ctx);
      const s: EvalScores = {
        models: await readModelsFile(opts.modelsDir),
        students: await readStudentsFile(opts.studentsDir!),
        scored: {},
        counts: {},
      };
      for (const shard of shards) {
        const path = join(shard.dir, EVAL_SHARD_SCORES);
        if (!existsSync(path)) continue;
        const j = JSON.parse(await readFile(path, 'utf8')) as {
          splits: {
            split: string;
            scores: SplitScores;
            counts: { ids: string[]; frames: number[]; correct: [string, number[]][] };
          }[];
        };
        for (const x of j.splits) {
          s.scored[x.split] = x.scores;
          s.counts[x.split] = { ids: x.counts.ids, frames: x.counts.frames, correct: new Map(x.counts.correct) };
        }
      }
      const file = await writeEvalFiles(opts, s);
      return evalStageResult(file, [
        ...shards.map((x) => (x.details?.seconds as number) ?? 0),
        (Date.now() - t0) / 1000,
      ]);
    },
  },
};

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/** A shard's scores of its splits (in its directory only). */
const EVAL_SHARD_SCORES = 'eval-scores.json';

function evalOptions(ctx: StageContext<EvalStageOptions>): EvaluateModelsStageOptions & { studentsDir: string } {
  return {
    ...ctx.options,
    seed: ctx.recipe.seed,
    modelsDir: ctx.inputDir('train'),
    studentsDir: ctx.inputDir('distill'),
    featuresDir: ctx.inputDir('features'),
    alignDir: ctx.inputDir('align'),
    outDir: ctx.outDir,
    logger: ctx.log,
  };
}

function evalScores(ctx: StageContext<EvalStageOptions>, shard?: ShardSpec): ReturnType<typeof scoreEvalSplits> {
  return locateConfigError(ctx.recipe, 'stages.eval', () => scoreEvalSplits(evalOptions(ctx), shard));
}

function evalStageResult(f: EvalFile, seconds: number[]): StageResult {
  const counts: Record<string, number> = { models: f.models.length };
  for (const [split, g] of Object.entries(f.summary)) {
    counts[`${split}.baseline`] = round4(g.baseline);
    counts[`${split}.ensemble`] = round4(g.ensemble);
    counts[`${split}.student`] = round4(g.student);
    if (g.gainKept !== null) counts[`${split}.gainKept`] = round4(g.gainKept);
  }
  return {
    counts,
    details: { summary: f.summary, table5: f.table5, timing: { seconds: seconds.length === 1 ? seconds[0] : seconds } },
  };
}
