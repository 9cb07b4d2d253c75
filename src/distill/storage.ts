/**
 * Storage of soft targets: bytes per frame of the top-k layout against dense float32 targets,
 * computed from the layout and measured on a written file.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import {
  SoftTargetFileWriter,
  readSoftTargetMetadata,
  resolveIdType,
  type IdType,
  type ProbType,
  type ResidualMode,
} from './store.ts';
import { combineEnsemble } from './combine.ts';
import { softmaxRows } from '../util/softmax.ts';
import { KeptMassCurve, topKRows, type KeptMassSummary } from './topk.ts';
import { syntheticEnsembleLogits, type SyntheticEnsembleOptions } from './synthetic.ts';

export interface SoftTargetLayout {
  numSenones: number;
  k: number;
  /** Default 'auto' (uint16 when numSenones <= 65536). */
  idType?: IdType | 'auto';
  /** Default 'float16'. */
  probType?: ProbType;
  /** Default 'renormalise' (no residual column). */
  residual?: ResidualMode;
}

export interface BytesPerFrame {
  /** Target columns only: ids + probs (+ residual). */
  targets: number;
  /** Dense float32 targets: 4 x numSenones. */
  denseTargets: number;
  /** A whole row: utt_id index (4) + frame (4) + target columns. */
  row: number;
  /** A whole dense row: 4 + 4 + 4 x numSenones. */
  denseRow: number;
  /** denseRow / row. */
  compression: number;
}

/** Column bytes per frame of a layout (Arrow buffers without nulls; batch headers not counted). */
export function softTargetBytesPerFrame(l: SoftTargetLayout): BytesPerFrame {
  const idBytes = resolveIdType(l.idType, l.numSenones) === 'uint16' ? 2 : 4;
  const probBytes = (l.probType ?? 'float16') === 'float16' ? 2 : 4;
  const targets = l.k * (idBytes + probBytes) + ((l.residual ?? 'renormalise') === 'store' ? 4 : 0);
  const denseTargets = 4 * l.numSenones;
  const row = 8 + targets;
  const denseRow = 8 + denseTargets;
  return { targets, denseTargets, row, denseRow, compression: denseRow / row };
}

export interface MeasuredStorage {
  path: string;
  fileBytes: number;
  frames: number;
  utterances: number;
  k: number;
  numSenones: number;
  /** fileBytes / frames: everything (dictionary, batch headers, footer, metadata) included. */
  bytesPerFrame: number;
  /** What the layout predicts for the columns (without per-batch overhead). */
  layout: BytesPerFrame;
  /** Dense float32 row bytes / measured bytes per frame. */
  compression: number;
  meanKeptMass: number;
}

/** Measure a written soft-target file. */
export async function measureSoftTargetFile(path: string): Promise<MeasuredStorage> {
  const meta = await readSoftTargetMetadata(path);
  const { size } = await fsp.stat(path);
  const layout = softTargetBytesPerFrame({
    numSenones: meta.numSenones,
    k: meta.k,
    idType: meta.idType,
    probType: meta.probType,
    residual: meta.residual,
  });
  const frames = meta.counts.frames;
  const bytesPerFrame = frames ? size / frames : NaN;
  return {
    path,
    fileBytes: size,
    frames,
    utterances: meta.counts.utterances,
    k: meta.k,
    numSenones: meta.numSenones,
    bytesPerFrame,
    layout,
    compression: layout.denseRow / bytesPerFrame,
    meanKeptMass: meta.meanKeptMass,
  };
}

export interface SyntheticStorageRow {
  temperature: number;
  /** 'auto' rows: k chosen for targetKeptMass; else the fixed k. */
  k: number;
  chosenBy: 'auto' | 'fixed';
  meanKeptMass: number;
  keptMass: KeptMassSummary;
  layout: BytesPerFrame;
  /** Measured on a written file (float16 probabilities, uint16 ids, renormalised). */
  fileBytesPerFrame: number;
}

export interface SyntheticStorageReport {
  options: SyntheticEnsembleOptions;
  targetKeptMass: number;
  memberFrameAccuracy: number;
  ensembleFrameAccuracy: number;
  rows: SyntheticStorageRow[];
}

/**
 * Storage and kept mass of top-k soft targets on synthetic ensemble outputs with the shape of
 * acoustic-model posteriors (see synthetic.ts): for each temperature, k chosen for the target mass
 * and a few fixed k, with the bytes per frame of the layout and of an actual file.
 */
export async function syntheticStorageReport(opts: {
  ensemble?: Partial<SyntheticEnsembleOptions>;
  temperatures?: number[];
  fixedK?: number[];
  targetKeptMass?: number;
  dir: string;
}): Promise<SyntheticStorageReport> {
  const { options: o, labels, logits } = syntheticEnsembleLogits(opts.ensemble);
  const S = o.numSenones,
    n = o.numFrames;
  const target = opts.targetKeptMass ?? 0.99;
  const rows: SyntheticStorageRow[] = [];
  const member1 = softmaxRows(logits[0], n, S, 1);
  let memberHits = 0,
    ensembleHits = 0;
  const t1 = combineEnsemble(logits, n, S, { temperature: 1 });
  for (let f = 0; f < n; f++) {
    if (topKRows(member1.subarray(f * S, (f + 1) * S), 1, S, 1).ids[0] === labels[f]) memberHits++;
    if (topKRows(t1.subarray(f * S, (f + 1) * S), 1, S, 1).ids[0] === labels[f]) ensembleHits++;
  }
  for (const T of opts.temperatures ?? [1, 2, 5, 10]) {
    const p = combineEnsemble(logits, n, S, { temperature: T });
    const curve = new KeptMassCurve(S);
    curve.addRows(p, n);
    const auto = curve.chooseK(target).k;
    const ks: [number, 'auto' | 'fixed'][] = [
      [auto, 'auto'],
      ...(opts.fixedK ?? [8, 32, 128])
        .filter((k) => k !== auto && k <= S)
        .map((k) => [k, 'fixed'] as [number, 'fixed']),
    ];
    for (const [k, chosenBy] of ks) {
      const top = topKRows(p, n, S, k);
      const path = join(opts.dir, `synthetic-T${T}-k${k}.arrow`);
      const w = await SoftTargetFileWriter.open(path, {
        configHash: 'synthetic',
        teachers: Array.from({ length: o.numMembers }, (_, i) => ({ id: `member-${i}`, hash: `synthetic-${i}` })),
        temperature: T,
        k,
        combination: 'arithmetic',
        numSenones: S,
        senoneInventoryId: null,
        residual: 'renormalise',
        probType: 'float16',
        alignmentConfigHash: 'synthetic',
        featureConfigHash: 'synthetic',
      });
      // As a corpus would: one record batch per utterance (here 100-frame utterances).
      for (let f0 = 0, u = 0; f0 < n; f0 += 100, u++) {
        const m = Math.min(100, n - f0);
        w.add(`utt-${u}`, {
          numFrames: m,
          ids: top.ids.subarray(f0 * k, (f0 + m) * k),
          probs: top.probs.subarray(f0 * k, (f0 + m) * k),
          keptMass: top.keptMass.subarray(f0, f0 + m),
        });
      }
      const meta = await w.finish();
      const measured = await measureSoftTargetFile(path);
      await fsp.rm(path, { force: true });
      rows.push({
        temperature: T,
        k,
        chosenBy,
        meanKeptMass: meta.meanKeptMass,
        keptMass: meta.keptMass,
        layout: measured.layout,
        fileBytesPerFrame: measured.bytesPerFrame,
      });
    }
  }
  return {
    options: o,
    targetKeptMass: target,
    memberFrameAccuracy: memberHits / n,
    ensembleFrameAccuracy: ensembleHits / n,
    rows,
  };
}
