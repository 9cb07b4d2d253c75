/**
 * Vocal tract length perturbation (VTLP; Jaitly & Hinton, "Vocal Tract Length Perturbation (VTLP)
 * improves speech recognition", 2013) as training-data augmentation: every utterance of an
 * augmented split gets one extra copy per warp factor, its filterbank (and MFCC) computed with
 * Kaldi's piecewise-linear VTLN warp of the mel bins (`vtlnWarp`, checked against torchaudio in
 * test/features/mel.test.ts). The frame count and timing do not change, so a copy has the same
 * transcript as its source; it is a new utterance of a new "speaker" (own CMVN statistics), named
 * like Kaldi's speed-perturbed copies (`sp0.9-<id>`):
 *
 *   utterance  vtlp<warp>-<id>        speaker  vtlp<warp>-<speaker>
 *
 * The copies live only in the feature file (its metadata lists the warps); the manifest keeps the
 * real utterances, so the LM and the references never count a transcript twice. The aligner
 * (src/align/source.ts) resolves a copy to its source's transcript through `perturbedSupervisions`.
 */
import { ConfigError } from '../util/errors.ts';

/** Prefix of the copies made with `warp`: `vtlp0.9-`. */
export function vtlpPrefix(warp: number): string {
  return `vtlp${warp}-`;
}

/** The utterance (or speaker) id of the copy of `id` made with `warp`. */
export function vtlpId(warp: number, id: string): string {
  return vtlpPrefix(warp) + id;
}

/** The source id of a copy id (`vtlp0.9-u1` -> `u1`), or null for an id without the prefix. */
export function vtlpSourceId(id: string): string | null {
  const m = /^vtlp(?:0|[1-9][0-9]*)(?:\.[0-9]+)?-(.+)$/.exec(id);
  return m ? m[1] : null;
}

/** Whether `uttId` is a copy made with one of `warps` (a feature file's `vtlpWarps`). */
export function isVtlpCopy(uttId: string, warps: readonly number[]): boolean {
  return warps.some((w) => uttId.startsWith(vtlpPrefix(w)));
}

/**
 * Check a list of warp factors: finite, in (0.5, 2), not 1 (the original), no repeats.
 * `keyPath` names the option in errors.
 */
export function checkVtlpWarps(warps: unknown, keyPath: string): number[] {
  if (!Array.isArray(warps))
    throw new ConfigError('bad VTLP warp factors', {
      keyPath,
      expected: 'a list of warp factors, e.g. [0.9, 1.1]',
      found: JSON.stringify(warps),
    });
  const seen = new Set<number>();
  for (const w of warps) {
    if (typeof w !== 'number' || !Number.isFinite(w) || w <= 0.5 || w >= 2 || w === 1) {
      throw new ConfigError('bad VTLP warp factor', {
        keyPath,
        expected: 'numbers in (0.5, 2) other than 1 (Jaitly & Hinton: 0.9 to 1.1)',
        found: JSON.stringify(w),
      });
    }
    if (seen.has(w))
      throw new ConfigError('repeated VTLP warp factor', {
        keyPath,
        expected: 'distinct warp factors',
        found: JSON.stringify(warps),
      });
    seen.add(w);
  }
  return [...warps] as number[];
}

/**
 * The supervisions of the copies: for each source (id -> info with a `speaker`) and each warp, the
 * copy's id -> the source's info with the copy's speaker. A copy id that is already a source id
 * would make two utterances one: a ConfigError naming it.
 */
export function perturbedSupervisions<T extends { speaker: string }>(
  sources: ReadonlyMap<string, T>,
  warps: readonly number[],
  file: string,
): Map<string, T> {
  const out = new Map<string, T>();
  for (const w of warps) {
    for (const [id, s] of sources) {
      const copy = vtlpId(w, id);
      if (sources.has(copy))
        throw new ConfigError('a VTLP copy would take the id of a real utterance', {
          file,
          uttId: copy,
          expected: `no utterance ids starting with '${vtlpPrefix(w)}' when VTLP warp ${w} is on`,
        });
      out.set(copy, { ...s, speaker: vtlpId(w, s.speaker) });
    }
  }
  return out;
}
