/**
 * `am-distill validate <path>`: tell what artefact `path` is, by content and name, and hand it to
 * the module that owns its format, which checks it and returns its summary lines:
 *   - a recipe (*.yaml / *.yml): pipeline/recipe.ts;
 *   - a prepared data dir (a directory with corpus.json, or corpus.json itself): corpus/validate.ts;
 *   - a manifest (*.jsonl, or JSON lines under another name): corpus/manifest.ts;
 *   - an Arrow IPC file (magic "ARROW1", or *.arrow / *.feather), its kind read from the schema
 *     metadata key `am_distill.format` every store writes: features/store.ts, align/store.ts,
 *     distill/store.ts (any other format, or none, is refused);
 *   - a JSON artefact, its kind read from its `format` tag: the CMVN statistics
 *     (features/cmvn-file.ts), models.json and students.json (formats/models.ts), targets.json,
 *     eval.json, decode.json, score.json (formats/), report-input.json (report/validate.ts);
 *   - a stage directory or its stage.json: pipeline/runner.ts.
 * Invalid input raises the typed error of the module that owns the format.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { FormatError } from '../util/errors.ts';
import { ARROW_FILE_MAGIC, openArrowFile } from '../util/arrow-file.ts';
import { STORE_META } from '../util/arrow-metadata.ts';
import { readJsonFile } from '../util/json-check.ts';
import { CORPUS_INFO_FILE, validateManifestFile } from '../corpus/manifest.ts';
import { validateCorpusDir } from '../corpus/validate.ts';
import { FEATURE_FORMAT, validateFeatureFile } from '../features/store.ts';
import { CMVN_FORMAT, validateCmvnFile } from '../features/cmvn-file.ts';
import { ALIGNMENT_FORMAT, validateAlignmentFile } from '../align/store.ts';
import { SOFT_TARGET_FORMAT, validateSoftTargetFile } from '../distill/store.ts';
import { MODELS_FORMAT, STUDENTS_FORMAT, validateModelsFile, validateStudentsFile } from '../formats/models.ts';
import { TARGETS_FORMAT, validateTargetsFile } from '../formats/targets.ts';
import { EVAL_FORMAT, validateEvalFile } from '../formats/eval.ts';
import { DECODE_FORMAT, validateDecodeSummary } from '../formats/decode.ts';
import { SCORE_FORMAT, validateScoreSummary } from '../formats/score.ts';
import { REPORT_INPUT_FORMAT } from '../report/types.ts';
import { validateReportInputFile } from '../report/validate.ts';
import { validateRecipeFile } from './recipe.ts';
import { STAGE_RECORD, validateStageDir } from './runner.ts';
import type { StageRegistry } from '../stages/stage.ts';
import { defaultRegistry } from '../stages/index.ts';

export interface ValidateFileOptions {
  registry?: StageRegistry;
}

/** Each kind: its name in messages, the module's check, and the file that stands for its directory. */
const ARTEFACTS = {
  recipe: {
    label: 'recipe',
    validate: (p: string, o: ValidateFileOptions) => validateRecipeFile(p, o.registry ?? defaultRegistry),
  },
  corpus: { label: 'prepared data dir', validate: validateCorpusDir, dirFile: CORPUS_INFO_FILE },
  manifest: { label: 'manifest', validate: validateManifestFile },
  features: { label: 'feature file', validate: validateFeatureFile },
  alignments: { label: 'alignment file', validate: validateAlignmentFile },
  'soft-targets': { label: 'soft-target file', validate: validateSoftTargetFile },
  cmvn: { label: 'CMVN statistics file', validate: validateCmvnFile },
  models: { label: 'acoustic-models file', validate: validateModelsFile },
  students: { label: 'students file', validate: validateStudentsFile },
  'target-sets': { label: 'target-sets file', validate: validateTargetsFile },
  eval: { label: 'eval file', validate: validateEvalFile },
  decode: { label: 'decode summary', validate: validateDecodeSummary },
  score: { label: 'score summary', validate: validateScoreSummary },
  'report-input': { label: 'report input', validate: validateReportInputFile },
  stage: { label: 'stage output dir', validate: validateStageDir, dirFile: STAGE_RECORD },
} satisfies Record<
  string,
  {
    label: string;
    validate: (path: string, opts: ValidateFileOptions) => string[] | Promise<string[]>;
    dirFile?: string;
  }
>;

export type ArtefactKind = keyof typeof ARTEFACTS;

/** How each kind is named in messages. */
export const ARTEFACT_LABELS = Object.fromEntries(Object.entries(ARTEFACTS).map(([k, a]) => [k, a.label])) as Record<
  ArtefactKind,
  string
>;

/** The Arrow formats of the stores, by the `am_distill.format` value of their schema metadata. */
const ARROW_KINDS: ReadonlyMap<string, ArtefactKind> = new Map<string, ArtefactKind>([
  [FEATURE_FORMAT, 'features'],
  [ALIGNMENT_FORMAT, 'alignments'],
  [SOFT_TARGET_FORMAT, 'soft-targets'],
]);

/** The JSON artefacts, by their `format` tag. */
const JSON_KINDS: ReadonlyMap<string, ArtefactKind> = new Map<string, ArtefactKind>([
  [CMVN_FORMAT, 'cmvn'],
  [MODELS_FORMAT, 'models'],
  [STUDENTS_FORMAT, 'students'],
  [TARGETS_FORMAT, 'target-sets'],
  [EVAL_FORMAT, 'eval'],
  [DECODE_FORMAT, 'decode'],
  [SCORE_FORMAT, 'score'],
  [REPORT_INPUT_FORMAT, 'report-input'],
]);

export interface ValidationSummary {
  kind: ArtefactKind;
  path: string;
  /** Human-readable summary lines. */
  lines: string[];
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
  if (ext === '.json') return detectJsonKind(path);
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
  if (ext === '.jsonl' || head.trimStart().startsWith('{')) return 'manifest';
  if (/^\s*(#|[A-Za-z_][\w-]*\s*:)/.test(head)) return 'recipe';
  throw new FormatError('unrecognised file', {
    file: path,
    expected:
      'a recipe (.yaml), manifest (.jsonl), Arrow feature/alignment/soft-target file, a JSON artefact of a stage, corpus.json, stage.json or a data/stage directory',
    found: JSON.stringify(head.slice(0, 16)),
  });
}

/** Kind of a JSON artefact from its `format` tag. */
function detectJsonKind(path: string): ArtefactKind {
  const j = readJsonFile(path, basename(path)) as { format?: unknown } | null;
  const format = j !== null && typeof j === 'object' ? j.format : undefined;
  const kind = typeof format === 'string' ? JSON_KINDS.get(format) : undefined;
  if (kind) return kind;
  throw new FormatError('unrecognised file: not an am-distill JSON artefact', {
    file: path,
    expected: `a "format" of ${[...JSON_KINDS.keys()].join(', ')}`,
    found: format === undefined ? 'no "format" key' : JSON.stringify(format),
  });
}

/**
 * Kind of an Arrow IPC file from the `am_distill.format` key of its schema metadata (the same key
 * in every store). arrow-js writes the schema only into the footer, so a file whose footer cannot
 * be read (truncated, not Arrow) is a FormatError naming it, whatever it was meant to be.
 */
async function detectArrowKind(path: string): Promise<ArtefactKind> {
  // openArrowFile also checks the footer's blocks against the bytes (a damaged file is refused).
  const { fh, schema } = await openArrowFile(path, 'Arrow file');
  await fh.close().catch(() => undefined);
  const format = schema.metadata.get(STORE_META.format);
  const kind = format === undefined ? undefined : ARROW_KINDS.get(format);
  if (kind) return kind;
  throw new FormatError('not an am-distill Arrow file', {
    file: path,
    expected: `schema metadata ${STORE_META.format} = ${[...ARROW_KINDS.keys()].join(', ')}`,
    found:
      format === undefined
        ? `no ${STORE_META.format} key (keys ${[...schema.metadata.keys()].join(', ') || 'none'})`
        : JSON.stringify(format),
  });
}

/** Validate `path` with the module that owns its format; returns a summary, throws a typed error when invalid. */
export async function validateFile(path: string, opts: ValidateFileOptions = {}): Promise<ValidationSummary> {
  const kind = await detectArtefact(path);
  const a: { validate: (path: string, opts: ValidateFileOptions) => string[] | Promise<string[]>; dirFile?: string } =
    ARTEFACTS[kind];
  const target = a.dirFile && basename(path) === a.dirFile ? dirname(path) : path;
  return { kind, path: target, lines: await a.validate(target, opts) };
}
