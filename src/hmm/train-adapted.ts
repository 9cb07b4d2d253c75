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
 *          features with the adapted model's posteriors, gmm-acc-stats-twofeats);
 *   align_fmllr.sh for any utterances: a first pass with the alignment model on unadapted
 *          features, fMLLR per speaker from it (silence weighted 0), the final pass with the SAT
 *          model on adapted features.
 * All passes read the utterance source again (one utterance in memory); statistics are double.
 * The feature transform (src/hmm/feature-transform.ts) is shared with the source, which applies
 * its current state to every utterance it yields.
 */
import { createLogger } from '../util/log.ts';
import { NumericError } from '../util/errors.ts';
import { AmDiagGmm } from './gmm.ts';
import { applyAffine, type FeatureTransform } from './feature-transform.ts';
import { FmllrAccs, LdaAccs, MlltAccs, composeAffine, estimateFmllr, estimateLda, estimateMllt } from './transforms.ts';
import { matMul } from './linalg.ts';
import { transitionWeights, alignUtterance, type AlignOptions, type AcousticModel } from './align.ts';
import type { FrameAlignment, LangModel } from './graph.ts';
import {
  iterate,
  trainTriphone,
  type GmmHmmModel,
  type TrainResult,
  type TrainingUtterance,
  type TriphoneTrainOptions,
  type UtteranceSource,
} from './train.ts';
import type { ContextTree } from './tree.ts';

/** Per-frame weight of statistics that should ignore silence (Kaldi weight-silence-post 0.0). */
function speechWeight(model: AcousticModel & { phones: GmmHmmModel['phones'] }, tid: number): number {
  return model.phones.isSilence(model.tm.tids[tid].phone) ? 0 : 1;
}

export interface LdaMlltOptions extends TriphoneTrainOptions {
  /** Output dimension of LDA (Kaldi --dim). Default 40. */
  ldaDim?: number;
  /** Iterations before which MLLT is re-estimated. Default [2, 4, 6, 12] (Kaldi mllt_iters). */
  mlltIters?: number[];
}

export interface TransformReport {
  /** LDA: the generalised eigenvalues kept, and the frames. */
  lda?: { dim: number; inDim: number; frames: number; eigenvalues: number[] };
  /** One entry per MLLT or fMLLR re-estimation: auxiliary-function gain per frame. */
  updates: { iter: number; frames: number; gainPerFrame: number; speakers?: number }[];
}

/**
 * tri2b: LDA on the previous model's alignments, then triphone training in the LDA space with
 * MLLT updates. `source` must apply `transform` (which starts without a matrix: spliced frames).
 */
export async function trainLdaMllt(
  source: UtteranceSource,
  transform: FeatureTransform,
  lang: LangModel,
  prev: { model: GmmHmmModel; alignments: Map<string, FrameAlignment> },
  opts: LdaMlltOptions = {},
): Promise<TrainResult & { tree: ContextTree; treeGains: number[]; transforms: TransformReport }> {
  const label = opts.label ?? 'tri2b';
  const logger = opts.logger ?? createLogger({ prefix: label });
  transform.matrix = null;
  let accs: LdaAccs | null = null;
  for await (const u of iterate(source)) {
    const ali = prev.alignments.get(u.uttId);
    if (!ali || u.frames.length === 0) continue;
    accs ??= new LdaAccs(prev.model.am.numPdfs, u.frames[0].length);
    for (let t = 0; t < u.frames.length; t++)
      accs.accumulate(u.frames[t], ali.pdf[t], speechWeight(prev.model, ali.tid[t]));
  }
  if (!accs)
    throw new NumericError(`${label}: no aligned utterance for LDA`, {
      expected: 'utterances with an alignment from the previous model',
      found: 'none',
    });
  const dim = Math.min(opts.ldaDim ?? 40, accs.dim);
  const lda = estimateLda(accs, dim);
  transform.matrix = lda.matrix;
  const report: TransformReport = {
    lda: {
      dim,
      inDim: accs.dim,
      frames: lda.frames,
      eigenvalues: Array.from(lda.eigenvalues.subarray(0, dim), (v) => Number(v.toPrecision(6))),
    },
    updates: [],
  };
  logger.info(
    `${label}: LDA ${accs.dim} -> ${dim} on ${lda.frames} speech frames (eigenvalues ${lda.eigenvalues[0].toFixed(2)} .. ${lda.eigenvalues[dim - 1].toFixed(3)})`,
  );
  const mlltIters = opts.mlltIters ?? [2, 4, 6, 12];
  const r = await trainTriphone(source, lang, prev, {
    ...opts,
    label,
    logger,
    beforeIteration: async (iter, model, alignments) => {
      if (!mlltIters.includes(iter)) return;
      const m = new MlltAccs(transform.dim);
      for await (const u of iterate(source)) {
        const ali = alignments.get(u.uttId);
        if (!ali) continue;
        for (let t = 0; t < u.frames.length; t++)
          m.accumulate(model.am.gmms[ali.pdf[t]], u.frames[t], speechWeight(model, ali.tid[t]));
      }
      const est = estimateMllt(m);
      transform.compose(est.matrix);
      transformMeans(model.am, est.matrix);
      const gain = (est.auxfAfter - est.auxfBefore) / est.beta;
      report.updates.push({ iter, frames: est.beta, gainPerFrame: Number(gain.toFixed(6)) });
      logger.info(
        `${label} iter ${iter}: MLLT on ${est.beta.toFixed(0)} speech frames, auxf +${gain.toFixed(4)}/frame`,
      );
    },
  });
  return { ...r, transforms: report };
}

/** gmm-transform-means: mu <- A mu for every Gaussian (variances unchanged until re-estimated). */
export function transformMeans(am: AmDiagGmm, a: Float64Array): void {
  const d = am.dim;
  for (const g of am.gmms) {
    for (let c = 0; c < g.numComponents; c++)
      g.means.set(matMul(a, g.means.subarray(c * d, (c + 1) * d), d, d, 1), c * d);
    g.computeGconsts();
  }
}

export interface SatOptions extends TriphoneTrainOptions {
  /** Iterations before which every speaker's fMLLR is re-estimated. Default [2, 4, 6, 12] (Kaldi fmllr_iters). */
  fmllrIters?: number[];
  /** fMLLR row-update sweeps. Default 20. */
  fmllrSweeps?: number;
}

/**
 * Accumulate fMLLR statistics per speaker over `source` (which yields the frames the transform
 * will apply to) for alignments given by `alignmentOf`, with `model`'s Gaussians; estimate one
 * increment per speaker and compose it onto `transform.speakers`. Returns the report entry.
 */
async function reestimateSpeakers(
  source: UtteranceSource,
  transform: FeatureTransform,
  model: GmmHmmModel,
  alignmentOf: (u: TrainingUtterance) => FrameAlignment | null,
  sweeps: number,
): Promise<{ frames: number; gainPerFrame: number; speakers: number; updated: number }> {
  const d = transform.dim;
  const accs = new Map<string, FmllrAccs>();
  for await (const u of iterate(source)) {
    const ali = alignmentOf(u);
    if (!ali) continue;
    const spk = u.speaker ?? '';
    let a = accs.get(spk);
    if (!a) {
      a = new FmllrAccs(d);
      accs.set(spk, a);
    }
    for (let t = 0; t < u.frames.length; t++)
      a.accumulate(model.am.gmms[ali.pdf[t]], u.frames[t], u.frames[t], speechWeight(model, ali.tid[t]));
  }
  let frames = 0,
    gain = 0,
    updated = 0;
  for (const spk of [...accs.keys()].sort()) {
    const est = estimateFmllr(accs.get(spk)!, { iters: sweeps });
    frames += est.beta;
    if (!est.updated) continue;
    updated++;
    gain += est.auxfAfter - est.auxfBefore;
    const old = transform.speakers.get(spk);
    transform.speakers.set(spk, old ? composeAffine(est.matrix, old, d) : est.matrix);
  }
  return { frames, gainPerFrame: frames > 0 ? gain / frames : 0, speakers: accs.size, updated };
}

/**
 * tri3b: speaker-adaptive training on top of the previous model's features (`transform` holds its
 * global matrix; the source applies the speaker transforms too). Returns the SAT model, and
 * `alignmentModel`: its tree with Gaussians re-estimated on unadapted features (two-feature stats).
 */
export async function trainSat(
  source: UtteranceSource,
  transform: FeatureTransform,
  lang: LangModel,
  prev: { model: GmmHmmModel; alignments: Map<string, FrameAlignment> },
  opts: SatOptions = {},
): Promise<
  TrainResult & { tree: ContextTree; treeGains: number[]; alignmentModel: GmmHmmModel; transforms: TransformReport }
> {
  const label = opts.label ?? 'tri3b';
  const logger = opts.logger ?? createLogger({ prefix: label });
  const sweeps = opts.fmllrSweeps ?? 20;
  const report: TransformReport = { updates: [] };
  transform.speakers.clear();
  const first = await reestimateSpeakers(
    source,
    transform,
    prev.model,
    (u) => prev.alignments.get(u.uttId) ?? null,
    sweeps,
  );
  report.updates.push({
    iter: 0,
    frames: first.frames,
    gainPerFrame: Number(first.gainPerFrame.toFixed(6)),
    speakers: first.speakers,
  });
  logger.info(
    `${label}: initial fMLLR for ${first.updated} of ${first.speakers} speakers from the previous model, auxf +${first.gainPerFrame.toFixed(4)}/frame`,
  );
  const fmllrIters = opts.fmllrIters ?? [2, 4, 6, 12];
  const r = await trainTriphone(source, lang, prev, {
    ...opts,
    label,
    logger,
    beforeIteration: async (iter, model, alignments) => {
      if (!fmllrIters.includes(iter)) return;
      const x = await reestimateSpeakers(source, transform, model, (u) => alignments.get(u.uttId) ?? null, sweeps);
      report.updates.push({
        iter,
        frames: x.frames,
        gainPerFrame: Number(x.gainPerFrame.toFixed(6)),
        speakers: x.speakers,
      });
      logger.info(
        `${label} iter ${iter}: fMLLR for ${x.updated} of ${x.speakers} speakers, auxf +${x.gainPerFrame.toFixed(4)}/frame`,
      );
    },
  });
  const alignmentModel = await speakerIndependentModel(source, transform, r.model, r.alignments);
  logger.info(`${label}: speaker-independent alignment model (${alignmentModel.am.numGaussians} Gaussians)`);
  return { ...r, alignmentModel, transforms: report };
}

/**
 * gmm-acc-stats-twofeats + gmm-est: component posteriors from the adapted frames under `model`,
 * statistics of the unadapted frames, one M-step; the same tree, transitions and Gaussian counts.
 */
async function speakerIndependentModel(
  source: UtteranceSource,
  transform: FeatureTransform,
  model: GmmHmmModel,
  alignments: Map<string, FrameAlignment>,
): Promise<GmmHmmModel> {
  const accs = model.am.newAccs();
  const post = new Float64Array(Math.max(...model.am.gmms.map((g) => g.numComponents)));
  const d = transform.dim;
  transform.adapt = false;
  try {
    for await (const u of iterate(source)) {
      const ali = alignments.get(u.uttId);
      if (!ali) continue;
      const w = transform.speakers.get(u.speaker ?? '');
      for (let t = 0; t < u.frames.length; t++) {
        const g = model.am.gmms[ali.pdf[t]];
        const adapted = w ? applyAffine(w, u.frames[t], d) : u.frames[t];
        if (g.numComponents === 1) post[0] = 1;
        else g.posteriors(adapted, post);
        for (let c = 0; c < g.numComponents; c++) accs[ali.pdf[t]].accumulateComponent(c, u.frames[t], post[c]);
      }
    }
  } finally {
    transform.adapt = true;
  }
  const am = new AmDiagGmm(model.am.gmms.map((g) => g.clone()));
  am.update(accs, { removeLowCount: false });
  return { ...model, am };
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
  let r: Awaited<ReturnType<typeof reestimateSpeakers>>;
  try {
    r = await reestimateSpeakers(
      source,
      transform,
      model,
      (u) => {
        const a = alignUtterance(u.uttId, u.frames, u.words, lang, alignmentModel, opts, tw, u.wordSpans ?? null);
        if (!a.ok) {
          firstPassFailed++;
          return null;
        }
        return { uttId: u.uttId, pdf: a.pdf, tid: a.tid };
      },
      opts.fmllrSweeps ?? 20,
    );
  } finally {
    transform.adapt = true;
  }
  return { ...r, firstPassFailed };
}
