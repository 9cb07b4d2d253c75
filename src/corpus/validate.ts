/**
 * Corpus validation: every adapter validates before returning, and `validateDataDir` checks a
 * prepared data dir from disk. The first problem found raises a CorpusError naming the split,
 * the id and the file, what was expected and what was found.
 *
 * Checks:
 *   - every listed split has at least one utterance;
 *   - recording ids and supervision ids are unique within the whole corpus (across splits);
 *   - recordings have a positive sample rate, numSamples > 0, durationSec = numSamples / rate;
 *   - every audio file exists (optional);
 *   - one sample rate for the corpus (mixed rates name both rates and an example file of each);
 *   - supervisions point at a recording of their split, have durationSec > 0 and lie inside it;
 *   - transcripts are normalised (upper-case words, single spaces; see text.ts);
 *   - alignment items lie inside their supervision;
 *   - speakers are disjoint between splits, where the adapter promises it.
 */
import { statSync } from 'node:fs';
import { CorpusError, type SkipCounter } from '../util/errors.ts';
import { readCorpus, readCorpusInfo } from './manifest.ts';
import type { CorpusInfo, SplitManifest } from './types.ts';

export interface ValidateOptions {
  /** Check that every audio file exists and is a file (default true). */
  checkAudioFiles?: boolean;
  /** Require that no speaker appears in two splits (default false). */
  disjointSpeakers?: boolean;
  /** Allow more than one sample rate in the corpus (default false). */
  allowMixedSampleRates?: boolean;
  /** How far a supervision or alignment item may extend past its container, in seconds (default 0.01). */
  toleranceSec?: number;
  /** File name used in error messages for the manifests, if they came from disk. */
  manifestFile?: (split: string, kind: 'recordings' | 'supervisions') => string;
}

export interface CorpusSummary {
  /** The corpus sample rate (the first recording's rate when mixed rates are allowed). */
  sampleRateHz: number;
  counts: CorpusInfo['counts'];
}

const NORMALISED_TEXT = /^[A-Z']+( [A-Z']+)*$/;

type Recording = SplitManifest['recordings'][number];
type Supervision = SplitManifest['supervisions'][number];
type ManifestKind = 'recordings' | 'supervisions';

/** The options with their defaults, as the checks use them. */
interface Checks {
  tol: number;
  checkFiles: boolean;
  allowMixedSampleRates: boolean;
  disjointSpeakers: boolean;
  fileOf: (split: string, kind: ManifestKind) => string | undefined;
}

/** What the checks remember across splits: the split of each id and speaker, and the first sample rate. */
interface SeenSoFar {
  recSplit: Map<string, string>;
  supSplit: Map<string, string>;
  speakerSplit: Map<string, string>;
  rate: { hz: number; example: string } | null;
}

/** Validate a whole corpus; returns its counts and sample rate. */
export function validateCorpus(splits: Record<string, SplitManifest>, opts: ValidateOptions = {}): CorpusSummary {
  const checks: Checks = {
    tol: opts.toleranceSec ?? 0.01,
    checkFiles: opts.checkAudioFiles ?? true,
    allowMixedSampleRates: opts.allowMixedSampleRates ?? false,
    disjointSpeakers: opts.disjointSpeakers ?? false,
    fileOf: (split, kind) => opts.manifestFile?.(split, kind),
  };
  const splitNames = Object.keys(splits);
  if (splitNames.length === 0) throw new CorpusError('corpus has no splits', { expected: 'at least one split' });

  const seen: SeenSoFar = { recSplit: new Map(), supSplit: new Map(), speakerSplit: new Map(), rate: null };
  const counts: CorpusInfo['counts'] = {};
  for (const split of splitNames) {
    const m = splits[split];
    if (m.supervisions.length === 0) {
      throw new CorpusError(`split '${split}' has no utterances`, {
        file: checks.fileOf(split, 'supervisions'),
        expected: 'at least one supervision',
        found: '0',
      });
    }
    const recs = new Map<string, Recording>();
    for (const r of m.recordings) {
      checkRecording(r, split, seen, checks);
      recs.set(r.id, r);
    }
    let durationSec = 0;
    const speakers = new Set<string>();
    for (const s of m.supervisions) {
      checkSupervision(s, split, recs, seen, checks);
      speakers.add(s.speaker);
      durationSec += s.durationSec;
    }
    counts[split] = {
      recordings: m.recordings.length,
      supervisions: m.supervisions.length,
      durationSec: Math.round(durationSec * 1000) / 1000,
      speakers: speakers.size,
    };
  }
  return { sampleRateHz: seen.rate!.hz, counts };
}

/** One recording: a unique id, a positive rate, samples matching the duration, its file, the corpus rate. */
function checkRecording(r: Recording, split: string, seen: SeenSoFar, checks: Checks): void {
  const where = { file: checks.fileOf(split, 'recordings') ?? r.path, uttId: r.id };
  const prev = seen.recSplit.get(r.id);
  if (prev !== undefined) {
    throw new CorpusError(`duplicate recording id '${r.id}'`, {
      ...where,
      expected: 'unique recording ids across all splits',
      found: `'${r.id}' in split '${prev}' and in split '${split}'`,
    });
  }
  seen.recSplit.set(r.id, split);
  if (!(r.sampleRateHz > 0))
    throw new CorpusError('bad sample rate', {
      ...where,
      expected: 'sampleRateHz > 0',
      found: String(r.sampleRateHz),
    });
  if (!(r.numSamples > 0) || !(r.durationSec > 0)) {
    throw new CorpusError('empty recording', {
      ...where,
      expected: 'numSamples > 0 and durationSec > 0',
      found: `${r.numSamples} samples, ${r.durationSec} s`,
    });
  }
  if (Math.abs(r.durationSec - r.numSamples / r.sampleRateHz) > 1 / r.sampleRateHz) {
    throw new CorpusError('duration does not match the sample count', {
      ...where,
      expected: `${r.numSamples} / ${r.sampleRateHz} = ${r.numSamples / r.sampleRateHz} s`,
      found: `${r.durationSec} s`,
    });
  }
  if (checks.checkFiles) checkAudioFile(r);
  if (seen.rate === null) seen.rate = { hz: r.sampleRateHz, example: r.path };
  else if (r.sampleRateHz !== seen.rate.hz && !checks.allowMixedSampleRates) {
    throw new CorpusError('mixed sample rates in one corpus (resample to one rate when preparing)', {
      uttId: r.id,
      expected: `${seen.rate.hz} Hz everywhere (e.g. ${seen.rate.example})`,
      found: `${r.sampleRateHz} Hz in ${r.path}`,
    });
  }
}

function checkAudioFile(r: Recording): void {
  let ok: boolean;
  try {
    ok = statSync(r.path).isFile();
  } catch {
    ok = false;
  }
  if (!ok)
    throw new CorpusError('audio file not found', {
      file: r.path,
      uttId: r.id,
      expected: 'an existing audio file',
      found: 'no such file',
    });
}

/**
 * One supervision: a unique id, a recording of its split, a non-empty extent inside it, a
 * normalised transcript, alignment items inside it, and (when required) a speaker of this split only.
 */
function checkSupervision(
  s: Supervision,
  split: string,
  recs: Map<string, Recording>,
  seen: SeenSoFar,
  checks: Checks,
): void {
  const where = { file: checks.fileOf(split, 'supervisions'), uttId: s.id };
  const prev = seen.supSplit.get(s.id);
  if (prev !== undefined) {
    throw new CorpusError(`duplicate supervision id '${s.id}'`, {
      ...where,
      expected: 'unique utterance ids across all splits',
      found: `'${s.id}' in split '${prev}' and in split '${split}'`,
    });
  }
  seen.supSplit.set(s.id, split);
  const r = recs.get(s.recordingId);
  if (!r) {
    const other = seen.recSplit.get(s.recordingId);
    throw new CorpusError(`supervision refers to recording '${s.recordingId}'`, {
      ...where,
      expected: `a recording of split '${split}'`,
      found: other ? `it is in split '${other}'` : 'no such recording',
    });
  }
  if (!(s.durationSec > 0) || !(s.startSec >= 0)) {
    throw new CorpusError('empty or negative supervision', {
      ...where,
      expected: 'startSec >= 0 and durationSec > 0',
      found: `startSec ${s.startSec}, durationSec ${s.durationSec}`,
    });
  }
  if (s.startSec + s.durationSec > r.durationSec + checks.tol) {
    throw new CorpusError('supervision extends past the end of its recording', {
      ...where,
      expected: `end <= ${r.durationSec.toFixed(4)} s (recording '${r.id}')`,
      found: `end ${(s.startSec + s.durationSec).toFixed(4)} s`,
    });
  }
  if (!NORMALISED_TEXT.test(s.text)) {
    throw new CorpusError('transcript is not normalised', {
      ...where,
      expected: "upper-case words [A-Z'] separated by single spaces",
      found: JSON.stringify(s.text),
    });
  }
  checkAlignmentItems(s, where, checks.tol);
  if (checks.disjointSpeakers) {
    const other = seen.speakerSplit.get(s.speaker);
    if (other !== undefined && other !== split) {
      throw new CorpusError(`speaker '${s.speaker}' appears in two splits`, {
        ...where,
        expected: 'disjoint speakers between splits',
        found: `split '${other}' and split '${split}'`,
      });
    }
    seen.speakerSplit.set(s.speaker, split);
  }
}

/** Word and phone alignment items lie inside their supervision (within `tol`) and are not negative. */
function checkAlignmentItems(s: Supervision, where: { file?: string; uttId: string }, tol: number): void {
  for (const kind of ['word', 'phone'] as const) {
    for (const a of s.alignment?.[kind] ?? []) {
      if (
        a.startSec < s.startSec - tol ||
        a.startSec + a.durationSec > s.startSec + s.durationSec + tol ||
        a.durationSec < 0
      ) {
        throw new CorpusError(`${kind} alignment item '${a.symbol}' lies outside its supervision`, {
          ...where,
          expected: `inside [${s.startSec.toFixed(4)}, ${(s.startSec + s.durationSec).toFixed(4)}] s`,
          found: `[${a.startSec.toFixed(4)}, ${(a.startSec + a.durationSec).toFixed(4)}] s`,
        });
      }
    }
  }
}

/** Assemble the CorpusInfo of a validated corpus. */
export function makeCorpusInfo(
  corpus: string,
  splits: Record<string, SplitManifest>,
  summary: CorpusSummary,
  skips: SkipCounter,
  options: Record<string, unknown>,
): CorpusInfo {
  return {
    corpus,
    splits: Object.keys(splits),
    sampleRateHz: summary.sampleRateHz,
    counts: summary.counts,
    skipped: skips.toJSON(),
    options,
  };
}

/**
 * Validate a prepared data dir from disk (`am-distill validate <dataDir>`): manifests parse,
 * corpus.json agrees with them (splits, sample rate, counts) and validateCorpus passes.
 */
export async function validateDataDir(
  dataDir: string,
  opts: Omit<ValidateOptions, 'manifestFile'> = {},
): Promise<CorpusSummary> {
  const { info, splits } = await readCorpus(dataDir);
  const summary = validateCorpus(splits, {
    ...opts,
    manifestFile: (split, kind) => `${dataDir}/${split}/${kind}.jsonl`,
  });
  if (summary.sampleRateHz !== info.sampleRateHz) {
    throw new CorpusError('corpus.json sample rate disagrees with the manifests', {
      file: `${dataDir}/corpus.json`,
      expected: `${summary.sampleRateHz} Hz`,
      found: `${info.sampleRateHz} Hz`,
    });
  }
  for (const s of info.splits) {
    const c = info.counts[s];
    const m = summary.counts[s];
    if (!c || c.recordings !== m.recordings || c.supervisions !== m.supervisions) {
      throw new CorpusError(`corpus.json counts for split '${s}' disagree with the manifests`, {
        file: `${dataDir}/corpus.json`,
        expected: `${m.recordings} recordings, ${m.supervisions} supervisions`,
        found: c ? `${c.recordings} recordings, ${c.supervisions} supervisions` : 'no counts',
      });
    }
  }
  return summary;
}

/** `am-distill validate` of a prepared data dir (`validateDataDir`); returns the summary lines. */
export async function validateCorpusDir(dir: string): Promise<string[]> {
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
  return lines;
}
