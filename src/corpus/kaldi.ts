/**
 * Kaldi data directory import and export.
 *
 * Import reads `wav.scp`, `text`, `utt2spk` (required) and `segments`, `spk2utt` (optional; spk2utt
 * is checked against utt2spk). Only plain file paths are accepted in wav.scp: a pipe command
 * (`sox ... |`), stdin (`-`) or an archive offset (`foo.ark:123`) is rejected with the line named.
 * Relative paths resolve against `audioBaseDir` (default: the current directory, as in a Kaldi
 * recipe, where paths are relative to egs/<corpus>/s5).
 *
 * Export writes `wav.scp` (plain absolute paths), `text`, `utt2spk`, `spk2utt`, `reco2dur`,
 * `utt2dur` and, when some utterance is not a whole recording, `segments`; every file sorted in
 * C-locale order, as Kaldi's utils/validate_data_dir.sh requires. The directory appears at once.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { CorpusError, SkipCounter } from '../util/errors.ts';
import { withAtomicOutput } from '../util/fs.ts';
import { log, type Logger } from '../util/log.ts';
import { compareIds } from './manifest.ts';
import { normalizeOrSkip, probeAudioOrSkip } from './skips.ts';
import type { Recording, SplitManifest, Supervision } from './types.ts';

export interface KaldiImportOptions {
  /** Directory that relative wav.scp paths are relative to (default: process.cwd()). */
  audioBaseDir?: string;
  /** Logger for per-utterance skip details (debug) and progress. */
  logger?: Logger;
  /** Count skips into this counter (default: a new one, returned in the result). */
  skips?: SkipCounter;
}

export interface KaldiImportResult {
  manifest: SplitManifest;
  skips: SkipCounter;
}

interface Line {
  file: string;
  line: number;
  key: string;
  rest: string;
}

/** Read a Kaldi "key rest-of-line" table; duplicate keys are an error naming both lines. */
async function readTable(file: string, opts: { allowEmptyRest?: boolean } = {}): Promise<Map<string, Line>> {
  const text = await fsp.readFile(file, 'utf8');
  const out = new Map<string, Line>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].replace(/\r$/, '');
    if (raw.trim().length === 0) continue;
    const m = /^\s*(\S+)(?:\s+(.*?))?\s*$/.exec(raw)!;
    const key = m[1];
    const rest = m[2] ?? '';
    if (rest.length === 0 && !opts.allowEmptyRest) {
      throw new CorpusError('line has a key but no value', {
        file,
        line: i + 1,
        expected: '<key> <value>',
        found: JSON.stringify(raw),
      });
    }
    const prev = out.get(key);
    if (prev) {
      throw new CorpusError(`duplicate id '${key}'`, {
        file,
        line: i + 1,
        expected: 'each id once',
        found: `also on line ${prev.line}`,
      });
    }
    out.set(key, { file, line: i + 1, key, rest });
  }
  return out;
}

const compareC = compareIds;

/** Check a wav.scp value is a plain path; returns it. */
function plainPath(l: Line): string {
  const v = l.rest;
  if (v.includes('|')) {
    throw new CorpusError(`wav.scp entry '${l.key}' is a pipe command`, {
      file: l.file,
      line: l.line,
      expected: 'a plain audio file path (convert the audio to files first, e.g. with sox or sph2pipe)',
      found: JSON.stringify(v),
    });
  }
  if (v === '-' || /\.ark:\d+$/.test(v)) {
    throw new CorpusError(`wav.scp entry '${l.key}' is not a plain file`, {
      file: l.file,
      line: l.line,
      expected: 'a plain audio file path',
      found: JSON.stringify(v),
    });
  }
  return v;
}

function formatOf(p: string, fmt: string): Recording['format'] {
  if (fmt === 'wav' || fmt === 'flac' || fmt === 'sphere') return fmt;
  throw new CorpusError(`unsupported audio format '${fmt}'`, { file: p, expected: 'wav, flac or sphere' });
}

/** Import one Kaldi data directory as a split manifest. */
export async function readKaldiDataDir(dir: string, opts: KaldiImportOptions = {}): Promise<KaldiImportResult> {
  const logger = opts.logger ?? log;
  const base = opts.audioBaseDir ?? process.cwd();
  for (const f of ['wav.scp', 'text', 'utt2spk']) {
    if (!existsSync(join(dir, f)))
      throw new CorpusError(`Kaldi data dir lacks '${f}'`, {
        file: join(dir, f),
        expected: 'wav.scp, text and utt2spk',
        found: 'no such file',
      });
  }
  const wavScp = await readTable(join(dir, 'wav.scp'));
  const text = await readTable(join(dir, 'text'), { allowEmptyRest: true });
  const utt2spk = await readTable(join(dir, 'utt2spk'));
  const segmentsFile = join(dir, 'segments');
  const segments = existsSync(segmentsFile) ? await readTable(segmentsFile) : null;
  await checkSpeakers(dir, utt2spk);
  const segOf = segments ? readSegments(segments, wavScp) : null;

  const skips = opts.skips ?? new SkipCounter();
  const uttIds = [...text.keys()].sort(compareC);
  const uttsOfRec = utterancesByRecording(dir, uttIds, text, utt2spk, wavScp, segOf, segmentsFile);
  const recById = await probeRecordings(uttsOfRec, wavScp, utt2spk, base, skips, logger);

  const supervisions: Supervision[] = [];
  const used = new Set<string>();
  for (const u of uttIds) {
    const seg = segOf ? segOf.get(u)! : { recId: u, startSec: 0, endSec: null };
    const rec = recById.get(seg.recId);
    if (!rec) continue; // audio skipped (already counted)
    const l = text.get(u)!;
    const normalised = normalizeOrSkip(l.rest, { file: l.file, line: l.line, uttId: u }, skips, logger);
    if (normalised === null) continue;
    const end = seg.endSec ?? rec.durationSec;
    if (seg.startSec >= rec.durationSec || end > rec.durationSec + 0.01) {
      const cause = `segment [${seg.startSec}, ${end}] s past the end of '${rec.id}' (${rec.durationSec} s)`;
      skips.skip(u, 'segment past the end of its recording', cause);
      logger.debug(`skip ${u}: ${cause}`);
      continue;
    }
    supervisions.push({
      id: u,
      recordingId: rec.id,
      speaker: utt2spk.get(u)!.rest,
      startSec: seg.startSec,
      durationSec: Math.min(end, rec.durationSec) - seg.startSec,
      text: normalised,
    });
    used.add(rec.id);
    skips.done++;
  }
  return { manifest: { recordings: [...recById.values()].filter((r) => used.has(r.id)), supervisions }, skips };
}

/** One speaker per utterance in utt2spk, and spk2utt (where present) its exact inverse. */
async function checkSpeakers(dir: string, utt2spk: Map<string, Line>): Promise<void> {
  for (const l of utt2spk.values()) {
    if (/\s/.test(l.rest))
      throw new CorpusError(`utt2spk entry '${l.key}' has more than one speaker`, {
        file: l.file,
        line: l.line,
        expected: '<utt> <speaker>',
        found: JSON.stringify(l.rest),
      });
  }
  const spk2uttFile = join(dir, 'spk2utt');
  if (!existsSync(spk2uttFile)) return;
  const spk2utt = await readTable(spk2uttFile);
  const seen = new Set<string>();
  for (const l of spk2utt.values()) {
    for (const u of l.rest.split(/\s+/)) {
      const s = utt2spk.get(u);
      if (!s || s.rest !== l.key) {
        throw new CorpusError(`spk2utt disagrees with utt2spk for utterance '${u}'`, {
          file: l.file,
          line: l.line,
          expected: s ? `speaker '${s.rest}'` : 'an utterance listed in utt2spk',
          found: `speaker '${l.key}'`,
        });
      }
      seen.add(u);
    }
  }
  for (const u of utt2spk.keys()) {
    if (!seen.has(u))
      throw new CorpusError(`utterance '${u}' is in utt2spk but not in spk2utt`, { file: spk2uttFile, uttId: u });
  }
}

/** Where an utterance lies: its recording, start and end (null: the recording's end). */
interface Segment {
  recId: string;
  startSec: number;
  endSec: number | null;
}

/** Utterance -> (recording, start, end|null) from the segments file; each recording must be in wav.scp. */
function readSegments(segments: Map<string, Line>, wavScp: Map<string, Line>): Map<string, Segment> {
  const segOf = new Map<string, Segment>();
  for (const l of segments.values()) {
    const f = l.rest.split(/\s+/);
    const start = Number(f[1]);
    const end = Number(f[2]);
    if (
      f.length !== 3 ||
      !Number.isFinite(start) ||
      !Number.isFinite(end) ||
      start < 0 ||
      (end !== -1 && end <= start)
    ) {
      throw new CorpusError(`bad segments entry '${l.key}'`, {
        file: l.file,
        line: l.line,
        expected: '<utt> <recording> <startSec> <endSec> with end > start (or -1)',
        found: JSON.stringify(l.rest),
      });
    }
    if (!wavScp.has(f[0]))
      throw new CorpusError(`segment '${l.key}' refers to recording '${f[0]}'`, {
        file: l.file,
        line: l.line,
        expected: 'a recording listed in wav.scp',
        found: 'no such recording',
      });
    segOf.set(l.key, { recId: f[0], startSec: start, endSec: end === -1 ? null : end });
  }
  return segOf;
}

/**
 * The utterances of each recording (utterances in `uttIds` order). Every utterance needs a
 * speaker, and a segment (with a segments file) or a wav.scp entry of its own id (without).
 */
function utterancesByRecording(
  dir: string,
  uttIds: readonly string[],
  text: Map<string, Line>,
  utt2spk: Map<string, Line>,
  wavScp: Map<string, Line>,
  segOf: Map<string, Segment> | null,
  segmentsFile: string,
): Map<string, string[]> {
  const uttsOfRec = new Map<string, string[]>();
  for (const u of uttIds) {
    const l = text.get(u)!;
    if (!utt2spk.has(u))
      throw new CorpusError(`utterance '${u}' has no speaker`, {
        file: join(dir, 'utt2spk'),
        uttId: u,
        expected: `an utt2spk line for every utterance in ${l.file}`,
        found: 'none',
      });
    let recId: string;
    if (segOf) {
      const s = segOf.get(u);
      if (!s)
        throw new CorpusError(`utterance '${u}' has no segment`, {
          file: segmentsFile,
          uttId: u,
          expected: `a segments line for every utterance in ${l.file}`,
          found: 'none',
        });
      recId = s.recId;
    } else {
      if (!wavScp.has(u))
        throw new CorpusError(`utterance '${u}' has no recording`, {
          file: join(dir, 'wav.scp'),
          uttId: u,
          expected: 'a wav.scp entry with the utterance id (there is no segments file)',
          found: 'none',
        });
      recId = u;
    }
    const list = uttsOfRec.get(recId);
    if (list) list.push(u);
    else uttsOfRec.set(recId, [u]);
  }
  return uttsOfRec;
}

/**
 * The recordings that have utterances, in C-locale id order, probed for their format, rate and
 * length; one whose audio cannot be read is a counted skip of its utterances (left out of the map).
 */
async function probeRecordings(
  uttsOfRec: Map<string, string[]>,
  wavScp: Map<string, Line>,
  utt2spk: Map<string, Line>,
  base: string,
  skips: SkipCounter,
  logger: Logger,
): Promise<Map<string, Recording>> {
  const recById = new Map<string, Recording>();
  const progress = logger.progress('kaldi import', uttsOfRec.size, 'recordings');
  for (const recId of [...uttsOfRec.keys()].sort(compareC)) {
    const l = wavScp.get(recId)!;
    const p = plainPath(l);
    const abs = isAbsolute(p) ? p : resolve(base, p);
    const utts = uttsOfRec.get(recId)!;
    progress.tick();
    const info = await probeAudioOrSkip(abs, utts, skips, logger);
    if (!info) continue;
    recById.set(recId, {
      id: recId,
      speaker: utt2spk.get(utts[0])!.rest,
      path: abs,
      format: formatOf(abs, info.format),
      channel: 0,
      sampleRateHz: info.sampleRateHz,
      numSamples: info.numSamples,
      durationSec: info.numSamples / info.sampleRateHz,
    });
  }
  progress.done();
  return recById;
}

export interface KaldiExportOptions {
  logger?: Logger;
}

function fmtSec(x: number): string {
  return (Math.round(x * 1000) / 1000).toFixed(3);
}

/**
 * Write a split manifest as a Kaldi data directory (atomically: `dir` appears complete or not at all).
 * Recording paths must be absolute. A recording on a channel other than 0 cannot be expressed as a plain
 * path and is an error. FLAC and SPHERE paths are written as they are (Kaldi's own tools need WAV;
 * lhotse and torchaudio read them), with a warning.
 */
export async function writeKaldiDataDir(
  dir: string,
  manifest: SplitManifest,
  opts: KaldiExportOptions = {},
): Promise<void> {
  const logger = opts.logger ?? log;
  const recs = [...manifest.recordings].sort((a, b) => compareC(a.id, b.id));
  const sups = [...manifest.supervisions].sort((a, b) => compareC(a.id, b.id));
  const recById = new Map(recs.map((r) => [r.id, r]));
  const nonWav = new Set<string>();
  for (const r of recs) {
    if (r.channel !== 0)
      throw new CorpusError('a plain wav.scp path cannot select a channel', {
        file: r.path,
        uttId: r.id,
        expected: 'channel 0',
        found: `channel ${r.channel}`,
      });
    if (/\s/.test(r.path) || /\s/.test(r.id))
      throw new CorpusError('whitespace in a recording id or path', {
        file: r.path,
        uttId: r.id,
        expected: 'no spaces (Kaldi tables split on whitespace)',
      });
    if (!isAbsolute(r.path))
      throw new CorpusError('relative recording path', { file: r.path, uttId: r.id, expected: 'an absolute path' });
    if (r.format !== 'wav') nonWav.add(r.format);
  }
  if (nonWav.size > 0)
    logger.warn(
      `wav.scp lists ${[...nonWav].join('/')} files as plain paths; Kaldi binaries need WAV (lhotse/torchaudio read them)`,
    );
  let needSegments = false;
  for (const s of sups) {
    const r = recById.get(s.recordingId);
    if (!r)
      throw new CorpusError(`supervision refers to recording '${s.recordingId}'`, {
        uttId: s.id,
        expected: 'a recording of the same manifest',
        found: 'no such recording',
      });
    if (s.id !== r.id || s.startSec !== 0 || Math.abs(s.durationSec - r.durationSec) > 1e-6) needSegments = true;
    if (/\s/.test(s.id) || /\s/.test(s.speaker))
      throw new CorpusError('whitespace in an utterance or speaker id', { uttId: s.id, expected: 'no spaces' });
  }
  const spk2utt = new Map<string, string[]>();
  for (const s of sups) {
    const l = spk2utt.get(s.speaker);
    if (l) l.push(s.id);
    else spk2utt.set(s.speaker, [s.id]);
  }
  const lines = (xs: string[]) => xs.map((x) => x + '\n').join('');
  await withAtomicOutput(dir, async (tmp) => {
    await fsp.mkdir(tmp, { recursive: true });
    await fsp.writeFile(join(tmp, 'wav.scp'), lines(recs.map((r) => `${r.id} ${r.path}`)));
    await fsp.writeFile(join(tmp, 'reco2dur'), lines(recs.map((r) => `${r.id} ${fmtSec(r.durationSec)}`)));
    await fsp.writeFile(join(tmp, 'text'), lines(sups.map((s) => `${s.id} ${s.text}`)));
    await fsp.writeFile(join(tmp, 'utt2spk'), lines(sups.map((s) => `${s.id} ${s.speaker}`)));
    await fsp.writeFile(join(tmp, 'utt2dur'), lines(sups.map((s) => `${s.id} ${fmtSec(s.durationSec)}`)));
    await fsp.writeFile(
      join(tmp, 'spk2utt'),
      lines([...spk2utt.keys()].sort(compareC).map((k) => `${k} ${spk2utt.get(k)!.join(' ')}`)),
    );
    if (needSegments) {
      await fsp.writeFile(
        join(tmp, 'segments'),
        lines(sups.map((s) => `${s.id} ${s.recordingId} ${fmtSec(s.startSec)} ${fmtSec(s.startSec + s.durationSec)}`)),
      );
    }
  });
}
