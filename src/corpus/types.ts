/**
 * Manifest types (lhotse-like), stored as JSON Lines per split:
 *   <dataDir>/<split>/recordings.jsonl    one Recording per line
 *   <dataDir>/<split>/supervisions.jsonl  one Supervision per line
 *   <dataDir>/corpus.json                 CorpusInfo (name, splits, sample rate, skip report)
 * Audio that an adapter composes (FSDD connected digits, synth speech) is materialised as
 * 16-bit WAV files under the data dir, so every later stage reads plain files.
 */

export interface Recording {
  /** Unique within the corpus. */
  id: string;
  speaker: string;
  /** Audio file path (absolute, or relative to the manifest's directory). */
  path: string;
  /** Container format of `path`. */
  format: 'wav' | 'flac' | 'sphere';
  /** 0-based channel to use. */
  channel: number;
  /** Sample rate of the file. */
  sampleRateHz: number;
  numSamples: number;
  durationSec: number;
}

/**
 * A timed unit inside a supervision: a word or a phone, e.g. espeak's events or TIMIT .WRD/.PHN.
 * `startSec` is measured from the start of the recording (as in lhotse), not of the supervision.
 */
export interface TimedSymbol {
  symbol: string;
  startSec: number;
  durationSec: number;
}

export interface Supervision {
  /** Utterance id; unique within the corpus. */
  id: string;
  recordingId: string;
  speaker: string;
  /** Offset into the recording. */
  startSec: number;
  durationSec: number;
  /** Normalised transcript: upper-case words separated by single spaces. */
  text: string;
  /** Optional reference timings (synth: espeak events; TIMIT: .WRD/.PHN). */
  alignment?: {
    word?: TimedSymbol[];
    phone?: TimedSymbol[];
  };
  /** Free-form extra fields (gender, source files, ...). */
  custom?: Record<string, unknown>;
}

export interface SplitManifest {
  recordings: Recording[];
  supervisions: Supervision[];
}

export interface CorpusInfo {
  /** Adapter name: fsdd, librispeech, timit, kaldi, synth. */
  corpus: string;
  /** Split names in order, e.g. ["train", "dev", "test"]. */
  splits: string[];
  /** The one sample rate of every recording (after any resampling). */
  sampleRateHz: number;
  /** Counts per split. */
  counts: Record<string, { recordings: number; supervisions: number; durationSec: number; speakers: number }>;
  /** Utterances skipped while preparing, by reason. */
  skipped: { done: number; skipped: number; reasons: { reason: string; count: number; examples: string[] }[] };
  /** The adapter options that produced this corpus. */
  options: Record<string, unknown>;
}

/** What an adapter's `prepare` returns: validated manifests per split plus the corpus summary. */
export interface PreparedCorpus {
  info: CorpusInfo;
  splits: Record<string, SplitManifest>;
}
