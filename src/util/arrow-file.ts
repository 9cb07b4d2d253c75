/**
 * The Arrow IPC file mechanics shared by every per-utterance store (features, alignments, soft
 * targets; docs/design.md section 4): an incremental, atomic writer with one global `utt_id` dictionary,
 * and a checked opener for reading.
 *
 * Writing: one record batch per utterance goes into a temporary file whose first column is a plain
 * int32 utterance index; `finish()` streams that file batch by batch into a second temporary file
 * whose schema carries the final dictionary (only the utterances written) and the metadata
 * (counts known only at the end), then renames it into place. Memory stays bounded by one
 * utterance, the Arrow JS file writer never sees a replacement dictionary, and a reader never
 * sees a partial file.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync, promises as fsp, type Stats } from 'node:fs';
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
import { AmDistillError, FormatError } from './errors.ts';

export const ARROW_FILE_MAGIC = 'ARROW1';

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

/** The `utt_id` column type of every store: Dictionary<Int32, Utf8>, dictionary id 0. */
export function utteranceIdType(): Dictionary<Utf8, Int32> {
  return new Dictionary(new Utf8(), new Int32(), 0, false);
}

/** An Int32 column holding `values`. */
export function int32Data(values: Int32Array): Data<Int32> {
  return makeData({ type: new Int32(), length: values.length, nullCount: 0, data: values });
}

/** The `frame` column of one utterance: 0 .. n-1. */
export function frameIndexData(n: number): Data<Int32> {
  const f = new Int32Array(n);
  for (let i = 0; i < n; i++) f[i] = i;
  return int32Data(f);
}

/**
 * Incremental, atomic writer of one per-utterance Arrow file with columns
 * `utt_id` (dictionary) followed by `fields`. The owning store validates its rows, then calls
 * `checkAdd(uttId)` first and `append(...)` last; `finish(metadata)` or `abort()` ends it.
 */
export class UtteranceFileWriter {
  readonly path: string;
  private readonly owner: string;
  private readonly what: string;
  /** The columns after `utt_id`, in order. */
  readonly fields: readonly Field[];
  private readonly stageSchema: Schema;
  private readonly tmp1: string;
  private fd: number | null;
  private readonly writer: RecordBatchFileWriter;
  private readonly uttIds: string[] = [];
  private readonly seen = new Set<string>();
  private frames = 0;
  private closed = false;

  /**
   * @param owner class name used in programming-error messages, e.g. `FeatureFileWriter`
   * @param what  the file kind used in data-error messages, e.g. `feature file`
   */
  private constructor(path: string, fields: readonly Field[], owner: string, what: string) {
    this.path = path;
    this.owner = owner;
    this.what = what;
    this.fields = fields;
    this.stageSchema = new Schema([new Field('utt_index', new Int32(), false), ...fields]);
    this.tmp1 = tmpSibling(path, 'part');
    this.fd = openSync(this.tmp1, 'w');
    this.writer = new RecordBatchFileWriter();
    this.writer.reset(new FdSink(this.fd), this.stageSchema);
  }

  /** Create the writer (parent directories are created). */
  static async open(path: string, fields: readonly Field[], owner: string, what: string): Promise<UtteranceFileWriter> {
    await fsp.mkdir(dirname(path), { recursive: true });
    return new UtteranceFileWriter(path, fields, owner, what);
  }

  get utterances(): number {
    return this.uttIds.length;
  }

  get numFrames(): number {
    return this.frames;
  }

  /** Throws unless `uttId` can be added now (writer open, id not written before). */
  checkAdd(uttId: string): void {
    if (this.closed) throw new Error(`${this.owner}(${this.path}): add() after finish/abort`);
    if (this.seen.has(uttId))
      throw new FormatError(`duplicate utterance id in ${this.what}`, { file: this.path, uttId });
  }

  /** Append one utterance as one record batch: `columns` are the data of `fields`, `numRows` rows each. */
  append(uttId: string, numRows: number, columns: Data[]): void {
    this.checkAdd(uttId);
    const children: Data[] = [int32Data(new Int32Array(numRows).fill(this.uttIds.length)), ...columns];
    const data = makeData({ type: new Struct(this.stageSchema.fields), length: numRows, nullCount: 0, children });
    this.writer.write(new RecordBatch(this.stageSchema, data));
    this.uttIds.push(uttId);
    this.seen.add(uttId);
    this.frames += numRows;
  }

  /**
   * Close the file: rewrite it with the final dictionary and the schema `metadata` (built by the
   * caller from `utterances` / `numFrames`), rename into place.
   */
  async finish(metadata: Map<string, string>): Promise<void> {
    if (this.closed) throw new Error(`${this.owner}(${this.path}): finish() twice`);
    this.closed = true;
    const tmp2 = tmpSibling(this.path, 'final');
    try {
      this.writer.finish();
      this.closeFd();
      const dictType = utteranceIdType();
      const dictionary = vectorFromArray(this.uttIds, new Utf8()) as Vector<Utf8>;
      const finalSchema = new Schema([new Field('utt_id', dictType, false), ...this.fields], metadata);
      const fd2 = openSync(tmp2, 'w');
      try {
        const writer2 = new RecordBatchFileWriter();
        writer2.reset(new FdSink(fd2), finalSchema);
        const fh = await ArrowReadHandle.open(this.tmp1);
        try {
          const reader = await RecordBatchReader.from(fh.asFileHandle);
          await reader.open();
          for await (const batch of reader) {
            const cols = batch.data.children;
            const idx = cols[0];
            const uttCol = makeData({
              type: dictType,
              offset: idx.offset,
              length: idx.length,
              nullCount: 0,
              data: idx.values as Int32Array,
              dictionary,
            });
            const data = makeData({
              type: new Struct(finalSchema.fields),
              length: batch.numRows,
              nullCount: 0,
              children: [uttCol, ...cols.slice(1)],
            });
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
    } catch (err) {
      await fsp.rm(tmp2, { force: true });
      await fsp.rm(this.tmp1, { force: true });
      throw err;
    }
  }

  /** Drop everything written so far. */
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

/**
 * A file handle for arrow-js's random-access file reader whose reads are synchronous preads.
 * arrow-js reads an IPC file message by message (these stores write one record batch per
 * utterance), and every FileHandle read is a round trip through libuv's thread pool: measured on
 * a training worker's data feed (fsdd-digits, session 15), the feed sat idle 45 % of its time
 * waiting for them. A pread of a few KiB from the page cache takes microseconds, and every reader
 * of these files is a batch job or a worker thread of one, so blocking is harmless. arrow-js
 * accepts it as a FileHandle (it needs `fd`, `stat` and `read`).
 */
export class ArrowReadHandle {
  private closed = false;

  private constructor(readonly fd: number) {}

  /** Open for reading; rejects with the fs error (code ENOENT, EACCES, ...) as fsp.open does. */
  static async open(path: string): Promise<ArrowReadHandle> {
    return new ArrowReadHandle(openSync(path, 'r'));
  }

  async stat(): Promise<Stats> {
    return fstatSync(this.fd);
  }

  async read<T extends NodeJS.ArrayBufferView>(
    buffer: T,
    offset = 0,
    length = buffer.byteLength - offset,
    position: number | null = null,
  ): Promise<{ bytesRead: number; buffer: T }> {
    return { bytesRead: readSync(this.fd, buffer, offset, length, position), buffer };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  /** For RecordBatchReader.from, which types its argument as a FileHandle. */
  get asFileHandle(): FileHandle {
    return this as unknown as FileHandle;
  }
}

export interface OpenedArrowFile {
  fh: ArrowReadHandle;
  reader: Awaited<ReturnType<typeof RecordBatchReader.from>>;
  schema: Schema;
}

/**
 * Open an Arrow IPC file for lazy reading: a missing file, wrong magic, unreadable footer or
 * stream format is a FormatError naming the file (`what`: e.g. `feature file`). The caller owns
 * `fh` (close it; on a validation error of its own, close it too).
 */
export async function openArrowFile(path: string, what: string): Promise<OpenedArrowFile> {
  const fh = await ArrowReadHandle.open(path).catch((cause: NodeJS.ErrnoException) => {
    throw new FormatError(cause.code === 'ENOENT' ? `${what} not found` : `cannot open ${what}`, { file: path, cause });
  });
  try {
    const reader = await openArrowReader(path, fh);
    await checkArrowBlocks(path, fh, reader as unknown as { footer?: ArrowFooter | null });
    return { fh, reader, schema: reader.schema };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Open a store's Arrow file and read its schema metadata with `parse` (which throws typed errors;
 * the file is closed then). The caller owns `fh`.
 */
export async function openArrowStore<M>(
  path: string,
  what: string,
  parse: (schema: Schema) => M,
): Promise<OpenedArrowFile & { meta: M }> {
  const opened = await openArrowFile(path, what);
  try {
    return { ...opened, meta: parse(opened.schema) };
  } catch (err) {
    await opened.fh.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Run a pass over an Arrow file's record batches: the stores raise typed errors for what they
 * check; anything else the Arrow library throws (a damaged record batch) becomes a FormatError
 * naming the file (`what`: e.g. `feature file`).
 */
export async function readingArrow<T>(path: string, what: string, pass: () => Promise<T>): Promise<T> {
  try {
    return await pass();
  } catch (cause) {
    if (cause instanceof AmDistillError) throw cause;
    throw new FormatError(`unreadable ${what}`, {
      file: path,
      cause,
      found: String((cause as Error)?.message ?? cause),
    });
  }
}

export function isInt32Type(t: DataType): boolean {
  return DataType.isInt(t) && t.bitWidth === 32 && t.isSigned;
}

/** Check the columns every store begins with: `utt_id` Dictionary<Int32, Utf8> and `frame` Int32. */
export function checkUtteranceColumns(schema: Schema, file: string): void {
  const utt = schema.fields.find((f) => f.name === 'utt_id');
  if (
    !utt ||
    !DataType.isDictionary(utt.type) ||
    !DataType.isUtf8(utt.type.dictionary) ||
    !isInt32Type(utt.type.indices)
  ) {
    throw new FormatError('bad utt_id column', {
      file,
      expected: 'utt_id: Dictionary<Int32, Utf8>',
      found: utt ? String(utt.type) : 'no utt_id column',
    });
  }
  const frame = schema.fields.find((f) => f.name === 'frame');
  if (!frame || !isInt32Type(frame.type))
    throw new FormatError('bad frame column', {
      file,
      expected: 'frame: Int32',
      found: frame ? String(frame.type) : 'no frame column',
    });
}

/** Smallest Arrow IPC file: magic + padding (8), a schema message, footer length (4), magic (6). */
const MIN_ARROW_FILE_BYTES = 8 + 8 + 4 + 6;

/**
 * The arrow-js reader of an opened Arrow IPC file, after checking in our own words what arrow-js
 * would trip over with a TypeError: the leading magic, and the trailer (footer length + magic)
 * that a truncated file lacks. Whatever arrow-js still refuses is a FormatError naming the file.
 */
export async function openArrowReader(path: string, fh: ArrowReadHandle): Promise<OpenedArrowFile['reader']> {
  const size = (await fh.stat()).size;
  const magic = Buffer.alloc(6);
  const { bytesRead } = await fh.read(magic, 0, 6, 0);
  if (bytesRead < 6 || magic.toString('latin1') !== ARROW_FILE_MAGIC) {
    throw new FormatError('not an Arrow IPC file', {
      file: path,
      expected: `magic "${ARROW_FILE_MAGIC}"`,
      found: JSON.stringify(magic.subarray(0, bytesRead).toString('latin1')),
    });
  }
  const trailer = Buffer.alloc(Math.min(10, size));
  const got = (await fh.read(trailer, 0, trailer.length, size - trailer.length)).bytesRead;
  if (size < MIN_ARROW_FILE_BYTES || got < 10 || trailer.toString('latin1', 4) !== ARROW_FILE_MAGIC) {
    throw new FormatError('truncated or damaged Arrow IPC file: no footer', {
      file: path,
      expected: `the file to end with its footer and magic "${ARROW_FILE_MAGIC}"`,
      found: `${size} bytes ending in 0x${trailer.subarray(0, got).toString('hex')}`,
    });
  }
  const footerBytes = trailer.readInt32LE(0);
  if (!(footerBytes > 0 && footerBytes <= size - MIN_ARROW_FILE_BYTES + 8)) {
    throw new FormatError('damaged Arrow IPC file: the footer length is impossible', {
      file: path,
      expected: `1 to ${size - MIN_ARROW_FILE_BYTES + 8} bytes in a ${size}-byte file`,
      found: `${footerBytes}`,
    });
  }
  let reader;
  try {
    reader = await RecordBatchReader.from(fh.asFileHandle);
    await reader.open();
  } catch (cause) {
    throw new FormatError('damaged Arrow IPC file: its footer or schema cannot be read', {
      file: path,
      cause,
      expected: 'an Arrow IPC file footer',
      found: `${footerBytes} bytes that do not parse`,
    });
  }
  if (!reader.isFile()) throw new FormatError('not an Arrow IPC file (stream format?)', { file: path });
  return reader;
}

interface ArrowBlock {
  offset: number;
  metaDataLength: number;
  bodyLength: number;
}

interface ArrowFooter {
  numRecordBatches: number;
  numDictionaries: number;
  getRecordBatch(index: number): ArrowBlock | null;
  getDictionaryBatch(index: number): ArrowBlock | null;
}

/**
 * The footer's blocks against the bytes: every dictionary and record batch message must lie inside
 * the file and start where the footer says, with the metadata length it records (continuation
 * marker -1 and the length, or the length alone in the pre-0.15 layout). arrow-js trusts these
 * offsets: on a file with bytes cut out of the middle it can read garbage or loop forever.
 */
export async function checkArrowBlocks(
  path: string,
  fh: Pick<ArrowReadHandle, 'stat' | 'read'>,
  reader: { footer?: ArrowFooter | null },
): Promise<void> {
  const footer = reader.footer;
  if (!footer) return;
  const size = (await fh.stat()).size;
  const prefix = Buffer.alloc(8);
  const blocks: [string, number, ArrowBlock | null][] = [];
  for (let i = 0; i < footer.numDictionaries; i++) blocks.push(['dictionary batch', i, footer.getDictionaryBatch(i)]);
  for (let i = 0; i < footer.numRecordBatches; i++) blocks.push(['record batch', i, footer.getRecordBatch(i)]);
  for (const [what, i, b] of blocks) {
    const where = `${what} ${i} of ${what === 'record batch' ? footer.numRecordBatches : footer.numDictionaries}`;
    if (!b)
      throw new FormatError('damaged Arrow file footer', {
        file: path,
        expected: `a block for ${where}`,
        found: 'none',
      });
    const { offset, metaDataLength: meta, bodyLength: body } = b;
    if (!(
      Number.isSafeInteger(offset) &&
      Number.isSafeInteger(meta) &&
      Number.isSafeInteger(body) &&
      offset >= 8 &&
      meta >= 8 &&
      body >= 0 &&
      offset + meta + body <= size
    )) {
      throw new FormatError('damaged Arrow file: a block lies outside the file', {
        file: path,
        expected: `${where} within the file's ${size} bytes`,
        found: `offset ${offset}, metadata ${meta} + body ${body} bytes`,
      });
    }
    const { bytesRead } = await fh.read(prefix, 0, 8, offset);
    const first = prefix.readInt32LE(0);
    const found = bytesRead < 8 ? -1 : first === -1 ? prefix.readInt32LE(4) + 8 : first + 4;
    if (found !== meta) {
      throw new FormatError('damaged Arrow file: a message is not where the footer puts it', {
        file: path,
        expected: `${where} at byte ${offset} with ${meta} bytes of metadata`,
        found: bytesRead < 8 ? 'the end of the file' : `bytes ${prefix.toString('hex')}`,
      });
    }
  }
}

/** A run of one record batch's rows that belongs to one utterance. */
export interface UtteranceRows {
  batch: RecordBatch;
  start: number;
  end: number;
}

interface RandomAccessReader {
  readRecordBatch(index: number): Promise<RecordBatch | null>;
  readonly numRecordBatches: number;
  readonly dictionaries: Map<number, Vector>;
}

function int32Column(batch: RecordBatch, name: string, file: string): Int32Array {
  const col = batch.getChild(name);
  if (!col)
    throw new FormatError('missing column', {
      file,
      expected: `column '${name}'`,
      found: batch.schema.fields.map((f) => f.name).join(', '),
    });
  const d = col.data[0];
  if (d.nullCount > 0)
    throw new FormatError('null values in a column', {
      file,
      expected: `no nulls in '${name}'`,
      found: `${d.nullCount} nulls`,
    });
  return (d.values as Int32Array).subarray(d.offset, d.offset + batch.numRows);
}

/**
 * Random access by utterance to a per-utterance Arrow file (features, alignments, soft targets:
 * an `utt_id` dictionary column and a `frame` column 0, 1, 2, ... per utterance). The stores write
 * one record batch per utterance in dictionary order, so utterance i is record batch i: a lookup
 * is one read, checked on every read (all rows utterance i, frames 0, 1, ...). Any other batching
 * (files written by other tools) is mapped once, each utterance to its first record batch, and
 * read from there. (A foreign file with as many batches as utterances whose utterance fills batch
 * i and goes on in batch i + 1 would read short: the sources compare every utterance's frame
 * count across features, alignments and targets, so that is a counted skip or a located error.) Memory: the utterance ids
 * and one int per utterance. Reads are serialised (the arrow-js reader seeks, then reads).
 */
export class UtteranceRowIndex {
  readonly path: string;
  /** Utterance ids by dictionary index (the file's one global dictionary). */
  readonly uttIds: readonly string[];
  private readonly reader: RandomAccessReader;
  private firstBatch: Int32Array | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  /** `reader`: an opened Arrow file reader (as `openArrowFile` returns) whose schema has a dictionary `utt_id`. */
  constructor(path: string, reader: OpenedArrowFile['reader'], schema: Schema) {
    this.path = path;
    this.reader = reader as unknown as RandomAccessReader;
    const field = schema.fields.find((f) => f.name === 'utt_id');
    if (!field || !DataType.isDictionary(field.type)) {
      throw new FormatError('no utt_id dictionary column', {
        file: path,
        expected: "column 'utt_id' of type Dictionary<Int32, Utf8>",
        found: field ? String(field.type) : 'none',
      });
    }
    const dict = this.reader.dictionaries.get((field.type as Dictionary).id);
    this.uttIds = dict ? (dict.toArray() as unknown as string[]) : [];
  }

  /** Rows of the utterance with dictionary index `index`, in frame order (frame numbers checked). */
  rows(index: number): Promise<UtteranceRows[]> {
    const run = this.queue.then(() => this.read(index));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async batch(b: number): Promise<RecordBatch> {
    const batch = await this.reader.readRecordBatch(b);
    if (!batch)
      throw new FormatError('cannot read record batch', {
        file: this.path,
        expected: `record batch ${b} of ${this.reader.numRecordBatches}`,
        found: 'none',
      });
    return batch;
  }

  private async read(index: number): Promise<UtteranceRows[]> {
    const uttId = this.uttIds[index];
    if (uttId === undefined)
      throw new RangeError(`${this.path}: utterance index ${index} outside the dictionary (${this.uttIds.length})`);
    if (!this.firstBatch && this.reader.numRecordBatches === this.uttIds.length) {
      const batch = await this.batch(index);
      const u = int32Column(batch, 'utt_id', this.path);
      const f = int32Column(batch, 'frame', this.path);
      if (u.length > 0 && u.every((x, r) => x === index && f[r] === r)) return [{ batch, start: 0, end: u.length }];
    }
    if (!this.firstBatch) await this.map();
    const out: UtteranceRows[] = [];
    for (let b = this.firstBatch![index]; b >= 0 && b < this.reader.numRecordBatches; b++) {
      const batch = await this.batch(b);
      const u = int32Column(batch, 'utt_id', this.path);
      let start = 0;
      if (out.length === 0) while (start < u.length && u[start] !== index) start++;
      let end = start;
      while (end < u.length && u[end] === index) end++;
      if (end > start) out.push({ batch, start, end });
      if (end < u.length && out.length > 0) break;
    }
    if (out.length === 0)
      throw new FormatError('utterance listed in the dictionary has no rows', { file: this.path, uttId });
    return this.checked(out, uttId);
  }

  private checked(rows: UtteranceRows[], uttId: string): UtteranceRows[] {
    let want = 0;
    for (const r of rows) {
      const frames = int32Column(r.batch, 'frame', this.path);
      for (let i = r.start; i < r.end; i++, want++) {
        if (frames[i] !== want)
          throw new FormatError('frame numbers are not 0, 1, 2, ... within the utterance', {
            file: this.path,
            uttId,
            expected: `frame ${want}`,
            found: `frame ${frames[i]}`,
          });
      }
    }
    return rows;
  }

  /** Scan the file once: the first record batch of every utterance; rows of one utterance must be contiguous. */
  private async map(): Promise<void> {
    const first = new Int32Array(this.uttIds.length).fill(-1);
    let last = -1;
    for (let b = 0; b < this.reader.numRecordBatches; b++) {
      const u = int32Column(await this.batch(b), 'utt_id', this.path);
      for (let r = 0; r < u.length; r++) {
        const idx = u[r];
        if (idx === last) continue;
        if (!(idx >= 0 && idx < first.length))
          throw new FormatError('utt_id index outside the dictionary', {
            file: this.path,
            expected: `0 <= index < ${first.length}`,
            found: String(idx),
          });
        if (first[idx] !== -1)
          throw new FormatError('utterance rows are not contiguous', {
            file: this.path,
            uttId: this.uttIds[idx],
            expected: 'all frames of an utterance together',
          });
        first[idx] = b;
        last = idx;
      }
    }
    this.firstBatch = first;
  }
}

/**
 * Where each utterance lies among several files' row indexes (file number, dictionary index); an
 * utterance in two of them is a FormatError naming both (`what`: the files, e.g. 'alignment files').
 */
export function locateUtterances(
  indexes: readonly UtteranceRowIndex[],
  what: string,
): Map<string, { file: number; index: number }> {
  const where = new Map<string, { file: number; index: number }>();
  indexes.forEach((x, file) =>
    x.uttIds.forEach((id, index) => {
      const prev = where.get(id);
      if (prev)
        throw new FormatError(`utterance id occurs in two ${what}`, {
          file: x.path,
          uttId: id,
          expected: 'each utterance in one file',
          found: `also in ${indexes[prev.file].path}`,
        });
      where.set(id, { file, index });
    }),
  );
  return where;
}
