/**
 * A JSON document whose typed arrays are stored as raw little-endian bytes after it: the
 * statistics and model states that the sharded GMM training passes between jobs
 * (src/align/chain-jobs.ts). Every double comes back bit for bit (no decimal conversion), and so
 * do the plain numbers of the JSON part, NaN, the infinities and -0 included.
 *
 * Layout: 'AMDPACK1', the header's byte length (uint32 LE), the header (UTF-8 JSON, typed arrays
 * replaced by {"$typed": kind, "at": byte offset, "length": n}), then the arrays, each starting on
 * a multiple of 8 bytes after the header.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { FormatError } from './errors.ts';
import { writeFileAtomic } from './fs.ts';

const MAGIC = 'AMDPACK1';

const KINDS = {
  f64: Float64Array,
  f32: Float32Array,
  i32: Int32Array,
  u32: Uint32Array,
  u16: Uint16Array,
  u8: Uint8Array,
} as const;
type Kind = keyof typeof KINDS;
type Typed = InstanceType<(typeof KINDS)[Kind]>;

function kindOf(v: ArrayBufferView): Kind | null {
  for (const [k, ctor] of Object.entries(KINDS)) if (v instanceof ctor) return k as Kind;
  return null;
}

const pad8 = (n: number) => (n + 7) & ~7;

function checkHost(): void {
  if (endianness() !== 'LE')
    throw new FormatError('packed statistics need a little-endian machine', { expected: 'LE', found: endianness() });
}

/** `value` as bytes: typed arrays raw, everything else JSON. */
export function packValue(value: unknown): Buffer {
  checkHost();
  const arrays: Typed[] = [];
  let at = 0;
  const header = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'number') {
      if (Number.isNaN(v)) return { $num: 'NaN' };
      if (v === Infinity || v === -Infinity) return { $num: String(v) };
      if (Object.is(v, -0)) return { $num: '-0' };
      return v;
    }
    if (ArrayBuffer.isView(v)) {
      const kind = kindOf(v);
      if (!kind) throw new TypeError(`packValue: unsupported array ${v.constructor.name}`);
      arrays.push(v as Typed);
      const ref = { $typed: kind, at, length: (v as Typed).length };
      at += pad8(v.byteLength);
      return ref;
    }
    return v;
  });
  const head = Buffer.from(header, 'utf8');
  const start = pad8(MAGIC.length + 4 + head.length);
  const out = Buffer.alloc(start + at);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(head.length, MAGIC.length);
  head.copy(out, MAGIC.length + 4);
  let o = start;
  for (const a of arrays) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), o);
    o += pad8(a.byteLength);
  }
  return out;
}

/** The value `packValue` wrote; `file` names the source in errors. */
export function unpackValue(buf: Uint8Array, file: string): unknown {
  checkHost();
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < MAGIC.length + 4 || b.toString('latin1', 0, MAGIC.length) !== MAGIC)
    throw new FormatError('not a packed statistics file', { file, expected: `the magic '${MAGIC}'` });
  const n = b.readUInt32LE(MAGIC.length);
  const start = pad8(MAGIC.length + 4 + n);
  if (start > b.length) throw new FormatError('packed file cut short', { file, expected: `${start} bytes or more` });
  let header: unknown;
  try {
    header = JSON.parse(b.toString('utf8', MAGIC.length + 4, MAGIC.length + 4 + n), (_key, v: unknown) => {
      if (v && typeof v === 'object' && '$num' in v) return Number((v as { $num: string }).$num);
      if (v && typeof v === 'object' && '$typed' in v) {
        const { $typed, at, length } = v as { $typed: Kind; at: number; length: number };
        const ctor = KINDS[$typed];
        const bytes = ctor ? length * ctor.BYTES_PER_ELEMENT : NaN;
        if (!ctor || !(at >= 0) || !(start + at + bytes <= b.length))
          throw new FormatError('packed array outside the file', {
            file,
            expected: `${$typed} x ${length} at ${at}`,
            found: `${b.length} bytes`,
          });
        const out = new ctor(length);
        new Uint8Array(out.buffer).set(b.subarray(start + at, start + at + bytes));
        return out;
      }
      return v;
    });
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError('cannot parse the header of a packed file', { file, cause: e });
  }
  return header;
}

export async function writePackedAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, packValue(value));
}

export function readPacked(path: string): unknown {
  return unpackValue(readFileSync(path), path);
}
