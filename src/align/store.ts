/**
 * The Arrow alignment store (DESIGN.md section 4): one Arrow IPC *file* per split,
 * `<alignDir>/<split>.arrow`, readable by pyarrow and polars. One row per frame:
 *
 *   utt_id     Dictionary<Int32, Utf8>   one global dictionary per file (the written utterances)
 *   frame      Int32                     0 .. numFrames - 1, the same frames as the feature file
 *   senone     Int32                     pdf id = leaf of the context tree (senones.json maps it back)
 *   phone      Int32                     phone id of lang/phones.txt (`phones` metadata lists the symbols)
 *   hmm_state  Int8                      HMM state within the phone (0..2, silence 0..4)
 *   word       Int32                     index of the word in the transcript; -1 for optional silence
 *
 * Schema metadata (strings): am_distill.format (= am-distill.alignments), .format_version (1),
 * .stage, .config_hash, .feature_config_hash, .num_senones, .frame_shift_ms, .phones (JSON),
 * .split, .counts (JSON: utterances, frames, failed).
 *
 * Writing is incremental and atomic, as the feature store: one record batch per utterance into a
 * temporary file with a plain int32 utterance index, then `finish()` streams it batch by batch into
 * a second temporary file whose schema carries the final dictionary and counts, and renames it into
 * place. Memory stays bounded by one utterance; a reader never sees a partial file.
 */
import { closeSync, openSync, writeSync, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  AsyncByteQueue,
  Data,
  DataType,
  Dictionary,
  Field,
  Int32,
  Int8,
  makeData,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchReader,
  Schema,
  Struct,
  Utf8,
  vectorFromArray,
  type Vector,
} from 'apache-arrow';
import { FormatError } from '../util/errors.ts';

export const ALIGNMENT_FORMAT = 'am-distill.alignments';
export const ALIGNMENT_FORMAT_VERSION = 1;

export const ALIGN_META = {
  format: 'am_distill.format',
  formatVersion: 'am_distill.format_version',
  stage: 'am_distill.stage',
  configHash: 'am_distill.config_hash',
  featureConfigHash: 'am_distill.feature_config_hash',
  numSenones: 'am_distill.num_senones',
  frameShiftMs: 'am_distill.frame_shift_ms',
  phones: 'am_distill.phones',
  split: 'am_distill.split',
  counts: 'am_distill.counts',
} as const;

export interface AlignmentCounts {
  utterances: number;
  frames: number;
  /** Utterances of the split that have features but could not be aligned (or were skipped). */
  failed: number;
}

export interface AlignmentFileMetadata {
  format: string;
  formatVersion: number;
  stage: string;
  configHash: string;
  /** Config hash of the feature file the frames come from (frames join on utt_id + frame). */
  featureConfigHash: string;
  numSenones: number;
  frameShiftMs: number;
  /** Phone symbols by id (index 0 = `<eps>`), as lang/phones.txt. */
  phones: string[];
  split: string | null;
  counts: AlignmentCounts;
}

/** One aligned utterance: per-frame labels. */
export interface UtteranceAlignment {
  uttId: string;
  senone: Int32Array;
  phone: Int32Array;
  hmmState: Int32Array;
  word: Int32Array;
}

export type AlignmentWriterOptions = Omit<AlignmentFileMetadata, 'format' | 'formatVersion' | 'counts' | 'stage'> & { stage?: string };

function tmpSibling(path: string, tag: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.${tag}.tmp`);
}

/** An Arrow byte sink that writes synchronously to a file descriptor (bounded memory). */
class FdSink extends AsyncByteQueue {
  constructor(private readonly fd: number) {
    super();
  }
  override write(value: Uint8Array | ArrayBufferView | ArrayBuffer | string): void {
    let u8: Uint8Array;
    if (value instanceof Uint8Array) u8 = value;
    else if (ArrayBuffer.isView(value)) u8 = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    else if (typeof value === 'string') u8 = new TextEncoder().encode(value);
    else u8 = new Uint8Array(value);
    let off = 0;
    while (off < u8.byteLength) off += writeSync(this.fd, u8, off, u8.byteLength - off);
  }
}

const int32Data = (a: Int32Array): Data<Int32> => makeData({ type: new Int32(), length: a.length, nullCount: 0, data: a });

function labelFields(): Field[] {
  return [
    new Field('frame', new Int32(), false),
    new Field('senone', new Int32(), false),
    new Field('phone', new Int32(), false),
    new Field('hmm_state', new Int8(), false),
    new Field('word', new Int32(), false),
  ];
}

/**
 * Incremental, atomic writer of one alignment file: `add()` one utterance at a time, then
 * `finish(failed)`; on error `abort()` (nothing is left behind).
 */
export class AlignmentFileWriter {
  readonly path: string;
  private readonly opts: AlignmentWriterOptions & { stage: string };
  private readonly tmp1: string;
  private fd: number | null;
  private readonly writer: RecordBatchFileWriter;
  private readonly stageSchema: Schema;
  private readonly uttIds: string[] = [];
  private readonly seen = new Set<string>();
  private frames = 0;
  private closed = false;

  private constructor(path: string, opts: AlignmentWriterOptions) {
    this.path = path;
    this.opts = { stage: 'align', ...opts };
    this.stageSchema = new Schema([new Field('utt_index', new Int32(), false), ...labelFields()]);
    this.tmp1 = tmpSibling(path, 'part');
    this.fd = openSync(this.tmp1, 'w');
    this.writer = new RecordBatchFileWriter();
    this.writer.reset(new FdSink(this.fd), this.stageSchema);
  }

  static async open(path: string, opts: AlignmentWriterOptions): Promise<AlignmentFileWriter> {
    await fsp.mkdir(dirname(path), { recursive: true });
    return new AlignmentFileWriter(path, opts);
  }

  get utterances(): number {
    return this.uttIds.length;
  }

  get numFrames(): number {
    return this.frames;
  }

  /** Append one utterance (one record batch). */
  add(a: UtteranceAlignment): void {
    if (this.closed) throw new Error(`AlignmentFileWriter(${this.path}): add() after finish/abort`);
    if (this.seen.has(a.uttId)) throw new FormatError('duplicate utterance id in alignment file', { file: this.path, uttId: a.uttId });
    const n = a.senone.length;
    for (const [name, arr] of [['phone', a.phone], ['hmm_state', a.hmmState], ['word', a.word]] as const) {
      if (arr.length !== n) throw new FormatError(`${name} and senone columns differ in length`, { file: this.path, uttId: a.uttId, expected: String(n), found: String(arr.length) });
    }
    for (let t = 0; t < n; t++) {
      if (a.senone[t] < 0 || a.senone[t] >= this.opts.numSenones) {
        throw new FormatError('senone id outside the inventory', { file: this.path, uttId: a.uttId, expected: `0..${this.opts.numSenones - 1}`, found: `${a.senone[t]} at frame ${t}` });
      }
    }
    const frame = new Int32Array(n);
    for (let t = 0; t < n; t++) frame[t] = t;
    const children: Data[] = [
      int32Data(new Int32Array(n).fill(this.uttIds.length)),
      int32Data(frame),
      int32Data(Int32Array.from(a.senone)),
      int32Data(Int32Array.from(a.phone)),
      makeData({ type: new Int8(), length: n, nullCount: 0, data: Int8Array.from(a.hmmState) }),
      int32Data(Int32Array.from(a.word)),
    ];
    this.writer.write(new RecordBatch(this.stageSchema, makeData({ type: new Struct(this.stageSchema.fields), length: n, nullCount: 0, children })));
    this.uttIds.push(a.uttId);
    this.seen.add(a.uttId);
    this.frames += n;
  }

  /** Rewrite with the final dictionary and counts; rename into place. */
  async finish(failed = 0): Promise<AlignmentFileMetadata> {
    if (this.closed) throw new Error(`AlignmentFileWriter(${this.path}): finish() twice`);
    this.closed = true;
    const tmp2 = tmpSibling(this.path, 'final');
    try {
      this.writer.finish();
      this.closeFd();
      const meta: AlignmentFileMetadata = {
        format: ALIGNMENT_FORMAT, formatVersion: ALIGNMENT_FORMAT_VERSION, stage: this.opts.stage, configHash: this.opts.configHash,
        featureConfigHash: this.opts.featureConfigHash, numSenones: this.opts.numSenones, frameShiftMs: this.opts.frameShiftMs,
        phones: this.opts.phones, split: this.opts.split, counts: { utterances: this.uttIds.length, frames: this.frames, failed },
      };
      const dictType = new Dictionary(new Utf8(), new Int32(), 0, false);
      const dictionary = vectorFromArray(this.uttIds, new Utf8()) as Vector<Utf8>;
      const finalSchema = new Schema([new Field('utt_id', dictType, false), ...labelFields()], metadataMap(meta));
      const fd2 = openSync(tmp2, 'w');
      try {
        const writer2 = new RecordBatchFileWriter();
        writer2.reset(new FdSink(fd2), finalSchema);
        const fh = await fsp.open(this.tmp1, 'r');
        try {
          const reader = await RecordBatchReader.from(fh);
          await reader.open();
          for await (const batch of reader) {
            const cols = batch.data.children;
            const idx = cols[0];
            const uttCol = makeData({ type: dictType, offset: idx.offset, length: idx.length, nullCount: 0, data: idx.values as Int32Array, dictionary });
            const data = makeData({ type: new Struct(finalSchema.fields), length: batch.numRows, nullCount: 0, children: [uttCol, ...cols.slice(1)] });
            writer2.write(new RecordBatch(finalSchema, data));
          }
        } finally {
          await fh.close().catch(() => undefined);
        }
        writer2.finish();
      } finally {
        closeSync(fd2);
      }
      await fsp.rename(tmp2, this.path);
      await fsp.rm(this.tmp1, { force: true });
      return meta;
    } catch (err) {
      await fsp.rm(tmp2, { force: true });
      await fsp.rm(this.tmp1, { force: true });
      throw err;
    }
  }

  async abort(): Promise<void> {
    this.closed = true;
    this.closeFd();
    await fsp.rm(this.tmp1, { force: true });
  }

  private closeFd(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}

function metadataMap(m: AlignmentFileMetadata): Map<string, string> {
  return new Map<string, string>([
    [ALIGN_META.format, m.format],
    [ALIGN_META.formatVersion, String(m.formatVersion)],
    [ALIGN_META.stage, m.stage],
    [ALIGN_META.configHash, m.configHash],
    [ALIGN_META.featureConfigHash, m.featureConfigHash],
    [ALIGN_META.numSenones, String(m.numSenones)],
    [ALIGN_META.frameShiftMs, String(m.frameShiftMs)],
    [ALIGN_META.phones, JSON.stringify(m.phones)],
    [ALIGN_META.split, m.split ?? ''],
    [ALIGN_META.counts, JSON.stringify(m.counts)],
  ]);
}

function parseMetadata(schema: Schema, file: string): AlignmentFileMetadata {
  const md = schema.metadata;
  const get = (k: string): string => {
    const v = md.get(k);
    if (v === undefined) throw new FormatError('not an am-distill alignment file: schema metadata key missing', { file, expected: k, found: `keys ${[...md.keys()].join(', ') || '(none)'}` });
    return v;
  };
  const format = get(ALIGN_META.format);
  if (format !== ALIGNMENT_FORMAT) throw new FormatError('not an am-distill alignment file', { file, expected: ALIGNMENT_FORMAT, found: format });
  const version = Number(get(ALIGN_META.formatVersion));
  if (version !== ALIGNMENT_FORMAT_VERSION) throw new FormatError('unsupported alignment file format version', { file, expected: String(ALIGNMENT_FORMAT_VERSION), found: get(ALIGN_META.formatVersion) });
  const json = <T>(k: string): T => {
    try {
      return JSON.parse(get(k)) as T;
    } catch (cause) {
      throw new FormatError('malformed JSON in schema metadata', { file, keyPath: k, cause });
    }
  };
  const numSenones = Number(get(ALIGN_META.numSenones));
  if (!Number.isInteger(numSenones) || numSenones < 1) throw new FormatError('bad senone count in schema metadata', { file, expected: 'a positive integer', found: get(ALIGN_META.numSenones) });
  const split = md.get(ALIGN_META.split);
  return {
    format, formatVersion: version, stage: get(ALIGN_META.stage), configHash: get(ALIGN_META.configHash),
    featureConfigHash: get(ALIGN_META.featureConfigHash), numSenones, frameShiftMs: Number(get(ALIGN_META.frameShiftMs)),
    phones: json<string[]>(ALIGN_META.phones), split: split ? split : null, counts: json<AlignmentCounts>(ALIGN_META.counts),
  };
}

const COLUMN_TYPES: Record<string, (t: DataType) => boolean> = {
  frame: (t) => DataType.isInt(t) && t.bitWidth === 32 && t.isSigned,
  senone: (t) => DataType.isInt(t) && t.bitWidth === 32 && t.isSigned,
  phone: (t) => DataType.isInt(t) && t.bitWidth === 32 && t.isSigned,
  hmm_state: (t) => DataType.isInt(t) && t.bitWidth === 8 && t.isSigned,
  word: (t) => DataType.isInt(t) && t.bitWidth === 32 && t.isSigned,
};

function validateSchema(schema: Schema, file: string): void {
  const utt = schema.fields.find((f) => f.name === 'utt_id');
  if (!utt || !DataType.isDictionary(utt.type) || !DataType.isUtf8(utt.type.dictionary)) {
    throw new FormatError('bad utt_id column', { file, expected: 'utt_id: Dictionary<Int32, Utf8>', found: utt ? String(utt.type) : 'no utt_id column' });
  }
  for (const [name, ok] of Object.entries(COLUMN_TYPES)) {
    const f = schema.fields.find((x) => x.name === name);
    if (!f || !ok(f.type)) throw new FormatError(`bad ${name} column`, { file, expected: `${name}: ${name === 'hmm_state' ? 'Int8' : 'Int32'}`, found: f ? String(f.type) : `no ${name} column` });
  }
}

async function openReader(path: string): Promise<{ fh: FileHandle; reader: AsyncIterable<RecordBatch>; meta: AlignmentFileMetadata }> {
  const fh = await fsp.open(path, 'r').catch((cause: NodeJS.ErrnoException) => {
    throw new FormatError(cause.code === 'ENOENT' ? 'alignment file not found' : 'cannot open alignment file', { file: path, cause });
  });
  try {
    const magic = Buffer.alloc(6);
    const { bytesRead } = await fh.read(magic, 0, 6, 0);
    if (bytesRead < 6 || magic.toString('latin1') !== 'ARROW1') {
      throw new FormatError('not an Arrow IPC file', { file: path, expected: 'magic "ARROW1"', found: JSON.stringify(magic.subarray(0, bytesRead).toString('latin1')) });
    }
    let reader;
    try {
      reader = await RecordBatchReader.from(fh);
      await reader.open();
    } catch (cause) {
      throw new FormatError('unreadable Arrow IPC file', { file: path, cause, found: String((cause as Error)?.message ?? cause) });
    }
    const meta = parseMetadata(reader.schema, path);
    validateSchema(reader.schema, path);
    return { fh, reader: reader as unknown as AsyncIterable<RecordBatch>, meta };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

/** Metadata of an alignment file without reading its record batches. */
export async function readAlignmentMetadata(path: string): Promise<AlignmentFileMetadata> {
  const { fh, meta } = await openReader(path);
  await fh.close();
  return meta;
}

function columnValues<T extends Int32Array | Int8Array>(d: Data): T {
  return (d.values as T).subarray(d.offset, d.offset + d.length) as T;
}

/**
 * Utterances of an alignment file, lazily, in file order (rows of one utterance may span batches;
 * they must be contiguous with frames 0, 1, 2, ...).
 */
export async function* readAlignmentFile(path: string): AsyncGenerator<UtteranceAlignment> {
  const { fh, reader } = await openReader(path);
  type Cur = { uttId: string; index: number; parts: { senone: Int32Array; phone: Int32Array; hmm: Int8Array; word: Int32Array }[]; frames: number };
  let cur: Cur | null = null;
  const emit = (c: Cur): UtteranceAlignment => {
    const cat = <T extends Int32Array | Int8Array>(pick: (p: Cur['parts'][number]) => T, make: (n: number) => T): T => {
      const out = make(c.frames);
      let o = 0;
      for (const p of c.parts) { const v = pick(p); out.set(v, o); o += v.length; }
      return out;
    };
    return {
      uttId: c.uttId,
      senone: cat((p) => p.senone, (n) => new Int32Array(n)),
      phone: cat((p) => p.phone, (n) => new Int32Array(n)),
      hmmState: Int32Array.from(cat((p) => p.hmm, (n) => new Int8Array(n))),
      word: cat((p) => p.word, (n) => new Int32Array(n)),
    };
  };
  const seen = new Set<number>();
  try {
    for await (const batch of reader) {
      const n = batch.numRows;
      if (n === 0) continue;
      const uttData = batch.getChild('utt_id')!.data[0];
      const idx = columnValues<Int32Array>(uttData);
      const dict = uttData.dictionary as Vector<Utf8>;
      const frame = columnValues<Int32Array>(batch.getChild('frame')!.data[0]);
      const senone = columnValues<Int32Array>(batch.getChild('senone')!.data[0]);
      const phone = columnValues<Int32Array>(batch.getChild('phone')!.data[0]);
      const hmm = columnValues<Int8Array>(batch.getChild('hmm_state')!.data[0]);
      const word = columnValues<Int32Array>(batch.getChild('word')!.data[0]);
      let start = 0;
      while (start < n) {
        let end = start + 1;
        while (end < n && idx[end] === idx[start]) end++;
        if (!cur || cur.index !== idx[start]) {
          if (cur) yield emit(cur);
          if (seen.has(idx[start])) throw new FormatError('utterance rows are not contiguous', { file: path, uttId: String(dict.get(idx[start])), expected: 'all frames of an utterance together' });
          seen.add(idx[start]);
          const uttId = dict.get(idx[start]);
          if (uttId === null || uttId === undefined) throw new FormatError('utt_id index outside the dictionary', { file: path, found: String(idx[start]) });
          cur = { uttId, index: idx[start], parts: [], frames: 0 };
        }
        for (let r = start; r < end; r++) {
          if (frame[r] !== cur.frames + (r - start)) {
            throw new FormatError('frame numbers are not 0, 1, 2, ... within the utterance', { file: path, uttId: cur.uttId, expected: String(cur.frames + (r - start)), found: String(frame[r]) });
          }
        }
        cur.parts.push({ senone: senone.subarray(start, end), phone: phone.subarray(start, end), hmm: hmm.subarray(start, end), word: word.subarray(start, end) });
        cur.frames += end - start;
        start = end;
      }
    }
    if (cur) yield emit(cur);
  } finally {
    await fh.close().catch(() => undefined);
  }
}
