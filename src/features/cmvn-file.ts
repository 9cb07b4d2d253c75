/**
 * Per-speaker CMVN statistics next to a feature file: `<split>[.<i>-of-<N>].cmvn.json`.
 *
 * {
 *   "format": "am-distill.cmvn", "formatVersion": 1, "configHash": "...", "split": "train", "shard": null,
 *   "utt2spk": { "<uttId>": "<speaker>", ... },
 *   "streams": { "fbank": { "dim": 40, "speakers": { "<speaker>": { "count", "sum": [...], "sumSq": [...] } } },
 *                "mfcc":  { "dim": 13, "speakers": { ... } } }
 * }
 * Sums are in double precision (Kaldi's stats are double too). Speakers and utterances are
 * written in sorted order so that equal inputs give identical bytes.
 */
import { readFile } from 'node:fs/promises';
import { FormatError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { CmvnStats, type CmvnStatsJson } from './cmvn.ts';
import type { ShardSpec } from './store.ts';

export const CMVN_FORMAT = 'am-distill.cmvn';
export const CMVN_FORMAT_VERSION = 1;

/** Statistics of one feature stream (fbank or mfcc), per speaker. */
export class SpeakerCmvn {
  readonly dim: number;
  readonly speakers = new Map<string, CmvnStats>();

  constructor(dim: number) {
    this.dim = dim;
  }

  /** The (created on demand) statistics of `speaker`. */
  of(speaker: string): CmvnStats {
    let s = this.speakers.get(speaker);
    if (!s) {
      s = new CmvnStats(this.dim);
      this.speakers.set(speaker, s);
    }
    return s;
  }

  get(speaker: string): CmvnStats | undefined {
    return this.speakers.get(speaker);
  }

  addAll(other: SpeakerCmvn): void {
    if (other.dim !== this.dim)
      throw new FormatError('cannot merge CMVN statistics of different dimension', {
        expected: String(this.dim),
        found: String(other.dim),
      });
    for (const [spk, s] of other.speakers) this.of(spk).add(s);
  }
}

export interface CmvnFile {
  format: string;
  formatVersion: number;
  configHash: string;
  split: string | null;
  shard: ShardSpec | null;
  utt2spk: Map<string, string>;
  streams: Map<string, SpeakerCmvn>;
}

export async function writeCmvnFile(path: string, f: Omit<CmvnFile, 'format' | 'formatVersion'>): Promise<void> {
  const streams: Record<string, { dim: number; speakers: Record<string, CmvnStatsJson> }> = {};
  for (const name of [...f.streams.keys()].sort()) {
    const s = f.streams.get(name)!;
    const speakers: Record<string, CmvnStatsJson> = {};
    for (const spk of [...s.speakers.keys()].sort()) speakers[spk] = s.speakers.get(spk)!.toJSON();
    streams[name] = { dim: s.dim, speakers };
  }
  const utt2spk: Record<string, string> = {};
  for (const u of [...f.utt2spk.keys()].sort()) utt2spk[u] = f.utt2spk.get(u)!;
  await writeJsonAtomic(path, {
    format: CMVN_FORMAT,
    formatVersion: CMVN_FORMAT_VERSION,
    configHash: f.configHash,
    split: f.split,
    shard: f.shard,
    utt2spk,
    streams,
  });
}

export async function readCmvnFile(path: string): Promise<CmvnFile> {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new FormatError('unreadable CMVN statistics file', {
      file: path,
      cause,
      found: String((cause as Error)?.message ?? cause),
    });
  }
  if (j.format !== CMVN_FORMAT)
    throw new FormatError('not an am-distill CMVN file', {
      file: path,
      expected: CMVN_FORMAT,
      found: String(j.format),
    });
  if (j.formatVersion !== CMVN_FORMAT_VERSION) {
    throw new FormatError('unsupported CMVN file format version', {
      file: path,
      expected: String(CMVN_FORMAT_VERSION),
      found: String(j.formatVersion),
    });
  }
  const streams = new Map<string, SpeakerCmvn>();
  const rawStreams = (j.streams ?? {}) as Record<string, { dim: number; speakers: Record<string, CmvnStatsJson> }>;
  for (const [name, s] of Object.entries(rawStreams)) {
    if (!Number.isInteger(s?.dim) || typeof s.speakers !== 'object') {
      throw new FormatError('malformed CMVN stream', {
        file: path,
        keyPath: `streams.${name}`,
        expected: '{dim, speakers}',
      });
    }
    const sc = new SpeakerCmvn(s.dim);
    for (const [spk, st] of Object.entries(s.speakers)) {
      const stats = CmvnStats.fromJSON(st, `${path} (streams.${name}.speakers.${spk})`);
      if (stats.dim !== s.dim)
        throw new FormatError('CMVN statistics dimension differs from the stream', {
          file: path,
          keyPath: `streams.${name}.speakers.${spk}`,
          expected: String(s.dim),
          found: String(stats.dim),
        });
      sc.speakers.set(spk, stats);
    }
    streams.set(name, sc);
  }
  return {
    format: CMVN_FORMAT,
    formatVersion: CMVN_FORMAT_VERSION,
    configHash: String(j.configHash),
    split: (j.split as string | null) ?? null,
    shard: (j.shard as ShardSpec | null) ?? null,
    utt2spk: new Map(Object.entries((j.utt2spk ?? {}) as Record<string, string>)),
    streams,
  };
}

/** Sum the statistics of several files (the shards of one split) into one. */
export async function mergeCmvnFiles(
  inputs: readonly string[],
  output: string,
  opts: { split?: string | null } = {},
): Promise<CmvnFile> {
  if (inputs.length === 0)
    throw new FormatError('nothing to merge', { file: output, expected: 'at least one CMVN file' });
  const files = [];
  for (const p of inputs) files.push(await readCmvnFile(p));
  const first = files[0];
  const merged: CmvnFile = {
    format: CMVN_FORMAT,
    formatVersion: CMVN_FORMAT_VERSION,
    configHash: first.configHash,
    split: opts.split !== undefined ? opts.split : first.split,
    shard: null,
    utt2spk: new Map(),
    streams: new Map(),
  };
  files.forEach((f, i) => {
    if (f.configHash !== first.configHash) {
      throw new FormatError('cannot merge CMVN statistics of different feature configs', {
        file: inputs[i],
        expected: first.configHash,
        found: f.configHash,
      });
    }
    for (const [u, s] of f.utt2spk) {
      if (merged.utt2spk.has(u))
        throw new FormatError('utterance appears in two CMVN files', { file: inputs[i], uttId: u });
      merged.utt2spk.set(u, s);
    }
    for (const [name, s] of f.streams) {
      let m = merged.streams.get(name);
      if (!m) {
        m = new SpeakerCmvn(s.dim);
        merged.streams.set(name, m);
      }
      m.addAll(s);
    }
  });
  await writeCmvnFile(output, merged);
  return merged;
}

/** `am-distill validate` of a CMVN statistics file (`readCmvnFile`); returns the summary lines. */
export async function validateCmvnFile(path: string): Promise<string[]> {
  const f = await readCmvnFile(path);
  const lines = [`CMVN statistics${f.split ? ` of split ${f.split}` : ''}: ${f.utt2spk.size} utterances`];
  for (const [name, s] of f.streams) {
    let frames = 0;
    for (const st of s.speakers.values()) frames += st.count;
    lines.push(`  ${name}: ${s.dim} dims, ${s.speakers.size} speakers, ${frames} frames`);
  }
  return lines;
}
