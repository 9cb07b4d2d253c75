/**
 * The Arrow feature store (docs/design.md section 4): one Arrow IPC *file* per split (and shard),
 * readable by pyarrow and polars.
 *
 *   utt_id  Dictionary<Int32, Utf8>      one global dictionary per file (the written utterances)
 *   frame   Int32                        0 .. numFrames - 1 within the utterance
 *   fbank   FixedSizeList<Float32>[D]    log-mel filterbank (D = numMelBins, + 1 with energy)
 *   mfcc    FixedSizeList<Float32>[C]    optional: MFCC for the GMM stage, same frames
 *
 * Schema metadata (all strings): am_distill.format, am_distill.format_version, am_distill.stage,
 * am_distill.config_hash, am_distill.feature_config (JSON), am_distill.counts (JSON),
 * am_distill.split, am_distill.shard (JSON or "null"), and, only in a file with VTLP copies
 * (src/features/perturb.ts), am_distill.vtlp_warps (JSON list of the warp factors).
 *
 * Writing is incremental and atomic: record batches (one per utterance) go to a temporary file
 * with a plain int32 utterance index; `finish()` then streams that file batch by batch into a
 * second temporary file whose schema carries the final dictionary and counts, and renames it
 * into place. Memory stays bounded by one utterance; nothing half-written is ever visible.
 * Reading is lazy: record batch by record batch, yielding one utterance at a time.
 */
import {
  Data,
  DataType,
  Field,
  FixedSizeList,
  Float32,
  Int32,
  makeData,
  Precision,
  RecordBatch,
  Schema,
  Utf8,
  type Vector,
} from 'apache-arrow';
import { FormatError } from '../util/errors.ts';
import {
  ArrowReadHandle,
  checkUtteranceColumns,
  frameIndexData,
  openArrowStore,
  readingArrow,
  UtteranceFileWriter,
  UtteranceRowIndex,
  type OpenedArrowFile,
} from '../util/arrow-file.ts';
import { checkStoredCounts, STORE_META, StoreMetadata, storeMetadataMap } from '../util/arrow-metadata.ts';
import type { FeatureMatrix } from './matrix.ts';
import type { FbankOptions, MfccOptions } from './options.ts';

export const FEATURE_FORMAT = 'am-distill.features';
export const FEATURE_FORMAT_VERSION = 1;

export const META = {
  ...STORE_META,
  featureConfig: 'am_distill.feature_config',
  counts: 'am_distill.counts',
  split: 'am_distill.split',
  shard: 'am_distill.shard',
  vtlpWarps: 'am_distill.vtlp_warps',
} as const;

/** What later stages need to know about the features (written into every feature file). */
export interface FeatureConfig {
  sampleRateHz: number;
  frameShiftMs: number;
  frameLengthMs: number;
  /** Mel bins of the fbank column. */
  numMelBins: number;
  /** Width of the fbank column (numMelBins, + 1 when fbank.useEnergy). */
  fbankDim: number;
  /** Width of the mfcc column, or null when the file has none. */
  mfccDim: number | null;
  /** Full effective options (Kaldi names in camelCase). */
  fbank: FbankOptions;
  mfcc: MfccOptions | null;
}

export interface ShardSpec {
  /** 0-based shard index. */
  index: number;
  count: number;
}

export interface FeatureCounts {
  utterances: number;
  frames: number;
  /** Utterances that were planned but skipped (bad audio, too short). */
  skipped: number;
}

export interface FeatureFileMetadata {
  format: string;
  formatVersion: number;
  stage: string;
  configHash: string;
  featureConfig: FeatureConfig;
  counts: FeatureCounts;
  split: string | null;
  shard: ShardSpec | null;
  /** VTLP warp factors of the copies in the file (src/features/perturb.ts); [] when none. */
  vtlpWarps: number[];
}

export interface FeatureUtterance {
  uttId: string;
  fbank: FeatureMatrix;
  mfcc?: FeatureMatrix;
}

export interface FeatureWriterOptions {
  configHash: string;
  featureConfig: FeatureConfig;
  /** Producing stage. Default 'features'. */
  stage?: string;
  split?: string | null;
  shard?: ShardSpec | null;
  /** VTLP warp factors of the copies the writer is given. Default []. */
  vtlpWarps?: number[];
}

function listType(dim: number): FixedSizeList<Float32> {
  return new FixedSizeList(dim, new Field('item', new Float32(), false));
}

function listData(m: FeatureMatrix, type: FixedSizeList<Float32>): Data<FixedSizeList<Float32>> {
  const child = makeData({ type: new Float32(), length: m.data.length, nullCount: 0, data: m.data });
  return makeData({ type, length: m.numFrames, nullCount: 0, child });
}

/**
 * Incremental, atomic writer of one feature file. `add()` one utterance at a time, then
 * `finish()`; on any error call `abort()` (nothing is left behind).
 */
export class FeatureFileWriter {
  readonly path: string;
  private readonly opts: Required<FeatureWriterOptions>;
  private readonly file: UtteranceFileWriter;
  private readonly fbankType: FixedSizeList<Float32>;
  private readonly mfccType: FixedSizeList<Float32> | null;

  private constructor(
    path: string,
    opts: Required<FeatureWriterOptions>,
    file: UtteranceFileWriter,
    fbankType: FixedSizeList<Float32>,
    mfccType: FixedSizeList<Float32> | null,
  ) {
    this.path = path;
    this.opts = opts;
    this.file = file;
    this.fbankType = fbankType;
    this.mfccType = mfccType;
  }

  /** Create the writer (parent directories are created). */
  static async open(path: string, opts: FeatureWriterOptions): Promise<FeatureFileWriter> {
    const fc = opts.featureConfig;
    const fbankType = listType(fc.fbankDim);
    const mfccType = fc.mfccDim ? listType(fc.mfccDim) : null;
    const fields = [new Field('frame', new Int32(), false), new Field('fbank', fbankType, false)];
    if (mfccType) fields.push(new Field('mfcc', mfccType, false));
    const file = await UtteranceFileWriter.open(path, fields, 'FeatureFileWriter', 'feature file');
    return new FeatureFileWriter(
      path,
      { stage: 'features', split: null, shard: null, vtlpWarps: [], ...opts },
      file,
      fbankType,
      mfccType,
    );
  }

  get utterances(): number {
    return this.file.utterances;
  }

  get numFrames(): number {
    return this.file.numFrames;
  }

  /** Append one utterance as one record batch. */
  add(uttId: string, fbank: FeatureMatrix, mfcc?: FeatureMatrix): void {
    this.file.checkAdd(uttId);
    const fc = this.opts.featureConfig;
    if (fbank.dim !== fc.fbankDim) {
      throw new FormatError('fbank dimension differs from the feature config', {
        file: this.path,
        uttId,
        expected: String(fc.fbankDim),
        found: String(fbank.dim),
      });
    }
    if (this.mfccType) {
      if (!mfcc) throw new FormatError('missing mfcc for a file with an mfcc column', { file: this.path, uttId });
      if (mfcc.dim !== fc.mfccDim)
        throw new FormatError('mfcc dimension differs from the feature config', {
          file: this.path,
          uttId,
          expected: String(fc.mfccDim),
          found: String(mfcc.dim),
        });
      if (mfcc.numFrames !== fbank.numFrames) {
        throw new FormatError('fbank and mfcc differ in frame count', {
          file: this.path,
          uttId,
          expected: String(fbank.numFrames),
          found: String(mfcc.numFrames),
        });
      }
    } else if (mfcc) {
      throw new FormatError('mfcc given for a file without an mfcc column', { file: this.path, uttId });
    }
    const n = fbank.numFrames;
    const columns: Data[] = [frameIndexData(n), listData(fbank, this.fbankType)];
    if (this.mfccType && mfcc) columns.push(listData(mfcc, this.mfccType));
    this.file.append(uttId, n, columns);
  }

  /**
   * Close the file: rewrite it with the final dictionary and counts, rename into place.
   * `skipped` is recorded in the counts metadata.
   */
  async finish(skipped = 0): Promise<FeatureFileMetadata> {
    const counts: FeatureCounts = { utterances: this.file.utterances, frames: this.file.numFrames, skipped };
    const meta: FeatureFileMetadata = {
      format: FEATURE_FORMAT,
      formatVersion: FEATURE_FORMAT_VERSION,
      stage: this.opts.stage,
      configHash: this.opts.configHash,
      featureConfig: this.opts.featureConfig,
      counts,
      split: this.opts.split,
      shard: this.opts.shard,
      vtlpWarps: this.opts.vtlpWarps,
    };
    await this.file.finish(metadataMap(meta));
    return meta;
  }

  /** Drop everything written so far. */
  async abort(): Promise<void> {
    await this.file.abort();
  }
}

function metadataMap(m: FeatureFileMetadata): Map<string, string> {
  const md = storeMetadataMap(m, [
    [META.featureConfig, JSON.stringify(m.featureConfig)],
    [META.counts, JSON.stringify(m.counts)],
    [META.split, m.split ?? ''],
    [META.shard, JSON.stringify(m.shard)],
  ]);
  // Only in files with copies, so that files without them keep their bytes.
  if (m.vtlpWarps.length > 0) md.set(META.vtlpWarps, JSON.stringify(m.vtlpWarps));
  return md;
}

function parseMetadata(schema: Schema, file: string): FeatureFileMetadata {
  const md = StoreMetadata.open(schema, file, 'feature file', FEATURE_FORMAT, FEATURE_FORMAT_VERSION);
  const vtlpWarps = md.jsonOr<unknown>(META.vtlpWarps, []);
  if (!Array.isArray(vtlpWarps) || !vtlpWarps.every((w) => typeof w === 'number' && Number.isFinite(w) && w > 0)) {
    throw new FormatError('malformed VTLP warp factors in schema metadata', {
      file,
      keyPath: META.vtlpWarps,
      expected: 'a JSON list of positive numbers',
      found: md.get(META.vtlpWarps),
    });
  }
  return {
    ...md.head(),
    featureConfig: md.json<FeatureConfig>(META.featureConfig),
    counts: md.json<FeatureCounts>(META.counts),
    split: md.optional(META.split),
    shard: md.jsonOr<ShardSpec | null>(META.shard, null),
    vtlpWarps: vtlpWarps as number[],
  };
}

/** What a reader insists on; any mismatch is a FormatError naming the file. */
export interface FeatureExpectation {
  fbankDim?: number;
  numMelBins?: number;
  /** true: the file must have an mfcc column; a number: of this width. */
  mfcc?: boolean | number;
  sampleRateHz?: number;
  configHash?: string;
}

function isFloat32(t: DataType): boolean {
  return DataType.isFloat(t) && t.precision === Precision.SINGLE;
}

function validateSchema(schema: Schema, meta: FeatureFileMetadata, file: string, expect: FeatureExpectation): void {
  const field = (name: string) => schema.fields.find((f) => f.name === name);
  const fc = meta.featureConfig;
  checkUtteranceColumns(schema, file);
  const checkList = (name: string, dim: number) => {
    const f = field(name);
    if (!f || !DataType.isFixedSizeList(f.type) || !isFloat32(f.type.valueType)) {
      throw new FormatError(`bad ${name} column`, {
        file,
        expected: `${name}: FixedSizeList<Float32>[${dim}]`,
        found: f ? String(f.type) : `no ${name} column`,
      });
    }
    if (f.type.listSize !== dim) {
      throw new FormatError(`${name} dimension differs from the file's feature config`, {
        file,
        expected: String(dim),
        found: String(f.type.listSize),
      });
    }
  };
  checkList('fbank', fc.fbankDim);
  if (fc.mfccDim) checkList('mfcc', fc.mfccDim);
  const mismatch = (what: string, expected: unknown, found: unknown) => {
    throw new FormatError(`${what} differs from what the reader expects`, {
      file,
      expected: String(expected),
      found: String(found),
    });
  };
  if (expect.fbankDim !== undefined && expect.fbankDim !== fc.fbankDim)
    mismatch('fbank dimension', expect.fbankDim, fc.fbankDim);
  if (expect.numMelBins !== undefined && expect.numMelBins !== fc.numMelBins)
    mismatch('number of mel bins', expect.numMelBins, fc.numMelBins);
  if (expect.sampleRateHz !== undefined && expect.sampleRateHz !== fc.sampleRateHz)
    mismatch('sample rate', `${expect.sampleRateHz} Hz`, `${fc.sampleRateHz} Hz`);
  if (expect.configHash !== undefined && expect.configHash !== meta.configHash)
    mismatch('feature config hash', expect.configHash, meta.configHash);
  if (expect.mfcc === true && !fc.mfccDim) mismatch('mfcc column', 'present', 'absent');
  if (typeof expect.mfcc === 'number' && expect.mfcc !== fc.mfccDim)
    mismatch('mfcc dimension', expect.mfcc, fc.mfccDim ?? 'absent');
}

/**
 * Lazily reads a feature file record batch by record batch. Open with `FeatureFileReader.open`,
 * iterate `utterances()`, and `close()` (iteration to the end closes too).
 */
export class FeatureFileReader {
  readonly path: string;
  readonly metadata: FeatureFileMetadata;
  readonly schema: Schema;
  private readonly fh: ArrowReadHandle;
  private readonly reader: AsyncIterable<RecordBatch> & { cancel?: () => Promise<void> };
  private closed = false;

  private constructor(
    path: string,
    fh: ArrowReadHandle,
    reader: AsyncIterable<RecordBatch>,
    schema: Schema,
    metadata: FeatureFileMetadata,
  ) {
    this.path = path;
    this.fh = fh;
    this.reader = reader;
    this.schema = schema;
    this.metadata = metadata;
  }

  static async open(path: string, expect: FeatureExpectation = {}): Promise<FeatureFileReader> {
    const { fh, reader, schema, meta } = await openArrowStore(path, 'feature file', (schema) => {
      const meta = parseMetadata(schema, path);
      validateSchema(schema, meta, path, expect);
      return meta;
    });
    return new FeatureFileReader(path, fh, reader as unknown as AsyncIterable<RecordBatch>, schema, meta);
  }

  /** Utterances in file order; each matrix is independent of the others. */
  async *utterances(): AsyncGenerator<FeatureUtterance> {
    const file = this.path;
    const fc = this.metadata.featureConfig;
    const hasMfcc = Boolean(fc.mfccDim);
    let cur: { uttId: string; index: number; fb: Float32Array[]; mf: Float32Array[]; frames: number } | null = null;
    const emit = (): FeatureUtterance => {
      const c = cur!;
      const fbank = { numFrames: c.frames, dim: fc.fbankDim, data: concat(c.fb, c.frames * fc.fbankDim) };
      const u: FeatureUtterance = { uttId: c.uttId, fbank };
      if (hasMfcc) u.mfcc = { numFrames: c.frames, dim: fc.mfccDim!, data: concat(c.mf, c.frames * fc.mfccDim!) };
      return u;
    };
    const seen = new Set<number>();
    try {
      for await (const batch of this.reader) {
        const n = batch.numRows;
        if (n === 0) continue;
        const uttData = batch.getChild('utt_id')!.data[0];
        const frameData = batch.getChild('frame')!.data[0];
        const fbData = batch.getChild('fbank')!.data[0];
        const mfData = hasMfcc ? batch.getChild('mfcc')!.data[0] : null;
        const idx = (uttData.values as Int32Array).subarray(uttData.offset, uttData.offset + n);
        const frames = (frameData.values as Int32Array).subarray(frameData.offset, frameData.offset + n);
        const dict = uttData.dictionary as Vector<Utf8>;
        const fbValues = listValues(fbData, fc.fbankDim);
        const mfValues = mfData ? listValues(mfData, fc.mfccDim!) : null;
        let start = 0;
        while (start < n) {
          let end = start + 1;
          while (end < n && idx[end] === idx[start]) end++;
          const index = idx[start];
          if (!cur || cur.index !== index) {
            if (cur) yield emit();
            if (seen.has(index)) {
              throw new FormatError('utterance rows are not contiguous', {
                file,
                uttId: String(dict.get(index)),
                expected: 'all frames of an utterance together',
              });
            }
            seen.add(index);
            const uttId = dict.get(index);
            if (uttId === null || uttId === undefined)
              throw new FormatError('utt_id index outside the dictionary', { file, found: String(index) });
            cur = { uttId, index, fb: [], mf: [], frames: 0 };
          }
          for (let r = start; r < end; r++) {
            if (frames[r] !== cur.frames + (r - start)) {
              throw new FormatError('frame numbers are not 0, 1, 2, ... within the utterance', {
                file,
                uttId: cur.uttId,
                expected: String(cur.frames + (r - start)),
                found: String(frames[r]),
              });
            }
          }
          cur.fb.push(fbValues.subarray(start * fc.fbankDim, end * fc.fbankDim));
          if (mfValues) cur.mf.push(mfValues.subarray(start * fc.mfccDim!, end * fc.mfccDim!));
          cur.frames += end - start;
          start = end;
        }
      }
      if (cur) yield emit();
    } finally {
      await this.close();
    }
  }

  /**
   * Random access: the utterance with dictionary index `index` (see `uttIds`). Do not mix with
   * `utterances()` on one reader.
   */
  async readUtterance(index: number): Promise<FeatureUtterance> {
    const rows = await this.rowIndex().rows(index);
    const fc = this.metadata.featureConfig;
    const total = rows.reduce((n, r) => n + r.end - r.start, 0);
    const columns = (name: string, dim: number) =>
      concat(
        rows.map((r) => listValues(r.batch.getChild(name)!.data[0], dim).subarray(r.start * dim, r.end * dim)),
        total * dim,
      );
    const u: FeatureUtterance = {
      uttId: this.uttIds[index],
      fbank: { numFrames: total, dim: fc.fbankDim, data: columns('fbank', fc.fbankDim) },
    };
    if (fc.mfccDim) u.mfcc = { numFrames: total, dim: fc.mfccDim, data: columns('mfcc', fc.mfccDim) };
    return u;
  }

  /** Utterance ids by dictionary index (for `readUtterance`). */
  get uttIds(): readonly string[] {
    return this.rowIndex().uttIds;
  }

  private rows: UtteranceRowIndex | null = null;

  private rowIndex(): UtteranceRowIndex {
    if (!this.rows)
      this.rows = new UtteranceRowIndex(this.path, this.reader as unknown as OpenedArrowFile['reader'], this.schema);
    return this.rows;
  }

  /** True once the file handle is closed (after close(), or when iteration ended or broke off). */
  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close().catch(() => undefined);
  }
}

function listValues(d: Data, dim: number): Float32Array {
  const child = d.children[0];
  const values = child.values as Float32Array;
  const start = child.offset + d.offset * dim;
  return values.subarray(start, start + d.length * dim);
}

function concat(parts: Float32Array[], total: number): Float32Array {
  if (parts.length === 1) return parts[0];
  const out = new Float32Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Utterances of a feature file, lazily; the file is closed when iteration ends. */
export async function* readFeatureFile(
  path: string,
  expect: FeatureExpectation = {},
): AsyncGenerator<FeatureUtterance> {
  const r = await FeatureFileReader.open(path, expect);
  yield* r.utterances();
}

/** Metadata (config, counts) of a feature file without reading its record batches. */
export async function readFeatureMetadata(path: string, expect: FeatureExpectation = {}): Promise<FeatureFileMetadata> {
  const r = await FeatureFileReader.open(path, expect);
  await r.close();
  return r.metadata;
}

/**
 * `am-distill validate` of a feature file: schema and metadata (the reader's checks), every
 * utterance read, values finite, counts against the metadata. Returns the summary lines.
 */
export async function validateFeatureFile(path: string): Promise<string[]> {
  const meta = await readFeatureMetadata(path);
  const read = { utterances: 0, frames: 0 };
  await readingArrow(path, 'feature file', async () => {
    for await (const u of readFeatureFile(path)) {
      read.utterances++;
      read.frames += u.fbank.numFrames;
      for (const m of [u.fbank, u.mfcc]) {
        const i = m ? m.data.findIndex((x) => !Number.isFinite(x)) : -1;
        if (i >= 0)
          throw new FormatError('non-finite feature value', {
            file: path,
            uttId: u.uttId,
            expected: 'finite floats',
            found: `${m!.data[i]} at frame ${Math.floor(i / m!.dim)}`,
          });
      }
    }
  });
  checkStoredCounts(path, 'feature file', meta.counts, read);
  const fc = meta.featureConfig;
  return [
    `features (${meta.format} v${meta.formatVersion}, stage ${meta.stage}${meta.split ? `, split ${meta.split}` : ''}${meta.shard ? `, shard ${meta.shard.index}/${meta.shard.count}` : ''})`,
    `  ${read.utterances} utterances, ${read.frames} frames (${((read.frames * fc.frameShiftMs) / 3_600_000).toFixed(3)} h), ${meta.counts.skipped} skipped`,
    `  fbank ${fc.fbankDim} dims${fc.mfccDim ? `, mfcc ${fc.mfccDim} dims` : ''}, ${fc.sampleRateHz} Hz, shift ${fc.frameShiftMs} ms, length ${fc.frameLengthMs} ms`,
    `  config hash ${meta.configHash}`,
  ];
}

/**
 * Concatenate feature files (e.g. the shards of a split, in order) into one. All inputs must
 * share the config hash; utterance ids must be unique across them.
 */
export async function mergeFeatureFiles(
  inputs: readonly string[],
  output: string,
  opts: { split?: string | null } = {},
): Promise<FeatureFileMetadata> {
  if (inputs.length === 0)
    throw new FormatError('nothing to merge', { file: output, expected: 'at least one input file' });
  const metas = [];
  for (const p of inputs) metas.push(await readFeatureMetadata(p));
  const first = metas[0];
  metas.forEach((m, i) => {
    if (m.configHash !== first.configHash) {
      throw new FormatError('cannot merge feature files with different configs', {
        file: inputs[i],
        expected: `config hash ${first.configHash} (as ${inputs[0]})`,
        found: m.configHash,
      });
    }
    if (JSON.stringify(m.vtlpWarps) !== JSON.stringify(first.vtlpWarps)) {
      throw new FormatError('cannot merge feature files with different VTLP copies', {
        file: inputs[i],
        expected: `VTLP warps ${JSON.stringify(first.vtlpWarps)} (as ${inputs[0]})`,
        found: JSON.stringify(m.vtlpWarps),
      });
    }
  });
  const writer = await FeatureFileWriter.open(output, {
    configHash: first.configHash,
    featureConfig: first.featureConfig,
    stage: first.stage,
    split: opts.split !== undefined ? opts.split : first.split,
    shard: null,
    vtlpWarps: first.vtlpWarps,
  });
  try {
    for (const p of inputs) {
      for await (const u of readFeatureFile(p)) writer.add(u.uttId, u.fbank, u.mfcc);
    }
    return await writer.finish(metas.reduce((s, m) => s + m.counts.skipped, 0));
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
