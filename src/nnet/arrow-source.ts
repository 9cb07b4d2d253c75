/**
 * A FrameSource over the pipeline's Arrow IPC files (docs/design.md section 4):
 *   features:   utt_id (dictionary utf8), frame int32, fbank FixedSizeList<float32>[n_mels]
 *   alignments: utt_id (dictionary utf8), frame int32, senone int32
 *
 * Feature files are read with the feature store's reader (src/features/store.ts: schema, metadata
 * and feature config checked); alignment files by the columns above, and when their schema
 * metadata names the feature config hash they were made from (`am_distill.feature_config_hash`)
 * it must equal the feature files' (alignments of other features are fatal).
 * Files are read record batch by record batch; one utterance at a time is assembled, so memory
 * does not grow with the corpus (plus the utterance id sets, O(utterances)). Feature and alignment
 * files are merge-joined by utterance id: both stages write utterances in manifest order, and
 * either side may lack some (a failed alignment, a skipped recording): those are counted skips.
 * A seeded pass (training) visits every utterance of every file in a random order instead, by
 * random access (`UtteranceRowIndex`): memory stays O(utterances) for the ids, plus one utterance.
 */
import type { RecordBatch, Vector } from 'apache-arrow';
import { Rng } from '../util/rng.ts';
import { FormatError, SkipCounter } from '../util/errors.ts';
import { FeatureFileReader, readFeatureMetadata, type FeatureConfig } from '../features/store.ts';
import {
  ArrowReadHandle,
  locateUtterances,
  openArrowFile,
  openArrowReader,
  UtteranceRowIndex,
} from '../util/arrow-file.ts';
import type { FrameSource, Utterance, UtteranceOrder } from './data.ts';

export interface ArrowFrameSourceOptions {
  /** Feature files (shards), in order. */
  features: string[];
  /** Alignment files (shards) in the same utterance order; omit for unlabelled data. */
  alignments?: string[];
  /** Speaker of each utterance (utt2spk) for per-speaker CMVN; unknown utterances are their own speaker. */
  uttToSpeaker?: ReadonlyMap<string, string> | Record<string, string>;
  /** Named in messages. Default: the first feature file. */
  name?: string;
}

interface RowChunk {
  uttId: string;
  rows: number;
  /** Frame numbers of the chunk (to check continuity). */
  frames: Int32Array;
  /** One value per row. */
  values: Int32Array;
}

/** Decoded dictionaries: a file has one global dictionary, shared by all its record batches. */
const decodedDictionaries = new WeakMap<object, string[]>();

function dictionaryStrings(v: Vector): string[] {
  const dict = v.data[0]?.dictionary;
  if (!dict) return [];
  let strings = decodedDictionaries.get(dict);
  if (!strings) {
    strings = dict.toArray() as string[];
    decodedDictionaries.set(dict, strings);
  }
  return strings;
}

function checkColumn(batch: RecordBatch, name: string, typeRe: RegExp, file: string): Vector {
  const col = batch.getChild(name);
  if (!col)
    throw new FormatError('missing column', {
      file,
      expected: `column '${name}'`,
      found: batch.schema.fields.map((f) => `${f.name}: ${f.type}`).join(', '),
    });
  const t = String(col.type);
  if (!typeRe.test(t))
    throw new FormatError(`column '${name}' has the wrong type`, { file, expected: typeRe.source, found: t });
  return col;
}

/** Rows of a file grouped into per-utterance chunks (an utterance may span record batches). */
async function* readChunks(file: string, valueColumn: string): AsyncGenerator<RowChunk> {
  const kind = 'alignments';
  let fh: ArrowReadHandle;
  try {
    fh = await ArrowReadHandle.open(file);
  } catch (err) {
    throw new FormatError(`cannot open ${kind} file`, {
      file,
      cause: err,
      expected: 'an Arrow IPC file',
      found: (err as NodeJS.ErrnoException).code ?? 'unreadable',
    });
  }
  try {
    const reader = await openArrowReader(file, fh);
    for await (const batch of reader) {
      const n = batch.numRows;
      if (n === 0) continue;
      const uttCol = checkColumn(batch, 'utt_id', /^Dictionary<Int(8|16|32), Utf8>$/, file);
      const frameCol = checkColumn(batch, 'frame', /^Int32$/, file);
      const valCol = checkColumn(batch, valueColumn, /^Int32$/, file);
      const dict = dictionaryStrings(uttCol);
      const ud = uttCol.data[0];
      const idx = (ud.values as Int32Array).subarray(ud.offset, ud.offset + n);
      const fd = frameCol.data[0];
      const frames = (fd.values as Int32Array).subarray(fd.offset, fd.offset + n);
      const vd = valCol.data[0];
      const values = (vd.values as Int32Array).subarray(vd.offset, vd.offset + n);
      if (batch.data.nullCount > 0 || ud.nullCount > 0 || fd.nullCount > 0 || vd.nullCount > 0) {
        throw new FormatError('null values in a column', {
          file,
          expected: 'no nulls in utt_id, frame, ' + valueColumn,
          found: 'nulls',
        });
      }
      let start = 0;
      for (let i = 1; i <= n; i++) {
        if (i === n || idx[i] !== idx[start]) {
          yield {
            uttId: dict[idx[start]],
            rows: i - start,
            frames: frames.subarray(start, i),
            values: values.subarray(start, i),
          };
          start = i;
        }
      }
    }
  } finally {
    await fh.close();
  }
}

/** Whole utterances of alignment files (chunks of one utterance concatenated, frames checked). */
async function* readAlignments(
  files: string[],
  valueColumn: string,
): AsyncGenerator<{ uttId: string; numFrames: number; values: Int32Array; file: string }> {
  for (const file of files) {
    let cur: { uttId: string; parts: Int32Array[]; numFrames: number } | null = null;
    const finish = () => {
      const c = cur!;
      return { uttId: c.uttId, numFrames: c.numFrames, values: concatInt32(c.parts), file };
    };
    const seen = new Set<string>();
    for await (const ch of readChunks(file, valueColumn)) {
      if (cur && ch.uttId !== cur.uttId) {
        yield finish();
        cur = null;
      }
      if (!cur) {
        if (seen.has(ch.uttId))
          throw new FormatError(`rows of one utterance are not contiguous`, {
            file,
            uttId: ch.uttId,
            expected: 'all frames of an utterance in one run of rows',
            found: 'a second run',
          });
        seen.add(ch.uttId);
        cur = { uttId: ch.uttId, parts: [], numFrames: 0 };
      }
      for (let i = 0; i < ch.rows; i++) {
        if (ch.frames[i] !== cur.numFrames + i) {
          throw new FormatError('frame numbers are not 0, 1, 2, ... within the utterance', {
            file,
            uttId: ch.uttId,
            expected: `frame ${cur.numFrames + i}`,
            found: `frame ${ch.frames[i]}`,
          });
        }
      }
      cur.parts.push(ch.values);
      cur.numFrames += ch.rows;
    }
    if (cur) yield finish();
  }
}

/** The senones of one utterance of an alignment file, by random access. */
async function readSenones(index: UtteranceRowIndex, i: number): Promise<Int32Array> {
  const rows = await index.rows(i);
  const parts = rows.map((r) => {
    const d = checkColumn(r.batch, 'senone', /^Int32$/, index.path).data[0];
    if (d.nullCount > 0)
      throw new FormatError('null values in a column', {
        file: index.path,
        uttId: index.uttIds[i],
        expected: 'no nulls in senone',
        found: 'nulls',
      });
    return (d.values as Int32Array).subarray(d.offset + r.start, d.offset + r.end);
  });
  return concatInt32(parts);
}

/** The parts in one array (the part itself when there is one). */
function concatInt32(parts: Int32Array[]): Int32Array {
  if (parts.length === 1) return parts[0];
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Utterance ids of a file, from its one global utt_id dictionary (reads the first record batch only). */
export async function arrowUttIds(file: string): Promise<string[]> {
  const fh = await ArrowReadHandle.open(file);
  try {
    const reader = await openArrowReader(file, fh);
    for await (const batch of reader) {
      const col = batch.getChild('utt_id');
      if (!col)
        throw new FormatError('missing column', {
          file,
          expected: "column 'utt_id'",
          found: batch.schema.fields.map((f) => f.name).join(', '),
        });
      return dictionaryStrings(col);
    }
    return [];
  } finally {
    await fh.close();
  }
}

/** Utterances of feature files in order, through the feature store's reader. */
async function* readFeatures(
  files: string[],
): AsyncGenerator<{ uttId: string; numFrames: number; width: number; values: Float32Array; file: string }> {
  for (const file of files) {
    const reader = await FeatureFileReader.open(file);
    for await (const u of reader.utterances())
      yield { uttId: u.uttId, numFrames: u.fbank.numFrames, width: u.fbank.dim, values: u.fbank.data, file };
  }
}

/** Schema metadata of an alignment file (reads the footer only). */
async function alignmentMetadata(file: string): Promise<Map<string, string>> {
  const fh = await ArrowReadHandle.open(file).catch((err) => {
    throw new FormatError('cannot open alignments file', {
      file,
      cause: err,
      expected: 'an Arrow IPC file',
      found: (err as NodeJS.ErrnoException).code ?? 'unreadable',
    });
  });
  try {
    const reader = await openArrowReader(file, fh);
    const f = (name: string) => reader.schema.fields.find((x) => x.name === name);
    for (const name of ['utt_id', 'frame', 'senone']) {
      if (!f(name))
        throw new FormatError('not an alignment file', {
          file,
          expected: 'columns utt_id, frame, senone',
          found: reader.schema.fields.map((x) => `${x.name}: ${x.type}`).join(', '),
        });
    }
    return reader.schema.metadata;
  } catch (err) {
    if (err instanceof FormatError) throw err;
    throw new FormatError('not an Arrow IPC file', {
      file,
      cause: err,
      expected: 'alignments in Arrow IPC file format',
      found: String((err as Error).message).slice(0, 80),
    });
  } finally {
    await fh.close();
  }
}

export class ArrowFrameSource implements FrameSource {
  readonly name: string;
  readonly featureDim: number;
  private passSkips = new SkipCounter();
  private readonly opts: ArrowFrameSourceOptions;
  private readonly speakers: ReadonlyMap<string, string>;

  private constructor(
    opts: ArrowFrameSourceOptions,
    featureDim: number,
    meta: { featureConfig: FeatureConfig; featureConfigHash: string; numSenones: number | null },
  ) {
    this.opts = opts;
    this.featureConfig = meta.featureConfig;
    this.featureConfigHash = meta.featureConfigHash;
    this.numSenones = meta.numSenones;
    this.featureDim = featureDim;
    this.name = opts.name ?? opts.features[0];
    const s = opts.uttToSpeaker;
    this.speakers = s instanceof Map ? s : new Map(Object.entries((s ?? {}) as Record<string, string>));
  }

  /** Feature config of the feature files (all must share its hash). */
  readonly featureConfig: FeatureConfig;
  /** Config hash of the feature files. */
  readonly featureConfigHash: string;
  /** Senone count recorded in the alignment files' metadata, when they record it. */
  readonly numSenones: number | null;

  /**
   * Open the files: feature config and dimension come from the feature files' metadata (all must
   * share one config hash); alignment metadata, where present, must name that hash.
   */
  static async open(opts: ArrowFrameSourceOptions): Promise<ArrowFrameSource> {
    if (opts.features.length === 0)
      throw new FormatError('no feature files', { expected: 'at least one Arrow feature file', found: 'none' });
    const first = await readFeatureMetadata(opts.features[0]);
    for (const f of opts.features.slice(1)) {
      const m = await readFeatureMetadata(f);
      if (m.configHash !== first.configHash)
        throw new FormatError('feature files differ in feature config', {
          file: f,
          expected: `config hash ${first.configHash}`,
          found: m.configHash,
        });
    }
    let numSenones: number | null = null;
    for (const a of opts.alignments ?? []) {
      const md = await alignmentMetadata(a);
      const fch = md.get('am_distill.feature_config_hash');
      if (fch !== undefined && fch !== first.configHash) {
        throw new FormatError('alignments were made from other features', {
          file: a,
          expected: `feature config hash ${first.configHash} (of ${opts.features[0]})`,
          found: fch,
        });
      }
      const ns = md.get('am_distill.num_senones');
      if (ns !== undefined) {
        if (numSenones !== null && Number(ns) !== numSenones)
          throw new FormatError('alignment files differ in senone count', {
            file: a,
            expected: String(numSenones),
            found: ns,
          });
        numSenones = Number(ns);
      }
    }
    return new ArrowFrameSource(opts, first.featureConfig.fbankDim, {
      featureConfig: first.featureConfig,
      featureConfigHash: first.configHash,
      numSenones,
    });
  }

  /** Utterances dropped on the current (or last) pass: no alignment, length mismatch, ... */
  get skips(): SkipCounter {
    return this.passSkips;
  }

  /**
   * One pass. Without `orderSeed`: file order, features merge-joined with alignments. With it: a
   * fresh random order of every utterance of every file, across shards, speakers and VTLP copies
   * (each utterance read by random access: one record batch of each file per utterance), so a
   * corpus stored in speaker order still fills the shuffle buffer with every speaker's frames.
   */
  async *utterances(order: UtteranceOrder = {}): AsyncIterable<Utterance> {
    this.passSkips = new SkipCounter();
    if (order.orderSeed === undefined) yield* this.join(this.opts.features, this.opts.alignments);
    else yield* this.shuffled(order.orderSeed);
  }

  private async *shuffled(seed: number): AsyncGenerator<Utterance> {
    const features: FeatureFileReader[] = [];
    const alignments: { fh: ArrowReadHandle; rows: UtteranceRowIndex }[] = [];
    try {
      for (const f of this.opts.features) features.push(await FeatureFileReader.open(f));
      for (const file of this.opts.alignments ?? []) {
        const opened = await openArrowFile(file, 'alignments file');
        alignments.push({ fh: opened.fh, rows: new UtteranceRowIndex(file, opened.reader, opened.schema) });
      }
      const alignedAt = locateUtterances(
        alignments.map((a) => a.rows),
        'alignment files',
      );
      // Every utterance of every feature file, as (file, utterance index), in a seeded random order.
      const visit = new Rng(seed).shuffle(features.flatMap((r, f) => r.uttIds.map((_, i) => [f, i] as const)));
      const featured = new Set<string>();
      for (const [f, i] of visit) {
        const u = await features[f].readUtterance(i);
        featured.add(u.uttId);
        const utt: Utterance = {
          uttId: u.uttId,
          speaker: this.speakers.get(u.uttId),
          numFrames: u.fbank.numFrames,
          dim: u.fbank.dim,
          feats: u.fbank.data,
        };
        if (this.opts.alignments) {
          const at = alignedAt.get(u.uttId);
          if (!at) {
            this.passSkips.skip(u.uttId, 'no alignment');
            continue;
          }
          utt.labels = await readSenones(alignments[at.file].rows, at.index);
          if (utt.labels.length !== utt.numFrames) {
            this.passSkips.skip(u.uttId, 'alignment length differs from the number of feature frames');
            continue;
          }
        }
        this.passSkips.done++;
        yield utt;
      }
      for (const id of alignedAt.keys()) if (!featured.has(id)) this.passSkips.skip(id, 'alignment without features');
    } finally {
      for (const r of features) await r.close();
      for (const a of alignments) await a.fh.close().catch(() => undefined);
    }
  }

  private async *join(featureFiles: string[], alignmentFiles: string[] | undefined): AsyncGenerator<Utterance> {
    const speakerOf = (u: string) => this.speakers.get(u);
    if (!alignmentFiles) {
      for await (const f of readFeatures(featureFiles)) {
        this.passSkips.done++;
        yield { uttId: f.uttId, speaker: speakerOf(f.uttId), numFrames: f.numFrames, dim: f.width, feats: f.values };
      }
      return;
    }
    const aligned = new Set<string>();
    for (const a of alignmentFiles) for (const id of await arrowUttIds(a)) aligned.add(id);
    const featured = new Set<string>();
    for (const f of featureFiles) for (const id of await arrowUttIds(f)) featured.add(id);
    const ali = readAlignments(alignmentFiles, 'senone');
    const consumed = new Set<string>();
    try {
      for await (const f of readFeatures(featureFiles)) {
        consumed.add(f.uttId);
        if (!aligned.has(f.uttId)) {
          this.passSkips.skip(f.uttId, 'no alignment');
          continue;
        }
        let a: Awaited<ReturnType<typeof ali.next>>;
        while (true) {
          a = await ali.next();
          if (a.done)
            throw new FormatError('alignment stream ended before this utterance (different utterance order?)', {
              file: f.file,
              uttId: f.uttId,
              expected: "alignments in the feature files' utterance order",
              found: 'end of alignments',
            });
          const id = a.value.uttId;
          if (id === f.uttId) break;
          if (featured.has(id)) {
            throw new FormatError('alignments are not in the utterance order of the feature files', {
              file: a.value.file,
              uttId: id,
              expected: `'${f.uttId}' next (features order)`,
              found: `'${id}'${consumed.has(id) ? ' again' : ', which comes later in the features'}`,
            });
          }
          this.passSkips.skip(id, 'alignment without features');
        }
        const labels = a.value.values;
        if (a.value.numFrames !== f.numFrames) {
          this.passSkips.skip(f.uttId, `alignment length differs from the number of feature frames`);
          continue;
        }
        this.passSkips.done++;
        yield {
          uttId: f.uttId,
          speaker: speakerOf(f.uttId),
          numFrames: f.numFrames,
          dim: f.width,
          feats: f.values,
          labels,
        };
      }
    } finally {
      await ali.return(undefined);
    }
  }
}
