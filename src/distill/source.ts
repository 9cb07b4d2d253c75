/**
 * Joining soft targets with the feature/alignment stream for student training.
 *
 * `SoftTargetFrameSource` wraps any src/nnet FrameSource: every utterance it yields carries its
 * soft targets as per-frame arrays (`soft_ids` Int32 [k], `soft_probs` Float32 [k], and
 * `soft_residual` Float32 [1] in residual mode 'store'). src/nnet's Minibatches copies them into
 * each minibatch row with the features, so the targets travel with their frame through the
 * shuffle buffer: whatever order frames are drawn in, row i's targets are those of
 * (uttId, frame) of row i, never of a batch index. Memory: the targets ride in the shuffle buffer
 * (k x 8 bytes per buffered frame) plus one utterance being read.
 *
 * The lookup per utterance goes through `SoftTargetIndex` (random access by utterance id), so the
 * wrapped source may visit utterances in any order (e.g. shuffled shards); in the usual case both
 * follow the manifest order and each record batch is read once per epoch.
 */
import { ConfigError, FormatError, SkipCounter } from '../util/errors.ts';
import type { FrameExtra, FrameSource, Utterance, UtteranceOrder } from '../nnet/data.ts';
import { ArrowFrameSource, type ArrowFrameSourceOptions } from '../nnet/arrow-source.ts';
import { readAlignmentMetadata } from '../align/store.ts';
import { SoftTargetIndex, type SoftTargetExpectation, type SoftTargetFileMetadata } from './store.ts';
import { SOFT_IDS, SOFT_PROBS, SOFT_RESIDUAL } from './loss.ts';

/** Skip reason of an utterance of the base source that has no soft targets. */
export const NO_SOFT_TARGETS = 'no soft targets';

export interface SoftTargetSourceOptions {
  /** Checked against the soft-target files (senones, feature/alignment config hashes, k, T). */
  expect?: SoftTargetExpectation;
  /** LRU cache of decoded utterances in frames. Default 0 (each utterance is read once per pass). */
  cacheFrames?: number;
}

export class SoftTargetFrameSource implements FrameSource {
  readonly name: string;
  readonly featureDim: number;
  readonly base: FrameSource;
  readonly index: SoftTargetIndex;
  private passSkips = new SkipCounter();

  private constructor(base: FrameSource, index: SoftTargetIndex) {
    this.base = base;
    this.index = index;
    this.name = base.name;
    this.featureDim = base.featureDim;
  }

  /** Open the soft-target files (validated against `opts.expect`) and wrap `base`. */
  static async open(
    base: FrameSource,
    files: readonly string[],
    opts: SoftTargetSourceOptions = {},
  ): Promise<SoftTargetFrameSource> {
    const index = await SoftTargetIndex.open(files, { expect: opts.expect, cacheFrames: opts.cacheFrames ?? 0 });
    return new SoftTargetFrameSource(base, index);
  }

  get metadata(): SoftTargetFileMetadata {
    return this.index.metadata;
  }

  /** Utterances dropped on the current (or last) pass for lack of targets. */
  get skips(): SkipCounter {
    return this.passSkips;
  }

  async *utterances(order: UtteranceOrder = {}): AsyncIterable<Utterance> {
    this.passSkips = new SkipCounter();
    const file = this.index.files.join(', ');
    for await (const u of this.base.utterances(order)) {
      const t = await this.index.get(u.uttId);
      if (!t) {
        this.passSkips.skip(u.uttId, NO_SOFT_TARGETS);
        continue;
      }
      if (t.numFrames !== u.numFrames) {
        throw new FormatError('soft targets and features differ in frame count (targets from other features?)', {
          file,
          uttId: u.uttId,
          expected: `${u.numFrames} frames (${this.base.name})`,
          found: `${t.numFrames} frames`,
        });
      }
      this.passSkips.done++;
      const extras: Record<string, FrameExtra> = {
        ...u.extras,
        [SOFT_IDS]: { dim: t.k, data: t.ids },
        [SOFT_PROBS]: { dim: t.k, data: t.probs },
      };
      if (t.residual) extras[SOFT_RESIDUAL] = { dim: 1, data: t.residual };
      yield { ...u, extras };
    }
  }

  async close(): Promise<void> {
    await this.index.close();
  }
}

export interface DistillationSourceOptions extends ArrowFrameSourceOptions {
  /** Soft-target files of the split (shards in any order). */
  softTargets: string[];
  /** The student's senone count (default: the alignment files'). */
  numSenones?: number;
  /** The student's senone inventory id, when it records one. */
  senoneInventoryId?: string | null;
  /** Top-k width and temperature the student is configured for (checked when given). */
  k?: number;
  temperature?: number;
  cacheFrames?: number;
}

/**
 * The student's training source from the pipeline's Arrow files: features joined with alignments
 * (src/nnet ArrowFrameSource) joined with soft targets. Fatal FormatErrors, naming the files, when
 * the targets were made from other features or other alignments (config hashes), for another
 * senone inventory, or with another k / T than configured.
 */
export async function openDistillationSource(opts: DistillationSourceOptions): Promise<SoftTargetFrameSource> {
  const { softTargets, numSenones, senoneInventoryId, k, temperature, cacheFrames, ...arrow } = opts;
  const alignments = arrow.alignments ?? [];
  if (alignments.length === 0)
    throw new ConfigError('the student needs alignment files (hard labels)', {
      keyPath: 'alignments',
      expected: 'at least one Arrow alignment file',
      found: 'none',
    });
  const base = await ArrowFrameSource.open(arrow);
  let alignmentConfigHash: string | null = null;
  let alignedSenones: number | null = null;
  for (const a of alignments) {
    const m = await readAlignmentMetadata(a);
    if (alignmentConfigHash !== null && m.configHash !== alignmentConfigHash) {
      throw new FormatError('alignment files differ in config', {
        file: a,
        expected: `config hash ${alignmentConfigHash} (as ${alignments[0]})`,
        found: m.configHash,
      });
    }
    alignmentConfigHash = m.configHash;
    alignedSenones = m.numSenones;
  }
  if (numSenones !== undefined && alignedSenones !== null && numSenones !== alignedSenones) {
    throw new FormatError('student and alignments differ in senone inventory', {
      file: alignments[0],
      expected: `${numSenones} senones (student config)`,
      found: `${alignedSenones} senones in the alignments`,
    });
  }
  return SoftTargetFrameSource.open(base, softTargets, {
    cacheFrames,
    expect: {
      numSenones: numSenones ?? alignedSenones ?? undefined,
      senoneInventoryId: senoneInventoryId ?? undefined,
      featureConfigHash: base.featureConfigHash,
      alignmentConfigHash: alignmentConfigHash ?? undefined,
      k,
      temperature,
      names: {
        features: arrow.features[0],
        alignments: alignments[0],
        student: numSenones !== undefined ? 'student config' : `alignments ${alignments[0]}`,
      },
    },
  });
}
