/**
 * How well the ensemble's soft targets agree with the forced-alignment labels of the frames they
 * cover, per group of utterances: the real recordings, and the VTLP copies of each warp factor.
 * Per group: the share of frames whose top senone is the label (top-1 agreement) and the mean mass
 * the targets give the label (0 where the label is outside the stored top k); with the senones'
 * phones, also the share whose top senone is one of the label's phone, and per label phone the
 * other phone the ensemble prefers most often.
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
  /** With senone phones: frames whose top senone belongs to the label's phone, over frames. */
  phoneAgreement?: number;
}

/** Agreement on the frames of one label phone within a group (with senone phones). */
export interface LabelAgreementPhone {
  group: string;
  /** The label senone's phone. */
  phone: string;
  frames: number;
  top1Agreement: number;
  phoneAgreement: number;
  /** The phone of the top senone most often, on frames where it is another phone's (null: none). */
  topOtherPhone: string | null;
  /** Frames whose top senone is topOtherPhone's, over the phone's frames. */
  topOtherShare: number;
}

const COPY_PREFIX = /^(vtlp(?:0|[1-9][0-9]*)(?:\.[0-9]+)?)-./;

/** The group of an utterance id: 'originals' or 'vtlp<warp>'. */
export function agreementGroup(uttId: string): string {
  const m = COPY_PREFIX.exec(uttId);
  return m ? m[1] : 'originals';
}

/** Accumulates agreement per group, one utterance at a time (memory: one counter per group). */
export class LabelAgreementCounter {
  private readonly groups = new Map<
    string,
    { utterances: number; frames: number; agree: number; mass: number; phoneAgree: number }
  >();
  private readonly phones = new Map<
    string,
    { group: string; phone: string; frames: number; agree: number; phoneAgree: number; other: Map<string, number> }
  >();

  /** `senonePhones[s]`: the phone of senone s (align/senones.json), for the phone-level counts. */
  constructor(private readonly senonePhones: readonly string[] | null = null) {}

  /**
   * Add one utterance: its soft targets and its per-frame labels. `where` names the files in errors.
   */
  add(t: UtteranceSoftTargets, labels: ArrayLike<number>, where = ''): void {
    if (labels.length !== t.numFrames) {
      throw new FormatError('soft targets and alignment differ in frames', {
        file: where || undefined,
        uttId: t.uttId,
        expected: `${labels.length} frames (the alignment)`,
        found: `${t.numFrames} frame${t.numFrames === 1 ? '' : 's'}`,
      });
    }
    const key = agreementGroup(t.uttId);
    let g = this.groups.get(key);
    if (!g) this.groups.set(key, (g = { utterances: 0, frames: 0, agree: 0, mass: 0, phoneAgree: 0 }));
    g.utterances++;
    const k = t.k;
    const sp = this.senonePhones;
    for (let f = 0; f < t.numFrames; f++) {
      let best = -1,
        bestP = -Infinity,
        labelP = 0;
      for (let j = 0; j < k; j++) {
        const id = t.ids[f * k + j],
          p = t.probs[f * k + j];
        if (p > bestP) {
          bestP = p;
          best = id;
        }
        if (id === labels[f]) labelP += p;
      }
      if (best === labels[f]) g.agree++;
      g.mass += labelP;
      if (sp) {
        const lp = sp[labels[f]],
          bp = sp[best];
        if (lp === undefined || bp === undefined) {
          throw new FormatError('a senone outside the senone inventory', {
            file: where || undefined,
            uttId: t.uttId,
            expected: `senones 0..${sp.length - 1}`,
            found: `senone ${lp === undefined ? labels[f] : best} at frame ${f}`,
          });
        }
        const pk = `${key}\u0000${lp}`;
        let ph = this.phones.get(pk);
        if (!ph)
          this.phones.set(pk, (ph = { group: key, phone: lp, frames: 0, agree: 0, phoneAgree: 0, other: new Map() }));
        ph.frames++;
        if (best === labels[f]) ph.agree++;
        if (bp === lp) {
          ph.phoneAgree++;
          g.phoneAgree++;
        } else ph.other.set(bp, (ph.other.get(bp) ?? 0) + 1);
      }
    }
    g.frames += t.numFrames;
  }

  /** The groups, originals first, then the copies by warp factor. */
  result(): LabelAgreementGroup[] {
    return [...this.groups.entries()]
      .sort((a, b) => groupOrder(a[0]) - groupOrder(b[0]))
      .map(([group, g]) => ({
        group,
        utterances: g.utterances,
        frames: g.frames,
        top1Agreement: g.frames ? g.agree / g.frames : 0,
        meanLabelMass: g.frames ? g.mass / g.frames : 0,
        ...(this.senonePhones ? { phoneAgreement: g.frames ? g.phoneAgree / g.frames : 0 } : {}),
      }));
  }

  /** Per (group, label phone), groups in result()'s order, phones by name; empty without senone phones. */
  byPhone(): LabelAgreementPhone[] {
    return [...this.phones.values()]
      .sort((a, b) => groupOrder(a.group) - groupOrder(b.group) || (a.phone < b.phone ? -1 : a.phone > b.phone ? 1 : 0))
      .map((p) => {
        let top: string | null = null,
          n = 0;
        for (const [ph, c] of [...p.other.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)))
          if (c > n) {
            top = ph;
            n = c;
          }
        return {
          group: p.group,
          phone: p.phone,
          frames: p.frames,
          top1Agreement: p.agree / p.frames,
          phoneAgreement: p.phoneAgree / p.frames,
          topOtherPhone: top,
          topOtherShare: n / p.frames,
        };
      });
  }
}

function groupOrder(g: string): number {
  return g === 'originals' ? -Infinity : Number(g.slice(4));
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
  senonePhones: readonly string[] | null = null,
): Promise<LabelAgreementCounter> {
  const counter = new LabelAgreementCounter(senonePhones);
  const it = alignment[Symbol.asyncIterator]();
  for await (const t of targets) {
    let a = await it.next();
    while (!a.done && a.value.uttId !== t.uttId) a = await it.next();
    if (a.done)
      throw new FormatError('soft targets for an utterance the alignment does not have (or not in its order)', {
        file: where || undefined,
        uttId: t.uttId,
        expected: 'the alignment file the targets were made from',
        found: `no alignment of ${t.uttId} after the previous utterance`,
      });
    counter.add(t, a.value.senone, where);
  }
  return counter;
}
