/**
 * The Arrow alignment store (docs/design.md section 4): one Arrow IPC *file* per split,
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
import { Data, DataType, Field, Int32, Int8, makeData, RecordBatch, Schema, Utf8, type Vector } from 'apache-arrow';
import { existsSync, promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { FormatError } from '../util/errors.ts';
import { sha256Hex } from '../util/hash.ts';
import {
  ArrowReadHandle,
  checkUtteranceColumns,
  frameIndexData,
  int32Data,
  isInt32Type,
  openArrowStore,
  readingArrow,
  UtteranceFileWriter,
} from '../util/arrow-file.ts';
import { checkStoredCounts, STORE_META, StoreMetadata, storeMetadataMap } from '../util/arrow-metadata.ts';

export const ALIGNMENT_FORMAT = 'am-distill.alignments';
export const ALIGNMENT_FORMAT_VERSION = 1;

export const ALIGN_META = {
  ...STORE_META,
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

export type AlignmentWriterOptions = Omit<AlignmentFileMetadata, 'format' | 'formatVersion' | 'counts' | 'stage'> & {
  stage?: string;
};

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
  private readonly file: UtteranceFileWriter;

  private constructor(path: string, opts: AlignmentWriterOptions, file: UtteranceFileWriter) {
    this.path = path;
    this.opts = { stage: 'align', ...opts };
    this.file = file;
  }

  static async open(path: string, opts: AlignmentWriterOptions): Promise<AlignmentFileWriter> {
    return new AlignmentFileWriter(
      path,
      opts,
      await UtteranceFileWriter.open(path, labelFields(), 'AlignmentFileWriter', 'alignment file'),
    );
  }

  get utterances(): number {
    return this.file.utterances;
  }

  get numFrames(): number {
    return this.file.numFrames;
  }

  /** Append one utterance (one record batch). */
  add(a: UtteranceAlignment): void {
    this.file.checkAdd(a.uttId);
    const n = a.senone.length;
    for (const [name, arr] of [
      ['phone', a.phone],
      ['hmm_state', a.hmmState],
      ['word', a.word],
    ] as const) {
      if (arr.length !== n)
        throw new FormatError(`${name} and senone columns differ in length`, {
          file: this.path,
          uttId: a.uttId,
          expected: String(n),
          found: String(arr.length),
        });
    }
    for (let t = 0; t < n; t++) {
      if (a.senone[t] < 0 || a.senone[t] >= this.opts.numSenones) {
        throw new FormatError('senone id outside the inventory', {
          file: this.path,
          uttId: a.uttId,
          expected: `0..${this.opts.numSenones - 1}`,
          found: `${a.senone[t]} at frame ${t}`,
        });
      }
    }
    this.file.append(a.uttId, n, [
      frameIndexData(n),
      int32Data(Int32Array.from(a.senone)),
      int32Data(Int32Array.from(a.phone)),
      makeData({ type: new Int8(), length: n, nullCount: 0, data: Int8Array.from(a.hmmState) }),
      int32Data(Int32Array.from(a.word)),
    ]);
  }

  /** Rewrite with the final dictionary and counts; rename into place. */
  async finish(failed = 0): Promise<AlignmentFileMetadata> {
    const meta: AlignmentFileMetadata = {
      format: ALIGNMENT_FORMAT,
      formatVersion: ALIGNMENT_FORMAT_VERSION,
      stage: this.opts.stage,
      configHash: this.opts.configHash,
      featureConfigHash: this.opts.featureConfigHash,
      numSenones: this.opts.numSenones,
      frameShiftMs: this.opts.frameShiftMs,
      phones: this.opts.phones,
      split: this.opts.split,
      counts: { utterances: this.file.utterances, frames: this.file.numFrames, failed },
    };
    await this.file.finish(metadataMap(meta));
    return meta;
  }

  async abort(): Promise<void> {
    await this.file.abort();
  }
}

function metadataMap(m: AlignmentFileMetadata): Map<string, string> {
  return storeMetadataMap(m, [
    [ALIGN_META.featureConfigHash, m.featureConfigHash],
    [ALIGN_META.numSenones, String(m.numSenones)],
    [ALIGN_META.frameShiftMs, String(m.frameShiftMs)],
    [ALIGN_META.phones, JSON.stringify(m.phones)],
    [ALIGN_META.split, m.split ?? ''],
    [ALIGN_META.counts, JSON.stringify(m.counts)],
  ]);
}

function parseMetadata(schema: Schema, file: string): AlignmentFileMetadata {
  const md = StoreMetadata.open(schema, file, 'alignment file', ALIGNMENT_FORMAT, ALIGNMENT_FORMAT_VERSION);
  return {
    ...md.head(),
    featureConfigHash: md.get(ALIGN_META.featureConfigHash),
    numSenones: md.positiveInt(ALIGN_META.numSenones, 'senone count'),
    frameShiftMs: Number(md.get(ALIGN_META.frameShiftMs)),
    phones: md.json<string[]>(ALIGN_META.phones),
    split: md.optional(ALIGN_META.split),
    counts: md.json<AlignmentCounts>(ALIGN_META.counts),
  };
}

const COLUMN_TYPES: Record<string, (t: DataType) => boolean> = {
  senone: isInt32Type,
  phone: isInt32Type,
  hmm_state: (t) => DataType.isInt(t) && t.bitWidth === 8 && t.isSigned,
  word: isInt32Type,
};

function validateSchema(schema: Schema, file: string): void {
  checkUtteranceColumns(schema, file);
  for (const [name, ok] of Object.entries(COLUMN_TYPES)) {
    const f = schema.fields.find((x) => x.name === name);
    if (!f || !ok(f.type))
      throw new FormatError(`bad ${name} column`, {
        file,
        expected: `${name}: ${name === 'hmm_state' ? 'Int8' : 'Int32'}`,
        found: f ? String(f.type) : `no ${name} column`,
      });
  }
}

async function openReader(
  path: string,
): Promise<{ fh: ArrowReadHandle; reader: AsyncIterable<RecordBatch>; meta: AlignmentFileMetadata }> {
  const { fh, reader, meta } = await openArrowStore(path, 'alignment file', (schema) => {
    const meta = parseMetadata(schema, path);
    validateSchema(schema, path);
    return meta;
  });
  return { fh, reader: reader as unknown as AsyncIterable<RecordBatch>, meta };
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
  type Cur = {
    uttId: string;
    index: number;
    parts: { senone: Int32Array; phone: Int32Array; hmm: Int8Array; word: Int32Array }[];
    frames: number;
  };
  let cur: Cur | null = null;
  const emit = (c: Cur): UtteranceAlignment => {
    const cat = <T extends Int32Array | Int8Array>(pick: (p: Cur['parts'][number]) => T, make: (n: number) => T): T => {
      const out = make(c.frames);
      let o = 0;
      for (const p of c.parts) {
        const v = pick(p);
        out.set(v, o);
        o += v.length;
      }
      return out;
    };
    return {
      uttId: c.uttId,
      senone: cat(
        (p) => p.senone,
        (n) => new Int32Array(n),
      ),
      phone: cat(
        (p) => p.phone,
        (n) => new Int32Array(n),
      ),
      hmmState: Int32Array.from(
        cat(
          (p) => p.hmm,
          (n) => new Int8Array(n),
        ),
      ),
      word: cat(
        (p) => p.word,
        (n) => new Int32Array(n),
      ),
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
          if (seen.has(idx[start]))
            throw new FormatError('utterance rows are not contiguous', {
              file: path,
              uttId: String(dict.get(idx[start])),
              expected: 'all frames of an utterance together',
            });
          seen.add(idx[start]);
          const uttId = dict.get(idx[start]);
          if (uttId === null || uttId === undefined)
            throw new FormatError('utt_id index outside the dictionary', { file: path, found: String(idx[start]) });
          cur = { uttId, index: idx[start], parts: [], frames: 0 };
        }
        for (let r = start; r < end; r++) {
          if (frame[r] !== cur.frames + (r - start)) {
            throw new FormatError('frame numbers are not 0, 1, 2, ... within the utterance', {
              file: path,
              uttId: cur.uttId,
              expected: String(cur.frames + (r - start)),
              found: String(frame[r]),
            });
          }
        }
        cur.parts.push({
          senone: senone.subarray(start, end),
          phone: phone.subarray(start, end),
          hmm: hmm.subarray(start, end),
          word: word.subarray(start, end),
        });
        cur.frames += end - start;
        start = end;
      }
    }
    if (cur) yield emit(cur);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/**
 * The id of the senone inventory an align output's senone ids refer to: sha256 of its tree.json
 * and senones.json, else (neither there) the alignment config hash. Two align runs with the same
 * options on other data build other trees, so the config hash alone would not tell them apart.
 */
export async function senoneInventoryId(alignDir: string, alignmentConfigHash: string): Promise<string> {
  const parts: string[] = [];
  for (const name of ['tree.json', 'senones.json']) {
    const p = join(alignDir, name);
    if (existsSync(p)) parts.push(`${name}:${sha256Hex(await fsp.readFile(p))}`);
  }
  return parts.length ? sha256Hex(parts.join('\n')).slice(0, 32) : `align-config:${alignmentConfigHash.slice(0, 32)}`;
}

/**
 * `am-distill validate` of an alignment file: every utterance read, senone ids within
 * [0, num_senones), phone ids within the phone list, word >= -1, counts against the metadata.
 * Returns the summary lines (the inventory id from tree.json / senones.json next to the file).
 */
export async function validateAlignmentFile(path: string): Promise<string[]> {
  const meta = await readAlignmentMetadata(path);
  const S = meta.numSenones;
  const numPhones = meta.phones.length;
  const used = new Uint8Array(S);
  const read = { utterances: 0, frames: 0 };
  const bad = (uttId: string, what: string, expected: string, found: string) =>
    new FormatError(what, { file: path, uttId, expected, found });
  await readingArrow(path, 'alignment file', async () => {
    for await (const u of readAlignmentFile(path)) {
      read.utterances++;
      read.frames += u.senone.length;
      for (let t = 0; t < u.senone.length; t++) {
        const s = u.senone[t];
        if (!(s >= 0 && s < S))
          throw bad(
            u.uttId,
            'senone id outside the inventory',
            `0 <= senone < ${S} (num_senones in the metadata)`,
            `${s} at frame ${t}`,
          );
        used[s] = 1;
        if (numPhones > 0 && !(u.phone[t] >= 0 && u.phone[t] < numPhones)) {
          throw bad(
            u.uttId,
            'phone id outside the phone list',
            `0 <= phone < ${numPhones} (phones in the metadata)`,
            `${u.phone[t]} at frame ${t}`,
          );
        }
        if (!(u.word[t] >= -1))
          throw bad(
            u.uttId,
            'bad word index',
            'a word index >= 0, or -1 for optional silence',
            `${u.word[t]} at frame ${t}`,
          );
      }
    }
  });
  checkStoredCounts(path, 'alignment file', meta.counts, read);
  const usedSenones = used.reduce((a, x) => a + x, 0);
  const inventory = await senoneInventoryId(dirname(path), meta.configHash);
  return [
    `alignments (${meta.format} v${meta.formatVersion}, stage ${meta.stage}${meta.split ? `, split ${meta.split}` : ''})`,
    `  ${read.utterances} utterances, ${read.frames} frames (${((read.frames * meta.frameShiftMs) / 3_600_000).toFixed(3)} h), ${meta.counts.failed} failed`,
    `  ${S} senones (${usedSenones} used), inventory ${inventory}, ${Math.max(0, numPhones - 1)} phones`,
    `  config hash ${meta.configHash}, feature config hash ${meta.featureConfigHash}`,
  ];
}

/**
 * Concatenate alignment files (the shards of a split, in order) into `output`, written with `opts`
 * and `failed` as a whole split's file is: every utterance one record batch, as when aligned.
 */
export async function mergeAlignmentFiles(
  inputs: readonly string[],
  output: string,
  opts: AlignmentWriterOptions,
  failed: number,
): Promise<AlignmentFileMetadata> {
  const writer = await AlignmentFileWriter.open(output, opts);
  try {
    for (const p of inputs) for await (const a of readAlignmentFile(p)) writer.add(a);
    return await writer.finish(failed);
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
