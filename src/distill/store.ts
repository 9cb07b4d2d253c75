/**
 * The Arrow soft-target store (docs/design.md section 4): one Arrow IPC *file* per split (and shard),
 * readable by pyarrow and polars. One row per frame:
 *
 *   utt_id    Dictionary<Int32, Utf8>            one global dictionary per file (the written utterances)
 *   frame     Int32                              0 .. numFrames - 1, the frames of the feature file
 *   ids       FixedSizeList<Uint16 | Int32>[k]   senone ids, most probable first (Uint16 when S <= 65536)
 *   probs     FixedSizeList<Float16 | Float32>[k] their probabilities at temperature T
 *   residual  Float32                            only with residual 'store': 1 - kept mass
 *
 * Residual mass (what the top k leave out): with 'renormalise' (default) the kept probabilities are
 * divided by their sum, so each row is a distribution over its k ids (readers renormalise the
 * decoded values again, which removes float16 rounding from the sum). With 'store' the kept
 * probabilities are stored as they are and `residual` = 1 - their sum (computed in float64); the
 * distillation loss spreads it uniformly over the other S - k senones.
 *
 * Schema metadata (strings, keys `am_distill.*`): format (= am-distill.soft-targets),
 * format_version (1), stage, config_hash, teachers (JSON [{id, hash}]), temperature, k,
 * combination, num_senones, senone_inventory_id, residual, id_type, prob_type, mean_kept_mass,
 * kept_mass (JSON summary), alignment_config_hash, feature_config_hash, counts (JSON), split,
 * shard (JSON), config (JSON: the effective soft-target config).
 *
 * Writing is incremental and atomic as the feature and alignment stores: one record batch per
 * utterance into a temporary file with a plain int32 utterance index; `finish()` streams it batch
 * by batch into a second temporary file whose schema carries the final dictionary, counts and
 * kept mass, and renames it into place. Memory stays bounded by one utterance.
 *
 * Reading: `readSoftTargetFile` streams utterances in file order; `SoftTargetIndex` answers
 * random (utterance, frame) lookups across files with bounded memory (see there).
 */
import { statSync } from 'node:fs';
import type { ArrowReadHandle } from '../util/arrow-file.ts';
import {
  Data,
  DataType,
  Field,
  FixedSizeList,
  Float16,
  Float32,
  Int32,
  makeData,
  Precision,
  RecordBatch,
  RecordBatchReader,
  Schema,
  Uint16,
  Utf8,
  type Vector,
} from 'apache-arrow';
import { ConfigError, FormatError } from '../util/errors.ts';
import {
  checkUtteranceColumns,
  frameIndexData,
  isInt32Type,
  locateUtterances,
  openArrowStore,
  readingArrow,
  UtteranceFileWriter,
  UtteranceRowIndex,
} from '../util/arrow-file.ts';
import { checkStoredCounts, STORE_META, StoreMetadata, storeMetadataMap } from '../util/arrow-metadata.ts';
import { decodeFloat16, encodeFloat16 } from './float16.ts';
import { KeptMassStats, type KeptMassSummary } from './topk.ts';
import { COMBINATION_RULES, type CombinationRule } from './combine.ts';

export const SOFT_TARGET_FORMAT = 'am-distill.soft-targets';
export const SOFT_TARGET_FORMAT_VERSION = 1;

export const SOFT_META = {
  ...STORE_META,
  teachers: 'am_distill.teachers',
  temperature: 'am_distill.temperature',
  k: 'am_distill.k',
  combination: 'am_distill.combination',
  numSenones: 'am_distill.num_senones',
  senoneInventoryId: 'am_distill.senone_inventory_id',
  residual: 'am_distill.residual',
  idType: 'am_distill.id_type',
  probType: 'am_distill.prob_type',
  meanKeptMass: 'am_distill.mean_kept_mass',
  keptMass: 'am_distill.kept_mass',
  alignmentConfigHash: 'am_distill.alignment_config_hash',
  featureConfigHash: 'am_distill.feature_config_hash',
  counts: 'am_distill.counts',
  split: 'am_distill.split',
  shard: 'am_distill.shard',
  config: 'am_distill.config',
} as const;

export type ResidualMode = 'renormalise' | 'store';
export type ProbType = 'float16' | 'float32';
export type IdType = 'uint16' | 'int32';
export const RESIDUAL_MODES: readonly ResidualMode[] = ['renormalise', 'store'];
export const PROB_TYPES: readonly ProbType[] = ['float16', 'float32'];

/** A teacher as recorded in the metadata: its name and the hash of its weights. */
export interface TeacherId {
  id: string;
  hash: string;
}

export interface ShardSpec {
  /** 0-based shard index. */
  index: number;
  count: number;
}

export interface SoftTargetCounts {
  utterances: number;
  frames: number;
  /** Utterances of the input that got no targets (counted skips). */
  skipped: number;
}

export interface SoftTargetFileMetadata {
  format: string;
  formatVersion: number;
  stage: string;
  configHash: string;
  teachers: TeacherId[];
  temperature: number;
  k: number;
  combination: CombinationRule;
  numSenones: number;
  /** Identity of the senone inventory (tree), when the teachers record one. */
  senoneInventoryId: string | null;
  residual: ResidualMode;
  idType: IdType;
  probType: ProbType;
  /** Mean over the frames of the file of the top-k mass before renormalisation. */
  meanKeptMass: number;
  keptMass: KeptMassSummary;
  /** Config hash of the alignment file(s) the frames and hard labels come from. */
  alignmentConfigHash: string;
  /** Config hash of the feature file(s) the teachers read. */
  featureConfigHash: string;
  counts: SoftTargetCounts;
  split: string | null;
  shard: ShardSpec | null;
  /** The effective soft-target config (free-form JSON, for humans and the runner). */
  config: Record<string, unknown>;
}

export type SoftTargetWriterOptions = Omit<
  SoftTargetFileMetadata,
  | 'format'
  | 'formatVersion'
  | 'stage'
  | 'meanKeptMass'
  | 'keptMass'
  | 'counts'
  | 'idType'
  | 'split'
  | 'shard'
  | 'config'
> & {
  /** Producing stage. Default 'targets'. */
  stage?: string;
  /** 'auto' (default): uint16 when numSenones <= 65536, else int32. */
  idType?: IdType | 'auto';
  split?: string | null;
  shard?: ShardSpec | null;
  config?: Record<string, unknown>;
};

/** Top-k targets of the frames of one utterance, as the writer takes them. */
export interface TopKFrames {
  numFrames: number;
  /** numFrames x k senone ids. */
  ids: ArrayLike<number>;
  /** numFrames x k probabilities (before renormalisation). */
  probs: ArrayLike<number>;
  /** Kept mass per frame (sum of the row's probs, in float64). */
  keptMass: ArrayLike<number>;
}

/** Decoded soft targets of one utterance. */
export interface UtteranceSoftTargets {
  uttId: string;
  numFrames: number;
  k: number;
  /** numFrames x k senone ids. */
  ids: Int32Array;
  /** numFrames x k probabilities (renormalised to sum 1 per frame in 'renormalise' mode). */
  probs: Float32Array;
  /** Residual mass per frame ('store' mode), else null. */
  residual: Float32Array | null;
}

export function resolveIdType(t: IdType | 'auto' | undefined, numSenones: number): IdType {
  if (t === 'int32') return 'int32';
  if (t === 'uint16') {
    if (numSenones > 65536)
      throw new ConfigError('uint16 senone ids cannot hold this inventory', {
        keyPath: 'idType',
        expected: '<= 65536 senones',
        found: String(numSenones),
      });
    return 'uint16';
  }
  if (t !== undefined && t !== 'auto')
    throw new ConfigError('unknown id type', {
      keyPath: 'idType',
      expected: "'auto', 'uint16' or 'int32'",
      found: String(t),
    });
  return numSenones <= 65536 ? 'uint16' : 'int32';
}

function idValueType(t: IdType): Uint16 | Int32 {
  return t === 'uint16' ? new Uint16() : new Int32();
}

function probValueType(t: ProbType): Float16 | Float32 {
  return t === 'float16' ? new Float16() : new Float32();
}

function targetFields(k: number, idType: IdType, probType: ProbType, residual: ResidualMode): Field[] {
  const fields: Field[] = [
    new Field('frame', new Int32(), false),
    new Field('ids', new FixedSizeList(k, new Field('item', idValueType(idType), false)), false),
    new Field('probs', new FixedSizeList(k, new Field('item', probValueType(probType), false)), false),
  ];
  if (residual === 'store') fields.push(new Field('residual', new Float32(), false));
  return fields;
}

/**
 * Incremental, atomic writer of one soft-target file: `add()` one utterance at a time, then
 * `finish(skipped)`; on error `abort()` (nothing is left behind).
 */
export class SoftTargetFileWriter {
  readonly path: string;
  readonly k: number;
  readonly idType: IdType;
  private readonly opts: SoftTargetWriterOptions & { stage: string };
  private readonly file: UtteranceFileWriter;
  private readonly kept = new KeptMassStats();

  private constructor(path: string, opts: SoftTargetWriterOptions, idType: IdType, file: UtteranceFileWriter) {
    this.path = path;
    this.opts = { stage: 'targets', ...opts };
    this.k = opts.k;
    this.idType = idType;
    this.file = file;
  }

  static async open(path: string, opts: SoftTargetWriterOptions): Promise<SoftTargetFileWriter> {
    if (!Number.isInteger(opts.numSenones) || opts.numSenones < 1)
      throw new ConfigError('bad senone count', {
        keyPath: 'numSenones',
        expected: 'an integer >= 1',
        found: String(opts.numSenones),
      });
    if (!Number.isInteger(opts.k) || opts.k < 1 || opts.k > opts.numSenones)
      throw new ConfigError('bad top-k size', {
        keyPath: 'topK',
        expected: `an integer in 1..${opts.numSenones}`,
        found: String(opts.k),
      });
    if (!PROB_TYPES.includes(opts.probType))
      throw new ConfigError('unknown probability type', {
        keyPath: 'probType',
        expected: PROB_TYPES.join(' or '),
        found: String(opts.probType),
      });
    if (!RESIDUAL_MODES.includes(opts.residual))
      throw new ConfigError('unknown residual mode', {
        keyPath: 'residual',
        expected: RESIDUAL_MODES.join(' or '),
        found: String(opts.residual),
      });
    const idType = resolveIdType(opts.idType, opts.numSenones);
    const file = await UtteranceFileWriter.open(
      path,
      targetFields(opts.k, idType, opts.probType, opts.residual),
      'SoftTargetFileWriter',
      'soft-target file',
    );
    return new SoftTargetFileWriter(path, opts, idType, file);
  }

  get utterances(): number {
    return this.file.utterances;
  }

  get numFrames(): number {
    return this.file.numFrames;
  }

  /** Mean kept mass of the frames written so far. */
  get meanKeptMass(): number {
    return this.kept.mean;
  }

  /** Append one utterance (one record batch). */
  add(uttId: string, t: TopKFrames): void {
    this.file.checkAdd(uttId);
    const { k } = this;
    const S = this.opts.numSenones;
    const n = t.numFrames;
    if (!(n > 0))
      throw new FormatError('an utterance without frames', {
        file: this.path,
        uttId,
        expected: '>= 1 frame',
        found: String(n),
      });
    if (t.ids.length !== n * k || t.probs.length !== n * k || t.keptMass.length !== n) {
      throw new FormatError('top-k arrays have the wrong size', {
        file: this.path,
        uttId,
        expected: `${n} frames x k = ${k}`,
        found: `ids ${t.ids.length}, probs ${t.probs.length}, kept mass ${t.keptMass.length}`,
      });
    }
    const ids = this.idType === 'uint16' ? new Uint16Array(n * k) : new Int32Array(n * k);
    for (let i = 0; i < n * k; i++) {
      const id = t.ids[i];
      if (!(Number.isInteger(id) && id >= 0 && id < S)) {
        throw new FormatError('senone id outside the inventory', {
          file: this.path,
          uttId,
          expected: `0 <= id < ${S}`,
          found: `${id} at frame ${Math.floor(i / k)}`,
        });
      }
      ids[i] = id;
    }
    const probs64 = new Float64Array(n * k);
    const residual = this.opts.residual === 'store' ? new Float32Array(n) : null;
    for (let f = 0; f < n; f++) {
      const m = t.keptMass[f];
      if (!(m > 0 && m <= 1 + 1e-9))
        throw new FormatError('kept probability mass outside (0, 1]', {
          file: this.path,
          uttId,
          expected: '0 < mass <= 1',
          found: `${m} at frame ${f}`,
        });
      const scale = residual ? 1 : 1 / m;
      for (let j = 0; j < k; j++) {
        const p = t.probs[f * k + j];
        if (!(p >= 0 && p <= 1 + 1e-9))
          throw new FormatError('probability outside [0, 1]', {
            file: this.path,
            uttId,
            expected: '0 <= p <= 1',
            found: `${p} at frame ${f}`,
          });
        probs64[f * k + j] = p * scale;
      }
      if (residual) residual[f] = Math.max(0, 1 - m);
    }
    this.kept.add(t.keptMass);
    const probsData =
      this.opts.probType === 'float16'
        ? makeData({ type: new Float16(), length: n * k, nullCount: 0, data: encodeFloat16(probs64) })
        : makeData({ type: new Float32(), length: n * k, nullCount: 0, data: Float32Array.from(probs64) });
    const idsData =
      this.idType === 'uint16'
        ? makeData({ type: new Uint16(), length: n * k, nullCount: 0, data: ids as Uint16Array })
        : makeData({ type: new Int32(), length: n * k, nullCount: 0, data: ids as Int32Array });
    const [, idsField, probsField] = this.file.fields;
    const columns: Data[] = [
      frameIndexData(n),
      makeData({ type: idsField.type as FixedSizeList, length: n, nullCount: 0, child: idsData }),
      makeData({ type: probsField.type as FixedSizeList, length: n, nullCount: 0, child: probsData }),
    ];
    if (residual) columns.push(makeData({ type: new Float32(), length: n, nullCount: 0, data: residual }));
    this.file.append(uttId, n, columns);
  }

  /** Rewrite with the final dictionary, counts and kept mass; rename into place. */
  async finish(skipped = 0): Promise<SoftTargetFileMetadata> {
    const o = this.opts;
    const keptMass = this.kept.summary();
    const meta: SoftTargetFileMetadata = {
      format: SOFT_TARGET_FORMAT,
      formatVersion: SOFT_TARGET_FORMAT_VERSION,
      stage: o.stage,
      configHash: o.configHash,
      teachers: o.teachers,
      temperature: o.temperature,
      k: o.k,
      combination: o.combination,
      numSenones: o.numSenones,
      senoneInventoryId: o.senoneInventoryId ?? null,
      residual: o.residual,
      idType: this.idType,
      probType: o.probType,
      meanKeptMass: keptMass.mean,
      keptMass,
      alignmentConfigHash: o.alignmentConfigHash,
      featureConfigHash: o.featureConfigHash,
      counts: { utterances: this.file.utterances, frames: this.file.numFrames, skipped },
      split: o.split ?? null,
      shard: o.shard ?? null,
      config: o.config ?? {},
    };
    await this.file.finish(metadataMap(meta));
    return meta;
  }

  /** Drop everything written so far. */
  async abort(): Promise<void> {
    await this.file.abort();
  }
}

function metadataMap(m: SoftTargetFileMetadata): Map<string, string> {
  return storeMetadataMap(m, [
    [SOFT_META.teachers, JSON.stringify(m.teachers)],
    [SOFT_META.temperature, String(m.temperature)],
    [SOFT_META.k, String(m.k)],
    [SOFT_META.combination, m.combination],
    [SOFT_META.numSenones, String(m.numSenones)],
    [SOFT_META.senoneInventoryId, m.senoneInventoryId ?? ''],
    [SOFT_META.residual, m.residual],
    [SOFT_META.idType, m.idType],
    [SOFT_META.probType, m.probType],
    [SOFT_META.meanKeptMass, String(m.meanKeptMass)],
    [SOFT_META.keptMass, JSON.stringify(m.keptMass)],
    [SOFT_META.alignmentConfigHash, m.alignmentConfigHash],
    [SOFT_META.featureConfigHash, m.featureConfigHash],
    [SOFT_META.counts, JSON.stringify(m.counts)],
    [SOFT_META.split, m.split ?? ''],
    [SOFT_META.shard, JSON.stringify(m.shard)],
    [SOFT_META.config, JSON.stringify(m.config)],
  ]);
}

function parseMetadata(schema: Schema, file: string): SoftTargetFileMetadata {
  const md = StoreMetadata.open(schema, file, 'soft-target file', SOFT_TARGET_FORMAT, SOFT_TARGET_FORMAT_VERSION);
  return {
    ...md.head(),
    teachers: md.json<TeacherId[]>(SOFT_META.teachers),
    temperature: md.positive(SOFT_META.temperature, 'temperature'),
    k: md.positiveInt(SOFT_META.k),
    combination: md.oneOf(SOFT_META.combination, COMBINATION_RULES),
    numSenones: md.positiveInt(SOFT_META.numSenones),
    senoneInventoryId: md.optional(SOFT_META.senoneInventoryId),
    residual: md.oneOf(SOFT_META.residual, RESIDUAL_MODES),
    idType: md.oneOf(SOFT_META.idType, ['uint16', 'int32'] as const),
    probType: md.oneOf(SOFT_META.probType, PROB_TYPES),
    meanKeptMass: Number(md.get(SOFT_META.meanKeptMass)),
    keptMass: md.json<KeptMassSummary>(SOFT_META.keptMass),
    alignmentConfigHash: md.get(SOFT_META.alignmentConfigHash),
    featureConfigHash: md.get(SOFT_META.featureConfigHash),
    counts: md.json<SoftTargetCounts>(SOFT_META.counts),
    split: md.optional(SOFT_META.split),
    shard: md.jsonOr<ShardSpec | null>(SOFT_META.shard, null),
    config: md.jsonOr<Record<string, unknown>>(SOFT_META.config, {}),
  };
}

function validateSchema(schema: Schema, meta: SoftTargetFileMetadata, file: string): void {
  const field = (name: string) => schema.fields.find((f) => f.name === name);
  checkUtteranceColumns(schema, file);
  const ids = field('ids');
  const idOk = (t: DataType) =>
    meta.idType === 'uint16' ? DataType.isInt(t) && t.bitWidth === 16 && !t.isSigned : isInt32Type(t);
  if (!ids || !DataType.isFixedSizeList(ids.type) || !idOk(ids.type.valueType)) {
    throw new FormatError('bad ids column', {
      file,
      expected: `ids: FixedSizeList<${meta.idType === 'uint16' ? 'Uint16' : 'Int32'}>[${meta.k}]`,
      found: ids ? String(ids.type) : 'no ids column',
    });
  }
  const probs = field('probs');
  const probOk = (t: DataType) =>
    DataType.isFloat(t) && t.precision === (meta.probType === 'float16' ? Precision.HALF : Precision.SINGLE);
  if (!probs || !DataType.isFixedSizeList(probs.type) || !probOk(probs.type.valueType)) {
    throw new FormatError('bad probs column', {
      file,
      expected: `probs: FixedSizeList<${meta.probType === 'float16' ? 'Float16' : 'Float32'}>[${meta.k}]`,
      found: probs ? String(probs.type) : 'no probs column',
    });
  }
  for (const [name, f] of [
    ['ids', ids],
    ['probs', probs],
  ] as const) {
    const size = (f.type as FixedSizeList).listSize;
    if (size !== meta.k)
      throw new FormatError(`${name} list size differs from k in the metadata`, {
        file,
        expected: `k = ${meta.k}`,
        found: String(size),
      });
  }
  const residual = field('residual');
  if (meta.residual === 'store') {
    if (!residual || !DataType.isFloat(residual.type) || residual.type.precision !== Precision.SINGLE) {
      throw new FormatError('bad residual column', {
        file,
        expected: "residual: Float32 (residual mode 'store')",
        found: residual ? String(residual.type) : 'no residual column',
      });
    }
  }
}

interface OpenedFile {
  fh: ArrowReadHandle;
  reader: Awaited<ReturnType<typeof RecordBatchReader.from>>;
  meta: SoftTargetFileMetadata;
  schema: Schema;
}

async function openFile(path: string): Promise<OpenedFile> {
  return openArrowStore(path, 'soft-target file', (schema) => {
    const meta = parseMetadata(schema, path);
    validateSchema(schema, meta, path);
    return meta;
  });
}

/** Metadata of a soft-target file (footer only; schema validated). */
export async function readSoftTargetMetadata(path: string): Promise<SoftTargetFileMetadata> {
  const f = await openFile(path);
  await f.fh.close().catch(() => undefined);
  return f.meta;
}

// ---------------------------------------------------------------------------------------------
// Validation against what a consumer (the student, the loss) expects

/** What a consumer of soft targets insists on; every given field is compared. */
export interface SoftTargetExpectation {
  /** The student's senone count. */
  numSenones?: number;
  /** The student's senone inventory id (compared when both sides record one). */
  senoneInventoryId?: string | null;
  /** Config hash of the feature files the student reads. */
  featureConfigHash?: string;
  /** Config hash of the alignment files the student's hard labels come from. */
  alignmentConfigHash?: string;
  /** Top-k width the consumer was configured for. */
  k?: number;
  /** Temperature of the student's soft term. */
  temperature?: number;
  /** Names of the other side in messages, e.g. { features: 'exp/feats/train.arrow', student: 'student config' }. */
  names?: { features?: string; alignments?: string; student?: string };
}

/**
 * Throw a FormatError naming the file and what differs when the targets do not fit the consumer:
 * senone inventory (count or id), feature config, alignments (the targets were made from other
 * alignments), k, temperature.
 */
export function checkSoftTargets(meta: SoftTargetFileMetadata, file: string, e: SoftTargetExpectation): void {
  const n = e.names ?? {};
  const student = n.student ?? 'the student';
  if (e.numSenones !== undefined && e.numSenones !== meta.numSenones) {
    throw new FormatError('soft targets and student differ in senone inventory', {
      file,
      expected: `${e.numSenones} senones (${student})`,
      found: `${meta.numSenones} senones in the targets`,
    });
  }
  if (e.senoneInventoryId && meta.senoneInventoryId && e.senoneInventoryId !== meta.senoneInventoryId) {
    throw new FormatError('soft targets and student differ in senone inventory', {
      file,
      expected: `inventory ${e.senoneInventoryId} (${student})`,
      found: `inventory ${meta.senoneInventoryId} in the targets`,
    });
  }
  if (e.featureConfigHash !== undefined && e.featureConfigHash !== meta.featureConfigHash) {
    throw new FormatError('soft targets were made from other features', {
      file,
      expected: `feature config hash ${e.featureConfigHash}${n.features ? ` (of ${n.features})` : ''}`,
      found: meta.featureConfigHash,
    });
  }
  if (e.alignmentConfigHash !== undefined && e.alignmentConfigHash !== meta.alignmentConfigHash) {
    throw new FormatError('soft targets were made from other alignments', {
      file,
      expected: `alignment config hash ${e.alignmentConfigHash}${n.alignments ? ` (of ${n.alignments})` : ''}`,
      found: meta.alignmentConfigHash,
    });
  }
  if (e.k !== undefined && e.k !== meta.k) {
    throw new FormatError('soft targets have another top-k width', {
      file,
      expected: `k = ${e.k}`,
      found: `k = ${meta.k}`,
    });
  }
  if (e.temperature !== undefined && e.temperature !== meta.temperature) {
    throw new FormatError('soft targets were made at another temperature', {
      file,
      expected: `T = ${e.temperature} (${student})`,
      found: `T = ${meta.temperature}`,
    });
  }
}

/** Fields that must agree between the files of one set of soft targets (shards of a split). */
const SAME_ACROSS_FILES = [
  'configHash',
  'temperature',
  'k',
  'combination',
  'numSenones',
  'senoneInventoryId',
  'residual',
  'alignmentConfigHash',
  'featureConfigHash',
] as const;

function checkSameRun(a: SoftTargetFileMetadata, aFile: string, b: SoftTargetFileMetadata, bFile: string): void {
  for (const key of SAME_ACROSS_FILES) {
    if (a[key] !== b[key])
      throw new FormatError(`soft-target files differ in ${key}`, {
        file: bFile,
        expected: `${String(a[key])} (as ${aFile})`,
        found: String(b[key]),
      });
  }
  const ta = JSON.stringify(a.teachers),
    tb = JSON.stringify(b.teachers);
  if (ta !== tb)
    throw new FormatError('soft-target files come from different teachers', {
      file: bFile,
      expected: `${ta} (as ${aFile})`,
      found: tb,
    });
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface BatchColumns {
  n: number;
  uttIndex: Int32Array;
  dict: Vector<Utf8>;
  frame: Int32Array;
  ids: Uint16Array | Int32Array;
  probs: Uint16Array | Float32Array;
  residual: Float32Array | null;
}

function batchColumns(batch: RecordBatch, meta: SoftTargetFileMetadata, file: string): BatchColumns {
  const n = batch.numRows;
  const k = meta.k;
  const uttData = batch.getChild('utt_id')!.data[0];
  const frameData = batch.getChild('frame')!.data[0];
  const idsData = batch.getChild('ids')!.data[0];
  const probsData = batch.getChild('probs')!.data[0];
  const resData = meta.residual === 'store' ? batch.getChild('residual')!.data[0] : null;
  for (const d of [
    uttData,
    frameData,
    idsData,
    probsData,
    idsData.children[0],
    probsData.children[0],
    ...(resData ? [resData] : []),
  ]) {
    if (d.nullCount > 0)
      throw new FormatError('null values in a column', { file, expected: 'no nulls', found: `${d.nullCount} nulls` });
  }
  const list = <T extends Uint16Array | Int32Array | Float32Array>(d: Data): T => {
    const child = d.children[0];
    const start = child.offset + d.offset * k;
    return (child.values as T).subarray(start, start + n * k) as T;
  };
  return {
    n,
    uttIndex: (uttData.values as Int32Array).subarray(uttData.offset, uttData.offset + n),
    dict: uttData.dictionary as Vector<Utf8>,
    frame: (frameData.values as Int32Array).subarray(frameData.offset, frameData.offset + n),
    ids: list(idsData),
    probs: list(probsData),
    residual: resData ? (resData.values as Float32Array).subarray(resData.offset, resData.offset + n) : null,
  };
}

/** Decode and validate rows [start, end) of a batch into an utterance's arrays at frame offset `at`. */
function decodeRows(
  c: BatchColumns,
  start: number,
  end: number,
  meta: SoftTargetFileMetadata,
  out: { ids: Int32Array; probs: Float32Array; residual: Float32Array | null },
  at: number,
  file: string,
  uttId: string,
  stamp: Int32Array,
): void {
  const k = meta.k;
  const S = meta.numSenones;
  const rows = end - start;
  out.ids.set(c.ids.subarray(start * k, end * k), at * k);
  const probs = out.probs.subarray(at * k, (at + rows) * k);
  if (meta.probType === 'float16') decodeFloat16((c.probs as Uint16Array).subarray(start * k, end * k), probs);
  else probs.set((c.probs as Float32Array).subarray(start * k, end * k));
  if (out.residual && c.residual) out.residual.set(c.residual.subarray(start, end), at);
  for (let r = 0; r < rows; r++) {
    const f = at + r;
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const id = out.ids[f * k + j];
      const p = probs[r * k + j];
      if (!(id >= 0 && id < S))
        throw new FormatError('senone id outside the inventory', {
          file,
          uttId,
          expected: `0 <= id < ${S}`,
          found: `${id} at frame ${f}`,
        });
      if (stamp[id] === f + 1)
        throw new FormatError('a senone id occurs twice in one frame', {
          file,
          uttId,
          expected: `${k} distinct ids`,
          found: `id ${id} twice at frame ${f}`,
        });
      stamp[id] = f + 1;
      if (!(p >= 0 && p <= 1.001))
        throw new FormatError('probability outside [0, 1]', {
          file,
          uttId,
          expected: '0 <= p <= 1',
          found: `${p} at frame ${f}`,
        });
      sum += p;
    }
    for (let j = 0; j < k; j++) stamp[out.ids[f * k + j]] = 0;
    if (meta.residual === 'renormalise') {
      if (!(sum > 0))
        throw new FormatError('a frame without probability mass', {
          file,
          uttId,
          expected: 'probabilities summing to 1',
          found: `sum ${sum} at frame ${f}`,
        });
      const inv = 1 / sum;
      for (let j = 0; j < k; j++) probs[r * k + j] *= inv;
    } else if (out.residual) {
      const res = out.residual[f];
      if (!(res >= 0 && res <= 1 && Math.abs(sum + res - 1) < 2e-3)) {
        throw new FormatError('kept mass and residual do not add up to 1', {
          file,
          uttId,
          expected: 'sum(probs) + residual = 1',
          found: `${sum} + ${res} at frame ${f}`,
        });
      }
    }
  }
}

/** Assembles one utterance from row runs (which may span record batches). */
class UtteranceBuilder {
  readonly uttId: string;
  private readonly parts: { c: BatchColumns; start: number; end: number }[] = [];
  frames = 0;

  constructor(uttId: string) {
    this.uttId = uttId;
  }

  /** Rows [start, end) of a batch: the utterance's next frames (their numbers checked by the caller). */
  push(c: BatchColumns, start: number, end: number): void {
    this.parts.push({ c, start, end });
    this.frames += end - start;
  }

  build(meta: SoftTargetFileMetadata, file: string, stamp: Int32Array): UtteranceSoftTargets {
    const n = this.frames,
      k = meta.k;
    const out = {
      ids: new Int32Array(n * k),
      probs: new Float32Array(n * k),
      residual: meta.residual === 'store' ? new Float32Array(n) : null,
    };
    let at = 0;
    for (const p of this.parts) {
      decodeRows(p.c, p.start, p.end, meta, out, at, file, this.uttId, stamp);
      at += p.end - p.start;
    }
    return { uttId: this.uttId, numFrames: n, k, ...out };
  }
}

/**
 * Utterances of a soft-target file in file order, decoded and validated; rows of one utterance may
 * span record batches (files re-batched by other tools read too) but must be contiguous.
 */
export async function* readSoftTargetFile(
  path: string,
  expect: SoftTargetExpectation = {},
): AsyncGenerator<UtteranceSoftTargets, void, undefined> {
  const f = await openFile(path);
  try {
    checkSoftTargets(f.meta, path, expect);
    const stamp = new Int32Array(f.meta.numSenones);
    let cur: UtteranceBuilder | null = null;
    let curIndex = -1;
    const seen = new Set<number>();
    for await (const batch of f.reader as AsyncIterable<RecordBatch>) {
      if (batch.numRows === 0) continue;
      const c = batchColumns(batch, f.meta, path);
      let start = 0;
      while (start < c.n) {
        let end = start + 1;
        while (end < c.n && c.uttIndex[end] === c.uttIndex[start]) end++;
        const index = c.uttIndex[start];
        if (!cur || index !== curIndex) {
          if (cur) yield cur.build(f.meta, path, stamp);
          if (seen.has(index))
            throw new FormatError('utterance rows are not contiguous', {
              file: path,
              uttId: String(c.dict.get(index)),
              expected: 'all frames of an utterance together',
            });
          seen.add(index);
          const uttId = c.dict.get(index);
          if (uttId === null || uttId === undefined)
            throw new FormatError('utt_id index outside the dictionary', { file: path, found: String(index) });
          cur = new UtteranceBuilder(uttId);
          curIndex = index;
        }
        for (let r = start; r < end; r++) {
          const want = cur.frames + (r - start);
          if (c.frame[r] !== want)
            throw new FormatError('frame numbers are not 0, 1, 2, ... within the utterance', {
              file: path,
              uttId: cur.uttId,
              expected: `frame ${want}`,
              found: `frame ${c.frame[r]}`,
            });
        }
        cur.push(c, start, end);
        start = end;
      }
    }
    if (cur) yield cur.build(f.meta, path, stamp);
  } finally {
    await f.fh.close().catch(() => undefined);
  }
}

/** Tolerance of a frame's stored probability sum (float16 storage). */
const SUM_TOLERANCE = 1e-2;

/**
 * `am-distill validate` of a soft-target file: every utterance read and checked by the reader (ids
 * within [0, num_senones) and distinct, probabilities in [0, 1], kept mass + residual = 1 with
 * 'store'), the stored row sums with 'renormalise' (`checkStoredRowSums`), counts against the
 * metadata. Returns the summary lines.
 */
export async function validateSoftTargetFile(path: string): Promise<string[]> {
  const meta = await readSoftTargetMetadata(path);
  const read = { utterances: 0, frames: 0 };
  await readingArrow(path, 'soft-target file', async () => {
    for await (const u of readSoftTargetFile(path)) {
      read.utterances++;
      read.frames += u.numFrames;
    }
  });
  checkStoredCounts(path, 'soft-target file', meta.counts, read);
  if (meta.residual === 'renormalise')
    await readingArrow(path, 'soft-target file', () => checkStoredRowSums(path, meta));
  const { k, numSenones: S, teachers } = meta;
  const bytesPerFrame = read.frames > 0 ? (statSync(path).size / read.frames).toFixed(1) : 'n/a';
  return [
    `soft targets (${meta.format} v${meta.formatVersion}, stage ${meta.stage}${meta.split ? `, split ${meta.split}` : ''}${meta.shard ? `, shard ${meta.shard.index}/${meta.shard.count}` : ''})`,
    `  ${read.utterances} utterances, ${read.frames} frames, ${meta.counts.skipped} skipped`,
    `  top k ${k} of ${S} senones${meta.senoneInventoryId ? ` (inventory ${meta.senoneInventoryId})` : ''}, T ${meta.temperature}, ${meta.combination} of ${teachers.length} teacher(s): ${teachers.map((t) => t.id).join(', ')}`,
    `  mean kept mass ${meta.meanKeptMass.toFixed(4)}, residual ${meta.residual}, ${meta.idType} ids, ${meta.probType} probabilities, ${bytesPerFrame} bytes per frame`,
    `  config hash ${meta.configHash}, alignment config hash ${meta.alignmentConfigHash}, feature config hash ${meta.featureConfigHash}`,
  ];
}

/**
 * With residual 'renormalise' the writer divides each frame's kept probabilities by their sum, so
 * the *stored* values of a frame sum to 1 (up to float16 rounding); the reader renormalises them
 * again, which would hide a frame that does not. One pass over the raw `probs` column, one record
 * batch (and one frame's decoded values) at a time.
 */
async function checkStoredRowSums(path: string, meta: SoftTargetFileMetadata): Promise<void> {
  const { fh, reader } = await openFile(path);
  const k = meta.k;
  const row = new Float32Array(k);
  try {
    for await (const batch of reader as unknown as AsyncIterable<RecordBatch>) {
      if (batch.numRows === 0) continue;
      const c = batchColumns(batch, meta, path);
      for (let r = 0; r < c.n; r++) {
        const stored = c.probs.subarray(r * k, (r + 1) * k);
        const probs = meta.probType === 'float16' ? decodeFloat16(stored as Uint16Array, row) : stored;
        let sum = 0;
        for (let j = 0; j < k; j++) sum += probs[j];
        if (!(Math.abs(sum - 1) <= SUM_TOLERANCE)) {
          throw new FormatError('stored probabilities of a frame do not sum to 1', {
            file: path,
            uttId: c.dict.get(c.uttIndex[r]) ?? undefined,
            expected: `sum 1 within ${SUM_TOLERANCE} (residual 'renormalise')`,
            found: `${sum} at frame ${c.frame[r]}`,
          });
        }
      }
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Random access by (utterance, frame)

/** Targets of a batch of frames, row i = frame i of the batch. */
export interface SparseBatchTargets {
  k: number;
  /** rows x k senone ids. */
  ids: Int32Array;
  /** rows x k probabilities. */
  probs: Float32Array;
  /** Residual mass per row ('store' mode), else null. */
  residual: Float32Array | null;
}

/** Rows of a minibatch keyed by utterance and frame (the shape of src/nnet's Minibatch). */
export interface FrameKeys {
  uttIds: readonly string[];
  /** Index into uttIds per row. */
  rowUtt: ArrayLike<number>;
  rowFrame: ArrayLike<number>;
}

export interface SoftTargetIndexOptions {
  /** What the consumer insists on (checked against every file). */
  expect?: SoftTargetExpectation;
  /**
   * Decoded utterances kept in an LRU cache, in frames (memory about frames x k x 8 bytes).
   * Default 100000. 0 disables the cache (streaming in file order needs none).
   */
  cacheFrames?: number;
}

interface IndexedFile {
  path: string;
  fh: ArrowReadHandle;
  meta: SoftTargetFileMetadata;
  /** Record batches of each utterance (utterance ids by dictionary index in `rows.uttIds`). */
  rows: UtteranceRowIndex;
  stamp: Int32Array;
}

/**
 * Random access to soft targets by utterance id and frame, across the files (shards) of a split,
 * with bounded memory: the index holds the utterance ids (O(utterances)) and an LRU cache of
 * decoded utterances (at most `cacheFrames` frames). A lookup reads only the record batches of that
 * utterance: files written by this module have one record batch per utterance in dictionary order,
 * so record batch i is utterance i (checked on every read); other files are scanned once to map
 * each utterance to its first record batch.
 *
 * So minibatches in any order work: `gather` / `dense` take the (uttId, frame) keys of a batch.
 */
export class SoftTargetIndex {
  readonly metadata: SoftTargetFileMetadata;
  readonly files: readonly string[];
  private readonly opened: IndexedFile[];
  private readonly where: Map<string, { file: number; index: number }>;
  private readonly cache = new Map<string, UtteranceSoftTargets>();
  private cachedFrames = 0;
  private readonly cacheLimit: number;
  /** Reads from disk (for tests and reports). */
  reads = 0;

  private constructor(files: string[], opened: IndexedFile[], cacheFrames: number) {
    this.files = files;
    this.opened = opened;
    this.metadata = opened[0].meta;
    this.cacheLimit = cacheFrames;
    this.where = locateUtterances(
      opened.map((f) => f.rows),
      'soft-target files',
    );
  }

  static async open(files: readonly string[], opts: SoftTargetIndexOptions = {}): Promise<SoftTargetIndex> {
    if (files.length === 0)
      throw new ConfigError('no soft-target files', { expected: 'at least one Arrow soft-target file', found: 'none' });
    const opened: IndexedFile[] = [];
    try {
      for (const path of files) {
        const f = await openFile(path);
        opened.push({
          path,
          fh: f.fh,
          meta: f.meta,
          rows: new UtteranceRowIndex(path, f.reader, f.schema),
          stamp: new Int32Array(f.meta.numSenones),
        });
        checkSoftTargets(f.meta, path, opts.expect ?? {});
        if (opened.length > 1) checkSameRun(opened[0].meta, opened[0].path, f.meta, path);
      }
      const cacheFrames = opts.cacheFrames ?? 100_000;
      if (!(Number.isInteger(cacheFrames) && cacheFrames >= 0))
        throw new ConfigError('bad cache size', {
          keyPath: 'cacheFrames',
          expected: 'an integer >= 0',
          found: String(cacheFrames),
        });
      return new SoftTargetIndex([...files], opened, cacheFrames);
    } catch (err) {
      for (const f of opened) await f.fh.close().catch(() => undefined);
      throw err;
    }
  }

  get k(): number {
    return this.metadata.k;
  }

  get numSenones(): number {
    return this.metadata.numSenones;
  }

  /** Number of utterances across the files. */
  get size(): number {
    return this.where.size;
  }

  has(uttId: string): boolean {
    return this.where.has(uttId);
  }

  /** Every utterance id, file by file in file order. */
  uttIds(): string[] {
    return this.opened.flatMap((f) => f.rows.uttIds);
  }

  /** Decoded targets of one utterance (from the cache or the file). Undefined when absent. */
  async get(uttId: string): Promise<UtteranceSoftTargets | undefined> {
    const hit = this.cache.get(uttId);
    if (hit) {
      // LRU: move to the back.
      this.cache.delete(uttId);
      this.cache.set(uttId, hit);
      return hit;
    }
    const w = this.where.get(uttId);
    if (!w) return undefined;
    const f = this.opened[w.file];
    const u = await this.readUtterance(f, w.index, uttId);
    this.reads++;
    if (this.cacheLimit > 0 && u.numFrames <= this.cacheLimit) {
      this.cache.set(uttId, u);
      this.cachedFrames += u.numFrames;
      for (const [id, v] of this.cache) {
        if (this.cachedFrames <= this.cacheLimit) break;
        this.cache.delete(id);
        this.cachedFrames -= v.numFrames;
      }
    }
    return u;
  }

  private async readUtterance(f: IndexedFile, index: number, uttId: string): Promise<UtteranceSoftTargets> {
    const builder = new UtteranceBuilder(uttId);
    // UtteranceRowIndex has checked the rows' utterance and frame numbers.
    for (const r of await f.rows.rows(index)) builder.push(batchColumns(r.batch, f.meta, f.path), r.start, r.end);
    return builder.build(f.meta, f.path, f.stamp);
  }

  /** Sparse targets of a batch's rows, in row order. Throws FormatError for unknown utterances or frames. */
  async gather(keys: FrameKeys): Promise<SparseBatchTargets> {
    const k = this.k;
    const n = keys.rowUtt.length;
    const ids = new Int32Array(n * k);
    const probs = new Float32Array(n * k);
    const residual = this.metadata.residual === 'store' ? new Float32Array(n) : null;
    const utts = await this.utterancesOf(keys);
    for (let i = 0; i < n; i++) {
      const u = utts[keys.rowUtt[i]];
      const t = keys.rowFrame[i];
      if (!(t >= 0 && t < u.numFrames))
        throw new FormatError("frame outside the utterance's soft targets", {
          file: this.fileOf(u.uttId),
          uttId: u.uttId,
          expected: `0 <= frame < ${u.numFrames}`,
          found: String(t),
        });
      ids.set(u.ids.subarray(t * k, (t + 1) * k), i * k);
      probs.set(u.probs.subarray(t * k, (t + 1) * k), i * k);
      if (residual) residual[i] = u.residual![t];
    }
    return { k, ids, probs, residual };
  }

  /** Dense targets (rows x numSenones) of a batch's rows; a stored residual is spread over the other senones. */
  async dense(keys: FrameKeys): Promise<Float32Array> {
    return sparseToDense(await this.gather(keys), this.numSenones);
  }

  private async utterancesOf(keys: FrameKeys): Promise<UtteranceSoftTargets[]> {
    const out: UtteranceSoftTargets[] = [];
    for (const id of keys.uttIds) {
      const u = await this.get(id);
      if (!u)
        throw new FormatError('no soft targets for this utterance', {
          file: this.files.join(', '),
          uttId: id,
          expected: 'the utterance in the soft-target files',
          found: 'absent',
        });
      out.push(u);
    }
    return out;
  }

  private fileOf(uttId: string): string {
    const w = this.where.get(uttId);
    return w ? this.opened[w.file].path : this.files.join(', ');
  }

  async close(): Promise<void> {
    for (const f of this.opened) await f.fh.close().catch(() => undefined);
    this.cache.clear();
    this.cachedFrames = 0;
  }
}

/** One pass over a file mapping each utterance (dictionary index) to its first record batch. */
/**
 * Dense rows x numSenones targets from sparse ones: kept ids get their probabilities; with a
 * residual, every other senone gets residual / (numSenones - k).
 */
export function sparseToDense(t: SparseBatchTargets, numSenones: number): Float32Array {
  const { k } = t;
  const n = t.ids.length / k;
  const out = new Float32Array(n * numSenones);
  for (let i = 0; i < n; i++) {
    const row = out.subarray(i * numSenones, (i + 1) * numSenones);
    if (t.residual && numSenones > k) row.fill(t.residual[i] / (numSenones - k));
    for (let j = 0; j < k; j++) row[t.ids[i * k + j]] = t.probs[i * k + j];
  }
  return out;
}
