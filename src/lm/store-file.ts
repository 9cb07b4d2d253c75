/**
 * Loading an ARPA LM into an NgramStore, through a binary cache next to it.
 *
 * `loadNgramStore('lm.arpa')` streams the ARPA file (plain or `.gz`) into the store and writes
 * `lm.arpa.amdlm` atomically; the next load maps that file's arrays without parsing, as long as
 * it was made from the same ARPA file (same size, modification time and SHA-256 of its first
 * MiB) by the same format version on a machine of the same byte order. A cache that does not
 * match, or cannot be read, is rebuilt; one that cannot be written (read-only directory) is
 * skipped and said so in the result.
 *
 * Cache layout: 8-byte magic `AMDLM\0\0\1`, uint32 LE header length, the header (JSON: version,
 * source key, order, byte order, and offset/length of the vocabulary and of every array), then
 * the vocabulary (UTF-8, one word per line) and the arrays, each at an 8-aligned offset. Reading
 * fills one typed array per array (chunked reads), so a cache above 2 GiB loads too.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { withAtomicOutput, inputPathError } from '../util/fs.ts';
import { streamArpa } from './arpa.ts';
import { NgramStore, NgramStoreBuilder, type NgramStoreArrays } from './ngram-store.ts';

const MAGIC = Buffer.from([0x41, 0x4d, 0x44, 0x4c, 0x4d, 0, 0, 1]);
const VERSION = 1;
const HEAD_BYTES = 1 << 20;

/** What identifies the ARPA file a cache was made from. */
export interface ArpaSourceKey {
  size: number;
  mtimeMs: number;
  /** SHA-256 (hex) of the file's first MiB. */
  headSha256: string;
}

type ArrayKind = 'words' | 'probs' | 'bows' | 'childStart';
const ARRAY_TYPES = { words: Int32Array, probs: Float64Array, bows: Float64Array, childStart: Uint32Array } as const;

interface CacheHeader {
  version: number;
  endianness: string;
  source: ArpaSourceKey;
  order: number;
  vocab: { offset: number; bytes: number; count: number };
  arrays: { kind: ArrayKind; index: number; offset: number; length: number }[];
}

export function cachePathOf(arpaPath: string): string {
  return `${arpaPath}.amdlm`;
}

export function arpaSourceKey(path: string): ArpaSourceKey {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw inputPathError(path, 'an ARPA language model', err) ?? err;
  }
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(Math.min(HEAD_BYTES, st.size));
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return {
      size: st.size,
      mtimeMs: st.mtimeMs,
      headSha256: createHash('sha256').update(buf.subarray(0, got)).digest('hex'),
    };
  } finally {
    closeSync(fd);
  }
}

const align8 = (x: number) => Math.ceil(x / 8) * 8;

/** Write a store's cache file atomically (streamed out array by array; no second copy in memory). */
export async function writeStoreCache(path: string, store: NgramStore, source: ArpaSourceKey): Promise<void> {
  const a = store.arrays();
  const vocab = Buffer.from(a.vocab.join('\n'), 'utf8');
  const list: { kind: ArrayKind; index: number; data: Int32Array | Float64Array | Uint32Array }[] = [];
  for (const kind of ['words', 'probs', 'bows', 'childStart'] as const)
    a[kind].forEach((data, index) => list.push({ kind, index, data }));
  // The header's size depends on the offsets it lists: lay out after a generous fixed-size slot.
  const arraysMeta = list.map((x) => ({ kind: x.kind, index: x.index, offset: 0, length: x.data.length }));
  const header: CacheHeader = {
    version: VERSION,
    endianness: endianness(),
    source,
    order: a.order,
    vocab: { offset: 0, bytes: vocab.length, count: a.vocab.length },
    arrays: arraysMeta,
  };
  const slot = align8(MAGIC.length + 4 + Buffer.byteLength(JSON.stringify(header)) + 64 + 16 * list.length);
  let off = slot;
  header.vocab.offset = off;
  off = align8(off + vocab.length);
  for (const m of arraysMeta) {
    m.offset = off;
    off = align8(off + m.length * ARRAY_TYPES[m.kind].BYTES_PER_ELEMENT);
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const head = Buffer.alloc(slot);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(json.length, MAGIC.length);
  json.copy(head, MAGIC.length + 4);
  await withAtomicOutput(path, async (tmp) => {
    const fh = await open(tmp, 'w');
    try {
      let pos = 0;
      const put = async (bytes: Uint8Array, at: number) => {
        if (at > pos) {
          await fh.write(Buffer.alloc(at - pos));
          pos = at;
        }
        await fh.write(bytes);
        pos += bytes.length;
      };
      await put(head, 0);
      await put(vocab, header.vocab.offset);
      for (let i = 0; i < list.length; i++) {
        const d = list[i].data;
        await put(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), arraysMeta[i].offset);
      }
      if (off > pos) await fh.write(Buffer.alloc(off - pos));
    } finally {
      await fh.close();
    }
  });
}

/** Why a cache file cannot serve `source`; null when it can. */
function cacheMismatch(h: CacheHeader, source: ArpaSourceKey): string | null {
  if (h.version !== VERSION) return `format version ${h.version}, not ${VERSION}`;
  if (h.endianness !== endianness()) return `byte order ${h.endianness}`;
  const s = h.source;
  if (s.size !== source.size || s.mtimeMs !== source.mtimeMs || s.headSha256 !== source.headSha256)
    return 'made from another version of the ARPA file';
  return null;
}

/**
 * The store in a cache file made from the ARPA file `source` describes, or the reason it cannot
 * be used (missing, another source, damaged).
 */
export function readStoreCache(path: string, source: ArpaSourceKey): { store: NgramStore } | { reason: string } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    return {
      reason:
        (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no cache yet' : `unreadable (${(err as Error).message})`,
    };
  }
  try {
    return readCacheFd(fd, source);
  } catch (err) {
    return { reason: `unreadable (${(err as Error).message})` };
  } finally {
    closeSync(fd);
  }
}

/** Fill `dst` from the file at `pos` (in chunks: one read is limited to 2 GiB); false when the file ends first. */
function readExactly(fd: number, dst: Uint8Array, pos: number): boolean {
  for (let got = 0; got < dst.length;) {
    const n = readSync(fd, dst, got, Math.min(dst.length - got, 1 << 30), pos + got);
    if (n === 0) return false;
    got += n;
  }
  return true;
}

/** The cache's arrays, each read into its own typed array (no buffer of the whole file). */
function readCacheFd(fd: number, source: ArpaSourceKey): { store: NgramStore } | { reason: string } {
  const size = fstatSync(fd).size;
  const head = Buffer.alloc(MAGIC.length + 4);
  if (!readExactly(fd, head, 0) || !head.subarray(0, MAGIC.length).equals(MAGIC))
    return { reason: 'not a cache file (bad magic)' };
  const len = head.readUInt32LE(MAGIC.length);
  const json = Buffer.alloc(Math.min(len, size));
  let h: CacheHeader;
  try {
    if (!readExactly(fd, json, head.length)) throw new Error('truncated');
    h = JSON.parse(json.toString('utf8')) as CacheHeader;
  } catch {
    return { reason: 'damaged header' };
  }
  const why = cacheMismatch(h, source);
  if (why) return { reason: why };
  const a: NgramStoreArrays = { order: h.order, vocab: [], words: [], probs: [], bows: [], childStart: [] };
  const vocab = Buffer.alloc(h.vocab.bytes);
  if (h.vocab.offset + h.vocab.bytes > size || !readExactly(fd, vocab, h.vocab.offset)) return { reason: 'truncated' };
  a.vocab = h.vocab.count === 0 ? [] : vocab.toString('utf8').split('\n');
  for (const m of h.arrays) {
    const T = ARRAY_TYPES[m.kind];
    if (!T || m.offset + m.length * T.BYTES_PER_ELEMENT > size) return { reason: 'truncated or damaged array table' };
    const arr = new T(m.length);
    if (!readExactly(fd, new Uint8Array(arr.buffer), m.offset)) return { reason: 'truncated' };
    (a[m.kind] as unknown[])[m.index] = arr;
  }
  const bad = storeShapeError(a, h.vocab.count);
  if (bad) return { reason: bad };
  return { store: new NgramStore(a) };
}

/** Whether the arrays fit together (counts, offsets); the reason when not. */
function storeShapeError(a: NgramStoreArrays, vocabCount: number): string | null {
  const N = a.order;
  if (
    !(N >= 1) ||
    a.vocab.length !== vocabCount ||
    a.probs.length !== N ||
    a.words.length !== N ||
    a.bows.length !== N - 1 ||
    a.childStart.length !== N - 1
  )
    return 'array table does not match the order';
  if (a.probs[0].length !== vocabCount) return 'unigram count differs from the vocabulary';
  for (let n = 2; n <= N; n++) {
    const cs = a.childStart[n - 2];
    if (!a.words[n - 1] || a.words[n - 1].length !== a.probs[n - 1].length) return `${n}-gram arrays differ in length`;
    if (cs.length !== a.probs[n - 2].length + 1 || cs[cs.length - 1] !== a.probs[n - 1].length)
      return `${n - 1}-gram child offsets do not match the ${n}-grams`;
    if (a.bows[n - 2].length !== a.probs[n - 2].length) return `${n - 1}-gram back-off weights differ in length`;
  }
  return null;
}

export interface LoadedStore {
  store: NgramStore;
  /** 'cache': read from the binary cache; 'arpa': parsed from the ARPA file. */
  from: 'cache' | 'arpa';
  cachePath: string | null;
  /** What happened to the cache: why it was not used, or why it could not be written. */
  cacheNote: string;
}

/**
 * The store of an ARPA file (`.arpa` or `.arpa.gz`), from its binary cache when that is current
 * (`cache: false`: always parse, never write a cache).
 */
export async function loadNgramStore(arpaPath: string, opts: { cache?: boolean } = {}): Promise<LoadedStore> {
  const useCache = opts.cache ?? true;
  const source = useCache ? arpaSourceKey(arpaPath) : null;
  const cachePath = cachePathOf(arpaPath);
  let note = 'cache off';
  if (source) {
    const hit = readStoreCache(cachePath, source);
    if ('store' in hit) return { store: hit.store, from: 'cache', cachePath, cacheNote: 'current' };
    note = hit.reason;
  }
  const builder = new NgramStoreBuilder(arpaPath);
  await streamArpa(arpaPath, builder);
  const store = builder.finish();
  if (!source) return { store, from: 'arpa', cachePath: null, cacheNote: note };
  try {
    await writeStoreCache(cachePath, store, source);
    return { store, from: 'arpa', cachePath, cacheNote: `${note}; written` };
  } catch (err) {
    return { store, from: 'arpa', cachePath: null, cacheNote: `${note}; not written (${(err as Error).message})` };
  }
}
