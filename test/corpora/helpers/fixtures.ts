/**
 * Corpus fixtures generated in code with a seeded Rng: speech-like "takes" (a voiced tone burst
 * with harmonics and an envelope over faint noise), written as WAV, FLAC or SPHERE in the layouts
 * of FSDD, LibriSpeech and TIMIT.
 */
import { join } from 'node:path';
import { encodeSphere, encodeWav } from '../../../src/audio/index.ts';
import { Rng } from '../../../src/util/rng.ts';
import { put } from '../../corpus/helpers.ts';
import { encodeFlac16 } from './flac.ts';

/**
 * A speech-like burst `durationSec` long: 20 ms of faint noise (`noiseRms`) at each end, like a
 * trimmed FSDD take, around a voiced middle (harmonics of a random f0 under a smooth envelope).
 */
export function burst(rng: Rng, durationSec: number, rateHz: number, noiseRms = 0.002): Float32Array {
  const n = Math.max(1, Math.round(durationSec * rateHz));
  const f0 = rng.uniform(90, 180);
  const x = new Float32Array(n);
  const pad = Math.min(Math.round(0.02 * rateHz), Math.floor(n / 4));
  const voiced = n - 2 * pad;
  for (let i = 0; i < n; i++) {
    const t = i - pad;
    const env = t < 0 || t >= voiced ? 0 : Math.sin((Math.PI * (t + 0.5)) / voiced) ** 2;
    let v = 0;
    for (let h = 1; h <= 4; h++) v += Math.sin((2 * Math.PI * f0 * h * i) / rateHz) / h;
    x[i] = 0.25 * env * v + noiseRms * rng.gauss();
  }
  return x;
}

/** Raw bytes of a WAV header with a data chunk of 0 samples. */
export function emptyWav(rateHz = 8000): Uint8Array {
  return encodeWav(new Float32Array(0), rateHz);
}

/** Bytes that are no audio format at all. */
export function garbage(rng: Rng, n = 600): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

/** FSDD layout: `<dir>/recordings/{digit}_{speaker}_{index}.wav`. */
export function makeFsddDir(
  dir: string,
  speakers: string[],
  takesPerDigit: number,
  opts: { rateHz?: number; seed?: number } = {},
): string {
  const rate = opts.rateHz ?? 8000;
  for (const spk of speakers) {
    const rng = new Rng(`fsdd-fixture:${opts.seed ?? 1}:${spk}`);
    for (let d = 0; d < 10; d++) {
      for (let i = 0; i < takesPerDigit; i++) {
        put(
          join(dir, 'recordings', `${d}_${spk}_${i}.wav`),
          encodeWav(burst(rng, rng.uniform(0.25, 0.45), rate), rate),
        );
      }
    }
  }
  return dir;
}

export interface LibriUtt {
  speaker: string;
  chapter: string;
  index: number;
  text: string;
  durationSec?: number;
}

/** LibriSpeech layout under `<root>/<subset>/...` with FLAC audio (16 kHz). */
export function makeLibriSubset(root: string, subset: string, utts: LibriUtt[], seed = 1): void {
  const rng = new Rng(`libri-fixture:${seed}:${subset}`);
  const trans = new Map<string, string[]>();
  for (const u of utts) {
    const id = `${u.speaker}-${u.chapter}-${String(u.index).padStart(4, '0')}`;
    const chDir = join(root, subset, u.speaker, u.chapter);
    put(join(chDir, `${id}.flac`), encodeFlac16([burst(rng, u.durationSec ?? 0.3, 16000)], 16000));
    const key = join(chDir, `${u.speaker}-${u.chapter}.trans.txt`);
    trans.set(key, [...(trans.get(key) ?? []), `${id} ${u.text}`]);
  }
  for (const [f, lines] of trans) put(f, lines.join('\n') + '\n');
}

export interface TimitUtt {
  part: 'TRAIN' | 'TEST';
  region: string;
  speaker: string;
  utt: string;
  words: string[];
}

/** TIMIT layout: SPHERE .WAV + .TXT + .WRD + .PHN (upper-case names unless `lowerCase`). */
export function makeTimitTree(root: string, utts: TimitUtt[], opts: { lowerCase?: boolean; seed?: number } = {}): void {
  const rng = new Rng(`timit-fixture:${opts.seed ?? 1}`);
  const name = (s: string) => (opts.lowerCase ? s.toLowerCase() : s.toUpperCase());
  for (const u of utts) {
    const dir = join(root, name(u.part), name(u.region), name(u.speaker));
    const rate = 16000;
    const lead = 1600;
    const parts: Float32Array[] = [];
    const wrd: string[] = [];
    const phn: string[] = [`0 ${lead} h#`];
    let pos = lead;
    parts.push(burst(rng, lead / rate, rate, 0.001).map((v) => v * 0.01));
    for (const w of u.words) {
      const seg = burst(rng, rng.uniform(0.2, 0.35), rate);
      wrd.push(`${pos} ${pos + seg.length} ${w}`);
      const half = Math.floor(seg.length / 2);
      phn.push(`${pos} ${pos + half} ${w[0].toLowerCase()}`, `${pos + half} ${pos + seg.length} ax`);
      parts.push(seg);
      pos += seg.length;
    }
    const tail = new Float32Array(800);
    parts.push(tail);
    phn.push(`${pos} ${pos + tail.length} h#`);
    pos += tail.length;
    const all = new Float32Array(pos);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    const base = join(dir, name(u.utt));
    put(
      `${base}.${name('wav')}`,
      encodeSphere(all, rate, {
        fields: { database_id: 'TIMIT', utterance_id: `${u.speaker}_${u.utt}`.toLowerCase() },
      }),
    );
    put(`${base}.${name('txt')}`, `0 ${pos} ${u.words.join(' ')}.\n`);
    put(`${base}.${name('wrd')}`, wrd.join('\n') + '\n');
    put(`${base}.${name('phn')}`, phn.join('\n') + '\n');
  }
}
