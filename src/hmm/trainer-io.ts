/**
 * A GMM trainer's state (./trainer.ts) and its blocks' alignments as plain values with typed
 * arrays, for src/util/packed.ts: what the sharded training's merge writes after every M-step and
 * its shards read, bit for bit what the in-process training holds at the same point.
 */
import { FormatError } from '../util/errors.ts';
import { PhoneSet } from '../lang/phones.ts';
import { AmDiagGmm, DiagGmm } from './gmm.ts';
import { Topology, type TopologyOptions } from './topology.ts';
import { TransitionModel } from './transitions.ts';
import { MonophoneContext } from './context.ts';
import { ContextTree, type ContextTreeJson } from './tree.ts';
import { FeatureTransform } from './feature-transform.ts';
import type { FrameAlignment } from './graph.ts';
import type { BlockState, GmmHmmModel, GmmTrainer, TrainerState } from './trainer.ts';

export const TRAINER_STATE_FORMAT = 'am-distill.gmm-trainer-state';
export const BLOCK_STATES_FORMAT = 'am-distill.gmm-block-states';

interface PackedModel {
  phones: { phones: string[]; silencePhones: string[] };
  topology: TopologyOptions;
  transitions: Float64Array;
  context: { type: 'monophone' } | { type: 'tree'; tree: ContextTreeJson };
  dim: number;
  components: Int32Array;
  weights: Float64Array;
  means: Float64Array;
  vars: Float64Array;
}

export function packModel(m: GmmHmmModel, topology: TopologyOptions): PackedModel {
  const { dim } = m.am;
  const components = Int32Array.from(m.am.gmms, (g) => g.numComponents);
  const n = components.reduce((a, k) => a + k, 0);
  const weights = new Float64Array(n),
    means = new Float64Array(n * dim),
    vars = new Float64Array(n * dim);
  let o = 0;
  for (const g of m.am.gmms) {
    weights.set(g.weights, o);
    means.set(g.means, o * dim);
    vars.set(g.vars, o * dim);
    o += g.numComponents;
  }
  return {
    phones: m.phones.toJSON(),
    topology,
    transitions: m.tm.probs,
    context: m.ctx instanceof ContextTree ? { type: 'tree', tree: m.ctx.toJSON() } : { type: 'monophone' },
    dim,
    components,
    weights,
    means,
    vars,
  };
}

export function unpackModel(p: PackedModel, file: string): GmmHmmModel {
  const phones = PhoneSet.fromJSON(p.phones);
  const topology = new Topology(phones, p.topology);
  const tm = new TransitionModel(topology, Float64Array.from(p.transitions));
  const ctx = p.context.type === 'tree' ? ContextTree.fromJSON(p.context.tree, file) : new MonophoneContext(topology);
  const d = p.dim;
  let o = 0;
  const gmms = Array.from(p.components, (k) => {
    const g = new DiagGmm(
      p.weights.slice(o, o + k),
      p.means.slice(o * d, (o + k) * d),
      p.vars.slice(o * d, (o + k) * d),
      d,
    );
    o += k;
    return g;
  });
  if (gmms.length !== ctx.numPdfs)
    throw new FormatError('GMM count does not match the context dependency', {
      file,
      expected: `${ctx.numPdfs} pdfs`,
      found: String(gmms.length),
    });
  return { phones, topology, tm, ctx, am: new AmDiagGmm(gmms) };
}

function packTransform(t: FeatureTransform): unknown {
  return { splice: t.splice, inDim: t.inDim, matrix: t.matrix, speakers: [...t.speakers], adapt: t.adapt };
}

function unpackTransform(p: {
  splice: number;
  inDim: number;
  matrix: Float64Array | null;
  speakers: [string, Float64Array][];
  adapt: boolean;
}): FeatureTransform {
  const t = new FeatureTransform(p.splice, p.inDim, p.matrix);
  for (const [spk, w] of p.speakers) t.speakers.set(spk, w);
  t.adapt = p.adapt;
  return t;
}

/** The trainer's state, packable. */
export function packTrainerState(trainer: GmmTrainer): unknown {
  const { model, transform, alignmentModel, ...rest } = trainer.state;
  const topology = trainer.specs.find((x) => x.kind === 'mono')?.topology ?? {};
  return {
    format: TRAINER_STATE_FORMAT,
    version: 1,
    passes: trainer.passes.length,
    ...rest,
    model: model ? packModel(model, topology) : null,
    transform: transform ? packTransform(transform) : null,
    alignmentModel: alignmentModel ? packModel(alignmentModel, topology) : null,
  };
}

/** Set `trainer`'s state to a packed one (of a trainer with the same passes). */
export function restoreTrainerState(trainer: GmmTrainer, value: unknown, file: string): void {
  const p = value as Record<string, never>;
  if (p?.format !== TRAINER_STATE_FORMAT || p.version !== 1 || p.passes !== trainer.passes.length)
    throw new FormatError('not the state of this GMM training', {
      file,
      expected: `${TRAINER_STATE_FORMAT} version 1 of ${trainer.passes.length} passes`,
      found: `${String(p?.format)} ${String(p?.version)} of ${String(p?.passes)} passes`,
    });
  const { format: _format, version: _version, passes: _passes, model, transform, alignmentModel, ...rest } = p;
  trainer.state = {
    ...(rest as unknown as Omit<TrainerState, 'model' | 'transform' | 'alignmentModel'>),
    model: model ? unpackModel(model, file) : null,
    transform: transform ? unpackTransform(transform) : null,
    alignmentModel: alignmentModel ? unpackModel(alignmentModel, file) : null,
  };
}

/** Blocks' alignments (and who may realign, who failed), in block order. */
export function packBlockStates(blocks: readonly { block: number; state: BlockState }[]): unknown {
  return {
    format: BLOCK_STATES_FORMAT,
    version: 1,
    blocks: blocks.map(({ block, state }) => {
      const alis = [...state.alignments.values()];
      const lengths = Int32Array.from(alis, (a) => a.pdf.length);
      const n = lengths.reduce((x, y) => x + y, 0);
      const pdf = new Int32Array(n),
        tid = new Int32Array(n);
      let o = 0;
      for (const a of alis) {
        pdf.set(a.pdf, o);
        tid.set(a.tid, o);
        o += a.pdf.length;
      }
      return {
        block,
        pdfsOf: state.pdfsOf,
        ids: alis.map((a) => a.uttId),
        lengths,
        pdf,
        tid,
        trainable: [...state.trainable],
        failures: [...state.failures],
      };
    }),
  };
}

export function unpackBlockStates(value: unknown, file: string): Map<number, BlockState> {
  const p = value as { format?: string; version?: number; blocks?: Record<string, never>[] };
  if (p?.format !== BLOCK_STATES_FORMAT || p.version !== 1 || !Array.isArray(p.blocks))
    throw new FormatError('not a file of block alignments', { file, expected: `${BLOCK_STATES_FORMAT} version 1` });
  const out = new Map<number, BlockState>();
  for (const b of p.blocks) {
    const ids = b.ids as string[];
    const lengths = b.lengths as Int32Array;
    const alignments = new Map<string, FrameAlignment>();
    let o = 0;
    ids.forEach((uttId, i) => {
      const n = lengths[i];
      alignments.set(uttId, {
        uttId,
        pdf: (b.pdf as Int32Array).slice(o, o + n),
        tid: (b.tid as Int32Array).slice(o, o + n),
      });
      o += n;
    });
    out.set(b.block, {
      alignments,
      trainable: new Set(b.trainable as string[]),
      failures: new Map(b.failures as [string, string][]),
      pdfsOf: b.pdfsOf,
    });
  }
  return out;
}
