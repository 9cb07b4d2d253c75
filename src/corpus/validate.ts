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

/** Validate a whole corpus; returns its counts and sample rate. */
export function validateCorpus(splits: Record<string, SplitManifest>, opts: ValidateOptions = {}): CorpusSummary {
  const tol = opts.toleranceSec ?? 0.01;
  const checkFiles = opts.checkAudioFiles ?? true;
  const fileOf = (split: string, kind: 'recordings' | 'supervisions') => opts.manifestFile?.(split, kind);
  const splitNames = Object.keys(splits);
  if (splitNames.length === 0) throw new CorpusError('corpus has no splits', { expected: 'at least one split' });

  const recSplit = new Map<string, string>();
  const supSplit = new Map<string, string>();
  const speakerSplit = new Map<string, string>();
  let rate: { hz: number; example: string } | null = null;
  const counts: CorpusInfo['counts'] = {};

  for (const split of splitNames) {
    const m = splits[split];
    if (m.supervisions.length === 0) {
      throw new CorpusError(`split '${split}' has no utterances`, {
        file: fileOf(split, 'supervisions'),
        expected: 'at least one supervision',
        found: '0',
      });
    }
    const recs = new Map<string, SplitManifest['recordings'][number]>();
    for (const r of m.recordings) {
      const where = { file: fileOf(split, 'recordings') ?? r.path, uttId: r.id };
      const prev = recSplit.get(r.id);
      if (prev !== undefined) {
        throw new CorpusError(`duplicate recording id '${r.id}'`, {
          ...where,
          expected: 'unique recording ids across all splits',
          found: `'${r.id}' in split '${prev}' and in split '${split}'`,
        });
      }
      recSplit.set(r.id, split);
      recs.set(r.id, r);
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
      if (checkFiles) {
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
      if (rate === null) rate = { hz: r.sampleRateHz, example: r.path };
      else if (r.sampleRateHz !== rate.hz && !opts.allowMixedSampleRates) {
        throw new CorpusError('mixed sample rates in one corpus (resample to one rate when preparing)', {
          uttId: r.id,
          expected: `${rate.hz} Hz everywhere (e.g. ${rate.example})`,
          found: `${r.sampleRateHz} Hz in ${r.path}`,
        });
      }
    }
    let durationSec = 0;
    const speakers = new Set<string>();
    for (const s of m.supervisions) {
      const where = { file: fileOf(split, 'supervisions'), uttId: s.id };
      const prev = supSplit.get(s.id);
      if (prev !== undefined) {
        throw new CorpusError(`duplicate supervision id '${s.id}'`, {
          ...where,
          expected: 'unique utterance ids across all splits',
          found: `'${s.id}' in split '${prev}' and in split '${split}'`,
        });
      }
      supSplit.set(s.id, split);
      const r = recs.get(s.recordingId);
      if (!r) {
        const other = recSplit.get(s.recordingId);
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
      if (s.startSec + s.durationSec > r.durationSec + tol) {
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
      if (opts.disjointSpeakers) {
        const other = speakerSplit.get(s.speaker);
        if (other !== undefined && other !== split) {
          throw new CorpusError(`speaker '${s.speaker}' appears in two splits`, {
            ...where,
            expected: 'disjoint speakers between splits',
            found: `split '${other}' and split '${split}'`,
          });
        }
        speakerSplit.set(s.speaker, split);
      }
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
  return { sampleRateHz: rate!.hz, counts };
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
