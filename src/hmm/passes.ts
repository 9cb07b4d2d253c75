/**
 * What each kind of training pass does (./trainer.ts): the E-step on one utterance of a block
 * (`accumulate...`) and the M-step from the statistics of all blocks summed (`estimate...`), as
 * Kaldi's programs:
 *
 *   init   align-equal-compiled + gmm-acc-stats-ali, gmm-init-mono's global Gaussian   (train_mono.sh)
 *   iter   [gmm-align-compiled] gmm-acc-stats-ali, gmm-est (with --mix-up)             (every script)
 *   tree   acc-tree-stats, cluster-phones, build-tree, gmm-init-model                  (train_deltas.sh)
 *   lda    acc-lda, est-lda;  mllt  gmm-acc-mllt, est-mllt, gmm-transform-means        (train_lda_mllt.sh)
 *   fmllr  gmm-est-fmllr per speaker, composed onto the previous transform            (train_sat.sh)
 *   si     gmm-acc-stats-twofeats, gmm-est: the speaker-independent alignment model    (train_sat.sh)
 *
 * Plus the helpers they share with the final alignment (phone segments, alignment conversion).
 */
import { NumericError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { AmDiagGmm, DiagGmm, type DiagGmmAccs } from './gmm.ts';
import { applyAffine, type FeatureTransform } from './feature-transform.ts';
import { alignUtterance, type AcousticModel } from './align.ts';
import type { ContextDependency } from './context.ts';
import type { FrameAlignment } from './graph.ts';
import { TransitionModel } from './transitions.ts';
import { GaussStats, TreeStats, buildTree, leafGaussians } from './tree.ts';
import { arpabetClassQuestions, clusterPhoneQuestions } from './questions.ts';
import { composeAffine, estimateFmllr, estimateLda, estimateMllt, FmllrAccs, LdaAccs } from './transforms.ts';
import { matMul } from './linalg.ts';
import type {
  FmllrPassStats,
  IterStats,
  LdaPassStats,
  MlltPassStats,
  SiPassStats,
  TreePassStats,
} from './pass-stats.ts';
import type { BlockState, GmmHmmModel, PassContext, TrainingUtterance } from './trainer.ts';

/** Accumulate GMM and transition statistics along an alignment; returns the summed log-likelihood. */
export function accumulateAlignment(
  model: AcousticModel,
  ali: FrameAlignment,
  frames: readonly Float32Array[],
  accs: DiagGmmAccs[],
  tCounts: Float64Array,
): number {
  let ll = 0;
  for (let t = 0; t < frames.length; t++) {
    const p = ali.pdf[t];
    ll += accs[p].accumulate(model.am.gmms[p], frames[t]);
    tCounts[ali.tid[t]] += 1;
  }
  return ll;
}

/** Phone segments of a frame alignment: a new phone starts after every exit transition. */
export function phoneSegments(tm: TransitionModel, tid: Int32Array): { phone: number; start: number; end: number }[] {
  const segs: { phone: number; start: number; end: number }[] = [];
  let start = 0;
  for (let t = 0; t < tid.length; t++) {
    const info = tm.tids[tid[t]];
    if (info.isExit || t === tid.length - 1) {
      segs.push({ phone: info.phone, start, end: t + 1 });
      start = t + 1;
    }
  }
  return segs;
}

/** Accumulate triphone tree statistics (acc-tree-stats) from one frame alignment. */
export function accumulateTreeStats(
  stats: TreeStats,
  tm: TransitionModel,
  ali: FrameAlignment,
  frames: readonly Float32Array[],
): void {
  const segs = phoneSegments(tm, ali.tid);
  segs.forEach((s, i) => {
    const l = i > 0 ? segs[i - 1].phone : 0;
    const r = i + 1 < segs.length ? segs[i + 1].phone : 0;
    const topo = tm.topology.forPhone(s.phone);
    for (let t = s.start; t < s.end; t++) {
      stats.accumulate(l, s.phone, r, topo.states[tm.tids[ali.tid[t]].hmmState].pdfClass, frames[t]);
    }
  });
}

/** Re-label an alignment's pdfs for a new context dependency (convert-ali); transition ids are kept. */
export function convertAlignment(tm: TransitionModel, ali: FrameAlignment, ctx: ContextDependency): FrameAlignment {
  const segs = phoneSegments(tm, ali.tid);
  const pdf = new Int32Array(ali.pdf.length);
  segs.forEach((s, i) => {
    const l = i > 0 ? segs[i - 1].phone : 0;
    const r = i + 1 < segs.length ? segs[i + 1].phone : 0;
    const topo = tm.topology.forPhone(s.phone);
    for (let t = s.start; t < s.end; t++)
      pdf[t] = ctx.pdf(l, s.phone, r, topo.states[tm.tids[ali.tid[t]].hmmState].pdfClass);
  });
  return { uttId: ali.uttId, pdf, tid: Int32Array.from(ali.tid) };
}

/** A single Gaussian with the mean and variance of a mixture. */
export function momentMatched(g: DiagGmm, varFloor: number): DiagGmm {
  const d = g.dim,
    mean = new Float64Array(d),
    m2 = new Float64Array(d);
  for (let c = 0; c < g.numComponents; c++) {
    for (let j = 0; j < d; j++) {
      const mu = g.means[c * d + j];
      mean[j] += g.weights[c] * mu;
      m2[j] += g.weights[c] * (g.vars[c * d + j] + mu * mu);
    }
  }
  const v = Float64Array.from(mean, (mu, j) => Math.max(varFloor, m2[j] - mu * mu));
  return DiagGmm.single(mean, v);
}

/** Per-frame weight of statistics that should ignore silence (Kaldi weight-silence-post 0.0). */
export function speechWeight(model: AcousticModel & { phones: GmmHmmModel['phones'] }, tid: number): number {
  return model.phones.isSilence(model.tm.tids[tid].phone) ? 0 : 1;
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

/** The random stream of iteration `iter`'s mixing up: the stage's stream forked once per iteration, in order. */
export function iterationRng(seed: number, label: string, iter: number): Rng {
  const rng = new Rng(seed).fork(label);
  for (let i = 1; i < iter; i++) rng.fork(`iter${i}`);
  return rng.fork(`iter${iter}`);
}

// ---------------------------------------------------------------------------------------------
// iter

/** One utterance of a training iteration: realign (on realignment passes), then accumulate. */
export function accumulateIteration(
  c: PassContext,
  stats: IterStats,
  u: TrainingUtterance,
  block: BlockState,
  tw: Float64Array | null,
): boolean {
  const model = c.model!;
  let ali = block.alignments.get(u.uttId);
  // A realignment tries every trainable utterance (those that failed before too); other passes the aligned ones.
  if (!ali && !(tw && block.trainable.has(u.uttId))) return false;
  if (tw) {
    const r = alignUtterance(u.uttId, u.frames, u.words, c.lang, model, c.spec.schedule.align, tw, u.wordSpans ?? null);
    if (!r.ok) {
      // No alignment in this iteration (Kaldi: no entry in the new ali.*.gz); tried again at the next realignment.
      block.alignments.delete(u.uttId);
      stats.failed++;
      block.failures.set(u.uttId, `realignment failed: ${r.reason}`);
      return true;
    }
    block.failures.delete(u.uttId);
    if (r.spans === 'dropped') stats.spansDropped++;
    ali = { uttId: u.uttId, pdf: r.pdf, tid: r.tid };
    block.alignments.set(u.uttId, ali);
  }
  stats.ll += accumulateAlignment(model, ali!, u.frames, stats.accs, stats.tCounts);
  stats.frames += u.frames.length;
  return true;
}

/** gmm-est with --mix-up: the M-step, then Gaussians split up to this iteration's target. */
export function estimateIteration(c: PassContext, total: IterStats): string {
  const { schedule, label } = c.spec;
  const { iter, realign } = c.pass;
  const model = c.model!;
  const st = c.stage;
  if (total.frames === 0)
    throw new NumericError(`${label}: no frames left to train on in iteration ${iter}`, {
      expected: 'at least one aligned utterance',
      found: 'none',
    });
  model.am.update(total.accs, schedule.gmmUpdate);
  model.tm.update(total.tCounts, schedule.transitionUpdate);
  model.am.mixUp(
    total.accs.map((a) => a.totalOcc),
    st.numGauss,
    iterationRng(schedule.seed, label, iter),
    schedule.mixUp,
  );
  if (iter <= schedule.maxIterInc) st.numGauss += st.incGauss;
  const rep = {
    iter,
    realigned: realign,
    logLikePerFrame: total.ll / total.frames,
    frames: total.frames,
    numGaussians: model.am.numGaussians,
    failed: total.failed,
    spansDropped: total.spansDropped,
  };
  st.history.push(rep);
  st.aligned = total.aligned;
  st.lastFailures = total.failures;
  return `loglike/frame ${rep.logLikePerFrame.toFixed(3)}, ${rep.numGaussians} Gaussians${rep.failed ? `, ${rep.failed} failed` : ''}${rep.spansDropped ? `, ${rep.spansDropped} aligned without their word spans` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// tree

export function accumulateTree(c: PassContext, stats: TreePassStats, u: TrainingUtterance, block: BlockState): void {
  const ali = block.alignments.get(u.uttId);
  if (!ali || u.frames.length === 0) return;
  // The source's frames may live in another space than the old model's (LDA, fMLLR): their dimension decides.
  stats.tree ??= new TreeStats(u.frames[0].length, c.lang.phones.symbols.length);
  accumulateTreeStats(stats.tree, c.model!.tm, ali, u.frames);
}

/**
 * The tree from the statistics, questions as the spec says, one Gaussian per leaf from its pooled
 * statistics (an empty leaf from the old model's pdf for its phone state or, where the features
 * changed, from the pooled statistics of every leaf); the transitions continue from the old model.
 */
export function estimateTree(
  c: PassContext,
  total: TreePassStats,
): { model: GmmHmmModel; message: string; gains: number[] } {
  const { label, schedule } = c.spec;
  const old = c.model!;
  const stats = total.tree;
  if (!stats)
    throw new NumericError(`${label}: no aligned utterance to build the tree from`, {
      expected: 'utterances with an alignment from the previous model',
      found: 'none',
    });
  const q = c.spec.questions ?? 'cluster';
  const phones = c.lang.phones;
  const questions = Array.isArray(q)
    ? q
    : q === 'arpabet'
      ? arpabetClassQuestions(phones)
      : clusterPhoneQuestions(stats, phones);
  const { tree, leafStats, gains } = buildTree(
    stats,
    phones,
    questions,
    (p) => old.topology.numPdfClasses(p),
    c.spec.tree,
  );
  const varFloor = schedule.gmmUpdate.minVariance ?? 0.001;
  const sameSpace = old.am.dim === stats.dim;
  let pooled: { mean: Float64Array; variance: Float64Array } | null = null;
  const gmms = leafGaussians(leafStats, varFloor, (leaf) => {
    if (!sameSpace) {
      if (!pooled) {
        const all = new GaussStats(stats.dim);
        for (const s of leafStats) all.addStats(s);
        pooled = all.moments(varFloor);
      }
      return DiagGmm.single(pooled.mean, pooled.variance);
    }
    const info = tree.leafInfo[leaf];
    return momentMatched(old.am.gmms[old.ctx.pdf(0, info.phone, 0, info.pdfClass)], varFloor);
  });
  const tm = new TransitionModel(old.topology, old.tm.probs);
  return {
    model: { phones, topology: old.topology, tm, ctx: tree, am: new AmDiagGmm(gmms) },
    gains,
    message: `${label}: tree with ${tree.numPdfs} leaves from ${stats.entries.size} contexts, ${questions.length} questions`,
  };
}

// ---------------------------------------------------------------------------------------------
// lda, mllt

export function accumulateLda(c: PassContext, stats: LdaPassStats, u: TrainingUtterance, block: BlockState): void {
  const ali = block.alignments.get(u.uttId);
  const model = c.model!;
  if (!ali || u.frames.length === 0) return;
  stats.accs ??= new LdaAccs(model.am.numPdfs, u.frames[0].length);
  for (let t = 0; t < u.frames.length; t++)
    stats.accs.accumulate(u.frames[t], ali.pdf[t], speechWeight(model, ali.tid[t]));
}

export function estimateLdaPass(c: PassContext, total: LdaPassStats, transform: FeatureTransform): string {
  const accs = total.accs;
  if (!accs)
    throw new NumericError(`${c.spec.label}: no aligned utterance for LDA`, {
      expected: 'utterances with an alignment from the previous model',
      found: 'none',
    });
  const dim = Math.min(c.spec.lda!.dim, accs.dim);
  const lda = estimateLda(accs, dim);
  transform.matrix = lda.matrix;
  c.stage.report.lda = {
    dim,
    inDim: accs.dim,
    frames: lda.frames,
    eigenvalues: Array.from(lda.eigenvalues.subarray(0, dim), (v) => Number(v.toPrecision(6))),
  };
  return `${c.spec.label}: LDA ${accs.dim} -> ${dim} on ${lda.frames} speech frames (eigenvalues ${lda.eigenvalues[0].toFixed(2)} .. ${lda.eigenvalues[dim - 1].toFixed(3)})`;
}

export function accumulateMllt(c: PassContext, stats: MlltPassStats, u: TrainingUtterance, block: BlockState): void {
  const ali = block.alignments.get(u.uttId);
  const model = c.model!;
  if (!ali) return;
  for (let t = 0; t < u.frames.length; t++)
    stats.block!.accumulate(model.am.gmms[ali.pdf[t]], u.frames[t], speechWeight(model, ali.tid[t]));
}

export function estimateMlltPass(c: PassContext, total: MlltPassStats, transform: FeatureTransform): string {
  const est = estimateMllt(total.stats);
  transform.compose(est.matrix);
  transformMeans(c.model!.am, est.matrix);
  const gain = (est.auxfAfter - est.auxfBefore) / est.beta;
  c.stage.report.updates.push({ iter: c.pass.iter, frames: est.beta, gainPerFrame: Number(gain.toFixed(6)) });
  return `${c.spec.label} iter ${c.pass.iter}: MLLT on ${est.beta.toFixed(0)} speech frames, auxf +${gain.toFixed(4)}/frame`;
}

// ---------------------------------------------------------------------------------------------
// fmllr, si

/** fMLLR statistics of one utterance (its speaker's), along `ali` with `model`'s Gaussians. */
export function accumulateSpeaker(
  speakers: Map<string, FmllrAccs>,
  model: GmmHmmModel,
  u: TrainingUtterance,
  ali: FrameAlignment,
  dim: number,
): void {
  const spk = u.speaker ?? '';
  let a = speakers.get(spk);
  if (!a) {
    a = new FmllrAccs(dim);
    speakers.set(spk, a);
  }
  for (let t = 0; t < u.frames.length; t++)
    a.accumulate(model.am.gmms[ali.pdf[t]], u.frames[t], u.frames[t], speechWeight(model, ali.tid[t]));
}

/** One fMLLR increment per speaker (in speaker-id order), composed onto `transform.speakers`. */
export function applySpeakerEstimates(
  speakers: Map<string, FmllrAccs>,
  transform: FeatureTransform,
  sweeps: number,
): { frames: number; gainPerFrame: number; speakers: number; updated: number } {
  let frames = 0,
    gain = 0,
    updated = 0;
  for (const spk of [...speakers.keys()].sort()) {
    const est = estimateFmllr(speakers.get(spk)!, { iters: sweeps });
    frames += est.beta;
    if (!est.updated) continue;
    updated++;
    gain += est.auxfAfter - est.auxfBefore;
    const old = transform.speakers.get(spk);
    transform.speakers.set(spk, old ? composeAffine(est.matrix, old, transform.dim) : est.matrix);
  }
  return { frames, gainPerFrame: frames > 0 ? gain / frames : 0, speakers: speakers.size, updated };
}

export function estimateFmllrPass(c: PassContext, total: FmllrPassStats, transform: FeatureTransform): string {
  const { label, sat } = c.spec;
  const x = applySpeakerEstimates(total.speakers, transform, sat!.sweeps);
  const iter = c.pass.iter;
  c.stage.report.updates.push({
    iter,
    frames: x.frames,
    gainPerFrame: Number(x.gainPerFrame.toFixed(6)),
    speakers: x.speakers,
  });
  return iter === 0
    ? `${label}: initial fMLLR for ${x.updated} of ${x.speakers} speakers from the previous model, auxf +${x.gainPerFrame.toFixed(4)}/frame`
    : `${label} iter ${iter}: fMLLR for ${x.updated} of ${x.speakers} speakers, auxf +${x.gainPerFrame.toFixed(4)}/frame`;
}

/** Two-feature statistics: component posteriors from the adapted frame, statistics of the unadapted one. */
export function accumulateSi(
  c: PassContext,
  stats: SiPassStats,
  u: TrainingUtterance,
  block: BlockState,
  transform: FeatureTransform,
  post: Float64Array,
): void {
  const ali = block.alignments.get(u.uttId);
  if (!ali) return;
  const model = c.model!;
  const d = transform.dim;
  const w = transform.speakers.get(u.speaker ?? '');
  for (let t = 0; t < u.frames.length; t++) {
    const g = model.am.gmms[ali.pdf[t]];
    const adapted = w ? applyAffine(w, u.frames[t], d) : u.frames[t];
    if (g.numComponents === 1) post[0] = 1;
    else g.posteriors(adapted, post);
    for (let k = 0; k < g.numComponents; k++) stats.accs[ali.pdf[t]].accumulateComponent(k, u.frames[t], post[k]);
  }
}

/** gmm-est on the two-feature statistics: the same tree, transitions and Gaussian counts. */
export function estimateSi(c: PassContext, total: SiPassStats): GmmHmmModel {
  const model = c.model!;
  const am = new AmDiagGmm(model.am.gmms.map((g) => g.clone()));
  am.update(total.accs, { removeLowCount: false });
  return { ...model, am };
}
