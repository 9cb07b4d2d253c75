/**
 * `am-distill validate <path>`: check any artefact the pipeline reads or writes, detected by
 * content and name, and summarise it:
 *   - a recipe (*.yaml / *.yml): parsed and validated against the registered stages;
 *   - a prepared data dir (a directory with corpus.json, or corpus.json itself): manifests,
 *     corpus.json and the corpus checks of src/corpus/validate.ts (audio files must exist);
 *   - a manifest (*.jsonl): recordings or supervisions, every line parsed and checked, ids unique;
 *   - a feature file (Arrow IPC, magic "ARROW1"): schema + metadata, every utterance read,
 *     counts compared with the metadata, values finite;
 *   - a stage directory or its stage.json: the record, and the outputs' hash against it.
 * Invalid input raises the typed error of the module that owns the format.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { FormatError } from '../util/errors.ts';
import { CORPUS_INFO_FILE, iterateJsonl, parseRecording, parseSupervision, readCorpusInfo } from '../corpus/manifest.ts';
import { validateDataDir } from '../corpus/validate.ts';
import { CorpusError } from '../util/errors.ts';
import { readFeatureMetadata, readFeatureFile } from '../features/store.ts';
import { readCmvnFile } from '../features/cmvn-file.ts';
import { loadRecipe } from './recipe.ts';
import { STAGE_RECORD, readStageRecord } from './runner.ts';
import { hashDirContent } from './fingerprint.ts';
import type { StageRegistry } from './stage.ts';
import { defaultRegistry } from './stages/index.ts';

export type ArtefactKind = 'recipe' | 'corpus' | 'manifest' | 'features' | 'cmvn' | 'stage';

/** How each kind is named in messages. */
export const ARTEFACT_LABELS: Record<ArtefactKind, string> = {
  recipe: 'recipe',
  corpus: 'prepared data dir',
  manifest: 'manifest',
  features: 'feature file',
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
    throw new FormatError('unrecognised directory', { file: path, expected: `a prepared data dir (${CORPUS_INFO_FILE}) or a stage output dir (${STAGE_RECORD})`, found: 'neither' });
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
  if (head.startsWith('ARROW1') || ext === '.arrow' || ext === '.feather') return 'features';
  if (ext === '.json' && head.includes('"am-distill.cmvn"')) return 'cmvn';
  if (ext === '.jsonl' || (ext !== '.json' && head.trimStart().startsWith('{'))) return 'manifest';
  if (/^\s*(#|[A-Za-z_][\w-]*\s*:)/.test(head)) return 'recipe';
  throw new FormatError('unrecognised file', {
    file: path, expected: 'a recipe (.yaml), manifest (.jsonl), Arrow feature file, corpus.json, stage.json or a data/stage directory', found: JSON.stringify(head.slice(0, 16)),
  });
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
    lines.push(`  ${s}: ${c.supervisions} utterances, ${c.recordings} recordings, ${c.speakers} speakers, ${(c.durationSec / 3600).toFixed(2)} h`);
  }
  if (info.skipped.skipped > 0) lines.push(`  skipped while preparing: ${info.skipped.skipped} (${info.skipped.reasons.map((r) => `${r.count} x ${r.reason}`).join('; ')})`);
  return { kind: 'corpus', path: dir, lines };
}

async function validateManifest(path: string): Promise<ValidationSummary> {
  // The first record decides: supervisions point at a recording, recordings have a path.
  let kind: 'recordings' | 'supervisions' | null = null;
  for await (const first of iterateJsonl(path)) {
    kind = first && typeof first === 'object' && 'recordingId' in (first as object) ? 'supervisions' : 'recordings';
    break;
  }
  if (!kind) throw new CorpusError('empty manifest', { file: path, expected: 'at least one JSON object line', found: 'none' });
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
    if (prev !== undefined) throw new CorpusError(`duplicate id '${rec.id}'`, { file: path, line, uttId: rec.id, expected: 'unique ids', found: `also on line ${prev}` });
    ids.set(rec.id, line);
    speakers.add(rec.speaker);
    durationSec += rec.durationSec;
  }
  return { kind: 'manifest', path, lines: [`${kind} manifest: ${ids.size} entries, ${speakers.size} speakers, ${(durationSec / 3600).toFixed(3)} h`] };
}

async function validateFeatures(path: string): Promise<ValidationSummary> {
  const meta = await readFeatureMetadata(path);
  let utterances = 0;
  let frames = 0;
  for await (const u of readFeatureFile(path)) {
    utterances++;
    frames += u.fbank.numFrames;
    for (const m of [u.fbank, u.mfcc]) {
      if (!m) continue;
      for (let i = 0; i < m.data.length; i++) {
        if (!Number.isFinite(m.data[i])) {
          throw new FormatError('non-finite feature value', { file: path, uttId: u.uttId, expected: 'finite floats', found: `${m.data[i]} at frame ${Math.floor(i / m.dim)}` });
        }
      }
    }
  }
  if (utterances !== meta.counts.utterances || frames !== meta.counts.frames) {
    throw new FormatError('feature file contents disagree with its metadata', {
      file: path, expected: `${meta.counts.utterances} utterances, ${meta.counts.frames} frames`, found: `${utterances} utterances, ${frames} frames`,
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
  if (!rec) throw new FormatError('missing or unreadable stage record', { file: join(dir, STAGE_RECORD), expected: 'a stage.json written by am-distill run', found: 'none or malformed' });
  const out = await hashDirContent(dir, (rel) => rel === STAGE_RECORD);
  if (out.hash !== rec.outputHash) {
    throw new FormatError('stage outputs changed since they were recorded', { file: dir, expected: `output hash ${rec.outputHash} (${rec.output.files} files)`, found: `${out.hash} (${out.files} files)` });
  }
  const lines = [
    `stage '${rec.stage}' of recipe '${rec.recipe.name}': outputs intact (${out.files} files, ${(out.bytes / 1e6).toFixed(1)} MB)`,
    `  ran ${rec.startedAt} for ${rec.durationSec.toFixed(1)} s; ${Object.entries(rec.counts).map(([k, v]) => `${k}=${v}`).join(' ')}`,
  ];
  if (rec.skipped.skipped > 0) lines.push(`  skipped ${rec.skipped.skipped}: ${rec.skipped.reasons.map((r) => `${r.count} x ${r.reason}`).join('; ')}`);
  if (rec.stage === 'prepare' && existsSync(join(dir, CORPUS_INFO_FILE))) lines.push(...(await validateCorpusDir(dir)).lines);
  return { kind: 'stage', path: dir, lines };
}
