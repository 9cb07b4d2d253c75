/**
 * How well the ensemble's soft targets agree with the forced-alignment labels of the frames they
 * cover, per group of utterances: the real recordings, and the VTLP copies of each warp factor.
 * Per group: the share of frames whose top senone is the label (top-1 agreement) and the mean mass
 * the targets give the label (0 where the label is outside the stored top k).
 *
 * Why: a copy's label is its source's alignment (`stages.align.vtlpCopies: inherit`) or a GMM's on
 * warped audio, never checked against the warped frames; the ensemble's view of the same frames is
 * the only independent check there is (docs/decisions.md, `stages.distill.copiesHardWeight`).
 *
 *   node bin/run-ts.js scripts/label-agreement.ts <expDir> [--set main] [--json]
 */
import { FormatError } from '../util/errors.ts';
import type { UtteranceSoftTargets } from './store.ts';

/** Agreement of one group of utterances. */
export interface LabelAgreementGroup {
  /** 'originals', or the copies' prefix without the dash ('vtlp0.9'). */
  group: string;
  utterances: number;
  frames: number;
  /** Frames whose highest-probability target senone is the label, over frames. */
  top1Agreement: number;
  /** Mean over frames of the target probability of the label (0 outside the top k). */
  meanLabelMass: number;
}

const COPY_PREFIX = /^(vtlp(?:0|[1-9][0-9]*)(?:\.[0-9]+)?)-./;

/** The group of an utterance id: 'originals' or 'vtlp<warp>'. */
export function agreementGroup(uttId: string): string {
  const m = COPY_PREFIX.exec(uttId);
  return m ? m[1] : 'originals';
}

/** Accumulates agreement per group, one utterance at a time (memory: one counter per group). */
export class LabelAgreementCounter {
  private readonly groups = new Map<string, { utterances: number; frames: number; agree: number; mass: number }>();

  /**
   * Add one utterance: its soft targets and its per-frame labels. `where` names the files in errors.
   */
  add(t: UtteranceSoftTargets, labels: ArrayLike<number>, where = ''): void {
    if (labels.length !== t.numFrames) {
      throw new FormatError('soft targets and alignment differ in frames', { file: where || undefined, uttId: t.uttId, expected: `${labels.length} frames (the alignment)`, found: `${t.numFrames} frame${t.numFrames === 1 ? '' : 's'}` });
    }
    const key = agreementGroup(t.uttId);
    let g = this.groups.get(key);
    if (!g) this.groups.set(key, (g = { utterances: 0, frames: 0, agree: 0, mass: 0 }));
    g.utterances++;
    const k = t.k;
    for (let f = 0; f < t.numFrames; f++) {
      let best = -1, bestP = -Infinity, labelP = 0;
      for (let j = 0; j < k; j++) {
        const id = t.ids[f * k + j], p = t.probs[f * k + j];
        if (p > bestP) { bestP = p; best = id; }
        if (id === labels[f]) labelP += p;
      }
      if (best === labels[f]) g.agree++;
      g.mass += labelP;
    }
    g.frames += t.numFrames;
  }

  /** The groups, originals first, then the copies by warp factor. */
  result(): LabelAgreementGroup[] {
    const warp = (g: string) => (g === 'originals' ? -Infinity : Number(g.slice(4)));
    return [...this.groups.entries()]
      .sort((a, b) => warp(a[0]) - warp(b[0]))
      .map(([group, g]) => ({ group, utterances: g.utterances, frames: g.frames, top1Agreement: g.frames ? g.agree / g.frames : 0, meanLabelMass: g.frames ? g.mass / g.frames : 0 }));
  }
}

/**
 * Agreement over two streams in the same utterance order (a targets file and the alignment file it
 * was made from: the targets stage writes only aligned utterances, in the alignment's order, so an
 * alignment utterance without targets is skipped, while a targets utterance the alignment does not
 * have next is an error).
 */
export async function labelAgreement(
  targets: AsyncIterable<UtteranceSoftTargets>,
  alignment: AsyncIterable<{ uttId: string; senone: Int32Array }>,
  where = '',
): Promise<LabelAgreementGroup[]> {
  const counter = new LabelAgreementCounter();
  const it = alignment[Symbol.asyncIterator]();
  for await (const t of targets) {
    let a = await it.next();
    while (!a.done && a.value.uttId !== t.uttId) a = await it.next();
    if (a.done) throw new FormatError('soft targets for an utterance the alignment does not have (or not in its order)', { file: where || undefined, uttId: t.uttId, expected: 'the alignment file the targets were made from', found: `no alignment of ${t.uttId} after the previous utterance` });
    counter.add(t, a.value.senone, where);
  }
  return counter.result();
}
