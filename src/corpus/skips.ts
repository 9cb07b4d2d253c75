/**
 * Counted skips shared by the adapters: a bad utterance never stops preparation; it is counted by
 * reason (SkipCounter) and reported at the end, Kaldi style ("Done N, skipped M").
 */
import { statSync } from 'node:fs';
import { audioInfo, type AudioInfo } from '../audio/index.ts';
import { AmDistillError, AudioFormatError, type SkipCounter } from '../util/errors.ts';
import { log, type Logger } from '../util/log.ts';
import { TranscriptError, normalizeTranscript } from './text.ts';
import type { ErrorLocation } from '../util/errors.ts';

export const MISSING_AUDIO_REASON = 'missing audio file';
export const EMPTY_AUDIO_REASON = 'empty audio (0 samples)';
export const CORRUPT_AUDIO_REASON = 'unreadable audio';

/**
 * Probe an audio file's header. Returns null (and counts a skip for every id in `uttIds`) when the
 * file is missing, cannot be parsed, or holds no samples.
 */
export async function probeAudioOrSkip(
  path: string,
  uttIds: readonly string[],
  skips: SkipCounter,
  logger: Logger = log,
): Promise<AudioInfo | null> {
  const skipAll = (reason: string, detail: string) => {
    for (const id of uttIds) skips.skip(id, reason, detail);
    logger.debug(`skip ${uttIds.join(', ')}: ${reason}: ${detail}`);
    return null;
  };
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch {
    isFile = false;
  }
  if (!isFile) return skipAll(MISSING_AUDIO_REASON, `${path}: no such file`);
  let info: AudioInfo;
  try {
    info = await audioInfo(path);
  } catch (err) {
    if (err instanceof AudioFormatError || (err instanceof AmDistillError && err.code === 'E_AUDIO_FORMAT')) {
      return skipAll(
        /\bempty\b|\bno samples\b|\b0 samples\b/i.test(err.message) ? EMPTY_AUDIO_REASON : CORRUPT_AUDIO_REASON,
        err.message,
      );
    }
    throw err;
  }
  if (!(info.numSamples > 0)) return skipAll(EMPTY_AUDIO_REASON, `${path}: 0 samples`);
  return info;
}

/** Normalise a transcript, or count a skip with the TranscriptError's reason and return null. */
export function normalizeOrSkip(
  raw: string,
  where: ErrorLocation & { uttId: string },
  skips: SkipCounter,
  logger: Logger = log,
): string | null {
  try {
    return normalizeTranscript(raw, where);
  } catch (err) {
    if (err instanceof TranscriptError) {
      skips.skip(where.uttId, err.reason, err.message);
      logger.debug(`skip ${where.uttId}: ${err.message}`);
      return null;
    }
    throw err;
  }
}

/** Log the skip summary of a preparation: info when nothing was skipped, warn otherwise. */
export function reportSkips(skips: SkipCounter, what: string, logger: Logger = log): void {
  const text = skips.summary(what);
  if (skips.skipped > 0) logger.warn(text);
  else logger.info(text);
}
