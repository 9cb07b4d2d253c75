/**
 * The `targets` stage: K trained members -> ensemble soft targets at temperature T, top k per
 * frame, one Arrow soft-target file per split (or shard).
 *
 *   generateSoftTargets(opts)   stage level: Arrow feature + alignment files and model directories
 *   writeSoftTargets(opts)      any src/nnet FrameSource and abstract members (predictLogits)
 *   calibrateTopK(opts)         the calibration pass that chooses k (also for sharded runs)
 *
 * Per utterance the members' logits are produced one member at a time and folded into a float64
 * accumulator (memory: one utterance x S, independent of K), combined, cut to the top k and
 * appended to the file. Only aligned utterances get targets (the student trains on those), so the
 * frames are exactly the alignment's and the file records the alignment's config hash.
 *
 * Choosing k ('auto'): a seeded sample of utterances (utterance selected when
 * sha256(seed:uttId) < fraction, fraction = calibrationFrames / total frames) is run through the
 * ensemble first; k is the smallest value whose mean kept mass on the sample reaches
 * targetKeptMass. The sample depends on the utterance ids only, not on file order. For a sharded
 * split, run `calibrateTopK` once over the whole split and pass the number as `topK` to every shard,
 * so all shards share k (a SoftTargetIndex refuses files that differ in k).
 */
import { join } from 'node:path';
import { ConfigError, CorpusError, FormatError, SkipCounter } from '../util/errors.ts';
import { hashConfig, hashFile, sha256Hex } from '../util/hash.ts';
import { log as defaultLog, type Logger } from '../util/log.ts';
import {
  checkUtterance,
  scanSource,
  type CmvnOptions,
  type FrameSource,
  type SpeakerCmvn,
  type Utterance,
} from '../nnet/data.ts';
import { ArrowFrameSource } from '../nnet/arrow-source.ts';
import { initBackend, type BackendName } from '../nnet/backend.ts';
import { MODEL_JSON, WEIGHTS_BIN, checkCompatible, loadModelDir, readSidecar, type ModelSidecar } from '../nnet/io.ts';
import { utteranceLogits } from '../nnet/train.ts';
import { readFeatureMetadata } from '../features/store.ts';
import { readAlignmentMetadata } from '../align/store.ts';
import { COMBINATION_RULES, EnsembleAccumulator, type CombinationRule } from './combine.ts';
import { KeptMassCurve, topKRows, type KeptMassSummary } from './topk.ts';
import {
  PROB_TYPES,
  RESIDUAL_MODES,
  SOFT_TARGET_FORMAT,
  SOFT_TARGET_FORMAT_VERSION,
  SoftTargetFileWriter,
  resolveIdType,
  type IdType,
  type ProbType,
  type ResidualMode,
  type ShardSpec,
  type SoftTargetFileMetadata,
  type TeacherId,
} from './store.ts';
import { measureSoftTargetFile, type MeasuredStorage } from './storage.ts';

/** One trained member of the ensemble, as the targets stage uses it. */
export interface EnsembleMember {
  /** Named in the metadata and in messages (e.g. the model directory). */
  id: string;
  /** Identity of the weights (e.g. sha256 of model.json + weights.bin), recorded in the metadata. */
  hash: string;
  /** Outputs (senones). */
  numSenones: number;
  /** Identity of the senone inventory, when known. */
  senoneInventoryId?: string | null;
  /** Logits of every frame of an utterance, numFrames x numSenones row-major (raw features in; the member normalises and splices). */
  predictLogits(utt: Utterance): Float32Array | Promise<Float32Array>;
  /** Release the model (called by generateSoftTargets for members it loaded). */
  dispose?(): void;
}

export interface SoftTargetConfig {
  /** Temperature T of the softened member distributions. Default 2 (the paper tried 1, 2, 5, 10; the recipe sets it). */
  temperature: number;
  /** 'arithmetic' (mean of probabilities, the paper) or 'geometric'. Default 'arithmetic'. */
  combination: CombinationRule;
  /** Senones kept per frame: a number, or 'auto' (calibrated to targetKeptMass). Default 'auto'. */
  topK: number | 'auto';
  /** Mean kept probability mass that 'auto' must reach on the calibration sample. Default 0.99. */
  targetKeptMass: number;
  /** Upper limit of 'auto'; null = the number of senones. Default null. */
  maxK: number | null;
  /** Frames in the calibration sample (expected; utterances are drawn whole). Default 20000. */
  calibrationFrames: number;
  /** Seed of the calibration sample. Default 0. */
  calibrationSeed: number;
  /** What happens to the mass outside the top k: 'renormalise' (default) or 'store' (a residual column). */
  residual: ResidualMode;
  /** Stored probability type. Default 'float16'. */
  probType: ProbType;
  /** Stored id type: 'auto' (uint16 when S <= 65536, default) or 'int32'. */
  idType: IdType | 'auto';
}

export const DEFAULT_SOFT_TARGET_CONFIG: Readonly<SoftTargetConfig> = Object.freeze({
  temperature: 2,
  combination: 'arithmetic',
  topK: 'auto',
  targetKeptMass: 0.99,
  maxK: null,
  calibrationFrames: 20_000,
  calibrationSeed: 0,
  residual: 'renormalise',
  probType: 'float16',
  idType: 'auto',
});

export function resolveSoftTargetConfig(c: Partial<SoftTargetConfig> = {}): SoftTargetConfig {
  for (const k of Object.keys(c)) {
    if (!(k in DEFAULT_SOFT_TARGET_CONFIG))
      throw new ConfigError('unknown soft-target option', {
        keyPath: k,
        expected: Object.keys(DEFAULT_SOFT_TARGET_CONFIG).join(', '),
        found: k,
      });
  }
  const r = { ...DEFAULT_SOFT_TARGET_CONFIG, ...c } as SoftTargetConfig;
  const bad = (keyPath: string, expected: string, found: unknown) =>
    new ConfigError('bad soft-target option', { keyPath, expected, found: String(found) });
  if (!(typeof r.temperature === 'number' && r.temperature > 0 && Number.isFinite(r.temperature)))
    throw bad('temperature', 'a finite number > 0', r.temperature);
  if (!COMBINATION_RULES.includes(r.combination))
    throw bad('combination', COMBINATION_RULES.join(' or '), r.combination);
  if (r.topK !== 'auto' && !(Number.isInteger(r.topK) && r.topK >= 1))
    throw bad('topK', "'auto' or an integer >= 1", r.topK);
  if (!(r.targetKeptMass > 0 && r.targetKeptMass <= 1))
    throw bad('targetKeptMass', 'a number in (0, 1]', r.targetKeptMass);
  if (r.maxK !== null && !(Number.isInteger(r.maxK) && r.maxK >= 1))
    throw bad('maxK', 'null or an integer >= 1', r.maxK);
  if (!(Number.isInteger(r.calibrationFrames) && r.calibrationFrames >= 1))
    throw bad('calibrationFrames', 'an integer >= 1', r.calibrationFrames);
  if (!Number.isInteger(r.calibrationSeed)) throw bad('calibrationSeed', 'an integer', r.calibrationSeed);
  if (!RESIDUAL_MODES.includes(r.residual)) throw bad('residual', RESIDUAL_MODES.join(' or '), r.residual);
  if (!PROB_TYPES.includes(r.probType)) throw bad('probType', PROB_TYPES.join(' or '), r.probType);
  if (r.idType !== 'auto' && r.idType !== 'uint16' && r.idType !== 'int32')
    throw bad('idType', "'auto', 'uint16' or 'int32'", r.idType);
  return r;
}

/** Where the frames come from (recorded in the file, compared by the student). */
export interface SoftTargetProvenance {
  alignmentConfigHash: string;
  featureConfigHash: string;
  /** Which utterances of the features were labelled, when not all (e.g. 'without VTLP copies'). */
  selection?: string;
}

export interface CalibrationResult {
  k: number;
  /** Mean kept mass at k on the sample. */
  meanKeptMass: number;
  /** false when even maxK stays below the target (k = maxK then). */
  reached: boolean;
  targetKeptMass: number;
  frames: number;
  utterances: number;
  /** Fraction of utterances drawn (by id hash). */
  sampleFraction: number;
}

export interface SoftTargetStats {
  output: string;
  utterances: number;
  frames: number;
  skips: ReturnType<SkipCounter['toJSON']>;
  k: number;
  kChosenBy: 'config' | 'calibration';
  calibration: CalibrationResult | null;
  /** Mean top-k mass over the written frames (before renormalisation). */
  meanKeptMass: number;
  keptMass: KeptMassSummary;
  storage: MeasuredStorage;
  /** Frame accuracy of the combined distribution's argmax against the alignment. */
  ensembleFrameAccuracy: number;
  /** Frame accuracy of each member (argmax of its logits). */
  memberFrameAccuracy: number[];
  seconds: number;
  framesPerSecond: number;
  metadata: SoftTargetFileMetadata;
}

function checkMembers(members: readonly EnsembleMember[], numSenones: number, what: string): string | null {
  if (members.length === 0)
    throw new ConfigError('an ensemble needs at least one member', {
      keyPath: 'teachers',
      expected: '>= 1 teacher',
      found: '0',
    });
  let inventory: string | null = null;
  let inventoryOf = '';
  const ids = new Set<string>();
  for (const m of members) {
    if (ids.has(m.id))
      throw new ConfigError('the same teacher is listed twice', {
        keyPath: 'teachers',
        expected: 'distinct teachers',
        found: m.id,
      });
    ids.add(m.id);
    if (m.numSenones !== numSenones) {
      throw new FormatError('teacher and alignments differ in senone inventory', {
        file: m.id,
        expected: `${numSenones} senones (${what})`,
        found: `${m.numSenones} senones`,
      });
    }
    if (m.senoneInventoryId) {
      if (inventory !== null && m.senoneInventoryId !== inventory) {
        throw new FormatError('teachers differ in senone inventory', {
          file: m.id,
          expected: `inventory ${inventory} (as ${inventoryOf})`,
          found: m.senoneInventoryId,
        });
      }
      inventory = m.senoneInventoryId;
      inventoryOf = m.id;
    }
  }
  return inventory;
}

function sampleSelector(seed: number, fraction: number): (uttId: string) => boolean {
  if (fraction >= 1) return () => true;
  const limit = fraction * 2 ** 32;
  return (uttId) => parseInt(sha256Hex(`${seed}:${uttId}`).slice(0, 8), 16) < limit;
}

/** Members' logits folded into the combined distribution; member argmax hits counted. */
async function combineUtterance(
  members: readonly EnsembleMember[],
  utt: Utterance,
  numSenones: number,
  temperature: number,
  rule: CombinationRule,
  memberHits?: Float64Array,
): Promise<Float64Array> {
  const acc = new EnsembleAccumulator(utt.numFrames, numSenones, { temperature, rule });
  for (let i = 0; i < members.length; i++) {
    const m = members[i];
    const z = await m.predictLogits(utt);
    acc.add(z, `teacher ${m.id}, utterance '${utt.uttId}'`);
    if (memberHits && utt.labels) {
      for (let f = 0; f < utt.numFrames; f++) if (argmaxRow(z, f, numSenones) === utt.labels[f]) memberHits[i]++;
    }
  }
  return acc.finish();
}

function argmaxRow(a: ArrayLike<number>, f: number, S: number): number {
  let best = 0,
    bv = -Infinity;
  for (let s = 0; s < S; s++) {
    const v = a[f * S + s];
    if (v > bv) {
      bv = v;
      best = s;
    }
  }
  return best;
}

async function countFrames(source: FrameSource): Promise<number> {
  let n = 0;
  for await (const u of source.utterances()) n += u.numFrames;
  return n;
}

export interface CalibrateTopKOptions {
  source: FrameSource;
  members: readonly EnsembleMember[];
  numSenones: number;
  config?: Partial<SoftTargetConfig>;
  /** Frames in the source (for the sample fraction); default: counted by a pass over the source. */
  totalFrames?: number;
  logger?: Logger;
}

/** The calibration pass: choose k so the mean kept mass on a seeded sample >= targetKeptMass. */
export async function calibrateTopK(opts: CalibrateTopKOptions): Promise<CalibrationResult> {
  const cfg = resolveSoftTargetConfig(opts.config);
  const S = opts.numSenones;
  checkMembers(opts.members, S, opts.source.name);
  const maxK = cfg.maxK ?? S;
  if (maxK > S)
    throw new ConfigError('maxK exceeds the number of senones', {
      keyPath: 'maxK',
      expected: `<= ${S}`,
      found: String(maxK),
    });
  const total = opts.totalFrames ?? (await countFrames(opts.source));
  const fraction = total > 0 ? Math.min(1, cfg.calibrationFrames / total) : 1;
  const pick = sampleSelector(cfg.calibrationSeed, fraction);
  const curve = new KeptMassCurve(S, maxK);
  let utterances = 0;
  for await (const utt of opts.source.utterances()) {
    if (!pick(utt.uttId) || checkUtterance(utt, opts.source, S) !== null) continue;
    const probs = await combineUtterance(opts.members, utt, S, cfg.temperature, cfg.combination);
    curve.addRows(probs, utt.numFrames);
    utterances++;
  }
  if (curve.frames === 0) {
    throw new CorpusError(
      'the calibration sample is empty (no usable utterance was drawn); set topK or raise calibrationFrames',
      {
        file: opts.source.name,
        expected: 'at least one aligned utterance in the sample',
        found: `fraction ${fraction.toFixed(4)} of ${total} frames`,
      },
    );
  }
  const c = curve.chooseK(cfg.targetKeptMass);
  const res: CalibrationResult = {
    k: c.k,
    meanKeptMass: c.meanMass,
    reached: c.reached,
    targetKeptMass: cfg.targetKeptMass,
    frames: curve.frames,
    utterances,
    sampleFraction: fraction,
  };
  const logger = opts.logger ?? defaultLog;
  if (!c.reached)
    logger.warn(
      `top-k calibration: mean kept mass ${c.meanMass.toFixed(4)} at maxK = ${maxK} stays below the target ${cfg.targetKeptMass}; using k = ${maxK}`,
    );
  logger.info(
    `top-k calibration on ${curve.frames} frames (${utterances} utterances): k = ${c.k}, mean kept mass ${c.meanMass.toFixed(4)} (target ${cfg.targetKeptMass})`,
  );
  return res;
}

export interface WriteSoftTargetsOptions {
  /** Aligned utterances (labels = forced-alignment senones), e.g. a src/nnet ArrowFrameSource. */
  source: FrameSource;
  members: readonly EnsembleMember[];
  /** Senone count of the alignments. */
  numSenones: number;
  provenance: SoftTargetProvenance;
  /** Output Arrow file. */
  output: string;
  config?: Partial<SoftTargetConfig>;
  split?: string | null;
  shard?: ShardSpec | null;
  /** Frames in the source, for progress and the calibration sample; default: counted by a pass. */
  totalFrames?: number;
  logger?: Logger;
}

/** Hash of what determines the targets' bytes (the config as requested, teachers' weights, inputs). */
export function softTargetConfigHash(
  cfg: SoftTargetConfig,
  teachers: readonly TeacherId[],
  provenance: SoftTargetProvenance,
): string {
  return hashConfig({
    format: SOFT_TARGET_FORMAT,
    formatVersion: SOFT_TARGET_FORMAT_VERSION,
    config: cfg,
    teachers: teachers.map((t) => t.hash),
    ...provenance,
  });
}

/** Soft targets of every usable utterance of `source` into one Arrow file (atomic). */
export async function writeSoftTargets(opts: WriteSoftTargetsOptions): Promise<SoftTargetStats> {
  const logger = opts.logger ?? defaultLog;
  const cfg = resolveSoftTargetConfig(opts.config);
  const S = opts.numSenones;
  const { source, members } = opts;
  const inventory = checkMembers(members, S, `alignments of ${source.name}`);
  resolveIdType(cfg.idType, S);
  const t0 = Date.now();
  const total = opts.totalFrames ?? (await countFrames(source));

  let k: number;
  let calibration: CalibrationResult | null = null;
  if (cfg.topK === 'auto') {
    calibration = await calibrateTopK({ source, members, numSenones: S, config: cfg, totalFrames: total, logger });
    k = calibration.k;
  } else {
    if (cfg.topK > S)
      throw new ConfigError('topK exceeds the number of senones', {
        keyPath: 'topK',
        expected: `<= ${S}`,
        found: String(cfg.topK),
      });
    k = cfg.topK;
  }

  const teachers: TeacherId[] = members.map((m) => ({ id: m.id, hash: m.hash }));
  const writer = await SoftTargetFileWriter.open(opts.output, {
    configHash: softTargetConfigHash(cfg, teachers, opts.provenance),
    teachers,
    temperature: cfg.temperature,
    k,
    combination: cfg.combination,
    numSenones: S,
    senoneInventoryId: inventory,
    residual: cfg.residual,
    idType: cfg.idType,
    probType: cfg.probType,
    alignmentConfigHash: opts.provenance.alignmentConfigHash,
    featureConfigHash: opts.provenance.featureConfigHash,
    split: opts.split ?? null,
    shard: opts.shard ?? null,
    config: { ...cfg, chosenK: k, calibration },
  });
  const skips = new SkipCounter();
  const memberHits = new Float64Array(members.length);
  let ensembleHits = 0;
  let meta: SoftTargetFileMetadata;
  try {
    const progress = logger.progress(
      `soft targets (${members.length} teachers, T ${cfg.temperature}, k ${k})`,
      total,
      'frames',
    );
    for await (const utt of source.utterances()) {
      const bad = checkUtterance(utt, source, S);
      if (bad) {
        skips.skip(utt.uttId, bad);
        progress.tick(utt.numFrames);
        continue;
      }
      const probs = await combineUtterance(members, utt, S, cfg.temperature, cfg.combination, memberHits);
      const top = topKRows(probs, utt.numFrames, S, k);
      for (let f = 0; f < utt.numFrames; f++) if (top.ids[f * k] === utt.labels![f]) ensembleHits++;
      writer.add(utt.uttId, top);
      skips.done++;
      progress.tick(utt.numFrames);
    }
    if (writer.utterances === 0) {
      throw new CorpusError('no soft targets were produced', {
        file: source.name,
        expected: 'at least one aligned utterance',
        found: skips.summary(),
      });
    }
    progress.done(`mean kept mass ${writer.meanKeptMass.toFixed(4)}`);
    meta = await writer.finish(skips.skipped);
  } catch (err) {
    await writer.abort();
    throw err;
  }
  if (skips.skipped > 0) logger.warn(skips.summary());
  const storage = await measureSoftTargetFile(opts.output);
  const seconds = (Date.now() - t0) / 1000;
  const frames = meta.counts.frames;
  logger.info(
    `soft targets -> ${opts.output}: ${frames} frames, k ${k}, mean kept mass ${meta.meanKeptMass.toFixed(4)}, ` +
      `${storage.bytesPerFrame.toFixed(1)} bytes/frame (dense float32 ${storage.layout.denseRow}), ensemble frame accuracy ${((100 * ensembleHits) / frames).toFixed(2)}%`,
  );
  return {
    output: opts.output,
    utterances: meta.counts.utterances,
    frames,
    skips: skips.toJSON(),
    k,
    kChosenBy: calibration ? 'calibration' : 'config',
    calibration,
    meanKeptMass: meta.meanKeptMass,
    keptMass: meta.keptMass,
    storage,
    ensembleFrameAccuracy: ensembleHits / frames,
    memberFrameAccuracy: Array.from(memberHits, (h) => h / frames),
    seconds,
    framesPerSecond: frames / Math.max(seconds, 1e-9),
    metadata: meta,
  };
}

// ---------------------------------------------------------------------------------------------
// Stage level: Arrow files and model directories

/** Identity of a model directory's weights: sha256 over the hashes of model.json and weights.bin. */
export async function modelDirHash(dir: string): Promise<string> {
  return sha256Hex(`${await hashFile(join(dir, MODEL_JSON))}:${await hashFile(join(dir, WEIGHTS_BIN))}`);
}

export interface LoadMemberOptions {
  /** CMVN statistics of the data the member will see (normalisation mode from its sidecar). */
  cmvn?: SpeakerCmvn;
  /** Frames per forward pass. Default 512. */
  batchSize?: number;
  /** Name in metadata and messages. Default: the directory. */
  id?: string;
}

/** An ensemble member from a src/nnet model directory (inference through utteranceLogits). */
export async function loadEnsembleMember(
  modelDir: string,
  opts: LoadMemberOptions = {},
): Promise<EnsembleMember & { sidecar: ModelSidecar }> {
  const { classifier, sidecar } = await loadModelDir(modelDir);
  const hash = await modelDirHash(modelDir);
  return {
    id: opts.id ?? modelDir,
    hash,
    numSenones: sidecar.senones.numSenones,
    senoneInventoryId: sidecar.senones.id ?? null,
    sidecar,
    predictLogits: (utt) =>
      utteranceLogits(classifier, utt, { cmvn: opts.cmvn, splice: sidecar.splice, batchSize: opts.batchSize }),
    dispose: () => classifier.dispose(),
  };
}

export interface GenerateSoftTargetsOptions {
  /** Feature files of the split or shard, in manifest order. */
  features: string[];
  /** Alignment files, in the same utterance order (one per feature file, or one for all). */
  alignments: string[];
  /** Output Arrow file, e.g. exp/targets/train.arrow or train.0-of-4.arrow. */
  output: string;
  /** Teachers: model directories (src/nnet: model.json, weights.bin, sidecar.json) or members. */
  teachers: readonly (string | EnsembleMember)[];
  config?: Partial<SoftTargetConfig>;
  /** utt2spk for per-speaker CMVN (the teachers' sidecars decide the mode). */
  uttToSpeaker?: ReadonlyMap<string, string> | Record<string, string>;
  /** TF.js backend for model directories. Default 'auto' (the ladder). */
  backend?: BackendName | 'auto';
  /** Frames per forward pass. Default 512. */
  inferenceBatchSize?: number;
  split?: string | null;
  shard?: ShardSpec | null;
  /**
   * Label only some utterances of the files (default: all): `apply` wraps the joined source, `name`
   * says which (it enters the file's config hash). Per-speaker CMVN is computed on the selection.
   */
  select?: { name: string; apply: (source: ArrowFrameSource) => FrameSource };
  logger?: Logger;
}

/**
 * The targets stage on the pipeline's files. Fatal errors (FormatError naming the files) when a
 * teacher's senone inventory, feature config, feature dimension or splice input does not fit the
 * data, or the alignment files disagree with each other or with the features.
 */
export async function generateSoftTargets(opts: GenerateSoftTargetsOptions): Promise<SoftTargetStats> {
  const logger = opts.logger ?? defaultLog;
  if (opts.alignments.length === 0)
    throw new ConfigError('soft targets need alignment files', {
      keyPath: 'alignments',
      expected: 'at least one Arrow alignment file',
      found: 'none',
    });
  const arrow = await ArrowFrameSource.open({
    features: opts.features,
    alignments: opts.alignments,
    uttToSpeaker: opts.uttToSpeaker,
  });
  const source = opts.select ? opts.select.apply(arrow) : arrow;
  let alignmentConfigHash = '';
  let numSenones = 0;
  for (const a of opts.alignments) {
    const m = await readAlignmentMetadata(a);
    if (alignmentConfigHash && m.configHash !== alignmentConfigHash)
      throw new FormatError('alignment files differ in config', {
        file: a,
        expected: `config hash ${alignmentConfigHash} (as ${opts.alignments[0]})`,
        found: m.configHash,
      });
    if (numSenones && m.numSenones !== numSenones)
      throw new FormatError('alignment files differ in senone count', {
        file: a,
        expected: String(numSenones),
        found: String(m.numSenones),
      });
    alignmentConfigHash = m.configHash;
    numSenones = m.numSenones;
  }
  let totalFrames: number | undefined; // a selection is counted by a pass (writeSoftTargets)
  if (!opts.select) {
    totalFrames = 0;
    for (const f of opts.features) totalFrames += (await readFeatureMetadata(f)).counts.frames;
  }

  const loaded: EnsembleMember[] = [];
  const members: EnsembleMember[] = [];
  try {
    const cmvnByMode = new Map<string, SpeakerCmvn>();
    const cmvnFor = async (o: CmvnOptions): Promise<SpeakerCmvn> => {
      const key = JSON.stringify([o.mode, o.normVars]);
      let c = cmvnByMode.get(key);
      if (!c) {
        c = (await scanSource(source, { numSenones, cmvn: o })).cmvn;
        cmvnByMode.set(key, c);
      }
      return c;
    };
    if (opts.teachers.some((t) => typeof t === 'string'))
      await initBackend({ backend: opts.backend ?? 'auto', logger });
    for (const t of opts.teachers) {
      if (typeof t !== 'string') {
        members.push(t);
        continue;
      }
      const sidecar = await readSidecar(t);
      checkCompatible(
        sidecar,
        {
          senones: { numSenones },
          featureConfig: arrow.featureConfig as unknown as Record<string, unknown>,
          featureDim: arrow.featureDim,
        },
        `teacher ${t} vs features ${opts.features[0]} and alignments ${opts.alignments[0]}`,
      );
      const cmvn = sidecar.cmvn.mode === 'none' ? undefined : await cmvnFor(sidecar.cmvn);
      const m = await loadEnsembleMember(t, { cmvn, batchSize: opts.inferenceBatchSize });
      loaded.push(m);
      members.push(m);
    }
    return await writeSoftTargets({
      source,
      members,
      numSenones,
      output: opts.output,
      config: opts.config,
      split: opts.split,
      shard: opts.shard,
      totalFrames,
      logger,
      provenance: {
        alignmentConfigHash,
        featureConfigHash: arrow.featureConfigHash,
        ...(opts.select ? { selection: opts.select.name } : {}),
      },
    });
  } finally {
    for (const m of loaded) m.dispose?.();
  }
}
