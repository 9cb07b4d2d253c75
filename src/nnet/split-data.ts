/**
 * The data side of the acoustic-model stages: where a split's files are in the pipeline's
 * directories, frame sources described as plain data (so worker threads can open them), the
 * small-fraction subset of the paper's Table 5, and the identity of a senone inventory.
 *
 * Layout read (written by the features and align stages):
 *   <featuresDir>/<split>.arrow (or <split>.<i>-of-<N>.arrow shards)   fbank per frame
 *   <featuresDir>/<split>.cmvn.json (or per shard)                     utt2spk
 *   <alignDir>/<split>.arrow                                           senone per frame
 *   <alignDir>/tree.json, senones.json                                 the senone inventory
 */
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, FormatError, SkipCounter } from '../util/errors.ts';
import { sha256Hex } from '../util/hash.ts';
import type { Logger } from '../util/log.ts';
import { checkUtterance, type FrameSource, type Utterance, type UtteranceOrder } from './data.ts';
import { ArrowFrameSource } from './arrow-source.ts';
import { readCmvnFile } from '../features/cmvn-file.ts';
import { readAlignmentMetadata, senoneInventoryId } from '../align/store.ts';
import { vtlpSourceId } from '../features/perturb.ts';

/** The files of one split. */
export interface SplitFiles {
  split: string;
  /** Feature files (one, or the shards in index order). */
  features: string[];
  /** Alignment files in the same utterance order. */
  alignments: string[];
  /** utt2spk from the CMVN files next to the features ({} when there are none). */
  uttToSpeaker: Record<string, string>;
}

function shardFiles(dir: string, names: string[], split: string, ext: string): string[] {
  const re = new RegExp(
    `^${split.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)-of-(\\d+)\\.${ext.replace('.', '\\.')}$`,
  );
  return names
    .map((n) => ({ n, m: re.exec(n) }))
    .filter((x) => x.m !== null)
    .sort((a, b) => Number(a.m![1]) - Number(b.m![1]))
    .map((x) => join(dir, x.n));
}

async function listDir(dir: string, what: string): Promise<string[]> {
  try {
    return (await fsp.readdir(dir)).sort();
  } catch (cause) {
    throw new ConfigError(`cannot read the ${what} directory`, {
      file: dir,
      cause,
      expected: `the output directory of the ${what} stage`,
      found: (cause as NodeJS.ErrnoException).code ?? 'unreadable',
    });
  }
}

/**
 * Find the feature, alignment and utt2spk files of `split`. A missing split is a ConfigError
 * listing the splits that are there.
 */
export async function findSplitFiles(
  featuresDir: string,
  alignDir: string,
  split: string,
  logger?: Logger,
): Promise<SplitFiles> {
  const fNames = await listDir(featuresDir, 'features');
  const features = fNames.includes(`${split}.arrow`)
    ? [join(featuresDir, `${split}.arrow`)]
    : shardFiles(featuresDir, fNames, split, 'arrow');
  if (features.length === 0) {
    const have = fNames.filter((n) => n.endsWith('.arrow')).map((n) => n.replace(/(\.\d+-of-\d+)?\.arrow$/, ''));
    throw new ConfigError(`no features for split '${split}'`, {
      file: featuresDir,
      expected: `${split}.arrow`,
      found: have.length ? `splits ${[...new Set(have)].join(', ')}` : 'no feature files',
    });
  }
  const aNames = await listDir(alignDir, 'align');
  const alignment = join(alignDir, `${split}.arrow`);
  if (!aNames.includes(`${split}.arrow`)) {
    const have = aNames.filter((n) => n.endsWith('.arrow')).map((n) => n.replace(/\.arrow$/, ''));
    throw new ConfigError(`no alignments for split '${split}'`, {
      file: alignDir,
      expected: `${split}.arrow`,
      found: have.length ? `splits ${have.join(', ')}` : 'no alignment files',
    });
  }
  const uttToSpeaker: Record<string, string> = {};
  const cmvnFiles = features.map((f) => f.replace(/\.arrow$/, '.cmvn.json'));
  let missing = 0;
  for (const c of cmvnFiles) {
    if (!existsSync(c)) {
      missing++;
      continue;
    }
    for (const [u, s] of (await readCmvnFile(c)).utt2spk) uttToSpeaker[u] = s;
  }
  if (missing > 0)
    logger?.warn(
      `no utt2spk for ${missing} feature file(s) of split '${split}' (${cmvnFiles[0]}): every utterance is its own speaker for CMVN`,
    );
  return { split, features, alignments: [alignment], uttToSpeaker };
}

/** A subset of the utterances: sha256(`${seed}:${uttId}`) read as a fraction in [0, 1) < `fraction`. */
export interface SubsetSpec {
  /** Share of the utterances kept, in (0, 1]. */
  fraction: number;
  /** Seed of the draw. */
  seed: number;
}

export function validateSubset(s: SubsetSpec, keyPath = 'smallFraction'): void {
  if (!(s.fraction > 0 && s.fraction <= 1))
    throw new ConfigError('bad data fraction', { keyPath, expected: 'a number in (0, 1]', found: String(s.fraction) });
  if (!Number.isInteger(s.seed))
    throw new ConfigError('bad subset seed', {
      keyPath: `${keyPath}.seed`,
      expected: 'an integer',
      found: String(s.seed),
    });
}

/**
 * Whether an utterance belongs to the subset (depends on its id only, not on file order). A VTLP
 * copy (`vtlp<w>-<utt>`) is drawn by its source's id, so it is in the subset exactly when its source
 * is: an augmented run's subset holds the same recordings as the unaugmented run's, with their copies.
 */
export function inSubset(uttId: string, s: SubsetSpec): boolean {
  if (s.fraction >= 1) return true;
  return parseInt(sha256Hex(`${s.seed}:${vtlpSourceId(uttId) ?? uttId}`).slice(0, 8), 16) < s.fraction * 2 ** 32;
}

/** Which utterances of a split a net trains on: a Table 5 subset, and whether VTLP copies count. */
export interface UtteranceFilter {
  /** Keep only this subset (by the source recording's id). null: all. */
  subset: SubsetSpec | null;
  /** Keep the VTLP copies (`vtlp<w>-<utt>`) of the features stage. false: the original recordings only. */
  vtlpCopies: boolean;
}

/** Whether an utterance passes a filter (depends on its id only, not on file order). */
export function passesFilter(uttId: string, f: UtteranceFilter): boolean {
  if (!f.vtlpCopies && vtlpSourceId(uttId) !== null) return false;
  return f.subset === null || inSubset(uttId, f.subset);
}

/**
 * The utterances of `base` that pass a filter: a Table 5 subset and/or the original recordings
 * without their VTLP copies. Utterances filtered out are not skips (they are not bad input).
 */
export class FilteredFrameSource implements FrameSource {
  readonly name: string;
  readonly featureDim: number;
  readonly base: FrameSource;
  readonly filter: UtteranceFilter;
  private passSkips = new SkipCounter();

  constructor(base: FrameSource, f: UtteranceFilter) {
    if (f.subset) validateSubset(f.subset);
    this.base = base;
    this.filter = f;
    this.featureDim = base.featureDim;
    const parts = [
      ...(f.subset ? [`${(100 * f.subset.fraction).toPrecision(3)}% subset, seed ${f.subset.seed}`] : []),
      ...(f.vtlpCopies ? [] : ['without VTLP copies']),
    ];
    this.name = parts.length ? `${base.name} (${parts.join('; ')})` : base.name;
  }

  /** The Table 5 subset, null for the whole split. */
  get subset(): SubsetSpec | null {
    return this.filter.subset;
  }

  /** Passed through for the trainer's checks. */
  get numSenones(): number | null | undefined {
    return (this.base as { numSenones?: number | null }).numSenones;
  }

  get featureConfig(): unknown {
    return (this.base as { featureConfig?: unknown }).featureConfig;
  }

  get featureConfigHash(): string | undefined {
    return (this.base as { featureConfigHash?: string }).featureConfigHash;
  }

  get skips(): SkipCounter {
    return this.passSkips;
  }

  async *utterances(order: UtteranceOrder = {}): AsyncIterable<Utterance> {
    this.passSkips = new SkipCounter();
    for await (const u of this.base.utterances(order)) {
      if (!passesFilter(u.uttId, this.filter)) continue; // filtered out: not a skip
      this.passSkips.done++;
      yield u;
    }
  }
}

/** A split's frames as plain data (structured-clonable, for worker threads). */
export interface DataSpec {
  features: string[];
  alignments: string[];
  uttToSpeaker?: Record<string, string>;
  /** Keep only a subset of the utterances (Table 5). Default: all. */
  subset?: SubsetSpec | null;
  /** Keep the VTLP copies of the split. Default true. */
  vtlpCopies?: boolean;
  /** Named in messages. */
  name?: string;
}

export function dataSpecOf(files: SplitFiles, subset: SubsetSpec | null = null, vtlpCopies = true): DataSpec {
  return {
    features: files.features,
    alignments: files.alignments,
    uttToSpeaker: files.uttToSpeaker,
    subset,
    vtlpCopies,
    name: files.split,
  };
}

/** Open a DataSpec: Arrow features joined with alignments, optionally cut to a subset or to the original recordings. */
export async function openDataSource(spec: DataSpec): Promise<FrameSource & { featureConfigHash?: string }> {
  const base = await ArrowFrameSource.open({
    features: spec.features,
    alignments: spec.alignments,
    uttToSpeaker: spec.uttToSpeaker,
    name: spec.name,
  });
  const filter: UtteranceFilter = { subset: spec.subset ?? null, vtlpCopies: spec.vtlpCopies ?? true };
  return filter.subset || !filter.vtlpCopies ? new FilteredFrameSource(base, filter) : base;
}

/**
 * Frames and utterances of a source (one pass) that training uses: labelled (unless `labelled`
 * is false) and not skipped by the trainer's boundary check (checkUtterance: no frames,
 * non-finite features, an alignment of another length), so they agree with its scan.
 */
export async function countSource(
  source: FrameSource,
  labelled = true,
): Promise<{ utterances: number; frames: number }> {
  let utterances = 0,
    frames = 0;
  for await (const u of source.utterances()) {
    if (labelled && !u.labels) continue;
    if (checkUtterance(u, source) !== null) continue;
    utterances++;
    frames += u.numFrames;
  }
  return { utterances, frames };
}

/** What the models are trained for: the senone inventory and the producers' config hashes. */
export interface InventoryInfo {
  numSenones: number;
  /** sha256 of the align stage's tree.json and senones.json (else the alignment config hash). */
  senoneInventoryId: string;
  alignmentConfigHash: string;
  featureConfigHash: string;
}

/**
 * The senone inventory of an align output: its count from the alignment file's metadata and an
 * id that changes whenever the tree does (two align runs with the same options on other data
 * build other trees, so the alignment config hash alone would not tell them apart).
 */
export async function inventoryOf(
  alignDir: string,
  alignmentFile: string,
): Promise<Omit<InventoryInfo, 'featureConfigHash'>> {
  const meta = await readAlignmentMetadata(alignmentFile);
  return {
    numSenones: meta.numSenones,
    senoneInventoryId: await senoneInventoryId(alignDir, meta.configHash),
    alignmentConfigHash: meta.configHash,
  };
}

/** Throw when the alignment files of two splits come from different align runs. */
export async function checkSameAlignment(a: string, b: string): Promise<void> {
  const [ma, mb] = [await readAlignmentMetadata(a), await readAlignmentMetadata(b)];
  if (ma.configHash !== mb.configHash || ma.numSenones !== mb.numSenones) {
    throw new FormatError('alignment files of the splits come from different align runs', {
      file: b,
      expected: `config hash ${ma.configHash}, ${ma.numSenones} senones (as ${a})`,
      found: `config hash ${mb.configHash}, ${mb.numSenones} senones`,
    });
  }
}
