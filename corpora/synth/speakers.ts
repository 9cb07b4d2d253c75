/**
 * Synthetic speakers and their split.
 *
 * A speaker is a fixed tuple (espeak English voice, voice variant, rate, pitch, pitch range).
 * The voice gives the accent (8 English voices), the variant the timbre (formant scaling, base
 * pitch, glottal source: m1..m7, f1..f5, and the Klatt synthesiser klatt..klatt4).
 *
 * Unseen test speakers: no two speakers share a (voice, variant) pair, and no variant is used in
 * two splits — a dev or test speaker's timbre never occurs in training (its accent may).
 * Within a split, speaker j gets variant j mod k (k = the split's variants) and voice
 * (j mod k + floor(j / k) + offset) mod 8, which keeps the pairs distinct; the variant order, voice
 * order and per-speaker rate / pitch come from the seed.
 */
import { ConfigError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import type { EspeakVoice } from './espeak.ts';

/** English voices: our name -> espeak voice name (espeak calls British English `en`). */
export const SYNTH_VOICES: Readonly<Record<string, string>> = {
  'en-us': 'en-us',
  'en-gb': 'en',
  'en-gb-scotland': 'en-gb-scotland',
  'en-gb-x-rp': 'en-gb-x-rp',
  'en-029': 'en-029',
  'en-us-nyc': 'en-us-nyc',
  'en-gb-x-gbclan': 'en-gb-x-gbclan',
  'en-gb-x-gbcwmd': 'en-gb-x-gbcwmd',
};

/** Voice variants (espeak-ng-data/voices/!v) used by default. */
export const SYNTH_VARIANTS: readonly string[] = [
  'm1',
  'm2',
  'm3',
  'm4',
  'm5',
  'm6',
  'm7',
  'f1',
  'f2',
  'f3',
  'f4',
  'f5',
  'klatt',
  'klatt2',
  'klatt3',
  'klatt4',
];

export interface SynthSpeaker extends EspeakVoice {
  /** Speaker id, e.g. `s03-engbscotland-f2` (no `_`: sclite takes the id prefix before `_` as the speaker). */
  id: string;
  split: string;
  /** The voice variant (always set for a synthetic speaker). */
  variant: string;
  /** Our voice name (a key of SYNTH_VOICES), e.g. `en-gb`; `voice` holds espeak's name. */
  accent: string;
  gender: 'male' | 'female' | 'unknown';
}

export interface SpeakerPlanOptions {
  /** Speakers per split, in split order (e.g. { train: 12, dev: 2, test: 2 }); 0 drops a split. */
  counts: Record<string, number>;
  seed: number;
  /** Voice names (keys of SYNTH_VOICES). Default: all of them. */
  voices?: readonly string[];
  /** Variants. Default SYNTH_VARIANTS. */
  variants?: readonly string[];
  /** Speaking rate range in words per minute (defaults 140, 190). */
  rateMinWpm?: number;
  rateMaxWpm?: number;
  /** Base pitch range on espeak's 0..99 scale (defaults 35, 65). */
  pitchMin?: number;
  pitchMax?: number;
}

/** Gender of a variant as espeak's voice files declare it (m*: male, f*: female, klatt*: none). */
export function variantGender(variant: string): SynthSpeaker['gender'] {
  if (/^m\d+$/.test(variant)) return 'male';
  if (/^f\d+$/.test(variant)) return 'female';
  return 'unknown';
}

/**
 * How many variants each split gets: at least ceil(n / numVoices) (so pairs stay distinct), then
 * one more at a time to the split with the most speakers per variant, up to one per speaker.
 */
export function allocateVariants(
  counts: Record<string, number>,
  numVariants: number,
  numVoices: number,
): Record<string, number> {
  const names = Object.keys(counts).filter((s) => counts[s] > 0);
  const k: Record<string, number> = {};
  let used = 0;
  for (const s of names) {
    k[s] = Math.ceil(counts[s] / numVoices);
    used += k[s];
  }
  if (used > numVariants) {
    const total = names.reduce((a, s) => a + counts[s], 0);
    throw new ConfigError(`too many synthetic speakers for ${numVoices} voices x ${numVariants} variants`, {
      keyPath: 'numSpeakers',
      expected: `each split's variants disjoint: at most ${numVariants} variants in all, each giving ${numVoices} speakers`,
      found: `${total} speakers (${names.map((s) => `${s} ${counts[s]}`).join(', ')}) needing ${used} variants`,
    });
  }
  while (used < numVariants) {
    let best: string | null = null;
    for (const s of names) {
      if (k[s] >= counts[s]) continue;
      if (best === null || counts[s] / k[s] > counts[best] / k[best]) best = s;
    }
    if (best === null) break;
    k[best]++;
    used++;
  }
  return k;
}

function check(name: string, v: number, lo: number, hi: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
    throw new ConfigError(`bad synth option '${name}'`, {
      keyPath: name,
      expected: `a number in ${lo}..${hi}`,
      found: JSON.stringify(v),
    });
  }
  return v;
}

/** Plan the speakers of every split (deterministic for a seed). */
export function planSpeakers(opts: SpeakerPlanOptions): SynthSpeaker[] {
  const voices = [...(opts.voices ?? Object.keys(SYNTH_VOICES))];
  const variants = [...(opts.variants ?? SYNTH_VARIANTS)];
  for (const v of voices) {
    if (!(v in SYNTH_VOICES))
      throw new ConfigError(`unknown synth voice '${v}'`, {
        keyPath: 'voices',
        expected: `some of ${Object.keys(SYNTH_VOICES).join(', ')}`,
        found: v,
      });
  }
  if (voices.length === 0 || new Set(voices).size !== voices.length) {
    throw new ConfigError('synth voices must be a non-empty list without repeats', {
      keyPath: 'voices',
      found: JSON.stringify(voices),
    });
  }
  if (
    variants.length === 0 ||
    new Set(variants).size !== variants.length ||
    variants.some((v) => !/^[A-Za-z0-9]+$/.test(v))
  ) {
    throw new ConfigError('synth variants must be a non-empty list of distinct names (letters and digits)', {
      keyPath: 'variants',
      found: JSON.stringify(variants),
    });
  }
  const rateMin = check('rateMinWpm', opts.rateMinWpm ?? 140, 80, 450);
  const rateMax = check('rateMaxWpm', opts.rateMaxWpm ?? 190, rateMin, 450);
  const pitchMin = check('pitchMin', opts.pitchMin ?? 35, 0, 99);
  const pitchMax = check('pitchMax', opts.pitchMax ?? 65, pitchMin, 99);

  const rng = new Rng(`synth:${opts.seed}:speakers`);
  const variantOrder = rng.shuffle([...variants]);
  const perSplit = allocateVariants(opts.counts, variants.length, voices.length);
  const total = Object.values(opts.counts).reduce((a, b) => a + b, 0);
  const width = Math.max(2, String(total - 1).length);
  const speakers: SynthSpeaker[] = [];
  let nextVariant = 0;
  for (const split of Object.keys(opts.counts)) {
    const n = opts.counts[split];
    if (n === 0) continue;
    const k = perSplit[split];
    const mine = variantOrder.slice(nextVariant, nextVariant + k);
    nextVariant += k;
    const voiceOrder = rng.shuffle([...voices]);
    for (let j = 0; j < n; j++) {
      const variant = mine[j % k];
      const accent = voiceOrder[((j % k) + Math.floor(j / k)) % voices.length];
      const index = speakers.length;
      const tag = accent.replace(/-/g, '');
      const r = rng.fork(`speaker${index}`);
      speakers.push({
        id: `s${String(index).padStart(width, '0')}-${tag}-${variant}`,
        split,
        accent,
        voice: SYNTH_VOICES[accent],
        variant,
        // Whole numbers: espeak takes integers, and the manifest stays readable.
        rateWpm: Math.round(r.uniform(rateMin, rateMax)),
        pitch: Math.round(r.uniform(pitchMin, pitchMax)),
        pitchRange: Math.round(r.uniform(35, 70)),
        gender: variantGender(variant),
      });
    }
  }
  return speakers;
}
