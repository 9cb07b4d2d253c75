/**
 * Kaldi binary archives (`ark`) and script files (`scp`): writers and readers of the three object
 * types the pipeline exports (src/pipeline/export-kaldi.ts), byte for byte as Kaldi writes them.
 * Checked against kaldi-asr/kaldi (commit f4007661, 2025-07-22):
 *
 * - binary header: `InitKaldiOutputStream` (src/base/io-funcs-inl.h) puts "\0B" before every
 *   binary object;
 * - integers: `WriteBasicType` (io-funcs-inl.h) writes one size byte (+4 for int32, signed)
 *   and the value; floats (io-funcs.cc, `WriteBasicType<float>`/`<double>`): a size byte 4 or 8
 *   and the value; tokens (`WriteToken`, io-funcs.cc): the token and one space;
 * - matrices: `MatrixBase::Write` (src/matrix/kaldi-matrix.cc): token "FM" (float) or "DM"
 *   (double), int32 rows, int32 columns, then the rows' values without separators;
 * - integer vectors (alignments, `ali-to-pdf` output): `BasicVectorHolder<int32>::Write`
 *   (src/util/kaldi-holder-inl.h): int32 count, then every element as an int32 `WriteBasicType`;
 *   its text form (`ark,t`) is "key v1 v2 ... \n" (each value followed by a space);
 * - posteriors: `WritePosterior` (src/hmm/posterior.cc): int32 frames, then per frame an int32
 *   count and that many (int32 pdf id, float weight) pairs, each value a `WriteBasicType`;
 * - archives: `TableWriterArchiveImpl::Write` / `TableWriterBothImpl::Write`
 *   (src/util/kaldi-table-inl.h): "key " then the object; the scp line is "key ark-path:offset"
 *   with the offset of the object's "\0B" (`tellp()` after the key and its space).
 *
 * Values are little-endian, as Kaldi on x86 and ARM writes them (Kaldi writes native byte order
 * and records none). Compressed matrices ("CM") and text archives are not read: the error says so.
 * Readers load an archive file into memory; they check what the exporter wrote and are not meant
 * for archives larger than memory.
 */
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { FormatError } from '../util/errors.ts';
import { tmpSibling, writeFileAtomic } from '../util/fs.ts';
import { compareIds } from '../corpus/manifest.ts';

export const KALDI_BINARY_HEADER = Uint8Array.of(0x00, 0x42); // "\0B"
const INT32_SIZE = 4;
const SPACE = 0x20;

/** A dense matrix, row-major. `precision` picks "FM" (float32) or "DM" (float64). */
export interface KaldiMatrix {
  numRows: number;
  numCols: number;
  data: Float32Array | Float64Array;
}

/** One frame of a Kaldi posterior: pdf ids and their weights (same length). */
export interface PosteriorFrame {
  ids: Int32Array | number[];
  weights: Float32Array | number[];
}

export type KaldiObjectKind = 'matrix' | 'int32-vector' | 'posterior';

export type KaldiObject<K extends KaldiObjectKind> = K extends 'matrix'
  ? KaldiMatrix
  : K extends 'int32-vector'
    ? Int32Array
    : PosteriorFrame[];

/** Grows a byte buffer; the encoders below write into it. */
class ByteSink {
  private buf: Buffer;
  length = 0;

  constructor(capacity = 256) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  byte(x: number): void {
    this.reserve(1);
    this.buf[this.length++] = x;
  }

  /** `WriteBasicType<int32>`: size byte 4, then the value. */
  int32(x: number): void {
    this.reserve(5);
    this.buf[this.length] = INT32_SIZE;
    this.buf.writeInt32LE(x, this.length + 1);
    this.length += 5;
  }

  /** `WriteBasicType<float>`: size byte 4, then the value. */
  float32(x: number): void {
    this.reserve(5);
    this.buf[this.length] = 4;
    this.buf.writeFloatLE(x, this.length + 1);
    this.length += 5;
  }

  token(t: string): void {
    this.bytes(Buffer.from(`${t} `, 'latin1'));
  }

  /** Raw little-endian values, without size bytes (matrix data). */
  values(data: Float32Array | Float64Array): void {
    const width = data.BYTES_PER_ELEMENT;
    this.reserve(data.length * width);
    if (LITTLE_ENDIAN) {
      this.buf.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.length);
    } else {
      for (let i = 0; i < data.length; i++) {
        if (width === 4) this.buf.writeFloatLE(data[i], this.length + 4 * i);
        else this.buf.writeDoubleLE(data[i], this.length + 8 * i);
      }
    }
    this.length += data.length * width;
  }

  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

function checkInt32(x: number, what: string): void {
  if (!Number.isInteger(x) || x < -0x80000000 || x > 0x7fffffff)
    throw new FormatError(`${what} is not an int32`, { expected: 'an integer in [-2^31, 2^31)', found: String(x) });
}

/** A binary Kaldi matrix object ("\0B" + "FM " or "DM " + rows + columns + values). */
export function encodeMatrix(m: KaldiMatrix): Uint8Array {
  checkInt32(m.numRows, 'matrix row count');
  checkInt32(m.numCols, 'matrix column count');
  if (m.data.length !== m.numRows * m.numCols) {
    throw new FormatError('matrix data length differs from rows x columns', {
      expected: `${m.numRows} x ${m.numCols} = ${m.numRows * m.numCols}`,
      found: String(m.data.length),
    });
  }
  const s = new ByteSink(16 + m.data.byteLength);
  s.bytes(KALDI_BINARY_HEADER);
  s.token(m.data instanceof Float64Array ? 'DM' : 'FM');
  s.int32(m.numRows);
  s.int32(m.numCols);
  s.values(m.data);
  return s.result();
}

/** A binary Kaldi int32 vector object, as `ali-to-pdf` / `copy-int-vector` write it. */
export function encodeInt32Vector(v: ArrayLike<number>): Uint8Array {
  const s = new ByteSink(7 + 5 * v.length);
  s.bytes(KALDI_BINARY_HEADER);
  s.int32(v.length);
  for (let i = 0; i < v.length; i++) {
    checkInt32(v[i], `element ${i}`);
    s.int32(v[i]);
  }
  return s.result();
}

/** A binary Kaldi posterior object (src/hmm/posterior.cc WritePosterior). */
export function encodePosterior(frames: readonly PosteriorFrame[]): Uint8Array {
  let pairs = 0;
  for (const f of frames) pairs += f.ids.length;
  const s = new ByteSink(7 + 5 * frames.length + 10 * pairs);
  s.bytes(KALDI_BINARY_HEADER);
  s.int32(frames.length);
  frames.forEach((f, t) => {
    if (f.weights.length !== f.ids.length)
      throw new FormatError('posterior ids and weights differ in length', {
        expected: String(f.ids.length),
        found: `${f.weights.length} at frame ${t}`,
      });
    s.int32(f.ids.length);
    for (let i = 0; i < f.ids.length; i++) {
      checkInt32(f.ids[i], `pdf id at frame ${t}`);
      s.int32(f.ids[i]);
      s.float32(f.weights[i]);
    }
  });
  return s.result();
}

export function encodeObject<K extends KaldiObjectKind>(kind: K, value: KaldiObject<K>): Uint8Array {
  if (kind === 'matrix') return encodeMatrix(value as KaldiMatrix);
  if (kind === 'int32-vector') return encodeInt32Vector(value as Int32Array);
  return encodePosterior(value as PosteriorFrame[]);
}

/** An int32 vector in Kaldi's text archive form (`ark,t`): "key v1 v2 ... \n". */
export function formatInt32VectorText(key: string, v: ArrayLike<number>): string {
  checkKey(key);
  let line = `${key} `;
  for (let i = 0; i < v.length; i++) line += `${v[i]} `;
  return line + '\n';
}

/** A Kaldi table key: non-empty, printable, no whitespace (Kaldi's IsToken). */
export function checkKey(key: string, file?: string): void {
  // eslint-disable-next-line no-control-regex -- Kaldi keys are printable
  if (key.length === 0 || /[\s\x00-\x1f\x7f]/.test(key)) {
    throw new FormatError('not a valid Kaldi key', {
      file,
      uttId: key,
      expected: 'a non-empty key without whitespace or control characters',
      found: JSON.stringify(key),
    });
  }
}

export interface ArchiveWriterOptions {
  /** Also write a script file: "key <arkPathInScp>:<offset>" per object, sorted by key (C locale). */
  scpPath?: string;
  /**
   * The archive path the scp lines name. Default: `arkPath`. Set it when the archive is written
   * inside a directory that is renamed into place afterwards.
   */
  arkPathInScp?: string;
}

/**
 * Streams objects into a binary archive (and its scp). Atomic: both files are written to
 * temporary siblings and renamed into place by `finish()`; `abort()` removes them.
 * Keys must be unique; the archive keeps the order of `write` calls.
 */
export class KaldiArchiveWriter {
  readonly arkPath: string;
  private readonly opts: ArchiveWriterOptions;
  private readonly tmpArk: string;
  private readonly fh: fsp.FileHandle;
  private offset = 0;
  private readonly scp: { key: string; offset: number }[] = [];
  private readonly keys = new Set<string>();

  private constructor(arkPath: string, opts: ArchiveWriterOptions, tmpArk: string, fh: fsp.FileHandle) {
    this.arkPath = arkPath;
    this.opts = opts;
    this.tmpArk = tmpArk;
    this.fh = fh;
  }

  static async open(arkPath: string, opts: ArchiveWriterOptions = {}): Promise<KaldiArchiveWriter> {
    await fsp.mkdir(dirname(arkPath), { recursive: true });
    const tmp = tmpSibling(arkPath);
    return new KaldiArchiveWriter(arkPath, opts, tmp, await fsp.open(tmp, 'w'));
  }

  get count(): number {
    return this.keys.size;
  }

  /** Append one object (the output of an `encode*` function) under `key`. */
  async write(key: string, object: Uint8Array): Promise<void> {
    checkKey(key, this.arkPath);
    if (this.keys.has(key))
      throw new FormatError('key written twice to a Kaldi archive', {
        file: this.arkPath,
        uttId: key,
        expected: 'unique keys',
      });
    this.keys.add(key);
    const head = Buffer.from(`${key} `, 'utf8');
    this.scp.push({ key, offset: this.offset + head.length });
    await this.fh.write(head);
    await this.fh.write(object);
    this.offset += head.length + object.length;
  }

  /** Close the archive and rename it (and the scp) into place. */
  async finish(): Promise<{ arkPath: string; scpPath?: string; count: number }> {
    await this.fh.close();
    const { scpPath } = this.opts;
    if (scpPath) {
      const inScp = this.opts.arkPathInScp ?? this.arkPath;
      const lines = [...this.scp]
        .sort((a, b) => compareIds(a.key, b.key))
        .map((e) => `${e.key} ${inScp}:${e.offset}\n`);
      try {
        await writeFileAtomic(scpPath, lines.join(''));
      } catch (err) {
        await fsp.rm(this.tmpArk, { force: true });
        throw err;
      }
    }
    await fsp.rename(this.tmpArk, this.arkPath);
    return { arkPath: this.arkPath, ...(scpPath ? { scpPath } : {}), count: this.count };
  }

  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await fsp.rm(this.tmpArk, { force: true });
  }
}

/** Reads the binary values of one object; every failure names the file, key and byte offset. */
class ByteSource {
  pos: number;

  constructor(
    readonly buf: Buffer,
    readonly file: string,
    readonly key: string,
    start: number,
  ) {
    this.pos = start;
  }

  fail(message: string, expected: string, found: string): never {
    throw new FormatError(`${message} (byte ${this.pos})`, { file: this.file, uttId: this.key, expected, found });
  }

  need(n: number, what: string): void {
    if (this.pos + n > this.buf.length)
      this.fail(`archive ends inside ${what}`, `${n} more bytes`, `${this.buf.length - this.pos}`);
  }

  header(): void {
    this.need(2, 'the binary header');
    if (this.buf[this.pos] !== 0 || this.buf[this.pos + 1] !== 0x42) {
      const text = this.buf[this.pos] !== 0;
      this.fail(
        text ? 'not a binary Kaldi object (a text archive?)' : 'bad Kaldi binary header',
        '"\\0B"',
        JSON.stringify(this.buf.subarray(this.pos, this.pos + 2).toString('latin1')),
      );
    }
    this.pos += 2;
  }

  int32(what: string): number {
    this.need(5, what);
    const size = this.buf[this.pos];
    if (size !== INT32_SIZE) this.fail(`bad size byte of ${what}`, 'size byte 4 (int32)', String(size));
    const v = this.buf.readInt32LE(this.pos + 1);
    this.pos += 5;
    return v;
  }

  count(what: string): number {
    const n = this.int32(what);
    if (n < 0) this.fail(`negative ${what}`, 'a count >= 0', String(n));
    return n;
  }

  /** `ReadBasicType<float>`: a float (size 4) or a double (size 8) read as float. */
  float(what: string): number {
    this.need(1, what);
    const size = this.buf[this.pos];
    if (size === 4) {
      this.need(5, what);
      const v = this.buf.readFloatLE(this.pos + 1);
      this.pos += 5;
      return v;
    }
    if (size === 8) {
      this.need(9, what);
      const v = Math.fround(this.buf.readDoubleLE(this.pos + 1));
      this.pos += 9;
      return v;
    }
    return this.fail(`bad size byte of ${what}`, 'size byte 4 (float) or 8 (double)', String(size));
  }

  token(): string {
    let end = this.pos;
    while (end < this.buf.length && end - this.pos < 32 && this.buf[end] !== SPACE) end++;
    if (this.buf[end] !== SPACE)
      this.fail(
        'no token',
        'a token followed by a space',
        JSON.stringify(this.buf.subarray(this.pos, end).toString('latin1')),
      );
    const t = this.buf.subarray(this.pos, end).toString('latin1');
    this.pos = end + 1;
    return t;
  }
}

function decodeMatrix(src: ByteSource): KaldiMatrix {
  src.header();
  const token = src.token();
  if (token === 'CM' || token === 'CM2' || token === 'CM3')
    src.fail('compressed Kaldi matrices are not read', '"FM" or "DM" (write with copy-feats --compress=false)', token);
  if (token !== 'FM' && token !== 'DM') src.fail('not a Kaldi matrix', 'token "FM" or "DM"', JSON.stringify(token));
  const numRows = src.count('the row count');
  const numCols = src.count('the column count');
  const width = token === 'FM' ? 4 : 8;
  const n = numRows * numCols;
  src.need(n * width, 'the matrix values');
  const data = token === 'FM' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++)
    data[i] = width === 4 ? src.buf.readFloatLE(src.pos + 4 * i) : src.buf.readDoubleLE(src.pos + 8 * i);
  src.pos += n * width;
  return { numRows, numCols, data };
}

function decodeInt32Vector(src: ByteSource): Int32Array {
  src.header();
  const n = src.count('the vector length');
  const v = new Int32Array(n);
  for (let i = 0; i < n; i++) v[i] = src.int32(`element ${i}`);
  return v;
}

function decodePosterior(src: ByteSource): PosteriorFrame[] {
  src.header();
  const n = src.count('the frame count');
  const frames: PosteriorFrame[] = [];
  for (let t = 0; t < n; t++) {
    const m = src.count(`the pair count of frame ${t}`);
    const ids = new Int32Array(m);
    const weights = new Float32Array(m);
    for (let i = 0; i < m; i++) {
      ids[i] = src.int32(`a pdf id of frame ${t}`);
      weights[i] = src.float(`a weight of frame ${t}`);
    }
    frames.push({ ids, weights });
  }
  return frames;
}

function decode<K extends KaldiObjectKind>(kind: K, src: ByteSource): KaldiObject<K> {
  if (kind === 'matrix') return decodeMatrix(src) as KaldiObject<K>;
  if (kind === 'int32-vector') return decodeInt32Vector(src) as KaldiObject<K>;
  return decodePosterior(src) as KaldiObject<K>;
}

/** Decode one object from bytes (starting at "\0B"). */
export function decodeObject<K extends KaldiObjectKind>(
  kind: K,
  bytes: Uint8Array,
  where = 'Kaldi object',
): KaldiObject<K> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const src = new ByteSource(buf, where, '', 0);
  const v = decode(kind, src);
  if (src.pos !== buf.length)
    src.fail('bytes after the object', 'the object to end here', `${buf.length - src.pos} more bytes`);
  return v;
}

export interface ArchiveEntry<K extends KaldiObjectKind> {
  key: string;
  /** Byte offset of the object's "\0B" (what an scp line names). */
  offset: number;
  value: KaldiObject<K>;
}

/** Every entry of a binary archive, in file order. */
export async function readKaldiArchive<K extends KaldiObjectKind>(path: string, kind: K): Promise<ArchiveEntry<K>[]> {
  const buf = await readWhole(path, 'Kaldi archive');
  const out: ArchiveEntry<K>[] = [];
  const seen = new Set<string>();
  let pos = 0;
  while (pos < buf.length) {
    let end = pos;
    while (end < buf.length && buf[end] !== SPACE && buf[end] !== 0x0a && buf[end] !== 0) end++;
    const key = buf.subarray(pos, end).toString('utf8');
    if (end >= buf.length || buf[end] !== SPACE || key.length === 0) {
      throw new FormatError(`bad archive entry (byte ${pos})`, {
        file: path,
        expected: '"<key> " followed by a binary object',
        found: JSON.stringify(buf.subarray(pos, Math.min(end + 1, pos + 40)).toString('latin1')),
      });
    }
    if (seen.has(key))
      throw new FormatError(`key appears twice in the archive (byte ${pos})`, {
        file: path,
        uttId: key,
        expected: 'unique keys',
      });
    seen.add(key);
    const src = new ByteSource(buf, path, key, end + 1);
    const value = decode(kind, src);
    out.push({ key, offset: end + 1, value });
    pos = src.pos;
  }
  return out;
}

export interface ScpEntry {
  key: string;
  path: string;
  /** Byte offset of the object in `path`. */
  offset: number;
  line: number;
}

/** Parse a script file of "key path:offset" lines (the form the exporter writes). */
export async function readScp(path: string): Promise<ScpEntry[]> {
  const text = (await readWhole(path, 'Kaldi script file')).toString('utf8');
  const out: ScpEntry[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    const m = /^(\S+) (.+):(\d+)$/.exec(raw);
    if (!m)
      throw new FormatError('bad scp line', {
        file: path,
        line: i + 1,
        expected: '"<key> <ark path>:<byte offset>"',
        found: JSON.stringify(raw),
      });
    if (seen.has(m[1]))
      throw new FormatError('key appears twice in the script file', {
        file: path,
        line: i + 1,
        uttId: m[1],
        expected: 'unique keys',
      });
    seen.add(m[1]);
    out.push({ key: m[1], path: m[2], offset: Number(m[3]), line: i + 1 });
  });
  return out;
}

/** The objects an scp names, in scp order, each read at its offset (archives cached per path). */
export async function readScpObjects<K extends KaldiObjectKind>(
  scpPath: string,
  kind: K,
): Promise<{ key: string; value: KaldiObject<K> }[]> {
  const cache = new Map<string, Buffer>();
  const out: { key: string; value: KaldiObject<K> }[] = [];
  for (const e of await readScp(scpPath)) {
    let buf = cache.get(e.path);
    if (!buf) {
      buf = await readWhole(e.path, `archive named on line ${e.line} of ${scpPath}`);
      cache.set(e.path, buf);
    }
    if (e.offset >= buf.length)
      throw new FormatError('scp offset past the end of the archive', {
        file: scpPath,
        line: e.line,
        uttId: e.key,
        expected: `an offset < ${buf.length} (${e.path})`,
        found: String(e.offset),
      });
    out.push({ key: e.key, value: decode(kind, new ByteSource(buf, e.path, e.key, e.offset)) });
  }
  return out;
}

/** Parse an int32-vector text archive ("key v1 v2 ... " lines, `ark,t`). */
export async function readInt32VectorText(path: string): Promise<{ key: string; value: Int32Array }[]> {
  const text = (await readWhole(path, 'Kaldi text archive')).toString('utf8');
  const out: { key: string; value: Int32Array }[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    const [key, ...rest] = raw.trim().split(/\s+/);
    const v = rest.map((x) => Number(x));
    const bad = rest.findIndex((x, j) => !/^-?\d+$/.test(x) || v[j] < -0x80000000 || v[j] > 0x7fffffff);
    if (bad >= 0)
      throw new FormatError('not an integer', {
        file: path,
        line: i + 1,
        uttId: key,
        expected: 'int32 values',
        found: JSON.stringify(rest[bad]),
      });
    out.push({ key, value: Int32Array.from(v) });
  });
  return out;
}

async function readWhole(path: string, what: string): Promise<Buffer> {
  try {
    return await fsp.readFile(path);
  } catch (cause) {
    throw new FormatError(`cannot read the ${what}`, {
      file: path,
      cause,
      found: (cause as NodeJS.ErrnoException).code ?? String(cause),
    });
  }
}
