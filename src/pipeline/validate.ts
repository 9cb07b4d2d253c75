/**
 * `am-distill validate <path>`: check any artefact the pipeline reads or writes, detected by
 * content and name, and summarise it:
 *   - a recipe (*.yaml / *.yml): parsed and validated against the registered stages;
 *   - a prepared data dir (a directory with corpus.json, or corpus.json itself): manifests,
 *     corpus.json and the corpus checks of src/corpus/validate.ts (audio files must exist);
 *   - a manifest (*.jsonl): recordings or supervisions, every line parsed and checked, ids unique;
 *   - an Arrow IPC file (magic "ARROW1", or *.arrow / *.feather), its kind read from the schema
 *     metadata key `am_distill.format` that every store writes (the footer's schema):
 *       - a feature file (am-distill.features): schema + metadata, every utterance read, counts
 *         compared with the metadata, values finite;
 *       - an alignment file (am-distill.alignments): every utterance read with the store's reader,
 *         senone ids within [0, num_senones), phone ids within the phone list, word >= -1, counts
 *         compared with the metadata;
 *       - a soft-target file (am-distill.soft-targets): every utterance read with the store's
 *         reader, per frame ids within [0, num_senones), probabilities (and residual) finite and
 *         in [0, 1], kept mass + residual = 1 within 1e-2 ('store'); with 'renormalise' the reader
 *         renormalises, so a second pass sums the *stored* probabilities of each frame (1 within
 *         1e-2, float16 rounding); counts compared with the metadata;
 *     any other `am_distill.format` (or none) is refused, and so is a file whose footer blocks
 *     do not point at its messages (bytes cut out of the middle: arrow-js could loop forever).
 *     Utterances are streamed: memory stays bounded by what the readers hold (one utterance,
 *     one record batch);
 *   - a stage directory or its stage.json: the record, and the outputs' hash against it.
 * Invalid input raises the typed error of the module that owns the format; an untyped error of
 * the Arrow library while reading record batches (a damaged file) becomes a FormatError naming it.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { RecordBatch, Utf8, Vector } from 'apache-arrow';
import { AmDistillError, FormatError } from '../util/errors.ts';
import { ARROW_FILE_MAGIC, openArrowFile } from '../util/arrow-file.ts';
import {
  CORPUS_INFO_FILE,
  iterateJsonl,
  parseRecording,
  parseSupervision,
  readCorpusInfo,
} from '../corpus/manifest.ts';
import { validateDataDir } from '../corpus/validate.ts';
import { CorpusError } from '../util/errors.ts';
import { FEATURE_FORMAT, META as FEATURE_META, readFeatureMetadata, readFeatureFile } from '../features/store.ts';
import { ALIGNMENT_FORMAT, readAlignmentFile, readAlignmentMetadata } from '../align/store.ts';
import {
  SOFT_TARGET_FORMAT,
  readSoftTargetFile,
  readSoftTargetMetadata,
  type SoftTargetFileMetadata,
} from '../distill/store.ts';
import { decodeFloat16 } from '../distill/float16.ts';
import { inventoryOf } from '../nnet/split-data.ts';
import { readCmvnFile } from '../features/cmvn-file.ts';
import { loadRecipe } from './recipe.ts';
import { STAGE_RECORD, readStageRecord } from './runner.ts';
import { hashDirContent } from './fingerprint.ts';
import type { StageRegistry } from '../stages/stage.ts';
import { defaultRegistry } from '../stages/index.ts';

export type ArtefactKind =
  'recipe' | 'corpus' | 'manifest' | 'features' | 'alignments' | 'soft-targets' | 'cmvn' | 'stage';

/** How each kind is named in messages. */
export const ARTEFACT_LABELS: Record<ArtefactKind, string> = {
  recipe: 'recipe',
  corpus: 'prepared data dir',
  manifest: 'manifest',
  features: 'feature file',
  alignments: 'alignment file',
  'soft-targets': 'soft-target file',
  cmvn: 'CMVN statistics file',
  stage: 'stage output dir',
};

export interface ValidationSummary {
  kind: ArtefactKind;
  path: string;
  /** Human-readable summary lines. */
  lines: string[];
}

export interface ValidateFileOptions {
  registry?: StageRegistry;
}

/** Detect what `path` is (see the module doc). */
export async function detectArtefact(path: string): Promise<ArtefactKind> {
  let st;
  try {
    st = await fsp.stat(path);
  } catch {
    throw new FormatError('no such file or directory', { file: path });
  }
  if (st.isDirectory()) {
    if (existsSync(join(path, STAGE_RECORD))) return 'stage';
    if (existsSync(join(path, CORPUS_INFO_FILE))) return 'corpus';
    throw new FormatError('unrecognised directory', {
      file: path,
      expected: `a prepared data dir (${CORPUS_INFO_FILE}) or a stage output dir (${STAGE_RECORD})`,
      found: 'neither',
    });
  }
  const name = basename(path);
  const ext = extname(path).toLowerCase();
  if (name === STAGE_RECORD) return 'stage';
  if (name === CORPUS_INFO_FILE) return 'corpus';
  if (ext === '.yaml' || ext === '.yml') return 'recipe';
  if (name.endsWith('.cmvn.json')) return 'cmvn';
  const fh = await fsp.open(path, 'r');
  let head: string;
  try {
    const buf = Buffer.alloc(256);
    const { bytesRead } = await fh.read(buf, 0, 256, 0);
    head = buf.subarray(0, bytesRead).toString('latin1');
  } finally {
    await fh.close();
  }
  if (head.startsWith(ARROW_FILE_MAGIC) || ext === '.arrow' || ext === '.feather') return detectArrowKind(path);
  if (ext === '.json' && head.includes('"am-distill.cmvn"')) return 'cmvn';
  if (ext === '.jsonl' || (ext !== '.json' && head.trimStart().startsWith('{'))) return 'manifest';
  if (/^\s*(#|[A-Za-z_][\w-]*\s*:)/.test(head)) return 'recipe';
  throw new FormatError('unrecognised file', {
    file: path,
    expected:
      'a recipe (.yaml), manifest (.jsonl), Arrow feature/alignment/soft-target file, corpus.json, stage.json or a data/stage directory',
    found: JSON.stringify(head.slice(0, 16)),
  });
}

/** The Arrow formats of the stores, by the `am_distill.format` value of their schema metadata. */
const ARROW_KINDS: ReadonlyMap<string, ArtefactKind> = new Map<string, ArtefactKind>([
  [FEATURE_FORMAT, 'features'],
  [ALIGNMENT_FORMAT, 'alignments'],
  [SOFT_TARGET_FORMAT, 'soft-targets'],
]);

/**
 * Kind of an Arrow IPC file from the `am_distill.format` key of its schema metadata (the same key
 * in every store). arrow-js writes the schema only into the footer, so a file whose footer cannot
 * be read (truncated, not Arrow) is a FormatError naming it, whatever it was meant to be.
 */
async function detectArrowKind(path: string): Promise<ArtefactKind> {
  // openArrowFile also checks the footer's blocks against the bytes (a damaged file is refused).
  const { fh, schema } = await openArrowFile(path, 'Arrow file');
  await fh.close().catch(() => undefined);
  const format = schema.metadata.get(FEATURE_META.format);
  const kind = format === undefined ? undefined : ARROW_KINDS.get(format);
  if (kind) return kind;
  throw new FormatError('not an am-distill Arrow file', {
    file: path,
    expected: `schema metadata ${FEATURE_META.format} = ${[...ARROW_KINDS.keys()].join(', ')}`,
    found:
      format === undefined
        ? `no ${FEATURE_META.format} key (keys ${[...schema.metadata.keys()].join(', ') || 'none'})`
        : JSON.stringify(format),
  });
}

/**
 * Run a pass over an Arrow file's record batches: the stores raise typed errors for what they
 * check; anything else the Arrow library throws (a damaged record batch) becomes a FormatError.
 */
async function readingArrow<T>(path: string, what: string, pass: () => Promise<T>): Promise<T> {
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

/** Validate `path`; returns a summary, throws a typed error when invalid. */
export async function validateFile(path: string, opts: ValidateFileOptions = {}): Promise<ValidationSummary> {
  const kind = await detectArtefact(path);
  switch (kind) {
    case 'recipe':
      return validateRecipeFile(path, opts.registry ?? defaultRegistry);
    case 'corpus':
      return validateCorpusDir(basename(path) === CORPUS_INFO_FILE ? dirname(path) : path);
    case 'manifest':
      return validateManifest(path);
    case 'features':
      return validateFeatures(path);
    case 'alignments':
      return validateAlignments(path);
    case 'soft-targets':
      return validateSoftTargets(path);
    case 'cmvn':
      return validateCmvn(path);
    case 'stage':
      return validateStageDir(basename(path) === STAGE_RECORD ? dirname(path) : path);
  }
}

function validateRecipeFile(path: string, registry: StageRegistry): ValidationSummary {
  const r = loadRecipe(path, { registry });
  const lines = [`recipe '${r.name}': ${r.stages.length} stage(s), seed ${r.seed}, expDir ${r.expDir}`];
  for (const [k, v] of Object.entries(r.sections)) lines.push(`  ${k}: ${JSON.stringify(v)}`);
  for (const s of r.stages) lines.push(`  ${s.name}: ${JSON.stringify(s.options)}`);
  return { kind: 'recipe', path, lines };
}

async function validateCorpusDir(dir: string): Promise<ValidationSummary> {
  const info = await readCorpusInfo(dir);
  const summary = await validateDataDir(dir);
  const lines = [`prepared corpus '${info.corpus}' at ${summary.sampleRateHz} Hz: ${info.splits.length} split(s)`];
  for (const s of info.splits) {
    const c = summary.counts[s];
    lines.push(
      `  ${s}: ${c.supervisions} utterances, ${c.recordings} recordings, ${c.speakers} speakers, ${(c.durationSec / 3600).toFixed(2)} h`,
    );
  }
  if (info.skipped.skipped > 0)
    lines.push(
      `  skipped while preparing: ${info.skipped.skipped} (${info.skipped.reasons.map((r) => `${r.count} x ${r.reason}`).join('; ')})`,
    );
  return { kind: 'corpus', path: dir, lines };
}

async function validateManifest(path: string): Promise<ValidationSummary> {
  // The first record decides: supervisions point at a recording, recordings have a path.
  let kind: 'recordings' | 'supervisions' | null = null;
  for await (const first of iterateJsonl(path)) {
    kind = first && typeof first === 'object' && 'recordingId' in (first as object) ? 'supervisions' : 'recordings';
    break;
  }
  if (!kind)
    throw new CorpusError('empty manifest', { file: path, expected: 'at least one JSON object line', found: 'none' });
  const ids = new Map<string, number>();
  const speakers = new Set<string>();
  let durationSec = 0;
  let line = 0;
  const check = kind === 'recordings' ? parseRecording : parseSupervision;
  for await (const rec of iterateJsonl(path, (v, file, l) => {
    line = l;
    return check(v, file, l);
  })) {
    const prev = ids.get(rec.id);
    if (prev !== undefined)
      throw new CorpusError(`duplicate id '${rec.id}'`, {
        file: path,
        line,
        uttId: rec.id,
        expected: 'unique ids',
        found: `also on line ${prev}`,
      });
    ids.set(rec.id, line);
    speakers.add(rec.speaker);
    durationSec += rec.durationSec;
  }
  return {
    kind: 'manifest',
    path,
    lines: [`${kind} manifest: ${ids.size} entries, ${speakers.size} speakers, ${(durationSec / 3600).toFixed(3)} h`],
  };
}

async function validateFeatures(path: string): Promise<ValidationSummary> {
  const meta = await readFeatureMetadata(path);
  let utterances = 0;
  let frames = 0;
  await readingArrow(path, 'feature file', async () => {
    for await (const u of readFeatureFile(path)) {
      utterances++;
      frames += u.fbank.numFrames;
      for (const m of [u.fbank, u.mfcc]) {
        if (!m) continue;
        for (let i = 0; i < m.data.length; i++) {
          if (!Number.isFinite(m.data[i])) {
            throw new FormatError('non-finite feature value', {
              file: path,
              uttId: u.uttId,
              expected: 'finite floats',
              found: `${m.data[i]} at frame ${Math.floor(i / m.dim)}`,
            });
          }
        }
      }
    }
  });
  if (utterances !== meta.counts.utterances || frames !== meta.counts.frames) {
    throw new FormatError('feature file contents disagree with its metadata', {
      file: path,
      expected: `${meta.counts.utterances} utterances, ${meta.counts.frames} frames`,
      found: `${utterances} utterances, ${frames} frames`,
    });
  }
  const fc = meta.featureConfig;
  return {
    kind: 'features',
    path,
    lines: [
      `features (${meta.format} v${meta.formatVersion}, stage ${meta.stage}${meta.split ? `, split ${meta.split}` : ''}${meta.shard ? `, shard ${meta.shard.index}/${meta.shard.count}` : ''})`,
      `  ${utterances} utterances, ${frames} frames (${((frames * fc.frameShiftMs) / 3_600_000).toFixed(3)} h), ${meta.counts.skipped} skipped`,
      `  fbank ${fc.fbankDim} dims${fc.mfccDim ? `, mfcc ${fc.mfccDim} dims` : ''}, ${fc.sampleRateHz} Hz, shift ${fc.frameShiftMs} ms, length ${fc.frameLengthMs} ms`,
      `  config hash ${meta.configHash}`,
    ],
  };
}

async function validateAlignments(path: string): Promise<ValidationSummary> {
  const meta = await readAlignmentMetadata(path);
  const S = meta.numSenones;
  const numPhones = meta.phones.length;
  const used = new Uint8Array(S);
  let utterances = 0;
  let frames = 0;
  await readingArrow(path, 'alignment file', async () => {
    for await (const u of readAlignmentFile(path)) {
      utterances++;
      const n = u.senone.length;
      frames += n;
      for (let t = 0; t < n; t++) {
        const s = u.senone[t];
        if (!(s >= 0 && s < S)) {
          throw new FormatError('senone id outside the inventory', {
            file: path,
            uttId: u.uttId,
            expected: `0 <= senone < ${S} (num_senones in the metadata)`,
            found: `${s} at frame ${t}`,
          });
        }
        used[s] = 1;
        if (numPhones > 0 && !(u.phone[t] >= 0 && u.phone[t] < numPhones)) {
          throw new FormatError('phone id outside the phone list', {
            file: path,
            uttId: u.uttId,
            expected: `0 <= phone < ${numPhones} (phones in the metadata)`,
            found: `${u.phone[t]} at frame ${t}`,
          });
        }
        if (!(u.word[t] >= -1)) {
          throw new FormatError('bad word index', {
            file: path,
            uttId: u.uttId,
            expected: 'a word index >= 0, or -1 for optional silence',
            found: `${u.word[t]} at frame ${t}`,
          });
        }
      }
    }
  });
  if (utterances !== meta.counts.utterances || frames !== meta.counts.frames) {
    throw new FormatError('alignment file contents disagree with its metadata', {
      file: path,
      expected: `${meta.counts.utterances} utterances, ${meta.counts.frames} frames`,
      found: `${utterances} utterances, ${frames} frames`,
    });
  }
  let usedSenones = 0;
  for (let s = 0; s < S; s++) usedSenones += used[s];
  // The id training and decoding compare (tree.json / senones.json next to the file, else the config hash).
  const inv = await inventoryOf(dirname(path), path);
  return {
    kind: 'alignments',
    path,
    lines: [
      `alignments (${meta.format} v${meta.formatVersion}, stage ${meta.stage}${meta.split ? `, split ${meta.split}` : ''})`,
      `  ${utterances} utterances, ${frames} frames (${((frames * meta.frameShiftMs) / 3_600_000).toFixed(3)} h), ${meta.counts.failed} failed`,
      `  ${S} senones (${usedSenones} used), inventory ${inv.senoneInventoryId}, ${Math.max(0, numPhones - 1)} phones`,
      `  config hash ${meta.configHash}, feature config hash ${meta.featureConfigHash}`,
    ],
  };
}

/** Tolerance of a frame's probability sum (float16 storage). */
const SUM_TOLERANCE = 1e-2;

async function validateSoftTargets(path: string): Promise<ValidationSummary> {
  const meta = await readSoftTargetMetadata(path);
  const { k, numSenones: S } = meta;
  let utterances = 0;
  let frames = 0;
  await readingArrow(path, 'soft-target file', async () => {
    for await (const u of readSoftTargetFile(path)) {
      utterances++;
      frames += u.numFrames;
      for (let f = 0; f < u.numFrames; f++) {
        let sum = 0;
        for (let j = 0; j < k; j++) {
          const id = u.ids[f * k + j];
          if (!(id >= 0 && id < S)) {
            throw new FormatError('senone id outside the inventory', {
              file: path,
              uttId: u.uttId,
              expected: `0 <= id < ${S} (num_senones in the metadata)`,
              found: `${id} at frame ${f}`,
            });
          }
          const p = u.probs[f * k + j];
          if (!(Number.isFinite(p) && p >= 0 && p <= 1 + 1e-6)) {
            throw new FormatError('probability not finite or outside [0, 1]', {
              file: path,
              uttId: u.uttId,
              expected: 'finite 0 <= p <= 1',
              found: `${p} at frame ${f}`,
            });
          }
          sum += p;
        }
        if (u.residual) {
          const r = u.residual[f];
          if (!(Number.isFinite(r) && r >= 0 && r <= 1)) {
            throw new FormatError('residual not finite or outside [0, 1]', {
              file: path,
              uttId: u.uttId,
              expected: 'finite 0 <= residual <= 1',
              found: `${r} at frame ${f}`,
            });
          }
          if (!(Math.abs(sum + r - 1) <= SUM_TOLERANCE)) {
            throw new FormatError('kept probabilities and residual do not sum to 1', {
              file: path,
              uttId: u.uttId,
              expected: `sum(probs) + residual = 1 within ${SUM_TOLERANCE}`,
              found: `${sum} + ${r} at frame ${f}`,
            });
          }
        }
      }
    }
  });
  if (utterances !== meta.counts.utterances || frames !== meta.counts.frames) {
    throw new FormatError('soft-target file contents disagree with its metadata', {
      file: path,
      expected: `${meta.counts.utterances} utterances, ${meta.counts.frames} frames`,
      found: `${utterances} utterances, ${frames} frames`,
    });
  }
  if (meta.residual === 'renormalise')
    await readingArrow(path, 'soft-target file', () => checkStoredRowSums(path, meta));
  const bytes = (await fsp.stat(path)).size;
  return {
    kind: 'soft-targets',
    path,
    lines: [
      `soft targets (${meta.format} v${meta.formatVersion}, stage ${meta.stage}${meta.split ? `, split ${meta.split}` : ''}${meta.shard ? `, shard ${meta.shard.index}/${meta.shard.count}` : ''})`,
      `  ${utterances} utterances, ${frames} frames, ${meta.counts.skipped} skipped`,
      `  top k ${k} of ${S} senones${meta.senoneInventoryId ? ` (inventory ${meta.senoneInventoryId})` : ''}, T ${meta.temperature}, ${meta.combination} of ${meta.teachers.length} teacher(s): ${meta.teachers.map((t) => t.id).join(', ')}`,
      `  mean kept mass ${meta.meanKeptMass.toFixed(4)}, residual ${meta.residual}, ${meta.idType} ids, ${meta.probType} probabilities, ${frames > 0 ? (bytes / frames).toFixed(1) : 'n/a'} bytes per frame`,
      `  config hash ${meta.configHash}, alignment config hash ${meta.alignmentConfigHash}, feature config hash ${meta.featureConfigHash}`,
    ],
  };
}

/**
 * With residual 'renormalise' the writer divides each frame's kept probabilities by their sum, so
 * the *stored* values of a frame sum to 1 (up to float16 rounding); the store's reader renormalises
 * them again, which would hide a frame that does not. One pass over the raw `probs` column, one
 * record batch (and one frame's decoded values) at a time.
 */
async function checkStoredRowSums(path: string, meta: SoftTargetFileMetadata): Promise<void> {
  const { fh, reader } = await openArrowFile(path, 'soft-target file');
  const k = meta.k;
  const row = new Float32Array(k);
  try {
    for await (const batch of reader as unknown as AsyncIterable<RecordBatch>) {
      const n = batch.numRows;
      if (n === 0) continue;
      const uttData = batch.getChild('utt_id')!.data[0];
      const frameData = batch.getChild('frame')!.data[0];
      const probsData = batch.getChild('probs')!.data[0];
      const child = probsData.children[0];
      const start = child.offset + probsData.offset * k;
      const raw = (child.values as Uint16Array | Float32Array).subarray(start, start + n * k);
      for (let r = 0; r < n; r++) {
        const stored = raw.subarray(r * k, (r + 1) * k);
        const probs = meta.probType === 'float16' ? decodeFloat16(stored as Uint16Array, row) : stored;
        let sum = 0;
        for (let j = 0; j < k; j++) sum += probs[j];
        if (!(Math.abs(sum - 1) <= SUM_TOLERANCE)) {
          const idx = (uttData.values as Int32Array)[uttData.offset + r];
          const uttId = (uttData.dictionary as Vector<Utf8>).get(idx) ?? undefined;
          throw new FormatError('stored probabilities of a frame do not sum to 1', {
            file: path,
            uttId,
            expected: `sum 1 within ${SUM_TOLERANCE} (residual 'renormalise')`,
            found: `${sum} at frame ${(frameData.values as Int32Array)[frameData.offset + r]}`,
          });
        }
      }
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function validateCmvn(path: string): Promise<ValidationSummary> {
  const f = await readCmvnFile(path);
  const lines = [`CMVN statistics${f.split ? ` of split ${f.split}` : ''}: ${f.utt2spk.size} utterances`];
  for (const [name, s] of f.streams) {
    let frames = 0;
    for (const st of s.speakers.values()) frames += st.count;
    lines.push(`  ${name}: ${s.dim} dims, ${s.speakers.size} speakers, ${frames} frames`);
  }
  return { kind: 'cmvn', path, lines };
}

async function validateStageDir(dir: string): Promise<ValidationSummary> {
  const rec = readStageRecord(dir);
  if (!rec)
    throw new FormatError('missing or unreadable stage record', {
      file: join(dir, STAGE_RECORD),
      expected: 'a stage.json written by am-distill run',
      found: 'none or malformed',
    });
  const out = await hashDirContent(dir, (rel) => rel === STAGE_RECORD);
  if (out.hash !== rec.outputHash) {
    throw new FormatError('stage outputs changed since they were recorded', {
      file: dir,
      expected: `output hash ${rec.outputHash} (${rec.output.files} files)`,
      found: `${out.hash} (${out.files} files)`,
    });
  }
  const lines = [
    `stage '${rec.stage}' of recipe '${rec.recipe.name}': outputs intact (${out.files} files, ${(out.bytes / 1e6).toFixed(1)} MB)`,
    `  ran ${rec.startedAt} for ${rec.durationSec.toFixed(1)} s; ${Object.entries(rec.counts)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  ];
  if (rec.skipped.skipped > 0)
    lines.push(
      `  skipped ${rec.skipped.skipped}: ${rec.skipped.reasons.map((r) => `${r.count} x ${r.reason}`).join('; ')}`,
    );
  if (rec.stage === 'prepare' && existsSync(join(dir, CORPUS_INFO_FILE)))
    lines.push(...(await validateCorpusDir(dir)).lines);
  return { kind: 'stage', path: dir, lines };
}
