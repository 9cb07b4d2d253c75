/**
 * The transformed-feature GMM-HMM stages after tri1, as Kaldi's recipes:
 *   tri2b  (steps/train_lda_mllt.sh): spliced CMVN'd MFCCs (+-3 frames) -> LDA to `ldaDim` on the
 *          previous model's pdfs (silence frames weighted 0) -> a new tree and triphone training in
 *          that space, with MLLT re-estimated before iterations `mlltIters` (default 2, 4, 6, 12):
 *          M <- A M, means mu <- A mu;
 *   tri3b  (steps/train_sat.sh): speaker-adaptive training on top of tri2b's features: an fMLLR
 *          transform per training speaker from the previous model's alignment, a new tree and
 *          triphone training on the adapted features, fMLLR re-estimated (composed onto the old
 *          one) before iterations `fmllrIters` (default 2, 4, 6, 12); then the speaker-independent
 *          alignment model (final.alimdl: the same tree and Gaussians re-estimated on unadapted
 *          features with the adapted model's posteriors, gmm-acc-stats-twofeats).
 * Their passes are ./trainer.ts's (lda, mllt, fmllr, si; ./passes.ts); `ldaMlltSpec` and `satSpec`
 * describe the stages. This module also has align_fmllr.sh's first half for any utterances: a first
 * pass with the alignment model on unadapted features, fMLLR per speaker from it (silence weighted
 * 0); the caller then aligns with the SAT model on adapted features.
 * The feature transform (src/hmm/feature-transform.ts) is shared with the source, which applies
 * its current state to every utterance it yields.
 */
import type { FeatureTransform } from './feature-transform.ts';
import type { FmllrAccs } from './transforms.ts';
import { transitionWeights, alignUtterance, type AlignOptions } from './align.ts';
import type { LangModel } from './graph.ts';
import { accumulateSpeaker, applySpeakerEstimates } from './passes.ts';
import { iterate, triphoneSpec, type GmmHmmModel, type TriphoneTrainOptions, type UtteranceSource } from './train.ts';
import type { StageSpec } from './trainer.ts';

export { transformMeans } from './passes.ts';
export type { TransformReport } from './trainer.ts';

export interface LdaMlltOptions extends TriphoneTrainOptions {
  /** Output dimension of LDA (Kaldi --dim). Default 40. */
  ldaDim?: number;
  /** Iterations before which MLLT is re-estimated. Default [2, 4, 6, 12] (Kaldi mllt_iters). */
  mlltIters?: number[];
  /** Frames spliced on each side (Kaldi splice_opts). Default 3. */
  spliceContext?: number;
  /** Dimension of one unspliced input frame (the MFCCs). */
  inDim: number;
}

/** tri2b: LDA on the previous model's alignments, then triphone training in the LDA space with MLLT updates. */
export function ldaMlltSpec(opts: LdaMlltOptions): StageSpec {
  return {
    ...triphoneSpec({ ...opts, label: opts.label ?? 'tri2b' }),
    lda: {
      dim: opts.ldaDim ?? 40,
      splice: opts.spliceContext ?? 3,
      inDim: opts.inDim,
      mlltIters: opts.mlltIters ?? [2, 4, 6, 12],
    },
  };
}

export interface SatOptions extends TriphoneTrainOptions {
  /** Iterations before which every speaker's fMLLR is re-estimated. Default [2, 4, 6, 12] (Kaldi fmllr_iters). */
  fmllrIters?: number[];
  /** fMLLR row-update sweeps. Default 20. */
  fmllrSweeps?: number;
}

/** tri3b: speaker-adaptive training on the previous stage's transformed features, then the speaker-independent model. */
export function satSpec(opts: SatOptions = {}): StageSpec {
  return {
    ...triphoneSpec({ ...opts, label: opts.label ?? 'tri3b' }),
    sat: { fmllrIters: opts.fmllrIters ?? [2, 4, 6, 12], sweeps: opts.fmllrSweeps ?? 20 },
  };
}

export interface SpeakerPassResult {
  speakers: number;
  updated: number;
  frames: number;
  gainPerFrame: number;
  /** Utterances the first (speaker-independent) pass could not align: they add no statistics. */
  firstPassFailed: number;
}

/**
 * align_fmllr.sh, first half: align every utterance of `source` with the speaker-independent
 * `alignmentModel` on unadapted frames, accumulate fMLLR statistics per speaker with `model` on that
 * alignment (silence weighted 0) and set `transform.speakers` to the estimates. The caller then
 * aligns with `model` on the adapted frames (the source applies the transforms).
 */
export async function estimateSpeakerTransforms(
  source: UtteranceSource,
  transform: FeatureTransform,
  lang: LangModel,
  alignmentModel: GmmHmmModel,
  model: GmmHmmModel,
  opts: AlignOptions & { fmllrSweeps?: number } = {},
): Promise<SpeakerPassResult> {
  const tw = transitionWeights(alignmentModel.tm, opts);
  let firstPassFailed = 0;
  transform.speakers.clear();
  transform.adapt = false;
  const speakers = new Map<string, FmllrAccs>();
  try {
    for await (const u of iterate(source)) {
      const a = alignUtterance(u.uttId, u.frames, u.words, lang, alignmentModel, opts, tw, u.wordSpans ?? null);
      if (!a.ok) {
        firstPassFailed++;
        continue;
      }
      accumulateSpeaker(speakers, model, u, { uttId: u.uttId, pdf: a.pdf, tid: a.tid }, transform.dim);
    }
  } finally {
    transform.adapt = true;
  }
  const { updated, ...r } = applySpeakerEstimates(speakers, transform, opts.fmllrSweeps ?? 20);
  return { ...r, updated, firstPassFailed };
}
