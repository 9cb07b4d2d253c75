/**
 * Saving and loading a GMM-HMM (model.json): phone set, topology options, transition
 * probabilities, context dependency (monophone, or the tree), GMMs; plus the senone inventory
 * (senones.json: centre phone and HMM state of every pdf) that later stages use to map ids to phones.
 */
import { readFileSync } from 'node:fs';
import { FormatError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { PhoneSet, basePhone } from '../lang/phones.ts';
import { AmDiagGmm, type DiagGmmJson } from './gmm.ts';
import { Topology, type TopologyOptions } from './topology.ts';
import { TransitionModel } from './transitions.ts';
import { MonophoneContext } from './context.ts';
import { ContextTree, type ContextTreeJson } from './tree.ts';
import type { GmmHmmModel } from './train.ts';

export interface ModelJson {
  format: 'am-distill-gmm-hmm';
  version: 1;
  phones: { phones: string[]; silencePhones: string[] };
  topology: TopologyOptions;
  transitions: number[];
  context: { type: 'monophone' } | { type: 'tree'; tree: ContextTreeJson };
  gmm: { dim: number; pdfs: DiagGmmJson[] };
}

export function modelToJson(m: GmmHmmModel, topologyOptions: TopologyOptions = {}): ModelJson {
  return {
    format: 'am-distill-gmm-hmm',
    version: 1,
    phones: m.phones.toJSON(),
    topology: topologyOptions,
    transitions: Array.from(m.tm.probs),
    context: m.ctx instanceof ContextTree ? { type: 'tree', tree: m.ctx.toJSON() } : { type: 'monophone' },
    gmm: m.am.toJSON(),
  };
}

export function modelFromJson(j: ModelJson, file = 'model.json'): GmmHmmModel {
  if (j?.format !== 'am-distill-gmm-hmm' || j.version !== 1)
    throw new FormatError('not a GMM-HMM model', {
      file,
      expected: 'format am-distill-gmm-hmm version 1',
      found: `${j?.format} ${j?.version}`,
    });
  const phones = PhoneSet.fromJSON(j.phones);
  const topology = new Topology(phones, j.topology);
  const tm = new TransitionModel(topology, Float64Array.from(j.transitions));
  const ctx = j.context.type === 'tree' ? ContextTree.fromJSON(j.context.tree, file) : new MonophoneContext(topology);
  const am = AmDiagGmm.fromJSON(j.gmm);
  if (am.numPdfs !== ctx.numPdfs)
    throw new FormatError('GMM count does not match the context dependency', {
      file,
      expected: `${ctx.numPdfs} pdfs`,
      found: String(am.numPdfs),
    });
  return { phones, topology, tm, ctx, am };
}

export async function saveModel(path: string, m: GmmHmmModel, topologyOptions: TopologyOptions = {}): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(modelToJson(m, topologyOptions)) + '\n');
}

export function loadModel(path: string): GmmHmmModel {
  let j: ModelJson;
  try {
    j = JSON.parse(readFileSync(path, 'utf8')) as ModelJson;
  } catch (e) {
    throw new FormatError('cannot parse model JSON', { file: path, cause: e });
  }
  return modelFromJson(j, path);
}

/** Senone inventory: for every pdf id, its centre phone symbol and HMM state (pdf class). */
export function senoneInventory(
  m: GmmHmmModel,
): { id: number; phone: string; hmmState: number; numGaussians: number }[] {
  const info = m.ctx instanceof ContextTree ? m.ctx.leafInfo : (m.ctx as MonophoneContext).pdfInfo;
  // A senone of a shared root (word-position variants) is named by its base phone.
  return info.map((x, id) => ({
    id,
    phone: basePhone(m.phones.symbol(x.phone)),
    hmmState: x.pdfClass,
    numGaussians: m.am.gmms[id].numComponents,
  }));
}
