/**
 * Manifest I/O: JSON Lines per split plus corpus.json.
 *
 *   <dataDir>/corpus.json                 CorpusInfo; written LAST, so its presence marks a finished corpus
 *   <dataDir>/<split>/recordings.jsonl    one Recording per line
 *   <dataDir>/<split>/supervisions.jsonl  one Supervision per line
 *
 * Paths: in memory, recording paths are absolute. On disk, a path inside the data dir is stored
 * relative to the split directory (so the data dir can be moved), any other path stays absolute.
 * Reading resolves relative paths against the split directory again.
 *
 * Writing is atomic per file (temp + rename) and corpus.json is removed first and written last,
 * so a crash can never leave a corpus.json that describes manifests it did not produce.
 */
import { createReadStream, createWriteStream, existsSync, promises as fsp } from 'node:fs';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { dirname, basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CorpusError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import type { CorpusInfo, PreparedCorpus, Recording, SplitManifest, Supervision, TimedSymbol } from './types.ts';

export const CORPUS_INFO_FILE = 'corpus.json';
export const RECORDINGS_FILE = 'recordings.jsonl';
export const SUPERVISIONS_FILE = 'supervisions.jsonl';

/**
 * Stream the objects of a JSON Lines file, one per non-blank line, with memory bounded by the
 * longest line. A line that is not valid JSON raises a CorpusError naming `file:line`.
 * `check` may validate / convert each value; it gets the 1-based line number for its errors.
 */
export async function* iterateJsonl<T = unknown>(
  path: string,
  check?: (value: unknown, file: string, line: number) => T,
): AsyncGenerator<T> {
  if (!existsSync(path)) throw new CorpusError('manifest file not found', { file: path });
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const text of rl) {
      lineNo++;
      if (text.trim().length === 0) continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new CorpusError(`malformed JSON Lines record (${(err as Error).message})`, {
          file: path,
          line: lineNo,
          expected: 'one JSON object per line',
          found: JSON.stringify(text.length > 80 ? text.slice(0, 77) + '...' : text),
        });
      }
      yield check ? check(value, path, lineNo) : (value as T);
    }
  } finally {
    rl.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Shape checks for records read from disk

type Where = { file: string; line: number };

function fieldError(where: Where, key: string, expected: string, found: unknown): CorpusError {
  return new CorpusError(`bad field '${key}'`, {
    ...where,
    expected,
    found: found === undefined ? 'nothing' : JSON.stringify(found),
  });
}

function asObject(v: unknown, where: Where, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new CorpusError(`expected a ${what} object`, {
      ...where,
      expected: 'a JSON object',
      found: JSON.stringify(v),
    });
  }
  return v as Record<string, unknown>;
}

function checkKeys(o: Record<string, unknown>, allowed: readonly string[], where: Where, what: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      throw new CorpusError(`unknown key '${k}' in ${what}`, {
        ...where,
        expected: `one of ${allowed.join(', ')}`,
        found: k,
      });
    }
  }
}

function str(o: Record<string, unknown>, k: string, where: Where, nonEmpty = true): string {
  const v = o[k];
  if (typeof v !== 'string' || (nonEmpty && v.length === 0))
    throw fieldError(where, k, nonEmpty ? 'a non-empty string' : 'a string', v);
  return v;
}

function num(o: Record<string, unknown>, k: string, where: Where, opts: { int?: boolean; min?: number } = {}): number {
  const v = o[k];
  if (
    typeof v !== 'number' ||
    !Number.isFinite(v) ||
    (opts.int && !Number.isInteger(v)) ||
    (opts.min !== undefined && v < opts.min)
  ) {
    const what = `${opts.int ? 'an integer' : 'a finite number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}`;
    throw fieldError(where, k, what, v);
  }
  return v;
}

const RECORDING_KEYS = [
  'id',
  'speaker',
  'path',
  'format',
  'channel',
  'sampleRateHz',
  'numSamples',
  'durationSec',
] as const;
const SUPERVISION_KEYS = [
  'id',
  'recordingId',
  'speaker',
  'startSec',
  'durationSec',
  'text',
  'alignment',
  'custom',
] as const;

/** Check one recordings.jsonl value; paths are returned as stored. */
export function parseRecording(value: unknown, file: string, line: number): Recording {
  const where = { file, line };
  const o = asObject(value, where, 'recording');
  checkKeys(o, RECORDING_KEYS, where, 'recording');
  const format = o.format;
  if (format !== 'wav' && format !== 'flac' && format !== 'sphere')
    throw fieldError(where, 'format', "'wav', 'flac' or 'sphere'", format);
  return {
    id: str(o, 'id', where),
    speaker: str(o, 'speaker', where),
    path: str(o, 'path', where),
    format,
    channel: num(o, 'channel', where, { int: true, min: 0 }),
    sampleRateHz: num(o, 'sampleRateHz', where, { min: 1 }),
    numSamples: num(o, 'numSamples', where, { int: true, min: 0 }),
    durationSec: num(o, 'durationSec', where, { min: 0 }),
  };
}

function parseTimed(v: unknown, where: Where, key: string): TimedSymbol[] {
  if (!Array.isArray(v)) throw fieldError(where, key, 'an array of {symbol, startSec, durationSec}', v);
  return v.map((item, i) => {
    const o = asObject(item, where, `${key}[${i}]`);
    checkKeys(o, ['symbol', 'startSec', 'durationSec'], where, `${key}[${i}]`);
    return {
      symbol: str(o, 'symbol', where),
      startSec: num(o, 'startSec', where),
      durationSec: num(o, 'durationSec', where, { min: 0 }),
    };
  });
}

/** Check one supervisions.jsonl value. */
export function parseSupervision(value: unknown, file: string, line: number): Supervision {
  const where = { file, line };
  const o = asObject(value, where, 'supervision');
  checkKeys(o, SUPERVISION_KEYS, where, 'supervision');
  const sup: Supervision = {
    id: str(o, 'id', where),
    recordingId: str(o, 'recordingId', where),
    speaker: str(o, 'speaker', where),
    startSec: num(o, 'startSec', where, { min: 0 }),
    durationSec: num(o, 'durationSec', where, { min: 0 }),
    text: str(o, 'text', where, false),
  };
  if (o.alignment !== undefined) {
    const a = asObject(o.alignment, where, 'alignment');
    checkKeys(a, ['word', 'phone'], where, 'alignment');
    sup.alignment = {};
    if (a.word !== undefined) sup.alignment.word = parseTimed(a.word, where, 'alignment.word');
    if (a.phone !== undefined) sup.alignment.phone = parseTimed(a.phone, where, 'alignment.phone');
  }
  if (o.custom !== undefined) sup.custom = asObject(o.custom, where, 'custom');
  return sup;
}

export interface ReadSplitOptions {
  /** Resolve relative recording paths against the split directory (default true). */
  resolvePaths?: boolean;
}

/** Read `<dataDir>/<split>/{recordings,supervisions}.jsonl`. */
export async function readSplit(dataDir: string, split: string, opts: ReadSplitOptions = {}): Promise<SplitManifest> {
  const splitDir = join(dataDir, split);
  const recordings: Recording[] = [];
  for await (const r of iterateJsonl(join(splitDir, RECORDINGS_FILE), parseRecording)) {
    if (opts.resolvePaths !== false && !isAbsolute(r.path)) r.path = resolve(splitDir, r.path);
    recordings.push(r);
  }
  const supervisions: Supervision[] = [];
  for await (const s of iterateJsonl(join(splitDir, SUPERVISIONS_FILE), parseSupervision)) supervisions.push(s);
  return { recordings, supervisions };
}

/** Read and check `<dataDir>/corpus.json`. */
export async function readCorpusInfo(dataDir: string): Promise<CorpusInfo> {
  const file = join(dataDir, CORPUS_INFO_FILE);
  if (!existsSync(file)) {
    throw new CorpusError('not a prepared data directory (or its preparation did not finish)', {
      file,
      expected: `${CORPUS_INFO_FILE}, written last by 'corpus prepare'`,
      found: 'no such file',
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch (err) {
    throw new CorpusError(`malformed JSON (${(err as Error).message})`, { file });
  }
  const where = { file, line: 1 };
  const o = asObject(value, where, 'corpus info');
  const info = o as unknown as CorpusInfo;
  str(o, 'corpus', where);
  num(o, 'sampleRateHz', where, { min: 1 });
  if (
    !Array.isArray(info.splits) ||
    info.splits.length === 0 ||
    !info.splits.every((s) => typeof s === 'string' && s.length > 0)
  ) {
    throw new CorpusError("bad field 'splits'", {
      file,
      expected: 'a non-empty array of split names',
      found: JSON.stringify(info.splits),
    });
  }
  asObject(o.counts, where, 'counts');
  asObject(o.skipped, where, 'skipped');
  asObject(o.options, where, 'options');
  return info;
}

/** Read corpus.json and every split it lists. */
export async function readCorpus(dataDir: string, opts: ReadSplitOptions = {}): Promise<PreparedCorpus> {
  const info = await readCorpusInfo(dataDir);
  const splits: Record<string, SplitManifest> = {};
  for (const s of info.splits) splits[s] = await readSplit(dataDir, s, opts);
  return { info, splits };
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Byte-wise (C locale) order of ids, the order Kaldi tables and our manifests are sorted in. */
export function compareIds(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Write lines to `path` through a temp sibling + rename, streaming (memory bounded by one line). */
export async function writeLinesAtomic(path: string, lines: Iterable<string>): Promise<void> {
  await fsp.mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const out = createWriteStream(tmp, { encoding: 'utf8' });
  try {
    const failed = once(out, 'error').then(([e]) => {
      throw e;
    });
    failed.catch(() => undefined);
    for (const line of lines) {
      if (!out.write(line + '\n')) await Promise.race([once(out, 'drain'), failed]);
    }
    out.end();
    await Promise.race([once(out, 'finish'), failed]);
    await fsp.rename(tmp, path);
  } catch (err) {
    out.destroy();
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

/** The path to store for `absPath` in a manifest under `splitDir` of `dataDir`. */
export function storedPath(absPath: string, dataDir: string, splitDir: string): string {
  const root = resolve(dataDir);
  const p = resolve(absPath);
  if (p === root || p.startsWith(root + sep)) return relative(splitDir, p).split(sep).join('/');
  return p;
}

/**
 * Write a corpus: every split's manifests, then corpus.json. Split names must be plain directory names.
 * Existing files of the same names are replaced; corpus.json is removed before anything else is written.
 */
export async function writeCorpus(
  dataDir: string,
  info: CorpusInfo,
  splits: Record<string, SplitManifest>,
): Promise<void> {
  const root = resolve(dataDir);
  for (const s of info.splits) {
    if (!splits[s])
      throw new CorpusError(`corpus info lists split '${s}' but no manifest was given`, {
        expected: Object.keys(splits).join(', '),
      });
    if (!/^[A-Za-z0-9_.-]+$/.test(s) || s === '.' || s === '..') {
      throw new CorpusError('bad split name', { expected: 'letters, digits, _ . -', found: JSON.stringify(s) });
    }
  }
  await fsp.mkdir(root, { recursive: true });
  await fsp.rm(join(root, CORPUS_INFO_FILE), { force: true });
  for (const s of info.splits) {
    const splitDir = join(root, s);
    const m = splits[s];
    await writeLinesAtomic(
      join(splitDir, RECORDINGS_FILE),
      (function* () {
        for (const r of m.recordings) yield JSON.stringify({ ...r, path: storedPath(r.path, root, splitDir) });
      })(),
    );
    await writeLinesAtomic(
      join(splitDir, SUPERVISIONS_FILE),
      (function* () {
        for (const sup of m.supervisions) yield JSON.stringify(sup);
      })(),
    );
  }
  await writeJsonAtomic(join(root, CORPUS_INFO_FILE), info);
}

/** Write an adapter's result to a data dir. */
export async function writePreparedCorpus(dataDir: string, prepared: PreparedCorpus): Promise<void> {
  await writeCorpus(dataDir, prepared.info, prepared.splits);
}

/**
 * `am-distill validate` of a manifest: recordings or supervisions (the first line decides),
 * every line parsed and checked, ids unique. Returns the summary lines.
 */
export async function validateManifestFile(path: string): Promise<string[]> {
  let kind: 'recordings' | 'supervisions' | null = null;
  for await (const first of iterateJsonl(path)) {
    // Supervisions point at a recording, recordings have a path.
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
  return [`${kind} manifest: ${ids.size} entries, ${speakers.size} speakers, ${(durationSec / 3600).toFixed(3)} h`];
}
